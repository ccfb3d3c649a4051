"""Loading a stack's configuration: from `pulumi.Config` in a Pulumi run, from `Pulumi.<stack>.yaml` offline.

Both paths first check the keys as the Pulumi CLI and engine see them (namespaces, secrets, required
keys), then end in `validate`, which returns the typed `StackConfig` and its warnings, or raises
`ConfigError` listing every problem with its config path, value and fix.
"""

from __future__ import annotations

import difflib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Collection, Mapping, Optional, Sequence

import yaml
from pydantic import ValidationError

from stacks import rules, yamlfile
from stacks.explain import problems_of
from stacks.model import CONFIG_KEYS, StackConfig
from stacks.problems import ConfigError, Problem, config_path

PROJECT = "ack-edge-lb"
PROJECT_DIR = Path(__file__).resolve().parent.parent

# Declared in Pulumi.yaml without a default, so the Pulumi CLI refuses a stack that lacks one: a
# forgotten or misspelt `services` must not plan zero Services, which `pulumi up` would turn into
# deleting every load balancer.
REQUIRED_KEYS: tuple[str, ...] = ("cluster", "nodePools", "services")
_HOW_TO_ADD = {
    "cluster": f"add `{PROJECT}:cluster:` under `config:` with the cluster's `id` and `vpcId`",
    "nodePools": f"add `{PROJECT}:nodePools:` under `config:` with at least one node pool (`id`, `type`)",
    "services": f"add `{PROJECT}:services:` under `config:` with the Services to expose, "
                f"or `{PROJECT}:services: []` for none yet",
}
_START = (f"write `config:` and, indented under it, `{PROJECT}:cluster`, `{PROJECT}:nodePools` and "
          f"`{PROJECT}:services` (Pulumi.dev.yaml is an example)")
# The fields of a stack file besides `config` (Pulumi's ProjectStack).
_STACK_FILE_FIELDS = {"secretsprovider", "encryptedkey", "encryptionsalt", "environment"}
# Namespaces of Pulumi and of the providers this program uses: never a misspelt project name.
_PROVIDER_NAMESPACES = {"pulumi", "kubernetes", "alicloud"}


@dataclass(frozen=True)
class Loaded:
    config: StackConfig
    warnings: list[Problem]


def validate(raw: Any, stack: str, found: Sequence[Problem] = (), explained: Collection[str] = ()) -> Loaded:
    """The typed configuration of one stack, or ConfigError with every problem found.

    `found`: problems the loader found in the keys; `explained`: the project keys they account for,
    which are absent from `raw` and so not reported again as missing.
    """
    problems = list(found)
    if not isinstance(raw, Mapping):
        raise ConfigError(stack, [Problem("(stack)", raw, "the configuration is not a mapping",
                                          f"put the settings under `config:` as `{PROJECT}:<key>: ...`")])
    try:
        config = StackConfig.model_validate(dict(raw))
    except ValidationError as exc:
        problems += [p for p in problems_of(exc) if p.path not in explained]
        raise ConfigError(stack, problems) from None
    errors, warnings = rules.check(config)
    if problems or errors:
        raise ConfigError(stack, problems + errors)
    return Loaded(config, warnings)


# --- keys ----------------------------------------------------------------------------------------


def _squash(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", text.lower())


def misspelt_namespace(namespace: str) -> bool:
    """A namespace that is almost the project name (`ack-edge-lab`, `ack_edge_lb`, `ackedgelb`, `ack-edge-lb `)."""
    if namespace == PROJECT or namespace in _PROVIDER_NAMESPACES:
        return False
    near, ours = _squash(namespace), _squash(PROJECT)
    return not near or near == ours or difflib.SequenceMatcher(None, near, ours).ratio() >= 0.8


def _misspelt_key(key: str, namespace: str, name: str) -> Problem:
    return Problem("config", key, f"`{key}` is never read: its namespace `{namespace}` is not the project's "
                   f"(`{PROJECT}`), so the stack would run as if `{name}` were unset",
                   f"rename the key to `{PROJECT}:{name}`")


def _missing(stack: str, present: Collection[str], explained: Collection[str]) -> list[Problem]:
    # The Pulumi CLI's own wording for a declared key without default that a stack lacks.
    return [Problem(name, None, f"Stack '{stack}' is missing configuration value '{PROJECT}:{name}'",
                    _HOW_TO_ADD[name])
            for name in REQUIRED_KEYS if name not in present and name not in explained]


def _secure_values(value: Any, loc: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Where `{secure: <ciphertext>}` values sit; the ciphertext itself is never reported."""
    if isinstance(value, dict):
        if set(value) == {"secure"}:
            return [loc]
        return [found for k, v in value.items() for found in _secure_values(v, (*loc, k))]
    if isinstance(value, list):
        return [found for i, v in enumerate(value) for found in _secure_values(v, (*loc, i))]
    return []


_NO_SECRET = "this setting holds no secret"
_IN_PLAIN_TEXT = "set it in plain text with `pulumi config set --path`"


# --- from the stack file -------------------------------------------------------------------------


def stack_file(stack: str, directory: Path = PROJECT_DIR) -> Path:
    return directory / f"Pulumi.{stack}.yaml"


STACK_FILE = re.compile(r"^Pulumi\.(?P<stack>[^/\\]+)\.ya?ml$")


def known_stacks(directory: Path = PROJECT_DIR) -> list[str]:
    """The stacks that have a stack file beside Pulumi.yaml."""
    return sorted(m["stack"] for p in directory.glob("Pulumi.*.y*ml") if (m := STACK_FILE.match(p.name)))


def resolve_stack(name: str, file: Optional[Path] = None, directory: Path = PROJECT_DIR) -> tuple[str, Path]:
    """(stack, stack file) from what a user typed: a stack name, or the path of a `Pulumi.<stack>.yaml`.

    ConfigError when there is no such file, listing the stacks that exist."""
    match = STACK_FILE.match(Path(name).name)
    stacks = ", ".join(known_stacks(directory)) or "none yet"
    if file is None and match and (Path(name).exists() or "/" in name or name.startswith("Pulumi.")):
        stack, path = match["stack"], Path(name)
    elif file is None and Path(name).name in ("Pulumi.yaml", "Pulumi.yml"):
        raise ConfigError(name, [Problem(name, name, "this is the project file, which holds no stack's settings",
                                         f"give a stack ({stacks}) or the path of its Pulumi.<stack>.yaml")])
    elif file is None and Path(name).suffix in (".yaml", ".yml"):
        # A file's name is all that tells its stack: Pulumi reads `Pulumi.<stack>.yaml` only.
        raise ConfigError(name, [Problem(name, name, "this is neither a stack name nor the path of a "
                                         "`Pulumi.<stack>.yaml` file", f"name the file Pulumi.<stack>.yaml, or give "
                                         f"the stack and the file: `<stack> --file {name}` (stacks here: {stacks})")])
    else:
        stack, path = name, file or stack_file(name, directory)
    if not path.is_file():
        raise ConfigError(stack, [Problem(str(path), name, f"there is no stack file for stack `{stack}`",
                                          f"use one of the stacks here ({stacks}), "
                                          f"or create {path.name} (`pulumi stack init {stack}`)")])
    return stack, path


def parse_key(key: Any) -> tuple[Optional[str], str]:
    """(namespace, name) of a stack file's key as Pulumi reads it; namespace None when the key has none.

    Pulumi puts a key without namespace in the project's, and reads `<ns>:config:<name>` (the old
    spelling) as `<ns>:<name>`.
    """
    text = str(key)
    if ":" not in text:
        return None, text
    namespace, name = text.split(":", 1)
    if name.startswith("config:") and name.count(":") == 1:
        name = name[len("config:"):]
    return namespace, name


@dataclass
class _Keys:
    raw: dict[str, Any] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    explained: set[str] = field(default_factory=set)


def _outside_config(document: dict[Any, Any], path: Path) -> _Keys:
    """Settings written at the top of the file, where Pulumi never looks for them."""
    out = _Keys()
    for key, value in document.items():
        if key == "config" or key in _STACK_FILE_FIELDS:
            continue
        namespace, name = parse_key(key)
        if namespace is None and _squash(name) == _squash(PROJECT) and isinstance(value, dict):
            nested = [str(k) for k in value]
            out.problems.append(Problem(str(path), str(key), f"`{key}:` holds settings outside `config:`, as one "
                                        "block, but Pulumi reads each setting as its own key under `config:`",
                                        "write `config:` and, indented under it, "
                                        + ", ".join(f"`{PROJECT}:{n}`" for n in nested or REQUIRED_KEYS)))
            out.explained |= set(nested)
        elif namespace == PROJECT or (namespace is not None and misspelt_namespace(namespace)) or name in CONFIG_KEYS:
            out.problems.append(Problem(str(path), str(key), f"`{key}` is outside `config:`, where Pulumi never "
                                        "reads it", "indent it under a `config:` line"))
            out.explained.add(name)
        elif isinstance(value, dict) and any(parse_key(k)[0] == PROJECT for k in value):
            out.problems.append(Problem(str(path), str(key), f"`{key}:` holds settings, but Pulumi reads them "
                                        "only from `config:`", f"rename `{key}:` to `config:`"))
            out.explained |= {parse_key(k)[1] for k in value}
    return out


def _project_keys(config: dict[Any, Any]) -> _Keys:
    out = _Keys()
    spelt: dict[str, str] = {}
    for key, value in config.items():
        namespace, name = parse_key(key)
        if namespace is None and _squash(name) == _squash(PROJECT):
            nested = [str(k) for k in value] if isinstance(value, dict) else []
            out.problems.append(Problem("config", str(key), f"`{key}:` holds the settings as one block, but Pulumi "
                                        "reads each setting as its own `<namespace>:<name>` key",
                                        "write each as its own key under `config:`: "
                                        + ", ".join(f"`{PROJECT}:{n}`" for n in nested or REQUIRED_KEYS)))
            out.explained |= set(nested)
        elif namespace is not None and namespace != PROJECT:
            if misspelt_namespace(namespace):
                out.problems.append(_misspelt_key(str(key), namespace, name))
                out.explained.add(name)
            # other namespaces (kubernetes:, alicloud:) belong to their providers
        elif name in spelt:
            out.problems.append(Problem("config", str(key), f"`{key}` sets `{PROJECT}:{name}` again (also set as "
                                        f"`{spelt[name]}`)", "keep one of them"))
        else:
            spelt[name] = str(key)
            out.raw[name] = value
    for name in [n for n in out.raw if _secure_values(out.raw[n])]:
        # Dropped before validation: no message may quote the ciphertext.
        out.problems += [Problem(config_path((name, *loc)), "[secret]", _NO_SECRET, _IN_PLAIN_TEXT)
                         for loc in _secure_values(out.raw.pop(name))]
        out.explained.add(name)
    return out


def read_stack_file(path: Path, stack: str) -> tuple[dict[str, Any], list[Problem], set[str]]:
    """The project's keys of a `Pulumi.<stack>.yaml` (without the `ack-edge-lb:` namespace), the problems
    of its keys, and the keys those problems account for. Raises ConfigError when there is nothing to read."""
    def unreadable(message: str, fix: str = _START) -> ConfigError:
        return ConfigError(stack, [Problem(str(path), None, message, fix)])

    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise unreadable(f"cannot read the stack file ({exc.strerror})", f"create {path.name}, or pass --file") from None
    except UnicodeDecodeError:
        raise unreadable("the stack file is not UTF-8 text", "save it as UTF-8, as Pulumi expects") from None
    try:
        document, refused = yamlfile.load(text, path, PROJECT)
    except yaml.YAMLError as exc:
        raise ConfigError(stack, [yamlfile.syntax_problem(exc, text, path)]) from None
    except RecursionError:  # PyYAML composes nested lists and mappings recursively
        raise unreadable("the YAML is nested too deeply to read", "flatten the nesting") from None
    except ValueError:  # a value no located constructor covers (yamlfile locates numbers and dates)
        raise unreadable("a value in the file cannot be read", "quote values that are text") from None
    if refused:  # keys given twice, values that contain themselves
        raise ConfigError(stack, refused)
    if document is None:
        raise unreadable("the stack file is empty: it has no `config:` section")
    if not isinstance(document, dict):
        raise unreadable("the stack file is not a mapping with a `config:` section")
    outside = _outside_config(document, path)
    config = document.get("config")
    if config is None or config == {}:
        if outside.problems:
            raise ConfigError(stack, outside.problems)
        message = "`config:` is empty" if "config" in document else "the stack file has no `config:` section"
        raise ConfigError(stack, [Problem("config", None, message, _START)])
    if not isinstance(config, dict):
        raise ConfigError(stack, [Problem("config", config, "`config` is not a mapping",
                                          f"write `config:` followed by `{PROJECT}:<key>: ...` entries")])
    keys = _project_keys(config)
    explained = outside.explained | keys.explained
    missing = _missing(stack, keys.raw, explained)
    return keys.raw, outside.problems + keys.problems + missing, explained | {p.path for p in missing}


def raw_from_stack_file(path: Path, stack: str) -> dict[str, Any]:
    """The project's keys of a `Pulumi.<stack>.yaml`, without the `ack-edge-lb:` namespace."""
    raw, problems, _ = read_stack_file(path, stack)
    if problems:
        raise ConfigError(stack, problems)
    return raw


def load_stack_file(stack: str, path: Optional[Path] = None) -> Loaded:
    raw, problems, explained = read_stack_file(path or stack_file(stack), stack)
    return validate(raw, stack, problems, explained)


# --- from the Pulumi run -------------------------------------------------------------------------


def _secret_paths(stack: str, name: str) -> list[str]:
    """Where the `secure:` values of `name` sit, as precisely as `Pulumi.<stack>.yaml` tells; else the key.

    The engine marks a whole key secret when any value inside it is `secure:` and hands the program
    the decrypted JSON, so only the stack file still shows which entry was encrypted.
    """
    try:
        config = yaml.safe_load(stack_file(stack, PROJECT_DIR).read_text(encoding="utf-8"))["config"]
        found = [loc for key, value in config.items() if parse_key(key) in ((PROJECT, name), (None, name))
                 for loc in _secure_values(value, (name,))]
    except (OSError, UnicodeDecodeError, yaml.YAMLError, ValueError, TypeError, KeyError, AttributeError):
        found = []
    return [config_path(loc) for loc in found] or [name]


def load_pulumi_config() -> Loaded:
    """The configuration of the running Pulumi stack (`pulumi up`, `pulumi preview`, mocks)."""
    import pulumi
    from pulumi.runtime.config import CONFIG, get_config_env, get_config_secret_keys_env, is_config_secret

    stack = pulumi.get_stack()
    config = pulumi.Config(PROJECT)
    # pulumi.Config only answers for keys it is asked about; the runtime's map shows every key of the stack.
    every_key = {*CONFIG.get(), *(get_config_env() or {})}
    # The language host passes the engine's secret keys (PULUMI_CONFIG_SECRET_KEYS) to set_all_config;
    # the environment is read too, for hosts that set the values one by one.
    secret = {k for k in every_key if is_config_secret(k)} | set(get_config_secret_keys_env())
    problems: list[Problem] = []
    explained: set[str] = set()
    names = set(CONFIG_KEYS)
    for key in sorted(every_key):
        namespace, sep, name = key.partition(":")
        if not sep:
            continue
        if namespace == PROJECT:
            names.add(name)
        elif misspelt_namespace(namespace):
            problems.append(_misspelt_key(key, namespace, name))
            explained.add(name)
    raw: dict[str, Any] = {}
    for name in sorted(names):
        if f"{PROJECT}:{name}" in secret:
            # Never read: the value is the decrypted secret.
            problems += [Problem(path, "[secret]", f"{_NO_SECRET}, but a `secure:` value in it makes Pulumi decrypt "
                                 "it into the program's inputs", f"{_IN_PLAIN_TEXT} (in Pulumi.{stack}.yaml: "
                                 f"`{PROJECT}:{name}`)") for path in _secret_paths(stack, name)]
            explained.add(name)
            continue
        text = config.get(name)
        if text is None:
            continue
        try:
            raw[name] = json.loads(text)
        except json.JSONDecodeError:
            raw[name] = text  # a plain string set with `pulumi config set`
    missing = _missing(stack, raw, explained)
    return validate(raw, stack, problems + missing, explained | {p.path for p in missing})
