"""BackendSync with its BackendGroup record, through Pulumi's dynamic-provider host, the fake Kubernetes API
(the CRD from the repository's file) and the cloud emulator:

- a failed `pulumi up`, then the cluster back where it was, then a plain `pulumi up` (no refresh): the engine
  kept the old outputs, so only the record says the group is not what they claim; it is repaired (drained
  servers back at 100, servers added for pods that have gone removed), on ENS and NLB;
- the host killed after AddBackendServers went through but before the result was written: the next run
  knows those servers from the record's intent, keeps the ones still wanted and removes the others (ENS
  servers carry no owner mark: without the record they leak);
- with the controller, create and update only write the spec and wait for Synced at the new generation,
  and time out with an error that says what they waited for and where to look;
- refresh reads the owned backends from the record, delete releases them and deletes the record.
"""

from __future__ import annotations

import contextlib
import threading
import time

import pytest
import yaml
from kubernetes import config as k8s_config

from reconciler.model import Backend
from reconciler.provider import BackendSyncProvider
from reconciler.record import CRD_FILE, FINALIZER, PLURAL, BackendRecord, record_name
from tests.dynhost import DynamicHost, ProviderError
from tests.emulator import Emulator, Ens, Nlb
from tests.kube.wire import ApiError
from tests.kubeserver import KubeServer
from tests.test_backend_record_crd import validator
from tests.test_backend_sync import FAST, NS, SVC, add_nodes, inputs, live
from tests.test_backend_sync import elb as elb  # noqa: F401 - the fixture, on this module's cloud
from tests.test_backend_sync import fresh_rate_limits as fresh_rate_limits  # noqa: F401 - the autouse fixture
from tests.test_backend_sync_nlb_clb import NS as NLB_NS
from tests.test_backend_sync_nlb_clb import SVC as NLB_SVC
from tests.test_backend_sync_nlb_clb import config as nlb_config
from tests.test_backend_sync_nlb_clb import nlb_inputs, nlb_live

PROVIDER = BackendSyncProvider(policy=FAST, poll_interval=0.02)


@pytest.fixture
def kube():
    with KubeServer(token="kube-token") as server:
        server.register_crd(CRD_FILE)
        server.add_service(NS, SVC, ports=[{"name": "http", "port": 80, "targetPort": 8080}],
                           external_traffic_policy="Cluster")
        server.set_endpoints(NS, SVC, [], ports=[{"name": "http", "port": 8080}])
        yield server


@pytest.fixture
def cloud():
    with Emulator([Ens(create_polls=0), Nlb(job_polls=1)]) as emu:
        yield emu


@contextlib.contextmanager
def running_host(kube, cloud):
    env = {"ALIBABA_CLOUD_ACCESS_KEY_ID": "ak", "ALIBABA_CLOUD_ACCESS_KEY_SECRET": "sk",
           "ACK_EDGE_LB_ENS_ENDPOINT": f"http://{cloud.endpoint}", "ACK_EDGE_LB_NLB_ENDPOINT": f"http://{cloud.endpoint}",
           "KUBECONFIG": "/nonexistent"}
    with DynamicHost(env=env) as host:
        host.configure({"kubernetes:kubeconfig": kube.kubeconfig("kube-token"), "alicloud:region": "cn-hangzhou"},
                       namespace=False)
        yield host


@pytest.fixture
def host(kube, cloud):
    with running_host(kube, cloud) as running:
        yield running


def the_record(kube, group, namespace=NS, service=SVC, kind="ens", region=None):
    obj = kube.custom_object(PLURAL, record_name(service, kind, group, region), namespace)
    if obj is not None:
        assert not list(validator().iter_errors(obj))
    return obj


def owned_ids(obj):
    return sorted(b["serverId"] for b in obj["status"]["owned"])


# --- a failed up, repaired by the next plain up ----------------------------------------------------

def test_servers_drained_by_a_failed_up_are_back_at_100_after_the_next_plain_up(host, kube, cloud, elb):
    nodes = add_nodes(kube, cloud, "np-hefei", 25)
    id_, outs = host.create(PROVIDER, inputs(elb))
    for name in nodes:
        kube.update_node(name, unschedulable=True)
    cloud.inject("SetBackendServers", "InvalidParameter", times=1, after=1, status=400)  # the 2nd batch, for good
    with pytest.raises(ProviderError, match="stopped after 1 of 2 steps"):
        host.update(PROVIDER, id_, outs, inputs(elb))
    assert sorted(live(cloud, elb).values()) == [0] * 20 + [100] * 5
    # The cluster is back where it was: the desired set equals what the old outputs (kept by the engine) say.
    for name in nodes:
        kube.update_node(name, unschedulable=False)
    record = the_record(kube, elb)
    assert "stopped after 1 of 2 steps" in record["status"]["lastError"]
    assert record["status"]["desiredHash"] == outs["desiredHash"]  # only the record's error tells
    assert host.diff(PROVIDER, id_, outs, inputs(elb)).changes is True
    repaired = host.update(PROVIDER, id_, outs, inputs(elb))
    assert set(live(cloud, elb).values()) == {100} and len(live(cloud, elb)) == 25
    record = the_record(kube, elb)
    assert "lastError" not in record["status"] and "intent" not in record["status"]
    assert host.diff(PROVIDER, id_, repaired, inputs(elb)).changes is False


def test_servers_added_by_a_failed_up_for_nodes_since_gone_are_removed_by_the_next_plain_up(host, kube, cloud, elb):
    add_nodes(kube, cloud, "np-hefei", 2)
    id_, outs = host.create(PROVIDER, inputs(elb))
    added = add_nodes(kube, cloud, "np-hefei", 25, start=2)
    cloud.inject("AddBackendServers", "InvalidParameter", times=1, after=1, status=400)
    with pytest.raises(ProviderError, match="stopped after 1 of 2 steps"):
        host.update(PROVIDER, id_, outs, inputs(elb))
    assert len(live(cloud, elb)) == 22
    for name in added:
        kube.remove_node(name)
    assert host.diff(PROVIDER, id_, outs, inputs(elb)).changes is True
    repaired = host.update(PROVIDER, id_, outs, inputs(elb))  # with the outputs from before the failed up
    assert live(cloud, elb) == {"i-hefei000": 100, "i-hefei001": 100}
    assert [b["serverId"] for b in repaired["backends"]] == ["i-hefei000", "i-hefei001"]
    assert owned_ids(the_record(kube, elb)) == ["i-hefei000", "i-hefei001"]


def test_an_nlb_server_added_by_a_failed_up_for_a_pod_since_gone_is_removed(kube, cloud):
    from alibabacloud_nlb20220430 import models
    from alibabacloud_nlb20220430.client import Client

    kube.add_service(NLB_NS, NLB_SVC, ports=[{"name": "http", "port": 80, "targetPort": 8080}])
    for name in ("cloud-1", "cloud-2"):
        kube.add_node(name, pool="np-cloud", provider_id=f"cn-hangzhou.i-{name}")
    group = Client(nlb_config(cloud)).create_server_group(models.CreateServerGroupRequest(
        server_group_name="web", server_group_type="Ip", vpc_id="vpc-1", protocol="TCP",
        region_id="cn-hangzhou")).body.server_group_id
    cloud.nlb.finish_jobs()

    def pods(*spec):
        kube.set_endpoints(NLB_NS, NLB_SVC, [{"ip": ip, "node": "cloud-1", "ready": ready, "terminating": not ready}
                                             for ip, ready in spec], ports=[{"name": "http", "port": 8080}])
    pods(("172.16.1.1", True), ("172.16.1.2", True))
    with running_host(kube, cloud) as host:
        id_, outs = host.create(PROVIDER, nlb_inputs(group))
        # A rollout starts: a new pod, the old ones terminating; the add goes through, the drain fails.
        pods(("172.16.1.1", False), ("172.16.1.2", False), ("172.16.1.3", True))
        cloud.inject("UpdateServerGroupServersAttribute", "IllegalParam.Weight", times=1, status=400)
        with pytest.raises(ProviderError, match="stopped after 1 of 2 steps"):
            host.update(PROVIDER, id_, outs, nlb_inputs(group))
        pods(("172.16.1.1", True), ("172.16.1.2", True))  # rolled back
        assert host.diff(PROVIDER, id_, outs, nlb_inputs(group)).changes is True
        host.update(PROVIDER, id_, outs, nlb_inputs(group))
    assert nlb_live(cloud, group) == {("172.16.1.1", 8080): 100, ("172.16.1.2", 8080): 100}
    record = the_record(kube, group, NLB_NS, NLB_SVC, "nlb", "cn-hangzhou")
    assert condition_status(record) == "True"


def condition_status(obj):
    return next(c["status"] for c in obj["status"]["conditions"] if c["type"] == "Synced")


# --- a crash between the cloud call and the result write (ENS) --------------------------------------

def kill_after_the_first_add(kube, cloud, host):
    """The host dies at the first record write that follows a successful AddBackendServers."""
    def hook(call):
        if call.method == "PATCH" and call.parts[-1] == "status" and cloud.calls["AddBackendServers"] >= 1:
            kube.hooks.remove(hook)
            host.process.kill()
            host.process.wait(5)
            raise ApiError(503, "the writer is gone")
    kube.hooks.append(hook)


def test_servers_added_before_a_crash_are_owned_by_the_next_run_none_leaks(kube, cloud, elb):
    add_nodes(kube, cloud, "np-hefei", 25)
    cloud.ens.instances["i-manual"] = "Running"
    cloud.ens.load_balancers[elb]["_backends"].append({"ServerId": "i-manual", "Type": "ens", "Weight": 100})
    with running_host(kube, cloud) as host:
        kill_after_the_first_add(kube, cloud, host)
        with pytest.raises(ProviderError):
            host.create(PROVIDER, inputs(elb))
    assert len(live(cloud, elb)) == 21  # 20 added, nobody recorded them as owned
    intent = the_record(kube, elb)["status"]["intent"]
    assert intent["op"] == "add" and len(intent["backends"]) == 20
    # Meanwhile ten of those nodes left the cluster. The engine recorded nothing: the next `pulumi up` creates.
    for n in range(10):
        kube.remove_node(f"np-hefei-node-{n}")
    cloud.reset_counts()
    with running_host(kube, cloud) as host:
        _, outs = host.create(PROVIDER, inputs(elb))
    expected = {f"i-hefei{n:03d}": 100 for n in range(10, 25)}
    assert live(cloud, elb) == {**expected, "i-manual": 100}  # the foreign server was never touched
    assert cloud.calls["AddBackendServers"] == 1 and cloud.calls["RemoveBackendServers"] == 1  # 5 in, 10 out
    assert cloud.outcomes[("AddBackendServers", "InvalidBackendServers.AlreadyExists")] == 0
    record = the_record(kube, elb)
    assert "intent" not in record["status"] and owned_ids(record) == sorted(expected)
    assert outs["counts"]["total"] == 15


# --- with the controller -------------------------------------------------------------------------

def api_client(kube):
    return k8s_config.new_client_from_config_dict(yaml.safe_load(kube.kubeconfig("kube-token")), persist_config=False)


def act_as_controller(kube, elb, generation, backends, desired_hash="from-the-controller"):
    """What the controller does once it synced: the result, through the same record functions."""
    api = api_client(kube)
    try:
        record = BackendRecord(api, NS, record_name(SVC, "ens", elb))
        deadline = time.monotonic() + 10
        while (record.read() is None or record.generation < generation) and time.monotonic() < deadline:
            time.sleep(0.02)
        record.finish(backends, desired_hash, generation=generation)
    finally:
        api.close()


def test_with_the_controller_create_writes_the_spec_and_waits_for_synced(host, kube, cloud, elb):
    add_nodes(kube, cloud, "np-hefei", 2)
    cloud.reset_counts()
    mine = [Backend("i-hefei000"), Backend("i-hefei001")]
    controller = threading.Thread(target=act_as_controller, args=(kube, elb, 1, mine))
    controller.start()
    try:
        id_, outs = host.create(PROVIDER, inputs(elb, controller=True, waitSeconds=10))
    finally:
        controller.join()
    assert sum(cloud.calls.values()) == 0  # one writer per group: the controller
    assert [b["serverId"] for b in outs["backends"]] == ["i-hefei000", "i-hefei001"]
    assert outs["desiredHash"] == "from-the-controller" and outs["counts"]["total"] == 2
    # The controller follows the cluster between deployments: a moved cluster is no change for Pulumi.
    add_nodes(kube, cloud, "np-hefei", 1, start=2)
    assert host.diff(PROVIDER, id_, outs, inputs(elb, controller=True, waitSeconds=10)).changes is False


def test_with_the_controller_an_unsynced_generation_times_out_with_what_to_look_at(host, kube, cloud, elb):
    add_nodes(kube, cloud, "np-hefei", 1)
    cloud.reset_counts()
    act = threading.Thread(target=act_as_controller, args=(kube, elb, 1, [Backend("i-hefei000")]))
    act.start()
    try:
        id_, outs = host.create(PROVIDER, inputs(elb, controller=True, waitSeconds=10))
    finally:
        act.join()
    # A new generation (another pool) that no controller picks up.
    changed = inputs(elb, pools=("np-hefei", "np-wuhu"), controller=True, waitSeconds=0.5)
    with pytest.raises(ProviderError) as failed:
        host.update(PROVIDER, id_, outs, changed)
    message = failed.value.summary
    assert "did not report Synced=True at generation 2 within 0.5 s" in message
    assert "observedGeneration 1, Synced=True" in message
    assert f"kubectl get bg -n {NS}" in message and "controller's logs" in message
    assert sum(cloud.calls.values()) == 0
    record = the_record(kube, elb)  # the spec was written: the controller picks it up when it runs
    assert record["metadata"]["generation"] == 2 and record["spec"]["pools"] == ["np-hefei", "np-wuhu"]


# --- refresh and delete ------------------------------------------------------------------------------

def test_refresh_reads_owned_backends_from_the_record_and_delete_releases_them_then_the_record(host, kube, cloud,
                                                                                                elb):
    add_nodes(kube, cloud, "np-hefei", 2)
    cloud.ens.instances["i-manual"] = cloud.ens.instances["i-later"] = "Running"
    id_, outs = host.create(PROVIDER, inputs(elb))
    # Another writer of this record (the controller, a run whose outputs were lost) added i-later.
    cloud.ens.load_balancers[elb]["_backends"] += [{"ServerId": s, "Type": "ens", "Weight": 100}
                                                   for s in ("i-later", "i-manual")]
    name = record_name(SVC, "ens", elb)
    kube.edit_status(PLURAL, name, {"owned": the_record(kube, elb)["status"]["owned"] + [Backend("i-later").as_dict()]},
                     NS)
    _, refreshed, _ = host.read(PROVIDER, id_, outs)
    assert [b["serverId"] for b in refreshed["backends"]] == ["i-hefei000", "i-hefei001", "i-later"]
    host.delete(PROVIDER, id_, refreshed)
    assert live(cloud, elb) == {"i-manual": 100}
    assert the_record(kube, elb) is None


def test_with_the_controller_delete_waits_until_the_controller_released_the_backends(host, kube, cloud, elb):
    add_nodes(kube, cloud, "np-hefei", 1)
    act = threading.Thread(target=act_as_controller, args=(kube, elb, 1, [Backend("i-hefei000")]))
    act.start()
    try:
        id_, outs = host.create(PROVIDER, inputs(elb, controller=True, waitSeconds=10))
    finally:
        act.join()
    name = record_name(SVC, "ens", elb)
    kube.edit(PLURAL, name, {"metadata": {"finalizers": [FINALIZER]}}, NS)  # the controller holds the record
    with pytest.raises(ProviderError, match="release the backends of .* and remove its finalizer"):
        host.delete(PROVIDER, id_, {**outs, "waitSeconds": 0.3})  # no controller answers
    assert the_record(kube, elb)["metadata"]["deletionTimestamp"]

    def controller_releases():
        deadline = time.monotonic() + 10
        while not (kube.custom_object(PLURAL, name, NS) or {}).get("metadata", {}).get("deletionTimestamp"):
            if time.monotonic() > deadline:
                return
            time.sleep(0.02)
        kube.edit(PLURAL, name, {"metadata": {"finalizers": None}}, NS)  # after releasing the backends

    cloud.reset_counts()
    release = threading.Thread(target=controller_releases)
    release.start()
    try:
        host.delete(PROVIDER, id_, outs)
    finally:
        release.join()
    assert the_record(kube, elb) is None and sum(cloud.calls.values()) == 0  # the controller's job, not ours


def test_without_the_controller_delete_drops_a_finalizer_an_earlier_controller_left(host, kube, cloud, elb):
    add_nodes(kube, cloud, "np-hefei", 2)
    id_, outs = host.create(PROVIDER, inputs(elb))
    kube.edit(PLURAL, record_name(SVC, "ens", elb), {"metadata": {"finalizers": [FINALIZER]}}, NS)
    host.delete(PROVIDER, id_, outs)
    assert live(cloud, elb) == {} and the_record(kube, elb) is None


def test_without_a_controller_the_sync_writes_the_services_addresses(host, kube, cloud, elb):
    service = kube.services[(NS, SVC)]
    service["spec"]["loadBalancerClass"] = "ack-edge-lb/pulumi"  # what the program declares for `pulumi`
    add_nodes(kube, cloud, "np-hefei", 2)
    host.create(PROVIDER, inputs(elb, ingress=[{"ip": "47.100.1.1"}]))
    ingress = kube.services[(NS, SVC)]["status"]["loadBalancer"]["ingress"]
    assert [point["ip"] for point in ingress] == ["47.100.1.1"]  # not <pending> any more
    # A Service of another class (CCM's, ECM's) keeps the status its controller writes.
    kube.services[(NS, SVC)] = {**kube.services[(NS, SVC)], "status": {"loadBalancer": {}}}
    kube.services[(NS, SVC)]["spec"]["loadBalancerClass"] = "alibabacloud.com/elb"
    host.create(PROVIDER, inputs(elb, ingress=[{"ip": "47.100.1.2"}]))
    assert kube.services[(NS, SVC)]["status"]["loadBalancer"] == {}
