"""Built-in namespaced kinds whose server logic is their metadata and a validation (Leases, Events), as the
generic registry (k8s.io/apiserver/pkg/registry/generic/registry/store.go) serves them:

- POST creates (201; name or generateName; 409 AlreadyExists; a body without apiVersion and kind is fine, as
  the Python client sends them). GET, LIST and WATCH, per namespace and across namespaces.
- PUT updates; metadata.resourceVersion is optional (built-in kinds allow unconditional updates) and a stale
  one is 409; a missing object is 404. PATCH: merge, strategic merge (these kinds have no merge keys that
  matter, so it merges as a merge patch does), JSON patch; apply needs fieldManager and creates a missing one.
- A write that changes nothing keeps the resourceVersion. DELETE answers a Success Status. Finalizers and
  generation are not modelled here.
- A kind may be served under a second API group from the same storage (events.k8s.io/v1 Events are core
  Events, fields renamed), as the API server does.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any, Callable, Optional

from tests.kube.base import Call, now_time
from tests.kube.watch import Scope
from tests.kube.wire import (
    APPLY_PATCH,
    JSON_PATCH,
    MERGE_PATCH,
    STRATEGIC_PATCH,
    ApiError,
    FieldError,
    Json,
    already_exists,
    apply_merge,
    copy,
    generated_name,
    invalid,
    json_patch,
    merge_patch,
    name_errors,
    not_found,
    preconditions,
)

PATCH_TYPES = (JSON_PATCH, MERGE_PATCH, STRATEGIC_PATCH, APPLY_PATCH)
KEPT_META = ("labels", "annotations", "ownerReferences", "finalizers", "generateName")
PlainKey = tuple[str, str, str, str]  # stored apiVersion, stored kind, namespace, name


def _same(obj: Json) -> Json:
    return obj


def _no_errors(obj: Json, old: Optional[Json]) -> list[FieldError]:
    return []


@dataclass(frozen=True)
class PlainResource:
    group: str  # "" for the core group
    version: str
    plural: str
    kind: str
    stored: tuple[str, str] = ("", "")  # (apiVersion, kind) of the storage form, when another
    fields: tuple[str, ...] = ()  # field selector labels beyond metadata.name and metadata.namespace
    to_storage: Callable[[Json], Json] = _same
    to_served: Callable[[Json], Json] = _same
    prepare: Callable[[Json], Json] = _same  # normalisation on every write (MicroTime, ...)
    validate: Callable[[Json, Optional[Json]], list[FieldError]] = _no_errors  # on the served form

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def storage(self) -> tuple[str, str]:
        return self.stored if self.stored[0] else (self.api_version, self.kind)

    @property
    def prefix(self) -> list[str]:
        return ["apis", self.group, self.version] if self.group else ["api", self.version]


class PlainObjects:
    """Mixin of KubeServer: `plain` objects keyed by (stored apiVersion, stored kind, namespace, name)."""

    lock: Any
    _list: Any
    store: Any

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.plain_resources: list[PlainResource] = []
        self.plain: dict[PlainKey, Json] = self.store()

    def plain_objects(self, api_version: str, kind: str, namespace: Optional[str] = None) -> list[Json]:
        """Stored objects of a kind (copies), in the order they were created."""
        with self.lock:
            return copy([o for (a, k, ns, _), o in self.plain.items()  # a dict keeps the order of creation
                         if (a, k) == (api_version, kind) and namespace in (None, ns)])

    def _route_plain(self, call: Call) -> Optional[tuple[int, Any]]:
        for resource in self.plain_resources:
            prefix = resource.prefix
            if call.parts[:len(prefix)] != prefix:
                continue
            rest = call.parts[len(prefix):]
            if rest == [resource.plural] and call.method == "GET":
                return 200, self._list(self._scope(resource, None), self._items(resource, None), call.query)
            if len(rest) in (3, 4) and rest[0] == "namespaces" and rest[2] == resource.plural:
                return self._route_one(resource, call, rest[1], rest[3] if len(rest) == 4 else None)
        return None

    def _scope(self, resource: PlainResource, namespace: Optional[str]) -> Scope:
        api_version, kind = resource.storage
        view = None if resource.storage == (resource.api_version, resource.kind) else resource.to_served
        return Scope(api_version, kind, namespace, resource.api_version, view, resource.fields)

    def _items(self, resource: PlainResource, namespace: Optional[str]) -> list[Json]:
        return [o for (a, k, ns, _), o in self.plain.items() if (a, k) == resource.storage and namespace in (None, ns)]

    def _route_one(self, resource: PlainResource, call: Call, namespace: str,
                   name: Optional[str]) -> Optional[tuple[int, Any]]:
        if name is None:
            if call.method == "GET":
                return 200, self._list(self._scope(resource, namespace), self._items(resource, namespace), call.query)
            if call.method == "POST":
                return 201, resource.to_served(copy(self._create_plain(resource, namespace, call.body)))
            raise ApiError(405, f"the server does not allow this method on the requested resource ({call.method})")
        key = (*resource.storage, namespace, name)
        current = self.plain.get(key)
        if call.method == "PATCH" and call.content_type == APPLY_PATCH and current is None:
            if not call.query.get("fieldManager"):
                raise invalid("PatchOptions.meta.k8s.io", "", [("fieldManager", "FieldValueRequired",
                                                                 "Required value: is required for apply patch")])
            body = apply_merge({"metadata": {"name": name, "namespace": namespace}}, call.body or {})
            return 201, resource.to_served(copy(self._create_plain(resource, namespace, body)))
        if current is None:
            raise not_found(resource.plural, name, resource.group)
        served = resource.to_served(copy(current))
        if call.method == "GET":
            return 200, served
        if call.method == "PUT":
            return 200, resource.to_served(copy(self._update_plain(resource, key, current, call.body)))
        if call.method == "PATCH":
            return 200, resource.to_served(copy(self._update_plain(resource, key, current, _patch(served, call))))
        if call.method == "DELETE":
            del self.plain[key]
            return 200, {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                         "details": {"name": name, **({"group": resource.group} if resource.group else {}),
                                     "kind": resource.plural, "uid": current["metadata"]["uid"]}}
        return None

    def _create_plain(self, resource: PlainResource, namespace: str, body: Any) -> Json:
        if not isinstance(body, dict):
            raise ApiError(400, "the body of the request is not a JSON object")
        if body.get("apiVersion", resource.api_version) != resource.api_version or \
                body.get("kind", resource.kind) != resource.kind:
            raise ApiError(400, f"the API version in the data ({body.get('apiVersion')}) does not match the "
                                f"expected API version ({resource.api_version})")
        meta = generated_name(body.get("metadata") or {})
        if meta.get("namespace", namespace) != namespace:
            raise ApiError(400, "the namespace of the provided object does not match the namespace sent on the "
                                "request")
        name = meta.get("name", "")
        served = resource.prepare({**copy(body), "apiVersion": resource.api_version, "kind": resource.kind,
                                   "metadata": {**{k: v for k, v in meta.items() if k in KEPT_META and v},
                                                "name": name, "namespace": namespace, "uid": str(uuid.uuid4()),
                                                "creationTimestamp": now_time()}})
        errors = name_errors(meta) or resource.validate(served, None)
        if errors:
            raise invalid(resource.kind, name, errors, resource.group)
        key = (*resource.storage, namespace, name)
        if key in self.plain:
            raise already_exists(resource.plural, name, resource.group)
        self.plain[key] = resource.to_storage(served)
        return self.plain[key]

    def _update_plain(self, resource: PlainResource, key: PlainKey, current: Json, new: Any) -> Json:
        if not isinstance(new, dict):
            raise ApiError(400, "the body of the request is not a JSON object")
        meta, old = new.get("metadata") or {}, current["metadata"]
        if meta.get("name", old["name"]) != old["name"]:
            raise ApiError(400, f"the name of the object ({meta.get('name')}) does not match the name on the URL "
                                f"({old['name']})")
        preconditions(resource.plural, old["name"], resource.group, meta, old)
        served = resource.prepare({**copy(new), "apiVersion": resource.api_version, "kind": resource.kind,
                                   "metadata": {**{k: v for k, v in meta.items() if k in KEPT_META and v},
                                                **{k: old[k] for k in ("name", "namespace", "uid",
                                                                       "resourceVersion", "creationTimestamp")}}})
        errors = resource.validate(served, resource.to_served(copy(current)))
        if errors:
            raise invalid(resource.kind, old["name"], errors, resource.group)
        updated = resource.to_storage(served)
        if updated != current:
            self.plain[key] = updated
        return self.plain[key]


def _patch(current: Json, call: Call) -> Json:
    if call.content_type not in PATCH_TYPES:
        raise ApiError(415, "the body of the request was in an unknown format - accepted media types include: "
                            + ", ".join(PATCH_TYPES))
    if call.content_type == JSON_PATCH:
        return json_patch(current, call.body)
    if not isinstance(call.body, dict):
        raise ApiError(400, "the body of the request is not a JSON object")
    if call.content_type == APPLY_PATCH:
        if not call.query.get("fieldManager"):
            raise invalid("PatchOptions.meta.k8s.io", "", [("fieldManager", "FieldValueRequired",
                                                             "Required value: is required for apply patch")])
        return apply_merge(current, call.body)
    if any(k.startswith("$") for k in call.body):
        raise ApiError(400, "strategic merge directives ($patch, $retainKeys, ...) are not implemented by this fake")
    return merge_patch(current, call.body)
