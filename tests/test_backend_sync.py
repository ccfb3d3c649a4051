"""BackendSync end to end: Pulumi's dynamic-provider host (gRPC, as the engine) drives the provider,
which reads a fake Kubernetes API with the official client and writes to the cloud emulator with
the official SDK. Scenarios: create, scale up, rolling update, node drain, pool leaving the
selector, refresh after an out-of-band change, delete; faults and a crash between two batches."""

from __future__ import annotations

import pytest

from cloud.retry import RetryPolicy
from reconciler import ratelimit
from reconciler.provider import BackendSyncProvider
from tests.dynhost import DynamicHost, ProviderError
from tests.emulator import Emulator, Ens
from tests.kubeserver import KubeServer

FAST = RetryPolicy(attempts=4, base=0.01, cap=0.02, deadline=10)
NS, SVC = "default", "cube-svc"


@pytest.fixture(autouse=True)
def fresh_rate_limits():
    ratelimit.reset()


@pytest.fixture
def kube():
    with KubeServer(token="kube-token") as server:
        server.add_service(NS, SVC, ports=[{"name": "http", "port": 80, "targetPort": 8080}],
                           external_traffic_policy="Cluster")
        server.set_endpoints(NS, SVC, [], ports=[{"name": "http", "port": 8080}])
        yield server


@pytest.fixture
def cloud():
    with Emulator([Ens(create_polls=0)]) as emu:
        yield emu


def add_nodes(kube, cloud, pool, count, start=0, **node):
    names = []
    for n in range(start, start + count):
        name, instance = f"{pool}-node-{n}", f"i-{pool.replace('np-', '')}{n:03d}"
        kube.add_node(name, pool=pool, instance_id=instance, internal_ip=f"10.0.{len(names)}.{n % 250}", **node)
        cloud.ens.instances[instance] = "Running"
        names.append(name)
    return names


@pytest.fixture
def elb(cloud):
    from alibabacloud_ens20171110 import models
    from alibabacloud_ens20171110.client import Client
    from alibabacloud_tea_openapi.models import Config

    client = Client(Config(access_key_id="ak", access_key_secret="sk", region_id="cn-hangzhou",
                           endpoint=cloud.endpoint, protocol="http"))
    return client.create_load_balancer(models.CreateLoadBalancerRequest(
        ens_region_id="cn-hefei-cmcc-2", load_balancer_spec="elb.s2.small", network_id="n-1", v_switch_id="vsw-1",
        pay_type="PostPaid")).body.load_balancer_id


@pytest.fixture
def host(kube, cloud):
    env = {"ALIBABA_CLOUD_ACCESS_KEY_ID": "ak", "ALIBABA_CLOUD_ACCESS_KEY_SECRET": "sk",
           "ACK_EDGE_LB_ENS_ENDPOINT": f"http://{cloud.endpoint}", "KUBECONFIG": "/nonexistent"}
    with DynamicHost(env=env) as running:
        running.configure({"kubernetes:kubeconfig": kube.kubeconfig("kube-token")}, namespace=False)
        yield running


def inputs(elb, mode="cluster", pools=("np-hefei",), **extra):
    return {"kind": "ens", "groupId": elb, "namespace": NS, "service": SVC, "mode": mode, "pools": list(pools),
            "port": 0, "serverType": "ens", "portName": "http", "drainSeconds": 0, **extra}


def live(cloud, elb):
    return {s["ServerId"]: s["Weight"] for s in cloud.ens.load_balancers[elb]["_backends"]}


PROVIDER = BackendSyncProvider(policy=FAST)


def test_create_registers_every_ready_node_of_the_matched_pools(host, kube, cloud, elb):
    add_nodes(kube, cloud, "np-hefei", 3)
    add_nodes(kube, cloud, "np-hefei", 1, start=3, ready=False)
    add_nodes(kube, cloud, "np-chengdu", 2)
    id_, outs = host.create(PROVIDER, inputs(elb))
    assert id_ == f"ens:{elb}:{NS}/{SVC}"
    assert live(cloud, elb) == {"i-hefei000": 100, "i-hefei001": 100, "i-hefei002": 100}
    assert outs["counts"] == {"total": 3, "serving": 3, "draining": 0, "withoutPort": 0}
    assert [b["serverId"] for b in outs["backends"]] == ["i-hefei000", "i-hefei001", "i-hefei002"]
    assert cloud.calls["AddBackendServers"] == 1 and cloud.calls["DescribeLoadBalancerAttribute"] == 1


def test_no_change_in_the_cluster_means_no_change_and_no_cloud_call(host, kube, cloud, elb):
    add_nodes(kube, cloud, "np-hefei", 2)
    id_, outs = host.create(PROVIDER, inputs(elb))
    cloud.reset_counts()
    assert host.diff(PROVIDER, id_, outs, inputs(elb)).changes is False
    assert sum(cloud.calls.values()) == 0


def test_scale_up_is_seen_by_diff_and_applied_by_update(host, kube, cloud, elb):
    add_nodes(kube, cloud, "np-hefei", 2)
    id_, outs = host.create(PROVIDER, inputs(elb))
    add_nodes(kube, cloud, "np-hefei", 43, start=2)
    cloud.reset_counts()
    assert host.diff(PROVIDER, id_, outs, inputs(elb)).changes is True
    assert sum(cloud.calls.values()) == 0  # diff only reads the cluster
    outs = host.update(PROVIDER, id_, outs, inputs(elb))
    assert len(live(cloud, elb)) == 45 and outs["counts"]["total"] == 45
    assert cloud.calls["AddBackendServers"] == 3  # 43 new servers, 20 per call
    assert host.diff(PROVIDER, id_, outs, inputs(elb)).changes is False


def test_local_weights_follow_pods_and_a_rolling_update_drains_before_removing(host, kube, cloud, elb):
    nodes = add_nodes(kube, cloud, "np-hefei", 3)
    kube.set_endpoints(NS, SVC, [{"ip": "172.16.0.1", "node": nodes[0]}, {"ip": "172.16.0.2", "node": nodes[0]},
                                 {"ip": "172.16.0.3", "node": nodes[1]}], ports=[{"name": "http", "port": 8080}])
    id_, outs = host.create(PROVIDER, inputs(elb, mode="local"))
    assert live(cloud, elb) == {"i-hefei000": 100, "i-hefei001": 50}
    # Rolling update: node 1's pod terminates, a new pod starts on node 2.
    kube.set_endpoints(NS, SVC, [{"ip": "172.16.0.1", "node": nodes[0]}, {"ip": "172.16.0.2", "node": nodes[0]},
                                 {"ip": "172.16.0.3", "node": nodes[1], "ready": False, "terminating": True},
                                 {"ip": "172.16.0.4", "node": nodes[2]}], ports=[{"name": "http", "port": 8080}])
    outs = host.update(PROVIDER, id_, outs, inputs(elb, mode="local"))
    assert live(cloud, elb) == {"i-hefei000": 100, "i-hefei001": 0, "i-hefei002": 50}  # drained, not dropped
    assert outs["counts"] == {"total": 3, "serving": 2, "draining": 1, "withoutPort": 0}
    kube.set_endpoints(NS, SVC, [{"ip": "172.16.0.1", "node": nodes[0]}, {"ip": "172.16.0.2", "node": nodes[0]},
                                 {"ip": "172.16.0.4", "node": nodes[2]}], ports=[{"name": "http", "port": 8080}])
    host.update(PROVIDER, id_, outs, inputs(elb, mode="local"))
    assert live(cloud, elb) == {"i-hefei000": 100, "i-hefei002": 50}


def test_a_cordoned_node_is_drained_then_removed_when_it_leaves(host, kube, cloud, elb):
    add_nodes(kube, cloud, "np-hefei", 2)
    id_, outs = host.create(PROVIDER, inputs(elb))
    kube.add_node("np-hefei-node-1", pool="np-hefei", instance_id="i-hefei001", unschedulable=True)
    outs = host.update(PROVIDER, id_, outs, inputs(elb))
    assert live(cloud, elb) == {"i-hefei000": 100, "i-hefei001": 0}
    del kube.nodes["np-hefei-node-1"]
    host.update(PROVIDER, id_, outs, inputs(elb))
    assert live(cloud, elb) == {"i-hefei000": 100}


def test_a_pool_removed_from_the_selector_loses_its_backends(host, kube, cloud, elb):
    add_nodes(kube, cloud, "np-hefei", 2)
    add_nodes(kube, cloud, "np-wuhu", 2)
    both = inputs(elb, pools=("np-hefei", "np-wuhu"))
    id_, outs = host.create(PROVIDER, both)
    assert len(live(cloud, elb)) == 4
    one = inputs(elb, pools=("np-hefei",), drainSeconds=0.05)
    assert host.diff(PROVIDER, id_, outs, one).changes is True
    host.update(PROVIDER, id_, outs, one)
    assert live(cloud, elb) == {"i-hefei000": 100, "i-hefei001": 100}
    assert cloud.calls["SetBackendServers"] == 1  # the two leaving servers were drained first


def test_refresh_sees_an_out_of_band_change_and_up_repairs_it(host, kube, cloud, elb):
    add_nodes(kube, cloud, "np-hefei", 2)
    id_, outs = host.create(PROVIDER, inputs(elb))
    cloud.ens.load_balancers[elb]["_backends"] = [s for s in cloud.ens.load_balancers[elb]["_backends"]
                                                  if s["ServerId"] != "i-hefei001"]  # removed in the console
    read_id, refreshed, _ = host.read(PROVIDER, id_, outs)
    assert read_id == id_ and [b["serverId"] for b in refreshed["backends"]] == ["i-hefei000"]
    assert host.diff(PROVIDER, id_, refreshed, inputs(elb)).changes is True
    host.update(PROVIDER, id_, refreshed, inputs(elb))
    assert live(cloud, elb) == {"i-hefei000": 100, "i-hefei001": 100}


def test_delete_removes_only_owned_backends(host, kube, cloud, elb):
    add_nodes(kube, cloud, "np-hefei", 2)
    cloud.ens.instances["i-manual"] = "Running"
    id_, outs = host.create(PROVIDER, inputs(elb))
    cloud.ens.load_balancers[elb]["_backends"].append({"ServerId": "i-manual", "Type": "ens", "Weight": 100})
    host.delete(PROVIDER, id_, outs)
    assert live(cloud, elb) == {"i-manual": 100}


def test_throttling_bursts_and_busy_codes_are_retried(host, kube, cloud, elb):
    add_nodes(kube, cloud, "np-hefei", 30)
    cloud.inject("AddBackendServers", "Throttling.User", times=2)
    cloud.inject("DescribeLoadBalancerAttribute", "ServiceUnavailable", times=1)
    _, outs = host.create(PROVIDER, inputs(elb))
    assert len(live(cloud, elb)) == 30 and outs["counts"]["total"] == 30


def test_a_crash_between_batches_converges_on_the_next_run_without_duplicates(host, kube, cloud, elb):
    add_nodes(kube, cloud, "np-hefei", 45)
    cloud.ens.instances["i-manual"] = "Running"
    cloud.ens.load_balancers[elb]["_backends"].append({"ServerId": "i-manual", "Type": "ens", "Weight": 100})
    cloud.inject("AddBackendServers", "InvalidParameter", times=1, after=1, status=400)  # the 2nd batch fails for good
    with pytest.raises(ProviderError, match="stopped after 1 of 3 steps"):
        host.create(PROVIDER, inputs(elb))
    assert len(live(cloud, elb)) == 21
    # The engine recorded nothing; the next `pulumi up` creates again and adopts what is there.
    _, outs = host.create(PROVIDER, inputs(elb))
    assert len(live(cloud, elb)) == 46 and outs["counts"]["total"] == 45
    assert cloud.outcomes[("AddBackendServers", "InvalidBackendServers.AlreadyExists")] == 0
    assert live(cloud, elb)["i-manual"] == 100  # the foreign server was never touched


def test_a_group_that_is_gone_reads_as_gone(host, kube, cloud, elb):
    add_nodes(kube, cloud, "np-hefei", 1)
    id_, outs = host.create(PROVIDER, inputs(elb))
    del cloud.ens.load_balancers[elb]
    assert host.read(PROVIDER, id_, outs)[0] == ""


def test_check_names_bad_inputs(host, elb):
    _, failures = host.check(PROVIDER, {}, inputs(elb, kind="alb", mode="random", drainSeconds=99999))
    assert {prop for prop, _ in failures} == {"kind", "mode", "drainSeconds"}


def test_a_timed_out_write_that_went_through_is_not_applied_twice(host, kube, cloud, elb):
    add_nodes(kube, cloud, "np-hefei", 25)
    # The first batch is applied, but its answer comes after the client stopped waiting.
    cloud.inject("AddBackendServers", "timeout", times=1, delay=1.0, applied=True)
    impatient = BackendSyncProvider(policy=FAST, read_timeout=0.3)
    _, outs = host.create(impatient, inputs(elb))
    assert cloud.outcomes[("AddBackendServers", "InvalidBackendServers.AlreadyExists")] == 1  # the retry's answer
    servers = [s["ServerId"] for s in cloud.ens.load_balancers[elb]["_backends"]]
    assert len(servers) == len(set(servers)) == 25 and outs["counts"]["total"] == 25
