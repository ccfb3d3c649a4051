"""What a backend is, whatever the load balancer kind."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Iterable, Optional

# How many servers one write call may carry (FACTS.md section 2).
BATCH_LIMITS = {"ens": 20, "nlb": 200, "clb": 20}


@dataclass(frozen=True, order=True)
class Backend:
    """One server of a backend group: a node (ENS instance, ECS instance) or a pod IP.

    `port` is 0 where the group has no per-server port (ENS ELBs forward to the listener's backend port).
    Weight 0 keeps the server in the group but sends it no new traffic: that is a drain.
    """

    server_id: str
    port: int = 0
    weight: int = 100
    type: str = "ens"
    ip: Optional[str] = None

    @property
    def key(self) -> tuple[str, int]:
        return (self.server_id, self.port)

    def with_weight(self, weight: int) -> "Backend":
        return Backend(self.server_id, self.port, weight, self.type, self.ip)

    def as_dict(self) -> dict[str, Any]:
        out = {"serverId": self.server_id, "port": self.port, "weight": self.weight, "type": self.type}
        if self.ip:
            out["ip"] = self.ip
        return out

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> "Backend":
        return cls(str(raw["serverId"]), int(raw.get("port") or 0), int(raw.get("weight", 100)),
                   str(raw.get("type", "ens")), raw.get("ip"))


INTENT_OPS = ("add", "update", "drain", "remove")


@dataclass(frozen=True)
class Intent:
    """One batch about to be written to the cloud, recorded before the call and cleared after it.

    After a crash between the two, the record still holds it: an `add` intent's servers may be in the group
    without anyone having recorded them as owned, so they count as owned (reconciler/record.py owned_from).
    """

    id: str
    op: str
    backends: tuple[Backend, ...]
    started_at: str = ""

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "op": self.op, "backends": [b.as_dict() for b in self.backends]}
        if self.started_at:
            out["startedAt"] = self.started_at
        return out

    @classmethod
    def start(cls, op: str, backends: Iterable[Backend]) -> "Intent":
        return cls(uuid.uuid4().hex[:12], op, tuple(backends), now())

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> "Intent":
        return cls(str(raw.get("id") or ""), str(raw.get("op") or ""),
                   tuple(Backend.from_dict(b) for b in raw.get("backends") or []), str(raw.get("startedAt") or ""))


TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"  # RFC 3339 in UTC, to the second, as Kubernetes writes times


def now() -> str:
    return datetime.now(timezone.utc).strftime(TIME_FORMAT)
