"""Loading a stack's configuration: from `pulumi.Config` in a Pulumi run, from `Pulumi.<stack>.yaml` offline.

Both paths end in `validate`, which returns the typed `StackConfig` and its warnings, or raises
`ConfigError` listing every problem with its config path, value and fix.
"""

from __future__ import annotations

import json
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Optional

import yaml
from pydantic import BaseModel, ValidationError

from stacks import rules
from stacks.model import CONFIG_KEYS, StackConfig
from stacks.problems import ConfigError, Problem, config_path

PROJECT = "ack-edge-lb"
PROJECT_DIR = Path(__file__).resolve().parent.parent

# What a pattern mismatch should say, keyed by the pattern's distinctive start.
_PATTERN_HINTS = {
    r"^[a-z0-9]([-a-z0-9]*": "a lower-case DNS label such as `np-hefei` (letters, digits, '-', at most 63)",
    r"^[a-z]([-a-z0-9]*": "a lower-case DNS label starting with a letter, such as `cube-svc`",
    r"^c[a-z0-9]": "the ACK cluster id, such as `c8f3a2b1e0d9c47e6a5b4f3e2d1c0b9a8`",
    r"^vpc-": "a VPC id such as `vpc-bp1example`",
    r"^vsw-": "a vSwitch id such as `vsw-bp1example`",
    r"^n-": "an ENS network id such as `n-5sax03dh2eyagujgsn7z9****`",
    r"^[a-z]{2}-": "a region or zone id such as `cn-hefei-cmcc-2`",
    r"^lb-": "an ELB id such as `lb-5s7crik3yo3bp03gqrbp5****`",
    r"^elb\.": "an ELB spec such as `elb.s2.small`",
    r"^v?\d": "a version such as `2.1.0`",
    r"^/": "a path such as `/healthz`",
    r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.": "a label key such as `k8s-svc` or `example.com/role`",
    r"^([A-Za-z0-9]": "a label value (letters, digits, '-', '_', '.', at most 63)",
}


@dataclass(frozen=True)
class Loaded:
    config: StackConfig
    warnings: list[Problem]


def _fields_at(loc: tuple[Any, ...]) -> Optional[dict[str, Any]]:
    """The model fields at `loc` (a path inside StackConfig), to name the keys that do exist."""
    tp: Any = StackConfig
    for part in loc:
        while True:  # unwrap Optional / Annotated / list / dict down to a model
            origin = typing.get_origin(tp)
            if origin is typing.Annotated:
                tp = typing.get_args(tp)[0]
            elif origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
                models = [a for a in typing.get_args(tp) if isinstance(a, type) and issubclass(a, BaseModel)]
                if not models:
                    return None
                tp = models[0]
            else:
                break
        if isinstance(part, int) or (typing.get_origin(tp) is dict):
            args = typing.get_args(tp)
            tp = args[-1] if args else None
            continue
        if not (isinstance(tp, type) and issubclass(tp, BaseModel)):
            return None
        by_alias = {f.alias or n: f for n, f in tp.model_fields.items()}
        if part not in by_alias:
            return None
        tp = by_alias[part].annotation
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return {f.alias or n: f for n, f in tp.model_fields.items()}
    return None


def _fix_for(err: Mapping[str, Any]) -> str:
    kind, ctx, loc = err["type"], err.get("ctx") or {}, tuple(err["loc"])
    if kind == "missing":
        return f"add `{loc[-1]}`"
    if kind == "extra_forbidden":
        known = _fields_at(loc[:-1])
        keys = f" (keys here: {', '.join(known)})" if known else ""
        return f"remove `{loc[-1]}` or correct its spelling{keys}"
    if kind in ("literal_error", "enum"):
        return f"use one of: {ctx.get('expected', '')}"
    bounds = {"greater_than_equal": ("ge", ">="), "less_than_equal": ("le", "<="),
              "greater_than": ("gt", ">"), "less_than": ("lt", "<")}
    if kind in bounds:
        field = (_fields_at(loc[:-1]) or {}).get(str(loc[-1]))
        lo = hi = None
        for meta in getattr(field, "metadata", []):
            lo = getattr(meta, "ge", lo)
            hi = getattr(meta, "le", hi)
        if lo is not None and hi is not None:
            return f"use a value from {lo} to {hi}"
        key, op = bounds[kind]
        return f"use a value {op} {ctx.get(key)}"
    if kind == "string_pattern_mismatch":
        pattern = str(ctx.get("pattern", ""))
        for start, hint in _PATTERN_HINTS.items():
            if pattern.startswith(start):
                return f"use {hint}"
        return f"use a value matching {pattern}"
    if kind in ("too_short", "too_long"):
        return err["msg"].replace("List", "give a list").replace("Dictionary", "give a mapping")
    return f"give {err['msg'].lower().replace('input should be ', '')}"


def _from_validation_error(exc: ValidationError) -> list[Problem]:
    problems = []
    for err in exc.errors(include_url=False):
        value = err.get("input")
        if err["type"] == "missing":
            value = None
        message = err["msg"].removeprefix("Value error, ")
        problems.append(Problem(config_path(err["loc"]), value, message, _fix_for(err)))
    return problems


def validate(raw: Any, stack: str) -> Loaded:
    """The typed configuration of one stack, or ConfigError with every problem found."""
    if not isinstance(raw, Mapping):
        raise ConfigError(stack, [Problem("(stack)", raw, "the configuration is not a mapping",
                                          f"put the settings under `config:` as `{PROJECT}:<key>: ...`")])
    try:
        config = StackConfig.model_validate(dict(raw))
    except ValidationError as exc:
        raise ConfigError(stack, _from_validation_error(exc)) from None
    errors, warnings = rules.check(config)
    if errors:
        raise ConfigError(stack, errors)
    return Loaded(config, warnings)


def stack_file(stack: str, directory: Path = PROJECT_DIR) -> Path:
    return directory / f"Pulumi.{stack}.yaml"


def raw_from_stack_file(path: Path, stack: str) -> dict[str, Any]:
    """The project's keys of a `Pulumi.<stack>.yaml`, without the `ack-edge-lb:` namespace."""
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(stack, [Problem(str(path), None, f"cannot read the stack file ({exc.strerror})",
                                          f"create {path.name}, or pass --file")]) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise ConfigError(stack, [Problem(str(path), None, f"not valid YAML{where}",
                                          "fix the YAML syntax (indentation, quotes, colons)")]) from None
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
        if isinstance(value, dict) and set(value) == {"secure"}:
            raise ConfigError(stack, [Problem(key[len(prefix):], "[secret]", "this setting holds no secret",
                                              f"set it in plain text with `pulumi config set {key}`")])
        raw[key[len(prefix):]] = value
    return raw


def load_stack_file(stack: str, path: Optional[Path] = None) -> Loaded:
    path = path or stack_file(stack)
    return validate(raw_from_stack_file(path, stack), stack)


def load_pulumi_config() -> Loaded:
    """The configuration of the running Pulumi stack (`pulumi up`, `pulumi preview`, mocks)."""
    import pulumi

    stack = pulumi.get_stack()
    config = pulumi.Config(PROJECT)
    raw: dict[str, Any] = {}
    for key in CONFIG_KEYS:
        text = config.get(key)
        if text is None:
            continue
        try:
            raw[key] = json.loads(text)
        except json.JSONDecodeError:
            raw[key] = text  # a plain scalar such as `protect: true` set with `pulumi config set`
    return validate(raw, stack)
