"""What changes between two offline plans: added, removed, updated in place, and replaced.

The engine replaces a resource when a changed input is listed in its `replaceOnChanges` (or the
list holds "*"); otherwise the change is an update in place. Pure: it compares two recorded runs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from stacks.offline import UNKNOWN, Registration, Run


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


def _forces_replace(r: Registration, keys: list[str]) -> list[str]:
    triggers = r.options.get("replaceOnChanges", [])
    if "*" in triggers:
        return keys
    return [key for key in keys if key in triggers]


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
        forcing = _forces_replace(after[name], keys)
        if forcing:
            out.replaced[name] = forcing
        else:
            out.updated[name] = keys
    return out
