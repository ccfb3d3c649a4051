"""What reaches the cluster is valid: Services and DaemonSets against the Kubernetes OpenAPI schema
(kubernetes-validate), NodePool and PoolService patches against the OpenYurt CRD schemas."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import jsonschema
import kubernetes_validate
import pytest
import yaml

from plan.offline import Registration
from plan.render import is_object_patch

SCHEMAS = Path(__file__).resolve().parent / "schemas"
KUBERNETES = "1.37.0"
# The objects an ExistingObjectPatch edits, by kind: its labels and annotations must fit their schemas.
CRDS = {
    "NodePool": ("apps.openyurt.io_nodepools.yaml", "v1beta2"),
    "PoolService": ("network.openyurt.io_poolservices.yaml", "v1alpha1"),
}


def crd_schema(file: str, version: str) -> dict:
    crd = yaml.safe_load((SCHEMAS / file).read_text())
    (served,) = [v for v in crd["spec"]["versions"] if v["name"] == version]
    return served["schema"]["openAPIV3Schema"]


def manifest(r: Registration) -> dict:
    if is_object_patch(r):  # the object as the merge patch leaves it: ours are labels and annotations only
        meta = {"name": r.inputs["name"], "labels": r.inputs.get("labels"), "annotations": r.inputs.get("annotations")}
        if r.inputs.get("namespace"):
            meta["namespace"] = r.inputs["namespace"]
        return {"apiVersion": r.inputs["apiVersion"], "kind": r.inputs["kind"],
                "metadata": {k: v for k, v in meta.items() if v}, **({"spec": r.inputs["spec"]} if "spec" in r.inputs else {})}
    return {k: v for k, v in r.inputs.items() if k in ("apiVersion", "kind", "metadata", "spec")}


OBJECT_META = (Path(kubernetes_validate.__file__).parent / "kubernetes-json-schema" / f"v{KUBERNETES}-local-strict"
               / "objectmeta-meta-v1.json")


def validate(r: Registration) -> None:
    if is_object_patch(r):
        schema = crd_schema(*CRDS[r.inputs["kind"]])
        jsonschema.validate(manifest(r), schema, cls=jsonschema.Draft7Validator)
        # The CRD leaves metadata to the API server: check it against ObjectMeta itself.
        meta_schema = json.loads(OBJECT_META.read_text())
        jsonschema.validate(manifest(r)["metadata"], meta_schema, cls=jsonschema.Draft7Validator)
    else:
        kubernetes_validate.validate(manifest(r), KUBERNETES, strict=True)


def modes(config: dict) -> dict[str, dict]:
    """One configuration per exposure mode the cluster controllers carry out."""
    out = {"elb-ecm": copy.deepcopy(config)}
    out["elb-ecm"]["services"][0] |= {"workload": {"name": "cube", "image": "registry.example.com/cube:1.0"},
                                      "loadBalancer": {"type": "elb", "management": "ecm", "eip": {"bandwidth": 20},
                                                       "healthCheck": {"interval": 3}, "persistenceTimeout": 30}}
    user = out["elb-user"] = copy.deepcopy(config)
    user["services"][0]["loadBalancer"] = {"type": "elb", "management": "user",
                                           "elbIds": {"np-hefei": "lb-a1", "np-chengdu": "lb-b2"}}
    nlb = out["nlb-ccm"] = copy.deepcopy(config)
    nlb["services"][0] |= {"nodePoolSelector": {}, "loadBalancer": {"type": "nlb", "management": "ccm"}}
    clb = out["clb-ccm"] = copy.deepcopy(config)
    clb["services"][0] |= {"externalTrafficPolicy": "Cluster", "nodePoolSelector": {},
                           "ports": [{"name": "http", "port": 80, "nodePort": 30080}],
                           "loadBalancer": {"type": "clb", "management": "ccm", "scheduler": "wrr"}}
    owned = out["elb-pulumi"] = copy.deepcopy(config)
    owned["services"][0]["loadBalancer"] = {"type": "elb", "management": "pulumi"}
    nlb_owned = out["nlb-pulumi"] = copy.deepcopy(nlb)
    nlb_owned["services"][0]["loadBalancer"]["management"] = "pulumi"
    # Pulumi's load balancer, bound for CCM: the Service carries the ids of its groups.
    for kind, base in (("nlb", nlb), ("clb", clb)):
        bound = out[f"{kind}-user"] = copy.deepcopy(base)
        bound["services"][0]["loadBalancer"] = {"type": kind, "management": "user"}
        bound["cluster"]["ccmVersion"] = "v2.14.0"
    return out


@pytest.mark.parametrize("mode", ["elb-ecm", "elb-user", "elb-pulumi", "nlb-ccm", "nlb-pulumi", "nlb-user", "clb-ccm",
                                  "clb-user"])
def test_every_cluster_object_is_schema_valid(config, plan, mode):
    run = plan(modes(config)[mode], preview=False)
    objects = [r for r in run.resources if r.type.startswith("kubernetes:") or is_object_patch(r)]
    assert objects, "the mode declares cluster objects"
    for r in objects:
        validate(r)


def test_the_validators_do_reject_a_broken_service(config, plan):
    service = next(r for r in plan(config, preview=False).resources if r.type == "kubernetes:core/v1:Service")
    broken = copy.deepcopy(service.inputs)
    broken["spec"]["ports"][0]["port"] = "eighty"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(manifest(Registration(service.type, "x", None, broken, True)), KUBERNETES, strict=True)


def test_the_validators_do_reject_a_broken_node_pool_patch(config, plan):
    patch = next(r for r in plan(config, preview=False).resources if is_object_patch(r))
    broken = copy.deepcopy(patch.inputs)
    broken["labels"] = {"k8s-svc": 1}  # a label value must be a string
    with pytest.raises(jsonschema.ValidationError):
        validate(Registration(patch.type, "x", None, broken, True))
