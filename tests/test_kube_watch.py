"""Watches of the fake API server, through the official client's `kubernetes.watch.Watch().stream(...)`: events
after a list's resourceVersion, the initial state, selectors, bookmarks, timeouts and resuming, 410 Expired and
the re-list it calls for, one resourceVersion counter across kinds, and streams that end when they should."""

from __future__ import annotations

import json
import threading
import time
from typing import Any, Callable

import pytest
import urllib3
import yaml
from kubernetes import client as k8s
from kubernetes import watch
from kubernetes.client.exceptions import ApiException
from kubernetes.config import new_client_from_config_dict

from tests.kube.clients import TOKEN
from tests.kubeserver import KubeServer

NS = "default"
SLICE_SERVICE = "kubernetes.io/service-name"




def events(func: Callable[..., Any], *args: Any, **kwargs: Any) -> list[tuple[str, str]]:
    """(type, name) of every event of one watch that ends at its timeout."""
    kwargs.setdefault("timeout_seconds", 1)
    return [(e["type"], e["raw_object"]["metadata"].get("name", "")) for e in watch.Watch().stream(func, *args, **kwargs)]


def eventually(check: Callable[[], bool], seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


# --- what a watch sends -----------------------------------------------------------------------------

def test_a_watch_from_a_list_resource_version_sends_every_change_after_it(kube: KubeServer, api: k8s.ApiClient) -> None:
    core = k8s.CoreV1Api(api)
    kube.add_node("ens-1", pool="np-hefei")
    listed = core.list_node()
    kube.update_node("ens-1", ready=False)
    kube.add_node("ens-2", pool="np-hefei")
    kube.remove_node("ens-1")
    stream = list(watch.Watch().stream(core.list_node, resource_version=listed.metadata.resource_version,
                                       timeout_seconds=1))
    assert [(e["type"], e["object"].metadata.name) for e in stream] == [
        ("MODIFIED", "ens-1"), ("ADDED", "ens-2"), ("DELETED", "ens-1")]
    assert isinstance(stream[0]["object"], k8s.V1Node)
    ready = [c.status for c in stream[0]["object"].status.conditions if c.type == "Ready"]
    assert ready == ["False"]
    versions = [int(e["object"].metadata.resource_version) for e in stream]
    assert int(listed.metadata.resource_version) < versions[0] < versions[1] < versions[2]  # the deletion has its own


def test_without_a_resource_version_the_watch_starts_with_the_current_state(kube: KubeServer,
                                                                            api: k8s.ApiClient) -> None:
    core = k8s.CoreV1Api(api)
    for name in ("ens-2", "ens-1"):
        kube.add_node(name)
    seen = []
    w = watch.Watch()
    for event in w.stream(core.list_node, timeout_seconds=5):
        seen.append((event["type"], event["object"].metadata.name))
        if len(seen) == 2:
            kube.add_node("ens-3")  # a change made while the stream is open arrives on it
        if len(seen) == 3:
            w.stop()
    assert seen == [("ADDED", "ens-1"), ("ADDED", "ens-2"), ("ADDED", "ens-3")]


def test_one_resource_version_counter_across_kinds(kube: KubeServer, api: k8s.ApiClient) -> None:
    core = k8s.CoreV1Api(api)
    node = kube.add_node("ens-1")
    service = kube.add_service(NS, "cube-svc")
    (endpoint_slice,) = kube.set_endpoints(NS, "cube-svc", [{"ip": "172.16.0.5", "node": "ens-1"}])
    versions = [int(o["metadata"]["resourceVersion"]) for o in (node, service, endpoint_slice)]
    assert versions == sorted(set(versions))
    assert core.list_node().metadata.resource_version == core.list_namespaced_service(NS).metadata.resource_version
    assert int(core.list_node().metadata.resource_version) == versions[-1]  # a list does not move it


def test_services_are_watched_per_namespace_and_across_namespaces(kube: KubeServer, api: k8s.ApiClient) -> None:
    core = k8s.CoreV1Api(api)
    start = core.list_service_for_all_namespaces().metadata.resource_version
    kube.add_service(NS, "cube-svc")
    kube.add_service("other", "other-svc")
    core.patch_namespaced_service_status("cube-svc", NS, {"status": {"loadBalancer": {"ingress": [{"ip": "39.1.2.3"}]}}})
    core.delete_namespaced_service("other-svc", "other")
    assert events(core.list_namespaced_service, NS, resource_version=start) == [
        ("ADDED", "cube-svc"), ("MODIFIED", "cube-svc")]
    assert events(core.list_service_for_all_namespaces, resource_version=start) == [
        ("ADDED", "cube-svc"), ("ADDED", "other-svc"), ("MODIFIED", "cube-svc"), ("DELETED", "other-svc")]


def test_endpoint_slices_follow_set_endpoints_in_place(kube: KubeServer, api: k8s.ApiClient) -> None:
    discovery = k8s.DiscoveryV1Api(api)
    kube.add_service(NS, "cube-svc")
    kube.add_service(NS, "other")
    first = kube.set_endpoints(NS, "cube-svc", [{"ip": "172.16.0.5", "node": "ens-1"}])
    start = discovery.list_endpoint_slice_for_all_namespaces().metadata.resource_version
    two = [{"ip": f"172.16.0.{i}", "node": "ens-1"} for i in (7, 6)]
    kube.set_endpoints(NS, "cube-svc", two, slices=2)  # the first slice changes, a second one is added
    kube.set_endpoints(NS, "other", [{"ip": "172.16.1.5", "node": "ens-2"}])
    kube.set_endpoints(NS, "cube-svc", two, slices=2)  # the same again: nothing is written
    kube.set_endpoints(NS, "cube-svc", [])  # the placeholder: the first slice emptied, the second deleted
    selector = f"{SLICE_SERVICE}=cube-svc"
    stream = list(watch.Watch().stream(discovery.list_endpoint_slice_for_all_namespaces, label_selector=selector,
                                       resource_version=start, timeout_seconds=1))
    name = first[0]["metadata"]["name"]
    assert [(e["type"], e["object"].metadata.name == name) for e in stream] == [
        ("MODIFIED", True), ("ADDED", False), ("MODIFIED", True), ("DELETED", False)]
    assert [e["object"].metadata.generation for e in stream if e["object"].metadata.name == name] == [2, 3]
    assert stream[-2]["object"].endpoints is None  # the placeholder
    namespaced = events(discovery.list_namespaced_endpoint_slice, NS, label_selector=f"{SLICE_SERVICE}=other",
                        resource_version=start)
    assert [kind for kind, _ in namespaced] == ["ADDED"]


def test_selectors_turn_changes_into_added_and_deleted(kube: KubeServer, api: k8s.ApiClient) -> None:
    core = k8s.CoreV1Api(api)
    kube.add_node("ens-1", pool="np-hefei")
    kube.add_node("ens-2", pool="np-wuhu")
    start = core.list_node().metadata.resource_version
    kube.update_node("ens-1", pool="np-wuhu")  # leaves the selection
    kube.update_node("ens-2", pool="np-hefei")  # enters it
    kube.update_node("ens-2", labels={"team": "edge"})
    kube.update_node("ens-1", ready=False)  # outside the selection: not sent
    pool = "apps.openyurt.io/nodepool=np-hefei"
    assert events(core.list_node, label_selector=pool, resource_version=start) == [
        ("DELETED", "ens-1"), ("ADDED", "ens-2"), ("MODIFIED", "ens-2")]
    assert events(core.list_node, field_selector="metadata.name=ens-1", resource_version=start) == [
        ("MODIFIED", "ens-1"), ("MODIFIED", "ens-1")]
    kube.update_node("ens-2", unschedulable=True)
    assert events(core.list_node, field_selector="spec.unschedulable=true") == [("ADDED", "ens-2")]
    with pytest.raises(ApiException) as caught:
        core.list_node(field_selector="spec.providerID=x")
    assert caught.value.status == 400 and "field label not supported: spec.providerID" in caught.value.body


def test_custom_objects_and_leases_are_watched(kube: KubeServer, api: k8s.ApiClient) -> None:
    custom, coordination = k8s.CustomObjectsApi(api), k8s.CoordinationV1Api(api)
    start = coordination.list_lease_for_all_namespaces().metadata.resource_version
    kube.add_node_pool("np-hefei")
    kube.add_service(NS, "cube-svc")
    kube.add_pool_service(NS, "cube-svc", "np-hefei")
    kube.add_service("other", "cube-svc")
    kube.add_pool_service("other", "cube-svc", "np-hefei")
    kube.edit("nodepools", "np-hefei", {"metadata": {"labels": {"k8s-svc": "cube"}}})
    coordination.create_namespaced_lease(NS, {"metadata": {"name": "lock"}, "spec": {"holderIdentity": "a"}})
    coordination.patch_namespaced_lease("lock", NS, {"spec": {"holderIdentity": "b"}})
    assert events(custom.list_cluster_custom_object, "apps.openyurt.io", "v1beta2", "nodepools",
                  resource_version=start) == [("ADDED", "np-hefei"), ("MODIFIED", "np-hefei")]
    assert events(custom.list_namespaced_custom_object, "network.openyurt.io", "v1alpha1", NS, "poolservices",
                  resource_version=start) == [("ADDED", "cube-svc-np-hefei")]
    assert len(events(custom.list_cluster_custom_object, "network.openyurt.io", "v1alpha1", "poolservices",
                      resource_version=start)) == 2  # every namespace
    leases = list(watch.Watch().stream(coordination.list_namespaced_lease, NS, resource_version=start,
                                       timeout_seconds=1))
    assert [(e["type"], e["object"].spec.holder_identity) for e in leases] == [("ADDED", "a"), ("MODIFIED", "b")]


# --- bookmarks, timeouts, resuming ------------------------------------------------------------------

def test_bookmarks_carry_the_current_resource_version(kube: KubeServer, api: k8s.ApiClient) -> None:
    core = k8s.CoreV1Api(api)
    kube.bookmark_seconds = 0.3
    kube.add_node("ens-1", labels={"watched": "no"})
    start = core.list_node().metadata.resource_version
    kube.update_node("ens-1", ready=False)  # filtered out, yet the bookmark moves past it
    w = watch.Watch()
    stream = list(w.stream(core.list_node, label_selector="watched=yes", resource_version=start,
                           allow_watch_bookmarks=True, timeout_seconds=1))
    current = core.list_node().metadata.resource_version
    assert [e["type"] for e in stream] == ["BOOKMARK"] * len(stream) and len(stream) >= 3  # periodic, and a last one
    assert {e["raw_object"]["metadata"]["resourceVersion"] for e in stream} == {current} != {start}
    assert stream[0]["raw_object"]["kind"] == "Node" and w.resource_version == current
    assert events(core.list_node, label_selector="watched=yes") == []  # no bookmarks unless asked for


def test_send_initial_events_ends_with_an_annotated_bookmark(kube: KubeServer, api: k8s.ApiClient) -> None:
    kube.add_node("ens-1")
    raw = k8s.CoreV1Api(api).list_node(watch=True, send_initial_events=True, allow_watch_bookmarks=True,
                                       resource_version_match="NotOlderThan", timeout_seconds=1,
                                       _preload_content=False)
    lines = [json.loads(line) for line in raw.data.decode().splitlines()]
    assert [line["type"] for line in lines] == ["ADDED", "BOOKMARK", "BOOKMARK"]
    assert lines[1]["object"]["metadata"]["annotations"] == {"k8s.io/initial-events-end": "true"}


def test_the_server_ends_a_watch_at_timeout_seconds_and_the_client_resumes(kube: KubeServer,
                                                                          api: k8s.ApiClient) -> None:
    core = k8s.CoreV1Api(api)
    kube.add_node("ens-1")
    w = watch.Watch()
    started = time.monotonic()
    first = [(e["type"], e["object"].metadata.name) for e in w.stream(core.list_node, timeout_seconds=1)]
    assert first == [("ADDED", "ens-1")] and 0.9 < time.monotonic() - started < 3
    kube.add_node("ens-2")
    resumed = [(e["type"], e["object"].metadata.name)
               for e in w.stream(core.list_node, resource_version=w.resource_version, timeout_seconds=1)]
    assert resumed == [("ADDED", "ens-2")]  # nothing twice, nothing lost


def test_without_timeout_seconds_the_client_reconnects_from_its_last_resource_version(kube: KubeServer,
                                                                                     api: k8s.ApiClient) -> None:
    core = k8s.CoreV1Api(api)
    kube.watch_timeout = 0.3  # the server's own deadline (30-60 minutes on a real one)
    start = core.list_node().metadata.resource_version

    def writer() -> None:
        for i in range(6):
            kube.add_node(f"ens-{i}")
            time.sleep(0.15)

    thread = threading.Thread(target=writer)
    thread.start()
    seen, w = [], watch.Watch()
    for event in w.stream(core.list_node, resource_version=start):
        seen.append(event["object"].metadata.name)
        if len(seen) == 6:
            w.stop()
    thread.join()
    assert seen == [f"ens-{i}" for i in range(6)]
    watches = [r for r in kube.requests if r.path == "/api/v1/nodes" and r.query.get("watch") == "true"]
    assert len(watches) >= 2 and all(r.query.get("resourceVersion") for r in watches)


# --- expiry -----------------------------------------------------------------------------------------

def test_a_resource_version_older_than_the_window_is_410_expired() -> None:
    with KubeServer(token=TOKEN, history=5) as kube:
        api = new_client_from_config_dict(yaml.safe_load(kube.kubeconfig(TOKEN)))
        core = k8s.CoreV1Api(api)
        kube.add_node("ens-0")
        old = core.list_node().metadata.resource_version
        for i in range(1, 7):
            kube.add_node(f"ens-{i}")
        raw = core.list_node(watch=True, resource_version=old, _preload_content=False)
        assert raw.status == 200
        (line,) = raw.data.decode().splitlines()
        error = json.loads(line)
        assert error["type"] == "ERROR" and error["object"]["code"] == 410
        assert error["object"]["reason"] == "Expired"
        assert error["object"]["message"].startswith(f"too old resource version: {old} (")
        with pytest.raises(ApiException) as caught:
            list(watch.Watch().stream(core.list_node, resource_version=old, timeout_seconds=1))
        assert caught.value.status == 410
        recent = core.list_node().metadata.resource_version
        assert events(core.list_node, resource_version=recent) == []  # a fresh one is fine
        api.close()


def test_a_410_makes_an_informer_relist_and_carry_on(kube: KubeServer, api: k8s.ApiClient) -> None:
    """The reflector's loop: list, watch from the list's resourceVersion, re-list when it expires."""
    core = k8s.CoreV1Api(api)
    kube.add_node("ens-1")
    known: dict[str, str] = {}
    lists = 0
    for _ in range(3):
        listed = core.list_node()
        lists += 1
        known = {n.metadata.name: n.metadata.resource_version for n in listed.items}
        rv = listed.metadata.resource_version
        if lists == 1:
            kube.add_node("ens-2")  # a change, then the window closes over it
            kube.compact()
        try:
            for event in watch.Watch().stream(core.list_node, resource_version=rv, timeout_seconds=1):
                known[event["object"].metadata.name] = event["object"].metadata.resource_version
            break
        except ApiException as exc:
            assert exc.status == 410
    assert lists == 2 and sorted(known) == ["ens-1", "ens-2"]


# --- streams end ------------------------------------------------------------------------------------

def test_streams_end_when_the_client_goes_or_the_server_stops(kube: KubeServer, api: k8s.ApiClient) -> None:
    core = k8s.CoreV1Api(api)
    kube.add_node("ens-1")
    w = watch.Watch()
    for _ in w.stream(core.list_node):
        w.stop()
    eventually(lambda: kube.open_watches == 0)

    ended = threading.Event()
    errors: list[BaseException] = []

    def watcher() -> None:
        try:
            for _ in watch.Watch().stream(core.list_node, timeout_seconds=60):
                pass
        except (urllib3.exceptions.HTTPError, ApiException) as exc:  # the reconnect after the stop
            errors.append(exc)
        ended.set()

    thread = threading.Thread(target=watcher, daemon=True)
    thread.start()
    eventually(lambda: kube.open_watches == 1)
    started = time.monotonic()
    kube.stop()
    assert ended.wait(5) and time.monotonic() - started < 5 and errors == []
