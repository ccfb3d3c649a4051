"""`python -m plan <stack> --against <ref>` and `--format mermaid`, as a reviewer uses them."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
GIT_ENV = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@example.com"}


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> Path:
    """A copy of the project with one commit: the base a pull request is compared with."""
    tree = tmp_path_factory.mktemp("repo") / "ack-edge-lb"
    shutil.copytree(ROOT, tree, ignore=shutil.ignore_patterns("venv", ".git", "__pycache__", ".pytest_cache",
                                                              ".hypothesis", ".ruff_cache"))
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-q", "-m", "base"]):
        subprocess.run(["git", *args], cwd=tree, check=True, env=GIT_ENV, capture_output=True)
    return tree


def stacks(tree: Path, *args: str) -> subprocess.CompletedProcess:
    """`python -m plan ...` for ("plan", ...), else `python -m stacks ...`, in `tree`."""
    command = ["-m", "plan", *args[1:]] if args[:1] == ("plan",) else ["-m", "stacks", *args]
    return subprocess.run([sys.executable, *command], cwd=tree, capture_output=True, text=True, timeout=300)


def edit(tree: Path, stack: str, change) -> None:
    path = tree / f"Pulumi.{stack}.yaml"
    document = yaml.safe_load(path.read_text())
    change(document["config"])
    path.write_text(yaml.safe_dump(document, sort_keys=False))


def test_a_change_lists_updates_replacements_and_address_changes(repo):
    def change(config):
        lb = config["ack-edge-lb:services"][0]["loadBalancer"]
        lb["spec"] = "elb.s3.medium"          # ELB attributes are immutable: replaced, new address
        lb["eip"]["bandwidth"] = 30           # in place
    edit(repo, "edge", change)
    try:
        done = stacks(repo, "plan", "edge", "--against", "HEAD")
    finally:
        subprocess.run(["git", "checkout", "--", "Pulumi.edge.yaml"], cwd=repo, check=True)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "Against HEAD: 0 to add, 2 to change, 2 to replace, 0 to remove." in out
    assert "⚠️ ELB default/cube-svc/elb/np-hefei/loadbalancer is replaced (loadBalancerSpec)" in out
    assert "~ default/cube-svc/elb/np-chengdu/eip: bandwidth" in out
    assert "± default/cube-svc/elb/np-hefei/loadbalancer (replace: loadBalancerSpec)" in out


def test_removing_a_pool_from_the_selection_removes_its_elb_and_says_so(repo):
    def change(config):
        config["ack-edge-lb:nodePools"][1]["labels"]["k8s-svc"] = "other"
        # cube-api then binds only its adopted Hefei ELB: no EIP of its own to configure (the loader says so).
        config["ack-edge-lb:services"][1]["loadBalancer"].pop("eip")
    edit(repo, "edge", change)
    try:
        done = stacks(repo, "plan", "edge", "--against", "HEAD")
    finally:
        subprocess.run(["git", "checkout", "--", "Pulumi.edge.yaml"], cwd=repo, check=True)
    assert done.returncode == 0, done.stderr
    assert "⚠️ EIP default/cube-svc/elb/np-chengdu/eip is removed" in done.stdout
    assert "- default/cube-svc/elb/np-chengdu/loadbalancer" in done.stdout


def test_an_unchanged_stack_has_no_changes(repo):
    done = stacks(repo, "plan", "dev", "--against", "HEAD")
    assert done.returncode == 0, done.stderr
    assert "No changes." in done.stdout


def test_a_new_stack_is_all_additions(repo):
    shutil.copy(repo / "Pulumi.dev.yaml", repo / "Pulumi.qa.yaml")
    try:
        done = stacks(repo, "plan", "qa", "--against", "HEAD")
    finally:
        (repo / "Pulumi.qa.yaml").unlink()
    assert done.returncode == 0, done.stderr
    assert "Stack is new (no stack file at HEAD)" in done.stdout and "+ default/cube-svc/service" in done.stdout


def test_an_unknown_ref_is_a_clear_error(repo):
    done = stacks(repo, "plan", "dev", "--against", "no-such-branch")
    assert done.returncode == 3
    assert "no-such-branch" in done.stderr and "Traceback" not in done.stderr


def test_mermaid_topology_of_the_edge_stack():
    done = stacks(ROOT, "plan", "edge", "--format", "mermaid")
    assert done.returncode == 0, done.stderr
    out = done.stdout.strip()
    assert out.startswith("```mermaid\nflowchart LR") and out.endswith("```")
    for label in ('default/cube-svc<br/>elb · pulumi · Local', 'cn-hefei-cmcc-2<br/>pool np-hefei',
                  'ELB elb.s2.small', 'EIP 20 Mbit/s', 'listener tcp-80', 'backends: local (np-hefei)',
                  'ELB lb-5s7crik3yo3bp03gqrbp5hefei (adopted), kept by ECM'):
        assert label in out, label
    # Each node is declared once and every edge joins declared nodes.
    nodes = [line.split("(")[0].split("[")[0].strip() for line in out.splitlines() if line.startswith("  n") and "-->" not in line]
    edges = [line.strip().split(" --> ") for line in out.splitlines() if "-->" in line]
    assert len(nodes) == len(set(nodes))
    assert all(a in nodes and b in nodes for a, b in edges)
