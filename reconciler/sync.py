"""One reconciliation of one backend group: read, plan, apply. No Pulumi here.

The same functions serve the Pulumi dynamic resource (create/update/delete), the in-cluster controller,
a one-shot command and the benchmark. With a journal (the group's record, reconciler/record.py), every
batch is announced before its cloud call together with what the batches before it achieved, and the
result is written after the last one: a crash at any point leaves a record from which the next run,
whichever host it is, knows every server it may have added.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Iterable, Mapping, Optional, Protocol

from reconciler.desired import Target, desired, without_port
from reconciler.groups import BackendGroup
from reconciler.model import Backend, Intent
from reconciler.planner import Key, Plan, Step, plan

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


class Journal(Protocol):
    """Where a sync writes its intent and its result (reconciler.record.BackendRecord)."""

    def begin(self, intent: Intent, owned: Iterable[Backend]) -> None: ...
    def finish(self, owned: Iterable[Backend], desired_hash: str, without_port: int = 0) -> None: ...
    def fail(self, error: str) -> None: ...


def _after(held: dict[Key, Backend], step: Step) -> dict[Key, Backend]:
    """What is owned once `step` went through."""
    out = dict(held)
    for backend in step.backends:
        if step.op == "remove":
            out.pop(backend.key, None)
        else:
            out[backend.key] = backend
    return out


def apply_plan(group: BackendGroup, steps: Plan, sleep: Callable[[float], None] = time.sleep,
               journal: Optional[Journal] = None, owned: Iterable[Backend] = ()) -> None:
    """`owned`: the owned backends in the group before the plan (what the journal holds until the first batch)."""
    done = 0
    held = {b.key: b for b in owned}
    try:
        for step in steps.steps:
            if step.op == "wait":
                sleep(step.seconds)  # let connections on drained servers finish
                done += 1
                continue
            if journal is not None:
                # One write per batch: this batch's intent, and the result of the one before.
                journal.begin(Intent.start(step.op, step.backends), held.values())
            if step.op == "add":
                group.add(step.backends)
            elif step.op in ("update", "drain"):
                group.set_weights(step.backends)
            else:
                group.remove(step.backends)
            held = _after(held, step)
            done += 1
    except Exception as exc:
        # What was applied stays applied; the next run reads the group and the record and converges from there.
        message = f"backend sync of {group.kind} group stopped after {done} of {len(steps.steps)} steps: {exc}"
        if journal is not None:
            try:
                journal.fail(message)
            except Exception as also:  # noqa: BLE001 - the sync's own error is the one to report
                message += f" (and the record could not be updated: {also})"
        raise RuntimeError(message) from exc


def sync(group: BackendGroup, target: Target, view: "ClusterView", owned: Iterable[Key], *,
         drain_seconds: float = 0.0, sleep: Callable[[float], None] = time.sleep,
         journal: Optional[Journal] = None) -> SyncResult:
    """Make the group's owned backends equal to what the cluster wants: one list call, then writes."""
    wanted = desired(view, target)
    current = group.list()
    mine = set(owned) | group.marked(current)
    steps = plan(current, wanted, mine, limit=group.limit, drain_seconds=drain_seconds)
    apply_plan(group, steps, sleep, journal, [b for b in current if b.key in mine])
    result = SyncResult(steps, desired_hash(wanted), tuple(without_port(view, target)))
    if journal is not None:
        journal.finish(result.backends, result.desired_hash, len(result.without_port))
    return result


def release(group: BackendGroup, owned: Iterable[Key], *, drain_seconds: float = 0.0,
            sleep: Callable[[float], None] = time.sleep, journal: Optional[Journal] = None) -> Plan:
    """Drain, then remove, only the backends this owner added; foreign ones stay."""
    current = group.list()
    mine = set(owned) | group.marked(current)
    steps = plan(current, {}, mine, limit=group.limit, drain_seconds=drain_seconds)
    apply_plan(group, steps, sleep, journal, [b for b in current if b.key in mine])
    if journal is not None:
        journal.finish(steps.result, desired_hash({}))
    return steps
