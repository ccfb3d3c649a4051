"""Custom objects of the fake API server: OpenYurt NodePools and PoolServices, as the API server serves CRDs.

Served: GET and LIST (`/apis/apps.openyurt.io/v1beta2/nodepools`, cluster-scoped;
`/apis/network.openyurt.io/v1alpha1/namespaces/{ns}/poolservices`, and all namespaces without the prefix),
PATCH and DELETE. Only the storage version is served (no conversion); a wrong scope or version is a 404.

- `application/merge-patch+json` (RFC 7386) patches an existing object: a missing one is 404 NotFound,
  never created. `application/apply-patch+yaml` (server-side apply) needs `fieldManager` and CREATES a
  missing object (201), as the real server does: what pulumi-kubernetes' `*Patch` resources rely on
  (pulumi/pulumi-kubernetes#2194). Apply merges without field ownership: it sets what it is given and never
  conflicts or removes. Other patch types are 415.
- metadata.resourceVersion and metadata.uid in a patch are preconditions (409 Conflict). Every persisted write
  takes a new resourceVersion; a write that changes nothing is not persisted and keeps it (as the real
  server skips no-op updates). generation starts at 1 and moves with `spec`; `status` is a subresource, so
  writes to the object leave it alone. Empty label and annotation maps are dropped, as ObjectMeta does.
- DELETE of an object with finalizers sets deletionTimestamp; the write that clears the last finalizer
  removes it.
- `add_pool_service` builds what OpenYurt's load-balancer-set controller creates (buildPoolService in
  pkg/yurtmanager/controller/loadbalancerset/loadbalancerset/load_balancer_set_controller.go): the labels
  `openyurt.io/service-name`, `openyurt.io/pool-name`, `poolservice.openyurt.io/managed-by:
  load-balancer-set-controller`, ownerReferences to the Service (controller) and the NodePool, and
  spec.loadBalancerClass from the Service. It appears only once the Service exists (the controller
  reconciles Services). When an object of that name is already there and not managed by the controller,
  the controller leaves it alone and records a ManagedConflict event (compareAndUpdatePoolService), and so
  does this fake (`events`).
- `after_reads=N`: the first N requests that address the object (GET, PATCH, DELETE of it, or a LIST of its
  collection) do not see it; `after_seconds=T`: it appears T seconds after it was added.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any, Optional

from tests.kube.base import Call
from tests.kube.wire import (
    APPLY_PATCH,
    CREATED,
    MERGE_PATCH,
    ApiError,
    Json,
    apply_merge,
    conflict,
    copy,
    invalid,
    merge_patch,
    not_found,
)

SERVICE_NAME_LABEL = "openyurt.io/service-name"
POOL_NAME_LABEL = "openyurt.io/pool-name"
MANAGED_BY_LABEL = "poolservice.openyurt.io/managed-by"
POOL_SERVICE_CONTROLLER = "load-balancer-set-controller"
MANAGED_CONFLICT = ("PoolService {ns}/{name} is not managed by pool-service-controller, but the "
                    "nodepool-labelselector of service {ns}/{service} include it")
PATCH_TYPES = (MERGE_PATCH, APPLY_PATCH)


@dataclass(frozen=True)
class CustomResource:
    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}"


NODE_POOLS = CustomResource("apps.openyurt.io", "v1beta2", "nodepools", "NodePool", namespaced=False)
POOL_SERVICES = CustomResource("network.openyurt.io", "v1alpha1", "poolservices", "PoolService", namespaced=True)
Key = tuple[str, str, str, str]  # group, plural, namespace ("" when cluster-scoped), name


@dataclass
class Pending:
    key: Key
    obj: Json
    reads_left: int
    due: float
    service: Optional[tuple[str, str]] = None  # a PoolService waits for its Service


class CustomObjects:
    """Mixin of KubeServer: `custom` objects keyed by (group, plural, namespace, name)."""

    lock: Any
    services: dict[tuple[str, str], Json]
    _list: Any
    next_rv: Any

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.resources: dict[tuple[str, str], CustomResource] = {(r.group, r.plural): r
                                                                  for r in (NODE_POOLS, POOL_SERVICES)}
        self.custom: dict[Key, Json] = {}
        self.pending: list[Pending] = []
        self.events: list[tuple[str, str]] = []  # (reason, message) the simulated controller recorded
        super().__init__(*args, **kwargs)

    # --- objects others create ------------------------------------------------------------------

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
        """Store `obj` now, or once the conditions hold; returns the object as it is or will be stored."""
        meta = obj["metadata"]
        key = (resource.group, resource.plural, meta.get("namespace") or "", meta["name"])
        with self.lock:
            self.resources.setdefault((resource.group, resource.plural), resource)
            self.pending.append(Pending(key, copy(obj), after_reads, time.monotonic() + after_seconds, service))
            self._arrive()
            stored = self.custom.get(key)
            return copy(stored) if stored is not None else copy(obj)

    def custom_object(self, plural: str, name: str, namespace: Optional[str] = None) -> Optional[Json]:
        """The stored object (a copy), or None; does not count as a read."""
        with self.lock:
            self._arrive()
            for (_, p, ns, n), obj in self.custom.items():
                if (p, ns, n) == (plural, namespace or "", name):
                    return copy(obj)
        return None

    def edit(self, plural: str, name: str, patch: Json, namespace: Optional[str] = None) -> Json:
        """A merge patch by someone else (`kubectl annotate`, a controller): a persisted write."""
        with self.lock:
            key = self._key(plural, name, namespace)
            return copy(self._write(key, self.custom[key], merge_patch(self.custom[key], patch)))

    def remove(self, plural: str, name: str, namespace: Optional[str] = None) -> None:
        with self.lock:
            del self.custom[self._key(plural, name, namespace)]

    def _key(self, plural: str, name: str, namespace: Optional[str]) -> Key:
        group = next(g for (g, p) in self.resources if p == plural)
        return group, plural, namespace or "", name

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
            self._create(pending.key, pending.obj, owner)

    def _create(self, key: Key, obj: Json, owner: Optional[Json] = None) -> Json:
        group, plural, ns, name = key
        meta = {k: v for k, v in obj.get("metadata", {}).items() if v}
        meta.update(name=name, uid=str(uuid.uuid4()), resourceVersion=self.next_rv(), creationTimestamp=CREATED,
                    generation=1, **({"namespace": ns} if ns else {}))
        if owner is not None:
            pool = self.custom.get((NODE_POOLS.group, NODE_POOLS.plural, "", meta["labels"][POOL_NAME_LABEL]))
            meta["ownerReferences"] = [
                {"apiVersion": "v1", "kind": "Service", "name": owner["metadata"]["name"],
                 "uid": owner["metadata"]["uid"], "controller": True, "blockOwnerDeletion": True},
                {"apiVersion": NODE_POOLS.api_version, "kind": NODE_POOLS.kind, "name": meta["labels"][POOL_NAME_LABEL],
                 "uid": pool["metadata"]["uid"] if pool else str(uuid.uuid4()), "blockOwnerDeletion": True}]
            if owner["spec"].get("loadBalancerClass"):
                obj = {**obj, "spec": {**obj.get("spec", {}), "loadBalancerClass": owner["spec"]["loadBalancerClass"]}}
        stored = {**copy(obj), "metadata": meta}
        self.custom[key] = stored
        return stored

    # --- writes ---------------------------------------------------------------------------------

    def _write(self, key: Key, current: Json, new: Any) -> Json:
        if not isinstance(new, dict):
            raise ApiError(400, "the body of the request is not an object")
        meta, old = new.get("metadata") or {}, current["metadata"]
        resource = self.resources[key[:2]]
        if meta.get("name", old["name"]) != old["name"]:
            raise ApiError(400, f"the name of the object ({meta.get('name')}) does not match the name on the URL "
                                f"({old['name']})")
        if meta.get("uid") and meta["uid"] != old["uid"]:
            raise conflict(resource.plural, old["name"], resource.group,
                           f"Precondition failed: UID in precondition: {meta['uid']}, UID in object meta: {old['uid']}")
        if meta.get("resourceVersion") and meta["resourceVersion"] != old["resourceVersion"]:
            raise conflict(resource.plural, old["name"], resource.group)
        server_owned = ("name", "namespace", "uid", "resourceVersion", "creationTimestamp", "generation",
                        "deletionTimestamp")
        updated = {**new, "apiVersion": current["apiVersion"], "kind": current["kind"],
                   "metadata": {**{k: v for k, v in meta.items() if k not in server_owned and v not in ({}, [])},
                                **{k: old[k] for k in server_owned if k in old}}}
        updated.pop("status", None)
        if "status" in current:
            updated["status"] = current["status"]
        if updated == current:
            return current
        if updated.get("spec") != current.get("spec"):
            updated["metadata"]["generation"] = old.get("generation", 1) + 1
        updated["metadata"]["resourceVersion"] = self.next_rv()
        if updated["metadata"].get("deletionTimestamp") and not updated["metadata"].get("finalizers"):
            del self.custom[key]
        else:
            self.custom[key] = updated
        return updated

    # --- routes ---------------------------------------------------------------------------------

    def _route_custom(self, call: Call) -> Optional[tuple[int, Json]]:
        parts = call.parts
        if len(parts) < 4 or parts[0] != "apis":
            return None
        group, version, rest = parts[1], parts[2], parts[3:]
        namespace: Optional[str] = None
        if rest[0] == "namespaces" and len(rest) >= 3:
            namespace, rest = rest[1], rest[2:]
        resource = self.resources.get((group, rest[0]))
        if resource is None or resource.version != version or len(rest) > 2 or \
                (namespace is not None and not resource.namespaced) or \
                (len(rest) == 2 and resource.namespaced and namespace is None):
            return None
        name = rest[1] if len(rest) == 2 else None
        self._arrive((group, resource.plural, namespace, name))
        if name is None:
            if call.method != "GET":
                return None
            items = [o for (g, p, ns, _), o in self.custom.items()
                     if (g, p) == (group, resource.plural) and namespace in (None, ns)]
            return 200, self._list(resource.api_version, f"{resource.kind}List", items, call.query)
        key = (group, resource.plural, namespace or "", name)
        current = self.custom.get(key)
        if call.method == "PATCH":
            return self._patch(resource, key, current, call)
        if current is None:
            raise not_found(resource.plural, name, group)
        if call.method == "GET":
            return 200, copy(current)
        if call.method == "DELETE":
            if current["metadata"].get("finalizers"):
                deleting = merge_patch(current, {"metadata": {"deletionTimestamp": CREATED}})
                deleting["metadata"]["resourceVersion"] = self.next_rv()
                self.custom[key] = deleting
                return 200, copy(deleting)
            del self.custom[key]
            return 200, copy(current)
        return None

    def _patch(self, resource: CustomResource, key: Key, current: Optional[Json], call: Call) -> tuple[int, Json]:
        name = key[3]
        if call.content_type not in PATCH_TYPES:
            raise ApiError(415, "the body of the request was in an unknown format - accepted media types include: "
                                + ", ".join(PATCH_TYPES))
        if not isinstance(call.body, dict):
            raise ApiError(400, "the body of the request is not a JSON object")
        if call.content_type == MERGE_PATCH:
            if current is None:
                raise not_found(resource.plural, name, resource.group)
            return 200, copy(self._write(key, current, merge_patch(current, call.body)))
        if not call.query.get("fieldManager"):
            raise invalid("PatchOptions.meta.k8s.io", "", [("fieldManager", "FieldValueRequired",
                                                             "Required value: is required for apply patch")])
        if (call.body.get("apiVersion"), call.body.get("kind")) != (resource.api_version, resource.kind):
            raise ApiError(400, f"the applied object must have apiVersion {resource.api_version} and kind "
                                f"{resource.kind}")
        if current is None:
            return 201, copy(self._create(key, apply_merge({}, call.body)))
        return 200, copy(self._write(key, current, apply_merge(current, call.body)))
