"""The configuration reference (`python -m stacks reference`, docs/configuration.md), generated from the models of
`stacks/model.py`: every key with its path, type, default, allowed values, ranges, formats and description, so the
reference says what the loader checks and cannot drift from it.
"""

from __future__ import annotations

import json
import re
import types
import typing
from dataclasses import dataclass, field
from typing import Any, Iterator, Literal, Optional

from pydantic import BaseModel
from pydantic.fields import FieldInfo

from stacks.explain import _strip, pattern_hint
from stacks.load import PROJECT, REQUIRED_KEYS
from stacks.model import StackConfig

COMMAND = "make reference"
HEADER = (f"<!-- Generated from stacks/model.py by `{COMMAND}` (venv/bin/python -m stacks reference --output "
          "docs/configuration.md). Do not edit by hand: change a field's description in stacks/model.py and "
          "regenerate; tests/test_reference.py fails while this file differs. -->")
_EXAMPLE = re.compile(r"`([^`]+)`")


@dataclass
class Row:
    """One key: `path` as in `services[].loadBalancer.eip.bandwidth`."""

    path: str
    alias: str
    kind: str
    required: str
    allowed: list[str]
    description: str
    formats: list[tuple[str, Optional[str]]] = field(default_factory=list)  # (pattern, example)


@dataclass
class Block:
    """The keys of one mapping (a model) at its path, such as `services[].loadBalancer`."""

    path: str
    model: type[BaseModel]
    rows: list[Row]


def _is_model(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, BaseModel)


def _constraints(meta: list[Any]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for item in meta:
        for inner in getattr(item, "metadata", None) or [item]:
            for name in ("ge", "le", "gt", "lt", "min_length", "max_length", "pattern"):
                if getattr(inner, name, None) is not None:
                    found[name] = getattr(inner, name)
    return found


def _code(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value)
    return f"`{text}`"


def _count(lo: Optional[int], hi: Optional[int], unit: str) -> Optional[str]:
    if lo is not None and hi is not None:
        return f"{lo} to {hi} {unit}s"
    if lo is not None:
        return f"at least {lo} {unit}" + ("s" if lo != 1 else "")
    if hi is not None:
        return f"at most {hi} {unit}s"
    return None


def _shape(tp: Any, meta: list[Any], example: Optional[str], out: Row) -> tuple[str, list[str], Any]:
    """(type, allowed values, the nested model if any) of a type; formats found are added to `out`."""
    tp, extra = _strip(tp)
    c = _constraints(meta + extra)
    origin = typing.get_origin(tp)
    if origin is Literal:
        values = typing.get_args(tp)
        return "string", ["one of " + ", ".join(_code(v) for v in values) if len(values) > 1 else
                          f"only {_code(values[0])}"], None
    if origin in (typing.Union, types.UnionType):
        names = [_shape(member, [], None, out)[0] for member in typing.get_args(tp)]
        return " or ".join(names), [], None
    if origin is list:
        item, allowed, nested = _shape(typing.get_args(tp)[0], [], example, out)
        size = _count(c.get("min_length"), c.get("max_length"), "item")
        return (f"list of {item}s", [s for s in [size, *(f"each: {a}" for a in allowed)] if s], nested)
    if origin is dict:
        key_type, key_allowed, _ = _shape(typing.get_args(tp)[0], [], None, out)
        value_type, value_allowed, nested = _shape(typing.get_args(tp)[1], [], None, out)
        size = _count(c.get("min_length"), c.get("max_length"), "entry")
        allowed = [size] if size else []
        allowed += [f"{part}: {', '.join(said)}" for part, said in (("keys", key_allowed), ("values", value_allowed))
                    if said]
        return f"mapping of {key_type} to {value_type}", allowed, nested
    if _is_model(tp):
        return "mapping", [], tp
    allowed = []
    if "ge" in c or "le" in c:
        allowed.append(f"{c['ge']} to {c['le']}" if "ge" in c and "le" in c else
                       f"at least {c['ge']}" if "ge" in c else f"at most {c['le']}")
    if "pattern" in c:
        pattern = c["pattern"]
        hint = pattern_hint(pattern)
        found = example or (m[1] if hint and (m := _EXAMPLE.search(hint)) else None)
        out.formats.append((pattern, found))
        allowed.append(f"format {_code(pattern)}" + (f" such as {_code(found)}" if found else ""))
    length = _count(c.get("min_length"), c.get("max_length"), "character")
    if length:
        allowed.append(length)
    names = {str: "string", int: "integer", bool: "boolean", float: "number"}
    return names.get(tp, getattr(tp, "__name__", str(tp))), allowed, None


def _required(name: str, info: FieldInfo, top: bool) -> str:
    if info.is_required():
        return "required"
    if top and name in REQUIRED_KEYS:
        return "required (`Pulumi.yaml` declares it)"
    default = info.get_default()
    if default is None or isinstance(default, BaseModel):
        return "optional"
    if isinstance(default, bool):
        return f"default `{str(default).lower()}`"
    return f"default {_code(default)}"


def blocks() -> list[Block]:
    """Every mapping of the configuration, depth first from the top-level keys."""
    out: list[Block] = []

    def visit(model: type[BaseModel], prefix: str) -> None:
        block = Block(prefix, model, [])
        out.append(block)
        nested_blocks: list[tuple[type[BaseModel], str]] = []
        for name, info in model.model_fields.items():
            alias = info.alias or name
            path = f"{prefix}.{alias}" if prefix else alias
            row = Row(path, alias, "", _required(alias, info, not prefix), [], info.description or "")
            example = info.examples[0] if info.examples else None
            row.kind, row.allowed, nested = _shape(info.annotation, list(info.metadata), example, row)
            block.rows.append(row)
            if nested is not None:
                suffix = "[]" if row.kind.startswith("list") else ".<key>" if row.kind.startswith("mapping of") else ""
                nested_blocks.append((nested, path + suffix))
        for nested, path in nested_blocks:
            visit(nested, path)

    visit(StackConfig, "")
    return out


def rows() -> Iterator[Row]:
    for block in blocks():
        yield from block.rows


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _table(block: Block, top: bool) -> list[str]:
    lines = ["| key | type | required / default | allowed | description |", "|---|---|---|---|---|"]
    for row in block.rows:
        key = f"{PROJECT}:{row.path}" if top else row.path
        lines.append("| " + " | ".join(_cell(c) for c in (f"`{key}`", row.kind, row.required,
                                                             "; ".join(row.allowed), row.description)) + " |")
    return lines


def markdown() -> str:
    every = blocks()
    lines = [HEADER, "", "# Configuration reference", "",
             f"Every key of a stack's configuration, as written in `Pulumi.<stack>.yaml` under `config:` (each top-level "
             f"key with the project's namespace, `{PROJECT}:`), or set with `pulumi config set --path`. A path such as "
             "`services[].loadBalancer.eip.bandwidth` is the key `bandwidth` of `eip` of `loadBalancer` in each entry of "
             "the list `services`, the same path an error names (`services[0].loadBalancer.eip.bandwidth`); "
             "`<key>` stands for a key you choose. The rules that relate several keys are in the README (Configuration, "
             "Rules); `make validate STACK=<stack>` checks a stack against both.", ""]
    for block in every:
        top = block.path == ""
        lines += ["## Top-level keys" if top else f"## `{block.path}`", ""]
        doc = (block.model.__doc__ or "").strip()
        if doc:
            lines += [" ".join(doc.split()), ""]
        lines += _table(block, top) + [""]
    return "\n".join(lines).rstrip("\n") + "\n"
