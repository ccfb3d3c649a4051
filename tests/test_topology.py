"""The topology as the path of traffic, per region, and its diff form: what `python -m plan --format mermaid` draws.

Every stack here is planned with the real program under mocks (plan/offline.py); the diagrams are read back
with the strict reader in tests/mermaid.py.
"""

from __future__ import annotations

import copy
import json
import os
import random
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from plan.diff import diff_runs
from plan.offline import Registration, Run, run_program
from plan.topology import fenced, mermaid, mermaid_diff, node_id
from plan.traffic import ADDRESS, BACKENDS, CLIENT, build
from stacks.load import load_stack_file, raw_from_stack_file, validate
from tests.conftest import base_config, elb_service, ens_pool
from tests.mermaid import Chart, parse

ROOT = Path(__file__).resolve().parents[1]
HEFEI, CHENGDU, HANGZHOU = "cn-hefei-cmcc-2 · ENS", "cn-chengdu-telecom-4 · ENS", "cn-hangzhou · cloud"


def every_mode() -> dict:
    """One Service per (type, management), the ELBs in the same two ENS regions, NLB and CLB in the cloud one."""
    raw = base_config()
    raw["services"] = [
        elb_service("cube-svc"),
        elb_service("cube-own", loadBalancer={"type": "elb", "management": "pulumi", "eip": {"bandwidth": 20}}),
        elb_service("cube-api", externalTrafficPolicy="Cluster",
                    ports=[{"name": "api", "port": 8080, "nodePort": 30080}],
                    loadBalancer={"type": "elb", "management": "user", "elbIds": {"np-hefei": "lb-hefei0bound"}}),
        elb_service("web", nodePoolSelector={}, loadBalancer={"type": "nlb", "management": "ccm"}),
        elb_service("shop-web", nodePoolSelector={}, ports=[{"name": "https", "port": 443, "targetPort": 8443}],
                    loadBalancer={"type": "nlb", "management": "pulumi"}),
        elb_service("api", nodePoolSelector={}, externalTrafficPolicy="Cluster",
                    loadBalancer={"type": "clb", "management": "ccm"}),
        elb_service("cache", nodePoolSelector={}, externalTrafficPolicy="Cluster",
                    ports=[{"name": "cache", "port": 6379}], loadBalancer={"type": "clb", "management": "pulumi"}),
    ]
    return raw


def read_back(run: Run) -> Run:
    """The run as `plan/against.py` gets the base's: its JSON document (`python -m plan --format json`) read back."""
    document = json.loads(json.dumps(run.as_dict(), default=str))
    back = Run(stack=document["stack"], preview=True, outputs=document["outputs"])
    back.resources = [Registration(type=r["type"], name=r["name"], parent=r["parent"], inputs=r["inputs"],
                                   custom=not r["type"].startswith("ack-edge-lb:"), options=r["options"])
                      for r in document["resources"]]
    return back


def planned(raw: dict, stack: str = "test") -> tuple[Run, object]:
    return run_program(raw, stack), validate(raw, stack).config


@pytest.fixture(scope="module")
def modes() -> tuple[Run, object]:
    return planned(every_mode())


def paths(chart: Chart, length: int = 4) -> list[list[str]]:
    """Every path of `length` nodes that starts at the clients."""
    out = {key: [b for a, b in chart.links() if a == key] for key in chart.nodes}
    found = [[first] for first in out["client"]]
    for _ in range(length - 1):
        found = [p + [nxt] for p in found for nxt in out[p[-1]]]
    return found


def has_path(chart: Chart, region: str, *fragments: str) -> bool:
    members = set(chart.in_region(region))
    return any(all(f in chart.nodes[n] for f, n in zip(fragments, p, strict=True)) and set(p) <= members
               for p in paths(chart, len(fragments)))


# --- the path of traffic ---------------------------------------------------------------------------------------------


PATHS = {
    "elb x ecm": (HEFEI, "EIP", "ELB elb.s2.small<br/>default/cube-svc · elb ecm · Local<br/>ELB + EIP built by ECM",
                  "tcp:80 → NodePort", "nodes of np-hefei with ready pods, on the NodePort<br/>kept by ECM"),
    "elb x pulumi": (HEFEI, "EIP<br/>20 Mbit/s · cmcc",
                     "ELB elb.s2.small<br/>default/cube-own · elb pulumi · Local<br/>ELB, EIP, listeners, backends by Pulumi",
                     "tcp:80 → NodePort", "nodes of np-hefei with ready pods, on the NodePort<br/>kept by BackendSync"),
    "elb x user, bound": (HEFEI, "EIP of lb-hefei0bound", "ELB lb-hefei0bound (bound)<br/>default/cube-api · elb user",
                          "tcp:8080 → NodePort 30080", "every Ready node of np-hefei, on the NodePort<br/>kept by ECM"),
    "elb x user, created": (CHENGDU, "EIP<br/>10 Mbit/s · telecom",
                            "ELB elb.s2.small<br/>default/cube-api · elb user · Cluster<br/>ELB + EIP by Pulumi, "
                            "listeners and backends by ECM", "tcp:8080 → NodePort 30080",
                            "every Ready node of np-chengdu, on the NodePort<br/>kept by ECM"),
    "nlb x ccm": (HANGZHOU, "NLB address", "NLB<br/>default/web · nlb ccm · Local<br/>zones cn-hangzhou-j, cn-hangzhou-k"
                  "<br/>NLB built by CCM", "tcp:80 → pod port 80",
                  "Ip server group<br/>pods of np-chengdu, np-cloud, np-hefei by IP, port 80<br/>kept by CCM"),
    "nlb x pulumi": (HANGZHOU, "NLB address · internet", "NLB<br/>default/shop-web · nlb pulumi · Local",
                     "tcp:443 → pod port 8443",
                     "Ip server group<br/>pods of np-chengdu, np-cloud, np-hefei by IP, port 8443<br/>kept by BackendSync"),
    "clb x ccm": (HANGZHOU, "CLB address", "CLB<br/>default/api · clb ccm · Cluster<br/>CLB built by CCM",
                  "tcp:80 → NodePort", "VServerGroup<br/>every Ready cloud node of np-cloud, on the NodePort<br/>kept by CCM"),
    "clb x pulumi": (HANGZHOU, "CLB address · internet", "CLB<br/>default/cache · clb pulumi · Cluster",
                     "tcp:6379 → NodePort",
                     "VServerGroup<br/>every Ready cloud node of np-cloud, on the NodePort<br/>kept by BackendSync"),
}


@pytest.mark.parametrize("mode", PATHS)
def test_each_mode_draws_client_address_load_balancer_listener_backends(modes, mode):
    run, config = modes
    region, *steps = PATHS[mode]
    assert has_path(parse(mermaid(run, config)), region, *steps), f"{mode}: no path {steps} in {region}"


def test_the_path_is_searched_strictly(modes):
    chart = parse(mermaid(*modes))
    region, *steps = PATHS["elb x ecm"]
    assert not has_path(chart, CHENGDU, *steps)                     # the Hefei pool's path is not in Chengdu
    assert not has_path(chart, region, *reversed(steps))            # nor drawn against the traffic
    assert not has_path(chart, region, steps[0], steps[2], steps[1], steps[3])


def test_edges_go_one_step_along_the_traffic_and_nothing_hangs_loose(modes):
    topology = build(*modes)
    step = {key: node.step for key, node in topology.nodes.items()} | {CLIENT: ADDRESS - 1}
    assert topology.edges
    for a, b in topology.edges:
        assert step[b] == step[a] + 1, (a, b)
    reached, frontier = set(), {CLIENT}
    while frontier:
        reached |= frontier
        frontier = {b for a, b in topology.edges if a in frontier} - reached
    assert reached == set(topology.nodes) | {CLIENT}
    assert all(node.step == BACKENDS for key, node in topology.nodes.items() if not any(a == key for a, _ in topology.edges))


def test_a_region_shared_by_several_services_appears_once(modes):
    chart = parse(mermaid(*modes))
    assert Counter(chart.subgraphs.values()) == Counter([HEFEI, CHENGDU, HANGZHOU])
    hefei = " ".join(chart.nodes[n] for n in chart.in_region(HEFEI))
    for service in ("default/cube-svc", "default/cube-own", "default/cube-api"):
        assert service in hefei
    assert "np-chengdu" not in hefei and "NLB" not in hefei
    assert chart.parent["client"] is None


def test_without_the_configuration_only_the_pools_behind_ccm_are_left_out(modes):
    run, config = modes
    with_config, without = mermaid(run, config).splitlines(), mermaid(run).splitlines()
    assert len(with_config) == len(without)
    changed = [(a, b) for a, b in zip(with_config, without, strict=True) if a != b]
    assert len(changed) == 2
    assert all("kept by CCM" in a and " of np-" in a and " of np-" not in b for a, b in changed)


# --- the stack files -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("stack", ["dev", "edge", "hybrid"])
def test_the_example_stacks_draw_well_formed_charts(stack):
    loaded = load_stack_file(stack, ROOT / f"Pulumi.{stack}.yaml")
    run = run_program(raw_from_stack_file(ROOT / f"Pulumi.{stack}.yaml", stack), stack)
    text = fenced(mermaid(run, loaded.config))
    assert text.startswith("```mermaid\nflowchart LR\n") and text.endswith("\n```")
    chart = parse(text.removeprefix("```mermaid\n").removesuffix("\n```"))
    assert len(chart.links()) >= len(chart.nodes) - 1 and not chart.classes  # the plain form has no colours


@pytest.mark.parametrize("broken", [
    'flowchart LR\n  subgraph r_a["a"]\n    n_a["a"]\n',                        # subgraph not closed
    'flowchart LR\n  n_a["a"]\n  n_a("again")\n',                            # an id twice
    'flowchart LR\n  n_a["a"]\n  n_a --> n_b\n',                              # an edge to nothing
    'flowchart LR\n  n_a["a"\n',                                              # a shape not closed
    'flowchart LR\n  n_a["a"]\n  class n_a added\n',                          # an undefined class
    'flowchart LR\n  end\n',                                                  # `end` without a subgraph
])
def test_the_reader_refuses_broken_charts(broken):
    with pytest.raises(AssertionError):
        parse(broken)


def test_the_same_plan_prints_the_same_text_in_any_order_and_process(modes):
    run, config = modes
    first = mermaid(run, config)
    for seed in (1, 2, 3):  # registrations arrive from several threads, in any order
        shuffled = copy.copy(run)
        shuffled.resources = random.Random(seed).sample(run.resources, len(run.resources))
        assert mermaid(shuffled, config) == first
    script = ("import sys; from pathlib import Path; from plan.offline import run_program; "
              "from plan.topology import mermaid; from stacks.load import load_stack_file, raw_from_stack_file; "
              "path = Path(sys.argv[1]); loaded = load_stack_file('edge', path); "
              "print(mermaid(run_program(raw_from_stack_file(path, 'edge'), 'edge'), loaded.config))")
    outputs = {subprocess.run([sys.executable, "-c", script, str(ROOT / "Pulumi.edge.yaml")], cwd=ROOT,
                              capture_output=True, text=True, timeout=300, check=True,
                              env={**os.environ, "PYTHONHASHSEED": seed}).stdout for seed in ("1", "2", "3")}
    assert len(outputs) == 1 and "flowchart LR" in outputs.pop()


# --- the diff form ---------------------------------------------------------------------------------------------------


def owned_elbs() -> dict:
    raw = base_config()
    raw["services"] = [
        elb_service("cube-own", loadBalancer={"type": "elb", "management": "pulumi", "eip": {"bandwidth": 20}}),
        elb_service("cube-api", externalTrafficPolicy="Cluster", ports=[{"name": "api", "port": 8080}],
                    loadBalancer={"type": "elb", "management": "user", "elbIds": {"np-hefei": "lb-hefei0bound"}}),
        elb_service("cube-svc", ports=[{"name": "web", "port": 8000}], loadBalancer={"type": "elb", "management": "ecm",
                                                                                    "eip": {"bandwidth": 10}})]
    return raw


@pytest.fixture(scope="module")
def base() -> tuple[Run, object]:
    return planned(owned_elbs())


def diff_chart(base_run: Run, change) -> tuple[Chart, dict[str, str]]:
    """The diff form against `base_run` after `change` to the configuration, and the id of each node's key."""
    raw = owned_elbs()
    change(raw)
    after, config = planned(raw)
    chart = parse(mermaid_diff(base_run, after, diff_runs(base_run, after), config))
    keys = set(build(base_run).nodes) | set(build(after, config).nodes)
    return chart, {key: node_id(key) for key in keys}


def states(chart: Chart, ids: dict[str, str], fragment: str) -> set[str]:
    """The classes of the nodes whose key has `fragment`; nodes without a class are unchanged."""
    found = [ident for key, ident in ids.items() if fragment in key]
    assert found, fragment
    return {chart.classes.get(ident, "unchanged") for ident in found}


def test_an_added_pool_is_green_with_its_path(base):
    def change(raw):
        raw["nodePools"].append(ens_pool("np-xian", "cn-xian-unicom"))
    chart, ids = diff_chart(base[0], change)
    new = {ident for key, ident in ids.items() if "/np-xian/" in key}
    assert len(new) == 12 and {chart.classes[n] for n in new} == {"added"}  # 3 services x address, ELB, listener, backends
    assert set(chart.in_region("cn-xian-unicom · ENS")) == new
    into = [i for i, (a, _, b) in enumerate(chart.edges) if a == "client" and b in new]
    assert len(into) == 3 and all("#1a7f37" in chart.link_styles[i] for i in into)
    assert states(chart, ids, "/np-hefei/") == {"unchanged"} and states(chart, ids, "/np-chengdu/") == {"unchanged"}
    assert chart.class_defs["added"].startswith("fill:#dafbe1")


def test_a_replaced_elb_is_orange_and_an_eip_changed_in_place_blue(base):
    def change(raw):
        raw["services"][0]["loadBalancer"] |= {"spec": "elb.s3.medium", "eip": {"bandwidth": 30}}
    chart, ids = diff_chart(base[0], change)
    for pool in ("np-hefei", "np-chengdu"):
        elb = ids[f"default/cube-own/elb/{pool}/loadbalancer"]
        assert chart.classes[elb] == "replaced" and "± loadBalancerSpec" in chart.nodes[elb]
        assert "ELB elb.s3.medium" in chart.nodes[elb]
        eip = ids[f"default/cube-own/elb/{pool}/eip"]
        assert chart.classes[eip] == "updated" and "~ bandwidth" in chart.nodes[eip]
    assert states(chart, ids, "default/cube-api/") == {"unchanged"}
    assert states(chart, ids, "default/cube-svc/") == {"unchanged"}
    assert "stroke-dasharray" not in chart.class_defs["replaced"] and "#bc4c00" in chart.class_defs["replaced"]


def test_a_removed_service_is_red_and_dashed(base):
    def change(raw):
        raw["services"].pop(1)
    chart, ids = diff_chart(base[0], change)
    gone = {ident for key, ident in ids.items() if key.startswith("default/cube-api/")}
    assert len(gone) == 8 and {chart.classes[n] for n in gone} == {"removed"}  # 2 pools x address, ELB, listener, backends
    for index, (a, arrow, b) in enumerate(chart.edges):
        into_gone = b in gone
        assert (arrow == "-.->") == into_gone, (a, arrow, b)
        assert ("#cf222e" in chart.link_styles.get(index, "")) == into_gone
    assert "stroke-dasharray" in chart.class_defs["removed"] and "#cf222e" in chart.class_defs["removed"]
    assert states(chart, ids, "default/cube-own/") == {"unchanged"}


def test_what_ecm_builds_changes_with_the_annotations_and_a_new_mode_is_a_new_path(base):
    def change(raw):
        raw["services"][2]["loadBalancer"]["eip"] = {"bandwidth": 50}             # ECM changes the EIP in place
        raw["services"][1]["loadBalancer"]["elbIds"] = {"np-hefei": "lb-hefei0other"}  # another ELB bound
    chart, ids = diff_chart(base[0], change)
    eip = ids["default/cube-svc/ecm/np-hefei/eip"]
    assert chart.classes[eip] == "updated" and "~ eip-bandwidth" in chart.nodes[eip]
    assert states(chart, ids, "default/cube-svc/ecm/np-hefei/elb") == {"unchanged"}
    assert chart.classes[ids["default/cube-api/user/np-hefei/lb-hefei0bound"]] == "removed"
    assert chart.classes[ids["default/cube-api/user/np-hefei/lb-hefei0other"]] == "added"


def test_the_legend_names_every_colour(base):
    chart, _ = diff_chart(base[0], lambda raw: None)
    legend = [n for n in chart.nodes if n.startswith("legend_")]
    assert [chart.nodes[n] for n in legend] == ["added", "replaced", "updated in place", "removed", "unchanged"]
    assert {chart.classes.get(n) for n in legend} == {"added", "replaced", "updated", "removed", None}
    assert ("legend", "~~~", "client") in chart.edges


def test_no_change_draws_the_plain_topology_read_back_from_json(base):
    run, config = base
    before = read_back(run)
    diff = diff_runs(before, run)
    assert diff.empty
    text = mermaid_diff(before, run, diff, config)
    chart = parse(text)
    assert {c for n, c in chart.classes.items() if not n.startswith("legend_")} == set()
    assert not chart.link_styles
    plain = mermaid(run, config)
    assert text.startswith(plain + "\n")  # the same drawing, then the legend and the styles


def test_a_new_stack_is_all_green_and_the_diff_is_computed_when_not_given(base):
    run, config = base
    chart = parse(mermaid_diff(None, run, config=config))
    drawn = [n for n in chart.nodes if not n.startswith("legend_") and n != "client"]
    assert drawn and {chart.classes[n] for n in drawn} == {"added"}
    assert len(chart.link_styles) == len(chart.links())
    same = parse(mermaid_diff(run, run, config=config))
    assert not [n for n in same.classes if not n.startswith("legend_")]
