"""The harness's engine against the engine's own rules, on small programs (no cloud): each test names the rule.

Sources: pulumi/pulumi pkg/resource/deploy/step_generator.go (processIgnoreChanges, applyReplaceOnChanges,
calculateDependentReplacements, the protect check of replacements) and step.go (DeleteStep.Apply's protect
check), deployment_executor.go (deletes after the program, in antichains).
"""

from __future__ import annotations

import itertools
from typing import Any, Optional

import pulumi
import pytest

import contracts.registry as registry
from contracts import Contract, Input
from tests.engine.engine import Engine, World

THING = "test:index:Thing"


class MemoryDouble:
    """A cloud that keeps resources in a dict, and records what was done, in order."""

    def __init__(self) -> None:
        self.live: dict[str, dict[str, Any]] = {}
        self.log: list[tuple[str, str]] = []
        self._ids = itertools.count(1)

    def create(self, type_: str, inputs: dict[str, Any], region: str = "") -> tuple[str, dict[str, Any]]:
        id_ = f"{inputs.get('name', 'x')}-{next(self._ids)}"
        if any(v.get("name") == inputs.get("name") for v in self.live.values()):
            raise RuntimeError(f"{inputs.get('name')} already exists")  # a name the cloud keeps unique
        self.live[id_] = dict(inputs)
        self.log.append(("create", id_))
        return id_, {"arn": f"arn:{id_}"}

    def update(self, type_: str, id_: str, old: dict[str, Any], inputs: dict[str, Any], region: str = "") -> dict:
        self.live[id_] = dict(inputs)
        self.log.append(("update", id_))
        return {}

    def read(self, type_: str, id_: str, old: dict[str, Any], region: str = "") -> Optional[dict[str, Any]]:
        return dict(self.live[id_]) if id_ in self.live else None

    def delete(self, type_: str, id_: str, old: dict[str, Any], region: str = "") -> None:
        self.live.pop(id_, None)
        self.log.append(("delete", id_))


@pytest.fixture(autouse=True)
def thing_contract(monkeypatch):
    monkeypatch.setitem(registry.CONTRACTS, THING, Contract(THING, inputs=(
        Input("name", required=True, force_new=True), Input("size", range=(1, 10)), Input("tags"),
        Input("spec.class", force_new=False), Input("ref", force_new=True))))


@pytest.fixture
def cloud():
    return MemoryDouble()


def thing(name: str, opts: Optional[pulumi.ResourceOptions] = None, **props: Any) -> pulumi.CustomResource:
    return pulumi.CustomResource(THING, name, {"name": name, "arn": None, **props}, opts)


def engine(cloud: MemoryDouble, program) -> Engine:
    return Engine(World(doubles={"test": cloud}), {}, program=program)


def test_check_failures_stop_the_operation_before_anything_is_created(cloud):
    result = engine(cloud, lambda: (thing("a"), thing("b", size=50))).up(check=False)
    assert "expected size to be in the range (1 - 10), got 50" in str(result.error)
    assert not any(op == "create" and "b" in id_ for op, id_ in cloud.log)


def test_ignore_changes_keeps_the_old_input(cloud):
    size = {"v": 1}
    e = engine(cloud, lambda: thing("a", size=size["v"], opts=pulumi.ResourceOptions(ignore_changes=["size"])))
    e.up()
    size["v"] = 2
    assert e.up().changes == []
    assert e.state.named("a").inputs["size"] == 1


def test_replace_on_changes_matches_detailed_paths_not_the_top_level_key(cloud):
    value = {"class": "a", "roc": ["spec.class"]}
    e = engine(cloud, lambda: thing("a", spec={"class": value["class"]},
                                    opts=pulumi.ResourceOptions(replace_on_changes=value["roc"])))
    e.up()
    value["class"] = "b"
    assert e.preview().step("a").op == "replace"
    value["roc"] = ["spec.class.other"]  # a longer path does not cover `spec.class`
    assert e.preview().step("a").op == "update"


def test_create_before_replace_deletes_the_old_one_at_the_end_and_delete_first_before(cloud):
    ref = {"v": "r1", "dbr": None}

    def program():
        thing("a", ref=ref["v"], opts=pulumi.ResourceOptions(delete_before_replace=ref["dbr"]))
        thing("b", size=1)
    e = engine(cloud, program)
    e.up()
    first = e.state.named("a").id
    ref["v"] = "r2"
    cloud.log.clear()
    assert e.up(check=False).error is not None  # create first: the cloud refuses a second `a`
    assert ("delete", first) not in cloud.log and e.state.named("a").id == first
    ref["dbr"] = True
    cloud.log.clear()
    e.up()
    assert cloud.log[0] == ("delete", first) and cloud.log[1][0] == "create"


def test_a_protected_resource_is_never_replaced_and_nothing_happens_before(cloud):
    ref = {"v": "r1"}
    e = engine(cloud, lambda: thing("a", ref=ref["v"], opts=pulumi.ResourceOptions(protect=True)))
    e.up()
    ref["v"] = "r2"
    preview = e.preview(check=False)
    assert "unable to replace resource" in str(preview.error)
    cloud.log.clear()
    assert e.up(check=False).error is not None and cloud.log == []


def test_a_protected_delete_fails_when_it_comes_up_after_its_dependents_went(cloud):
    keep = {"v": True}

    def program():
        if keep["v"]:
            parent = thing("lb", opts=pulumi.ResourceOptions(protect=True))
            thing("listener", ref=parent.id)
    e = engine(cloud, program)
    e.up()
    keep["v"] = False
    result = e.up(check=False)
    assert "cannot be deleted because it is protected" in str(result.error)
    assert result.ops("delete") == ["listener"]  # the dependent went first: this is why components protect all
    assert [r.name for r in e.state] == ["lb"]


def test_delete_before_replace_takes_the_dependents_whose_inputs_would_replace_them(cloud):
    name = {"v": "a"}

    def program():
        root = thing("root", size=1, ref=name["v"], opts=pulumi.ResourceOptions(delete_before_replace=True))
        thing("child", ref=root.id)  # force-new, from the root's id
        thing("other", size=2, opts=pulumi.ResourceOptions(depends_on=[root]))  # dependsOn alone: kept
    e = engine(cloud, program)
    e.up()
    ids = {r.name: r.id for r in e.state}
    name["v"] = "b"
    cloud.log.clear()
    e.up()
    assert cloud.log[:2] == [("delete", ids["child"]), ("delete", ids["root"])]
    assert ("delete", ids["other"]) not in cloud.log


def test_a_replaced_resource_left_by_a_failed_up_is_deleted_by_the_next(cloud):
    ref = {"v": "r1", "fail": False}

    def program():
        thing("a", ref=ref["v"])
        if ref["fail"]:
            thing("b", size=99)
    e = engine(cloud, program)
    e.up()
    old = e.state.named("a").id
    ref.update(v="r2", fail=True)
    # `a` is renamed by its ref, not its name: the cloud accepts the second one, then `b` fails its Check.
    cloud.live[old]["name"] = "a-old"
    assert e.up(check=False).error is not None
    assert [r.id for r in e.state.pending] == [old]
    ref["fail"] = False
    e.up()
    assert ("delete", old) in cloud.log and not e.state.pending


def test_refresh_forgets_what_is_gone_and_preview_then_creates_it(cloud):
    e = engine(cloud, lambda: thing("a"))
    e.up()
    cloud.live.clear()
    assert e.refresh().ops("read-gone") == ["a"]
    assert e.preview().step("a").op == "create"


def test_a_preview_answers_unknown_ids_and_computed_outputs(cloud):
    seen = {}

    def program():
        a = thing("a")
        a.id.apply(lambda v: seen.setdefault("id", v))
        pulumi.export("arn", a.arn)
    result = engine(cloud, program).preview()
    assert result.outputs["arn"] == "(known after apply)" and "id" not in seen  # unknown: apply never ran
