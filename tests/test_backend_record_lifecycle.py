"""BackendSync's records through the engine harness: the whole program, every dynamic resource through the
real host, against the emulated cloud and the fake Kubernetes API (which serves the BackendGroup CRD).

Each test failed before the record existed: the step it asserts was a no-op where a repair was due, or a
server stayed in the group that nothing owned any more.
"""

from __future__ import annotations

import copy

from reconciler.record import PLURAL, record_name
from tests.engine.engine import Engine
from tests.engine.stacks import variants
from tests.engine.world import NODES, stack_world
from tests.test_backend_record_crd import validator

VARIANTS = variants()
SYNC = "default/cube-svc/elb/np-hefei/backends"


def elb(world, pool):
    (found,) = [lb for lb in world.cloud.ens.load_balancers.values() if f"/{pool}/" in lb["LoadBalancerName"]]
    return found


def servers(lb):
    return {s["ServerId"]: s["Weight"] for s in lb["_backends"]}


def records(world):
    return {name: obj for (_, plural, _, name), obj in world.kube.custom.items() if plural == PLURAL}


def join(world, pool, count):
    """`count` more Ready ENS nodes in `pool`, as the world seeds them."""
    names = []
    for n in range(NODES, NODES + count):
        instance = world.instance_id(pool, n)
        world.cloud.ens.instances[instance] = "Running"
        world.kube.add_node(f"{pool}-{n}", pool=pool, instance_id=instance, internal_ip=f"10.1.9.{n}")
        names.append(f"{pool}-{n}")
    return names


def test_each_backend_group_has_a_valid_record_that_the_outputs_agree_with():
    raw = VARIANTS["elb-pulumi-cluster"]
    with stack_world(raw) as world:
        engine = Engine(world.world, raw)
        engine.up()
        sync = engine.state.named(SYNC)
        name = record_name("cube-svc", "ens", sync.outputs["groupId"])
        found = records(world)
        assert set(found) == {name, record_name("cube-svc", "ens",
                                                engine.state.named("default/cube-svc/elb/np-chengdu/backends")
                                                .outputs["groupId"])}
        record = found[name]
        assert not list(validator().iter_errors(record))
        assert record["spec"]["ingress"] == [{"ip": engine.state.named(
            "default/cube-svc/elb/np-hefei/eip-address").outputs["ipAddress"]}]
        assert record["status"]["owned"] == sync.outputs["backends"]
        assert record["status"]["desiredHash"] == sync.outputs["desiredHash"]
        assert record["status"]["observedGeneration"] == record["metadata"]["generation"] == 1
        engine.destroy()
        assert records(world) == {}


def test_a_failed_up_is_repaired_by_the_next_up_without_refresh():
    raw = copy.deepcopy(VARIANTS["elb-pulumi-cluster"])
    with stack_world(raw) as world:
        engine = Engine(world.world, raw)
        engine.up()
        hefei = elb(world, "np-hefei")
        before = servers(hefei)
        joined = join(world, "np-hefei", 25)
        world.cloud.inject("AddBackendServers", "InvalidParameter", times=1, after=1, status=400)
        failed = engine.up(check=False)
        assert failed.error is not None and "stopped after 1 of 2 steps" in str(failed.error)
        assert len(servers(hefei)) == len(before) + 20
        for name in joined:  # the nodes leave again before anyone runs `pulumi up`
            world.kube.remove_node(name)

        repaired = engine.up()
        assert repaired.step(SYNC).op == "update"
        assert servers(hefei) == before
        sync = engine.state.named(SYNC)
        record = records(world)[record_name("cube-svc", "ens", sync.outputs["groupId"])]
        assert "lastError" not in record["status"] and "intent" not in record["status"]
        assert sorted(b["serverId"] for b in record["status"]["owned"]) == sorted(before)
        assert engine.up().changes == []
