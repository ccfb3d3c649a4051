"""Every example stack and the generated variants through the whole lifecycle, as the engine runs it.

preview of a new stack (unknown ids and outputs; every dynamic resource's Check through the real host
with the unknowns on the wire), up (contracts checked, creates in dependency order against the cloud
emulator and the fake Kubernetes API), a second up (nothing but same steps, no cloud write), refresh
then preview (no change), destroy (dependents first, nothing left behind).
"""

from __future__ import annotations

import copy

import pytest

from components import annotations as ann
from components.dynamic import is_dynamic
from tests.engine.engine import Engine
from tests.engine.stacks import EXAMPLES, example, variants, writes
from tests.engine.world import stack_world

STACKS = {**{f"example-{name}": example(name) for name in EXAMPLES}, **variants()}


def cluster_writes(world) -> int:
    return sum(1 for r in world.kube.requests if r.method != "GET")


@pytest.mark.parametrize("name", sorted(STACKS))
def test_the_whole_lifecycle(name):
    raw = STACKS[name]
    stack = name.removeprefix("example-")
    with stack_world(raw, stack) as world:
        engine = Engine(world.world, raw, stack=stack)

        preview = engine.preview()
        assert preview.steps and {s.op for s in preview.steps} == {"create"}
        dynamic = {s.urn for s in preview.steps if is_dynamic(s.type)}
        assert {urn for method, urn in preview.dynamic_calls if method == "Check"} == dynamic
        assert not [c for c in preview.dynamic_calls + preview.bridged_calls if c[0] != "Check"]  # nothing applied
        assert not writes(world.cloud.calls) and len(engine.state) == 0

        up = engine.up()
        assert {s.op for s in up.steps} == {"create"} and len(up.steps) == len(preview.steps)
        assert len(engine.state) == len(up.steps)
        assert "(known after apply)" not in repr(up.outputs)
        created = engine.state.copy()
        world.settle()  # a controller, where the stack runs one, publishes the address after the sync

        before, kube_writes = dict(world.cloud.calls), cluster_writes(world)
        again = engine.up()
        assert again.changes == [], [(s.op, s.name, s.keys) for s in again.changes]
        assert writes(world.cloud.calls) == writes(before), "a no-op up wrote to the cloud"
        assert cluster_writes(world) == kube_writes, "a no-op up wrote to the cluster"
        assert not [c for c in again.dynamic_calls if c[0] not in ("Check", "Diff")]

        engine.refresh()
        after_refresh = engine.preview()
        assert after_refresh.changes == [], [(s.op, s.name, s.keys) for s in after_refresh.changes]

        destroy = engine.destroy()
        assert len(engine.state) == 0 and {s.op for s in destroy.steps} == {"delete"}
        order = [s.urn for s in destroy.steps]
        for r in created:  # dependents first: children before parents, users before what they use
            for needed in [r.parent, *r.dependencies]:
                if needed in order:
                    assert order.index(r.urn) < order.index(needed), f"{r.name} deleted after {needed}"
        assert not world.cloud.ens.load_balancers and not world.cloud.ens.eips
        assert not world.cloud.nlb.load_balancers and not world.cloud.nlb.server_groups
        assert not world.cloud.slb.load_balancers
        assert not world.kube.services


# --- NLB and CLB under `management: user`: Pulumi's groups, bound for CCM (CCM itself does not run here) ------------

BOUND = {"nlb-user-ip": "nlb", "clb-user-cluster": "clb"}
GROUP_TYPES = {"nlb": "alicloud:nlb/serverGroup:ServerGroup", "clb": "alicloud:slb/serverGroup:ServerGroup"}


@pytest.mark.parametrize("name", sorted(BOUND))
def test_the_service_binds_the_groups_pulumi_created_and_goes_first(name):
    raw, kind = STACKS[name], BOUND[name]
    with stack_world(raw) as world:
        engine = Engine(world.world, raw)
        engine.up()
        live = world.kube.services[("default", "cube-svc")]
        annotations = live["metadata"]["annotations"]
        cloud = world.cloud.nlb if kind == "nlb" else world.cloud.slb
        lbs = list(cloud.load_balancers)
        groups = cloud.server_groups if kind == "nlb" else cloud.vserver_groups
        assert annotations[ann.LOADBALANCER_ID] == lbs[0] and len(lbs) == 1
        by_port = {}
        for state in engine.state.of_type(GROUP_TYPES[kind]):
            port = int(state.name.rsplit("-", 1)[-1])
            assert state.id in groups  # the id the annotation names is the group in the cloud
            by_port[port] = state.id
        ports = [p["port"] for p in raw["services"][0]["ports"]]
        assert annotations[ann.VGROUP_PORT] == ",".join(f"{by_port[p]}:{p}" for p in ports)
        assert not [r for r in engine.state if r.type == "pulumi-python:dynamic/backends:BackendSync"]
        # Nothing registers backends but CCM.
        assert not any(g.get("_servers") or g.get("_backends") for g in groups.values())

        destroy = engine.destroy()
        order = [s.name for s in destroy.steps]
        service = order.index("default/cube-svc/service")
        assert all(service < order.index(s.name) for s in destroy.steps
                   if s.type in (GROUP_TYPES[kind], "alicloud:nlb/loadBalancer:LoadBalancer",
                                 "alicloud:slb/applicationLoadBalancer:ApplicationLoadBalancer"))
        assert not groups and not cloud.load_balancers


@pytest.mark.parametrize("kind", ["nlb", "clb"])
def test_switching_between_ccm_and_user_replaces_the_service(kind):
    """CCM refuses to bind a Service whose status holds another address, and one that stops binding looks for
    its old load balancer instead of building one (ccm.md section 1): the Service is replaced, deleted first."""
    raw = copy.deepcopy(STACKS["clb-user-cluster" if kind == "clb" else "nlb-user-ip"])
    lb = raw["services"][0]["loadBalancer"]
    lb["management"] = "ccm"
    for port in raw["services"][0]["ports"]:
        port.pop("listener", None)
    with stack_world(raw) as world:
        engine = Engine(world.world, raw)
        engine.up()
        lb["management"] = "user"
        step = engine.preview().step("default/cube-svc/service")
        assert (step.op, step.delete_before_replace) == ("replace", True)
        assert f'metadata.annotations["{ann.LOADBALANCER_ID}"]' in step.keys
        engine.up()
        bound = world.kube.services[("default", "cube-svc")]["metadata"]["annotations"]
        assert bound[ann.LOADBALANCER_ID] in (world.cloud.nlb if kind == "nlb" else world.cloud.slb).load_balancers
        lb["management"] = "ccm"
        back = engine.up()
        assert back.step("default/cube-svc/service").op == "replace"
        assert ann.LOADBALANCER_ID not in world.kube.services[("default", "cube-svc")]["metadata"]["annotations"]
        assert not (world.cloud.nlb if kind == "nlb" else world.cloud.slb).load_balancers
