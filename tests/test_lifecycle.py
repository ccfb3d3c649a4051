"""Every example stack and the generated variants through the whole lifecycle, as the engine runs it.

preview of a new stack (unknown ids and outputs; every dynamic resource's Check through the real host
with the unknowns on the wire), up (contracts checked, creates in dependency order against the cloud
emulator and the fake Kubernetes API), a second up (nothing but same steps, no cloud write), refresh
then preview (no change), destroy (dependents first, nothing left behind).
"""

from __future__ import annotations

import pytest

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
