"""What a controller needs from the fake API server, through the official client: custom resources from a CRD
(create, update with optimistic concurrency, status subresource, generation, finalizers, schema validation),
Service status, Leases and a leader election between two electors, Events, outages and slow answers."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client as k8s
from kubernetes import watch
from kubernetes.client.exceptions import ApiException
from kubernetes.leaderelection import electionconfig, leaderelection
from kubernetes.leaderelection.resourcelock.leaselock import LeaseLock

from tests.kube.clients import status_of
from tests.kubeserver import KubeServer

NS = "default"
GROUP, VERSION, PLURAL = "ack-edge-lb.io", "v1alpha1", "backendgroups"
CRD_FILE = Path(__file__).resolve().parent.parent / "reconciler" / "crd" / "backendgroups.yaml"
WIDGETS = {  # a small CRD of our own: cluster-scoped, two versions, defaults, int-or-string, selectable fields
    "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
    "metadata": {"name": "widgets.example.test"},
    "spec": {"group": "example.test", "scope": "Cluster",
             "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "shortNames": ["wd"]},
             "versions": [
                 {"name": version, "served": True, "storage": version == "v1",
                  "selectableFields": [{"jsonPath": ".spec.color"}],
                  "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                      "spec": {"type": "object", "required": ["color"], "properties": {
                          "color": {"type": "string", "enum": ["red", "blue"]},
                          "size": {"type": "integer", "default": 3, "minimum": 1},
                          "port": {"x-kubernetes-int-or-string": True},
                          "note": {"type": "string", "nullable": True},
                          "extra": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}}},
                      "status": {"type": "object", "properties": {"ready": {"type": "boolean"}}}}}}}
                 for version in ("v1", "v1beta1")]}}




def record(name: str = "cube-svc-ens-abc", **spec: Any) -> dict[str, Any]:
    return {"apiVersion": f"{GROUP}/{VERSION}", "kind": "BackendGroup",
            "metadata": {"name": name, "labels": {"ack-edge-lb.io/service": "cube-svc"}},
            "spec": {"kind": "ens", "groupId": "lb-5abc", "service": "cube-svc", "mode": "local", **spec}}


@pytest.fixture
def records(kube: KubeServer, api: k8s.ApiClient) -> k8s.CustomObjectsApi:
    kube.register_crd(CRD_FILE)
    return k8s.CustomObjectsApi(api)


# --- custom resources from a CRD ------------------------------------------------------------------

def test_register_crd_serves_the_resource_and_the_definition(kube: KubeServer, api: k8s.ApiClient) -> None:
    resource = kube.register_crd(CRD_FILE)
    assert (resource.group, resource.version, resource.plural, resource.namespaced, resource.status) == \
        (GROUP, VERSION, PLURAL, True, True)
    crd = k8s.ApiextensionsV1Api(api).read_custom_resource_definition("backendgroups.ack-edge-lb.io")
    assert crd.status.accepted_names.short_names == ["bg"]
    assert {c.type: c.status for c in crd.status.conditions}["Established"] == "True"
    widgets = kube.register_crd(yaml.safe_dump(WIDGETS))
    assert (widgets.namespaced, widgets.versions, widgets.version) == (False, ("v1", "v1beta1"), "v1")
    with pytest.raises(ValueError, match="metadata.name"):
        kube.register_crd({**WIDGETS, "metadata": {"name": "wrong"}})
    gadgets = json.loads(json.dumps(WIDGETS).replace("widget", "gadget"))
    created = k8s.ApiextensionsV1Api(api).create_custom_resource_definition(gadgets)  # as `kubectl apply` would
    assert created.metadata.name == "gadgets.example.test" and created.metadata.resource_version
    listed = k8s.ApiextensionsV1Api(api).list_custom_resource_definition()
    assert [c.metadata.name for c in listed.items] == ["backendgroups.ack-edge-lb.io", "gadgets.example.test",
                                                        "widgets.example.test"]
    assert k8s.CustomObjectsApi(api).list_cluster_custom_object("example.test", "v1", "gadgets")["items"] == []


def test_create_defaults_generation_status_and_conflicts(records: k8s.CustomObjectsApi) -> None:
    body = record(port=30080)
    body["status"] = {"observedGeneration": 9}
    body["spec"]["unknownField"] = "pruned"
    created = records.create_namespaced_custom_object(GROUP, VERSION, NS, PLURAL, body)
    meta = created["metadata"]
    assert (meta["generation"], meta["namespace"], bool(meta["uid"]), bool(meta["creationTimestamp"])) == \
        (1, NS, True, True)
    assert "status" not in created and "unknownField" not in created["spec"]  # status subresource; pruning
    with pytest.raises(ApiException) as caught:
        records.create_namespaced_custom_object(GROUP, VERSION, NS, PLURAL, record())
    assert (caught.value.status, status_of(caught)["reason"]) == (409, "AlreadyExists")
    assert status_of(caught)["message"] == 'backendgroups.ack-edge-lb.io "cube-svc-ens-abc" already exists'
    generated = records.create_namespaced_custom_object(
        GROUP, VERSION, NS, PLURAL, {**record(), "metadata": {"generateName": "cube-svc-"}})
    assert generated["metadata"]["name"].startswith("cube-svc-") and len(generated["metadata"]["name"]) == 14


def test_invalid_objects_are_422_with_the_field_paths(records: k8s.CustomObjectsApi) -> None:
    body = record(port="8080", mode="weird")
    del body["spec"]["groupId"]
    with pytest.raises(ApiException) as caught:
        records.create_namespaced_custom_object(GROUP, VERSION, NS, PLURAL, body)
    status = status_of(caught)
    assert (caught.value.status, status["reason"]) == (422, "Invalid")
    assert status["message"] == (
        'BackendGroup.ack-edge-lb.io "cube-svc-ens-abc" is invalid: [spec.groupId: Required value, '
        'spec.mode: Unsupported value: "weird": supported values: "cluster", "local", "ip", '
        'spec.port: Invalid value: "string": spec.port in body must be of type integer: "string"]')
    assert status["details"]["kind"] == "BackendGroup" and status["details"]["group"] == GROUP
    assert [c["field"] for c in status["details"]["causes"]] == ["spec.groupId", "spec.mode", "spec.port"]
    for spec, message in (({"port": 70000}, "spec.port: Invalid value: 70000: spec.port in body should be less "
                                            "than or equal to 65535"),
                          ({"service": "Cube"}, "spec.service: Invalid value: \"Cube\": spec.service in body should "
                                                "match '^[a-z]([-a-z0-9]*[a-z0-9])?$'")):
        with pytest.raises(ApiException) as caught:
            records.create_namespaced_custom_object(GROUP, VERSION, NS, PLURAL, record(**spec))
        assert status_of(caught)["message"].endswith(message)
    with pytest.raises(ApiException) as caught:
        records.create_namespaced_custom_object(GROUP, VERSION, NS, PLURAL, record("Not_A_Name"))
    assert "metadata.name: Invalid value: \"Not_A_Name\": a lowercase RFC 1123 subdomain" in status_of(caught)["message"]


def test_update_needs_the_resource_version_and_moves_generation_with_spec(records: k8s.CustomObjectsApi) -> None:
    created = records.create_namespaced_custom_object(GROUP, VERSION, NS, PLURAL, record())
    name = created["metadata"]["name"]
    with pytest.raises(ApiException) as caught:  # custom resources allow no unconditional update
        records.replace_namespaced_custom_object(GROUP, VERSION, NS, PLURAL, name, record())
    assert status_of(caught)["message"] == ('backendgroups.ack-edge-lb.io "cube-svc-ens-abc" is invalid: '
                                            'metadata.resourceVersion: Invalid value: 0x0: must be specified for an '
                                            'update')
    labelled = {**created, "metadata": {**created["metadata"], "labels": {"a": "b"}}}
    relabelled = records.replace_namespaced_custom_object(GROUP, VERSION, NS, PLURAL, name, labelled)
    assert relabelled["metadata"]["generation"] == 1  # metadata is not spec
    with pytest.raises(ApiException) as caught:  # the read it was based on is stale now
        records.replace_namespaced_custom_object(GROUP, VERSION, NS, PLURAL, name, {**created, "spec": {
            **created["spec"], "pools": ["np-hefei"]}})
    assert (caught.value.status, status_of(caught)["reason"]) == (409, "Conflict")
    changed = {**relabelled, "spec": {**relabelled["spec"], "pools": ["np-hefei"]}, "status": {"lastError": "x"}}
    updated = records.replace_namespaced_custom_object(GROUP, VERSION, NS, PLURAL, name, changed)
    assert updated["metadata"]["generation"] == 2 and "status" not in updated  # status only through /status
    patched = records.patch_namespaced_custom_object(GROUP, VERSION, NS, PLURAL, name,
                                                     {"spec": {"drainSeconds": 30}})
    assert patched["metadata"]["generation"] == 3
    with pytest.raises(ApiException) as caught:  # the CRD's CEL rule: kind and groupId are immutable
        records.patch_namespaced_custom_object(GROUP, VERSION, NS, PLURAL, name, {"spec": {"groupId": "lb-other"}})
    assert status_of(caught)["message"].endswith(
        'spec: Invalid value: "object": kind and groupId are immutable; another group is another BackendGroup')


def test_the_status_subresource_changes_only_status(kube: KubeServer, records: k8s.CustomObjectsApi) -> None:
    created = records.create_namespaced_custom_object(GROUP, VERSION, NS, PLURAL, record())
    name = created["metadata"]["name"]
    synced = {"observedGeneration": 1, "conditions": [{"type": "Synced", "status": "True", "reason": "Synced",
                                                       "lastTransitionTime": "2025-01-02T03:04:05Z"}]}
    body = {**created, "spec": {**created["spec"], "mode": "cluster"}, "status": synced,
            "metadata": {**created["metadata"], "labels": {"ignored": "yes"}}}
    written = records.replace_namespaced_custom_object_status(GROUP, VERSION, NS, PLURAL, name, body)
    assert written["status"] == synced and written["spec"]["mode"] == "local"
    assert written["metadata"]["labels"] == created["metadata"]["labels"] and written["metadata"]["generation"] == 1
    assert written["metadata"]["resourceVersion"] != created["metadata"]["resourceVersion"]
    patched = records.patch_namespaced_custom_object_status(GROUP, VERSION, NS, PLURAL, name,
                                                            {"status": {"lastError": None, "desiredHash": "abc"}})
    assert patched["status"]["desiredHash"] == "abc" and patched["status"]["observedGeneration"] == 1
    assert records.get_namespaced_custom_object_status(GROUP, VERSION, NS, PLURAL, name)["status"] == patched["status"]
    by_someone = kube.edit_status(PLURAL, name, {"lastError": "cloud said no"}, NS)  # another writer, as a test
    assert by_someone["status"]["lastError"] == "cloud said no" and by_someone["metadata"]["generation"] == 1
    with pytest.raises(ApiException) as caught:
        records.patch_namespaced_custom_object_status(GROUP, VERSION, NS, PLURAL, name,
                                                      {"status": {"conditions": [{"type": "Synced", "status": "Yes"}]}})
    assert 'status.conditions[0].status: Unsupported value: "Yes"' in status_of(caught)["message"]
    with pytest.raises(ApiException) as caught:
        records.patch_namespaced_custom_object_status(GROUP, VERSION, NS, PLURAL, name,
                                                      {"status": {"lastSyncTime": "yesterday"}})
    assert 'status.lastSyncTime in body must be of type date-time: "yesterday"' in status_of(caught)["message"]
    with pytest.raises(ApiException) as caught:  # a stale read
        records.replace_namespaced_custom_object_status(GROUP, VERSION, NS, PLURAL, name, written)
    assert caught.value.status == 409


def test_delete_waits_for_finalizers_and_honours_preconditions(kube: KubeServer, api: k8s.ApiClient,
                                                             records: k8s.CustomObjectsApi) -> None:
    body = record()
    body["metadata"]["finalizers"] = ["ack-edge-lb.io/backends"]
    created = records.create_namespaced_custom_object(GROUP, VERSION, NS, PLURAL, body)
    name = created["metadata"]["name"]
    with pytest.raises(ApiException) as caught:
        records.delete_namespaced_custom_object(GROUP, VERSION, NS, PLURAL, name,
                                                body=k8s.V1DeleteOptions(preconditions=k8s.V1Preconditions(
                                                    resource_version="1")))
    assert caught.value.status == 409 and "Precondition failed: ResourceVersion in precondition: 1" in \
        status_of(caught)["message"]
    deleting = records.delete_namespaced_custom_object(GROUP, VERSION, NS, PLURAL, name)
    assert deleting["metadata"]["deletionTimestamp"] and kube.custom_object(PLURAL, name, NS) is not None
    with pytest.raises(ApiException) as caught:
        records.patch_namespaced_custom_object(GROUP, VERSION, NS, PLURAL, name,
                                               {"metadata": {"finalizers": ["ack-edge-lb.io/backends", "x.io/y"]}})
    assert "no new finalizers can be added if the object is being deleted" in status_of(caught)["message"]
    start = deleting["metadata"]["resourceVersion"]
    records.patch_namespaced_custom_object(GROUP, VERSION, NS, PLURAL, name, {"metadata": {"finalizers": None}})
    assert kube.custom_object(PLURAL, name, NS) is None
    stream = list(watch.Watch().stream(records.list_namespaced_custom_object, GROUP, VERSION, NS, PLURAL,
                                       resource_version=start, timeout_seconds=1))
    assert [e["type"] for e in stream] == ["DELETED"] and stream[0]["object"]["metadata"].get("finalizers") is None


def test_versions_defaults_int_or_string_and_selectable_fields(kube: KubeServer, api: k8s.ApiClient) -> None:
    kube.register_crd(WIDGETS)
    custom = k8s.CustomObjectsApi(api)
    widget = {"apiVersion": "example.test/v1beta1", "kind": "Widget", "metadata": {"name": "w1"},
              "spec": {"color": "red", "port": "http", "note": None, "extra": {"any": {"thing": 1}}}}
    created = custom.create_cluster_custom_object("example.test", "v1beta1", "widgets", widget)
    assert created["apiVersion"] == "example.test/v1beta1"
    assert created["spec"] == {"color": "red", "port": "http", "note": None, "extra": {"any": {"thing": 1}},
                               "size": 3}
    assert custom.get_cluster_custom_object("example.test", "v1", "widgets", "w1")["apiVersion"] == "example.test/v1"
    custom.create_cluster_custom_object("example.test", "v1", "widgets", {
        **widget, "apiVersion": "example.test/v1", "metadata": {"name": "w2"}, "spec": {"color": "blue", "port": 80}})
    blue = custom.list_cluster_custom_object("example.test", "v1", "widgets", field_selector="spec.color=blue")
    assert [w["metadata"]["name"] for w in blue["items"]] == ["w2"] and blue["kind"] == "WidgetList"
    with pytest.raises(ApiException) as caught:
        custom.create_cluster_custom_object("example.test", "v1", "widgets", {
            **widget, "apiVersion": "example.test/v1", "metadata": {"name": "w3"}, "spec": {"color": "red",
                                                                                            "port": 1.5}})
    assert caught.value.status == 422 and "spec.port" in status_of(caught)["message"]


# --- Service status ---------------------------------------------------------------------------------

def test_service_status_takes_only_the_load_balancer_status(kube: KubeServer, api: k8s.ApiClient) -> None:
    core = k8s.CoreV1Api(api)
    kube.add_service(NS, "cube-svc")
    kube.add_service(NS, "internal", type="ClusterIP")
    before = core.read_namespaced_service_status("cube-svc", NS)
    written = core.patch_namespaced_service_status("cube-svc", NS, {
        "spec": {"type": "NodePort"}, "metadata": {"labels": {"x": "y"}},
        "status": {"loadBalancer": {"ingress": [{"ip": "39.1.2.3"}, {"hostname": "lb.example.com"}]}}})
    assert [(i.ip, i.ip_mode, i.hostname) for i in written.status.load_balancer.ingress] == [
        ("39.1.2.3", "VIP", None), (None, None, "lb.example.com")]
    assert written.spec.type == "LoadBalancer" and written.metadata.labels is None
    assert int(written.metadata.resource_version) > int(before.metadata.resource_version)
    same = core.patch_namespaced_service_status("cube-svc", NS, {"status": {"loadBalancer": {"ingress": [
        {"ip": "39.1.2.3", "ipMode": "VIP"}, {"hostname": "lb.example.com"}]}}})
    assert same.metadata.resource_version == written.metadata.resource_version  # nothing changed
    for name, ingress, message in (
            ("cube-svc", [{"ip": "not-an-ip"}], 'status.loadBalancer.ingress[0].ip: Invalid value: "not-an-ip": '
                                                'must be a valid IP address'),
            ("cube-svc", [{"hostname": "10.0.0.1"}], 'status.loadBalancer.ingress[0].hostname: Invalid value: '
                                                     '"10.0.0.1": must be a DNS name, not an IP address'),
            ("internal", [{"ip": "10.0.0.1"}], "status.loadBalancer.ingress: Forbidden: may only be used when "
                                               "`spec.type` is 'LoadBalancer'")):
        with pytest.raises(ApiException) as caught:
            core.patch_namespaced_service_status(name, NS, {"status": {"loadBalancer": {"ingress": ingress}}})
        assert caught.value.status == 422 and message in status_of(caught)["message"]
    stale = core.read_namespaced_service_status("cube-svc", NS)
    stale.metadata.resource_version = before.metadata.resource_version
    stale.status.load_balancer = k8s.V1LoadBalancerStatus(ingress=[])
    with pytest.raises(ApiException) as caught:
        core.replace_namespaced_service_status("cube-svc", NS, stale)
    assert caught.value.status == 409
    cleared = core.replace_namespaced_service_status("cube-svc", NS, {
        "metadata": {"name": "cube-svc"}, "status": {"loadBalancer": {}}})
    assert cleared.status.load_balancer.ingress is None


# --- Leases and leader election ---------------------------------------------------------------------

def test_leases_take_optimistic_updates(kube: KubeServer, api: k8s.ApiClient) -> None:
    coordination = k8s.CoordinationV1Api(api)
    lease = coordination.create_namespaced_lease(NS, k8s.V1Lease(
        metadata=k8s.V1ObjectMeta(name="ack-edge-lb-controller"),
        spec=k8s.V1LeaseSpec(holder_identity="a", lease_duration_seconds=15, renew_time="2025-01-02T03:04:05+08:00")))
    assert kube.lease(NS, "ack-edge-lb-controller")["spec"]["renewTime"] == "2025-01-01T19:04:05.000000Z"
    with pytest.raises(ApiException) as caught:
        coordination.create_namespaced_lease(NS, {"metadata": {"name": "ack-edge-lb-controller"}})
    assert caught.value.status == 409
    lease.spec.holder_identity = "b"
    renewed = coordination.replace_namespaced_lease("ack-edge-lb-controller", NS, lease)
    lease.spec.holder_identity = "c"  # the same read, written again: someone else won
    with pytest.raises(ApiException) as caught:
        coordination.replace_namespaced_lease("ack-edge-lb-controller", NS, lease)
    assert caught.value.status == 409 and status_of(caught)["message"].startswith(
        'Operation cannot be fulfilled on leases.coordination.k8s.io "ack-edge-lb-controller"')
    assert coordination.read_namespaced_lease("ack-edge-lb-controller", NS).spec.holder_identity == "b"
    patched = coordination.patch_namespaced_lease("ack-edge-lb-controller", NS, {"spec": {"leaseTransitions": 1}})
    assert patched.spec.lease_transitions == 1 and patched.spec.holder_identity == "b"
    json_patched = coordination.patch_namespaced_lease("ack-edge-lb-controller", NS, [  # a list: a JSON patch
        {"op": "test", "path": "/spec/holderIdentity", "value": "b"},
        {"op": "replace", "path": "/spec/holderIdentity", "value": "d"}])
    assert json_patched.spec.holder_identity == "d"
    with pytest.raises(ApiException) as caught:
        coordination.patch_namespaced_lease("ack-edge-lb-controller", NS, [
            {"op": "test", "path": "/spec/holderIdentity", "value": "b"}])
    assert caught.value.status == 422
    assert int(patched.metadata.resource_version) > int(renewed.metadata.resource_version)
    with pytest.raises(ApiException) as caught:
        coordination.patch_namespaced_lease("ack-edge-lb-controller", NS, {"spec": {"leaseDurationSeconds": 0}})
    assert status_of(caught)["message"] == ('Lease.coordination.k8s.io "ack-edge-lb-controller" is invalid: '
                                            'spec.leaseDurationSeconds: Invalid value: 0: must be greater than 0')
    assert [item.metadata.name for item in coordination.list_namespaced_lease(NS).items] == ["ack-edge-lb-controller"]
    coordination.delete_namespaced_lease("ack-edge-lb-controller", NS)
    assert kube.lease(NS, "ack-edge-lb-controller") is None


def test_a_leader_election_between_two_electors(kube: KubeServer, api: k8s.ApiClient) -> None:
    """kubernetes.leaderelection with LeaseLock: one leads; when it stops renewing the other takes over."""
    started: list[str] = []
    stop = {name: threading.Event() for name in ("a", "b")}

    def elector(identity: str) -> leaderelection.LeaderElection:
        lock = LeaseLock("ack-edge-lb-controller", NS, identity)
        lock.api_instance = k8s.CoordinationV1Api(api)  # LeaseLock builds a default client; point it here

        def lead() -> None:
            started.append(identity)
            stop[identity].wait(20)
            raise RuntimeError("stop leading")  # the election stops renewing and returns

        config = electionconfig.Config(lock, lease_duration=3, renew_deadline=2, retry_period=1,
                                       onstarted_leading=lead, onstopped_leading=lambda: None)
        return leaderelection.LeaderElection(config)

    threads = {}
    for identity in ("a", "b"):
        threads[identity] = threading.Thread(target=elector(identity).run, daemon=True)
        threads[identity].start()
        if identity == "a":
            deadline = time.monotonic() + 5
            while not started and time.monotonic() < deadline:
                time.sleep(0.05)
    time.sleep(1.5)  # b tries, and sees a's lease held
    assert started == ["a"] and kube.lease(NS, "ack-edge-lb-controller")["spec"]["holderIdentity"] == "a"
    stop["a"].set()
    threads["a"].join(10)
    deadline = time.monotonic() + 10
    while started == ["a"] and time.monotonic() < deadline:
        time.sleep(0.05)
    lease = kube.lease(NS, "ack-edge-lb-controller")
    assert started == ["a", "b"] and lease["spec"]["holderIdentity"] == "b"
    stop["b"].set()
    threads["b"].join(10)
    assert not threads["a"].is_alive() and not threads["b"].is_alive()
    writes = [r for r in kube.requests if r.method in ("POST", "PUT") and "leases" in r.path]
    assert writes[0].method == "POST" and len(writes) >= 3  # a created it, renewed it, b took it over


# --- Events -----------------------------------------------------------------------------------------

def test_events_are_recorded_and_patched(kube: KubeServer, api: k8s.ApiClient) -> None:
    core, events_v1 = k8s.CoreV1Api(api), k8s.EventsV1Api(api)
    involved = {"apiVersion": f"{GROUP}/{VERSION}", "kind": "BackendGroup", "name": "cube-svc-ens-abc",
                "namespace": NS, "uid": "u-1"}
    created = core.create_namespaced_event(NS, {
        "metadata": {"generateName": "cube-svc-ens-abc."}, "involvedObject": involved, "reason": "Synced",
        "message": "3 backends", "type": "Normal", "count": 1, "source": {"component": "ack-edge-lb"},
        "firstTimestamp": "2025-01-02T03:04:05Z", "lastTimestamp": "2025-01-02T03:04:05Z"})
    core.patch_namespaced_event(created.metadata.name, NS, {"count": 2, "lastTimestamp": "2025-01-02T03:05:05Z"})
    events_v1.create_namespaced_event(NS, {
        "metadata": {"name": "cube-svc-ens-abc.2"}, "regarding": involved, "reason": "SyncFailed", "note": "boom",
        "type": "Warning", "action": "Sync", "eventTime": "2025-01-02T03:06:05.000000Z",
        "reportingController": "ack-edge-lb.io/controller", "reportingInstance": "pod-1"})
    recorded = kube.recorded_events(NS, name="cube-svc-ens-abc")
    assert [(e["reason"], e.get("count"), e["message"]) for e in recorded] == [
        ("Synced", 2, "3 backends"), ("SyncFailed", None, "boom")]
    assert recorded[1]["reportingComponent"] == "ack-edge-lb.io/controller"  # the same storage, core field names
    listed = core.list_namespaced_event(NS, field_selector="involvedObject.name=cube-svc-ens-abc,reason=SyncFailed")
    assert [e.message for e in listed.items] == ["boom"]
    # Through events.k8s.io as raw JSON: the legacy Event's eventTime is null there, which kubernetes 37.0.2's
    # EventsV1Event model refuses (on a real server too), so a controller lists Events with CoreV1Api.
    raw = json.loads(events_v1.list_namespaced_event(NS, _preload_content=False).data)
    assert sorted((e["note"], e["eventTime"]) for e in raw["items"]) == [("3 backends", None),
                                                                        ("boom", "2025-01-02T03:06:05.000000Z")]
    with pytest.raises(ApiException) as caught:
        core.create_namespaced_event(NS, {"metadata": {"name": "x"}, "involvedObject": {**involved, "namespace": "o"}})
    assert 'involvedObject.namespace: Invalid value: "o": does not match event.namespace' in status_of(caught)["message"]
    with pytest.raises(ApiException) as caught:
        events_v1.create_namespaced_event(NS, {"metadata": {"name": "y"}, "regarding": involved, "type": "Normal",
                                               "eventTime": "2025-01-02T03:06:05Z"})  # the client needs eventTime
    assert status_of(caught)["message"] == ('Event.events.k8s.io "y" is invalid: [reportingController: Required '
                                            'value, reportingInstance: Required value, action: Required value, '
                                            'reason: Required value]')
