"""The controller under faults: throttling storms at a tightened quota (the emulator and the controller's window set
to the same numbers, many groups changing at once), throttling answers anyway, and Kubernetes API outages
(503, and connections refused) while the cluster changes.

What must hold: the client window keeps the cloud from ever answering Throttling; a throttling answer is retried
and counted; no cloud write is made while the record cannot be written (intent before every batch); nothing is
removed on a failed read; everything converges once the fault is gone.
"""

from __future__ import annotations

import json

import pytest

from reconciler.record import PLURAL
from tests.controller import ENS_WRITES, NLB_WRITES, Pod, World, hold_for, wait_until
from tests.kube.wire import ApiError

NS = "shop"
PORT = 8080
# Long enough that a 3 s API outage does not cost the leader its lease (the library gives up after the deadline).
PATIENT = {"--lease-duration": "10", "--renew-deadline": "8"}


@pytest.fixture
def world(tmp_path):
    with World(tmp_path) as running:
        yield running


def throttled(world: World, actions) -> int:
    with world.cloud.lock:
        return sum(n for (action, code), n in world.cloud.outcomes.items()
                   if action in actions and code.startswith("Throttling"))


def test_nlb_storm_at_a_tightened_quota_waits_out_the_window_and_converges(world):
    """(First in this file: it lasts a minute, the shortest window --rate-limits accepts for NLB, and starting
    early keeps `pytest -n 2` short.) 6 server writes per 60 s on both sides (the NLB quota is shared with CCM: a tightened one is what a
    team sets), 8 groups created at once: 6 adds at once, the last 2 a window later, never a Throttling answer."""
    calls = 6
    for action in NLB_WRITES:
        world.cloud.nlb.rate_limits[action] = (calls / 60, float(calls))
    world.nodes("np-cloud", ["cloud-1"])
    groups = []
    for i in range(8):
        group = world.nlb_ip(NS, f"web-{i}", drain_seconds=0)
        world.endpoints(group, {"a": [Pod(f"172.16.{i}.{n}", "cloud-1") for n in range(1, 4)]})
        groups.append(group)
    controller = world.start("a", rate_limits=json.dumps({"nlb.servers": {"calls": calls}}))
    done = wait_until(lambda: sum(1 for g in groups if len(world.servers(g)) == 3) >= calls, 15,
                      f"{calls} groups filled at once", world.explain)
    assert done
    hold_for(lambda: sum(world.cloud.calls[a] for a in NLB_WRITES) == calls, 5,
             "no write beyond the window's 6 for now", world.explain)
    for i, group in enumerate(groups):
        world.wait_servers(group, {(f"172.16.{i}.{n}", PORT): 100 for n in range(1, 4)}, timeout=75)
    assert throttled(world, NLB_WRITES) == 0, dict(world.cloud.outcomes)
    metrics = world.wait_metrics(controller)
    assert metrics.value("ack_edge_lb_throttled_total", product="nlb", source="client") >= 2


def test_ens_storm_at_a_tightened_quota_is_never_throttled_by_the_cloud(world):
    """8 ELBs, 3 backend writes per second for the account on both sides: 8 initial adds, then 8 x (add + weight
    update) at once. The window spreads them over seconds; the emulator never has to refuse one."""
    calls = 3
    for action in ENS_WRITES:
        world.cloud.ens.rate_limits[action] = (float(calls), float(calls))
    elbs = []
    for i in range(8):
        pool = f"np-edge-{i}"
        world.nodes(pool, [f"e{i}-1", f"e{i}-2"], ens=True)
        elbs.append(world.ens_cluster(NS, f"edge-{i}", pool, drain_seconds=0))
    controller = world.start("a", rate_limits=json.dumps({"ens.backends": {"calls": calls}}))
    for i, elb in enumerate(elbs):
        world.wait_servers(elb, {(f"i-e{i}-1", 0): 100, (f"i-e{i}-2", 0): 100}, timeout=20)

    for i in range(8):  # the storm: a node joins every pool and another is cordoned, all at once
        world.nodes(f"np-edge-{i}", [f"e{i}-3"], ens=True)
        world.kube.update_node(f"e{i}-1", unschedulable=True)
    for i, elb in enumerate(elbs):
        world.wait_servers(elb, {(f"i-e{i}-1", 0): 0, (f"i-e{i}-2", 0): 100, (f"i-e{i}-3", 0): 100}, timeout=20)
    for elb in elbs:
        world.wait_synced(elb)
    assert sum(world.cloud.calls[a] for a in ENS_WRITES) == 8 + 16
    assert throttled(world, ENS_WRITES) == 0, dict(world.cloud.outcomes)
    metrics = world.wait_metrics(controller)
    assert metrics.value("ack_edge_lb_throttled_total", product="ens", source="client") > 0
    assert metrics.value("ack_edge_lb_throttled_total", source="server") == 0


def test_throttling_answers_are_retried_counted_and_converge(world):
    world.nodes("np-cloud", ["cloud-1"])
    web = world.nlb_ip(NS, "web", drain_seconds=0)
    world.cloud.inject("AddServersToServerGroup", "Throttling.User", times=3)
    world.endpoints(web, {"a": [Pod(f"172.16.1.{n}", "cloud-1") for n in range(1, 11)]})
    controller = world.start("a")
    world.wait_servers(web, {(f"172.16.1.{n}", PORT): 100 for n in range(1, 11)}, timeout=20)
    world.wait_synced(web)
    assert world.cloud.outcomes[("AddServersToServerGroup", "Throttling.User")] == 3
    assert world.cloud.outcomes[("AddServersToServerGroup", "OK")] == 1
    metrics = world.wait_metrics(controller)
    assert metrics.value("ack_edge_lb_throttled_total", product="nlb", source="server") == 3
    assert metrics.value("ack_edge_lb_cloud_api_calls_total", action="AddServersToServerGroup",
                         result="Throttling.User") == 3


def _pods(prefix: str, count: int, node: str = "cloud-1") -> list[Pod]:
    return [Pod(f"{prefix}.{n}", node) for n in range(1, count + 1)]


def _serving(pods) -> dict:
    return {(p.ip, PORT): 100 for p in pods}


def test_no_cloud_write_while_the_record_cannot_be_written(world):
    """The API goes down (503) at the first status write after a change: the batch's intent cannot be recorded,
    so its cloud call must not be made; once the API is back the group converges."""
    world.nodes("np-cloud", ["cloud-1"])
    web = world.nlb_ip(NS, "web", drain_seconds=1)
    old = _pods("172.16.1", 10)
    world.endpoints(web, {"a": old})
    world.start("a", flags=PATIENT)
    world.wait_servers(web, _serving(old), timeout=20)
    world.wait_synced(web)
    status_path = f"/apis/ack-edge-lb.io/v1alpha1/namespaces/{NS}/{PLURAL}/{web.record}/status"
    seen: dict = {}

    def hook(call):
        if call.method == "PATCH" and "/" + "/".join(call.parts) == status_path:
            world.kube.hooks.remove(hook)
            seen["writes"] = world.writes()
            world.kube.outage(3)
            raise ApiError(503, "the API server is unavailable")
    baseline = world.writes()
    world.kube.hooks.append(hook)
    new = _pods("172.16.2", 10)
    world.endpoints(web, {"a": old[:5] + new})  # half replaced: an add, a drain, a remove are due
    wait_until(lambda: "writes" in seen, 10, "the controller tried to write the record", world.explain)
    assert seen["writes"] == baseline, "a cloud write came before the intent was recorded"
    hold_for(lambda: world.kube.in_outage() and world.writes() == baseline or not world.kube.in_outage(), 2.5,
             "no cloud write while the record cannot be written", world.explain)
    assert set(_serving(old)) <= set(world.servers(web)), "a backend was removed during the outage"
    world.wait_servers(web, _serving(old[:5] + new), timeout=20)
    world.wait_synced(web)


def test_an_api_outage_refusing_connections_removes_nothing_and_converges_after(world):
    world.nodes("np-cloud", ["cloud-1"])
    web = world.nlb_ip(NS, "web", drain_seconds=1)
    old = _pods("172.16.1", 10)
    world.endpoints(web, {"a": old})
    controller = world.start("a", flags=PATIENT)
    world.wait_servers(web, _serving(old), timeout=20)
    world.wait_synced(web)
    baseline = world.writes()

    world.kube.outage(3, refuse=True)  # the apiserver is down: watches break, relists are refused
    new = _pods("172.16.2", 10)
    world.endpoints(web, {"a": new})  # meanwhile the pods were replaced
    hold_for(lambda: world.kube.in_outage() and world.writes() == baseline or not world.kube.in_outage(), 2.5,
             "no cloud write during the outage", world.explain)
    assert world.servers(web) == _serving(old)
    world.wait_servers(web, _serving(new), timeout=20)
    world.wait_synced(web)
    assert controller.alive(), controller.tail()
