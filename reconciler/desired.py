"""The desired backends of a group, from what the cluster says: pure, no I/O.

- `cluster`: every Ready node of the matched pools, weight 100, on the port the group forwards to. A node is
  registered by its instance id alone: the clouds keep no address for it, so none is compared.
- `local`: nodes with at least one ready endpoint, weighted by their pod count scaled into 1-100
  (the cloud-controller-manager's rule: node weight = number of pods on it).
- `ip`: every ready pod IP on its target port (NLB `Ip` server groups, pods as ENIs).
Nothing is dropped abruptly: a cordoned node, or a node or pod whose endpoints are all terminating,
stays with weight 0 (a drain) until it is gone from the cluster.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterator, Literal, Optional

from reconciler.model import Backend

if TYPE_CHECKING:
    from reconciler.cluster import ClusterView, EndpointInfo, NodeInfo

Mode = Literal["cluster", "local", "ip"]
MAX_WEIGHT = 100


@dataclass(frozen=True)
class Target:
    """Which backends a group wants, in the cluster's terms."""

    mode: Mode
    pools: frozenset[str]   # the matched node pools; empty = every pool
    port: int = 0           # NodePort for node modes (0: the listener decides), fallback target port for `ip`
    server_type: str = "ens"


def _in_pools(node: Optional["NodeInfo"], pools: frozenset[str]) -> bool:
    return node is not None and (not pools or node.pool in pools)


def _serving(endpoint: "EndpointInfo") -> bool:
    return endpoint.ready and not endpoint.terminating


def scaled(count: int, most: int) -> int:
    """A pod count as a weight in 1..100, proportional to the busiest node."""
    return max(1, round(MAX_WEIGHT * count / most))


def desired(view: "ClusterView", target: Target) -> dict[tuple[str, int], Backend]:
    nodes = {n.name: n for n in view.nodes if _in_pools(n, target.pools) and n.instance_id}
    out: dict[tuple[str, int], Backend] = {}
    if target.mode == "cluster":
        for node in nodes.values():
            if node.ready:
                weight = MAX_WEIGHT if node.schedulable else 0
                backend = Backend(node.instance_id, target.port, weight, target.server_type)
                out[backend.key] = backend
        return out
    if target.mode == "local":
        serving = Counter(e.node for e in view.endpoints if e.node in nodes and _serving(e))
        draining = {e.node for e in view.endpoints if e.node in nodes and e.terminating} - set(serving)
        most = max(serving.values(), default=1)
        for name in sorted(set(serving) | draining):
            node = nodes[name]
            weight = scaled(serving[name], most) if name in serving and node.schedulable else 0
            backend = Backend(node.instance_id, target.port, weight, target.server_type)
            out[backend.key] = backend
        return out
    for endpoint, port in _pod_targets(view, target):
        if not port:
            continue  # see without_port()
        backend = Backend(endpoint.ip, port, MAX_WEIGHT if _serving(endpoint) else 0, target.server_type, endpoint.ip)
        # The same IP may appear in two slices while an endpoint moves: a serving copy wins.
        if backend.key not in out or backend.weight > out[backend.key].weight:
            out[backend.key] = backend
    return out


def _pod_targets(view: "ClusterView", target: Target) -> Iterator[tuple["EndpointInfo", int]]:
    """`ip` mode: the endpoints of the matched pools that serve or drain, with the port to register."""
    nodes = {n.name: n for n in view.nodes}
    for endpoint in view.endpoints:
        if endpoint.node is not None and not _in_pools(nodes.get(endpoint.node), target.pools):
            continue
        if _serving(endpoint) or endpoint.terminating:
            yield endpoint, endpoint.port or target.port


def without_port(view: "ClusterView", target: Target) -> list[str]:
    """Pod IPs an `ip` group cannot register: the pod lacks the Service's named target port, so its
    EndpointSlice carries no port for it. kube-proxy sends such a pod no traffic either; registering
    it on port 0 would only add a dead backend."""
    if target.mode != "ip":
        return []
    return sorted({endpoint.ip for endpoint, port in _pod_targets(view, target) if not port})
