"""The controller and the objects around a group: the Service deleted and re-created (owned backends drained
and removed, foreign ones kept, the record kept; then the backends and the address back), the record deleted
(its backends released before its finalizer goes), and a record whose writer is the stack (left alone)."""

from __future__ import annotations

import pytest
from kubernetes import client as k8s

from reconciler.record import FINALIZER, GROUP, PLURAL, VERSION
from tests.controller import NLB_WRITES, Pod, Sampler, World, wait_until

NS, SVC = "shop", "web"
PORT = 8080


@pytest.fixture
def world(tmp_path):
    with World(tmp_path) as running:
        yield running


def pods(count: int) -> list[Pod]:
    return [Pod(f"172.16.1.{n}", "cloud-1") for n in range(1, count + 1)]


def serving(items) -> dict:
    return {(p.ip, PORT): 100 for p in items}


def test_service_deleted_drains_and_removes_owned_backends_then_recreated_brings_them_back(world):
    world.nodes("np-cloud", ["cloud-1"])
    web = world.nlb_ip(NS, SVC, drain_seconds=1)
    foreign = world.foreign(web, "10.9.9.9", 9000)
    world.endpoints(web, {"a": pods(6)})
    world.start("a")
    world.wait_servers(web, {**serving(pods(6)), foreign: 100}, timeout=20)
    record = world.wait_synced(web)
    wait_until(lambda: world.service_ingress(web) == record["spec"]["ingress"], 5, "ingress published",
               world.explain)

    with Sampler(lambda: world.servers(web), interval=0.01) as sampler:
        world.delete_service(web)
        world.wait_servers(web, {foreign: 100}, timeout=15)
    drained = [p.ip for p in pods(6) if sampler.last_seen((p.ip, PORT)) == 0]
    assert len(drained) == 6, f"removed without a drain: {sorted(set(p.ip for p in pods(6)) - set(drained))}"
    kept = world.record_obj(web)
    assert kept is not None and FINALIZER in kept["metadata"]["finalizers"], "the record must stay"
    wait_until(lambda: world.owned(web) == {}, 5, "the record owns nothing", world.explain)
    assert not world.kube.services.get((NS, SVC))

    world.service(NS, SVC)
    world.endpoints(web, {"a": pods(6)})
    world.wait_servers(web, {**serving(pods(6)), foreign: 100}, timeout=15)
    world.wait_synced(web)
    wait_until(lambda: world.service_ingress(web) == record["spec"]["ingress"], 5,
               "the re-created Service gets its address again", world.explain)
    assert world.owned(web) == serving(pods(6))


def test_a_deleted_record_releases_its_backends_before_its_finalizer_goes(world):
    world.nodes("np-cloud", ["cloud-1"])
    web = world.nlb_ip(NS, SVC, drain_seconds=1)
    foreign = world.foreign(web, "10.9.9.9", 9000)
    world.endpoints(web, {"a": pods(4)})
    world.start("a")
    world.wait_servers(web, {**serving(pods(4)), foreign: 100}, timeout=20)
    world.wait_synced(web)
    removes = world.cloud.calls["RemoveServersFromServerGroup"]

    k8s.CustomObjectsApi(world.api).delete_namespaced_custom_object(GROUP, VERSION, NS, PLURAL, web.record)
    assert world.record_obj(web)["metadata"].get("deletionTimestamp"), "the finalizer holds the record"
    wait_until(lambda: world.record_obj(web) is None, 15, "the record is gone once released", world.explain)
    assert world.servers(web) == {foreign: 100}
    assert world.cloud.calls["RemoveServersFromServerGroup"] == removes + 1
    released = world.kube.recorded_events(NS, name=web.record, reason="Released")
    assert released, "no Released Event"
    assert sum(world.cloud.calls[a] for a in NLB_WRITES) >= 3  # add, then drain and remove


def test_a_record_the_stack_writes_itself_is_left_alone(world):
    """spec.writer pulumi (a stack without the controller): no finalizer, no cloud call, no status write."""
    world.nodes("np-cloud", ["cloud-1"])
    theirs = world.nlb_ip(NS, "theirs", drain_seconds=1, writer="pulumi")
    world.endpoints(theirs, {"a": pods(3)})
    mine = world.nlb_ip(NS, SVC, drain_seconds=1)
    world.endpoints(mine, {"a": pods(3)})
    world.start("a")
    world.wait_servers(mine, serving(pods(3)), timeout=20)
    world.wait_synced(mine)
    record = world.record_obj(theirs)
    assert world.servers(theirs) == {}
    assert FINALIZER not in (record["metadata"].get("finalizers") or [])
    assert not record.get("status")
    assert not [c.action for c in world.cloud.log if c.params.get("ServerGroupId") == theirs.group_id]


def test_a_console_edit_is_repaired_by_the_next_drift_read(world):
    """Someone removes an owned server and re-weights another in the console: no Kubernetes event says so, the
    periodic read (--drift-seconds) finds it, repairs it and says so in a Drift Event."""
    world.nodes("np-cloud", ["cloud-1"])
    web = world.nlb_ip(NS, SVC, drain_seconds=1)
    world.endpoints(web, {"a": pods(4)})
    world.start("a", flags={"--drift-seconds": "1"})
    world.wait_servers(web, serving(pods(4)), timeout=20)
    world.wait_synced(web)
    with world.cloud.lock:
        servers = world.cloud.nlb.server_groups[web.group_id]["_servers"]
        servers.remove(next(s for s in servers if s["ServerId"] == "172.16.1.1"))
        next(s for s in servers if s["ServerId"] == "172.16.1.2")["Weight"] = 0
    world.wait_servers(web, serving(pods(4)), timeout=5)
    wait_until(lambda: world.events(web, "Drift"), 5, "a Drift Event on the record", world.explain)
