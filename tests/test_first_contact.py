"""The first-contact defects, each played through the engine harness against the emulated cloud and cluster.

Each test failed before its fix: the step it asserts was an engine error, a wrong step, or a wrong
object in the cloud or the cluster.
"""

from __future__ import annotations

import copy

import pytest

from contracts.registry import contract_for
from tests.engine.engine import Engine
from tests.engine.stacks import example, variants
from tests.engine.world import stack_world

VARIANTS = variants()
HTTP = "alicloud:ens/loadBalancerHttpListener:LoadBalancerHttpListener"
UDP = "alicloud:ens/loadBalancerUdpListener:LoadBalancerUdpListener"
UNKNOWN = "(known after apply)"


def run(raw, stack="test", **world_options):
    """(world, engine) with the stack applied once."""
    context = stack_world(raw, stack, **world_options)
    world = context.__enter__()
    engine = Engine(world.world, raw, stack=stack)
    engine.up()
    return context, world, engine


@pytest.fixture
def applied(request):
    contexts = []

    def apply(raw, stack="test", **options):
        context, world, engine = run(raw, stack, **options)
        contexts.append(context)
        return world, engine

    yield apply
    for context in contexts:
        context.__exit__(None, None, None)


def elb(world, pool):
    """The ENS ELB of a pool in the emulator (ECM's name format: `k8s/<svc>/<ns>/<pool>/<cluster>`)."""
    (found,) = [lb for lb in world.cloud.ens.load_balancers.values() if f"/{pool}/" in lb["LoadBalancerName"]]
    return found


# --- 1. Check with unknowns ------------------------------------------------------------------------

def test_a_first_preview_sends_unknown_ids_and_ports_to_check_and_passes():
    raw = VARIANTS["elb-pulumi-local-all-listeners"]
    with stack_world(raw) as world:
        preview = Engine(world.world, raw).preview()
    tcp = preview.run.named("default/cube-svc/elb/np-hefei/listener/tcp-80")
    assert tcp.inputs["loadBalancerId"] == UNKNOWN and tcp.inputs["backendServerPort"] == UNKNOWN
    assert preview.run.named("default/cube-svc/elb/np-hefei/eip-address").inputs["allocationId"] == UNKNOWN
    assert preview.run.named("default/cube-svc/elb/np-hefei/backends").inputs["groupId"] == UNKNOWN
    # Two listeners (TCP, HTTPS), the EIP address and the backends per pool: each checked by the host.
    checked = [urn for method, urn in preview.dynamic_calls if method == "Check"]
    assert len(checked) == len(set(checked)) == 8


def test_a_first_preview_of_a_clb_sends_an_unknown_node_port_to_backend_sync():
    raw = VARIANTS["clb-pulumi-cluster"]
    with stack_world(raw) as world:
        preview = Engine(world.world, raw).preview()
    assert preview.run.named("default/cube-svc/clb/backends/http-80").inputs["port"] == UNKNOWN


# --- 2. HTTP listener status, 3. cloud names --------------------------------------------------------

def test_http_listeners_are_started_with_the_status_their_provider_validates(applied):
    world, engine = applied(VARIANTS["elb-pulumi-local-all-listeners"])
    listeners = elb(world, "np-hefei")["_listeners"]
    assert listeners[("http", 8000)]["Status"] == "Running" and listeners[("udp", 53)]["Status"] == "Running"
    assert engine.state.named("default/cube-svc/elb/np-hefei/listener/http-8000").inputs["status"] == "running"
    refused = contract_for(HTTP).check({"loadBalancerId": "lb-1", "listenerPort": 80, "status": "Running"})
    assert refused == [("status", "expected status to be one of ['running', 'stopped'], got 'Running'")]


def test_nlb_and_clb_names_are_what_their_apis_take(applied):
    world, _ = applied(example("hybrid"), "hybrid")
    names = [lb["LoadBalancerName"] for lb in world.cloud.nlb.load_balancers.values()]
    names += [lb["LoadBalancerName"] for lb in world.cloud.slb.load_balancers.values()]
    assert len(names) == 3 and all("/" not in n and n.startswith("k8s.") for n in names), names
    old_style = contract_for("alicloud:nlb/loadBalancer:LoadBalancer").check(
        {"addressType": "Internet", "vpcId": "vpc-1", "zoneMappings": [{}, {}],
         "loadBalancerName": "k8s/shop-web/shop/nlb/c9e8"})
    assert old_style and old_style[0][0] == "loadBalancerName"


# --- 4. PoolService and NodePool patches never create -----------------------------------------------

def test_the_binding_waits_for_ecm_s_pool_service_and_patches_it_without_creating_one(applied):
    world, _ = applied(example("edge"), "edge", ecm_after_reads=2)  # ECM answers late
    for pool in ("np-hefei", "np-chengdu"):
        ps = world.kube.custom_object("poolservices", f"cube-api-{pool}", "default")
        assert ps["metadata"]["labels"]["poolservice.openyurt.io/managed-by"] == "load-balancer-set-controller"
        assert ps["metadata"]["annotations"]["service.beta.kubernetes.io/alibaba-cloud-loadbalancer-id"].startswith("lb-")
    writes = [(r.method, r.content_type) for r in world.kube.requests if "poolservices" in r.path or "nodepools" in r.path
              if r.method != "GET"]
    assert writes and set(writes) == {("PATCH", "application/merge-patch+json")}, writes


# --- 5. carriers, 6. regions ----------------------------------------------------------------------

def test_each_region_s_eip_has_that_region_s_carrier(applied):
    world, _ = applied(example("edge"), "edge")
    carriers = {eip["EnsRegionId"]: eip["Isp"] for eip in world.cloud.ens.eips.values()}
    assert carriers == {"cn-hefei-cmcc-2": "cmcc", "cn-chengdu-telecom-4": "telecom"}


def test_nlb_and_clb_are_created_in_the_cluster_s_region_with_no_alicloud_region_set(applied):
    world, engine = applied(example("hybrid"), "hybrid")
    assert "alicloud:region" not in world.world.provider_config  # the default provider would use cn-beijing
    assert {lb["RegionId"] for lb in world.cloud.nlb.load_balancers.values()} == {"cn-hangzhou"}
    assert {lb["RegionId"] for lb in world.cloud.slb.load_balancers.values()} == {"cn-hangzhou"}
    provider = engine.state.named("alicloud-cn-hangzhou")
    assert provider.inputs["region"] == "cn-hangzhou"
    regional = [r for r in engine.state if r.type.startswith(("alicloud:nlb", "alicloud:slb"))]
    assert regional and {r.provider.rsplit("::", 1)[0] for r in regional} == {provider.urn}


# --- 7. the Service's class, 8. same-port listeners, 9. rename in place ------------------------------

def test_switching_management_replaces_the_service_deleting_it_first(applied):
    raw = example("dev", drain=0)
    world, engine = applied(raw, "dev")
    changed = copy.deepcopy(raw)
    changed["services"][0]["loadBalancer"] = {"type": "elb", "management": "pulumi", "drainSeconds": 0}
    engine.config = changed
    preview = engine.preview()
    step = preview.step("default/cube-svc/service")
    assert (step.op, step.keys, step.delete_before_replace) == ("replace", ("spec.loadBalancerClass",), True)
    engine.up()
    assert world.kube.services[("default", "cube-svc")]["spec"]["loadBalancerClass"] == "ack-edge-lb/pulumi"
    ops = [(s.op, s.name) for s in engine.last.steps if s.name == "default/cube-svc/service"]
    assert ops == [("delete-replaced", "default/cube-svc/service"), ("replace", "default/cube-svc/service")]


def test_a_new_node_port_replaces_same_port_listeners_deleting_them_first(applied):
    raw = copy.deepcopy(VARIANTS["elb-pulumi-local-all-listeners"])
    for i, port in enumerate(raw["services"][0]["ports"]):
        port["nodePort"] = 30100 + i
    world, engine = applied(raw)
    for i, port in enumerate(raw["services"][0]["ports"]):
        port["nodePort"] = 30200 + i
    engine.up()
    for key in ("http-8000", "udp-53", "tcp-80", "https-443"):
        name = f"default/cube-svc/elb/np-hefei/listener/{key}"
        ops = [s.op for s in engine.last.steps if s.name == name]
        assert ops == ["delete-replaced", "replace"], (key, ops)
    ports = {key: item["BackendServerPort"] for key, item in elb(world, "np-hefei")["_listeners"].items()}
    assert ports == {("tcp", 80): 30200, ("udp", 53): 30201, ("http", 8000): 30202, ("https", 443): 30203}


def test_a_clb_listener_on_a_new_node_port_is_replaced_deleting_it_first(applied):
    raw = copy.deepcopy(VARIANTS["clb-pulumi-cluster"])
    raw["services"][0]["ports"][0]["nodePort"] = 30100
    world, engine = applied(raw)
    raw["services"][0]["ports"][0]["nodePort"] = 30101
    engine.up()
    ops = [s.op for s in engine.last.steps if s.name == "default/cube-svc/clb/listener/http-80"]
    assert ops == ["delete-replaced", "replace"]


def test_renaming_an_elb_updates_it_in_place_and_keeps_its_address(applied):
    raw = copy.deepcopy(VARIANTS["elb-pulumi-cluster"])
    world, engine = applied(raw)
    before = elb(world, "np-hefei")["LoadBalancerId"]
    raw["cluster"]["id"] = "c0123456789abcdee"  # every cloud name carries the cluster id
    preview = engine.preview()
    step = preview.step("default/cube-svc/elb/np-hefei/loadbalancer")
    assert (step.op, step.keys) == ("update", ("loadBalancerName",))
    assert preview.step("default/cube-svc/elb/np-hefei/eip").op == "update"
    engine.up()
    assert elb(world, "np-hefei")["LoadBalancerId"] == before
    assert elb(world, "np-hefei")["LoadBalancerName"].endswith("/c0123456789abcdee")


def test_a_new_spec_still_replaces_the_elb(applied):
    raw = copy.deepcopy(VARIANTS["elb-pulumi-cluster"])
    world, engine = applied(raw)
    raw["services"][0]["loadBalancer"]["spec"] = "elb.s2.small"
    step = engine.preview().step("default/cube-svc/elb/np-hefei/loadbalancer")
    assert (step.op, step.keys) == ("replace", ("loadBalancerSpec",))


# --- 10. protect the whole regional component ------------------------------------------------------

def test_a_protected_pool_leaving_the_selector_deletes_nothing(applied):
    raw = copy.deepcopy(VARIANTS["elb-pulumi-local-all-listeners"])
    raw["protect"] = True
    world, engine = applied(raw)
    chengdu = elb(world, "np-chengdu")
    listeners, backends = dict(chengdu["_listeners"]), list(chengdu["_backends"])
    raw["nodePools"][1]["labels"] = {"k8s-svc": "elsewhere"}
    result = engine.up(check=False)
    assert result.error is not None and "cannot be deleted because it is protected" in str(result.error)
    assert not result.ops("delete")
    assert chengdu["_listeners"] == listeners and chengdu["_backends"] == backends
    destroy = engine.destroy(check=False)
    assert destroy.error is not None and not destroy.ops("delete")
    assert len(world.cloud.ens.load_balancers) == 2 and len(world.cloud.ens.eips) == 2


# --- 11. HTTPS listeners are stopped to change them ------------------------------------------------

def test_changing_an_https_listener_stops_it_first_and_starts_it_again(applied):
    raw = copy.deepcopy(VARIANTS["elb-pulumi-local-all-listeners"])
    world, engine = applied(raw)
    world.cloud.log.clear()
    raw["services"][0]["loadBalancer"]["healthCheck"] = {"interval": 7}
    engine.up()
    lb = elb(world, "np-hefei")["LoadBalancerId"]
    https = [c.action for c in world.cloud.log if c.params.get("LoadBalancerId") == lb
             and (c.params.get("ListenerProtocol") == "https" or "HTTPS" in c.action)
             and not c.action.startswith("Describe")]
    assert https == ["StopLoadBalancerListener", "SetLoadBalancerHTTPSListenerAttribute", "StartLoadBalancerListener"]
    assert elb(world, "np-hefei")["_listeners"][("https", 443)]["HealthCheckInterval"] == 7


# --- 15. order means nothing, 16. pods without the target port -------------------------------------

def test_reordering_pools_and_vswitches_changes_nothing(applied):
    raw = copy.deepcopy(VARIANTS["elb-pulumi-local-all-listeners"])
    raw["services"][0]["workload"] = {"name": "cube", "image": "registry.example.com/cube:1.0"}
    for pool in raw["nodePools"]:
        if "ens" in pool:
            pool["ens"]["vswitchIds"] += [pool["ens"]["vswitchIds"][0] + "b"]
    world, engine = applied(raw)
    raw["nodePools"].reverse()
    for pool in raw["nodePools"]:
        if "ens" in pool:
            pool["ens"]["vswitchIds"].reverse()
    assert engine.up().changes == []


def test_pods_without_the_named_target_port_are_left_out_and_counted(applied):
    world, engine = applied(VARIANTS["nlb-pulumi-ip"], portless=1)
    (group,) = world.cloud.nlb.server_groups.values()
    assert group["_servers"] and all(s["Port"] == 8080 for s in group["_servers"])
    assert "172.31.0.10" not in {s["ServerId"] for s in group["_servers"]}
    sync = engine.state.named("default/cube-svc/nlb/backends/tcp-443")
    assert sync.outputs["counts"]["withoutPort"] == 1


# --- changes that are updates in place ---------------------------------------------------------------

def test_eip_bandwidth_changes_in_place(applied):
    raw = copy.deepcopy(VARIANTS["elb-pulumi-local-all-listeners"])
    world, engine = applied(raw)
    raw["services"][0]["loadBalancer"]["eip"]["bandwidth"] = 50
    engine.up()
    assert engine.last.step("default/cube-svc/elb/np-hefei/eip").op == "update"
    assert {eip["Bandwidth"] for eip in world.cloud.ens.eips.values()} == {50}
