"""What the bridged providers and the cloud APIs behind them accept: one `Contract` per resource type.

The program declares pulumi-alicloud and pulumi-kubernetes resources, which cannot run offline. Their
contracts say, for every input the program sets: whether it is required, which values and ranges
the provider validates (case matters), the cloud's own name rules, which inputs force a replacement
(Terraform's ForceNew, pulumi-kubernetes' replace list) and which the API refuses to change in place
(Kubernetes immutable fields). Each rule names its source.

Pure: no Pulumi, no I/O. Used by the configuration rules (cloud names are checked before anything is
declared), by the offline plan's diff (a changed force-new input is a replace), and by the tests'
engine harness (a violation is a Check failure, as the provider's Check would report it).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Optional

# The value Pulumi puts on the wire for an input that is not known yet (a preview's computed outputs).
UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"


def is_unknown(value: Any) -> bool:
    """The wire sentinel, or the SDK's `pulumi.output.Unknown` object (by name: contracts import no Pulumi)."""
    return (isinstance(value, str) and value == UNKNOWN) or type(value).__name__ == "Unknown"


@dataclass(frozen=True)
class NameRule:
    """A cloud API's rule for a name or description: length and characters."""

    what: str
    min_len: int
    max_len: int
    pattern: str  # the characters and their order; the length is checked apart, so messages can say which failed
    explain: str  # how the API reference says it
    source: str

    def problem(self, value: Any) -> Optional[str]:
        if not isinstance(value, str):
            return f"{self.what} must be a string"
        if not self.min_len <= len(value) <= self.max_len:
            return f"{self.what} {value!r} has {len(value)} characters; the API takes {self.explain}"
        if not re.fullmatch(self.pattern, value):
            return f"{self.what} {value!r} has characters the API refuses; it takes {self.explain}"
        return None


@dataclass(frozen=True)
class Input:
    """One input of a resource type, at a property path (`a.b`, `a[*].b` for every list item)."""

    path: str
    required: bool = False
    force_new: bool = False  # the provider replaces the resource when it changes
    immutable: bool = False  # the API refuses a change in place and the provider does not replace: an update fails
    values: tuple[Any, ...] = ()  # allowed values, compared exactly (case-sensitive)
    range: Optional[tuple[float, float]] = None
    name: Optional[NameRule] = None
    source: str = ""


@dataclass(frozen=True)
class Contract:
    type: str
    inputs: tuple[Input, ...]
    # Outputs the provider computes (unknown in a preview of a create, known after it).
    outputs: tuple[str, ...] = ()
    # The provider's Diff asks for delete-before-replace whenever it replaces (pulumi-kubernetes, named objects).
    delete_before_replace: bool = False
    # Rules across inputs: each returns (path, reason) or None.
    rules: tuple[Callable[[dict[str, Any]], Optional[tuple[str, str]]], ...] = ()
    source: str = ""
    by_path: dict[str, Input] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "by_path", {i.path: i for i in self.inputs})

    def check(self, inputs: dict[str, Any]) -> list[tuple[str, str]]:
        """(path, reason) for every violated rule; unknown values pass (they are checked once known)."""
        failures = []
        for spec in self.inputs:
            found = list(values_at(inputs, spec.path))
            if spec.required and not found and "[*]" not in spec.path:
                failures.append((spec.path, f"missing required property '{spec.path}'"))
            for path, value in found:
                if value is None or is_unknown(value):
                    continue
                reason = _violation(spec, value)
                if reason:
                    failures.append((path, reason))
        for rule in self.rules:
            found = rule(inputs)
            if found:
                failures.append(found)
        return failures

    def replaces(self, changed: list[str]) -> list[str]:
        """The changed paths that force a replacement."""
        return [p for p in changed if any(covers(i.path, p) for i in self.inputs if i.force_new)]

    def immutable_changes(self, changed: list[str]) -> list[str]:
        return [p for p in changed if any(covers(i.path, p) for i in self.inputs if i.immutable)]


def _in_range(spec: Input, value: Any) -> bool:
    if spec.range is None or isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    return spec.range[0] <= value <= spec.range[1]


def _violation(spec: Input, value: Any) -> Optional[str]:
    # Values and a range together mean either (`Any(IntBetween(1, 1000), IntInSlice([-1]))`).
    if spec.values and value not in spec.values and not _in_range(spec, value):
        shown = ", ".join(repr(v) for v in spec.values)
        within = f" or in the range ({spec.range[0]:g} - {spec.range[1]:g})" if spec.range else ""
        return f"expected {spec.path} to be one of [{shown}]{within}, got {value!r}"
    if spec.range is not None and not spec.values and not _in_range(spec, value):
        low, high = spec.range
        return f"expected {spec.path} to be in the range ({low:g} - {high:g}), got {value!r}"
    if spec.name is not None:
        return spec.name.problem(value)
    return None


# --- property paths ---------------------------------------------------------------------------------

# A key the engine writes in brackets and quotes (`metadata.annotations["a.io/b"]`), an index or `*`, or a plain key.
_SEGMENT = re.compile(r'\["((?:[^"\\]|\\.)*)"\]|\[([^\]]*)\]|([^.\[\]]+)')


def _segments(path: str) -> list[str]:
    """`a.b[0].c` / `a[*].b` / `a["b.c/d"]` -> ['a', 'b', '0', 'c'] / ['a', '*', 'b'] / ['a', 'b.c/d']."""
    return [quoted.replace('\\"', '"') if quoted else index or key
            for quoted, index, key in _SEGMENT.findall(path)]


def key_path(at: str, key: str) -> str:
    """`at` extended by a map key, quoted where the key holds `.`, `"`, `[` or `]` as pulumi-kubernetes writes
    the paths of its detailed diff, which replaceOnChanges is matched against (provider/pkg/provider/provider.go
    lines 3359-3364 at pulumi/pulumi-kubernetes@94977969)."""
    if any(c in key for c in '."[]'):
        return f'{at}["{key.replace(chr(34), chr(92) + chr(34))}"]'
    return f"{at}.{key}" if at else key


def values_at(obj: Any, path: str) -> Iterator[tuple[str, Any]]:
    """(concrete path, value) of every value at `path` that is present in `obj`."""
    def walk(node: Any, segments: list[str], at: str) -> Iterator[tuple[str, Any]]:
        if not segments:
            yield at, node
            return
        head, rest = segments[0], segments[1:]
        if head == "*" and isinstance(node, list):
            for i, item in enumerate(node):
                yield from walk(item, rest, f"{at}[{i}]")
        elif isinstance(node, dict) and head in node:
            yield from walk(node[head], rest, f"{at}.{head}" if at else head)
    yield from walk(obj, _segments(path), "")


def covers(pattern: str, path: str) -> bool:
    """Whether `path` is at or under `pattern` (`*` matches any key or index), as replaceOnChanges matches."""
    if pattern == "*":
        return True
    want, got = _segments(pattern), _segments(path)
    if len(got) < len(want):
        return False
    return all(w in ("*", g) for w, g in zip(want, got[:len(want)], strict=True))


def changed_paths(old: Any, new: Any, at: str = "") -> list[str]:
    """Leaf paths whose value differs between two input trees (an unknown new value counts as changed)."""
    if is_unknown(new):
        return [at] if at else ["*"]
    if isinstance(old, dict) and isinstance(new, dict):
        out = []
        for key in sorted(set(old) | set(new), key=str):
            out += changed_paths(old.get(key), new.get(key), key_path(at, str(key)))
        return out
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        out = []
        for i, (a, b) in enumerate(zip(old, new, strict=True)):
            out += changed_paths(a, b, f"{at}[{i}]")
        return out
    if _same(old, new):
        return []
    return [at]


def _same(a: Any, b: Any) -> bool:
    # The wire carries numbers as doubles: 80 and 80.0 are one value.
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool) and not isinstance(b, bool):
        return float(a) == float(b)
    return a == b
