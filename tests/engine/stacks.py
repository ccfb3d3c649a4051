"""Stacks the lifecycle tests run: the example stacks, and variants generated over every exposure mode."""

from __future__ import annotations

import copy
from typing import Any

from stacks.load import PROJECT_DIR, raw_from_stack_file, stack_file
from tests.conftest import base_config, cloud_pool, ens_pool

EXAMPLES = tuple(sorted(p.name[len("Pulumi."):-len(".yaml")] for p in PROJECT_DIR.glob("Pulumi.*.yaml")))
READS = ("Describe", "List", "Get")


def example(name: str, drain: int = 0) -> dict[str, Any]:
    """An example stack's configuration; `drain` replaces each `drainSeconds` (a destroy waits it out)."""
    raw = raw_from_stack_file(stack_file(name), name)
    for svc in raw.get("services") or []:
        svc.setdefault("loadBalancer", {})["drainSeconds"] = drain
    return raw


def _hybrid_pools() -> list[dict[str, Any]]:
    return [ens_pool("np-hefei", "cn-hefei-cmcc-2", tier="web"), cloud_pool("np-cloud", tier="web")]


def variants() -> dict[str, dict[str, Any]]:
    """One configuration per mode and policy the program declares differently, each valid."""
    out: dict[str, dict[str, Any]] = {}
    base = base_config()

    def service(name: str, **overrides: Any) -> dict[str, Any]:
        raw = copy.deepcopy(base)
        raw["services"][0].update(overrides)
        raw["services"][0]["loadBalancer"].setdefault("drainSeconds", 0)
        out[name] = raw
        return raw

    service("elb-pulumi-local-all-listeners", ports=[
        {"name": "tcp", "port": 80, "targetPort": 8080},
        {"name": "udp", "port": 53, "protocol": "UDP"},
        {"name": "web", "port": 8000, "targetPort": 8080, "listener": "http"},
        {"name": "tls", "port": 443, "targetPort": 8080, "listener": "https", "certificateId": "cert-1"}],
        loadBalancer={"type": "elb", "management": "pulumi", "eip": {"bandwidth": 20}})
    service("elb-pulumi-cluster", externalTrafficPolicy="Cluster",
            loadBalancer={"type": "elb", "management": "pulumi", "spec": "elb.s1.small",
                          "healthCheck": {"interval": 5}})
    # The in-cluster controller beside a Pulumi-owned ELB: the BackendSyncs hand their groups to it and wait for
    # it, and the world runs the real controller while its Deployment exists (tests/engine/in_cluster.py).
    with_controller = service("elb-pulumi-with-controller", loadBalancer={"type": "elb", "management": "pulumi"})
    with_controller["controller"] = {"enabled": True, "image": "registry.example.com/ack-edge-lb/controller:0123abc",
                                     "credentials": {"rrsa": {"roleName": "ack-edge-lb-controller"}},
                                     "rateLimits": {"nlb.servers": 100}}
    service("elb-user-adopt-and-create", externalTrafficPolicy="Cluster",
            loadBalancer={"type": "elb", "management": "user", "elbIds": {"np-hefei": "lb-existing01"}})
    service("elb-ecm", loadBalancer={"type": "elb", "management": "ecm", "eip": {"bandwidth": 30}},
            workload={"name": "cube", "image": "registry.example.com/cube:1.0"})
    hybrid = service("nlb-pulumi-ip", nodePoolSelector={"tier": "web"}, ports=[{"name": "https", "port": 443,
                                                                                 "targetPort": "https"}],
                     loadBalancer={"type": "nlb", "management": "pulumi", "preserveClientIp": True})
    hybrid["nodePools"] = _hybrid_pools()
    instance = service("nlb-pulumi-instance", nodePoolSelector={"tier": "web"}, externalTrafficPolicy="Cluster",
                       loadBalancer={"type": "nlb", "management": "pulumi", "serverGroupType": "Instance"})
    instance["nodePools"] = [cloud_pool("np-cloud", tier="web")]
    for policy in ("Local", "Cluster"):
        clb = service(f"clb-pulumi-{policy.lower()}", nodePoolSelector={"tier": "web"},
                      externalTrafficPolicy=policy,
                      ports=[{"name": "http", "port": 80, "targetPort": 8080, "listener": "http"}],
                      loadBalancer={"type": "clb", "management": "pulumi"})
        clb["nodePools"] = [cloud_pool("np-cloud", tier="web")]
    ccm = service("nlb-ccm", nodePoolSelector={}, loadBalancer={"type": "nlb", "management": "ccm"})
    ccm["nodePools"] = _hybrid_pools()
    # Pulumi builds the load balancer, listeners and groups; the Service binds them for CCM, which the harness
    # does not run (no backends are registered).
    bound = service("nlb-user-ip", nodePoolSelector={"tier": "web"},
                    ports=[{"name": "https", "port": 443, "targetPort": "https"}, {"name": "dns", "port": 53,
                                                                                  "protocol": "UDP"}],
                    loadBalancer={"type": "nlb", "management": "user", "preserveClientIp": True})
    bound["nodePools"] = _hybrid_pools()
    bound["cluster"]["ccmVersion"] = "v2.14.0"
    bound = service("clb-user-cluster", nodePoolSelector={"tier": "web"}, externalTrafficPolicy="Cluster",
                    ports=[{"name": "http", "port": 80, "targetPort": 8080, "listener": "http"},
                           {"name": "tcp", "port": 6379}],
                    loadBalancer={"type": "clb", "management": "user"})
    bound["nodePools"] = _hybrid_pools()
    return out


def writes(calls: dict[str, int]) -> dict[str, int]:
    """The emulator's write calls (everything but Describe*, List*, Get*)."""
    return {action: n for action, n in calls.items() if not action.startswith(READS)}
