"""The fake API server's writes, through the official Kubernetes client: custom objects (merge patch, server-side
apply, preconditions, objects the controller creates later) and Services (allocation, immutable fields)."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException

from tests.kube.clients import status_of
from tests.kubeserver import KubeServer

NS, SVC, POOL = "default", "cube-svc", "np-hefei"
PS_GROUP, PS_VERSION = "network.openyurt.io", "v1alpha1"
NP_GROUP, NP_VERSION = "apps.openyurt.io", "v1beta2"
ELB_CLASS = "alibabacloud.com/elb"
LB_ID = "service.beta.kubernetes.io/alibaba-cloud-loadbalancer-id"
APPLY = "application/apply-patch+yaml"




def service_body(name: str = SVC, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
            "spec": {"type": "LoadBalancer", "selector": {"app": "cube"},
                     "ports": [{"name": "http", "port": 80, "targetPort": 8080}], **spec}}


# --- custom objects -------------------------------------------------------------------------------

def test_node_pools_are_cluster_scoped_and_pool_services_namespaced(kube: KubeServer, api: k8s.ApiClient) -> None:
    custom = k8s.CustomObjectsApi(api)
    kube.add_node_pool("np-hefei", labels={"k8s-svc": "cube"})
    kube.add_node_pool("np-wuhu")
    kube.add_service(NS, SVC, load_balancer_class=ELB_CLASS)
    kube.add_pool_service(NS, SVC, POOL)
    pool = custom.get_cluster_custom_object(NP_GROUP, NP_VERSION, "nodepools", "np-hefei")
    assert (pool["kind"], pool["metadata"]["labels"], pool["metadata"]["generation"]) == \
        ("NodePool", {"k8s-svc": "cube"}, 1)
    listed = custom.list_cluster_custom_object(NP_GROUP, NP_VERSION, "nodepools", label_selector="k8s-svc=cube")
    assert listed["kind"] == "NodePoolList" and [i["metadata"]["name"] for i in listed["items"]] == ["np-hefei"]
    ps = custom.list_namespaced_custom_object(PS_GROUP, PS_VERSION, NS, "poolservices")["items"]
    assert [p["metadata"]["name"] for p in ps] == ["cube-svc-np-hefei"]
    assert custom.list_namespaced_custom_object(PS_GROUP, PS_VERSION, "other", "poolservices")["items"] == []
    for wrong in (lambda: custom.get_namespaced_custom_object(NP_GROUP, NP_VERSION, NS, "nodepools", "np-hefei"),
                  lambda: custom.get_cluster_custom_object(NP_GROUP, "v1alpha1", "nodepools", "np-hefei")):
        with pytest.raises(ApiException) as caught:
            wrong()
        assert caught.value.status == 404 and status_of(caught)["message"] == \
            "the server could not find the requested resource"


def test_pool_service_as_the_controller_builds_it(kube: KubeServer, api: k8s.ApiClient) -> None:
    pool = kube.add_node_pool(POOL)
    service = kube.add_service(NS, SVC, load_balancer_class=ELB_CLASS)
    kube.add_pool_service(NS, SVC, POOL)
    ps = k8s.CustomObjectsApi(api).get_namespaced_custom_object(PS_GROUP, PS_VERSION, NS, "poolservices",
                                                                 "cube-svc-np-hefei")
    assert ps["metadata"]["labels"] == {"openyurt.io/service-name": SVC, "openyurt.io/pool-name": POOL,
                                        "poolservice.openyurt.io/managed-by": "load-balancer-set-controller"}
    owners = ps["metadata"]["ownerReferences"]
    assert [(o["kind"], o["uid"], o.get("controller", False)) for o in owners] == [
        ("Service", service["metadata"]["uid"], True), ("NodePool", pool["metadata"]["uid"], False)]
    assert ps["spec"] == {"loadBalancerClass": ELB_CLASS}


def test_a_pool_service_waits_for_its_service(kube: KubeServer, api: k8s.ApiClient) -> None:
    kube.add_pool_service(NS, SVC, POOL)
    assert kube.custom_object("poolservices", "cube-svc-np-hefei", NS) is None
    k8s.CoreV1Api(api).create_namespaced_service(NS, service_body())
    assert kube.custom_object("poolservices", "cube-svc-np-hefei", NS) is not None


def test_an_object_appears_after_n_reads_or_after_a_time(kube: KubeServer, api: k8s.ApiClient) -> None:
    custom = k8s.CustomObjectsApi(api)
    kube.add_node_pool("np-late", after_reads=2)
    seen = []
    for _ in range(3):
        try:
            custom.get_cluster_custom_object(NP_GROUP, NP_VERSION, "nodepools", "np-late")
            seen.append(200)
        except ApiException as exc:
            seen.append(exc.status)
    assert seen == [404, 404, 200]
    kube.add_node_pool("np-timed", after_seconds=0.3)
    assert kube.custom_object("nodepools", "np-timed") is None
    time.sleep(0.35)
    timed = custom.get_cluster_custom_object(NP_GROUP, NP_VERSION, "nodepools", "np-timed")
    assert timed["metadata"]["name"] == "np-timed"


def test_a_merge_patch_of_a_missing_object_is_404_and_creates_nothing(kube: KubeServer, api: k8s.ApiClient) -> None:
    with pytest.raises(ApiException) as caught:
        k8s.CustomObjectsApi(api).patch_namespaced_custom_object(
            PS_GROUP, PS_VERSION, NS, "poolservices", "cube-svc-np-hefei",
            {"metadata": {"annotations": {LB_ID: "lb-1"}}})
    assert caught.value.status == 404
    assert status_of(caught) == {
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "reason": "NotFound", "code": 404,
        "message": 'poolservices.network.openyurt.io "cube-svc-np-hefei" not found',
        "details": {"name": "cube-svc-np-hefei", "group": "network.openyurt.io", "kind": "poolservices"}}
    assert kube.custom_object("poolservices", "cube-svc-np-hefei", NS) is None


def test_server_side_apply_creates_a_missing_object_which_the_controller_then_ignores(
        kube: KubeServer, api: k8s.ApiClient) -> None:
    custom = k8s.CustomObjectsApi(api)
    applied = {"apiVersion": f"{PS_GROUP}/{PS_VERSION}", "kind": "PoolService",
               "metadata": {"name": "cube-svc-np-hefei", "namespace": NS, "annotations": {LB_ID: "lb-1"}}}
    with pytest.raises(ApiException) as caught:  # apply needs a field manager
        custom.patch_namespaced_custom_object(PS_GROUP, PS_VERSION, NS, "poolservices", "cube-svc-np-hefei", applied,
                                              _content_type=APPLY)
    assert caught.value.status == 422 and "fieldManager: Required value" in status_of(caught)["message"]
    # Raw: the client maps only a 200 answer of a custom object patch to a body, and apply creates with 201.
    answer = custom.patch_namespaced_custom_object(PS_GROUP, PS_VERSION, NS, "poolservices", "cube-svc-np-hefei",
                                                   applied, field_manager="pulumi-kubernetes", force=True,
                                                   _content_type=APPLY, _preload_content=False)
    created = json.loads(answer.data)
    assert answer.status == 201 and created["metadata"]["annotations"] == {LB_ID: "lb-1"}
    assert "labels" not in created["metadata"]
    kube.add_service(NS, SVC, load_balancer_class=ELB_CLASS)
    kube.add_pool_service(NS, SVC, POOL)  # the controller comes along: the name is taken by someone else's
    stored = kube.custom_object("poolservices", "cube-svc-np-hefei", NS)
    assert stored is not None and "ownerReferences" not in stored["metadata"] and "labels" not in stored["metadata"]
    assert kube.events == [("ManagedConflict", "PoolService default/cube-svc-np-hefei is not managed by "
                            "pool-service-controller, but the nodepool-labelselector of service default/cube-svc "
                            "include it")]


def test_merge_patch_sets_and_removes_keys_and_moves_the_resource_version(kube: KubeServer, api: k8s.ApiClient) -> None:
    custom = k8s.CustomObjectsApi(api)
    before = kube.add_node_pool(POOL, labels={"team": "edge"})
    patch = lambda body: custom.patch_cluster_custom_object(NP_GROUP, NP_VERSION, "nodepools", POOL, body)  # noqa: E731
    after = patch({"metadata": {"labels": {"k8s-svc": "cube"}, "annotations": {"a": "1"}}})
    assert after["metadata"]["labels"] == {"team": "edge", "k8s-svc": "cube"}
    assert int(after["metadata"]["resourceVersion"]) > int(before["metadata"]["resourceVersion"])
    assert after["metadata"]["generation"] == 1 and after["status"] == before["status"]
    assert patch({"metadata": {"labels": {"k8s-svc": "cube"}}})["metadata"]["resourceVersion"] == \
        after["metadata"]["resourceVersion"]  # nothing changed: nothing persisted
    gone = patch({"metadata": {"annotations": {"a": None}}, "status": {"readyNodeNum": 9}})
    assert "annotations" not in gone["metadata"] and gone["status"] == before["status"]  # status: a subresource
    assert patch({"spec": {"hostNetwork": True}})["metadata"]["generation"] == 2


def test_resource_version_and_uid_preconditions_are_409(kube: KubeServer, api: k8s.ApiClient) -> None:
    custom = k8s.CustomObjectsApi(api)
    pool = kube.add_node_pool(POOL)
    kube.edit("nodepools", POOL, {"metadata": {"labels": {"by": "someone"}}})
    for meta, why in (({"resourceVersion": pool["metadata"]["resourceVersion"]}, "the object has been modified"),
                      ({"uid": "not-the-uid"}, "Precondition failed: UID in precondition: not-the-uid")):
        with pytest.raises(ApiException) as caught:
            custom.patch_cluster_custom_object(NP_GROUP, NP_VERSION, "nodepools", POOL,
                                               {"metadata": {**meta, "labels": {"x": "y"}}})
        assert caught.value.status == 409 and status_of(caught)["reason"] == "Conflict"
        assert status_of(caught)["message"].startswith(
            f'Operation cannot be fulfilled on nodepools.apps.openyurt.io "{POOL}": {why}')
    assert "x" not in kube.custom_object("nodepools", POOL)["metadata"]["labels"]


def test_other_patch_types_are_415_and_delete_honours_finalizers(kube: KubeServer, api: k8s.ApiClient) -> None:
    custom = k8s.CustomObjectsApi(api)
    kube.add_node_pool(POOL)
    with pytest.raises(ApiException) as caught:
        custom.patch_cluster_custom_object(NP_GROUP, NP_VERSION, "nodepools", POOL,
                                           [{"op": "add", "path": "/metadata/labels", "value": {}}],
                                           _content_type="application/json-patch+json")
    assert caught.value.status == 415
    custom.patch_cluster_custom_object(NP_GROUP, NP_VERSION, "nodepools", POOL, {"metadata": {"finalizers": ["x/y"]}})
    deleting = custom.delete_cluster_custom_object(NP_GROUP, NP_VERSION, "nodepools", POOL)
    assert deleting["metadata"]["deletionTimestamp"] and kube.custom_object("nodepools", POOL) is not None
    custom.patch_cluster_custom_object(NP_GROUP, NP_VERSION, "nodepools", POOL, {"metadata": {"finalizers": None}})
    assert kube.custom_object("nodepools", POOL) is None


# --- Services -------------------------------------------------------------------------------------

def test_create_allocates_node_ports_and_a_health_check_port(kube: KubeServer, api: k8s.ApiClient) -> None:
    core = k8s.CoreV1Api(api)
    created = core.create_namespaced_service(NS, service_body(externalTrafficPolicy="Local"), _preload_content=False)
    assert created.status == 201
    spec = json.loads(created.data)["spec"]
    assert 30000 <= spec["ports"][0]["nodePort"] <= 32767 and spec["ports"][0]["protocol"] == "TCP"
    assert 30000 <= spec["healthCheckNodePort"] <= 32767 and spec["healthCheckNodePort"] != spec["ports"][0]["nodePort"]
    assert spec["allocateLoadBalancerNodePorts"] is True and spec["clusterIP"] == spec["clusterIPs"][0]
    cluster = core.create_namespaced_service(NS, service_body("other")).spec
    assert cluster.health_check_node_port is None and cluster.external_traffic_policy == "Cluster"
    with pytest.raises(ApiException) as caught:
        core.create_namespaced_service(NS, service_body())
    assert (caught.value.status, status_of(caught)["reason"]) == (409, "AlreadyExists")


def test_a_taken_or_out_of_range_node_port_is_invalid(kube: KubeServer, api: k8s.ApiClient) -> None:
    core = k8s.CoreV1Api(api)
    taken = core.create_namespaced_service(NS, service_body()).spec.ports[0].node_port
    for port, why in ((taken, "provided port is already allocated"),
                      (80, "provided port is not in the valid range. The range of valid ports is 30000-32767")):
        body = service_body("b", ports=[{"name": "http", "port": 80, "nodePort": port}])
        with pytest.raises(ApiException) as caught:
            core.create_namespaced_service(NS, body)
        assert caught.value.status == 422
        assert status_of(caught)["message"] == \
            f'Service "b" is invalid: spec.ports[0].nodePort: Invalid value: {port}: {why}'


def test_a_load_balancer_class_may_not_change(kube: KubeServer, api: k8s.ApiClient) -> None:
    core = k8s.CoreV1Api(api)
    created = core.create_namespaced_service(NS, service_body(loadBalancerClass=ELB_CLASS))
    with pytest.raises(ApiException) as caught:
        core.patch_namespaced_service(SVC, NS, {"spec": {"loadBalancerClass": "alibabacloud.com/nlb"}},
                                      _content_type="application/merge-patch+json")
    body = status_of(caught)
    assert (caught.value.status, body["reason"]) == (422, "Invalid")
    assert body["message"] == ('Service "cube-svc" is invalid: spec.loadBalancerClass: Invalid value: '
                               '"alibabacloud.com/nlb": may not change once set')
    assert body["details"] == {"name": SVC, "kind": "Service", "causes": [
        {"reason": "FieldValueInvalid", "field": "spec.loadBalancerClass",
         "message": 'Invalid value: "alibabacloud.com/nlb": may not change once set'}]}
    # The same through server-side apply (what pulumi-kubernetes sends) and when the class is dropped.
    with pytest.raises(ApiException) as caught:
        core.patch_namespaced_service(SVC, NS, {**service_body(loadBalancerClass="ack-edge-lb/pulumi")},
                                      field_manager="pulumi-kubernetes", _content_type=APPLY)
    assert caught.value.status == 422
    assert '"ack-edge-lb/pulumi": may not change once set' in status_of(caught)["message"]
    with pytest.raises(ApiException) as caught:
        core.replace_namespaced_service(SVC, NS, service_body())
    assert 'spec.loadBalancerClass: Invalid value: "null": may not change once set' in status_of(caught)["message"]
    assert core.read_namespaced_service(SVC, NS).metadata.resource_version == created.metadata.resource_version


def test_update_keeps_what_was_allocated_and_checks_the_resource_version(kube: KubeServer, api: k8s.ApiClient) -> None:
    core = k8s.CoreV1Api(api)
    created = core.create_namespaced_service(NS, service_body(externalTrafficPolicy="Local"))
    body = service_body(externalTrafficPolicy="Local")  # no clusterIP, nodePort or healthCheckNodePort
    body["metadata"]["annotations"] = {"a": "1"}
    updated = core.replace_namespaced_service(SVC, NS, body)
    assert updated.spec.cluster_ip == created.spec.cluster_ip
    assert updated.spec.ports[0].node_port == created.spec.ports[0].node_port
    assert updated.spec.health_check_node_port == created.spec.health_check_node_port
    assert int(updated.metadata.resource_version) > int(created.metadata.resource_version)
    stale = {**body, "metadata": {**body["metadata"], "resourceVersion": created.metadata.resource_version}}
    with pytest.raises(ApiException) as caught:
        core.replace_namespaced_service(SVC, NS, stale)
    assert caught.value.status == 409
    with pytest.raises(ApiException) as caught:
        core.patch_namespaced_service(SVC, NS, {"spec": {"clusterIP": "192.168.99.9"}})  # strategic merge
    assert 'spec.clusterIPs[0]: Invalid value: []string{"192.168.99.9"}: may not change once set' in \
        status_of(caught)["message"]
    assert core.patch_namespaced_service(SVC, NS, {"metadata": {"labels": {"l": "v"}}}).metadata.labels == {"l": "v"}


def test_delete_releases_the_node_ports(kube: KubeServer, api: k8s.ApiClient) -> None:
    core = k8s.CoreV1Api(api)
    port = core.create_namespaced_service(NS, service_body()).spec.ports[0].node_port
    core.delete_namespaced_service(SVC, NS)
    with pytest.raises(ApiException) as caught:
        core.read_namespaced_service(SVC, NS)
    assert caught.value.status == 404
    body = service_body("again", ports=[{"name": "http", "port": 80, "nodePort": port}])
    assert core.create_namespaced_service(NS, body).spec.ports[0].node_port == port
