"""`plan --against <git-ref>`: what a change does to a stack, compared with the stack as it is at a ref.

The stack at the ref is planned with the program at the ref (a temporary `git worktree`), so code
changes show as well as configuration changes; both plans run offline under mocks. The result is a
`Report` (plan/report.py): per resource what is created, updated, replaced or deleted and why, which
addresses change, and what ECM or CCM does in the cloud.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

from plan.document import run_from_document
from plan.offline import Run
from plan.report import Report, build
from stacks.load import PROJECT_DIR


class AgainstError(Exception):
    pass


def run_from_json(document: dict) -> Run:
    """The run a ref's program printed: this version's `ack-edge-lb/plan/v1`, or the format before it
    (`{stack, resources: [{type, name, parent, inputs, options}], outputs, warnings}`)."""
    return run_from_document(document)


def _git(*args: str, cwd: Path = PROJECT_DIR) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=60)
    if done.returncode != 0:
        raise AgainstError(f"git {' '.join(args)}: {done.stderr.strip() or done.stdout.strip()}")
    return done.stdout


def plan_at(ref: str, stack: str) -> Run | None:
    """The stack planned as it is at `ref`, or None when the stack file did not exist there."""
    commit = _git("rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}").strip()
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


def compare(ref: str, stack: str, now: Run) -> Report:
    try:
        before = plan_at(ref, stack)
    except AgainstError as exc:
        if "rev-parse" in str(exc):
            raise AgainstError(f"`{ref}` is not a commit, branch or tag of this repository") from None
        raise
    return build(now, before, ref=ref, new_stack=before is None)
