"""The controller's core in-process (reconciler/controller/manager.py) against the fake API server and the cloud
emulator: records synced from the watch caches, nothing done without a cloud call when nothing changed, drains
held for drainSeconds, a deleted record released behind its finalizer, a deleted Service drained, the Service's
ingress, Events, and no sync before the caches listed."""

from __future__ import annotations

import time

import pytest

from reconciler.controller.manager import Controller, Options
from reconciler.controller.workqueue import WorkQueue
from reconciler.record import CRD_FILE, FINALIZER, BackendRecord, record_name, spec_for
from tests.emulator import Emulator, Ens
from tests.kube.clients import TOKEN
from tests.kubeserver import KubeServer
from tests.test_backend_sync import NS, SVC, add_nodes, live
from tests.test_backend_sync import elb as elb  # noqa: F401 - the fixture, on this module's cloud
from tests.test_backend_sync import fresh_rate_limits as fresh_rate_limits  # noqa: F401 - the autouse fixture

PULUMI_CLASS = "ack-edge-lb/pulumi"


def wait_for(check, timeout=10.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


@pytest.fixture
def kube():
    with KubeServer(token=TOKEN) as server:
        server.register_crd(CRD_FILE)
        server.add_service(NS, SVC, ports=[{"name": "http", "port": 80, "targetPort": 8080}],
                           external_traffic_policy="Cluster", load_balancer_class=PULUMI_CLASS)
        server.set_endpoints(NS, SVC, [], ports=[{"name": "http", "port": 8080}])
        yield server


@pytest.fixture
def cloud(monkeypatch):
    with Emulator([Ens(create_polls=0)]) as emu:
        monkeypatch.setenv("ALIBABA_CLOUD_ACCESS_KEY_ID", "ak")
        monkeypatch.setenv("ALIBABA_CLOUD_ACCESS_KEY_SECRET", "sk")
        monkeypatch.setenv("ACK_EDGE_LB_ENS_ENDPOINT", f"http://{emu.endpoint}")
        yield emu


@pytest.fixture
def controller(api):
    ctl = Controller(api, Options(workers=2, coalesce_seconds=0.01, drift_seconds=0, identity="test"))
    yield ctl
    ctl.stop(5)


def declare(api, elb, drain=0, ingress=("47.1.1.1",), writer="controller"):
    record = BackendRecord(api, NS, record_name(SVC, "ens", elb))
    record.ensure(spec_for(kind="ens", group_id=elb, service=SVC, mode="cluster", pools=["np-hefei"],
                           port_name="http", drain_seconds=drain, ingress=[{"ip": ip} for ip in ingress],
                           writer=writer))
    return record


def synced(record, generation=None):
    obj = record.read()
    status = (obj or {}).get("status") or {}
    conditions = {c["type"]: c["status"] for c in status.get("conditions") or []}
    return conditions.get("Synced") == "True" and status.get("observedGeneration") == (generation or record.generation)


def test_a_declared_record_is_synced_from_the_caches_and_its_finalizer_held(api, kube, cloud, elb, controller):
    add_nodes(kube, cloud, "np-hefei", 3)
    record = declare(api, elb)
    controller.start()
    wait_for(lambda: len(live(cloud, elb)) == 3, what="3 servers")
    wait_for(lambda: synced(record), what="Synced")
    obj = record.read()
    assert FINALIZER in obj["metadata"]["finalizers"]
    assert sorted(b["serverId"] for b in obj["status"]["owned"]) == sorted(live(cloud, elb))
    # Events name what happened on the record.
    events = wait_for(lambda: kube.recorded_events(NS, name=record.name, kind="BackendGroup"), what="an Event")
    assert events[0]["reason"] == "Synced" and "add 3" in events[0]["message"]
    # The Service of the class no cluster controller runs carries the record's address.
    ingress = wait_for(lambda: kube.services[(NS, SVC)]["status"]["loadBalancer"].get("ingress"), what="the ingress")
    assert [point["ip"] for point in ingress] == ["47.1.1.1"]  # (the API server defaults ipMode: VIP)


def test_nothing_changed_costs_no_cloud_call_and_a_node_change_one_sync(api, kube, cloud, elb, controller):
    names = add_nodes(kube, cloud, "np-hefei", 3)
    record = declare(api, elb)
    controller.start()
    wait_for(lambda: synced(record) and controller.idle(), what="idle")
    cloud.reset_counts()
    kube.add_node("other", pool="np-other", instance_id="i-other", internal_ip="10.9.9.9")  # not its pool
    kube.update_node(names[0], labels={"unrelated": "x"})                                   # not read
    time.sleep(0.3)
    assert sum(cloud.calls.values()) == 0
    kube.update_node(names[0], unschedulable=True)
    wait_for(lambda: live(cloud, elb)["i-hefei000"] == 0, what="the cordoned node at weight 0")
    assert cloud.calls["DescribeLoadBalancerAttribute"] == 1 and cloud.calls["SetBackendServers"] == 1


def test_a_removed_node_is_drained_for_drain_seconds_then_removed(api, kube, cloud, elb, controller):
    names = add_nodes(kube, cloud, "np-hefei", 2)
    record = declare(api, elb, drain=1)
    controller.start()
    wait_for(lambda: len(live(cloud, elb)) == 2 and synced(record), what="2 servers")
    kube.remove_node(names[1])
    wait_for(lambda: live(cloud, elb).get("i-hefei001") == 0, what="a drain")
    drained = time.monotonic()
    wait_for(lambda: "i-hefei001" not in live(cloud, elb), timeout=5, what="the removal")
    assert time.monotonic() - drained >= 0.5  # drainSeconds 1, less the time it took this test to see the drain
    assert live(cloud, elb) == {"i-hefei000": 100}


def test_a_deleted_service_drains_and_removes_only_owned_servers(api, kube, cloud, elb, controller):
    add_nodes(kube, cloud, "np-hefei", 2)
    cloud.ens.load_balancers[elb]["_backends"].append({"ServerId": "i-foreign", "Weight": 100, "Type": "ens"})
    record = declare(api, elb)
    controller.start()
    wait_for(lambda: len(live(cloud, elb)) == 3 and synced(record), what="synced")
    del kube.services[(NS, SVC)]
    wait_for(lambda: live(cloud, elb) == {"i-foreign": 100}, what="only the foreign server left")
    assert record.read() is not None  # the record stays: Pulumi declared it


def test_a_deleted_record_releases_its_backends_before_it_goes(api, kube, cloud, elb, controller):
    add_nodes(kube, cloud, "np-hefei", 2)
    record = declare(api, elb)
    controller.start()
    wait_for(lambda: len(live(cloud, elb)) == 2 and synced(record), what="synced")
    record.delete()
    wait_for(lambda: record.read() is None, what="the record gone")
    assert live(cloud, elb) == {}
    assert kube.recorded_events(NS, name=record.name, reason="Released")  # written before the finalizer went


def test_no_sync_runs_before_every_cache_listed(api, kube, cloud, elb):
    add_nodes(kube, cloud, "np-hefei", 2)
    declare(api, elb)
    with kube.slow("/api/v1/nodes", seconds=1.0, times=1):
        ctl = Controller(api, Options(workers=1, coalesce_seconds=0, drift_seconds=0))
        ctl.start()
        try:
            time.sleep(0.5)
            assert cloud.calls.get("DescribeLoadBalancerAttribute", 0) == 0
            wait_for(lambda: len(live(cloud, elb)) == 2, what="synced after the list")
        finally:
            ctl.stop(5)


def test_the_work_queue_coalesces_and_serialises():
    now = [0.0]
    queue = WorkQueue(clock=lambda: now[0])
    for _ in range(5):
        queue.add("a", 0.1)
    assert queue.get(timeout=0) is None  # not due yet
    now[0] = 0.2
    key, since = queue.get(timeout=0)
    assert (key, since) == ("a", 0.0) and queue.get(timeout=0) is None
    queue.add("a")  # an event while it syncs: remembered, not handed out twice
    assert queue.get(timeout=0) is None
    queue.done("a")
    assert queue.get(timeout=0)[0] == "a"


# --- the watch cache ----------------------------------------------------------------------------------

def informer_of_nodes(api, events):
    import threading

    from kubernetes import client as k8s

    from reconciler.controller.informer import Informer

    stop = threading.Event()
    informer = Informer("Node", k8s.CoreV1Api(api).list_node,
                        lambda kind, obj: events.append((kind, obj["metadata"]["name"])), stop)
    return informer, stop


def test_the_cache_survives_an_outage_whole_and_lists_again_when_its_version_expired(api, kube, monkeypatch):
    from reconciler.controller import informer as informer_module

    monkeypatch.setattr(informer_module, "BACKOFF_FIRST", 0.05)
    kube.add_node("a", pool="p", instance_id="i-a")
    kube.add_node("b", pool="p", instance_id="i-b")
    events: list = []
    informer, stop = informer_of_nodes(api, events)
    informer.start()
    try:
        assert informer.synced.wait(5)
        assert sorted(events) == [("ADDED", "a"), ("ADDED", "b")]
        with kube.outage():
            time.sleep(0.3)
            assert sorted(o["metadata"]["name"] for o in informer.items()) == ["a", "b"]  # the last state, whole
        kube.add_node("c", pool="p", instance_id="i-c")
        wait_for(lambda: informer.get("/c") is not None, what="the watch resumed")
        assert informer.lists == 1  # resumed from its version, not listed again
        # While the watch is down, a change and a compaction: its version is gone (410), it lists again.
        with kube.outage(refuse=True):
            time.sleep(0.2)
            kube.remove_node("a")
            kube.compact()
        wait_for(lambda: informer.get("/a") is None, what="the re-list")
        assert informer.lists == 2 and ("DELETED", "a") in events
    finally:
        stop.set()
        informer.halt()
        informer.thread.join(5)


def test_a_record_the_stack_writes_itself_is_left_alone_and_handed_back(api, kube, cloud, elb, controller):
    add_nodes(kube, cloud, "np-hefei", 2)
    record = declare(api, elb)
    controller.start()
    wait_for(lambda: len(live(cloud, elb)) == 2 and synced(record), what="synced by the controller")
    # The stack switches the controller off for this group: its BackendSync declares itself the writer.
    declare(api, elb, writer="pulumi")
    wait_for(lambda: FINALIZER not in (record.read()["metadata"].get("finalizers") or []), what="the hand-back")
    cloud.reset_counts()
    kube.add_node("np-hefei-node-9", pool="np-hefei", instance_id="i-hefei009", internal_ip="10.0.9.9")
    time.sleep(0.3)
    assert sum(cloud.calls.values()) == 0 and "i-hefei009" not in live(cloud, elb)  # one writer: the stack


def test_a_status_write_stops_once_the_writer_changed(api, kube, elb):
    from reconciler.model import Intent
    from reconciler.record import WriterChanged

    declare(api, elb)
    mine = BackendRecord(api, NS, record_name(SVC, "ens", elb), writer="controller")
    mine.read()
    declare(api, elb, writer="pulumi")  # the stale copy the controller holds still says "controller"
    with pytest.raises(WriterChanged, match="writer is now 'pulumi'"):
        mine.begin(Intent.start("add", []), [])


def test_a_drain_outlives_a_restart_through_the_record(api, kube, cloud, elb):
    names = add_nodes(kube, cloud, "np-hefei", 2)
    record = declare(api, elb, drain=2)
    first = Controller(api, Options(workers=1, coalesce_seconds=0.01, drift_seconds=0))
    first.start()
    try:
        wait_for(lambda: len(live(cloud, elb)) == 2 and synced(record), what="synced")
        kube.remove_node(names[1])
        wait_for(lambda: live(cloud, elb).get("i-hefei001") == 0, what="the drain")
        drained = time.monotonic()
        (draining,) = wait_for(lambda: record.read()["status"].get("draining"), what="the drain recorded")
        assert (draining["serverId"], draining["port"]) == ("i-hefei001", 0)
    finally:
        first.stop(5)
    second = Controller(api, Options(workers=1, coalesce_seconds=0.01, drift_seconds=0))
    second.start()  # a restart, or the next leader: it knows the drain from the record
    try:
        assert second.wait_synced(5)
        time.sleep(0.3)  # its first syncs
        if time.monotonic() - drained < 1.5:
            assert live(cloud, elb).get("i-hefei001") == 0  # still draining, not removed at once
        wait_for(lambda: "i-hefei001" not in live(cloud, elb), timeout=6, what="the removal")
        assert time.monotonic() - drained >= 1.0  # drainSeconds 2 from the drain (1 s rounding in the record)
        # The result is written just after the removal's cloud call: the drain then leaves the record.
        wait_for(lambda: not record.read()["status"].get("draining"), timeout=3, what="the drain off the record")
    finally:
        second.stop(5)


def test_the_cache_keeps_its_index_and_derived_values_with_its_objects(api, kube, monkeypatch):
    import threading

    from kubernetes import client as k8s

    from reconciler.cluster import node_info
    from reconciler.controller import informer as informer_module
    from reconciler.controller.informer import Informer

    monkeypatch.setattr(informer_module, "BACKOFF_FIRST", 0.05)
    kube.add_node("a", pool="p1", instance_id="i-a")
    stop = threading.Event()
    nodes = Informer("Node", k8s.CoreV1Api(api).list_node, lambda *_: None, stop, derive=node_info,
                     index=lambda obj: obj["metadata"]["labels"].get("apps.openyurt.io/nodepool"))
    nodes.start()
    try:
        assert nodes.synced.wait(5)
        assert [key for key, _ in nodes.by("p1")] == ["/a"] and [n.name for n in nodes.derived()] == ["a"]
        kube.update_node("a", labels={"apps.openyurt.io/nodepool": "p2"})  # a watch event moves it
        wait_for(lambda: nodes.by("p2"), what="the index moved")
        assert nodes.by("p1") == []
        with kube.outage(refuse=True):  # a relist (410) brings "b": indexed and derived as it lands
            time.sleep(0.2)
            kube.add_node("b", pool="p2", instance_id="i-b")
            kube.remove_node("a")
            kube.compact()
        wait_for(lambda: nodes.lists == 2, what="the re-list")
        assert [key for key, _ in nodes.by("p2")] == ["/b"]
        assert [(n.name, n.instance_id) for n in nodes.derived()] == [("b", "i-b")]
    finally:
        stop.set()
        nodes.halt()
        nodes.thread.join(5)
