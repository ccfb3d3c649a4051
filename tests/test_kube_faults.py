"""Faults of the fake API server for controller tests, through the official client: an outage that answers 503,
one that refuses connections and listens again on the same port, slow paths, and watch streams an outage cuts."""

from __future__ import annotations

import time

import pytest
import urllib3
from kubernetes import client as k8s
from kubernetes import watch
from kubernetes.client.exceptions import ApiException

from tests.kube.clients import status_of
from tests.kubeserver import KubeServer

NS = "default"




def test_an_outage_answers_503_until_it_ends(kube: KubeServer, api: k8s.ApiClient) -> None:
    core = k8s.CoreV1Api(api)
    kube.add_node("ens-1")
    with kube.outage():
        with pytest.raises(ApiException) as caught:
            core.list_node()
        assert (caught.value.status, status_of(caught)["reason"]) == (503, "ServiceUnavailable")
    assert [n.metadata.name for n in core.list_node().items] == ["ens-1"]
    kube.outage(seconds=0.3)
    with pytest.raises(ApiException):
        core.read_node("ens-1")
    time.sleep(0.35)
    assert core.read_node("ens-1").metadata.name == "ens-1"


def test_a_refusing_outage_closes_the_port_and_listens_again(kube: KubeServer, api: k8s.ApiClient) -> None:
    core = k8s.CoreV1Api(api)
    kube.add_node("ens-1")
    port = kube.port
    outage = kube.outage(refuse=True)
    with pytest.raises(urllib3.exceptions.MaxRetryError) as caught:
        core.list_node(_request_timeout=2)
    assert "Connection refused" in str(caught.value.reason)
    outage.end()
    assert kube.port == port and [n.metadata.name for n in core.list_node().items] == ["ens-1"]
    kube.outage(seconds=0.3, refuse=True)
    time.sleep(0.5)
    assert core.read_node("ens-1").metadata.name == "ens-1"
    kube.outage(refuse=True)
    started = time.monotonic()
    kube.stop()  # stopping during a refusing outage is prompt, and does not listen again
    assert time.monotonic() - started < 2


def test_slow_paths_delay_only_their_requests(kube: KubeServer, api: k8s.ApiClient) -> None:
    core = k8s.CoreV1Api(api)
    kube.add_node("ens-1")
    kube.add_service(NS, "cube-svc")
    slow = kube.slow("/api/v1/nodes", 0.4, times=1)
    started = time.monotonic()
    core.list_namespaced_service(NS)
    assert time.monotonic() - started < 0.3
    core.list_node()
    assert time.monotonic() - started >= 0.4 and slow.delayed == 1
    started = time.monotonic()
    core.list_node()
    assert time.monotonic() - started < 0.3  # `times` used up
    with kube.slow("/api/v1/nodes", 5.0):
        with pytest.raises(urllib3.exceptions.MaxRetryError) as caught:
            core.list_node(_request_timeout=(1, 0.3))  # a client's read timeout meets a slow server
        assert isinstance(caught.value.reason, urllib3.exceptions.ReadTimeoutError)


def test_an_outage_breaks_open_streams(kube: KubeServer, api: k8s.ApiClient) -> None:
    core = k8s.CoreV1Api(api)
    kube.add_node("ens-1")
    caught: list[BaseException] = []
    w = watch.Watch()
    try:
        for _ in w.stream(core.list_node, timeout_seconds=30):
            kube.outage()
    except (urllib3.exceptions.HTTPError, ApiException) as exc:
        caught.append(exc)
    assert caught and isinstance(caught[0], urllib3.exceptions.ProtocolError)  # the stream broke mid-way
    deadline = time.monotonic() + 5
    while kube.open_watches and time.monotonic() < deadline:
        time.sleep(0.02)
    assert kube.open_watches == 0
    with pytest.raises(ApiException) as unavailable:
        core.list_node(watch=True, timeout_seconds=1, _preload_content=False)
    assert unavailable.value.status == 503
