"""`plan --against <git-ref>`: what a change does to a stack, compared with the stack as it is at a ref.

The stack at the ref is planned with the program at the ref (a temporary `git worktree`), so code
changes show as well as configuration changes; both plans run offline under mocks. The result lists
what would be added, changed (with the changed properties) and removed, and which changes replace or
remove a load balancer or an EIP: for users of the service, those change the address.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from plan.diff import PlanDiff, diff_runs
from plan.offline import Registration, Run
from stacks.load import PROJECT_DIR

# Resources whose replacement or removal changes an address users connect to.
ADDRESS_TYPES = {
    "alicloud:ens/loadBalancer:LoadBalancer": "ELB", "alicloud:ens/eip:Eip": "EIP",
    "alicloud:nlb/loadBalancer:LoadBalancer": "NLB", "alicloud:slb/applicationLoadBalancer:ApplicationLoadBalancer": "CLB",
}


class AgainstError(Exception):
    pass


def run_from_json(document: dict) -> Run:
    run = Run(stack=document["stack"], preview=True, outputs=document.get("outputs", {}),
              warnings=document.get("warnings", []))
    run.resources = [Registration(r["type"], r["name"], r.get("parent"), r.get("inputs", {}),
                                  not r["type"].startswith("ack-edge-lb:"), r.get("options", {}))
                     for r in document["resources"]]
    return run


def _git(*args: str, cwd: Path = PROJECT_DIR) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=60)
    if done.returncode != 0:
        raise AgainstError(f"git {' '.join(args)}: {done.stderr.strip() or done.stdout.strip()}")
    return done.stdout


def plan_at(ref: str, stack: str) -> Run | None:
    """The stack planned as it is at `ref`, or None when the stack file did not exist there."""
    commit = _git("rev-parse", "--verify", f"{ref}^{{commit}}").strip()
    with tempfile.TemporaryDirectory(prefix="ack-edge-lb-against-") as tmp:
        tree = Path(tmp) / "tree"
        _git("worktree", "add", "--detach", "--quiet", str(tree), commit)
        try:
            if not (tree / f"Pulumi.{stack}.yaml").exists():
                return None
            # The plan's own CLI at that ref: `python -m plan` since it has its package, `python -m stacks plan` before.
            command = ["-m", "plan", stack, "--format", "json"] if (tree / "plan" / "__main__.py").exists() \
                else ["-m", "stacks", "plan", stack, "--json"]
            done = subprocess.run([sys.executable, *command], cwd=tree, capture_output=True, text=True, timeout=600)
            if done.returncode != 0:
                raise AgainstError(f"planning `{stack}` at {ref} failed:\n{done.stderr.strip() or done.stdout.strip()}")
            return run_from_json(json.loads(done.stdout))
        finally:
            _git("worktree", "remove", "--force", str(tree))


@dataclass
class Report:
    ref: str
    diff: PlanDiff
    address_changes: list[str]
    new_stack: bool = False

    def lines(self) -> list[str]:
        if self.new_stack:
            head = [f"Stack is new (no stack file at {self.ref}): {len(self.diff.added)} resource(s) to add."]
        else:
            head = [f"Against {self.ref}: {len(self.diff.added)} to add, {len(self.diff.updated)} to change, "
                    f"{len(self.diff.replaced)} to replace, {len(self.diff.removed)} to remove."]
        if self.address_changes:
            head += ["", "**Address changes** (users must follow the new address):"]
            head += [f"- ⚠️ {line}" for line in self.address_changes]
        body = [f"+ {name}" for name in self.diff.added]
        body += [f"~ {name}: {', '.join(keys)}" for name, keys in self.diff.updated.items()]
        body += [f"± {name} (replace: {', '.join(keys)})" for name, keys in self.diff.replaced.items()]
        body += [f"- {name}" for name in self.diff.removed]
        return head + ([""] + body if body else ["", "No changes."])


def compare(ref: str, stack: str, now: Run) -> Report:
    before = plan_at(ref, stack)
    if before is None:
        return Report(ref, diff_runs(Run(stack, True), now), [], new_stack=True)
    diff = diff_runs(before, now)
    types = {r.name: r.type for r in before.resources}
    changes = [f"{ADDRESS_TYPES[types[name]]} {name} is replaced ({', '.join(keys)})"
               for name, keys in diff.replaced.items() if types.get(name) in ADDRESS_TYPES]
    changes += [f"{ADDRESS_TYPES[types[name]]} {name} is removed"
                for name in diff.removed if types.get(name) in ADDRESS_TYPES]
    return Report(ref, diff, changes)
