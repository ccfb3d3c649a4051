"""One reconciliation of one backend group: read, plan, apply. No Pulumi here.

The same functions serve the Pulumi dynamic resource (create/update/delete), a one-shot command or
a long-running loop, and the benchmark.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Iterable, Mapping

from reconciler.desired import Target, desired, without_port
from reconciler.groups import BackendGroup
from reconciler.model import Backend
from reconciler.planner import Key, Plan, plan

if TYPE_CHECKING:  # the cluster reader imports the Kubernetes client
    from reconciler.cluster import ClusterView


@dataclass(frozen=True)
class SyncResult:
    plan: Plan
    desired_hash: str
    # Pod IPs left out because they lack the Service's named target port (`ip` groups).
    without_port: tuple[str, ...] = ()

    @property
    def backends(self) -> tuple[Backend, ...]:
        return self.plan.result


def desired_hash(wanted: Mapping[Key, Backend]) -> str:
    """A fingerprint of the desired set: unchanged hash and inputs = nothing to do."""
    canonical = json.dumps([b.as_dict() for b in sorted(wanted.values())], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def apply_plan(group: BackendGroup, steps: Plan, sleep: Callable[[float], None] = time.sleep) -> None:
    done = 0
    try:
        for step in steps.steps:
            if step.op == "wait":
                sleep(step.seconds)  # let connections on drained servers finish
            elif step.op == "add":
                group.add(step.backends)
            elif step.op in ("update", "drain"):
                group.set_weights(step.backends)
            else:
                group.remove(step.backends)
            done += 1
    except Exception as exc:
        # What was applied stays applied; the next run reads the group and converges from there.
        raise RuntimeError(f"backend sync of {group.kind} group stopped after {done} of {len(steps.steps)} "
                           f"steps: {exc}") from exc


def sync(group: BackendGroup, target: Target, view: "ClusterView", owned: Iterable[Key], *,
         drain_seconds: float = 0.0, sleep: Callable[[float], None] = time.sleep) -> SyncResult:
    """Make the group's owned backends equal to what the cluster wants: one list call, then writes."""
    wanted = desired(view, target)
    current = group.list()
    mine = set(owned) | group.marked(current)
    steps = plan(current, wanted, mine, limit=group.limit, drain_seconds=drain_seconds)
    apply_plan(group, steps, sleep)
    return SyncResult(steps, desired_hash(wanted), tuple(without_port(view, target)))


def release(group: BackendGroup, owned: Iterable[Key], *, drain_seconds: float = 0.0,
            sleep: Callable[[float], None] = time.sleep) -> Plan:
    """Drain, then remove, only the backends this owner added; foreign ones stay."""
    current = group.list()
    steps = plan(current, {}, set(owned) | group.marked(current), limit=group.limit, drain_seconds=drain_seconds)
    apply_plan(group, steps, sleep)
    return steps
