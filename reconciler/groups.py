"""Backend groups as the cloud sees them, one thin adapter per load balancer kind (official SDKs).

Each adapter lists the group's servers and adds, re-weights and removes batches of them. Every write
first takes a call slot from the account's shared rate limit, then goes through `retry.call`. Adapters
hold no policy: what to write, and in which order, is the planner's.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from typing import Any, Optional, Protocol, Sequence

from cloud.ens import EnsApi
from cloud.retry import CloudError
from reconciler import ratelimit
from reconciler.model import BATCH_LIMITS, Backend


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

    def _limiter(self) -> ratelimit.SlidingWindow:
        return ratelimit.limiter("ens", "backends", self.api.account)

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
        self.api.request(action, method, {"LoadBalancerId": self.load_balancer_id, "BackendServers": servers},
                         before_each=self._limiter().acquire)

    def add(self, backends: Sequence[Backend]) -> None:
        try:
            self._write("AddBackendServers", "add_backend_servers", [self._server(b) for b in backends])
        except CloudError as exc:
            # A retried add whose first attempt went through unheard: the servers are there, as wanted.
            if not (exc.attempts > 1 and (exc.code or "").endswith("AlreadyExists")):
                raise

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


@dataclass
class _MarkedGroup:
    """NLB and CLB servers carry a description: the owner mark makes ownership survive a lost state."""

    owner: str
    _descriptions: dict[tuple[str, int], str] = field(default_factory=dict, init=False)
    reads: int = field(default=0, init=False)

    def marked(self, backends: Sequence[Backend]) -> set[tuple[str, int]]:
        return {b.key for b in backends if self._descriptions.get(b.key) == self.owner}

    def _seen(self, server: dict[str, Any], kind_type: str) -> Backend:
        backend = Backend(str(server["ServerId"]), _int(server.get("Port")), _int(server.get("Weight"), 100),
                          str(server.get("ServerType") or server.get("Type") or kind_type), server.get("ServerIp") or None)
        self._descriptions[backend.key] = server.get("Description") or ""
        return backend


@dataclass
class NlbGroup(_MarkedGroup):
    """An NLB server group. Writes are asynchronous jobs: each is waited for (bounded) before the next."""

    api: Any = None
    server_group_id: str = ""
    kind: str = "nlb"
    limit: int = BATCH_LIMITS["nlb"]
    job_timeout: float = 300.0
    poll_interval: float = 1.0

    def _base(self) -> dict[str, Any]:
        return {"ServerGroupId": self.server_group_id, "RegionId": self.api.region_id}

    def list(self) -> list[Backend]:
        self.reads += 1
        servers, token = [], None
        for _ in range(1000):  # 400 servers per group at most: 4 pages; the bound only guards a looping token
            params = {**self._base(), "MaxResults": 100, **({"NextToken": token} if token else {})}
            body = self.api.request("ListServerGroupServers", "list_server_group_servers", params)
            servers += [self._seen(s, "Ip") for s in body.get("Servers") or []]
            token = body.get("NextToken")
            if not token:
                return servers
        raise RuntimeError(f"NLB server group {self.server_group_id}: listing did not end")

    def _server(self, b: Backend, with_weight: bool = True) -> dict[str, Any]:
        server: dict[str, Any] = {"ServerId": b.server_id, "ServerType": b.type, "Port": b.port}
        if b.ip:
            server["ServerIp"] = b.ip
        if with_weight:
            server.update(Weight=b.weight, Description=self.owner)
        return server

    def _write(self, action: str, method: str, servers: list[dict[str, Any]]) -> None:
        from cloud.retry import wait_for

        # One token per logical call: a retry of a call that went through is not applied twice.
        params = {**self._base(), "Servers": servers, "ClientToken": uuid.uuid4().hex}
        job = self.api.request(action, method, params,
                               before_each=ratelimit.limiter("nlb", "servers", self.api.account).acquire
                               ).get("JobId")
        if job:
            done = wait_for(lambda: self.api.request("GetJobStatus", "get_job_status", {"JobId": job}),
                            lambda b: str(b.get("Status", "")).lower() in ("succeeded", "failed"),
                            what=f"NLB job {job} ({action})", timeout=self.job_timeout,
                            interval=self.poll_interval, describe=lambda b: b.get("Status"))
            if str(done.get("Status")).lower() == "failed":
                raise RuntimeError(f"NLB job {job} ({action} on {self.server_group_id}) failed")

    def add(self, backends: Sequence[Backend]) -> None:
        self._write("AddServersToServerGroup", "add_servers_to_server_group", [self._server(b) for b in backends])

    def set_weights(self, backends: Sequence[Backend]) -> None:
        self._write("UpdateServerGroupServersAttribute", "update_server_group_servers_attribute",
                    [self._server(b) for b in backends])

    def remove(self, backends: Sequence[Backend]) -> None:
        self._write("RemoveServersFromServerGroup", "remove_servers_from_server_group",
                    [self._server(b, with_weight=False) for b in backends])


@dataclass
class ClbGroup(_MarkedGroup):
    """A CLB VServerGroup; `BackendServers` travels as one JSON string."""

    api: Any = None
    vserver_group_id: str = ""
    kind: str = "clb"
    limit: int = BATCH_LIMITS["clb"]

    def _base(self) -> dict[str, Any]:
        return {"VServerGroupId": self.vserver_group_id, "RegionId": self.api.region_id}  # not sent by Config

    def list(self) -> list[Backend]:
        self.reads += 1
        body = self.api.request("DescribeVServerGroupAttribute", "describe_vserver_group_attribute", self._base())
        return [self._seen(s, "ecs") for s in (body.get("BackendServers") or {}).get("BackendServer") or []]

    def _server(self, b: Backend, with_weight: bool = True) -> dict[str, Any]:
        server: dict[str, Any] = {"ServerId": b.server_id, "Port": b.port, "Type": b.type}
        if b.ip and b.type != "ecs":
            server["ServerIp"] = b.ip
        if with_weight:
            server.update(Weight=b.weight, Description=self.owner)
        return server

    def _write(self, action: str, method: str, servers: list[dict[str, Any]]) -> None:
        self.api.request(action, method, {**self._base(), "BackendServers": dumps(servers)},
                         before_each=ratelimit.limiter("clb", "write", self.api.account).acquire)

    def add(self, backends: Sequence[Backend]) -> None:
        self._write("AddVServerGroupBackendServers", "add_vserver_group_backend_servers",
                    [self._server(b) for b in backends])

    def set_weights(self, backends: Sequence[Backend]) -> None:
        self._write("SetVServerGroupAttribute", "set_vserver_group_attribute", [self._server(b) for b in backends])

    def remove(self, backends: Sequence[Backend]) -> None:
        self._write("RemoveVServerGroupBackendServers", "remove_vserver_group_backend_servers",
                    [self._server(b, with_weight=False) for b in backends])


def dumps(servers: list[dict[str, Any]]) -> str:
    return json.dumps(servers, separators=(",", ":"))


def group_for(kind: str, group_id: str, *, owner: str, region: Optional[str] = None,
              config: Optional[dict[str, Any]] = None, policy=None, poll_interval: float = 1.0,
              read_timeout: float = 15.0) -> BackendGroup:
    """The adapter of one group; credentials and endpoints as for every dynamic provider."""
    from cloud.api import ClbApi, NlbApi
    from cloud.retry import DEFAULT

    policy = policy or DEFAULT
    if kind == "ens":
        return EnsGroup(EnsApi.from_environment(config, policy, read_timeout), group_id)
    if kind == "nlb":
        return NlbGroup(owner, api=NlbApi.from_environment(config, policy, read_timeout, region),
                        server_group_id=group_id, poll_interval=poll_interval)
    if kind == "clb":
        return ClbGroup(owner, api=ClbApi.from_environment(config, policy, read_timeout, region),
                        vserver_group_id=group_id)
    raise ValueError(f"unknown backend group kind {kind!r}")
