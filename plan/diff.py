"""What changes between two offline plans, resource by resource, as `pulumi preview` would show it.

One model for a plan and a diff: a plan is the diff of a run against nothing (every resource
"create"). Per resource: its op (create, update, replace, delete, same), the leaf property changes
with old and new values, why a replace happens, and the resources that change with a replaced or
deleted one (its dependents and children, from the registrations' dependencies).

The engine replaces a resource when its provider says a changed input forces it (the force-new
inputs of `contracts/`, or a dynamic provider's replace keys) or the input is under one of its
`replaceOnChanges` paths; when its type changes; and, as a preview shows it, when an input that
comes from a replaced resource (unknown until that one exists again) is force-new for it.
Pure: it compares two recorded runs.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, Optional

from components.cluster_patch import IDENTITY as PATCH_IDENTITY
from components.ens_listener import REPLACE_ON as ENS_LISTENER_REPLACE_ON
from contracts import covers, key_path
from contracts.registry import CONTRACTS
from plan.offline import UNKNOWN, Registration, Run
from reconciler.provider import REPLACE_ON as BACKEND_SYNC_REPLACE_ON

OPS = ("create", "update", "replace", "delete", "same")
MARKS = {"create": "+", "update": "~", "replace": "+-", "delete": "-", "same": " "}
VERBS = {"create": "to create", "update": "to update", "replace": "to replace", "delete": "to delete",
         "same": "unchanged"}

# What the project's dynamic providers replace on (their `diff`, components/): the same role as the
# force-new inputs of the bridged providers' contracts.
DYNAMIC_REPLACE_ON: dict[str, tuple[str, ...]] = {
    "pulumi-python:dynamic/ens:Listener": tuple(ENS_LISTENER_REPLACE_ON),
    "pulumi-python:dynamic/backends:BackendSync": tuple(BACKEND_SYNC_REPLACE_ON),
    "pulumi-python:dynamic/ens:EipAddress": ("allocationId",),  # components/eip_address.py `diff`
    "pulumi-python:dynamic/cluster:ExistingObjectPatch": tuple(PATCH_IDENTITY),
}


class _Absent:
    """A property that is not there (a key added or removed); not `None`, which JSON can carry."""

    def __repr__(self) -> str:
        return "(absent)"


ABSENT: Any = _Absent()

Segment = str | int


def path_text(segments: tuple[Segment, ...]) -> str:
    """Pulumi's property path syntax: `spec.ports[0].port`, `metadata.annotations["service.beta...io/x"]`."""
    out = ""
    for s in segments:
        if isinstance(s, int):
            out += f"[{s}]"
        elif re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", s):
            out += f".{s}" if out else s
        else:
            out += f"[{json.dumps(s)}]"
    return out


def _contract_path(segments: tuple[Segment, ...]) -> str:
    # The `a.b[0]` / `a["b.c"]` form contracts/ and replaceOnChanges patterns are matched against.
    out = ""
    for s in segments:
        out = f"{out}[{s}]" if isinstance(s, int) else key_path(out, str(s))
    return out


@dataclass(frozen=True)
class Change:
    """One leaf property that differs. `old`/`new` is ABSENT where the property is added/removed."""

    segments: tuple[Segment, ...]
    old: Any = ABSENT
    new: Any = ABSENT
    via: tuple[str, ...] = ()  # replaced resources the new value comes from (known after apply)

    @property
    def path(self) -> str:
        return path_text(self.segments)

    @property
    def kind(self) -> str:
        return "add" if self.old is ABSENT else "remove" if self.new is ABSENT else "change"


@dataclass(frozen=True)
class Reason:
    """Why a resource is replaced: `by` provider (force-new), replaceOnChanges, type, or dependency
    (`paths` come from the replaced resources in `sources`, and force a new one)."""

    by: str
    paths: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()


@dataclass(frozen=True)
class Related:
    """A resource that changes with a replaced or deleted one: its `input`s come from it (`paths`),
    it `dependsOn` it, or it is its `child`; `op` is what happens to it."""

    name: str
    relation: str
    op: str
    paths: tuple[str, ...] = ()


@dataclass
class ResourceDiff:
    name: str
    op: str
    old: Optional[Registration]
    new: Optional[Registration]
    changes: list[Change] = field(default_factory=list)
    reasons: list[Reason] = field(default_factory=list)
    related: list[Related] = field(default_factory=list)

    @property
    def current(self) -> Registration:
        """The registration as it will be (as it was, for a delete)."""
        reg = self.new or self.old
        assert reg is not None
        return reg

    @property
    def type(self) -> str:
        return self.current.type

    @property
    def parent(self) -> Optional[str]:
        return self.current.parent

    def forcing(self) -> list[str]:
        """The paths that force the replace, as PlanDiff.replaced lists them."""
        out: list[str] = []
        for reason in self.reasons:
            for p in (reason.paths if reason.by != "type" else ("(type)",)):
                if p not in out:
                    out.append(p)
        return out


@dataclass
class PlanDiff:
    resources: dict[str, ResourceDiff] = field(default_factory=dict)  # by name, sorted
    outputs: list[Change] = field(default_factory=list)

    def of(self, op: str) -> list[ResourceDiff]:
        return [d for d in self.resources.values() if d.op == op]

    @property
    def added(self) -> list[str]:
        return [d.name for d in self.of("create")]

    @property
    def removed(self) -> list[str]:
        return [d.name for d in self.of("delete")]

    @property
    def updated(self) -> dict[str, list[str]]:
        """name -> the changed top-level input keys."""
        return {d.name: sorted({str(c.segments[0]) for c in d.changes}) for d in self.of("update")}

    @property
    def replaced(self) -> dict[str, list[str]]:
        """name -> the input paths forcing the replacement ("(type)" for a new type)."""
        return {d.name: d.forcing() for d in self.of("replace")}

    @property
    def empty(self) -> bool:
        return all(d.op == "same" for d in self.resources.values())

    def counts(self) -> dict[str, int]:
        return {op: len(self.of(op)) for op in OPS}

    def counts_by_type(self) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        for d in self.resources.values():
            out.setdefault(d.type, dict.fromkeys(OPS, 0))[d.op] += 1
        return dict(sorted(out.items()))


def summary_text(counts: dict[str, int]) -> str:
    """As `pulumi preview` sums up: `+ 3 to create, ~ 2 to update, +- 1 to replace, - 1 to delete, 25 unchanged`."""
    parts = [f"{MARKS[op]} {counts[op]} {VERBS[op]}" for op in OPS[:-1] if counts.get(op)]
    if counts.get("same"):
        parts.append(f"{counts['same']} unchanged")
    return ", ".join(parts) or "none"


# --- leaf changes -----------------------------------------------------------------------------------

def _same(a: Any, b: Any) -> bool:
    # The wire carries numbers as doubles: 80 and 80.0 are one value.
    numbers = (int, float)
    if isinstance(a, numbers) and isinstance(b, numbers) and not isinstance(a, bool) and not isinstance(b, bool):
        return float(a) == float(b)
    return type(a) is type(b) and a == b


def leaf_changes(old: Any, new: Any, at: tuple[Segment, ...] = ()) -> list[Change]:
    """Every leaf that differs: maps key by key (also where one side has none), lists by index; an item
    added to or removed from a list is one change. A `None` is no value, as the engine takes it."""
    old = ABSENT if old is None else old
    new = ABSENT if new is None else new
    if old is ABSENT and new is ABSENT:
        return []
    if isinstance(old, dict) or isinstance(new, dict):
        if isinstance(old, dict | _Absent) and isinstance(new, dict | _Absent):
            before = old if isinstance(old, dict) else {}
            after = new if isinstance(new, dict) else {}
            out: list[Change] = []
            for key in sorted(set(before) | set(after), key=str):
                out += leaf_changes(before.get(key, ABSENT), after.get(key, ABSENT), (*at, key))
            return out
    if isinstance(old, list) and isinstance(new, list):
        out = []
        for i in range(max(len(old), len(new))):
            a, b = (old[i] if i < len(old) else ABSENT), (new[i] if i < len(new) else ABSENT)
            out += leaf_changes(a, b, (*at, i)) if a is not ABSENT and b is not ABSENT else [Change((*at, i), a, b)]
        return out
    if _same(old, new):
        return []
    return [Change(at, old, new)]


def _ignored(r: Registration, change: Change) -> bool:
    return any(covers(pattern, _contract_path(change.segments)) for pattern in r.options.get("ignoreChanges", []))


def _force_new(r: Registration, paths: list[str]) -> list[str]:
    contract = CONTRACTS.get(r.type)
    if contract is not None:
        return contract.replaces(paths)
    keys = DYNAMIC_REPLACE_ON.get(r.type, ())
    return [p for p in paths if any(covers(k, p) for k in keys)]


def _reasons(r: Registration, paths: list[str]) -> list[Reason]:
    provider = _force_new(r, paths)
    triggers = r.options.get("replaceOnChanges", [])
    engine = [p for p in paths if p not in provider and any(covers(t, p) for t in triggers)]
    return ([Reason("provider", tuple(provider))] if provider else []) + \
           ([Reason("replaceOnChanges", tuple(engine))] if engine else [])


def _compare(old: Registration, new: Registration) -> ResourceDiff:
    changes = [c for c in leaf_changes(old.inputs, new.inputs) if not _ignored(new, c)]
    if old.type != new.type:
        return ResourceDiff(new.name, "replace", old, new, changes, [Reason("type", sources=(old.type,))])
    reasons = _reasons(new, [_contract_path(c.segments) for c in changes])
    return ResourceDiff(new.name, "replace" if reasons else "update" if changes else "same", old, new, changes,
                        reasons)


# --- resources that change with another -------------------------------------------------------------

def _cascade(diffs: dict[str, ResourceDiff]) -> None:
    """Inputs that come from a replaced resource are unknown until it exists again: where the provider
    replaces on such an input, the dependent is replaced too (and so on); else it is updated."""
    replaced = {d.name for d in diffs.values() if d.op == "replace"}
    done: dict[str, set[str]] = {}
    moved = True
    while moved:
        moved = False
        for d in diffs.values():
            if d.op not in ("same", "update", "replace") or d.old is None or d.new is None:
                continue
            keys = {key: tuple(s for s in sources if s in replaced)
                    for key, sources in d.new.property_dependencies.items()}
            keys = {key: sources for key, sources in keys.items() if sources and key not in done.get(d.name, set())}
            if not keys:
                continue
            done.setdefault(d.name, set()).update(keys)
            known = {c.segments[0] for c in d.changes}
            for key, sources in sorted(keys.items()):
                if key not in known:
                    d.changes.append(Change((key,), d.old.inputs.get(key, ABSENT), UNKNOWN, via=sources))
            d.changes.sort(key=lambda c: [(0, s, "") if isinstance(s, int) else (1, 0, s) for s in c.segments])
            forcing = _force_new(d.new, sorted(keys)) + [
                k for k in sorted(keys) if any(covers(t, k) for t in d.new.options.get("replaceOnChanges", []))]
            if forcing and d.op != "replace":
                d.op = "replace"
                replaced.add(d.name)
                moved = True
            if forcing:
                sources = tuple(sorted({s for k in forcing for s in keys.get(k, ())}))
                d.reasons.append(Reason("dependency", tuple(dict.fromkeys(forcing)), sources))
            elif d.op == "same":
                d.op = "update"


def _dependents(run: Run) -> dict[str, dict[str, tuple[str, tuple[str, ...]]]]:
    """name -> {dependent: (relation, input keys)}: its children, what takes inputs from it, what waits for it."""
    out: dict[str, dict[str, tuple[str, tuple[str, ...]]]] = {}
    for r in run.resources:
        if r.parent is not None:
            out.setdefault(r.parent, {})[r.name] = ("child", ())
        for name in {*r.dependencies, *(n for names in r.property_dependencies.values() for n in names)}:
            if name == r.parent:
                continue
            keys = tuple(sorted(k for k, names in r.property_dependencies.items() if name in names))
            out.setdefault(name, {})[r.name] = ("input" if keys else "dependsOn", keys)
    return out


def _relate(diffs: dict[str, ResourceDiff], old: Run, new: Run) -> None:
    before, after = _dependents(old), _dependents(new)
    for d in diffs.values():
        if d.op not in ("replace", "delete"):
            continue
        found = dict(before.get(d.name, {}))
        if d.op == "replace":
            found |= after.get(d.name, {})
        d.related = [Related(other, relation, diffs[other].op, keys)
                     for other, (relation, keys) in sorted(found.items()) if other in diffs]


def diff_runs(old: Run, new: Run) -> PlanDiff:
    before = {r.name: r for r in old.resources}
    after = {r.name: r for r in new.resources}
    diffs: dict[str, ResourceDiff] = {}
    for name in sorted(set(before) | set(after)):
        if name not in before:
            diffs[name] = ResourceDiff(name, "create", None, after[name])
        elif name not in after:
            diffs[name] = ResourceDiff(name, "delete", before[name], None)
        else:
            diffs[name] = _compare(before[name], after[name])
    _cascade(diffs)
    _relate(diffs, old, new)
    return PlanDiff(diffs, leaf_changes(old.outputs, new.outputs))


def plan_of(run: Run) -> PlanDiff:
    """A plan: the run against nothing."""
    return diff_runs(Run(run.stack, run.preview), run)
