"""Pulumi-owned NLB (pods as IP backends) and CLB (nodes on the NodePort) under the Pulumi SDK's mocks:
exact resources, properties and parents per scenario, and the policy table of the documentation."""

from __future__ import annotations

import pytest

from components import annotations as ann
from stacks.load import validate
from stacks.problems import ConfigError
from tests.conftest import cloud_pool

BACKEND_SYNC = "pulumi-python:dynamic/backends:BackendSync"
CLUSTER_ID = "c0123456789abcdef"


@pytest.fixture
def hybrid(config):
    """shop-web on NLB: pods in the cloud pool and in the Hefei ENS pool, registered by IP."""
    config["nodePools"][2]["labels"] = {"tier": "web"}
    config["nodePools"][0]["labels"] = {"tier": "web", "k8s-svc": "cube"}
    config["services"] = [{
        "name": "shop-web", "namespace": "shop", "selector": {"app": "shop-web"},
        "ports": [{"name": "https", "port": 443, "targetPort": 8443}, {"name": "dns", "port": 53, "protocol": "UDP"}],
        "externalTrafficPolicy": "Local", "nodePoolSelector": {"tier": "web"},
        "loadBalancer": {"type": "nlb", "management": "pulumi", "preserveClientIp": True, "drainSeconds": 30}}]
    return config


def apply_state(args):
    if args.typ == "kubernetes:core/v1:Service":
        spec = dict(args.inputs["spec"])
        spec["ports"] = [dict(p, nodePort=31000 + i) for i, p in enumerate(spec["ports"])]
        return {"spec": dict(spec, healthCheckNodePort=32500)}
    if args.typ == "alicloud:nlb/loadBalancer:LoadBalancer":
        return {"dnsName": "nlb-abc.cn-hangzhou.nlb.aliyuncs.com"}
    if args.typ == "alicloud:slb/applicationLoadBalancer:ApplicationLoadBalancer":
        return {"address": "47.96.0.10"}
    return {}


def test_nlb_in_the_cloud_zones_with_an_ip_group_listener_and_sync_per_port(hybrid, plan):
    run = plan(hybrid, preview=False, after_apply=apply_state)
    base = "shop/shop-web/nlb"
    assert run.named(base).type == "ack-edge-lb:nlb:NlbExposure" and run.named(base).parent == "shop/shop-web"
    lb = run.named(f"{base}/loadbalancer")
    assert lb.type == "alicloud:nlb/loadBalancer:LoadBalancer" and lb.parent == base
    assert lb.inputs["zoneMappings"] == [{"zoneId": "cn-hangzhou-j", "vswitchId": "vsw-cnhangzhouj"},
                                         {"zoneId": "cn-hangzhou-k", "vswitchId": "vsw-cnhangzhouk"}]
    assert lb.inputs["vpcId"] == "vpc-bp1test" and lb.inputs["addressType"] == "Internet"
    group = run.named(f"{base}/server-group/tcp-443")
    assert group.inputs["serverGroupType"] == "Ip" and group.inputs["protocol"] == "TCP"
    assert group.inputs["preserveClientIpEnabled"] is True
    assert group.inputs["connectionDrainEnabled"] is True and group.inputs["connectionDrainTimeout"] == 30
    assert group.inputs["scheduler"] == "Rr"
    listener = run.named(f"{base}/listener/udp-53")
    assert listener.inputs["listenerPort"] == 53 and listener.inputs["listenerProtocol"] == "UDP"
    sync = run.named(f"{base}/backends/tcp-443")
    assert sync.type == BACKEND_SYNC and sync.parent == base
    assert {k: sync.inputs[k] for k in ("kind", "mode", "pools", "port", "serverType", "portName", "regionId")} == {
        "kind": "nlb", "mode": "ip", "pools": ["np-cloud", "np-hefei"], "port": 8443, "serverType": "Ip",
        "portName": "https", "regionId": "cn-hangzhou"}
    assert sync.inputs["groupId"] == f"{base}/server-group/tcp-443-id"
    assert run.outputs["externalIps"] == {"shop/shop-web": {"nlb": "nlb-abc.cn-hangzhou.nlb.aliyuncs.com"}}
    assert run.outputs["loadBalancers"]["shop/shop-web"]["nlb"]["listeners"] == ["tcp:443", "udp:53"]


def test_no_controller_builds_a_second_load_balancer(hybrid, plan):
    service = plan(hybrid).named("shop/shop-web/service")
    assert service.inputs["spec"]["loadBalancerClass"] == ann.PULUMI_CLASS
    assert ann.SERVER_GROUP_TYPE not in service.inputs["metadata"]["annotations"]
    assert ann.ZONE_MAPS not in service.inputs["metadata"]["annotations"]


def test_nlb_instance_groups_sync_nodes_on_the_node_port(hybrid, plan):
    hybrid["nodePools"][0]["labels"] = {"k8s-svc": "cube"}  # only the cloud pool stays `tier: web`
    hybrid["services"][0]["loadBalancer"] |= {"serverGroupType": "Instance"}
    run = plan(hybrid, preview=False, after_apply=apply_state)
    sync = run.named("shop/shop-web/nlb/backends/tcp-443")
    assert sync.inputs["mode"] == "local" and sync.inputs["serverType"] == "Ecs" and sync.inputs["port"] == 31000
    assert run.named("shop/shop-web/nlb/server-group/tcp-443").inputs["serverGroupType"] == "Instance"
    assert sync.inputs["pools"] == ["np-cloud"]


@pytest.fixture
def shop(config):
    """shop-api on a CLB in the cloud pool (Local), edge-cache on a CLB for edge pods (Cluster)."""
    config["nodePools"].append(cloud_pool("np-web", zones=("cn-hangzhou-i",), site="cloud"))
    config["services"] = [
        {"name": "shop-api", "selector": {"app": "api"}, "ports": [{"name": "http", "port": 80, "listener": "http"}],
         "externalTrafficPolicy": "Local", "nodePoolSelector": {"site": "cloud"},
         "loadBalancer": {"type": "clb", "management": "pulumi", "podLevelBalancing": True}},
        {"name": "edge-cache", "selector": {"app": "cache"}, "ports": [{"name": "cache", "port": 6379}],
         "externalTrafficPolicy": "Cluster", "nodePoolSelector": {"k8s-svc": "cube"},
         "loadBalancer": {"type": "clb", "management": "pulumi", "addressType": "intranet"}}]
    return config


def test_clb_listener_forwards_to_the_node_port_and_checks_local_health(shop, plan):
    run = plan(shop, stack="prod", preview=False, after_apply=apply_state)
    lb = run.named("default/shop-api/clb/loadbalancer")
    assert lb.type == "alicloud:slb/applicationLoadBalancer:ApplicationLoadBalancer"
    assert lb.inputs["addressType"] == "internet" and lb.inputs["deleteProtection"] == "on"
    assert lb.options["protect"] is True
    listener = run.named("default/shop-api/clb/listener/http-80")
    assert listener.inputs["frontendPort"] == 80 and listener.inputs["backendPort"] == 31000
    assert listener.inputs["protocol"] == "http" and listener.inputs["scheduler"] == "wrr"
    assert listener.inputs["healthCheckUri"] == "/healthz" and listener.inputs["healthCheckConnectPort"] == 32500
    sync = run.named("default/shop-api/clb/backends/http-80")
    assert {k: sync.inputs[k] for k in ("kind", "mode", "pools", "port", "serverType")} == {
        "kind": "clb", "mode": "local", "pools": ["np-web"], "port": 31000, "serverType": "ecs"}
    assert run.outputs["externalIps"]["default/shop-api"] == {"clb": "47.96.0.10"}


def test_edge_pods_behind_a_clb_are_reached_through_the_cloud_nodes(shop, plan):
    run = plan(shop, preview=False, after_apply=apply_state)
    sync = run.named("default/edge-cache/clb/backends/tcp-6379")
    # The Service's pods run in ENS pools; the CLB's backends are the cloud pools' ECS nodes.
    assert sync.inputs["mode"] == "cluster" and sync.inputs["pools"] == ["np-cloud", "np-web"]
    lb = run.named("default/edge-cache/clb/loadbalancer")
    assert lb.inputs["addressType"] == "intranet" and lb.inputs["vswitchId"] == "vsw-cnhangzhoui"
    listener = run.named("default/edge-cache/clb/listener/tcp-6379")
    assert listener.inputs["healthCheckType"] == "tcp" and "healthCheckConnectPort" not in listener.inputs


@pytest.mark.parametrize("feature", [{"preserveClientIp": True}, {"persistenceTimeout": 600}])
def test_the_policy_table_holds_for_pulumi_owned_load_balancers(hybrid, load, feature):
    hybrid["services"][0]["loadBalancer"] |= feature
    load(hybrid)  # Local: source IP and session persistence are available
    hybrid["services"][0]["externalTrafficPolicy"] = "Cluster"
    with pytest.raises(ConfigError) as caught:
        validate(hybrid, "test")
    assert "externalTrafficPolicy: Local" in str(caught.value)


def test_clb_without_any_cloud_pool_is_refused(config, load):
    config["nodePools"] = config["nodePools"][:2]
    config["services"][0] |= {"externalTrafficPolicy": "Cluster",
                              "loadBalancer": {"type": "clb", "management": "pulumi"}}
    with pytest.raises(ConfigError) as caught:
        load(config)
    assert "services[0].loadBalancer.type = clb" in str(caught.value) and "cloud pool" in str(caught.value)
