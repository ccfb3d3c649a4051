"""What a backend is, whatever the load balancer kind."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

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
