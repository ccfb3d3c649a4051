"""OpenYurt's NodePools and PoolServices in the fake API server, and the controller that creates PoolServices.

Both are custom resources with the status subresource (served by `custom`): NodePools cluster-scoped at
`/apis/apps.openyurt.io/v1beta2/nodepools`, PoolServices namespaced at
`/apis/network.openyurt.io/v1alpha1/namespaces/{ns}/poolservices`. Neither has a schema here, so nothing is
pruned or validated.

- `add_pool_service` builds what OpenYurt's load-balancer-set controller creates (buildPoolService in
  pkg/yurtmanager/controller/loadbalancerset/loadbalancerset/load_balancer_set_controller.go): the labels
  `openyurt.io/service-name`, `openyurt.io/pool-name`, `poolservice.openyurt.io/managed-by:
  load-balancer-set-controller`, ownerReferences to the Service (controller) and the NodePool, and
  spec.loadBalancerClass from the Service. It appears only once the Service exists (the controller
  reconciles Services). When an object of that name is already there and not managed by the controller,
  the controller leaves it alone and records a ManagedConflict event (compareAndUpdatePoolService), and so
  does this fake (`events`: (reason, message) pairs).
- `after_reads=N`: the first N requests that address the object (GET, PATCH, DELETE of it, or a LIST of its
  collection) do not see it; `after_seconds=T`: it appears T seconds after it was added (a quiet watch
  stream notices within its poll interval).
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any, Optional

from tests.kube.crd import CustomResource
from tests.kube.wire import CREATED, Json, copy

SERVICE_NAME_LABEL = "openyurt.io/service-name"
POOL_NAME_LABEL = "openyurt.io/pool-name"
MANAGED_BY_LABEL = "poolservice.openyurt.io/managed-by"
POOL_SERVICE_CONTROLLER = "load-balancer-set-controller"
MANAGED_CONFLICT = ("PoolService {ns}/{name} is not managed by pool-service-controller, but the "
                    "nodepool-labelselector of service {ns}/{service} include it")

NODE_POOLS = CustomResource("apps.openyurt.io", "v1beta2", "nodepools", "NodePool", namespaced=False, status=True)
POOL_SERVICES = CustomResource("network.openyurt.io", "v1alpha1", "poolservices", "PoolService", namespaced=True,
                               status=True)
Key = tuple[str, str, str, str]


@dataclass
class Pending:
    key: Key
    obj: Json
    reads_left: int
    due: float
    service: Optional[tuple[str, str]] = None  # a PoolService waits for its Service


class OpenYurtObjects:
    """Mixin of KubeServer, over CustomObjects: NodePools, PoolServices, objects that appear later."""

    lock: Any
    services: dict[tuple[str, str], Json]
    resources: dict[tuple[str, str], CustomResource]
    custom: dict[Key, Json]
    _insert: Any

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for resource in (NODE_POOLS, POOL_SERVICES):
            self.resources[(resource.group, resource.plural)] = resource
        self.pending: list[Pending] = []
        self.events: list[tuple[str, str]] = []  # (reason, message) the simulated controller recorded

    def add_node_pool(self, name: str, *, type: str = "Edge", labels: Optional[dict[str, str]] = None,
                      annotations: Optional[dict[str, str]] = None, after_reads: int = 0,
                      after_seconds: float = 0.0) -> Json:
        """A NodePool as ACK creates it with the node pool (the node pool id is its name)."""
        obj = {"apiVersion": NODE_POOLS.api_version, "kind": NODE_POOLS.kind,
               "metadata": {"name": name, "labels": labels, "annotations": annotations},
               "spec": {"type": type, "hostNetwork": False, "interConnectivity": False},
               "status": {"readyNodeNum": 0, "unreadyNodeNum": 0}}
        return self.add_custom_object(NODE_POOLS, obj, after_reads=after_reads, after_seconds=after_seconds)

    def add_pool_service(self, namespace: str, service: str, pool: str, *,
                         annotations: Optional[dict[str, str]] = None, after_reads: int = 0,
                         after_seconds: float = 0.0) -> Json:
        """The PoolService `<service>-<pool>` as the controller creates it, once the Service exists."""
        obj = {"apiVersion": POOL_SERVICES.api_version, "kind": POOL_SERVICES.kind,
               "metadata": {"name": f"{service}-{pool}", "namespace": namespace, "annotations": annotations,
                            "labels": {SERVICE_NAME_LABEL: service, POOL_NAME_LABEL: pool,
                                       MANAGED_BY_LABEL: POOL_SERVICE_CONTROLLER}},
               "spec": {}, "status": {}}
        return self.add_custom_object(POOL_SERVICES, obj, after_reads=after_reads, after_seconds=after_seconds,
                                      service=(namespace, service))

    def add_custom_object(self, resource: CustomResource, obj: Json, *, after_reads: int = 0,
                          after_seconds: float = 0.0, service: Optional[tuple[str, str]] = None) -> Json:
        """Store `obj` (status included) now, or once the conditions hold; returns it as it is or will be stored."""
        meta = obj["metadata"]
        key = (resource.group, resource.plural, meta.get("namespace") or "", meta["name"])
        with self.lock:
            self.resources.setdefault((resource.group, resource.plural), resource)
            self.pending.append(Pending(key, copy(obj), after_reads, time.monotonic() + after_seconds, service))
            self._arrive()
            stored = self.custom.get(key)
            return copy(stored) if stored is not None else copy(obj)

    def tick(self) -> None:
        self._arrive()

    def _arrive(self, target: Optional[tuple[str, str, Optional[str], Optional[str]]] = None) -> None:
        now = time.monotonic()
        for pending in list(self.pending):
            group, plural, ns, name = pending.key
            if target is not None and target[:2] == (group, plural) and target[2] in (None, ns) \
                    and target[3] in (None, name) and pending.reads_left > 0:
                pending.reads_left -= 1
                continue
            if pending.reads_left > 0 or now < pending.due:
                continue
            owner = self.services.get(pending.service) if pending.service else None
            if pending.service and owner is None:
                continue
            self.pending.remove(pending)
            if pending.key in self.custom:  # someone created it first: the controller leaves it alone
                labels = self.custom[pending.key]["metadata"].get("labels") or {}
                if labels.get(MANAGED_BY_LABEL) != POOL_SERVICE_CONTROLLER and pending.service:
                    self.events.append(("ManagedConflict", MANAGED_CONFLICT.format(
                        ns=ns, name=name, service=pending.service[1])))
                continue
            self._insert(pending.key, self._owned(pending.obj, owner), created=CREATED)

    def _owned(self, obj: Json, owner: Optional[Json]) -> Json:
        if owner is None:
            return obj
        meta = obj["metadata"]
        pool_name = meta["labels"][POOL_NAME_LABEL]
        pool = self.custom.get((NODE_POOLS.group, NODE_POOLS.plural, "", pool_name))
        meta = {**meta, "ownerReferences": [
            {"apiVersion": "v1", "kind": "Service", "name": owner["metadata"]["name"],
             "uid": owner["metadata"]["uid"], "controller": True, "blockOwnerDeletion": True},
            {"apiVersion": NODE_POOLS.api_version, "kind": NODE_POOLS.kind, "name": pool_name,
             "uid": pool["metadata"]["uid"] if pool else str(uuid.uuid4()), "blockOwnerDeletion": True}]}
        spec = obj.get("spec", {})
        if owner["spec"].get("loadBalancerClass"):
            spec = {**spec, "loadBalancerClass": owner["spec"]["loadBalancerClass"]}
        return {**obj, "metadata": meta, "spec": spec}
