"""`management: user` for NLB and CLB under the Pulumi SDK's mocks: Pulumi declares the load balancer, listeners
and server groups as under `pulumi` but no BackendSync, and the Service binds them for CCM (`loadbalancer-id`,
`vgroup-port`), with what CCM reads from such a Service and nothing that would make it reshape Pulumi's resources."""

from __future__ import annotations

import signal

import pytest

from components import annotations as ann
from components import edge_service
from plan.offline import run_program
from stacks.naming import listener_name, nlb_server_group_name
from tests.test_nlb_clb import BACKEND_SYNC, CLUSTER_ID, apply_state

SERVICE = "kubernetes:core/v1:Service"
LB = ann.LB
# Annotations that would make CCM reshape what Pulumi owns on a reused load balancer (ccm.md sections 1-2).
NEVER = (LB + "force-override-listeners", LB + "additional-resource-tags", ann.ZONE_MAPS, LB + "address-type",
         LB + "security-group-ids", LB + "spec", LB + "bandwidth", LB + "loadbalancer-name", LB + "name")


def ccm_owns_vgroup(name: str) -> bool:
    """CLB: CCM takes a VServerGroup for its own, and refuses to bind it, when the name parses as its named key
    (cloud-provider-alibaba-cloud v2.14.0 pkg/model/load_balancer.go:329-341)."""
    parts = name.split("/")
    return len(parts) == 5 and parts[0] == "k8s"


def ccm_owns_server_group(name: str) -> bool:
    """NLB: the same with six `.` parts (pkg/model/nlb/nlb.go:395-411)."""
    parts = name.split(".")
    return len(parts) == 6 and parts[0] == "k8s"


def stack_of(request: pytest.FixtureRequest, kind: str) -> dict:
    """The NLB stack (`hybrid`) or the CLB one (`cache`): both change the one `config` fixture, so one per test."""
    return request.getfixturevalue("hybrid" if kind == "nlb" else "cache")


@pytest.fixture
def hybrid(config):
    """shop-web on an NLB Pulumi builds: pods of the cloud pool and the Hefei ENS pool, registered by IP by CCM."""
    config["nodePools"][2]["labels"] = {"tier": "web"}
    config["nodePools"][0]["labels"] = {"tier": "web", "k8s-svc": "cube"}
    config["cluster"]["ccmVersion"] = "v2.14.0"
    config["services"] = [{
        "name": "shop-web", "namespace": "shop", "selector": {"app": "shop-web"},
        "ports": [{"name": "https", "port": 443, "targetPort": 8443}, {"name": "dns", "port": 53, "protocol": "UDP"}],
        "externalTrafficPolicy": "Local", "nodePoolSelector": {"tier": "web"},
        "loadBalancer": {"type": "nlb", "management": "user", "preserveClientIp": True, "drainSeconds": 30}}]
    return config


@pytest.fixture
def cache(config):
    """edge-cache on a CLB Pulumi builds, for pods of the ENS pools reached through the cloud nodes (Cluster)."""
    config["services"] = [{
        "name": "edge-cache", "selector": {"app": "cache"},
        "ports": [{"name": "web", "port": 80, "targetPort": 8080, "listener": "http"}, {"name": "cache", "port": 6379}],
        "externalTrafficPolicy": "Cluster", "nodePoolSelector": {"k8s-svc": "cube"},
        "loadBalancer": {"type": "clb", "management": "user"}}]
    return config


def test_nlb_user_declares_the_pulumi_nlb_groups_and_listeners_without_backend_sync(hybrid, plan):
    run = plan(hybrid, preview=False, after_apply=apply_state)
    base = "shop/shop-web/nlb"
    assert run.named(base).type == "ack-edge-lb:nlb:NlbExposure"
    lb = run.named(f"{base}/loadbalancer")
    assert lb.inputs["zoneMappings"] == [{"zoneId": "cn-hangzhou-j", "vswitchId": "vsw-cnhangzhouj"},
                                         {"zoneId": "cn-hangzhou-k", "vswitchId": "vsw-cnhangzhouk"}]
    group = run.named(f"{base}/server-group/tcp-443")
    assert {k: group.inputs[k] for k in ("serverGroupType", "protocol", "preserveClientIpEnabled",
                                         "connectionDrainEnabled", "connectionDrainTimeout")} == {
        "serverGroupType": "Ip", "protocol": "TCP", "preserveClientIpEnabled": True, "connectionDrainEnabled": True,
        "connectionDrainTimeout": 30}
    assert group.inputs["serverGroupName"] == nlb_server_group_name(443, "shop-web", "shop", CLUSTER_ID)
    listener = run.named(f"{base}/listener/udp-53")
    assert listener.inputs["serverGroupId"] == f"{base}/server-group/udp-53-id"
    assert not run.of_type(BACKEND_SYNC)  # CCM keeps the servers
    assert run.outputs["loadBalancers"]["shop/shop-web"]["nlb"] == {
        "lbId": f"{base}/loadbalancer-id", "address": "nlb-abc.cn-hangzhou.nlb.aliyuncs.com",
        "listeners": ["tcp:443", "udp:53"]}
    assert run.outputs["externalIps"] == {"shop/shop-web": {"nlb": "nlb-abc.cn-hangzhou.nlb.aliyuncs.com"}}


def test_nlb_user_service_binds_each_port_s_group_for_ccm(hybrid, plan):
    run = plan(hybrid, preview=False, after_apply=apply_state)
    service = run.named("shop/shop-web/service")
    base = "shop/shop-web/nlb"
    assert service.inputs["spec"]["loadBalancerClass"] == ann.NLB_CLASS  # CCM's NLB controller
    assert service.inputs["metadata"]["annotations"] == {
        "pulumi.com/skipAwait": "true",
        LB + "id": f"{base}/loadbalancer-id",
        LB + "vgroup-port": f"{base}/server-group/tcp-443-id:443,{base}/server-group/udp-53-id:53",
        "service.beta.kubernetes.io/backend-type": "eni",
        LB + "server-group-type": "Ip",
    }
    # The Service waits for the load balancer and the groups, so a destroy deletes it first.
    assert set(service.property_dependencies["metadata"]) == {
        f"{base}/loadbalancer", f"{base}/server-group/tcp-443", f"{base}/server-group/udp-53"}
    assert service.options["replaceOnChanges"] == ["spec.loadBalancerClass", f'metadata.annotations["{LB}id"]']
    assert service.options["deleteBeforeReplace"] is True


def test_nlb_user_instance_groups_say_their_type_to_ccm(hybrid, plan):
    hybrid["nodePools"][0]["labels"] = {"k8s-svc": "cube"}  # cloud pods only: ECS nodes on the NodePort
    hybrid["services"][0]["loadBalancer"] |= {"serverGroupType": "Instance"}
    run = plan(hybrid, preview=False, after_apply=apply_state)
    annotations = run.named("shop/shop-web/service").inputs["metadata"]["annotations"]
    # Set, the type must equal the bound group's, or CCM refuses; unset, CCM would not check.
    assert annotations[LB + "server-group-type"] == "Instance"
    assert "service.beta.kubernetes.io/backend-type" not in annotations
    assert run.named("shop/shop-web/nlb/server-group/tcp-443").inputs["serverGroupType"] == "Instance"


def test_clb_user_binds_vserver_groups_ccm_does_not_take_for_its_own(cache, plan):
    run = plan(cache, preview=False, after_apply=apply_state)
    base = "default/edge-cache/clb"
    service = run.named("default/edge-cache/service")
    assert "loadBalancerClass" not in service.inputs["spec"]  # CCM's CLB controller takes class-less Services
    assert service.inputs["metadata"]["annotations"] == {
        "pulumi.com/skipAwait": "true", LB + "id": f"{base}/loadbalancer-id",
        LB + "vgroup-port": f"{base}/server-group/http-80-id:80,{base}/server-group/tcp-6379-id:6379"}
    for key, port in (("http-80", 80), ("tcp-6379", 6379)):
        group = run.named(f"{base}/server-group/{key}")
        assert group.inputs["name"] == nlb_server_group_name(port, "edge-cache", "default", CLUSTER_ID)
        assert not ccm_owns_vgroup(group.inputs["name"])
        listener = run.named(f"{base}/listener/{key}")
        assert listener.inputs["serverGroupId"] == f"{base}/server-group/{key}-id"
        assert listener.inputs["description"] == listener_name(port, "edge-cache", "default", CLUSTER_ID)
    listener = run.named(f"{base}/listener/http-80")
    assert listener.inputs["protocol"] == "http" and listener.inputs["backendPort"] == 31000
    assert not run.of_type(BACKEND_SYNC)
    assert run.outputs["externalIps"]["default/edge-cache"] == {"clb": "47.96.0.10"}


def test_clb_user_under_local_checks_the_health_check_node_port(cache, plan):
    cache["nodePools"][2]["labels"] = {"tier": "web"}
    cache["services"][0] |= {"externalTrafficPolicy": "Local", "nodePoolSelector": {"tier": "web"}}
    run = plan(cache, preview=False, after_apply=apply_state)
    listener = run.named("default/edge-cache/clb/listener/tcp-6379")
    assert listener.inputs["healthCheckConnectPort"] == 32500 and listener.inputs["healthCheckType"] == "http"


@pytest.mark.parametrize("kind", ["nlb", "clb"])
def test_user_groups_never_carry_ccm_s_own_names(request, plan, kind):
    run = plan(stack_of(request, kind), preview=False, after_apply=apply_state)
    groups = run.of_type("alicloud:nlb/serverGroup:ServerGroup" if kind == "nlb" else "alicloud:slb/serverGroup:ServerGroup")
    names = [g.inputs["serverGroupName" if kind == "nlb" else "name"] for g in groups]
    assert names and not any(ccm_owns_server_group(n) or ccm_owns_vgroup(n) for n in names)


def test_the_pulumi_mode_s_clb_groups_keep_their_names(cache, plan):
    cache["services"][0]["loadBalancer"]["management"] = "pulumi"
    run = plan(cache, preview=False, after_apply=apply_state)
    assert run.named("default/edge-cache/clb/server-group/tcp-6379").inputs["name"] == \
        listener_name(6379, "edge-cache", "default", CLUSTER_ID)
    assert run.of_type(BACKEND_SYNC)


@pytest.mark.parametrize("kind", ["nlb", "clb"])
def test_the_binding_is_unknown_in_a_first_preview(request, plan, kind):
    run = plan(stack_of(request, kind))
    service = next(r for r in run.of_type(SERVICE))
    annotations = service.inputs["metadata"]["annotations"]
    assert annotations[LB + "id"] == annotations[LB + "vgroup-port"] == "(known after apply)"


@pytest.mark.parametrize("kind", ["nlb", "clb"])
def test_nothing_makes_ccm_reshape_pulumi_s_load_balancer(request, plan, kind):
    raw = stack_of(request, kind)
    raw["services"][0]["loadBalancer"] |= {"scheduler": "wrr", "healthCheck": {"interval": 5}}
    annotations = next(r for r in plan(raw, preview=False).of_type(SERVICE)).inputs["metadata"]["annotations"]
    assert not set(NEVER) & set(annotations)
    # Listener and health-check settings go to Pulumi's listeners and groups: CCM ignores them on a reused LB.
    assert not [k for k in annotations if k.startswith(LB) and k not in (LB + "id", LB + "vgroup-port",
                                                                           LB + "server-group-type")]


@pytest.mark.parametrize("kind, existing", [("nlb", "nlb-live0001"), ("clb", "lb-live0001")])
def test_user_mode_adopts_an_existing_load_balancer_as_pulumi_mode_does(request, plan, kind, existing):
    raw = stack_of(request, kind)
    raw["services"][0]["loadBalancer"]["adopt"] = {"lb": {"loadBalancerId": existing}}
    run = plan(raw)
    lb = next(r for r in run.resources if r.name.endswith(f"/{kind}/loadbalancer"))
    assert lb.options["import"] == existing


@pytest.mark.parametrize("kind", ["nlb", "clb"])
def test_protect_guards_the_exposure_not_the_service(request, plan, kind):
    run = plan(stack_of(request, kind), stack="prod")
    exposure = next(r for r in run.resources if r.type == f"ack-edge-lb:{kind}:{kind.capitalize()}Exposure")
    assert exposure.options["protect"] is True
    lb = run.named(f"{exposure.name}/loadbalancer")
    assert lb.inputs.get("deletionProtectionEnabled", lb.inputs.get("deleteProtection")) in (True, "on")
    assert not next(r for r in run.of_type(SERVICE)).options.get("protect")


def test_vgroup_port_is_group_colon_service_port_comma_separated():
    assert ann.vgroup_port([("sgp-a", 443), ("sgp-b", 53)]) == "sgp-a:443,sgp-b:53"
    assert ann.vgroup_port([]) == ""


def test_a_failing_exposure_fails_the_program_instead_of_holding_the_service(hybrid, monkeypatch):
    """The Service waits for the binding's deferred outputs: a failure before they resolve must reach them."""
    def no_nlb(*args, **kwargs):
        raise RuntimeError("no NLB today")

    def hung(signum, frame):
        raise TimeoutError("the program waits for ever for the Service's binding")

    monkeypatch.setattr(edge_service, "NlbExposure", no_nlb)
    previous = signal.signal(signal.SIGALRM, hung)
    signal.alarm(30)
    try:
        with pytest.raises(RuntimeError, match="no NLB today"):
            run_program(hybrid, "test", preview=False)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def test_annotation_keys_are_quoted_in_property_paths_as_pulumi_kubernetes_writes_them():
    from contracts import changed_paths, covers
    old = {"metadata": {"annotations": {ann.LOADBALANCER_ID: "nlb-a", "b": "1"}, "labels": {"k8s-svc": "x"}}}
    new = {"metadata": {"annotations": {ann.LOADBALANCER_ID: "nlb-b", "b": "2"}, "labels": {"k8s-svc": "y"}}}
    trigger = f'metadata.annotations["{ann.LOADBALANCER_ID}"]'
    paths = changed_paths(old, new)
    assert sorted(paths) == sorted([trigger, "metadata.annotations.b", "metadata.labels.k8s-svc"])
    assert [p for p in paths if covers(trigger, p)] == [trigger]
    assert covers("metadata.annotations", trigger) and not covers("metadata.annotations.service", trigger)


def _bound(config: dict, kind: str, management: str, port: int = 80) -> dict:
    raw = {**config, "cluster": {**config["cluster"], "ccmVersion": "v2.14.0"},
           "nodePools": [dict(p) for p in config["nodePools"]]}
    raw["nodePools"][2] = {**raw["nodePools"][2], "labels": {"tier": "web"}}
    raw["services"] = [{"name": "web", "selector": {"app": "web"}, "ports": [{"name": "http", "port": port}],
                        "externalTrafficPolicy": "Cluster", "nodePoolSelector": {"tier": "web"},
                        "loadBalancer": {"type": kind, "management": management}}]
    return raw


@pytest.mark.parametrize("kind", ["nlb", "clb"])
def test_the_plan_says_what_ccm_does_with_a_bound_load_balancer(config, kind):
    from plan.diff import diff_runs
    from plan.effects import effects_of

    def effects(before: str, after: str, port: int = 80):
        diff = diff_runs(run_program(_bound(config, kind, before), "test", False),
                         run_program(_bound(config, kind, after, port), "test", False))
        return diff.resources["default/web/service"].op, [e.action for e in effects_of(diff)[0]]

    # ccm -> user: the Service is replaced; CCM deletes the load balancer it built, then fills Pulumi's groups.
    assert effects("ccm", "user") == ("replace", ["delete-lb", "keep-backends"])
    # user -> ccm: CCM drains its backends from Pulumi's groups, deletes nothing, and builds its own.
    assert effects("user", "ccm") == ("replace", ["release-binding", "create-lb"])
    # A new port: Pulumi adds the listener and group; CCM fills the groups the Service now binds.
    assert effects("user", "user", port=81) == ("update", ["rebind"])


@pytest.mark.parametrize("kind, group", [("nlb", "Ip server group"), ("clb", "VServerGroup")])
def test_the_topology_shows_pulumi_s_load_balancer_and_ccm_s_backends(config, kind, group):
    from plan import traffic
    topology = traffic.build(run_program(_bound(config, kind, "user"), "test", False))
    labels = [n.label for n in topology.nodes.values()]
    assert any(f"{kind.upper()}, listeners, groups by Pulumi; backends by CCM" in label for label in labels)
    assert any(label.startswith(group) and label.endswith("kept by CCM") for label in labels)
    assert not any("built by CCM" in label for label in labels)
