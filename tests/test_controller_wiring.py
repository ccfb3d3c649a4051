"""The program wires the in-cluster controller into every backend group Pulumi owns: under the SDK's mocks, each
BackendSync (ELB, NLB, CLB under `management: pulumi`) hands its group to the controller (`controller: true`)
and waits for the controller's CRD and Deployment; without a controller its inputs and dependencies are as
they were."""

from __future__ import annotations

import copy

import pytest

from plan.offline import Registration, Run
from plan.topology import mermaid
from stacks.load import validate
from tests.conftest import cloud_pool
from tests.test_controller import IMAGE

BACKEND_SYNC = "pulumi-python:dynamic/backends:BackendSync"
CONTROLLER = {"enabled": True, "image": IMAGE, "credentials": {"rrsa": {"roleName": "ack-edge-lb-controller"}}}
WAITS_FOR = {"controller/crd", "controller/deployment"}
# One BackendSync per ELB pool, per NLB port, per CLB port.
SYNCS = {"default/cube-svc/elb/np-hefei/backends", "default/cube-svc/elb/np-chengdu/backends",
         "shop/shop-web/nlb/backends/tcp-443", "shop/shop-web/nlb/backends/udp-53",
         "default/shop-api/clb/backends/http-80"}


@pytest.fixture
def owned(config):
    """Every kind of Pulumi-owned group: an ELB per ENS pool, an NLB with IP groups, a CLB of cloud nodes."""
    config["nodePools"][0]["labels"] = {"k8s-svc": "cube", "tier": "web"}
    config["nodePools"][2]["labels"] = {"tier": "web"}
    config["nodePools"].append(cloud_pool("np-web", zones=("cn-hangzhou-k",), site="cloud"))
    config["services"][0]["loadBalancer"] = {"type": "elb", "management": "pulumi"}
    config["services"] += [
        {"name": "shop-web", "namespace": "shop", "selector": {"app": "shop-web"},
         "ports": [{"name": "https", "port": 443, "targetPort": 8443}, {"name": "dns", "port": 53, "protocol": "UDP"}],
         "externalTrafficPolicy": "Local", "nodePoolSelector": {"tier": "web"},
         "loadBalancer": {"type": "nlb", "management": "pulumi"}},
        {"name": "shop-api", "selector": {"app": "api"}, "ports": [{"name": "http", "port": 80, "listener": "http"}],
         "externalTrafficPolicy": "Local", "nodePoolSelector": {"site": "cloud"},
         "loadBalancer": {"type": "clb", "management": "pulumi"}}]
    return config


def syncs(run: Run) -> dict[str, Registration]:
    return {r.name: r for r in run.of_type(BACKEND_SYNC)}


@pytest.mark.parametrize("preview", [True, False])
def test_every_owned_group_is_handed_to_the_controller_and_waits_for_it(owned, plan, preview):
    run = plan({**owned, "controller": CONTROLLER}, preview=preview)
    found = syncs(run)
    assert set(found) == SYNCS
    for name, sync in found.items():
        assert sync.inputs["controller"] is True, name  # known in a preview too: a plain setting
        assert sync.inputs["waitSeconds"] == 300, name
        assert WAITS_FOR <= set(sync.dependencies), f"{name} does not wait for the controller"
        # The Deployment itself waits for the CRD and the RBAC: the controller can read the records it syncs.
    deployment = run.named("controller/deployment")
    assert {"controller/crd", "controller/cluster-role-binding", "controller/role-binding"} <= set(
        deployment.dependencies)


def test_what_each_sync_waited_for_before_it_still_waits_for(owned, plan):
    """The controller adds to the dependencies; the Service, the listeners and the groups stay."""
    without = syncs(plan(owned, preview=False))
    with_controller = syncs(plan({**owned, "controller": CONTROLLER}, preview=False))
    for name, sync in with_controller.items():
        before = set(without[name].dependencies)
        assert set(sync.dependencies) == before | WAITS_FOR, name
        assert {"default/cube-svc/service", "shop/shop-web/service", "default/shop-api/service"} & before
    assert {"default/cube-svc/elb/np-hefei/listener/tcp-80"} <= set(
        with_controller["default/cube-svc/elb/np-hefei/backends"].dependencies)
    assert "shop/shop-web/nlb/server-group/tcp-443" in with_controller["shop/shop-web/nlb/backends/tcp-443"].dependencies


@pytest.mark.parametrize("block", [None, {"enabled": False, "image": IMAGE}])
def test_without_a_controller_the_syncs_are_as_before(owned, plan, block):
    """Absent or disabled: BackendSync syncs the groups itself, with exactly the inputs of a stack that never
    heard of a controller, and depends on nothing of one."""
    raw = copy.deepcopy(owned)
    if block is not None:
        raw["controller"] = block
    baseline = syncs(plan(owned, preview=False))
    run = plan(raw, preview=False)
    found = syncs(run)
    assert set(found) == SYNCS
    for name, sync in found.items():
        assert sync.inputs["controller"] is False and sync.inputs["waitSeconds"] == 300
        assert sync.inputs == baseline[name].inputs and sync.dependencies == baseline[name].dependencies
        assert not [d for d in sync.dependencies if d.startswith("controller")]
    assert not [r for r in run.resources if r.name.startswith("controller")]


def test_enabling_the_controller_changes_only_the_controller_input(owned, plan):
    without = syncs(plan(owned, preview=False))
    with_controller = syncs(plan({**owned, "controller": CONTROLLER}, preview=False))
    for name, sync in with_controller.items():
        changed = {k for k in sync.inputs.keys() | without[name].inputs.keys()
                   if sync.inputs.get(k) != without[name].inputs.get(k)}
        assert changed == {"controller"}, name


def test_groups_ecm_or_ccm_keep_are_not_the_controllers(config, plan):
    """`ecm` and `user` declare no BackendSync, controller or not: the cluster's controllers keep those backends."""
    config["cluster"]["ccmVersion"] = "v2.14.0"
    config["nodePools"][2]["labels"] = {"tier": "web"}
    config["services"][0]["loadBalancer"] = {"type": "elb", "management": "user", "elbIds": {"np-hefei": "lb-x01"}}
    config["services"] += [
        {"name": "cache", "selector": {"app": "cache"}, "ports": [{"name": "tcp", "port": 6379}],
         "externalTrafficPolicy": "Cluster", "nodePoolSelector": {"tier": "web"},
         "loadBalancer": {"type": "clb", "management": "user"}},
        {"name": "ecm", "selector": {"app": "ecm"}, "ports": [{"name": "tcp", "port": 8080}],
         "externalTrafficPolicy": "Local", "nodePoolSelector": {"k8s-svc": "cube"},
         "loadBalancer": {"type": "elb", "management": "ecm"}}]
    run = plan({**config, "controller": CONTROLLER}, preview=False)
    assert run.named("default/cube-svc/elb/np-chengdu").type == "ack-edge-lb:elb:RegionalElb"  # Pulumi builds it
    assert not run.of_type(BACKEND_SYNC)
    assert run.named("controller/deployment")  # deployed all the same: the stack asked for it


def test_the_topology_says_who_keeps_the_backends(owned, plan):
    def labels(raw: dict) -> list[str]:
        text = mermaid(plan(raw), validate(raw, "test").config)
        return [line for line in text.splitlines() if "kept by" in line]

    with_controller = labels({**owned, "controller": CONTROLLER})
    assert len(with_controller) == len(SYNCS)
    assert all("kept by the in-cluster controller" in line for line in with_controller)
    assert all("kept by BackendSync" in line for line in labels(owned))
