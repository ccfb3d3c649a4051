"""Loading a stack's configuration: from `pulumi.Config` in a Pulumi run, from `Pulumi.<stack>.yaml` offline.

Both paths end in `validate`, which returns the typed `StackConfig` and its warnings, or raises
`ConfigError` listing every problem with its config path, value and fix.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Optional

import yaml
from pydantic import ValidationError

from stacks import rules
from stacks.explain import problems_of
from stacks.model import CONFIG_KEYS, StackConfig
from stacks.problems import ConfigError, Problem, config_path

PROJECT = "ack-edge-lb"
PROJECT_DIR = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Loaded:
    config: StackConfig
    warnings: list[Problem]


def validate(raw: Any, stack: str) -> Loaded:
    """The typed configuration of one stack, or ConfigError with every problem found."""
    if not isinstance(raw, Mapping):
        raise ConfigError(stack, [Problem("(stack)", raw, "the configuration is not a mapping",
                                          f"put the settings under `config:` as `{PROJECT}:<key>: ...`")])
    try:
        config = StackConfig.model_validate(dict(raw))
    except ValidationError as exc:
        raise ConfigError(stack, problems_of(exc)) from None
    errors, warnings = rules.check(config)
    if errors:
        raise ConfigError(stack, errors)
    return Loaded(config, warnings)


def stack_file(stack: str, directory: Path = PROJECT_DIR) -> Path:
    return directory / f"Pulumi.{stack}.yaml"


def raw_from_stack_file(path: Path, stack: str) -> dict[str, Any]:
    """The project's keys of a `Pulumi.<stack>.yaml`, without the `ack-edge-lb:` namespace."""
    def unreadable(message: str, fix: str) -> ConfigError:
        return ConfigError(stack, [Problem(str(path), None, message, fix)])

    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise unreadable(f"cannot read the stack file ({exc.strerror})", f"create {path.name}, or pass --file") from None
    except UnicodeDecodeError:
        raise unreadable("the stack file is not UTF-8 text", "save it as UTF-8, as Pulumi expects") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise unreadable(f"not valid YAML{where}", "fix the YAML syntax (indentation, quotes, colons)") from None
    except ValueError:  # PyYAML converting a number past Python's digit limit
        raise unreadable("a number in the file is too large", "use numbers in the documented ranges") from None
    config = (document or {}).get("config") if isinstance(document, dict) else None
    if config is None:
        config = {}
    if not isinstance(config, dict):
        raise ConfigError(stack, [Problem("config", config, "`config` is not a mapping",
                                          f"write `config:` followed by `{PROJECT}:<key>: ...` entries")])
    prefix = f"{PROJECT}:"
    raw = {}
    for key, value in config.items():
        if not isinstance(key, str) or not key.startswith(prefix):
            continue  # other namespaces (kubernetes:, alicloud:) belong to their providers
        raw[key[len(prefix):]] = value
    secrets = [Problem(config_path(loc), "[secret]", "this setting holds no secret",
                       "set it in plain text with `pulumi config set --path`") for loc in _secure_values(raw)]
    if secrets:
        raise ConfigError(stack, secrets)
    return raw


def _secure_values(value: Any, loc: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Where `{secure: <ciphertext>}` values sit; the ciphertext itself is never reported."""
    if isinstance(value, dict):
        if set(value) == {"secure"}:
            return [loc]
        return [found for k, v in value.items() for found in _secure_values(v, (*loc, k))]
    if isinstance(value, list):
        return [found for i, v in enumerate(value) for found in _secure_values(v, (*loc, i))]
    return []


def load_stack_file(stack: str, path: Optional[Path] = None) -> Loaded:
    path = path or stack_file(stack)
    return validate(raw_from_stack_file(path, stack), stack)


def load_pulumi_config() -> Loaded:
    """The configuration of the running Pulumi stack (`pulumi up`, `pulumi preview`, mocks)."""
    import pulumi
    from pulumi.runtime.config import CONFIG, get_config_env

    stack = pulumi.get_stack()
    config = pulumi.Config(PROJECT)
    # pulumi.Config only answers for keys it is asked about; the runtime's map also shows misspelt keys.
    prefix = f"{PROJECT}:"
    keys = {k[len(prefix):] for k in (*CONFIG.get(), *(get_config_env() or {})) if k.startswith(prefix)}
    raw: dict[str, Any] = {}
    for key in sorted(keys | set(CONFIG_KEYS)):
        text = config.get(key)
        if text is None:
            continue
        try:
            raw[key] = json.loads(text)
        except json.JSONDecodeError:
            raw[key] = text  # a plain string set with `pulumi config set`
    return validate(raw, stack)
