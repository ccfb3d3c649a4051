"""The BackendGroup CRD (reconciler/crd/backendgroups.yaml): a valid apiextensions.k8s.io/v1 CRD for the
Kubernetes OpenAPI schema (kubernetes-validate), and its openAPIV3Schema takes the records the reconciler
writes and refuses malformed ones (jsonschema)."""

from __future__ import annotations

import copy

import jsonschema
import kubernetes_validate
import pytest
import yaml

from reconciler.model import Backend, Intent
from reconciler.record import API_VERSION, CRD_FILE, GROUP, KIND, PLURAL, VERSION, counts, record_name, spec_for

KUBERNETES = "1.37.0"


def crd() -> dict:
    return yaml.safe_load(CRD_FILE.read_text())


def json_schema(openapi: dict) -> dict:
    """OpenAPI v3 `nullable` as JSON Schema says it; the x-kubernetes-* keys mean nothing to jsonschema."""
    out = {k: (json_schema(v) if isinstance(v, dict) else [json_schema(i) for i in v]
               if isinstance(v, list) and v and isinstance(v[0], dict) else v)
           for k, v in openapi.items() if k != "nullable"}
    if "properties" in openapi:
        out["properties"] = {k: json_schema(v) for k, v in openapi["properties"].items()}
    if openapi.get("nullable"):
        out = {"anyOf": [out, {"type": "null"}]}
    return out


def validator() -> jsonschema.Draft7Validator:
    (version,) = crd()["spec"]["versions"]
    return jsonschema.Draft7Validator(json_schema(version["schema"]["openAPIV3Schema"]))


def sample() -> dict:
    owned = [Backend("i-hefei000"), Backend("172.16.0.5", 8080, 0, "Ip", "172.16.0.5")]
    return {
        "apiVersion": API_VERSION, "kind": KIND,
        "metadata": {"name": record_name("cube-svc", "ens", "lb-5abc", None), "namespace": "default"},
        "spec": spec_for(kind="ens", group_id="lb-5abc", service="cube-svc", mode="local", port_name="http",
                         pools=["np-hefei"], drain_seconds=0.05, ingress=[{"ip": "39.1.2.3"}]),
        "status": {"observedGeneration": 3, "desiredHash": "0123456789abcdef", "owned": [b.as_dict() for b in owned],
                   "intent": Intent.start("add", owned[:1]).as_dict(),
                   "conditions": [{"type": "Synced", "status": "False", "reason": "SyncFailed", "message": "boom",
                                   "lastTransitionTime": "2025-01-02T03:04:05Z", "observedGeneration": 3}],
                   "lastError": "boom", "lastSyncTime": "2025-01-02T03:04:05Z", "counts": counts(owned, 1)}}


def test_the_crd_is_a_valid_custom_resource_definition():
    kubernetes_validate.validate(crd(), KUBERNETES, strict=True)
    broken = crd()
    broken["spec"]["scope"] = 7
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES, strict=True)


def test_the_crd_names_scope_subresource_and_columns_are_the_design_s():
    spec = crd()["spec"]
    assert (spec["group"], spec["scope"]) == (GROUP, "Namespaced")
    names = spec["names"]
    assert (names["kind"], names["plural"], names["singular"], names["shortNames"]) == (
        KIND, PLURAL, "backendgroup", ["bg"])
    (version,) = spec["versions"]
    assert version["name"] == VERSION and version["served"] and version["storage"]
    assert version["subresources"] == {"status": {}}
    columns = {c["name"]: c["jsonPath"] for c in version["additionalPrinterColumns"]}
    assert list(columns) == ["Kind", "Group", "Writer", "Synced", "Backends", "Error", "Age"]
    assert columns["Synced"] == '.status.conditions[?(@.type=="Synced")].status'
    schema = version["schema"]["openAPIV3Schema"]["properties"]
    assert set(schema["spec"]["required"]) == {"kind", "groupId", "service", "mode"}
    assert set(schema["status"]["properties"]) == {"observedGeneration", "desiredHash", "owned", "draining", "intent",
                                                   "conditions", "lastError", "lastSyncTime", "counts"}


def test_a_record_as_the_reconciler_writes_it_is_valid():
    check = validator()
    assert not list(check.iter_errors(sample()))
    cleared = sample()
    cleared["status"].update(intent=None, lastError=None)  # a PUT may send nulls: both fields are nullable
    assert not list(check.iter_errors(cleared))
    assert sample()["spec"]["drainSeconds"] == 1  # whole seconds


@pytest.mark.parametrize("path,value", [
    (("spec", "kind"), "alb"),
    (("spec", "mode"), "random"),
    (("spec", "port"), 70000),
    (("spec", "drainSeconds"), 2.5),
    (("spec", "service"), "Cube_Svc"),
    (("spec", "ingress"), [{"ip": "1.2.3.4", "hostname": "a.example.com"}]),
    (("spec", "ingress"), [{}]),
    (("status", "owned"), [{"serverId": "i-1", "port": 0, "weight": 101, "type": "ens"}]),
    (("status", "owned"), [{"serverId": "i-1", "weight": 100, "type": "ens"}]),
    (("status", "intent"), {"id": "x", "op": "wipe", "backends": []}),
    (("status", "intent"), {"op": "add", "backends": []}),
    (("status", "conditions"), [{"type": "Synced", "status": "Yes"}]),
    (("status", "counts"), {"total": -1}),
])
def test_malformed_records_are_refused(path, value):
    obj = copy.deepcopy(sample())
    obj[path[0]][path[1]] = value
    assert list(validator().iter_errors(obj)), (path, value)


def test_a_record_without_its_required_spec_fields_is_refused():
    for field in ("kind", "groupId", "service", "mode"):
        obj = sample()
        del obj["spec"][field]
        assert list(validator().iter_errors(obj)), field


def test_record_names_are_dns_labels_and_differ_per_group_and_region():
    long = record_name("s" * 63, "nlb", "sgp-1", "cn-hangzhou")
    assert len(long) <= 63 and long[0].isalnum() and long[-1].isalnum()
    names = {record_name("web", "nlb", g, r) for g in ("sgp-1", "sgp-2") for r in ("cn-hangzhou", "cn-shanghai")}
    assert len(names) == 4 and all(n.startswith("web-nlb-") for n in names)
