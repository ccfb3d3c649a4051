"""`python -m plan <stack> --against <ref>` and `--format mermaid`, as a reviewer uses them."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from itertools import pairwise
from pathlib import Path

import jsonschema
import pytest
import yaml

from plan.topology import node_id
from tests.mermaid import parse

ROOT = Path(__file__).resolve().parents[1]
SCHEMA_FILE = ROOT / "docs" / "plan.schema.json"
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


def against(tree: Path, stack: str, change, *extra: str) -> list[subprocess.CompletedProcess]:
    """`python -m plan <stack> --against HEAD` once per argument list in `extra`, with `change` made to the stack."""
    edit(tree, stack, change)
    try:
        return [stacks(tree, "plan", stack, "--against", "HEAD", *args.split()) for args in extra]
    finally:
        subprocess.run(["git", "checkout", "--", f"Pulumi.{stack}.yaml"], cwd=tree, check=True)


def test_a_change_lists_updates_replacements_and_address_changes(repo):
    def change(config):
        lb = config["ack-edge-lb:services"][0]["loadBalancer"]
        lb["spec"] = "elb.s3.medium"          # ELB attributes are immutable: replaced, new address
        lb["eip"]["bandwidth"] = 30           # in place
    text, as_json, exit_code = against(repo, "edge", change, "", "--format json", "--detailed-exitcode")
    assert text.returncode == 0, text.stderr
    out = text.stdout
    assert "Against HEAD: stack edge" in out
    # Per pool the ELB, and what takes its id in a force-new input: attachment, two listeners, backends.
    assert "Resources: ~ 2 to update, +- 10 to replace, 17 unchanged" in out
    assert "  alicloud:ens/loadBalancer:LoadBalancer: +- 2 to replace, 1 unchanged" in out
    assert ("- ELB default/cube-svc/elb/np-hefei/loadbalancer (pool np-hefei, cn-hefei-cmcc-2) is replaced "
            "(loadBalancerSpec): its id and private address change; the public address stays: EIP "
            "default/cube-svc/elb/np-hefei/eip is bound to the new ELB") in out
    assert "~ Eip eip  (alicloud:ens/eip:Eip)" in out and "~ bandwidth: 20 -> 30" in out
    assert '+- LoadBalancer loadbalancer' in out and '~ loadBalancerSpec: "elb.s2.small" -> "elb.s3.medium"' in out
    assert "replaced: loadBalancerSpec is force-new for its provider (contracts/)" in out
    for dependent in ("eip-attachment: its instanceId", "listener/tcp-80: its loadBalancerId",
                      "listener/https-443: its loadBalancerId", "backends: its groupId"):
        assert f"+- default/cube-svc/elb/np-hefei/{dependent} comes from it" in out, dependent
    assert as_json.returncode == 0, as_json.stderr
    doc = json.loads(as_json.stdout)
    jsonschema.validate(doc, json.loads(SCHEMA_FILE.read_text()))
    assert (doc["kind"], doc["against"]) == ("diff", {"ref": "HEAD", "stackExisted": True})
    assert (doc["summary"]["update"], doc["summary"]["replace"]) == (2, 10)
    assert exit_code.returncode == 4, exit_code.stderr


def test_removing_a_pool_from_the_selection_removes_its_elb_and_says_so(repo):
    def change(config):
        config["ack-edge-lb:nodePools"][1]["labels"]["k8s-svc"] = "other"
        # cube-api then binds only its adopted Hefei ELB: no EIP of its own to configure (the loader says so).
        config["ack-edge-lb:services"][1]["loadBalancer"].pop("eip")
    (done,) = against(repo, "edge", change, "")
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert ("- EIP default/cube-svc/elb/np-chengdu/eip (pool np-chengdu, cn-chengdu-telecom-4) is deleted: the "
            "public address of the pool is released") in out
    assert ("- ELB default/cube-svc/elb/np-chengdu/loadbalancer (pool np-chengdu, cn-chengdu-telecom-4) is deleted: "
            "its id and private address are released") in out
    assert "- LoadBalancer loadbalancer  (alicloud:ens/loadBalancer:LoadBalancer)" in out
    assert "- default/cube-svc/elb/np-chengdu/listener/tcp-80: its loadBalancerId comes from it" in out
    assert "- ECM stops serving np-chengdu (its PoolService binding goes); a self-managed ELB and its EIP stay" in out


def test_ecm_effects_of_a_port_change_in_text_and_json(repo):
    def change(config):
        config["ack-edge-lb:services"][0]["ports"][0]["port"] = 8080
    text, *documents = against(repo, "dev", change, "", "--json", "--json", "--json")
    assert text.returncode == 0, text.stderr
    effect = "ECM rebuilds the listener 80 -> 8080 (TCP) on 2 ELBs (pools np-chengdu, np-hefei)"
    assert f"- {effect}" in text.stdout and "~ spec.ports[0].port: 80 -> 8080" in text.stdout
    assert "Resources: ~ 1 to update, 4 unchanged" in text.stdout
    assert len({d.stdout for d in documents}) == 1  # byte-identical
    doc = json.loads(documents[0].stdout)
    jsonschema.validate(doc, json.loads(SCHEMA_FILE.read_text()))
    assert [(e["controller"], e["action"], e["message"]) for e in doc["controllerEffects"]] == [
        ("ECM", "rebuild-listener", effect)]
    (service,) = [r for r in doc["resources"] if r["op"] != "same"]
    assert service["changes"] == [{"path": "spec.ports[0].port", "segments": ["spec", "ports", 0, "port"],
                                   "kind": "change", "old": 80, "new": 8080}]


def test_an_unchanged_stack_has_no_changes(repo):
    done = stacks(repo, "plan", "dev", "--against", "HEAD", "--detailed-exitcode")
    assert done.returncode == 0, done.stderr
    assert "No changes." in done.stdout and "Resources: 5 unchanged" in done.stdout


def test_a_new_stack_is_all_additions(repo):
    shutil.copy(repo / "Pulumi.dev.yaml", repo / "Pulumi.qa.yaml")
    try:
        done = stacks(repo, "plan", "qa", "--against", "HEAD")
    finally:
        (repo / "Pulumi.qa.yaml").unlink()
    assert done.returncode == 0, done.stderr
    assert "Stack is new (no stack file at HEAD)" in done.stdout and "Resources: + 5 to create" in done.stdout
    assert "+ Service default/cube-svc  (kubernetes:core/v1:Service)" in done.stdout


def test_an_unknown_ref_is_a_clear_error(repo):
    done = stacks(repo, "plan", "dev", "--against", "no-such-branch")
    assert done.returncode == 3
    assert done.stderr.startswith("cannot compare: `no-such-branch` is not a commit, branch or tag")
    assert "Traceback" not in done.stderr and "[red]" not in done.stderr and "\x1b[" not in done.stderr


def test_mermaid_with_against_draws_the_diff(repo):
    done = stacks(repo, "plan", "dev", "--against", "HEAD", "--format", "mermaid")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("```mermaid\nflowchart LR") and "legend" in done.stdout


def test_mermaid_topology_of_the_edge_stack():
    done = stacks(ROOT, "plan", "edge", "--format", "mermaid")
    assert done.returncode == 0, done.stderr
    out = done.stdout.strip()
    assert out.startswith("```mermaid\nflowchart LR") and out.endswith("```")
    # Parsed strictly: subgraphs closed, each node declared once, every edge between declared nodes.
    chart = parse(out.removeprefix("```mermaid\n").removesuffix("\n```"))
    assert sorted(chart.subgraphs.values()) == ["cn-chengdu-telecom-4 · ENS", "cn-hefei-cmcc-2 · ENS"]
    hefei = {chart.nodes[n] for n in chart.in_region("cn-hefei-cmcc-2 · ENS")}
    for label in ("EIP<br/>20 Mbit/s · cmcc",
                  "ELB elb.s2.small<br/>default/cube-svc · elb pulumi · Local<br/>ELB, EIP, listeners, backends by Pulumi",
                  "tcp:80 → NodePort", "https:443 → NodePort",
                  "nodes of np-hefei with ready pods, on the NodePort<br/>kept by BackendSync",
                  "ELB lb-5s7crik3yo3bp03gqrbp5hefei (bound)<br/>default/cube-api · elb user · Cluster<br/>"
                  "self-managed; listeners and backends by ECM"):
        assert label in hefei, label
    # In the order of traffic: clients -> EIP -> ELB -> listener -> backends.
    elb = "default/cube-svc/elb/np-hefei"
    path = ["client", node_id(f"{elb}/eip"), node_id(f"{elb}/loadbalancer"), node_id(f"{elb}/listener/tcp-80"),
            node_id(f"{elb}/backends")]
    for a, b in pairwise(path):
        assert (a, b) in chart.links(), (a, b)
