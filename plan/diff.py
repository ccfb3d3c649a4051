"""What changes between two offline plans: added, removed, updated in place, and replaced.

The engine replaces a resource when its provider says a changed input forces it (the force-new inputs
of `contracts/`) or the input is under one of its `replaceOnChanges` paths ("*" for all); otherwise the
change is an update in place. Pure: it compares two recorded runs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from contracts import changed_paths, covers
from contracts.registry import CONTRACTS
from plan.offline import UNKNOWN, Registration, Run


@dataclass
class PlanDiff:
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    updated: dict[str, list[str]] = field(default_factory=dict)   # name -> changed input keys
    replaced: dict[str, list[str]] = field(default_factory=dict)  # name -> the keys forcing it

    @property
    def empty(self) -> bool:
        return not (self.added or self.removed or self.updated or self.replaced)


def _changed_keys(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    return sorted(key for key in set(old) | set(new)
                  if old.get(key) != new.get(key) and new.get(key) != UNKNOWN)


def _forces_replace(r: Registration, old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """What the engine would replace for: the provider's force-new inputs, widened by replaceOnChanges.

    Values unknown in the new plan are left out: offline they are unknown on both sides."""
    known = {key: value for key, value in new.items() if value != UNKNOWN}
    paths = [p for p in changed_paths({k: old.get(k) for k in known}, known)]
    contract = CONTRACTS.get(r.type)
    forcing = contract.replaces(paths) if contract else []
    triggers = r.options.get("replaceOnChanges", [])
    forcing += [p for p in paths if p not in forcing and any(covers(t, p) for t in triggers)]
    return forcing


def diff_runs(old: Run, new: Run) -> PlanDiff:
    before = {r.name: r for r in old.resources}
    after = {r.name: r for r in new.resources}
    out = PlanDiff(added=sorted(set(after) - set(before)), removed=sorted(set(before) - set(after)))
    for name in sorted(set(before) & set(after)):
        if before[name].type != after[name].type:
            out.replaced[name] = ["(type)"]
            continue
        keys = _changed_keys(before[name].inputs, after[name].inputs)
        if not keys:
            continue
        forcing = _forces_replace(after[name], before[name].inputs, after[name].inputs)
        if forcing:
            out.replaced[name] = forcing
        else:
            out.updated[name] = keys
    return out
