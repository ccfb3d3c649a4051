"""Custom objects of the fake API server, served as the apiextensions-apiserver serves custom resources
(k8s.io/apiextensions-apiserver/pkg/registry/customresource: strategy.go, status_strategy.go):

Paths `/apis/<group>/<version>/[namespaces/<ns>/]<plural>[/<name>[/status]]`; a wrong scope or version is a 404.
- POST creates (201; name or generateName; 409 AlreadyExists; status dropped when the status subresource is
  on; generation 1). GET, LIST and WATCH (namespaced, and across namespaces for namespaced kinds).
- PUT needs metadata.resourceVersion (custom resources do not allow unconditional updates: 422
  "metadata.resourceVersion: Invalid value: 0x0: must be specified for an update"); a stale one is 409.
  A missing object is 404 (no create on update).
- PATCH: `application/merge-patch+json` (RFC 7386) patches an existing object (a missing one is 404, never
  created); `application/apply-patch+yaml` (server-side apply) needs `fieldManager` and CREATES a missing
  object (201), as pulumi-kubernetes' `*Patch` resources rely on (pulumi/pulumi-kubernetes#2194). Apply merges
  without field ownership: it sets what it is given and never conflicts or removes. Strategic merge is 415, as
  for every custom resource; so is JSON patch here, although the real server takes it (a test of this fake
  pins that; `wire.json_patch` is ready when it is lifted).
- metadata.resourceVersion and metadata.uid in a patch are preconditions (409). A write that changes nothing
  is not persisted and keeps the resourceVersion. generation moves when anything but metadata (and status,
  with the subresource) changes. With the status subresource the main endpoint keeps the stored status, and
  `/status` (GET, PUT, PATCH) changes only status: spec and metadata stay.
- DELETE of an object with finalizers sets deletionTimestamp (and deletionGracePeriodSeconds 0) and keeps it;
  the write that clears the last finalizer removes it; a write may not add finalizers meanwhile.
  DeleteOptions.preconditions (uid, resourceVersion) are checked (409).
- Every write is pruned, defaulted and validated against the CRD's schema (see `crd`).
"""

from __future__ import annotations

import re
import uuid
from pathlib import Path
from typing import Any, Optional, Union

from tests.kube.base import Call, now_time
from tests.kube.crd import CRDS, CustomResource, crd_resource, established, load_crd, schema_errors, store_form
from tests.kube.watch import Scope
from tests.kube.wire import (
    APPLY_PATCH,
    MERGE_PATCH,
    ApiError,
    FieldError,
    Json,
    already_exists,
    apply_merge,
    conflict,
    copy,
    field_forbidden,
    field_invalid,
    generated_name,
    go_value,
    invalid,
    merge_patch,
    name_errors,
    not_found,
    preconditions,
)

PATCH_TYPES = (MERGE_PATCH, APPLY_PATCH)
SERVER_META = ("name", "namespace", "uid", "resourceVersion", "creationTimestamp", "generation", "deletionTimestamp",
               "deletionGracePeriodSeconds")
Key = tuple[str, str, str, str]  # group, plural, namespace ("" when cluster-scoped), name
_SAME_FIELDS = re.compile(r"self\.(\w+) == oldSelf\.(\w+)")


class CustomObjects:
    """Mixin of KubeServer: `custom` objects keyed by (group, plural, namespace, name), `crds` by name."""

    lock: Any
    _list: Any
    next_rv: Any
    store: Any

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.resources: dict[tuple[str, str], CustomResource] = {}
        self.crds: dict[str, Json] = {}
        self.custom: dict[Key, Json] = self.store()

    # --- what tests call ------------------------------------------------------------------------

    def register_crd(self, doc: Union[str, Path, Json]) -> CustomResource:
        """Serve the custom resource a CustomResourceDefinition (dict, YAML text or file path) defines."""
        crd = load_crd(doc)
        resource = crd_resource(crd)
        with self.lock:
            self.resources[(resource.group, resource.plural)] = resource
            self.crds[crd["metadata"]["name"]] = established(
                {**crd, "metadata": {**crd["metadata"], "uid": crd["metadata"].get("uid") or _uid(),
                                     "resourceVersion": self.next_rv(), "creationTimestamp": now_time(),
                                     "generation": 1}}, resource)
        return resource

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

    def edit_status(self, plural: str, name: str, status: Json, namespace: Optional[str] = None) -> Json:
        """A merge patch of `status` by someone else (another controller), through the status subresource."""
        with self.lock:
            key = self._key(plural, name, namespace)
            current = self.custom[key]
            return copy(self._write(key, current, merge_patch(current, {"status": status}), status_only=True))

    def remove(self, plural: str, name: str, namespace: Optional[str] = None) -> None:
        """Delete the object at once (finalizers or not), as a test's shortcut."""
        with self.lock:
            del self.custom[self._key(plural, name, namespace)]

    def _key(self, plural: str, name: str, namespace: Optional[str]) -> Key:
        group = next(g for (g, p) in self.resources if p == plural)
        return group, plural, namespace or "", name

    def _arrive(self, target: Optional[tuple[str, str, Optional[str], Optional[str]]] = None) -> None:
        """Objects that appear later (see `openyurt`)."""

    # --- storage --------------------------------------------------------------------------------

    def _insert(self, key: Key, obj: Json, drop_status: bool = False, created: Optional[str] = None) -> Json:
        group, plural, ns, name = key
        resource = self.resources[(group, plural)]
        meta = {k: v for k, v in (obj.get("metadata") or {}).items() if v and k not in SERVER_META}
        meta.update(name=name, uid=_uid(), creationTimestamp=created or now_time(), generation=1,
                    **({"namespace": ns} if ns else {}))
        stored = {**copy(obj), "apiVersion": resource.api_version, "kind": resource.kind, "metadata": meta}
        if drop_status:
            stored.pop("status", None)
        stored = store_form(resource, resource.version, stored)
        self._check(resource, resource.version, stored, None)
        self.custom[key] = stored
        return stored

    def _check(self, resource: CustomResource, version: str, obj: Json, old: Optional[Json]) -> None:
        errors = name_errors(obj["metadata"]) + schema_errors(resource, version, obj)
        if old is not None:
            errors += _transition_errors(resource, version, obj, old)
        if errors:
            raise invalid(resource.kind, obj["metadata"].get("name", ""), errors, resource.group)

    def _write(self, key: Key, current: Json, new: Any, status_only: bool = False, version: str = "") -> Json:
        if not isinstance(new, dict):
            raise ApiError(400, "the body of the request is not an object")
        resource = self.resources[key[:2]]
        meta, old = new.get("metadata") or {}, current["metadata"]
        if meta.get("name", old["name"]) != old["name"]:
            raise ApiError(400, f"the name of the object ({meta.get('name')}) does not match the name on the URL "
                                f"({old['name']})")
        preconditions(resource.plural, old["name"], resource.group, meta, old)
        if status_only:
            updated = {k: v for k, v in current.items() if k != "status"}
            if "status" in new:
                updated["status"] = copy(new["status"])
        else:
            updated = {**copy(new), "apiVersion": current["apiVersion"], "kind": current["kind"],
                       "metadata": {**{k: v for k, v in meta.items() if k not in SERVER_META and v not in ({}, [])},
                                    **{k: old[k] for k in SERVER_META if k in old}}}
            if resource.status:
                updated.pop("status", None)
                if "status" in current:
                    updated["status"] = current["status"]
            added = set(updated["metadata"].get("finalizers") or []) - set(old.get("finalizers") or [])
            if old.get("deletionTimestamp") and added:
                raise invalid(resource.kind, old["name"], [field_forbidden(
                    "metadata.finalizers", "no new finalizers can be added if the object is being deleted, found "
                    f"new finalizers {go_value(sorted(added))}")], resource.group)
        updated = store_form(resource, version or resource.version, updated)
        if updated == current:
            return current
        self._check(resource, version or resource.version, updated, current)
        if _content(updated, resource) != _content(current, resource):
            updated["metadata"]["generation"] = old.get("generation", 1) + 1
        if updated["metadata"].get("deletionTimestamp") and not updated["metadata"].get("finalizers"):
            dict.__setitem__(self.custom, key, updated)  # one DELETED event, with the emptied finalizers
            del self.custom[key]
        else:
            self.custom[key] = updated
        return updated

    # --- routes ---------------------------------------------------------------------------------

    def _route_custom(self, call: Call) -> Optional[tuple[int, Any]]:
        parts = call.parts
        if parts[:4] == ["apis", *CRDS]:
            return self._route_crds(call)
        if len(parts) < 4 or parts[0] != "apis":
            return None
        group, version, rest = parts[1], parts[2], parts[3:]
        namespace: Optional[str] = None
        if rest[0] == "namespaces" and len(rest) >= 3:
            namespace, rest = rest[1], rest[2:]
        resource = self.resources.get((group, rest[0]))
        if resource is None or not resource.serves(version) or len(rest) > 3 or \
                (namespace is not None and not resource.namespaced) or \
                (len(rest) >= 2 and resource.namespaced and namespace is None) or \
                (len(rest) == 3 and (rest[2] != "status" or not resource.status)):
            return None
        name = rest[1] if len(rest) >= 2 else None
        self._arrive((group, resource.plural, namespace, name))
        served = f"{group}/{version}"
        if name is None:
            if call.method == "GET":
                items = [o for (g, p, ns, _), o in self.custom.items()
                         if (g, p) == (group, resource.plural) and namespace in (None, ns)]
                scope = Scope(resource.api_version, resource.kind, namespace, served, fields=resource.selectable)
                return 200, self._list(scope, items, call.query)
            if call.method == "POST" and (namespace is not None or not resource.namespaced):
                return 201, _show(self._create_object(resource, version, namespace, call.body), served)
            raise ApiError(405, f"the server does not allow this method on the requested resource ({call.method})")
        key = (group, resource.plural, namespace or "", name)
        current, status_only = self.custom.get(key), len(rest) == 3
        if call.method == "PATCH":
            code, obj = self._patch(resource, key, current, call, version, status_only)
            return code, _show(obj, served)
        if current is None:
            raise not_found(resource.plural, name, group)
        if call.method == "GET":
            return 200, _show(copy(current), served)
        if call.method == "PUT":
            if not ((call.body or {}).get("metadata") or {}).get("resourceVersion"):
                raise invalid(resource.plural, name, [("metadata.resourceVersion", "FieldValueInvalid",
                                                       "Invalid value: 0x0: must be specified for an update")],
                              group)
            return 200, _show(copy(self._write(key, current, call.body, status_only, version)), served)
        if call.method == "DELETE" and not status_only:
            return 200, _show(self._delete(resource, key, current, call.body), served)
        raise ApiError(405, f"the server does not allow this method on the requested resource ({call.method})")

    def _create_object(self, resource: CustomResource, version: str, namespace: Optional[str], body: Any) -> Json:
        if not isinstance(body, dict):
            raise ApiError(400, "the body of the request is not a JSON object")
        if body.get("apiVersion") != f"{resource.group}/{version}" or body.get("kind") != resource.kind:
            raise ApiError(400, f"the API version in the data ({body.get('apiVersion')}) and kind "
                                f"({body.get('kind')}) do not match the expected {resource.group}/{version} "
                                f"{resource.kind}")
        meta = generated_name(body.get("metadata") or {})
        if meta.get("namespace", namespace) != namespace:
            raise ApiError(400, "the namespace of the provided object does not match the namespace sent on the "
                                "request")
        errors: list[FieldError] = name_errors(meta)
        if errors:
            raise invalid(resource.kind, meta.get("name", ""), errors, resource.group)
        key = (resource.group, resource.plural, namespace or "", meta["name"])
        if key in self.custom:
            raise already_exists(resource.plural, meta["name"], resource.group)
        return copy(self._insert(key, {**body, "metadata": meta}, drop_status=resource.status))

    def _delete(self, resource: CustomResource, key: Key, current: Json, options: Any) -> Json:
        wanted = (options.get("preconditions") or {}) if isinstance(options, dict) else {}
        meta = current["metadata"]
        for field, label in (("uid", "UID"), ("resourceVersion", "ResourceVersion")):
            if wanted.get(field) and wanted[field] != meta[field]:
                raise conflict(resource.plural, meta["name"], resource.group,
                               f"Precondition failed: {label} in precondition: {wanted[field]}, {label} in object "
                               f"meta: {meta[field]}")
        if not meta.get("finalizers"):
            del self.custom[key]
            return copy(current)
        if not meta.get("deletionTimestamp"):
            deleting = copy(current)
            deleting["metadata"].update(deletionTimestamp=now_time(), deletionGracePeriodSeconds=0)
            self.custom[key] = deleting
        return copy(self.custom[key])

    def _patch(self, resource: CustomResource, key: Key, current: Optional[Json], call: Call, version: str,
               status_only: bool) -> tuple[int, Json]:
        name = key[3]
        if call.content_type not in PATCH_TYPES:
            raise ApiError(415, "the body of the request was in an unknown format - accepted media types include: "
                                + ", ".join(PATCH_TYPES))
        if not isinstance(call.body, dict):
            raise ApiError(400, "the body of the request is not a JSON object")
        if call.content_type == MERGE_PATCH:
            if current is None:
                raise not_found(resource.plural, name, resource.group)
            return 200, copy(self._write(key, current, merge_patch(current, call.body), status_only, version))
        if not call.query.get("fieldManager"):
            raise invalid("PatchOptions.meta.k8s.io", "", [("fieldManager", "FieldValueRequired",
                                                             "Required value: is required for apply patch")])
        if (call.body.get("apiVersion"), call.body.get("kind")) != (f"{resource.group}/{version}", resource.kind):
            raise ApiError(400, f"the applied object must have apiVersion {resource.group}/{version} and kind "
                                f"{resource.kind}")
        if current is None:
            if status_only:
                raise not_found(resource.plural, name, resource.group)
            return 201, copy(self._insert(key, apply_merge({}, call.body), drop_status=resource.status))
        return 200, copy(self._write(key, current, apply_merge(current, call.body), status_only, version))

    def _route_crds(self, call: Call) -> Optional[tuple[int, Any]]:
        parts = call.parts
        if len(parts) == 4 and call.method == "GET":
            return 200, self._list(Scope("apiextensions.k8s.io/v1", "CustomResourceDefinition"),
                                   list(self.crds.values()), call.query)
        if len(parts) == 4 and call.method == "POST":
            try:
                resource = self.register_crd(call.body or {})
            except ValueError as exc:
                raise invalid("CustomResourceDefinition", ((call.body or {}).get("metadata") or {}).get("name", ""),
                              [field_invalid("spec", "object", str(exc))], "apiextensions.k8s.io") from None
            return 201, copy(self.crds[f"{resource.plural}.{resource.group}"])
        if len(parts) == 5 and call.method == "GET":
            if parts[4] not in self.crds:
                raise not_found("customresourcedefinitions", parts[4], "apiextensions.k8s.io")
            return 200, copy(self.crds[parts[4]])
        return None


def _uid() -> str:
    return str(uuid.uuid4())


def _show(obj: Json, served: str) -> Json:
    return {**obj, "apiVersion": served}  # conversion strategy None: only the apiVersion changes


def _content(obj: Json, resource: CustomResource) -> Json:
    return {k: v for k, v in obj.items() if k != "metadata" and not (resource.status and k == "status")}


def _transition_errors(resource: CustomResource, version: str, new: Json, old: Json) -> list[FieldError]:
    """The immutability idiom of x-kubernetes-validations (`self.a == oldSelf.a && ...`, `self == oldSelf`)
    on the schema's direct properties; other CEL rules are not evaluated."""
    schema = resource.schemas.get(version) or {}
    errors: list[FieldError] = []
    for prop, sub in (schema.get("properties") or {}).items():
        for rule in sub.get("x-kubernetes-validations") or []:
            text = rule.get("rule", "").strip()
            pairs = _SAME_FIELDS.findall(text)
            terms = [t.strip() for t in text.split("&&")]
            if text == "self == oldSelf":
                same = new.get(prop) == old.get(prop)
            elif pairs and len(pairs) == len(terms) and all(a == b for a, b in pairs):
                same = all((new.get(prop) or {}).get(a) == (old.get(prop) or {}).get(a) for a, _ in pairs)
            else:
                continue
            if not same and prop in old:
                kind = "object" if isinstance(new.get(prop), dict) else "string"
                errors.append(field_invalid(prop, kind, rule.get("message") or f"failed rule: {text}"))
    return errors
