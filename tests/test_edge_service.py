"""EdgeService under the Pulumi SDK's mocks: the exact Service, annotations and patches per mode."""

from __future__ import annotations

import pulumi
import pytest

from components import annotations as ann
from plan.offline import Run, run_program
from tests.conftest import cloud_pool

SERVICE = "kubernetes:core/v1:Service"
PATCH = "pulumi-python:dynamic/cluster:ExistingObjectPatch"


def patches(run, kind):
    """The ExistingObjectPatch registrations of one kind (NodePool, PoolService)."""
    return [r for r in run.of_type(PATCH) if r.inputs.get("kind") == kind]
COMPONENT = "ack-edge-lb:edge_service:EdgeService"
LB = ann.LB


def test_ecm_managed_elb_declares_service_and_node_pool_patches(config, plan):
    run = plan(config)

    component = run.named("default/cube-svc")
    assert component.type == COMPONENT and component.parent is None
    assert {r.name for r in run.children("default/cube-svc")} == {
        "default/cube-svc/service", "default/cube-svc/nodepool/np-hefei", "default/cube-svc/nodepool/np-chengdu"}

    service = run.named("default/cube-svc/service")
    assert service.type == SERVICE
    assert service.inputs["metadata"] == {
        "name": "cube-svc", "namespace": "default",
        "annotations": {
            "pulumi.com/skipAwait": "true",
            "service.openyurt.io/nodepool-labelselector": "k8s-svc=cube",
            "openyurt.io/topologyKeys": "openyurt.io/nodepool",
        },
    }
    assert service.inputs["spec"] == {
        "type": "LoadBalancer", "loadBalancerClass": "alibabacloud.com/elb", "externalTrafficPolicy": "Local",
        "selector": {"app": "cube"},
        "ports": [{"name": "http", "port": 80, "targetPort": 80, "protocol": "TCP"}],
    }

    hefei = run.named("default/cube-svc/nodepool/np-hefei")
    # An ExistingObjectPatch: it waits for ACK's NodePool and patches it, never creating one.
    assert hefei.type == PATCH and hefei in patches(run, "NodePool")
    assert {k: hefei.inputs[k] for k in ("apiVersion", "plural", "name", "labels", "annotations")} == {
        "apiVersion": "apps.openyurt.io/v1beta2", "plural": "nodepools", "name": "np-hefei",
        "labels": {"k8s-svc": "cube"},
        "annotations": {
            "alibabacloud.com/ens-network-id": "n-nphefei",
            "alibabacloud.com/ens-region-id": "cn-hefei-cmcc-2",
            "alibabacloud.com/ens-vswitch-id": "vsw-nphefei",
        },
    }
    assert "namespace" not in hefei.inputs  # cluster-scoped
    assert not patches(run, "PoolService")


def test_ecm_annotations_carry_elb_eip_and_listener_settings(config, plan):
    config["nodePools"][1]["labels"] = {"k8s-svc": "api"}  # Hefei only: `eip-isp` applies to every pool's EIP
    config["services"][0]["loadBalancer"] |= {
        "spec": "elb.s1.small", "scheduler": "wlc", "persistenceTimeout": 600, "establishedTimeout": 300,
        "eip": {"bandwidth": 50, "isp": "cmcc"},
        "healthCheck": {"healthyThreshold": 4, "unhealthyThreshold": 5, "interval": 3, "connectTimeout": 6},
    }
    annotations = plan(config).named("default/cube-svc/service").inputs["metadata"]["annotations"]
    assert {k: v for k, v in annotations.items() if k.startswith(LB)} == {
        LB + "spec": "elb.s1.small", LB + "scheduler": "wlc", LB + "persistence-timeout": "600",
        LB + "established-timeout": "300", LB + "eip-bandwidth": "50", LB + "eip-isp": "cmcc",
        LB + "eip-internet-charge-type": "95BandwidthByMonth",
        LB + "healthy-threshold": "4", LB + "unhealthy-threshold": "5",
        LB + "health-check-interval": "3", LB + "health-check-connect-timeout": "6",
    }


def test_local_with_pod_level_balancing_turns_on_wrr(config, plan):
    config["services"][0]["loadBalancer"]["podLevelBalancing"] = True
    annotations = plan(config).named("default/cube-svc/service").inputs["metadata"]["annotations"]
    assert annotations[LB + "scheduler"] == "wrr"


def test_topology_off_drops_the_topology_key(config, plan):
    config["services"][0]["topology"] = False
    annotations = plan(config).named("default/cube-svc/service").inputs["metadata"]["annotations"]
    assert ann.TOPOLOGY_KEYS not in annotations


def test_self_managed_elb_binds_each_pool_service(config, plan):
    config["services"][0]["loadBalancer"] = {
        "type": "elb", "management": "user", "elbIds": {"np-hefei": "lb-hefei01", "np-chengdu": "lb-chengdu01"}}
    run = plan(config)
    annotations = run.named("default/cube-svc/service").inputs["metadata"]["annotations"]
    assert annotations[ann.MANAGED_BY_USER] == "true"
    assert ann.FORCE_OVERRIDE_LISTENERS not in annotations
    assert not any("eip" in k for k in annotations)

    bindings = {r.name: r for r in patches(run, "PoolService")}
    assert set(bindings) == {"default/cube-svc/poolservice/np-hefei", "default/cube-svc/poolservice/np-chengdu"}
    hefei = bindings["default/cube-svc/poolservice/np-hefei"]
    assert hefei.parent == "default/cube-svc"
    assert hefei.inputs["apiVersion"] == "network.openyurt.io/v1alpha1"
    assert (hefei.inputs["name"], hefei.inputs["namespace"]) == ("cube-svc-np-hefei", "default")
    assert hefei.inputs["annotations"] == {ann.LOADBALANCER_ID: "lb-hefei01"}
    assert hefei.inputs["waitSeconds"] == 300  # ECM creates it after the Service: the binding waits, bounded


def test_shared_elb_forces_listener_override(config, plan):
    shared = {"type": "elb", "management": "user", "shared": True,
              "elbIds": {"np-hefei": "lb-hefei01", "np-chengdu": "lb-chengdu01"}}
    config["services"][0] |= {"externalTrafficPolicy": "Cluster", "loadBalancer": dict(shared)}
    second = dict(config["services"][0], name="cube-api", selector={"app": "cube-api"},
                  ports=[{"name": "api", "port": 8080, "protocol": "TCP"}])
    config["services"].append(second)
    run = plan(config)
    for name in ("default/cube-svc/service", "default/cube-api/service"):
        annotations = run.named(name).inputs["metadata"]["annotations"]
        assert annotations[ann.FORCE_OVERRIDE_LISTENERS] == "true"
        assert run.named(name).inputs["spec"]["externalTrafficPolicy"] == "Cluster"
    assert len(patches(run, "PoolService")) == 4


def test_nlb_registers_pods_as_ip_backends(config, plan):
    config["services"] = [{
        "name": "web", "selector": {"app": "web"}, "ports": [{"port": 443}],
        "externalTrafficPolicy": "Local", "loadBalancer": {"type": "nlb", "management": "ccm"}}]
    run = plan(config)
    service = run.named("default/web/service")
    assert service.inputs["spec"]["loadBalancerClass"] == "alibabacloud.com/nlb"
    assert service.inputs["metadata"]["annotations"] == {
        "pulumi.com/skipAwait": "true",
        "service.beta.kubernetes.io/backend-type": "eni",
        LB + "server-group-type": "Ip",
        LB + "zone-maps": "cn-hangzhou-j:vsw-cnhangzhouj,cn-hangzhou-k:vsw-cnhangzhouk",
    }
    assert not patches(run, "NodePool")


def test_clb_is_a_plain_load_balancer_service(config, plan):
    config["nodePools"].append(cloud_pool("np-web", zones=("cn-hangzhou-i",), tier="web"))
    config["services"] = [{
        "name": "shop", "selector": {"app": "shop"}, "ports": [{"port": 80, "targetPort": 8080}],
        "nodePoolSelector": {"tier": "web"}, "externalTrafficPolicy": "Local",
        "loadBalancer": {"type": "clb", "management": "ccm", "scheduler": "wrr",
                         "healthCheck": {"type": "http", "uri": "/healthz"}}}]
    spec_and_meta = plan(config).named("default/shop/service").inputs
    assert "loadBalancerClass" not in spec_and_meta["spec"]
    assert spec_and_meta["spec"]["ports"] == [{"port": 80, "targetPort": 8080, "protocol": "TCP"}]
    annotations = spec_and_meta["metadata"]["annotations"]
    assert annotations[LB + "scheduler"] == "wrr"
    assert annotations[LB + "health-check-type"] == "http"
    assert annotations[LB + "health-check-uri"] == "/healthz"
    assert ann.NODEPOOL_SELECTOR not in annotations


def test_demo_workload_runs_in_the_matched_pools(config, plan):
    config["services"][0]["workload"] = {"name": "cube", "image": "registry.example.com/cube:1.0"}
    daemonset = plan(config).named("default/cube-svc/workload")
    assert daemonset.parent == "default/cube-svc"
    pod = daemonset.inputs["spec"]["template"]
    assert pod["metadata"]["labels"] == {"app": "cube"}
    term = pod["spec"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    assert term["nodeSelectorTerms"][0]["matchExpressions"] == [
        {"key": "apps.openyurt.io/nodepool", "operator": "In", "values": ["np-chengdu", "np-hefei"]}]
    assert pod["spec"]["containers"][0]["ports"] == [{"containerPort": 80, "protocol": "TCP"}]


def test_preview_leaves_addresses_unknown(config, plan):
    outputs = plan(config).outputs
    assert outputs["externalIp"] == {"default/cube-svc": "(known after apply)"}
    assert outputs["nodePools"] == {"default/cube-svc": ["np-chengdu", "np-hefei"]}


def test_outputs_expose_the_addresses_ecm_writes(config, plan):
    def ecm(args):  # ECM fills one ingress IP per region into the Service status
        if args.typ == SERVICE:
            return {"status": {"loadBalancer": {"ingress": [{"ip": "47.1.1.1"}, {"ip": "47.2.2.2"}]}}}
        return {}

    outputs = plan(config, preview=False, after_apply=ecm).outputs
    assert outputs["externalIp"] == {"default/cube-svc": "47.1.1.1,47.2.2.2"}
    assert outputs["externalIps"] == {"default/cube-svc": ["47.1.1.1", "47.2.2.2"]}


def test_addresses_are_empty_until_a_controller_writes_them(config, plan):
    outputs = plan(config, preview=False).outputs
    assert outputs["externalIp"] == {"default/cube-svc": ""}


def test_invalid_configuration_stops_before_anything_is_declared(config, plan):
    config["services"][0]["loadBalancer"]["eip"] = {"bandwidth": 1}
    run = Run(stack="test", preview=True)
    with pytest.raises(pulumi.RunError) as caught:
        run_program(config, "test", run=run)
    assert run.resources == []
    assert "services[0].loadBalancer.eip.bandwidth" in str(caught.value)
    assert "Traceback" not in str(caught.value)


def test_configuration_warnings_reach_the_engine_log(config, plan):
    warnings = plan(config).warnings
    assert any("deletes that pool's ELB and EIP" in w for w in warnings)


def test_a_misspelt_project_key_is_reported_in_a_pulumi_run(config, plan):
    config["servics"] = config.pop("services")
    with pytest.raises(pulumi.RunError) as caught:
        plan(config)
    assert "servics" in str(caught.value) and "services" in str(caught.value)


def test_a_stack_without_services_declares_nothing(config, plan):
    config["services"] = []
    run = plan(config)
    assert run.resources == []
    assert run.outputs == {"externalIp": {}, "externalIps": {}, "nodePools": {}, "loadBalancers": {}}
