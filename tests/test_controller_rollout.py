"""The controller as a real process following pods: a 200-pod rolling update in NLB `Ip` mode, node failures (pod
IPs and ENS nodes), and what it publishes once a group is synced (the Service's ingress, Events, metrics).

Each test runs the fake Kubernetes API and the emulator in this process and `python -m reconciler.controller`
as a child (tests/controller). Timings are small through the flags (coalesce 50 ms, NLB job polls 50 ms,
drainSeconds 1), so each scenario takes seconds.
"""

from __future__ import annotations

import json
import time

import pytest

from tests.controller import LB_CLASS, NLB_WRITES, Pod, Sampler, World, wait_until

NS, SVC = "shop", "web"
PORT = 8080


@pytest.fixture
def world(tmp_path):
    with World(tmp_path) as running:
        yield running


def old_ip(n: int) -> str:
    return f"172.16.{n // 250}.{n % 250 + 1}"


def new_ip(n: int) -> str:
    return f"172.17.{n // 250}.{n % 250 + 1}"


def nodes_for(world: World) -> list[str]:
    return world.nodes("np-cloud", [f"cloud-{i}" for i in range(1, 5)])


def test_200_pod_rolling_update_never_empties_the_group_and_drains_before_removing(world):
    nodes = nodes_for(world)
    web = world.nlb_ip(NS, SVC, drain_seconds=1)
    total, wave = 200, 50  # maxSurge 25%: 50 new pods ready, then 50 old ones terminating, then gone
    old = [Pod(old_ip(n), nodes[n % 4]) for n in range(total)]
    new = [Pod(new_ip(n), nodes[n % 4]) for n in range(total)]
    # Two slices of 100 old pods; each wave's new pods get their own slice, as the EndpointSlice controller
    # fills new slices while the old ones empty.
    layout = {"old-0": old[:100], "old-1": old[100:]}
    world.endpoints(web, layout)
    controller = world.start("a")
    world.wait_servers(web, {(p.ip, PORT): 100 for p in old}, timeout=20)
    world.wait_synced(web)

    writes_before = {a: world.cloud.calls[a] for a in NLB_WRITES}
    with Sampler(lambda: world.servers(web), interval=0.01) as sampler:
        # The Deployment controller's pace, not the load balancer's: it waits for pods, never for the controller.
        for w in range(total // wave):
            gone = {p.ip for p in old[w * wave:(w + 1) * wave]}
            layout[f"new-{w}"] = new[w * wave:(w + 1) * wave]
            world.endpoints(web, layout)  # new pods ready
            time.sleep(0.3)
            for key in ("old-0", "old-1"):  # old pods terminating (still passing readiness: serving)
                layout[key] = [Pod(p.ip, p.node, terminating=True) if p.ip in gone else p for p in layout[key]]
            world.endpoints(web, layout)
            time.sleep(0.5)
            for key in ("old-0", "old-1"):  # and gone
                layout[key] = [p for p in layout[key] if p.ip not in gone]
            world.endpoints(web, layout)
            time.sleep(0.2)
        final = {(p.ip, PORT): 100 for p in new}
        world.wait_servers(web, final, timeout=15)
    record = world.wait_synced(web)

    empty = sampler.never_without_serving()
    assert not empty, f"{len(empty)} samples of the group had no serving backend, first at {empty[0][0]:.3f}"
    assert len(sampler.snapshots) > 100
    # Every old pod was seen at weight 0 before it left; none went from serving straight out.
    undrained = [p.ip for p in old if sampler.last_seen((p.ip, PORT)) not in (0, None)]
    assert not undrained, f"removed while still at weight > 0: {undrained[:10]}"
    never = [p.ip for p in old if sampler.last_seen((p.ip, PORT)) is None]
    assert not never, f"old pods never seen in the group: {never[:5]}"
    assert world.owned(web) == final
    assert record["status"]["counts"] == {"total": 200, "serving": 200, "draining": 0, "withoutPort": 0}
    # Per wave at most one add, one weight update, one remove (50 servers each, at 200 servers per call).
    made = {a: world.cloud.calls[a] - writes_before[a] for a in NLB_WRITES}
    assert all(1 <= n <= total // wave for n in made.values()), made
    assert controller.alive()


def test_a_failed_node_takes_only_its_pods_out_of_an_ip_group(world):
    nodes = nodes_for(world)
    web = world.nlb_ip(NS, SVC, drain_seconds=1)
    pods = [Pod(old_ip(n), nodes[n % 4]) for n in range(40)]
    world.endpoints(web, {"a": pods})
    world.start("a")
    world.wait_servers(web, {(p.ip, PORT): 100 for p in pods})
    world.wait_synced(web)
    world.cloud.reset_counts()

    # cloud-2 goes NotReady: the node lifecycle controller marks its pods not ready, then evicts them.
    world.kube.update_node("cloud-2", ready=False)
    lost = [p for p in pods if p.node == "cloud-2"]
    kept = [p for p in pods if p.node != "cloud-2"]
    world.endpoints(web, {"a": [Pod(p.ip, p.node, ready=False) if p.node == "cloud-2" else p for p in pods]})
    world.wait_servers(web, {(p.ip, PORT): 100 for p in kept}, timeout=10)
    world.kube.remove_node("cloud-2")
    world.endpoints(web, {"a": kept})
    world.wait_synced(web)
    assert world.servers(web) == {(p.ip, PORT): 100 for p in kept}
    touched = {s for call in world.cloud.log if call.action in NLB_WRITES
               for k, s in call.params.items() if k.endswith(".ServerId")}
    assert touched == {p.ip for p in lost}, f"writes touched {sorted(touched - {p.ip for p in lost})[:5]} too"


def test_a_failed_ens_node_is_drained_and_removed_from_its_elb_and_no_other(world):
    names = world.nodes("np-hefei", [f"ens-{i}" for i in range(1, 6)], ens=True)
    world.nodes("np-chengdu", ["ens-cd-1"], ens=True)  # another pool: never in this ELB
    elb = world.ens_cluster(NS, SVC, "np-hefei", drain_seconds=1)
    world.endpoints(elb, {"a": [Pod("172.16.0.1", "ens-1")]})
    world.start("a")
    expected = {(f"i-{n}", 0): 100 for n in names}
    world.wait_servers(elb, expected)
    world.wait_synced(elb)
    world.cloud.reset_counts()

    with Sampler(lambda: world.servers(elb), interval=0.01) as sampler:
        world.kube.update_node("ens-3", ready=False)
        del expected[("i-ens-3", 0)]
        world.wait_servers(elb, expected, timeout=10)
    assert sampler.last_seen(("i-ens-3", 0)) == 0, "the NotReady node left without a drain"
    world.kube.remove_node("ens-3")
    world.wait_synced(elb)
    assert world.servers(elb) == expected
    touched = {s.get("ServerId") for call in world.cloud.log if call.action in ("AddBackendServers",
                                                                               "SetBackendServers",
                                                                               "RemoveBackendServers")
               for s in _json_list(call.params.get("BackendServers"))}
    assert touched == {"i-ens-3"}


def _json_list(raw):
    return json.loads(raw) if raw else []


def test_a_synced_group_publishes_the_service_ingress_events_and_metrics(world):
    nodes = nodes_for(world)
    web = world.nlb_ip(NS, SVC, drain_seconds=1)
    world.endpoints(web, {"a": [Pod(old_ip(n), nodes[n % 4]) for n in range(5)]})
    controller = world.start("a")
    world.wait_servers(web, {(old_ip(n), PORT): 100 for n in range(5)})
    record = world.wait_synced(web)

    assert world.kube.services[(NS, SVC)]["spec"]["loadBalancerClass"] == LB_CLASS
    wait_until(lambda: world.service_ingress(web) == record["spec"]["ingress"], 5,
               "the Service's status.loadBalancer.ingress is the record's spec.ingress", world.explain)
    assert "ack-edge-lb.io/backends" in record["metadata"]["finalizers"]
    events = wait_until(lambda: world.events(web, "Synced"), 5, "a Synced Event on the record", world.explain)
    assert events[0]["involvedObject"]["kind"] == "BackendGroup" and events[0]["type"] == "Normal"

    metrics = world.wait_metrics(controller)
    for name in ("ack_edge_lb_sync_duration_seconds", "ack_edge_lb_ready_to_synced_seconds", "ack_edge_lb_syncs_total",
                 "ack_edge_lb_cloud_api_calls_total", "ack_edge_lb_throttled_total", "ack_edge_lb_queue_depth",
                 "ack_edge_lb_backends", "ack_edge_lb_leader"):
        assert metrics.declares(name), f"/metrics does not serve {name}"
    assert metrics.value("ack_edge_lb_leader") == 1
    assert metrics.value("ack_edge_lb_syncs_total", kind="nlb", result="ok") >= 1
    assert metrics.value("ack_edge_lb_sync_duration_seconds_count", kind="nlb", result="ok") >= 1
    assert metrics.value("ack_edge_lb_cloud_api_calls_total", product="nlb", action="AddServersToServerGroup",
                         result="ok") == 1
    assert metrics.value("ack_edge_lb_backends", namespace=NS, record=web.record, state="serving") == 5
