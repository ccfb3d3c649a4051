"""Backend groups as the cloud sees them, one thin adapter per load balancer kind (official SDKs).

Each adapter lists the group's servers and adds, re-weights and removes batches of them. Every write
first takes a token from the account's shared rate limit, then goes through `retry.call`. Adapters
hold no policy: what to write, and in which order, is the planner's.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Optional, Protocol, Sequence

from components.backends import ratelimit
from components.backends.model import BATCH_LIMITS, Backend
from components.cloud.ens import EnsApi


class BackendGroup(Protocol):
    kind: str
    limit: int

    def list(self) -> list[Backend]: ...
    def add(self, backends: Sequence[Backend]) -> None: ...
    def set_weights(self, backends: Sequence[Backend]) -> None: ...
    def remove(self, backends: Sequence[Backend]) -> None: ...
    def marked(self, backends: Sequence[Backend]) -> set[tuple[str, int]]: ...


def _int(value: Any, default: int = 0) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


@dataclass
class EnsGroup:
    """The backend servers of one ENS ELB. ENS servers carry no description, so ownership is the state's."""

    api: EnsApi
    load_balancer_id: str
    kind: str = "ens"
    limit: int = BATCH_LIMITS["ens"]
    reads: int = field(default=0, init=False)

    def _bucket(self) -> ratelimit.TokenBucket:
        return ratelimit.bucket("ens", "backends", self.api.creds.access_key_id)

    def list(self) -> list[Backend]:
        self.reads += 1
        body = self.api.request("DescribeLoadBalancerAttribute", "describe_load_balancer_attribute",
                                {"LoadBalancerId": self.load_balancer_id})
        return [Backend(str(s["ServerId"]), _int(s.get("Port")), _int(s.get("Weight"), 100), s.get("Type") or "ens",
                        s.get("Ip") or None)
                for s in body.get("BackendServers") or []]

    @staticmethod
    def _server(b: Backend, with_port: bool = True, with_weight: bool = True) -> dict[str, Any]:
        server: dict[str, Any] = {"ServerId": b.server_id, "Type": b.type}
        if b.ip and b.type == "eni":
            server["Ip"] = b.ip
        if with_port and b.port:
            server["Port"] = b.port
        if with_weight:
            server["Weight"] = b.weight
        return server

    def _write(self, action: str, method: str, servers: list[dict[str, Any]]) -> None:
        self._bucket().acquire()
        self.api.request(action, method, {"LoadBalancerId": self.load_balancer_id, "BackendServers": servers})

    def add(self, backends: Sequence[Backend]) -> None:
        self._write("AddBackendServers", "add_backend_servers", [self._server(b) for b in backends])

    def set_weights(self, backends: Sequence[Backend]) -> None:
        # SetBackendServers items have no Port (FACTS.md): weights are per server.
        self._write("SetBackendServers", "set_backend_servers", [self._server(b, with_port=False) for b in backends])

    def remove(self, backends: Sequence[Backend]) -> None:
        self._write("RemoveBackendServers", "remove_backend_servers",
                    [self._server(b, with_weight=False) for b in backends])

    def marked(self, backends: Sequence[Backend]) -> set[tuple[str, int]]:
        return set()


def owner_mark(namespace: str, service: str) -> str:
    """The description NLB and CLB servers carry, so a crashed run's additions are still known as ours."""
    return f"ack-edge-lb/{namespace}/{service}"


def dumps(servers: list[dict[str, Any]]) -> str:
    return json.dumps(servers, separators=(",", ":"))


def group_for(kind: str, group_id: str, *, owner: str, region: Optional[str] = None,
              config: Optional[dict[str, Any]] = None, policy=None) -> BackendGroup:
    """The adapter of one group; credentials and endpoints as for every dynamic provider."""
    from components.cloud.retry import DEFAULT

    if kind == "ens":
        return EnsGroup(EnsApi.from_environment(config, policy or DEFAULT), group_id)
    raise ValueError(f"unknown backend group kind {kind!r}")
