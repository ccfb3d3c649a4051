"""A stack with the in-cluster controller through the engine harness: the real controller
(reconciler.controller.manager) runs while its Deployment exists, against the fake Kubernetes API and the cloud
emulator, and keeps the Pulumi-owned ELBs' backends; the BackendSyncs only write the records and wait for it.

The controller's counters are read from this process's Prometheus registry: the dynamic-provider host is
another process, so every sync counted here is the controller's.
"""

from __future__ import annotations

import time

from prometheus_client import REGISTRY

from reconciler.record import FINALIZER, PLURAL, SYNCED
from tests.engine.engine import Engine
from tests.engine.stacks import variants
from tests.engine.world import _endpoint_ports, _pods, stack_world

STACK = variants()["elb-pulumi-with-controller"]
SYNCS = ("default/cube-svc/elb/np-chengdu/backends", "default/cube-svc/elb/np-hefei/backends")


def synced_by_controller() -> float:
    return REGISTRY.get_sample_value("ack_edge_lb_syncs_total", {"kind": "ens", "result": "ok"}) or 0.0


def records(world) -> dict[str, dict]:
    return {name: obj for (_, plural, _, name), obj in world.kube.custom.items() if plural == PLURAL}


def servers(world, pool: str) -> set[str]:
    (lb,) = [lb for lb in world.cloud.ens.load_balancers.values() if f"/{pool}/" in lb["LoadBalancerName"]]
    return {s["ServerId"] for s in lb["_backends"]}


def wait_for(condition, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the controller did not get there in time"
        time.sleep(0.05)


def test_the_controller_keeps_the_backends_from_the_first_up_to_the_destroy():
    with stack_world(STACK, "ctl") as world:
        engine = Engine(world.world, STACK, stack="ctl")
        before = synced_by_controller()
        up = engine.up()
        assert world.controller.running and world.controller.started == 1
        # The controller ran before the first wait: the Deployment is created before any BackendSync.
        order = [s.name for s in up.steps]
        assert all(order.index("controller/deployment") < order.index(name) for name in SYNCS)
        assert synced_by_controller() - before >= len(SYNCS), "the groups were not synced by the controller"
        found = records(world)
        assert len(found) == len(SYNCS)
        for record in found.values():
            assert FINALIZER in record["metadata"]["finalizers"]
            (synced,) = [c for c in record["status"]["conditions"] if c["type"] == SYNCED]
            assert synced["status"] == "True" and record["status"]["observedGeneration"] == 1
        hefei = {f"i-nphefei{n}" for n in range(2)}
        assert servers(world, "np-hefei") == hefei
        assert servers(world, "np-chengdu") == {f"i-npchengdu{n}" for n in range(2)}
        deployment, crd = (engine.state.named(n).urn for n in ("controller/deployment", "controller/crd"))
        for name in SYNCS:
            sync = engine.state.named(name)
            assert sync.inputs["controller"] is True
            # What orders a real `pulumi destroy`: the state keeps the dependency on the controller.
            assert {deployment, crd} <= set(sync.dependencies)
        # The addresses of a Pulumi-owned Service are the controller's to publish.
        world.settle()
        ingress = world.kube.services[("default", "cube-svc")]["status"]["loadBalancer"]["ingress"]
        eips = sorted(engine.state.named(f"default/cube-svc/elb/{p}/eip-address").outputs["ipAddress"]
                      for p in ("np-chengdu", "np-hefei"))
        assert sorted(point["ip"] for point in ingress) == eips

        # Between deployments: a pod of np-hefei goes, and the controller follows without `pulumi up`.
        svc = next(s for s in world.config.services if s.name == "cube-svc")
        pods = [p for p in _pods(world.config, svc) if p["node"] != "np-hefei-1"]
        world.kube.set_endpoints("default", "cube-svc", pods, ports=_endpoint_ports(svc))
        wait_for(lambda: servers(world, "np-hefei") == {"i-nphefei0"})
        world.settle()
        assert engine.up().changes == [], "the controller's work is not a change for Pulumi"

        destroy = engine.destroy()
        order = [s.name for s in destroy.steps]
        # The records go first, while the controller still runs to release their backends.
        assert all(order.index(name) < order.index("controller/deployment") for name in SYNCS)
        assert records(world) == {}
        assert not world.controller.running
        assert not world.cloud.ens.load_balancers


def test_without_the_controller_nothing_runs_in_the_cluster():
    raw = variants()["elb-pulumi-cluster"]
    with stack_world(raw) as world:
        engine = Engine(world.world, raw)
        before = synced_by_controller()
        engine.up()
        assert not world.controller.running and world.controller.started == 0
        assert synced_by_controller() == before
        for name in SYNCS:
            assert engine.state.named(name).inputs["controller"] is False
        engine.destroy()
