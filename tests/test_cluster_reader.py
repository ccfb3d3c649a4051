"""The cluster reader of BackendSync, with the official Kubernetes client against the fake API server."""

from __future__ import annotations

import json
import time
import traceback
import urllib.request
from pathlib import Path
from typing import Iterator

import pytest
import yaml
from kubernetes import client as k8s
from kubernetes.config import incluster_config

from reconciler import cluster
from reconciler.cluster import (
    ClusterReadError,
    ClusterView,
    EndpointInfo,
    KubeconfigError,
    NodeInfo,
    instance_id_from_provider_id,
    load_api_client,
    read_cluster,
)
from tests.kubeserver import KubeServer

KUBECONFIG, CONTEXT = "kubernetes:kubeconfig", "kubernetes:context"  # the provider configuration keys

TOKEN = "kube-token-6f1d2c9a"
NODES = "/api/v1/nodes"
SLICES = "/apis/discovery.k8s.io/v1/namespaces/default/endpointslices"


@pytest.fixture
def kube() -> Iterator[KubeServer]:
    with KubeServer(token=TOKEN) as server:
        server.add_service("default", "cube-svc", ports=[{"name": "http", "port": 80, "targetPort": 8080}])
        yield server


@pytest.fixture
def api(kube: KubeServer) -> Iterator[k8s.ApiClient]:
    api_client = load_api_client({KUBECONFIG: kube.kubeconfig(TOKEN)})
    yield api_client
    api_client.close()


def read(api: k8s.ApiClient, service: str = "cube-svc", port: str | None = "http") -> ClusterView:
    return read_cluster(api, "default", service, port)


# --- nodes ------------------------------------------------------------------------------------------

def test_nodes_carry_pool_readiness_schedulability_and_instance_id(kube: KubeServer, api: k8s.ApiClient) -> None:
    kube.add_node("ens-hefei-1", pool="np-hefei", instance_id="i-5hefei1", internal_ip="10.8.0.11")
    kube.add_node("ens-hefei-2", pool="np-hefei", instance_id="i-5hefei2", provider_id="cn-hefei.i-other",
                  internal_ip="10.8.0.12", unschedulable=True)
    kube.add_node("ecs-1", pool="np-cloud", provider_id="cn-hangzhou.i-bp1abc", internal_ip="172.16.0.1")
    kube.add_node("ecs-2", pool="np-cloud", provider_id="alicloud://cn-hangzhou.i-bp1def", ready=False)
    kube.add_node("lost", pool="np-chengdu", instance_id="i-5lost", ready=None)
    kube.add_node("idc-1", provider_id="ack-hybrid://cn-hangzhou/idc-1", internal_ip="192.168.1.5")
    assert read(api).nodes == (
        NodeInfo("ecs-1", "np-cloud", True, True, "i-bp1abc", "172.16.0.1"),
        NodeInfo("ecs-2", "np-cloud", False, True, "i-bp1def", None),
        NodeInfo("ens-hefei-1", "np-hefei", True, True, "i-5hefei1", "10.8.0.11"),
        NodeInfo("ens-hefei-2", "np-hefei", True, False, "i-5hefei2", "10.8.0.12"),  # label wins over providerID
        NodeInfo("idc-1", None, True, True, None, "192.168.1.5"),
        NodeInfo("lost", "np-chengdu", False, True, "i-5lost", None),  # Ready Unknown is not ready
    )


def test_dual_stack_node_gives_its_ipv4_internal_ip(kube: KubeServer, api: k8s.ApiClient) -> None:
    node = kube.add_node("ens-1", instance_id="i-5a", internal_ip="fd00::11")
    node["status"]["addresses"].insert(1, {"type": "InternalIP", "address": "10.8.0.11"})
    assert read(api).nodes[0].internal_ip == "10.8.0.11"


@pytest.mark.parametrize("provider_id, expected", [
    ("cn-hangzhou.i-bp1abc", "i-bp1abc"),  # ACK ECS nodes (cloud-provider-alibaba-cloud node_utils_test.go)
    ("alicloud://cn-hangzhou.i-bp1abc", "i-bp1abc"),
    ("ack-hybrid://cn-hangzhou/idc-1", None),  # hybrid (IDC) nodes: not an Alibaba instance, CCM excludes them
    ("aws:///us-east-1a/i-0abc", None),
    ("cn-hangzhou123456", None),  # malformed, as in the CCM's tests
    ("alicloud://cn-hangzhou123456", None),
    ("cn-hangzhou.i-a.b", None),
    ("", None),
    (None, None),
])
def test_instance_id_from_provider_id(provider_id: str | None, expected: str | None) -> None:
    assert instance_id_from_provider_id(provider_id) == expected


def test_nodes_follow_continue_when_the_server_pages_below_the_limit() -> None:
    with KubeServer(token=TOKEN, max_page=2) as kube:
        kube.add_service("default", "cube-svc")
        for i in range(5):
            kube.add_node(f"n{i}", pool="p", instance_id=f"i-{i}")
        view = read_cluster(load_api_client({KUBECONFIG: kube.kubeconfig(TOKEN)}), "default", "cube-svc", "http")
        node_requests = [r for r in kube.requests if r.path == NODES]
    assert [n.name for n in view.nodes] == ["n0", "n1", "n2", "n3", "n4"]
    assert [r.query.get("limit") for r in node_requests] == ["500"] * 3
    assert ["continue" in r.query for r in node_requests] == [False, True, True]


def test_more_nodes_than_the_limit_take_several_pages(kube: KubeServer, api: k8s.ApiClient) -> None:
    for i in range(1001):
        kube.add_node(f"n{i:04d}", pool="p")
    view = read(api)
    assert len(view.nodes) == 1001 and len({n.name for n in view.nodes}) == 1001
    assert len(kube.paths(NODES)) == 3


# --- endpoints --------------------------------------------------------------------------------------

def test_endpoint_conditions_and_their_null_defaults(kube: KubeServer, api: k8s.ApiClient) -> None:
    kube.set_endpoints("default", "cube-svc", [
        {"ip": "172.20.0.1", "node": "ens-1"},  # controller defaults: ready, serving, not terminating
        {"ip": "172.20.0.2", "node": "ens-1", "ready": False, "serving": True, "terminating": True},  # draining
        {"ip": "172.20.0.3", "node": "ens-2", "ready": False, "serving": False, "terminating": False},
        {"ip": "172.20.0.4", "node": None, "ready": None, "serving": None, "terminating": None},  # all omitted
        {"ip": "172.20.0.5", "node": "ens-2", "ready": False, "serving": None, "terminating": None},
    ], ports=[{"name": "http", "port": 8080}])
    assert read(api).endpoints == (
        EndpointInfo("172.20.0.1", "ens-1", True, True, False, 8080),
        EndpointInfo("172.20.0.2", "ens-1", False, True, True, 8080),
        EndpointInfo("172.20.0.3", "ens-2", False, False, False, 8080),
        EndpointInfo("172.20.0.4", None, True, True, False, 8080),  # null ready is true
        EndpointInfo("172.20.0.5", "ens-2", False, False, False, 8080),  # null serving follows ready
    )


def test_endpoints_of_several_slices_and_slice_pages() -> None:
    with KubeServer(token=TOKEN, max_page=1) as kube:
        kube.add_service("default", "cube-svc")
        kube.add_service("default", "other")
        kube.set_endpoints("default", "cube-svc", [{"ip": f"172.20.0.{i}", "node": f"ens-{i % 3}"} for i in range(7)],
                           ports=[{"name": "http", "port": 8080}], slices=3)
        kube.set_endpoints("default", "other", [{"ip": "172.20.9.9"}], ports=[{"name": "http", "port": 1}])
        view = read_cluster(load_api_client({KUBECONFIG: kube.kubeconfig(TOKEN)}), "default", "cube-svc", "http")
        slice_requests = [r for r in kube.requests if r.path == SLICES]
    assert sorted(e.ip for e in view.endpoints) == [f"172.20.0.{i}" for i in range(7)]
    assert {e.port for e in view.endpoints} == {8080}
    assert len(slice_requests) == 3
    assert all(r.query["labelSelector"] == "kubernetes.io/service-name=cube-svc" for r in slice_requests)


def test_one_endpoint_info_per_ipv4_address_and_ipv6_slices_ignored(kube: KubeServer, api: k8s.ApiClient) -> None:
    kube.set_endpoints("default", "cube-svc", [{"addresses": ["172.20.0.1", "172.20.0.2"], "node": "ens-1"}],
                       ports=[{"name": "http", "port": 8080}])
    kube.set_endpoints("default", "cube-svc", [{"ip": "fd00::1", "node": "ens-1"}],
                       ports=[{"name": "http", "port": 8080}], address_type="IPv6")
    assert [e.ip for e in read(api).endpoints] == ["172.20.0.1", "172.20.0.2"]


def test_named_port_is_taken_from_each_slice(kube: KubeServer, api: k8s.ApiClient) -> None:
    kube.add_service("default", "web", ports=[{"name": "http", "port": 80}, {"name": "https", "port": 443}])
    ports = [{"name": "http", "port": 8080}, {"name": "https", "port": 8443}]
    kube.set_endpoints("default", "web", [{"ip": "172.20.0.1", "node": "n"}], ports=ports)
    assert [e.port for e in read(api, "web", "https").endpoints] == [8443]
    assert [e.port for e in read(api, "web", "http").endpoints] == [8080]


@pytest.mark.parametrize("port_name", [None, ""])
def test_unnamed_port(kube: KubeServer, api: k8s.ApiClient, port_name: str | None) -> None:
    kube.add_service("default", "plain", ports=[{"port": 80, "targetPort": 9000}])
    kube.set_endpoints("default", "plain", [{"ip": "172.20.0.1", "node": "n"}], ports=[{"name": "", "port": 9000}])
    assert [e.port for e in read(api, "plain", port_name).endpoints] == [9000]


def test_a_port_the_service_does_not_have_is_an_error(kube: KubeServer, api: k8s.ApiClient) -> None:
    with pytest.raises(ClusterReadError, match=r"Service default/cube-svc has no port named 'grpc'.*'http'"):
        read(api, port="grpc")


def test_placeholder_slice_means_no_backends(kube: KubeServer, api: k8s.ApiClient) -> None:
    kube.add_node("ens-1", pool="np-hefei", instance_id="i-5a")
    kube.set_placeholder("default", "cube-svc")
    request = urllib.request.Request(f"{kube.url}{SLICES}", headers={"Authorization": f"Bearer {TOKEN}"})
    with urllib.request.urlopen(request, timeout=5) as answer:
        (wire,) = json.load(answer)["items"]
    assert wire["endpoints"] is None and wire["ports"] is None  # what the API server sends (FACTS section 4)
    view = read(api)
    assert view.endpoints == () and len(view.nodes) == 1


def test_kubernetes_37_models_accept_the_placeholder(kube: KubeServer, api: k8s.ApiClient) -> None:
    """Pins the client behaviour the reader no longer depends on (older clients raised ValueError)."""
    kube.set_endpoints("default", "cube-svc", [])
    (item,) = k8s.DiscoveryV1Api(api).list_namespaced_endpoint_slice("default").items
    assert item.endpoints is None and item.ports is None and item.address_type == "IPv4"


def test_the_fake_servers_objects_pass_the_clients_strict_models(kube: KubeServer, api: k8s.ApiClient) -> None:
    kube.add_node("ens-1", pool="np-hefei", instance_id="i-5a", internal_ip="10.8.0.11", unschedulable=True)
    kube.set_endpoints("default", "cube-svc", [{"ip": "172.20.0.1", "node": "ens-1", "ready": None}],
                       ports=[{"name": "http", "port": 8080}])
    core = k8s.CoreV1Api(api)
    node = core.read_node("ens-1")
    assert node.spec.unschedulable and node.metadata.labels["apps.openyurt.io/nodepool"] == "np-hefei"
    assert core.read_namespaced_service("cube-svc", "default").spec.ports[0].node_port >= 30000
    (item,) = k8s.DiscoveryV1Api(api).list_namespaced_endpoint_slice("default").items
    assert item.endpoints[0].conditions.ready is None and item.ports[0].port == 8080
    with pytest.raises(k8s.ApiException) as caught:
        core.read_node("gone")
    assert caught.value.status == 404 and json.loads(caught.value.body)["reason"] == "NotFound"


def test_a_missing_service_is_an_error_not_an_empty_backend_set(kube: KubeServer, api: k8s.ApiClient) -> None:
    with pytest.raises(ClusterReadError, match=r"default/gone: cannot read the Service: HTTP 404 NotFound") as caught:
        read(api, "gone")
    assert caught.value.status == 404


# --- errors and retries -----------------------------------------------------------------------------

def test_429_with_retry_after_is_retried_by_the_client(kube: KubeServer, api: k8s.ApiClient) -> None:
    kube.add_node("ens-1", pool="p")
    fault = kube.fail(NODES, status=429, times=3, retry_after=0)
    assert [n.name for n in read(api).nodes] == ["ens-1"]
    assert fault.fired == 3 and len(kube.paths(NODES)) == 4


def test_retry_after_is_waited_for(kube: KubeServer, api: k8s.ApiClient) -> None:
    kube.fail(SLICES, status=503, times=1, retry_after=1)
    started = time.monotonic()
    read(api)
    assert time.monotonic() - started >= 0.95


def test_a_long_retry_after_is_capped(kube: KubeServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cluster, "RETRY_AFTER_MAX", 0)
    api = load_api_client({KUBECONFIG: kube.kubeconfig(TOKEN)})
    kube.fail(NODES, status=429, times=1, retry_after=3600)
    started = time.monotonic()
    read(api)
    assert time.monotonic() - started < 2


def test_429_beyond_the_client_retries_is_one_error_no_second_retry_loop(kube: KubeServer, api: k8s.ApiClient) -> None:
    kube.fail(NODES, status=429, times=10, retry_after=0)
    with pytest.raises(ClusterReadError, match=r"Service default/cube-svc: cannot list Nodes: HTTP 429 TooManyRequests"
                                               r".*three retries") as caught:
        read(api)
    assert caught.value.status == 429 and len(kube.paths(NODES)) == 4


@pytest.mark.parametrize("status, reason", [(500, "InternalError"), (503, "ServiceUnavailable"),
                                            (429, "TooManyRequests")])
def test_server_errors_surface_once(kube: KubeServer, api: k8s.ApiClient, status: int, reason: str) -> None:
    kube.fail(SLICES, status=status, times=1)  # without Retry-After urllib3 retries neither 429 nor 503
    with pytest.raises(ClusterReadError) as caught:
        read(api)
    assert (caught.value.status, caught.value.reason) == (status, reason)
    assert str(caught.value).startswith(f"Service default/cube-svc: cannot list EndpointSlices: HTTP {status} {reason}")
    assert len(kube.paths(SLICES)) == 1


def test_unreachable_api_server_is_a_cluster_read_error() -> None:
    with KubeServer() as kube:
        config = kube.kubeconfig()
    api = load_api_client({KUBECONFIG: config})  # the server is gone: connection refused
    with pytest.raises(ClusterReadError, match=r"Service default/cube-svc: cannot read the Service: MaxRetryError"):
        read(api)


# --- credentials ------------------------------------------------------------------------------------

def test_bearer_token_is_sent_even_over_plain_http(kube: KubeServer, api: k8s.ApiClient) -> None:
    read(api)
    assert kube.url.startswith("http://")  # client-go would not send it here; the Python client does (FACTS)
    assert len(kube.requests) == 3 and all(r.has_bearer_token for r in kube.requests)


def test_a_refused_token_is_a_clear_error(kube: KubeServer) -> None:
    with pytest.raises(ClusterReadError, match=r"HTTP 401 Unauthorized.*credentials were refused") as caught:
        read(load_api_client({KUBECONFIG: kube.kubeconfig("wrong-token-value")}))
    assert "wrong-token-value" not in str(caught.value)


def test_kubeconfig_from_the_kubeconfig_variable(kube: KubeServer, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "config"
    path.write_text(kube.kubeconfig(TOKEN))
    monkeypatch.setenv("KUBECONFIG", f"{tmp_path / 'missing'}:{path}")  # a list, as kubectl reads it
    api = load_api_client()
    assert api.configuration.host == kube.url
    assert read(api).endpoints == ()


def test_kubeconfig_from_the_default_location(kube: KubeServer, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / ".kube").mkdir()
    (tmp_path / ".kube" / "config").write_text(kube.kubeconfig(TOKEN))
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert load_api_client().configuration.host == kube.url


def test_no_configuration_anywhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("KUBECONFIG", "KUBERNETES_SERVICE_HOST"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    with pytest.raises(KubeconfigError, match="set kubernetes:kubeconfig .* set KUBECONFIG, or create ~/.kube/config"):
        load_api_client()


def test_in_cluster_without_a_service_account_is_a_clear_error(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", "443")
    monkeypatch.setattr(incluster_config, "SERVICE_TOKEN_FILENAME", str(tmp_path / "token"))  # even inside a pod
    with pytest.raises(KubeconfigError, match="from the in-cluster service account: ConfigException"):
        load_api_client()


SECRET = "s3cr3t-token-9b8c7d"
BROKEN = {
    "bad YAML on the token line": f"users:\n- name: u\n  user:\n    token: {SECRET}: x\n",
    "token at the wrong level": yaml.safe_dump({
        "clusters": [{"name": "c", "cluster": {"server": "http://127.0.0.1:1"}}],
        "users": [{"name": "u", "token": SECRET}],
        "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}], "current-context": "x"}),
    "the token instead of a kubeconfig": SECRET,
}


@pytest.mark.parametrize("where", ["content", "path", "KUBECONFIG"])
@pytest.mark.parametrize("case", sorted(BROKEN))
def test_unreadable_kubeconfig_error_names_the_source_not_the_content(
        case: str, where: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "config"
    path.write_text(BROKEN[case])
    if where == "KUBECONFIG":
        monkeypatch.setenv("KUBECONFIG", str(path))
    setting = {} if where == "KUBECONFIG" else {KUBECONFIG: str(path) if where == "path" else BROKEN[case]}
    with pytest.raises(KubeconfigError) as caught:
        load_api_client(setting)
    printed = "".join(traceback.format_exception(caught.value))
    assert SECRET not in printed and SECRET not in repr(caught.value)
    assert {"content": "kubernetes:kubeconfig", "path": f"kubernetes:kubeconfig (the file {path})",
            "KUBECONFIG": f"KUBECONFIG={tmp_path}"}[where] in str(caught.value)


# --- kubernetes:kubeconfig as pulumi-kubernetes reads it, and kubernetes:context --------------------

def two_contexts(kube: KubeServer) -> dict:
    """A kubeconfig whose current context is a dead server and whose context `fake` is the fake API server."""
    document = yaml.safe_load(kube.kubeconfig(TOKEN))
    document["clusters"].append({"name": "elsewhere", "cluster": {"server": "http://127.0.0.1:1"}})
    document["contexts"].append({"name": "elsewhere",
                                 "context": {"cluster": "elsewhere", "user": document["users"][0]["name"]}})
    document["current-context"] = "elsewhere"
    return document


@pytest.mark.parametrize("form", ["path", "home path", "YAML", "JSON", "mapping"])
def test_kubeconfig_setting_is_a_path_or_the_content(form: str, kube: KubeServer, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    text = kube.kubeconfig(TOKEN)
    (tmp_path / "kubeconfig").write_text(text)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("KUBECONFIG", "/nonexistent")  # the setting wins over the environment
    setting = {"path": str(tmp_path / "kubeconfig"), "home path": "~/kubeconfig", "YAML": text,
               "JSON": json.dumps(yaml.safe_load(text)), "mapping": yaml.safe_load(text)}[form]
    api = load_api_client({KUBECONFIG: setting})
    assert api.configuration.host == kube.url
    assert read(api).endpoints == ()


@pytest.mark.parametrize("form", ["content", "path", "KUBECONFIG"])
def test_context_setting_picks_the_context(form: str, kube: KubeServer, tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    text = yaml.safe_dump(two_contexts(kube))
    path = tmp_path / "config"
    path.write_text(text)
    monkeypatch.setenv("KUBECONFIG", str(path) if form == "KUBECONFIG" else "/nonexistent")
    setting = {"content": {KUBECONFIG: text}, "path": {KUBECONFIG: str(path)}, "KUBECONFIG": {}}[form]
    assert load_api_client(setting).configuration.host == "http://127.0.0.1:1"  # current-context
    api = load_api_client({**setting, CONTEXT: "fake"})
    assert api.configuration.host == kube.url
    read(api)
    assert all(r.has_bearer_token for r in kube.requests) and len(kube.requests) == 3


def test_an_unknown_context_is_named(kube: KubeServer) -> None:
    with pytest.raises(KubeconfigError, match=r"kubernetes:kubeconfig \(kubeconfig content\) with "
                                              r"kubernetes:context 'nope'") as caught:
        load_api_client({KUBECONFIG: kube.kubeconfig(SECRET), CONTEXT: "nope"})
    assert SECRET not in "".join(traceback.format_exception(caught.value))


def test_a_path_that_does_not_exist_is_not_echoed(tmp_path: Path) -> None:
    missing = str(tmp_path / "no-such-kubeconfig")
    with pytest.raises(KubeconfigError, match="neither the path of an existing file nor kubeconfig content") as caught:
        load_api_client({KUBECONFIG: missing})
    assert missing not in str(caught.value)  # it might have been content
