"""Shared fixtures: a valid stack configuration to start from, the offline program runner, and a fake API server
with a client of it (`kube`, `api`; a module that needs another server defines its own)."""

from __future__ import annotations

import copy
import os
from typing import Any, Callable

import pytest

from plan.offline import Run, run_program
from stacks.load import Loaded, validate
from tests.emulator import FakeClock
from tests.kube.clients import api, kube  # noqa: F401 - fixtures for every module

# The credentials library's default chain would ask the ECS metadata service (100.100.100.200) for a role;
# tests reach 127.0.0.1 only. Child processes (the dynamic-provider host) inherit it.
os.environ["ALIBABA_CLOUD_ECS_METADATA_DISABLED"] = "true"

CLUSTER = {"id": "c0123456789abcdef", "vpcId": "vpc-bp1test", "network": "terway-edge",
           "expressConnect": True, "ecmVersion": "2.1.0"}


def ens_pool(pool_id: str, region: str, **labels: str) -> dict[str, Any]:
    return {"id": pool_id, "type": "ens", "labels": labels or {"k8s-svc": "cube"},
            "ens": {"regionId": region, "networkId": f"n-{pool_id.replace('-', '')}",
                    "vswitchIds": [f"vsw-{pool_id.replace('-', '')}"]}}


def cloud_pool(pool_id: str, zones: tuple[str, ...] = ("cn-hangzhou-k", "cn-hangzhou-j"), **labels: str) -> dict[str, Any]:
    return {"id": pool_id, "type": "cloud", "labels": labels,
            "zones": [{"zoneId": z, "vswitchId": f"vsw-{z.replace('-', '')}"} for z in zones]}


def elb_service(name: str = "cube-svc", **overrides: Any) -> dict[str, Any]:
    svc = {"name": name, "namespace": "default", "selector": {"app": "cube"},
           "ports": [{"name": "http", "port": 80, "targetPort": 80, "protocol": "TCP"}],
           "externalTrafficPolicy": "Local", "nodePoolSelector": {"k8s-svc": "cube"},
           "loadBalancer": {"type": "elb", "management": "ecm"}}
    svc.update(overrides)
    return svc


def base_config() -> dict[str, Any]:
    """Two ENS pools (Hefei, Chengdu) labelled k8s-svc=cube, one cloud pool, one ECM-managed ELB service."""
    return {
        "cluster": dict(CLUSTER),
        "nodePools": [ens_pool("np-hefei", "cn-hefei-cmcc-2"), ens_pool("np-chengdu", "cn-chengdu-telecom-4"),
                      cloud_pool("np-cloud")],
        "services": [elb_service()],
    }


@pytest.fixture
def config() -> dict[str, Any]:
    """A fresh, valid raw configuration (the `ack-edge-lb:` keys of a stack file) to modify."""
    return copy.deepcopy(base_config())


@pytest.fixture
def load() -> Callable[[dict[str, Any]], Loaded]:
    return lambda raw: validate(raw, "test")


@pytest.fixture
def plan() -> Callable[..., Run]:
    """Run `__main__.py` under mocks with a raw configuration (preview by default)."""
    return lambda raw, stack="test", preview=True, after_apply=None: run_program(raw, stack, preview, after_apply)


@pytest.fixture
def clock() -> FakeClock:
    """A hand-moved clock for the emulator's rate limits and asynchronous states."""
    return FakeClock()
