"""Pulumi-owned ELBs under the Pulumi SDK's mocks: per pool the exact resources, names, regions, parents,
and how a changed stack plans (replace vs update), comparing two runs of the program."""

from __future__ import annotations

import copy

import pytest

from components import annotations as ann
from plan.diff import diff_runs
from plan.render import is_object_patch

ELB = "alicloud:ens/loadBalancer:LoadBalancer"
EIP = "alicloud:ens/eip:Eip"
ATTACHMENT = "alicloud:ens/eipInstanceAttachment:EipInstanceAttachment"
LISTENER = "pulumi-python:dynamic/ens:Listener"
EIP_ADDRESS = "pulumi-python:dynamic/ens:EipAddress"
BACKEND_SYNC = "pulumi-python:dynamic/backends:BackendSync"
UDP = "alicloud:ens/loadBalancerUdpListener:LoadBalancerUdpListener"
HTTP = "alicloud:ens/loadBalancerHttpListener:LoadBalancerHttpListener"
CLUSTER_ID = "c0123456789abcdef"


@pytest.fixture
def owned(config):
    """The cube service with Pulumi owning ELB, EIP and listeners (TCP 80, UDP 53)."""
    svc = config["services"][0]
    svc["loadBalancer"] = {"type": "elb", "management": "pulumi", "eip": {"bandwidth": 20}}
    svc["ports"].append({"name": "dns", "port": 53, "protocol": "UDP"})
    return config


def node_ports(args):
    """Kubernetes allocates NodePorts and, under `Local`, a healthCheckNodePort."""
    if args.typ == "kubernetes:core/v1:Service":
        spec = dict(args.inputs["spec"])
        spec["ports"] = [dict(p, nodePort=30000 + i) for i, p in enumerate(spec["ports"])]
        spec["healthCheckNodePort"] = 32100
        return {"spec": spec}
    if args.typ == EIP_ADDRESS:
        return {"ipAddress": "47.100.0.1", "status": "InUse"}
    return {}


def test_each_pool_gets_its_elb_eip_and_attachment(owned, plan):
    run = plan(owned)
    for pool, region, isp in (("np-hefei", "cn-hefei-cmcc-2", "cmcc"), ("np-chengdu", "cn-chengdu-telecom-4", "telecom")):
        base = f"default/cube-svc/elb/{pool}"
        component = run.named(base)
        assert component.type == "ack-edge-lb:elb:RegionalElb" and component.parent == "default/cube-svc"
        elb = run.named(f"{base}/loadbalancer")
        assert elb.type == ELB and elb.parent == base
        assert elb.inputs == {
            "loadBalancerName": f"k8s/cube-svc/default/{pool}/{CLUSTER_ID}", "ensRegionId": region,
            "networkId": f"n-{pool.replace('-', '')}", "vswitchId": f"vsw-{pool.replace('-', '')}",
            "loadBalancerSpec": "elb.s2.small", "paymentType": "PayAsYouGo"}
        # The provider's force-new inputs decide what replaces an ELB (a rename does not), and the whole
        # regional component is protected or not, children included.
        assert "replaceOnChanges" not in elb.options
        assert elb.options["ignoreChanges"] == ["backendServers"]
        eip = run.named(f"{base}/eip")
        assert eip.type == EIP and eip.inputs == {
            "eipName": f"k8s/cube-svc/default/{pool}/{CLUSTER_ID}", "ensRegionId": region, "bandwidth": 20,
            "internetChargeType": "95BandwidthByMonth", "isp": isp, "paymentType": "PayAsYouGo"}
        attachment = run.named(f"{base}/eip-attachment")
        assert attachment.type == ATTACHMENT and attachment.inputs["instanceType"] == "SlbInstance"
        assert attachment.options == {"deleteBeforeReplace": True}
    assert len(run.of_type(ELB)) == 2 and len(run.of_type(EIP)) == 2


def test_pulumi_mode_service_is_left_alone_by_ecm(owned, plan):
    run = plan(owned)
    service = run.named("default/cube-svc/service")
    assert service.inputs["spec"]["loadBalancerClass"] == ann.PULUMI_CLASS
    assert service.inputs["metadata"]["annotations"] == {"pulumi.com/skipAwait": "true",
                                                         ann.TOPOLOGY_KEYS: ann.TOPOLOGY_NODEPOOL}
    assert not [r for r in run.resources if is_object_patch(r)]


def test_listeners_follow_ports_with_documented_defaults(owned, plan):
    run = plan(owned, preview=False, after_apply=node_ports)
    tcp = run.named("default/cube-svc/elb/np-hefei/listener/tcp-80")
    assert tcp.type == LISTENER
    assert tcp.inputs["protocol"] == "tcp" and tcp.inputs["listenerPort"] == 80
    assert tcp.inputs["backendServerPort"] == 30000  # the Service's NodePort
    assert tcp.inputs["attributes"] == {
        "Description": f"k8s/80/cube-svc/default/{CLUSTER_ID}", "Scheduler": "rr", "PersistenceTimeout": 0,
        "EstablishedTimeout": 500, "HealthyThreshold": 3, "UnhealthyThreshold": 3, "HealthCheckInterval": 2,
        "HealthCheckConnectTimeout": 5,
        # Local: kube-proxy's healthCheckNodePort answers 503 on nodes without a local pod.
        "HealthCheckType": "http", "HealthCheckURI": "/healthz", "HealthCheckConnectPort": 32100,
    }
    udp = run.named("default/cube-svc/elb/np-hefei/listener/udp-53")
    assert udp.type == UDP
    assert udp.inputs["backendServerPort"] == 30001 and udp.inputs["status"] == "Running"
    assert udp.inputs["scheduler"] == "rr" and udp.inputs["establishedTimeout"] == 500
    assert "healthCheckConnectPort" not in udp.inputs


def test_cluster_policy_checks_the_node_port_itself(owned, plan):
    owned["services"][0]["externalTrafficPolicy"] = "Cluster"
    owned["services"][0]["loadBalancer"]["healthCheck"] = {"type": "tcp", "interval": 5}
    tcp = plan(owned, preview=False, after_apply=node_ports).named("default/cube-svc/elb/np-hefei/listener/tcp-80")
    assert tcp.inputs["attributes"]["HealthCheckType"] == "tcp"
    assert "HealthCheckConnectPort" not in tcp.inputs["attributes"]
    assert tcp.inputs["attributes"]["HealthCheckInterval"] == 5


def test_http_and_https_listeners(owned, plan):
    owned["services"][0]["ports"] = [
        {"name": "web", "port": 80, "listener": "http"},
        {"name": "tls", "port": 443, "listener": "https", "certificateId": "cert-123"}]
    run = plan(owned, preview=False, after_apply=node_ports)
    http = run.named("default/cube-svc/elb/np-hefei/listener/http-80")
    assert http.type == HTTP
    assert http.inputs["healthCheck"] == "on" and http.inputs["healthCheckUri"] == "/healthz"
    assert http.inputs["status"] == "running"  # validated lower case by the provider; UDP takes "Running"
    assert http.options["deleteBeforeReplace"] is True  # a new NodePort replaces it on the same port
    assert http.inputs["healthCheckConnectPort"] == 32100
    https = run.named("default/cube-svc/elb/np-hefei/listener/https-443")
    assert https.type == LISTENER and https.inputs["protocol"] == "https"
    assert https.inputs["attributes"]["ServerCertificateId"] == "cert-123"


def test_outputs_give_one_address_per_region(owned, plan):
    outputs = plan(owned, preview=False, after_apply=node_ports).outputs
    assert outputs["externalIps"] == {"default/cube-svc": {"cn-chengdu-telecom-4": "47.100.0.1",
                                                           "cn-hefei-cmcc-2": "47.100.0.1"}}
    assert outputs["externalIp"] == {"default/cube-svc": "47.100.0.1,47.100.0.1"}
    regions = outputs["loadBalancers"]["default/cube-svc"]
    assert regions["cn-hefei-cmcc-2"] == {"elbId": "default/cube-svc/elb/np-hefei/loadbalancer-id",
                                          "address": "47.100.0.1", "listeners": ["tcp:80", "udp:53"]}


def test_user_mode_creates_what_it_does_not_adopt(config, plan):
    config["services"][0]["loadBalancer"] = {"type": "elb", "management": "user", "elbIds": {"np-hefei": "lb-hefei01"}}
    run = plan(config, preview=False)
    assert [r.name for r in run.of_type(ELB)] == ["default/cube-svc/elb/np-chengdu/loadbalancer"]
    assert not [r for r in run.resources if "listener" in r.name]  # ECM keeps listeners under `user`
    bindings = {r.name.rsplit("/", 1)[1]: r.inputs["annotations"][ann.LOADBALANCER_ID]
                for r in run.resources if is_object_patch(r) and r.inputs["kind"] == "PoolService"}
    assert bindings == {"np-hefei": "lb-hefei01", "np-chengdu": "default/cube-svc/elb/np-chengdu/loadbalancer-id"}
    assert run.outputs["loadBalancers"]["default/cube-svc"]["cn-hefei-cmcc-2"] == {"elbId": "lb-hefei01",
                                                                                   "adopted": True}
    # ECM still reads the pools: user mode keeps the NodePool patches.
    assert len([r for r in run.resources if is_object_patch(r) and r.inputs["kind"] == "NodePool"]) == 2


@pytest.mark.parametrize("stack, protect, expected", [
    ("prod", None, True), ("prod-eu", None, True), ("dev", None, False), ("dev", True, True), ("prod", False, False)])
def test_protect_defaults_to_prod_stacks(owned, plan, stack, protect, expected):
    if protect is not None:
        owned["protect"] = protect
    run = plan(owned, stack=stack)
    for r in run.of_type(ELB) + run.of_type(EIP):
        assert bool(r.options.get("protect")) is expected, r.name


def changed(plan, config, mutate):
    new = copy.deepcopy(config)
    mutate(new)
    return diff_runs(plan(config), plan(new))


def test_a_new_elb_spec_replaces_each_elb(owned, plan):
    result = changed(plan, owned, lambda c: c["services"][0]["loadBalancer"].update(spec="elb.s3.medium"))
    # The ELB for its spec; as a preview shows it, what takes the new ELB's id in a force-new input with it.
    expected = {}
    for p in ("np-hefei", "np-chengdu"):
        base = f"default/cube-svc/elb/{p}"
        expected |= {f"{base}/loadbalancer": ["loadBalancerSpec"], f"{base}/eip-attachment": ["instanceId"],
                     f"{base}/listener/tcp-80": ["loadBalancerId"], f"{base}/listener/udp-53": ["loadBalancerId"],
                     f"{base}/backends": ["groupId"]}
    assert result.replaced == expected
    assert not result.added and not result.removed
    assert not [name for name in result.replaced if name.endswith("/eip")]  # the public address stays


def test_eip_bandwidth_changes_in_place(owned, plan):
    result = changed(plan, owned, lambda c: c["services"][0]["loadBalancer"]["eip"].update(bandwidth=100))
    assert result.updated == {f"default/cube-svc/elb/{p}/eip": ["bandwidth"] for p in ("np-hefei", "np-chengdu")}
    assert not result.replaced


def test_listeners_follow_the_service_ports(owned, plan):
    def ports(c):
        c["services"][0]["ports"] = [{"name": "http", "port": 80, "targetPort": 8080},
                                     {"name": "alt", "port": 8443, "protocol": "TCP"}]
        c["services"][0]["loadBalancer"]["scheduler"] = "wrr"

    result = changed(plan, owned, ports)
    assert sorted(result.added) == [f"default/cube-svc/elb/{p}/listener/tcp-8443" for p in ("np-chengdu", "np-hefei")]
    assert sorted(result.removed) == [f"default/cube-svc/elb/{p}/listener/udp-53" for p in ("np-chengdu", "np-hefei")]
    assert result.updated["default/cube-svc/elb/np-hefei/listener/tcp-80"] == ["attributes"]
    assert not [name for name in result.replaced if "listener" in name]


def test_a_pool_leaving_the_selector_removes_its_elb(owned, plan):
    result = changed(plan, owned, lambda c: c["nodePools"][1]["labels"].update({"k8s-svc": "other"}))
    assert "default/cube-svc/elb/np-chengdu/loadbalancer" in result.removed
    assert not [name for name in result.removed if "np-hefei" in name]


def test_pulumi_mode_syncs_each_elb_s_backends_from_its_pool(owned, plan):
    owned["services"][0]["loadBalancer"]["drainSeconds"] = 30
    run = plan(owned)
    sync = run.named("default/cube-svc/elb/np-hefei/backends")
    assert sync.type == BACKEND_SYNC and sync.parent == "default/cube-svc/elb/np-hefei"
    assert {k: v for k, v in sync.inputs.items() if k not in ("groupId", "__provider")} == {
        "kind": "ens", "namespace": "default", "service": "cube-svc", "mode": "local", "pools": ["np-hefei"],
        "port": 0, "serverType": "ens", "portName": "http", "drainSeconds": 30,
        "ingress": [{"ip": "(known after apply)"}], "controller": False, "waitSeconds": 300}
    assert sync.inputs["groupId"] == "(known after apply)"  # the ELB's id; the address is the EIP's


def test_user_mode_leaves_backends_to_ecm(config, plan):
    config["services"][0]["loadBalancer"] = {"type": "elb", "management": "user"}
    assert not [r for r in plan(config).resources if r.name.endswith("/backends")]
