"""pydantic's validation errors as `Problem`s: the config path, the bad value, and a fix a person can act on."""

from __future__ import annotations

import json
import types
import typing
from typing import Any, Mapping, Optional

from pydantic import BaseModel, ValidationError

from stacks.model import StackConfig
from stacks.problems import Problem, config_path, show

# What a pattern mismatch should say, keyed by the pattern's distinctive start. The first example in each is
# also the example of the configuration reference (stacks/reference.py), where it must match the pattern.
PATTERN_HINTS = {
    r"^[a-z0-9]([-a-z0-9]*": "a lower-case DNS label such as `np-hefei` (letters, digits, '-', at most 63)",
    r"^[a-z]([-a-z0-9]*": "a lower-case DNS label starting with a letter, such as `cube-svc`",
    r"^c[a-z0-9]": "the ACK cluster id, such as `c8f3a2b1e0d9c47e6a5b4f3e2d1c0b9a8`",
    r"^vpc-": "a VPC id such as `vpc-bp1example`",
    r"^vsw-": "a vSwitch id such as `vsw-bp1example`",
    r"^n-": "an ENS network id such as `n-5sax03dh2eyagujgsn7z9`",
    r"^[a-z]{2}-": "a region or zone id such as `cn-hefei-cmcc-2`",
    r"^lb-": "an ELB id such as `lb-5s7crik3yo3bp03gqrbp5`",
    r"^(lb|nlb)-": "a load balancer id such as `lb-5s7crik3yo3bp03gqrbp5` (ELB, CLB) or `nlb-wb7r6dlwetz1example`",
    r"^eip-": "an EIP id such as `eip-5s7crik3yo3bp03gqrbp5`",
    r"^elb\.": "an ELB spec such as `elb.s2.small`",
    r"^v?\d": "a version such as `2.1.0`",
    r"^/": "a path such as `/healthz`",
    r"^\S+$": "a value without spaces, such as `registry.example.com/cube:1.0` (an image) or `cert-cube-example` "
              "(a certificate id)",
    r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.": "a label key such as `k8s-svc` or `example.com/role`",
    r"^([A-Za-z0-9]": "a label value such as `cube` (letters, digits, '-', '_', '.', at most 63)",
}


def pattern_hint(pattern: str) -> Optional[str]:
    return next((hint for start, hint in PATTERN_HINTS.items() if pattern.startswith(start)), None)


# Fixes by pydantic error type, where the type alone says what to do.
FIXES = {
    "int_parsing": "use a whole number", "int_type": "use a whole number", "int_from_float": "use a whole number",
    "bool_parsing": "use true or false", "bool_type": "use true or false",
    "string_type": "use a text value", "list_type": "use a list", "dict_type": "use a mapping (key: value)",
    "model_type": "use a mapping (key: value)", "model_attributes_type": "use a mapping (key: value)",
    "target_port": "use a number from 1 to 65535 or the name of a container port, such as `http`",
}


def _strip(tp: Any) -> tuple[Any, list[Any]]:
    """Annotated and Optional peeled off a type, with the constraints they carried."""
    meta: list[Any] = []
    while True:
        origin = typing.get_origin(tp)
        if origin is typing.Annotated:
            tp, *extra = typing.get_args(tp)
            meta += extra
        elif origin in (typing.Union, types.UnionType):
            members = [a for a in typing.get_args(tp) if a is not type(None)]
            if len(members) != 1:
                return tp, meta
            tp = members[0]
        else:
            return tp, meta


def _is_model(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, BaseModel)


def _fields(model: type[BaseModel]) -> dict[str, Any]:
    return {f.alias or n: f for n, f in model.model_fields.items()}


def _walk(loc: tuple[Any, ...]) -> tuple[tuple[Any, ...], Any, list[Any]]:
    """The loc without union-branch tags, and the type and constraints it points at (None if unknown)."""
    tp, meta, kept = StackConfig, [], []
    for part in loc:
        tp, extra = _strip(tp)
        meta += extra
        origin = typing.get_origin(tp)
        if origin in (typing.Union, types.UnionType):
            continue  # pydantic names the union member that failed; the user only knows the field
        kept.append(part)
        if origin is list and isinstance(part, int):
            tp, meta = typing.get_args(tp)[0], []
        elif origin is dict:
            tp, meta = typing.get_args(tp)[1], []
        elif _is_model(tp) and part in _fields(tp):
            field = _fields(tp)[part]
            tp, meta = field.annotation, list(field.metadata)
        else:
            tp, meta = None, []
    if tp is not None:
        tp, extra = _strip(tp)
        meta += extra
    return tuple(kept), tp, meta


def _bounds(meta: list[Any]) -> tuple[Optional[Any], Optional[Any]]:
    lo = hi = None
    for item in meta:
        for inner in getattr(item, "metadata", [item]):
            lo = getattr(inner, "ge", lo)
            hi = getattr(inner, "le", hi)
    return lo, hi


def _fix(kind: str, err: Mapping[str, Any], loc: tuple[Any, ...], meta: list[Any]) -> str:
    ctx = err.get("ctx") or {}
    if kind == "missing":
        return f"add `{loc[-1]}`"
    if kind == "extra_forbidden":
        _, parent, _ = _walk(loc[:-1])
        keys = f" (keys here: {', '.join(_fields(parent))})" if _is_model(parent) else ""
        return f"remove `{loc[-1]}` or correct its spelling{keys}"
    if kind in ("literal_error", "enum"):
        return f"use one of: {ctx.get('expected', '')}"
    if kind in ("greater_than_equal", "less_than_equal", "greater_than", "less_than"):
        lo, hi = _bounds(meta)
        if lo is not None and hi is not None:
            return f"use a value from {lo} to {hi}"
        return f"use a value {'>=' if lo is not None else '<='} {lo if lo is not None else hi}"
    if kind == "string_pattern_mismatch":
        pattern = str(ctx.get("pattern", ""))
        hint = pattern_hint(pattern)
        return f"use {hint}" if hint else f"use a value matching {pattern}"
    if kind == "string_type" and isinstance(err.get("input"), (int, float)) and not isinstance(err.get("input"), bool):
        return f'quote it, as in `"{err["input"]}"`: YAML reads it as a number'
    if kind == "string_too_long":
        return f"use at most {ctx.get('max_length')} characters"
    if kind == "too_short":
        return f"give at least {ctx.get('min_length')} item(s)"
    if kind == "too_long":
        return f"give at most {ctx.get('max_length')} item(s)"
    return FIXES.get(kind, "see the Configuration section of the README")


def _reportable(value: Any) -> Any:
    """The value as it can go into JSON output; its short text form when it cannot."""
    try:
        json.dumps(value, default=str)
        return value
    except (TypeError, ValueError):
        return show(value)


def problems_of(exc: ValidationError) -> list[Problem]:
    problems: dict[str, Problem] = {}
    for err in exc.errors(include_url=False):
        raw_loc = tuple(err["loc"])
        value = None if err["type"] == "missing" else err.get("input")
        message = err["msg"].removeprefix("Value error, ")
        seen_as = ""
        # A bad key of a mapping (pydantic: loc `..., <key>, "[key]"`, input the key): report it at the mapping.
        if len(raw_loc) >= 2 and raw_loc[-1] == "[key]" and err.get("input") == raw_loc[-2]:
            value, raw_loc = raw_loc[-2], raw_loc[:-2]
            message = f"`{value}` is not a valid key here ({message.lower()})"
            seen_as = f" key {value}"
        loc, _, meta = _walk(raw_loc)
        path = config_path(loc)
        # One problem per place: a union reports each of its members, the user needs one answer.
        problems.setdefault(path + seen_as,
                            Problem(path, _reportable(value), message, _fix(err["type"], err, loc, meta)))
    return list(problems.values())
