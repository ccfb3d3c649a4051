"""The planner's properties on random groups (hypothesis), and a few spelled-out cases."""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.model import Backend
from reconciler.planner import minimal_write_calls, plan

SERVERS = [f"i-{n:02d}" for n in range(12)]
weights = st.sampled_from([0, 1, 50, 100])
backend_sets = st.dictionaries(st.sampled_from(SERVERS), weights, max_size=12).map(
    lambda raw: {(s, 0): Backend(s, 0, w) for s, w in raw.items()})


@st.composite
def scenarios(draw):
    current = draw(backend_sets)
    desired = draw(backend_sets)
    # Owned: some of the current servers, and maybe keys that vanished from the group meanwhile.
    owned = {k for k in current if draw(st.booleans())} | {(s, 0) for s in draw(st.sets(st.sampled_from(SERVERS)))
                                                           if (s, 0) not in current and draw(st.booleans())}
    limit = draw(st.integers(1, 5))
    drain = draw(st.sampled_from([0.0, 5.0]))
    return current, desired, owned, limit, drain


def apply(group: dict, step) -> None:
    """What the cloud does with each write: checked so a plan that breaks the API's rules fails."""
    for b in step.backends:
        if step.op == "add":
            assert b.key not in group, f"adds {b.key} twice"
            group[b.key] = b
        elif step.op in ("update", "drain"):
            assert b.key in group
            group[b.key] = b
        elif step.op == "remove":
            assert b.key in group
            del group[b.key]


def serving(group: dict) -> int:
    return sum(1 for b in group.values() if b.weight > 0)


@settings(max_examples=300, deadline=None)
@given(scenarios())
def test_applying_the_plan_yields_desired_and_keeps_every_rule(scenario):
    current, desired, owned, limit, drain = scenario
    result = plan(current.values(), desired, owned, limit=limit, drain_seconds=drain)
    group = dict(current)
    foreign = {k: b for k, b in current.items() if k not in owned and k not in desired}
    had_serving = serving(group) > 0
    wants_serving = any(b.weight > 0 for b in desired.values())
    for step in result.steps:
        assert len(step.backends) <= limit
        assert not ({b.key for b in step.backends} & set(foreign)), "touched a foreign backend"
        apply(group, step)
        if had_serving and wants_serving:
            assert serving(group) > 0, f"no serving backend after {step.op}"
    # Owned backends are exactly the desired ones; foreign ones are as they were.
    assert {k: b for k, b in group.items() if k in result.owned} == desired
    assert {k: b for k, b in group.items() if k not in result.owned} == foreign
    assert set(result.result) == set(desired.values())


@settings(max_examples=300, deadline=None)
@given(scenarios())
def test_the_plan_makes_the_fewest_write_calls(scenario):
    current, desired, owned, limit, drain = scenario
    mine = set(owned) & set(current)
    gone = mine - set(desired)
    changes = {
        "add": len(set(desired) - set(current)),
        "update": sum(1 for k in set(desired) & set(current) if current[k].weight != desired[k].weight),
        "drain": sum(1 for k in gone if current[k].weight > 0) if drain else 0,
        "remove": len(gone),
    }
    result = plan(current.values(), desired, owned, limit=limit, drain_seconds=drain)
    assert result.write_calls == minimal_write_calls(changes, limit)
    assert result.write_calls == sum(math.ceil(n / limit) for n in changes.values())


@settings(max_examples=100, deadline=None)
@given(backend_sets, st.integers(1, 5))
def test_a_group_already_in_step_needs_no_call(group, limit):
    assert plan(group.values(), group, set(group), limit=limit, drain_seconds=10).empty


def test_order_is_add_update_drain_wait_remove():
    current = [Backend("i-old", 0, 100), Backend("i-keep", 0, 100)]
    desired = {("i-new", 0): Backend("i-new", 0, 100), ("i-keep", 0): Backend("i-keep", 0, 50)}
    result = plan(current, desired, {("i-old", 0), ("i-keep", 0)}, limit=20, drain_seconds=30)
    assert [(s.op, [b.server_id for b in s.backends], s.seconds) for s in result.steps] == [
        ("add", ["i-new"], 0.0), ("update", ["i-keep"], 0.0), ("drain", ["i-old"], 0.0), ("wait", [], 30.0),
        ("remove", ["i-old"], 0.0)]
    assert result.steps[2].backends[0].weight == 0


def test_batches_respect_the_api_limit():
    desired = {(f"i-{n:03d}", 0): Backend(f"i-{n:03d}", 0, 100) for n in range(45)}
    result = plan([], desired, set(), limit=20)
    assert [len(s.backends) for s in result.steps] == [20, 20, 5]


def test_an_existing_foreign_backend_that_is_desired_is_adopted_not_added():
    result = plan([Backend("i-1", 0, 100)], {("i-1", 0): Backend("i-1", 0, 100)}, set(), limit=20)
    assert result.empty and result.owned == {("i-1", 0)}


def test_a_foreign_backend_that_is_not_desired_is_left_alone():
    result = plan([Backend("i-manual", 0, 100)], {}, set(), limit=20, drain_seconds=10)
    assert result.empty and result.owned == frozenset()
