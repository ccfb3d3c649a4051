"""From the group's current backends to the desired ones: the ordered, batched write steps. Pure.

Order: add -> update (weights) -> drain (weight 0) -> wait -> remove, so a group that should serve
always has a serving backend at every step: new servers are in before old ones lose their weight,
and old ones lose their weight before they leave. Each kind of change is cut into batches no larger
than the API allows, and nothing else: the number of write calls is the sum over kinds of
ceil(changes / limit), the least possible with that order.

Only owned backends are ever changed or removed. A desired backend that is already in the group but
not owned (added by hand, or by an earlier run that failed before recording it) is adopted, not added
twice; a foreign backend that is not desired is left alone.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable, Literal, Mapping

from reconciler.model import Backend

Key = tuple[str, int]
Op = Literal["add", "update", "drain", "wait", "remove"]
WRITES: tuple[Op, ...] = ("add", "update", "drain", "remove")


@dataclass(frozen=True)
class Step:
    op: Op
    backends: tuple[Backend, ...] = ()
    seconds: float = 0.0


@dataclass(frozen=True)
class Plan:
    steps: tuple[Step, ...]
    owned: frozenset[Key]        # what the group's owner owns once the plan is applied
    result: tuple[Backend, ...]  # the owned backends once applied, sorted

    @property
    def write_calls(self) -> int:
        return sum(1 for step in self.steps if step.op != "wait")

    @property
    def empty(self) -> bool:
        return not self.steps

    def count(self, op: Op) -> int:
        return sum(len(step.backends) for step in self.steps if step.op == op)


def batches(backends: list[Backend], limit: int) -> list[tuple[Backend, ...]]:
    ordered = sorted(backends)
    return [tuple(ordered[i:i + limit]) for i in range(0, len(ordered), limit)]


def minimal_write_calls(changes: Mapping[str, int], limit: int) -> int:
    return sum(math.ceil(n / limit) for n in changes.values())


def plan(current: Iterable[Backend], desired: Mapping[Key, Backend], owned: Iterable[Key], *, limit: int,
         drain_seconds: float = 0.0) -> Plan:
    live = {b.key: b for b in current}
    mine = set(owned) & set(live)
    adds, updates, drains, removes = [], [], [], []
    for key, want in desired.items():
        have = live.get(key)
        if have is None:
            adds.append(want)
        elif have.weight != want.weight:
            updates.append(want)  # owned, or adopted: it is desired and already there
    for key in mine - set(desired):
        have = live[key]
        if have.weight > 0 and drain_seconds > 0:
            drains.append(have.with_weight(0))
        removes.append(have)

    steps: list[Step] = []
    for op, items in (("add", adds), ("update", updates), ("drain", drains)):
        steps += [Step(op, batch) for batch in batches(items, limit)]
    if drains:
        steps.append(Step("wait", seconds=drain_seconds))
    steps += [Step("remove", batch) for batch in batches(removes, limit)]

    owned_after = frozenset((mine | set(desired)) - {b.key for b in removes})
    result = tuple(sorted(desired.get(key) or live[key] for key in owned_after))
    return Plan(tuple(steps), owned_after, result)
