"""A plan or a diff with what it means in the cloud: the one thing the text and the JSON render.

A plan of a stack is its diff against nothing (`ref` None, every resource "create"); `--against REF`
is the diff against the stack as it is at REF.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from plan.diff import PlanDiff, diff_runs
from plan.effects import AddressChange, Effect, effects_of
from plan.offline import Run


@dataclass
class Report:
    run: Run  # the stack as it is now: outputs, warnings
    diff: PlanDiff
    ref: Optional[str] = None  # None: a plan
    new_stack: bool = False  # a diff against a ref that had no stack file
    effects: list[Effect] = field(default_factory=list)
    addresses: list[AddressChange] = field(default_factory=list)
    before: Optional[Run] = None  # the stack at `ref` (None for a plan, or where it had no stack file)

    @property
    def kind(self) -> str:
        return "plan" if self.ref is None else "diff"

    @property
    def stack(self) -> str:
        return self.run.stack

    @property
    def changes(self) -> bool:
        """Whether applying it changes anything (`--detailed-exitcode`)."""
        return not self.diff.empty


def build(now: Run, before: Optional[Run] = None, ref: Optional[str] = None, new_stack: bool = False) -> Report:
    diff = diff_runs(before or Run(now.stack, now.preview), now)
    effects, addresses = effects_of(diff)
    return Report(now, diff, ref, new_stack, effects, addresses, before)
