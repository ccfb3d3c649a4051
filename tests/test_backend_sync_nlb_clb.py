"""BackendSync for NLB server groups (pods as IP backends, asynchronous jobs) and CLB VServerGroups
(nodes on the NodePort), through Pulumi's dynamic-provider host, the fake Kubernetes API and the emulator."""

from __future__ import annotations

import pytest
from alibabacloud_nlb20220430 import models as nlb_models
from alibabacloud_nlb20220430.client import Client as NlbClient
from alibabacloud_slb20140515 import models as slb_models
from alibabacloud_slb20140515.client import Client as SlbClient
from alibabacloud_tea_openapi.models import Config

from cloud.retry import RetryPolicy
from reconciler import ratelimit
from reconciler.groups import owner_mark
from reconciler.provider import BackendSyncProvider
from tests.dynhost import DynamicHost, ProviderError
from tests.emulator import Emulator, Nlb, Slb
from tests.kubeserver import KubeServer

FAST = RetryPolicy(attempts=4, base=0.01, cap=0.02, deadline=10)
PROVIDER = BackendSyncProvider(policy=FAST, poll_interval=0.01)
NS, SVC = "shop", "web"
MINE = owner_mark(NS, SVC)


@pytest.fixture(autouse=True)
def fresh_rate_limits():
    ratelimit.reset()


@pytest.fixture
def kube():
    with KubeServer(token="t") as server:
        server.add_service(NS, SVC, ports=[{"name": "http", "port": 80, "targetPort": 8080, "nodePort": 30080}],
                           external_traffic_policy="Local")
        server.set_endpoints(NS, SVC, [], ports=[{"name": "http", "port": 8080}])
        for name, pool in (("cloud-1", "np-cloud"), ("cloud-2", "np-cloud"), ("edge-1", "np-hefei")):
            server.add_node(name, pool=pool, provider_id=f"cn-hangzhou.i-{name}", internal_ip="10.0.0.1")
        yield server


@pytest.fixture
def cloud():
    with Emulator([Nlb(job_polls=1), Slb()]) as emu:
        for name in ("cloud-1", "cloud-2", "edge-1"):
            emu.slb.instances[f"i-{name}"] = "Running"
        yield emu


def config(emu):
    return Config(access_key_id="ak", access_key_secret="sk", region_id="cn-hangzhou", endpoint=emu.endpoint,
                  protocol="http")


@pytest.fixture
def server_group(cloud):
    group = NlbClient(config(cloud)).create_server_group(nlb_models.CreateServerGroupRequest(
        server_group_name="web", server_group_type="Ip", vpc_id="vpc-1", protocol="TCP",
        region_id="cn-hangzhou")).body.server_group_id
    cloud.nlb.finish_jobs()  # pulumi-alicloud's ServerGroup waits for its creation job
    return group


@pytest.fixture
def vserver_group(cloud):
    slb = SlbClient(config(cloud))
    lb_id = slb.create_load_balancer(slb_models.CreateLoadBalancerRequest(region_id="cn-hangzhou")).body.load_balancer_id
    return slb.create_vserver_group(slb_models.CreateVServerGroupRequest(
        region_id="cn-hangzhou", load_balancer_id=lb_id, vserver_group_name="web")).body.vserver_group_id


@pytest.fixture
def host(kube, cloud):
    env = {"ALIBABA_CLOUD_ACCESS_KEY_ID": "ak", "ALIBABA_CLOUD_ACCESS_KEY_SECRET": "sk",
           "ACK_EDGE_LB_NLB_ENDPOINT": f"http://{cloud.endpoint}", "ACK_EDGE_LB_CLB_ENDPOINT": f"http://{cloud.endpoint}",
           "KUBECONFIG": "/nonexistent"}
    with DynamicHost(env=env) as running:
        running.configure({"kubernetes:kubeconfig": kube.kubeconfig("t"), "alicloud:region": "cn-hangzhou"},
                          namespace=False)
        yield running


def nlb_inputs(group, pools=(), **extra):
    return {"kind": "nlb", "groupId": group, "namespace": NS, "service": SVC, "mode": "ip", "pools": list(pools),
            "port": 8080, "serverType": "Ip", "portName": "http", "regionId": "cn-hangzhou", "drainSeconds": 0, **extra}


def clb_inputs(group, mode="cluster", **extra):
    return {"kind": "clb", "groupId": group, "namespace": NS, "service": SVC, "mode": mode, "pools": ["np-cloud"],
            "port": 30080, "serverType": "ecs", "portName": "http", "regionId": "cn-hangzhou", "drainSeconds": 0,
            **extra}


def pods(kube, *spec):
    """spec: (ip, node[, terminating])"""
    kube.set_endpoints(NS, SVC, [{"ip": ip, "node": node, "ready": not rest, "terminating": bool(rest)}
                                 for ip, node, *rest in spec], ports=[{"name": "http", "port": 8080}])


def nlb_live(cloud, group):
    return {(s["ServerId"], s["Port"]): s["Weight"] for s in cloud.nlb.server_groups[group]["_servers"]}


def clb_live(cloud, group):
    return {(s["ServerId"], int(s["Port"])): int(s["Weight"]) for s in cloud.slb.vserver_groups[group]["_backends"]}


def test_nlb_registers_cloud_and_edge_pods_as_ip_backends(host, kube, cloud, server_group):
    pods(kube, ("172.16.1.1", "cloud-1"), ("172.16.1.2", "cloud-2"), ("172.16.9.1", "edge-1"))
    id_, outs = host.create(PROVIDER, nlb_inputs(server_group))
    assert nlb_live(cloud, server_group) == {("172.16.1.1", 8080): 100, ("172.16.1.2", 8080): 100,
                                             ("172.16.9.1", 8080): 100}
    servers = cloud.nlb.server_groups[server_group]["_servers"]
    assert {s["ServerType"] for s in servers} == {"Ip"} and {s["Description"] for s in servers} == {MINE}
    assert cloud.calls["GetJobStatus"] >= 1  # the add job was waited for
    assert outs["counts"] == {"total": 3, "serving": 3, "draining": 0, "withoutPort": 0}


def test_nlb_rolling_update_drains_the_terminating_pod_then_removes_it(host, kube, cloud, server_group):
    pods(kube, ("172.16.1.1", "cloud-1"), ("172.16.9.1", "edge-1"))
    id_, outs = host.create(PROVIDER, nlb_inputs(server_group))
    pods(kube, ("172.16.1.1", "cloud-1", "terminating"), ("172.16.9.1", "edge-1"), ("172.16.1.7", "cloud-2"))
    outs = host.update(PROVIDER, id_, outs, nlb_inputs(server_group))
    assert nlb_live(cloud, server_group) == {("172.16.1.1", 8080): 0, ("172.16.9.1", 8080): 100,
                                             ("172.16.1.7", 8080): 100}
    pods(kube, ("172.16.9.1", "edge-1"), ("172.16.1.7", "cloud-2"))
    host.update(PROVIDER, id_, outs, nlb_inputs(server_group))
    assert set(nlb_live(cloud, server_group)) == {("172.16.9.1", 8080), ("172.16.1.7", 8080)}


def test_nlb_pool_leaving_the_selection_and_busy_groups(host, kube, cloud, server_group):
    pods(kube, ("172.16.1.1", "cloud-1"), ("172.16.9.1", "edge-1"))
    id_, outs = host.create(PROVIDER, nlb_inputs(server_group, pools=("np-cloud", "np-hefei")))
    cloud.inject("RemoveServersFromServerGroup", "IncorrectStatus.serverGroup", times=2)
    host.update(PROVIDER, id_, outs, nlb_inputs(server_group, pools=("np-cloud",)))
    assert set(nlb_live(cloud, server_group)) == {("172.16.1.1", 8080)}
    assert cloud.calls["RemoveServersFromServerGroup"] == 3


def test_nlb_refresh_finds_marked_servers_and_delete_keeps_foreign_ones(host, kube, cloud, server_group):
    pods(kube, ("172.16.1.1", "cloud-1"))
    id_, outs = host.create(PROVIDER, nlb_inputs(server_group))
    foreign = nlb_models.AddServersToServerGroupRequestServers(server_id="10.9.9.9", server_type="Ip",
                                                               server_ip="10.9.9.9", port=9000, description="manual")
    NlbClient(config(cloud)).add_servers_to_server_group(nlb_models.AddServersToServerGroupRequest(
        server_group_id=server_group, servers=[foreign], region_id="cn-hangzhou"))
    cloud.nlb.finish_jobs()
    _, refreshed, _ = host.read(PROVIDER, id_, outs)
    assert [b["serverId"] for b in refreshed["backends"]] == ["172.16.1.1"]
    host.delete(PROVIDER, id_, refreshed)
    assert nlb_live(cloud, server_group) == {("10.9.9.9", 9000): 100}


def test_nlb_batches_of_200_and_a_crash_between_them(host, kube, cloud, server_group):
    pods(kube, *[(f"172.17.{n // 250}.{n % 250 + 1}", "cloud-1") for n in range(250)])
    cloud.inject("AddServersToServerGroup", "IllegalParam.Port", times=1, after=1, status=400)
    with pytest.raises(ProviderError, match="stopped after 1 of 2 steps"):
        host.create(PROVIDER, nlb_inputs(server_group))
    assert len(nlb_live(cloud, server_group)) == 200
    # No state was recorded; the owner mark tells the next run that these 200 are its own.
    _, outs = host.create(PROVIDER, nlb_inputs(server_group))
    assert len(nlb_live(cloud, server_group)) == 250 and outs["counts"]["total"] == 250
    assert cloud.calls["AddServersToServerGroup"] == 3


def test_clb_cluster_mode_registers_the_pool_nodes_on_the_node_port(host, kube, cloud, vserver_group):
    id_, outs = host.create(PROVIDER, clb_inputs(vserver_group))
    assert clb_live(cloud, vserver_group) == {("i-cloud-1", 30080): 100, ("i-cloud-2", 30080): 100}
    assert outs["counts"]["total"] == 2


def test_clb_local_mode_follows_pods_with_weights(host, kube, cloud, vserver_group):
    pods(kube, ("172.16.1.1", "cloud-1"), ("172.16.1.2", "cloud-1"), ("172.16.1.3", "cloud-2"),
         ("172.16.9.1", "edge-1"))
    id_, outs = host.create(PROVIDER, clb_inputs(vserver_group, mode="local"))
    assert clb_live(cloud, vserver_group) == {("i-cloud-1", 30080): 100, ("i-cloud-2", 30080): 50}
    pods(kube, ("172.16.1.3", "cloud-2"))
    host.update(PROVIDER, id_, outs, clb_inputs(vserver_group, mode="local"))
    assert clb_live(cloud, vserver_group) == {("i-cloud-2", 30080): 100}


def test_clb_delete_drains_and_keeps_foreign_backends(host, kube, cloud, vserver_group):
    id_, outs = host.create(PROVIDER, clb_inputs(vserver_group, drainSeconds=0.05))
    cloud.slb.instances["i-manual"] = "Running"
    SlbClient(config(cloud)).add_vserver_group_backend_servers(slb_models.AddVServerGroupBackendServersRequest(
        region_id="cn-hangzhou", vserver_group_id=vserver_group,
        backend_servers='[{"ServerId":"i-manual","Port":8000,"Weight":100,"Type":"ecs"}]'))
    host.delete(PROVIDER, id_, outs)
    assert clb_live(cloud, vserver_group) == {("i-manual", 8000): 100}
    assert cloud.calls["SetVServerGroupAttribute"] == 1  # drained before removal


def test_clb_scale_up_cordon_and_pool_leaving(host, kube, cloud, vserver_group):
    id_, outs = host.create(PROVIDER, clb_inputs(vserver_group))
    kube.add_node("cloud-3", pool="np-cloud", provider_id="cn-hangzhou.i-cloud-3")
    cloud.slb.instances["i-cloud-3"] = "Running"
    kube.add_node("cloud-2", pool="np-cloud", provider_id="cn-hangzhou.i-cloud-2", unschedulable=True)
    assert host.diff(PROVIDER, id_, outs, clb_inputs(vserver_group)).changes is True
    outs = host.update(PROVIDER, id_, outs, clb_inputs(vserver_group))
    assert clb_live(cloud, vserver_group) == {("i-cloud-1", 30080): 100, ("i-cloud-2", 30080): 0,
                                              ("i-cloud-3", 30080): 100}
    gone = clb_inputs(vserver_group, pools=["np-other"])
    host.update(PROVIDER, id_, outs, gone)
    assert clb_live(cloud, vserver_group) == {}


def test_clb_refresh_after_an_out_of_band_weight_change(host, kube, cloud, vserver_group):
    id_, outs = host.create(PROVIDER, clb_inputs(vserver_group))
    SlbClient(config(cloud)).set_vserver_group_attribute(slb_models.SetVServerGroupAttributeRequest(
        region_id="cn-hangzhou", vserver_group_id=vserver_group,
        backend_servers='[{"ServerId":"i-cloud-1","Port":30080,"Weight":5,"Type":"ecs"}]'))
    _, refreshed, _ = host.read(PROVIDER, id_, outs)
    assert {b["serverId"]: b["weight"] for b in refreshed["backends"]} == {"i-cloud-1": 5, "i-cloud-2": 100}
    assert host.diff(PROVIDER, id_, refreshed, clb_inputs(vserver_group)).changes is True
    host.update(PROVIDER, id_, refreshed, clb_inputs(vserver_group))
    assert clb_live(cloud, vserver_group)[("i-cloud-1", 30080)] == 100
