"""The plan/diff model (plan/diff.py), what it means in the cloud (plan/effects.py, plan/addresses.py), and
its text and JSON (plan/render.py, plan/document.py): two runs of the program under mocks, compared."""

from __future__ import annotations

import copy
import io
import json
from dataclasses import replace
from pathlib import Path

import jsonschema
import pytest
from rich.console import Console

from plan import SCHEMA
from plan.against import run_from_json
from plan.diff import ABSENT, leaf_changes, path_text, summary_text
from plan.document import document, dumps
from plan.offline import UNKNOWN, Run
from plan.render import print_report
from plan.report import build
from stacks.load import validate
from tests.conftest import cloud_pool, elb_service

SCHEMA_FILE = Path(__file__).resolve().parents[1] / "docs" / "plan.schema.json"
EIP_BANDWIDTH = "service.beta.kubernetes.io/alibaba-cloud-loadbalancer-eip-bandwidth"
POOLS = ("np-chengdu", "np-hefei")


@pytest.fixture(scope="module")
def schema() -> dict:
    found = json.loads(SCHEMA_FILE.read_text())
    jsonschema.Draft202012Validator.check_schema(found)
    return found


@pytest.fixture
def ecm(config):
    config["services"][0]["loadBalancer"]["eip"] = {"bandwidth": 10}
    return config


@pytest.fixture
def owned(config):
    config["services"][0]["loadBalancer"] = {"type": "elb", "management": "pulumi", "eip": {"bandwidth": 20}}
    return config


def compare(plan, config, mutate):
    new = copy.deepcopy(config)
    mutate(new)
    return build(plan(new), plan(config), ref="base"), new


def text(report, raw) -> str:
    out = io.StringIO()
    print_report(report, validate(raw, "test").config, Console(file=out, width=1_000_000, highlight=False))
    return out.getvalue()


# --- leaf changes ----------------------------------------------------------------------------------------

def test_leaf_changes_go_key_by_key_and_index_by_index():
    old = {"metadata": {"annotations": {"a.io/x": "1", "b": "2"}}, "ports": [{"port": 80}], "n": 1}
    new = {"metadata": {"annotations": {"a.io/x": "3", "c": "4"}}, "ports": [{"port": 8080}, {"port": 9}],
           "n": 1.0, "id": UNKNOWN}
    found = {(c.path, c.kind): (c.old, c.new) for c in leaf_changes(old, new)}
    assert found == {
        ('metadata.annotations["a.io/x"]', "change"): ("1", "3"),
        ("metadata.annotations.b", "remove"): ("2", ABSENT),
        ("metadata.annotations.c", "add"): (ABSENT, "4"),
        ("ports[0].port", "change"): (80, 8080),
        ("ports[1]", "add"): (ABSENT, {"port": 9}),  # an added item is one change
        ("id", "add"): (ABSENT, UNKNOWN),
    }  # 1 and 1.0 are one value on the wire
    assert path_text(("spec", "ports", 0, "port")) == "spec.ports[0].port"


# --- update and replace ----------------------------------------------------------------------------------

def test_a_changed_annotation_shows_old_and_new_value_by_key(plan, ecm):
    report, raw = compare(plan, ecm, lambda c: c["services"][0]["loadBalancer"]["eip"].update(bandwidth=20))
    (service,) = [d for d in report.diff.resources.values() if d.op != "same"]
    assert service.name == "default/cube-svc/service" and service.op == "update"
    (change,) = service.changes
    assert (change.segments, change.old, change.new) == (("metadata", "annotations", EIP_BANDWIDTH), "10", "20")
    assert report.diff.updated == {"default/cube-svc/service": ["metadata"]}
    out = text(report, raw)
    assert f'~ metadata.annotations["{EIP_BANDWIDTH}"]: "10" -> "20"' in out
    assert "lb/" not in out and "openyurt/" not in out  # keys in full
    assert ("ECM changes the EIP bandwidth in place, 10 -> 20 Mbit/s, on 2 EIPs (pools np-chengdu, np-hefei); "
            "the addresses stay") in out
    assert report.addresses == []


def test_a_port_change_shows_the_ports_and_ecm_rebuilds_the_listener(plan, ecm):
    report, raw = compare(plan, ecm, lambda c: c["services"][0]["ports"][0].update(port=8080))
    out = text(report, raw)
    assert "~ spec.ports[0].port: 80 -> 8080" in out
    (effect,) = report.effects
    assert effect.action == "rebuild-listener" and effect.pools == POOLS
    assert effect.message == "ECM rebuilds the listener 80 -> 8080 (TCP) on 2 ELBs (pools np-chengdu, np-hefei)"
    assert "listeners follow spec.ports" in effect.source
    assert f"- {effect.message}" in out


def test_ecm_adds_and_deletes_listeners_with_the_ports(plan, ecm):
    report, _ = compare(plan, ecm, lambda c: c["services"][0].update(
        ports=[{"name": "https", "port": 443, "targetPort": 8443}]))
    assert [e.message for e in report.effects] == [
        "ECM deletes the listener 80/TCP on 2 ELBs (pools np-chengdu, np-hefei)",
        "ECM adds the listener 443/TCP on 2 ELBs (pools np-chengdu, np-hefei)"]


def test_a_pool_leaving_the_selector_makes_ecm_delete_its_elb_and_eip(plan, ecm):
    report, raw = compare(plan, ecm, lambda c: c["nodePools"][1]["labels"].update({"k8s-svc": "other"}))
    assert report.diff.removed == ["default/cube-svc/nodepool/np-chengdu"]
    (effect,) = report.effects
    assert effect.message == ("ECM deletes the ELB and EIP of np-chengdu (address cn-chengdu-telecom-4 lost): the "
                              "pool leaves the selection")
    (address,) = report.addresses
    assert (address.managed_by, address.pool, address.addresses["public"]) == ("ECM", "np-chengdu", "released")
    out = text(report, raw)
    assert "ECM releases the public address of np-chengdu (cn-chengdu-telecom-4)" in out
    assert "- NodePoolPatch np-chengdu" in out


def test_ecm_spec_annotation_replaces_each_elb_but_the_documented_default_changes_nothing(plan, ecm):
    report, _ = compare(plan, ecm, lambda c: c["services"][0]["loadBalancer"].update(spec="elb.s3.medium"))
    (effect,) = report.effects
    assert effect.action == "replace-elb" and effect.message.startswith('ECM replaces each ELB ("elb.s2.small" -> '
                                                                        '"elb.s3.medium") in 2 pools')
    assert {a.pool: a.addresses for a in report.addresses} == {p: {"elbId": "changes", "private": "changes"}
                                                               for p in POOLS}
    same, _ = compare(plan, ecm, lambda c: c["services"][0]["loadBalancer"].update(spec="elb.s2.small"))
    assert same.effects == [] and same.addresses == []  # ECM's default spec, now said out loud


def test_deleting_an_ecm_service_releases_every_pool_s_address(plan, ecm):
    ecm["services"].append(elb_service("cube-api", selector={"app": "api"}))
    report, _ = compare(plan, ecm, lambda c: c["services"].pop(0))
    assert any(e.action == "delete-lb" and e.service == "default/cube-svc" and e.pools == POOLS
               for e in report.effects)
    assert sorted(a.pool for a in report.addresses if a.addresses.get("public") == "released") == list(POOLS)


def test_a_replaced_elb_lists_what_goes_with_it_and_which_address_changes(plan, owned):
    report, raw = compare(plan, owned, lambda c: c["services"][0]["loadBalancer"].update(spec="elb.s3.medium"))
    base = "default/cube-svc/elb/np-hefei"
    elb = report.diff.resources[f"{base}/loadbalancer"]
    assert elb.op == "replace" and [(r.by, r.paths) for r in elb.reasons] == [("provider", ("loadBalancerSpec",))]
    assert {(r.name, r.relation, r.op, r.paths) for r in elb.related} == {
        (f"{base}/eip-attachment", "input", "replace", ("instanceId",)),
        (f"{base}/listener/tcp-80", "input", "replace", ("loadBalancerId",)),
        (f"{base}/backends", "input", "replace", ("groupId",)),
    }
    attachment = report.diff.resources[f"{base}/eip-attachment"]
    assert [(r.by, r.paths, r.sources) for r in attachment.reasons] == [
        ("dependency", ("instanceId",), (f"{base}/loadbalancer",))]
    assert report.diff.resources[f"{base}/eip"].op == "same"
    hefei = next(a for a in report.addresses if a.pool == "np-hefei")
    assert hefei.addresses == {"elbId": "changes", "private": "changes", "public": "stays"}
    assert hefei.message == (f"ELB {base}/loadbalancer (pool np-hefei, cn-hefei-cmcc-2) is replaced "
                             "(loadBalancerSpec): its id and private address change; the public address stays: "
                             f"EIP {base}/eip is bound to the new ELB")
    out = text(report, raw)
    assert f"+- {base}/eip-attachment: its instanceId comes from it" in out
    assert "+- LoadBalancer loadbalancer" in out and '~ loadBalancerSpec: "elb.s2.small" -> "elb.s3.medium"' in out


def test_summary_counts_as_pulumi_preview_prints_them(plan, owned):
    report, raw = compare(plan, owned, lambda c: (c["services"][0]["loadBalancer"].update(spec="elb.s3.medium"),
                                                  c["services"][0]["loadBalancer"]["eip"].update(bandwidth=30)))
    counts = report.diff.counts()
    # Per pool: ELB, attachment, listener, backends replaced; the EIP updated in place.
    assert counts == {"create": 0, "update": 2, "replace": 8, "delete": 0, "same": counts["same"]}
    assert counts["same"] == len(report.run.resources) - 10 > 0
    assert report.diff.counts_by_type()["alicloud:ens/eip:Eip"] == {"create": 0, "update": 2, "replace": 0,
                                                                   "delete": 0, "same": 0}
    line = f"Resources: ~ 2 to update, +- 8 to replace, {counts['same']} unchanged"
    assert line in text(report, raw)
    assert summary_text({"create": 3, "update": 2, "replace": 1, "delete": 1, "same": 25}) == \
        "+ 3 to create, ~ 2 to update, +- 1 to replace, - 1 to delete, 25 unchanged"


def test_a_replaced_eip_changes_the_public_address(plan, owned):
    before = plan(owned)
    after = copy.deepcopy(before)
    eip = after.named("default/cube-svc/elb/np-hefei/eip")
    after.resources[after.resources.index(eip)] = replace(eip, inputs={**eip.inputs, "isp": "unicom"})
    report = build(after, before, ref="base")
    assert report.diff.replaced["default/cube-svc/elb/np-hefei/eip"] == ["isp"]
    (address,) = report.addresses
    assert address.kind == "EIP" and address.addresses == {"public": "changes"}


def test_a_replaced_clb_changes_its_address(plan, config):
    config["nodePools"][2]["labels"] = {"site": "cloud"}
    config["services"] = [elb_service("shop-api", nodePoolSelector={"site": "cloud"},
                                      loadBalancer={"type": "clb", "management": "pulumi"})]
    report, _ = compare(plan, config, lambda c: c["services"][0]["loadBalancer"].update(addressType="intranet"))
    (address,) = report.addresses
    assert address.kind == "CLB" and address.addresses == {"ip": "changes"}
    assert address.message.endswith("is replaced (addressType, vswitchId): its address changes")


def test_ccm_rebuilds_nlb_listeners_and_zone_mappings(plan, config):
    config["nodePools"][2]["labels"] = {"k8s-svc": "cube"}
    config["services"][0]["loadBalancer"] = {"type": "nlb", "management": "ccm", "serverGroupType": "Ip"}

    def change(c):
        c["services"][0]["ports"][0]["port"] = 8443
        c["nodePools"].append(cloud_pool("np-web", zones=("cn-hangzhou-h",)))

    report, _ = compare(plan, config, change)
    assert [e.message for e in report.effects] == [
        "CCM rebuilds the listener 80 -> 8443 (TCP) on the NLB",
        "CCM changes the NLB's zone mappings: + cn-hangzhou-h:vsw-cnhangzhouh"]
    gone, _ = compare(plan, config, lambda c: c.update(services=[]))
    assert [e.action for e in gone.effects] == ["delete-lb"]
    assert [a.addresses for a in gone.addresses] == [{"dns": "released"}]


# --- a plan is a diff against nothing ----------------------------------------------------------------------

def test_a_plan_creates_everything_and_says_what_ecm_builds(plan, ecm):
    report = build(plan(ecm))
    assert report.kind == "plan" and {d.op for d in report.diff.resources.values()} == {"create"}
    assert report.diff.added == sorted(r.name for r in report.run.resources)
    assert [e.message for e in report.effects] == [
        "ECM creates an ELB and EIP in each of 2 pools (np-chengdu in cn-chengdu-telecom-4, np-hefei in "
        "cn-hefei-cmcc-2), with listeners 80/TCP"]
    out = text(report, ecm)
    assert f"Resources: + {len(report.run.resources)} to create" in out
    assert 'externalIp: {"default/cube-svc": "(known after apply)"}' in out  # outputs as JSON
    assert f'{EIP_BANDWIDTH}: "10"' in out


# --- JSON ------------------------------------------------------------------------------------------------

def test_plan_and_diff_documents_follow_the_schema(plan, owned, schema):
    planned = document(build(plan(owned)))
    jsonschema.validate(planned, schema)
    assert planned["schema"] == SCHEMA and planned["kind"] == "plan" and planned["against"] is None
    diffed, _ = compare(plan, owned, lambda c: (c["services"][0]["loadBalancer"].update(spec="elb.s3.medium"),
                                                c["nodePools"][1]["labels"].update({"k8s-svc": "other"})))
    doc = json.loads(dumps(diffed))
    jsonschema.validate(doc, schema)
    assert doc["kind"] == "diff" and doc["against"] == {"ref": "base", "stackExisted": True}
    by_name = {r["name"]: r for r in doc["resources"]}
    assert [r["name"] for r in doc["resources"]] == sorted(by_name)
    elb = by_name["default/cube-svc/elb/np-hefei/loadbalancer"]
    assert elb["op"] == "replace" and elb["changes"] == [
        {"path": "loadBalancerSpec", "segments": ["loadBalancerSpec"], "kind": "change", "old": "elb.s2.small",
         "new": "elb.s3.medium"}]
    assert elb["replaceReasons"] == [{"by": "provider", "paths": ["loadBalancerSpec"], "sources": []}]
    assert by_name["default/cube-svc/elb/np-chengdu/loadbalancer"]["op"] == "delete"
    assert {a["pool"]: a["addresses"]["public"] for a in doc["addressChanges"]} == {"np-chengdu": "released",
                                                                                   "np-hefei": "stays"}
    assert doc["summary"]["text"].startswith("Resources: ") and doc["summary"]["delete"] > 0
    # An invalid schema would let anything through: a document with an unknown op does not validate.
    elb["op"] = "rename"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(doc, schema)


def test_documents_are_byte_identical_and_the_clb_bandwidth_is_explained(plan, config, schema):
    config["nodePools"][2]["labels"] = {"site": "cloud"}
    config["services"] = [elb_service("shop-api", nodePoolSelector={"site": "cloud"},
                                      loadBalancer={"type": "clb", "management": "pulumi"})]
    printed = {dumps(build(plan(config))) for _ in range(3)}
    assert len(printed) == 1
    doc = json.loads(printed.pop())
    listener = next(r for r in doc["resources"] if r["type"] == "alicloud:slb/listener:Listener")
    assert listener["inputs"]["bandwidth"] == -1
    assert listener["notes"] == ["bandwidth -1: no bandwidth cap, pay-by-LCU"]
    out = text(build(plan(config)), config)
    assert "-1: no bandwidth cap, pay-by-LCU" in out and "True" not in out and "{'" not in out


def test_old_format_json_is_read_back(plan, ecm):
    now = plan(ecm)
    # What `python -m stacks plan <stack> --json` printed before the plan package (no schema, no dependencies).
    old = {"stack": "test", "resources": [{"type": r.type, "name": r.name, "parent": r.parent, "inputs": r.inputs,
                                           "options": r.options} for r in now.resources],
           "outputs": now.outputs, "warnings": now.warnings}
    read = run_from_json(json.loads(json.dumps(old)))
    assert sorted(r.name for r in read.resources) == sorted(r.name for r in now.resources)
    assert read.named("default/cube-svc").custom is False and read.named("default/cube-svc/service").custom is True
    assert build(now, read, ref="old").diff.empty
    changed = copy.deepcopy(old)
    service = next(r for r in changed["resources"] if r["name"] == "default/cube-svc/service")
    service["inputs"]["metadata"]["annotations"][EIP_BANDWIDTH] = "5"
    assert build(now, run_from_json(changed), ref="old").diff.updated == {"default/cube-svc/service": ["metadata"]}


def test_new_format_json_is_read_back_without_its_deletes(plan, owned):
    report, _ = compare(plan, owned, lambda c: c["nodePools"][1]["labels"].update({"k8s-svc": "other"}))
    read = run_from_json(json.loads(dumps(report)))
    assert isinstance(read, Run) and sorted(r.name for r in read.resources) == sorted(r.name for r in report.run.resources)
    attachment = read.named("default/cube-svc/elb/np-hefei/eip-attachment")
    assert attachment.property_dependencies["instanceId"] == ("default/cube-svc/elb/np-hefei/loadbalancer",)
    assert build(report.run, read, ref="self").diff.empty
