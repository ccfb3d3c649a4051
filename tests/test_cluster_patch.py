"""ExistingObjectPatch end to end: Pulumi's dynamic-provider host (gRPC, as the engine) drives the provider, which
patches a fake Kubernetes API with the official client. The object is always someone else's: the provider
waits for it, merge-patches only its own keys, and never creates it (server-side apply, for contrast, does)."""

from __future__ import annotations

import json
import time
from typing import Any, Iterator

import pytest
import yaml
from kubernetes import client as k8s
from kubernetes.config import new_client_from_config_dict
from pulumi.output import Unknown

from components.cluster_patch import (
    ExistingObjectPatch,
    ExistingObjectPatchProvider,
    check_inputs,
    plan_patch,
    release_patch,
)
from plan.offline import run_program
from tests.dynhost import UNKNOWN, DynamicHost, ProviderError, public
from tests.kubeserver import KubeServer

TOKEN = "kube-token-patch"
NS, SVC, POOL = "default", "cube-svc", "np-hefei"
PS_NAME = f"{SVC}-{POOL}"
LB_ID = "service.beta.kubernetes.io/alibaba-cloud-loadbalancer-id"
ENS_REGION, ENS_NETWORK = "alibabacloud.com/ens-region-id", "alibabacloud.com/ens-network-id"
PROVIDER = ExistingObjectPatchProvider(poll_interval=0.05)
WRITES = ("POST", "PUT", "PATCH", "DELETE")


@pytest.fixture
def kube() -> Iterator[KubeServer]:
    with KubeServer(token=TOKEN) as server:
        server.add_service(NS, SVC, load_balancer_class="alibabacloud.com/elb")
        yield server


@pytest.fixture
def host(kube: KubeServer) -> Iterator[DynamicHost]:
    with DynamicHost(env={"KUBECONFIG": "/nonexistent"}) as running:
        running.configure({"kubernetes:kubeconfig": kube.kubeconfig(TOKEN)}, namespace=False)
        yield running


def pool_service(**extra: Any) -> dict[str, Any]:
    return {"apiVersion": "network.openyurt.io/v1alpha1", "kind": "PoolService", "plural": "poolservices",
            "namespace": NS, "name": PS_NAME, "labels": {}, "annotations": {LB_ID: "lb-5hefei"}, "waitSeconds": 2,
            **extra}


def node_pool(**extra: Any) -> dict[str, Any]:
    return {"apiVersion": "apps.openyurt.io/v1beta2", "kind": "NodePool", "plural": "nodepools", "name": POOL,
            "labels": {"k8s-svc": "cube"}, "annotations": {ENS_REGION: "cn-hefei-cmcc-2", ENS_NETWORK: "n-1"},
            "waitSeconds": 1, **extra}


def stored(kube: KubeServer, plural: str = "poolservices", name: str = PS_NAME, namespace: str | None = NS) -> dict:
    obj = kube.custom_object(plural, name, namespace)
    assert obj is not None, f"{plural}/{name} is not on the server"
    return obj["metadata"]


def writes(kube: KubeServer) -> list[tuple[str, str]]:
    return [(r.method, r.content_type) for r in kube.requests if r.method in WRITES]


# --- check ----------------------------------------------------------------------------------------

def test_check_passes_unknowns_through_and_validates_only_what_is_known(host: DynamicHost) -> None:
    inputs, failures = host.check(PROVIDER, {}, pool_service(annotations={LB_ID: UNKNOWN}, name=UNKNOWN))
    assert failures == []
    assert isinstance(inputs["annotations"][LB_ID], Unknown) and isinstance(inputs["name"], Unknown)
    _, failures = host.check(PROVIDER, {}, node_pool(labels=UNKNOWN, annotations=UNKNOWN))
    assert failures == []
    _, failures = host.check(PROVIDER, {}, node_pool(
        namespace="default", labels={"bad key/with/slashes": "x", "k8s-svc": "not a label value!"},
        annotations={ENS_REGION: UNKNOWN}, waitSeconds=99999))
    assert sorted(p for p, _ in failures) == ["labels", "labels", "namespace", "waitSeconds"]  # key and value
    reasons = " | ".join(r for _, r in failures)
    assert "nodepools are cluster-scoped" in reasons and "0-3600 seconds" in reasons
    assert "'bad key/with/slashes' has more than one `/`" in reasons and "'not a label value!'" in reasons
    _, failures = host.check(PROVIDER, {}, pool_service(apiVersion="v1", namespace=UNKNOWN))
    assert [p for p, _ in failures] == ["apiVersion"]


def test_check_defaults_and_refuses_an_empty_patch(host: DynamicHost) -> None:
    inputs, failures = host.check(PROVIDER, {}, {k: v for k, v in pool_service().items() if k != "waitSeconds"})
    assert failures == [] and inputs["waitSeconds"] == 300
    _, failures = host.check(PROVIDER, {}, pool_service(annotations={}))
    assert failures == [("labels", "nothing to set: give labels or annotations")]


# --- create: wait, then patch; never create -------------------------------------------------------

def test_a_pool_service_that_appears_later_is_waited_for_and_patched(host: DynamicHost, kube: KubeServer) -> None:
    kube.add_pool_service(NS, SVC, POOL, after_reads=3)
    started = time.monotonic()
    id_, outs = host.create(PROVIDER, pool_service())
    assert id_ == f"network.openyurt.io/v1alpha1/namespaces/{NS}/poolservices/{PS_NAME}"
    meta = stored(kube)
    assert meta["annotations"] == {LB_ID: "lb-5hefei"}
    assert meta["labels"]["poolservice.openyurt.io/managed-by"] == "load-balancer-set-controller"  # still theirs
    assert outs["live"] == {"labels": {}, "annotations": {LB_ID: "lb-5hefei"}}
    assert outs["owned"] == {"labels": [], "annotations": [LB_ID]}
    assert (outs["resourceVersion"], outs["uid"]) == (meta["resourceVersion"], meta["uid"])
    assert len(kube.paths(f"/apis/network.openyurt.io/v1alpha1/namespaces/{NS}/poolservices/{PS_NAME}", "GET")) == 4
    assert writes(kube) == [("PATCH", "application/merge-patch+json")]
    assert [r.query.get("fieldManager") for r in kube.requests if r.method == "PATCH"] == ["ack-edge-lb"]
    assert time.monotonic() - started < 2


def test_a_pool_service_appears_only_once_the_service_exists(host: DynamicHost, kube: KubeServer) -> None:
    del kube.services[(NS, SVC)]
    kube.add_pool_service(NS, SVC, POOL)  # the controller waits for the Service
    looks = []

    def program_creates_the_service(call: Any) -> None:
        looks.append(call.method)
        if len(looks) == 3:
            kube.add_service(NS, SVC, load_balancer_class="alibabacloud.com/elb")

    kube.hooks.append(program_creates_the_service)
    host.create(PROVIDER, pool_service())
    assert stored(kube)["annotations"] == {LB_ID: "lb-5hefei"} and looks[:3] == ["GET"] * 3


def test_a_missing_object_times_out_with_a_clear_error_and_nothing_is_created(host: DynamicHost,
                                                                              kube: KubeServer) -> None:
    started = time.monotonic()
    with pytest.raises(ProviderError) as caught:
        host.create(PROVIDER, pool_service(waitSeconds=0.6))
    elapsed = time.monotonic() - started
    assert 0.6 <= elapsed < 3
    assert caught.value.summary == (
        f"components.cluster_patch.ObjectPatchError: PoolService {NS}/{PS_NAME} (network.openyurt.io/v1alpha1) does "
        "not exist after waiting 0.6 s; it is not created here: it is an object that the edge controller (ECM) "
        "creates once the Service exists and the node pool matches its service.openyurt.io/nodepool-labelselector. "
        f"Check with `kubectl get ps -n {NS}`.")
    assert kube.custom_object("poolservices", PS_NAME, NS) is None
    assert writes(kube) == [] and len(kube.paths("/apis/network.openyurt.io", "GET")) >= 5

    with pytest.raises(ProviderError, match=r"NodePool np-hefei .* waiting 1 s.*ACK creates when the node pool "
                                            r"exists.*`kubectl get np`"):
        host.create(PROVIDER, node_pool())
    assert kube.custom_object("nodepools", POOL) is None and writes(kube) == []


def test_server_side_apply_on_the_same_server_does_create_it(kube: KubeServer) -> None:
    """The old behaviour (pulumi-kubernetes CustomResourcePatch), for contrast: a stray PoolService the
    controller then refuses to manage."""
    api = new_client_from_config_dict(yaml.safe_load(kube.kubeconfig(TOKEN)))
    applied = {"apiVersion": "network.openyurt.io/v1alpha1", "kind": "PoolService",
               "metadata": {"name": PS_NAME, "namespace": NS, "annotations": {LB_ID: "lb-5hefei"}}}
    answer = k8s.CustomObjectsApi(api).patch_namespaced_custom_object(
        "network.openyurt.io", "v1alpha1", NS, "poolservices", PS_NAME, applied, field_manager="pulumi-kubernetes",
        force=True, _content_type="application/apply-patch+yaml", _preload_content=False)
    assert answer.status == 201 and json.loads(answer.data)["metadata"]["name"] == PS_NAME
    kube.add_pool_service(NS, SVC, POOL)
    assert "labels" not in stored(kube) and [reason for reason, _ in kube.events] == ["ManagedConflict"]
    api.close()


def test_transient_errors_while_waiting_are_waited_out(host: DynamicHost, kube: KubeServer) -> None:
    kube.add_pool_service(NS, SVC, POOL, after_reads=1)
    kube.fail(f"/apis/network.openyurt.io/v1alpha1/namespaces/{NS}/poolservices/{PS_NAME}", status=503, times=2)
    host.create(PROVIDER, pool_service())
    assert stored(kube)["annotations"] == {LB_ID: "lb-5hefei"}


def test_an_object_that_vanishes_before_the_patch_is_waited_for_again(host: DynamicHost, kube: KubeServer) -> None:
    kube.add_pool_service(NS, SVC, POOL)
    patches = []

    def controller_recreates_it(call: Any) -> None:
        if call.method == "PATCH" and not patches:
            patches.append(call)
            kube.remove("poolservices", PS_NAME, NS)
            kube.add_pool_service(NS, SVC, POOL, after_reads=2)

    kube.hooks.append(controller_recreates_it)
    host.create(PROVIDER, pool_service())
    assert stored(kube)["annotations"] == {LB_ID: "lb-5hefei"}
    assert [m for m, _ in writes(kube)] == ["PATCH", "PATCH"]  # the first answered 404, the second applied


# --- refresh, diff, update ------------------------------------------------------------------------

def test_refresh_reads_live_values_and_up_repairs_drift(host: DynamicHost, kube: KubeServer) -> None:
    kube.add_pool_service(NS, SVC, POOL)
    id_, outs = host.create(PROVIDER, pool_service())
    assert host.diff(PROVIDER, id_, outs, pool_service()).changes is False
    assert writes(kube) == [("PATCH", "application/merge-patch+json")]  # diff only reads
    kube.edit("poolservices", PS_NAME, {"metadata": {"annotations": {LB_ID: "lb-other"}}}, NS)
    read_id, refreshed, _ = host.read(PROVIDER, id_, outs)
    assert read_id == id_ and refreshed["live"]["annotations"] == {LB_ID: "lb-other"}
    assert refreshed["annotations"] == {LB_ID: "lb-5hefei"}  # what we set stays what we set
    assert refreshed["resourceVersion"] == stored(kube)["resourceVersion"] != outs["resourceVersion"]
    assert host.diff(PROVIDER, id_, refreshed, pool_service()).changes is True
    outs = host.update(PROVIDER, id_, refreshed, pool_service())
    assert stored(kube)["annotations"] == {LB_ID: "lb-5hefei"} and outs["live"]["annotations"] == {LB_ID: "lb-5hefei"}
    kube.remove("poolservices", PS_NAME, NS)
    assert host.read(PROVIDER, id_, outs)[0] == ""  # gone reads as gone


def test_diff_reports_value_changes_replacements_and_unknowns(host: DynamicHost, kube: KubeServer) -> None:
    kube.add_pool_service(NS, SVC, POOL)
    id_, outs = host.create(PROVIDER, pool_service())
    assert host.diff(PROVIDER, id_, outs, pool_service(annotations={LB_ID: "lb-new"})).changes is True
    other = host.diff(PROVIDER, id_, outs, pool_service(name="cube-svc-np-wuhu"))
    assert (other.changes, other.replaces) == (True, ["name"])
    unknown = host.diff(PROVIDER, id_, outs, pool_service(annotations={LB_ID: UNKNOWN}))
    assert (unknown.changes, unknown.replaces) == (True, [])
    assert host.diff(PROVIDER, id_, outs, pool_service(waitSeconds=60)).changes is False


def test_update_removes_a_dropped_key_only_while_it_is_ours(host: DynamicHost, kube: KubeServer) -> None:
    kube.add_node_pool(POOL)
    id_, outs = host.create(PROVIDER, node_pool())
    kube.edit("nodepools", POOL, {"metadata": {"annotations": {ENS_NETWORK: "n-changed-by-hand"}}})
    outs = host.update(PROVIDER, id_, outs, node_pool(labels={"k8s-svc": "cube"}, annotations={}))
    meta = stored(kube, "nodepools", POOL, None)
    assert meta["annotations"] == {ENS_NETWORK: "n-changed-by-hand"}  # ENS_REGION was ours and unchanged: removed
    assert outs["owned"] == {"labels": ["k8s-svc"], "annotations": []}
    assert [r.method for r in kube.requests if r.method in WRITES] == ["PATCH", "PATCH"]


def test_a_conflicting_write_during_update_is_read_again(host: DynamicHost, kube: KubeServer) -> None:
    kube.add_node_pool(POOL)
    id_, outs = host.create(PROVIDER, node_pool())
    raced = []

    def someone_writes_first(call: Any) -> None:
        if call.method == "PATCH" and not raced:
            raced.append(call)
            kube.edit("nodepools", POOL, {"metadata": {"labels": {"team": "edge"}}})

    kube.hooks.append(someone_writes_first)
    host.update(PROVIDER, id_, outs, node_pool(annotations={ENS_REGION: "cn-hefei-cmcc-2"}))
    meta = stored(kube, "nodepools", POOL, None)
    assert meta["labels"] == {"team": "edge", "k8s-svc": "cube"}
    assert meta["annotations"] == {ENS_REGION: "cn-hefei-cmcc-2"}
    assert len([r for r in kube.requests if r.method == "PATCH"]) == 3  # create, the 409, the retry


# --- delete ---------------------------------------------------------------------------------------

def test_delete_removes_only_our_unchanged_keys_and_keeps_the_object(host: DynamicHost, kube: KubeServer) -> None:
    kube.add_node_pool(POOL, labels={"team": "edge", "k8s-svc": "cube"}, annotations={"acme.io/owner": "ops"})
    id_, outs = host.create(PROVIDER, node_pool())
    assert outs["owned"] == {"labels": [], "annotations": [ENS_NETWORK, ENS_REGION]}  # the label was already there
    kube.edit("nodepools", POOL, {"metadata": {"annotations": {ENS_NETWORK: "n-changed-by-hand"}}})
    host.delete(PROVIDER, id_, outs)
    meta = stored(kube, "nodepools", POOL, None)
    assert meta["labels"] == {"team": "edge", "k8s-svc": "cube"}
    assert meta["annotations"] == {"acme.io/owner": "ops", ENS_NETWORK: "n-changed-by-hand"}
    delete_patch = [r for r in kube.requests if r.method == "PATCH"][-1]
    assert delete_patch.content_type == "application/merge-patch+json"
    assert not [r for r in kube.requests if r.method == "DELETE"]


def test_delete_of_a_gone_object_is_done(host: DynamicHost, kube: KubeServer) -> None:
    kube.add_pool_service(NS, SVC, POOL)
    id_, outs = host.create(PROVIDER, pool_service())
    kube.remove("poolservices", PS_NAME, NS)
    host.delete(PROVIDER, id_, public(outs))
    assert kube.custom_object("poolservices", PS_NAME, NS) is None
    assert writes(kube) == [("PATCH", "application/merge-patch+json")]  # the create's; delete wrote nothing


# --- the pure planner -----------------------------------------------------------------------------

def test_plan_and_release_touch_only_owned_keys_with_our_values() -> None:
    meta = {"labels": {"a": "1", "b": "2", "theirs": "x"}, "annotations": {"n": "ours", "m": "theirs-now"}}
    patch, owned = plan_patch(meta, {"labels": {"a": "1", "c": "3"}}, {"labels": {"a": "1", "b": "2"},
                                                                       "annotations": {"n": "ours", "m": "ours"}},
                              {"labels": ["b"], "annotations": ["n", "m"]})
    assert patch == {"labels": {"c": "3", "b": None}, "annotations": {"n": None}}
    assert owned == {"labels": ["c"], "annotations": []}
    assert plan_patch(meta, {"labels": {"a": "1"}}, {}, {})[0] is None
    assert release_patch(meta, {"annotations": {"n": "ours", "m": "ours"}}, {"annotations": ["n", "m"]}) == \
        {"annotations": {"n": None}}


# --- the constructors the program uses, under the SDK's mocks ---------------------------------------

def test_the_constructors_register_the_inputs_the_provider_checks() -> None:
    def program() -> None:
        ExistingObjectPatch.pool_service("svc/poolservice/np-hefei", namespace=NS, pool_service=PS_NAME,
                                         annotations={LB_ID: "lb-5hefei"})
        ExistingObjectPatch.node_pool("svc/nodepool/np-hefei", node_pool=POOL, labels={"k8s-svc": "cube"},
                                      annotations={ENS_REGION: "cn-hefei-cmcc-2"})

    run = run_program({}, "test", preview=True, program=program)
    ps, np_ = (public(run.named(f"svc/{kind}/np-hefei").inputs) for kind in ("poolservice", "nodepool"))
    assert ps == pool_service(waitSeconds=300) and check_inputs(ps) == []
    assert np_ == node_pool(annotations={ENS_REGION: "cn-hefei-cmcc-2"}, waitSeconds=30) and check_inputs(np_) == []
