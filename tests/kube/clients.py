"""Fixtures for tests that talk to the fake API server through the official client:

    from tests.kube.clients import TOKEN, api, kube, status_of  # noqa: F401 - pytest finds the fixtures by name
"""

from __future__ import annotations

import json
from typing import Any, Iterator

import pytest
import yaml
from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException
from kubernetes.config import new_client_from_config_dict

from tests.kube import KubeServer

TOKEN = "kube-token"


def client_of(server: KubeServer, token: str = TOKEN) -> k8s.ApiClient:
    return new_client_from_config_dict(yaml.safe_load(server.kubeconfig(token)))


@pytest.fixture
def kube() -> Iterator[KubeServer]:
    with KubeServer(token=TOKEN) as server:
        yield server


@pytest.fixture
def api(kube: KubeServer) -> Iterator[k8s.ApiClient]:
    client = client_of(kube)
    yield client
    client.close()


def status_of(exc: pytest.ExceptionInfo[ApiException]) -> dict[str, Any]:
    """The Status object of a refused call."""
    return json.loads(exc.value.body)
