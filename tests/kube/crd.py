"""Custom resources from CustomResourceDefinitions (apiextensions.k8s.io/v1), as the apiextensions-apiserver
serves them (k8s.io/apiextensions-apiserver/pkg/registry/customresource, pkg/apiserver/schema):

- `register_crd(doc)` reads group, names (plural, kind, singular, shortNames), scope, the served versions (one
  storage version), each version's openAPIV3Schema, status subresource and selectableFields. The CRD itself is
  then served at /apis/apiextensions.k8s.io/v1/customresourcedefinitions (GET, LIST; POST registers one),
  Established. Versions convert with strategy None: only apiVersion changes.
- Writes are pruned (fields the schema does not name are dropped, except under
  x-kubernetes-preserve-unknown-fields; apiVersion, kind and metadata always stay), nulls of non-nullable
  fields are dropped, `default`s fill what is missing, then the object is validated (jsonschema, draft 4, the
  OpenAPI v3 keywords; nullable, x-kubernetes-int-or-string). A failure is 422 Invalid,
  `<Kind>.<group> "<name>" is invalid: <path>: <error>`, with the errors kube-openapi and
  apiextensions' kubeOpenAPIResultToFieldErrors give: `spec.port: Invalid value: "string": spec.port in body
  must be of type integer: "string"`, `spec.kind: Required value`, `spec.kind: Unsupported value: "x":
  supported values: "ens", "nlb"`, `spec.port: Invalid value: 0: spec.port in body should be greater than or
  equal to 1`, `Too long: may not be more than N bytes`, `Too many: 3: must have at most 2 items`.
  `format: date-time` is checked (`... in body must be of type date-time: "<value>"`), other formats not.
  Of CEL (x-kubernetes-validations) only the immutability idiom `self.a == oldSelf.a && ...` / `self ==
  oldSelf` on a top-level property is evaluated (422 `spec: Invalid value: "object": <message>`);
  fieldValidation=Strict is not honoured (unknown fields are pruned silently, without the Warning header).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Mapping, Union

import jsonschema
import yaml

from tests.kube.wire import (
    FieldError,
    Json,
    copy,
    field_invalid,
    field_required,
    field_unsupported,
)

CRDS = ("apiextensions.k8s.io", "v1", "customresourcedefinitions")
FORMATS = jsonschema.FormatChecker(formats=())


@FORMATS.checks("date-time", raises=ValueError)
def _date_time(value: Any) -> bool:
    """strfmt's date-time: RFC 3339 with a T (or t, or a space) and a zone."""
    if not isinstance(value, str):
        return True
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    return parsed.tzinfo is not None and len(value) >= 20


@dataclass(frozen=True)
class CustomResource:
    group: str
    version: str  # the storage version
    plural: str
    kind: str
    namespaced: bool
    status: bool = False  # the status subresource
    versions: tuple[str, ...] = ()  # served versions; () serves only the storage version
    singular: str = ""
    short_names: tuple[str, ...] = ()
    selectable: tuple[str, ...] = ()  # field selector labels from selectableFields (`spec.service`)
    schemas: Mapping[str, Json] = field(default_factory=dict, compare=False, hash=False)

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}"

    def serves(self, version: str) -> bool:
        return version in (self.versions or (self.version,))


def load_crd(doc: Union[str, Path, Json]) -> Json:
    """A CRD document from a dict, a path to a YAML file or YAML text."""
    if isinstance(doc, Path) or (isinstance(doc, str) and "\n" not in doc and doc.endswith((".yaml", ".yml"))):
        doc = Path(doc).read_text()
    if isinstance(doc, str):
        docs = [d for d in yaml.safe_load_all(doc) if d]
        doc = next((d for d in docs if d.get("kind") == "CustomResourceDefinition"), docs[0] if docs else {})
    return copy(doc)


def crd_resource(crd: Json) -> CustomResource:
    """What a CustomResourceDefinition serves; ValueError for a document the API server would refuse."""
    if (crd.get("apiVersion"), crd.get("kind")) != ("apiextensions.k8s.io/v1", "CustomResourceDefinition"):
        raise ValueError("not an apiextensions.k8s.io/v1 CustomResourceDefinition")
    spec = crd.get("spec") or {}
    names, group = spec.get("names") or {}, spec.get("group", "")
    if not (group and names.get("plural") and names.get("kind")):
        raise ValueError("spec.group, spec.names.plural and spec.names.kind are required")
    if (crd.get("metadata") or {}).get("name") != f"{names['plural']}.{group}":
        raise ValueError(f"metadata.name must be spec.names.plural+\".\"+spec.group: {names['plural']}.{group}")
    if spec.get("scope") not in ("Namespaced", "Cluster"):
        raise ValueError("spec.scope must be Namespaced or Cluster")
    versions = spec.get("versions") or []
    storage = [v for v in versions if v.get("storage")]
    if len(storage) != 1:
        raise ValueError("exactly one version must be the storage version")
    for v in versions:
        if not ((v.get("schema") or {}).get("openAPIV3Schema")):
            raise ValueError(f"spec.versions[{v.get('name')}].schema.openAPIV3Schema is required")
    stored = storage[0]
    return CustomResource(
        group, stored["name"], names["plural"], names["kind"], spec["scope"] == "Namespaced",
        status="status" in (stored.get("subresources") or {}),
        versions=tuple(v["name"] for v in versions if v.get("served")),
        singular=names.get("singular", names["kind"].lower()), short_names=tuple(names.get("shortNames") or ()),
        selectable=tuple(f["jsonPath"].lstrip(".") for f in stored.get("selectableFields") or []),
        schemas={v["name"]: v["schema"]["openAPIV3Schema"] for v in versions})


def established(crd: Json, resource: CustomResource) -> Json:
    names = crd["spec"]["names"]
    accepted = {"plural": names["plural"], "singular": resource.singular, "kind": names["kind"],
                "listKind": names.get("listKind", f"{names['kind']}List"),
                **({"shortNames": list(resource.short_names)} if resource.short_names else {})}
    conditions = [{"type": t, "status": "True", "reason": r, "message": m} for t, r, m in (
        ("NamesAccepted", "NoConflicts", "no conflicts found"),
        ("Established", "InitialNamesAccepted", "the initial names have been accepted"))]
    return {**crd, "status": {"acceptedNames": accepted, "conditions": conditions,
                              "storedVersions": [resource.version]}}


# --- pruning, defaulting, validation ----------------------------------------------------------------

def _preserves(schema: Json) -> bool:
    return bool(schema.get("x-kubernetes-preserve-unknown-fields"))


def prune_and_default(value: Any, schema: Json, root: bool = False) -> Any:
    """Structural pruning, non-nullable nulls dropped, and defaults, as the apiextensions-apiserver applies them."""
    if isinstance(value, dict):
        props, extra = schema.get("properties"), schema.get("additionalProperties")
        result = {}
        for key, item in value.items():
            if root and key in ("apiVersion", "kind", "metadata"):
                result[key] = item
                continue
            child = (props or {}).get(key) if props is not None and key in props else \
                extra if isinstance(extra, dict) else None
            if child is None:
                if _preserves(schema) or extra is True:
                    result[key] = item
                continue  # pruned
            if item is None and not child.get("nullable"):
                if "default" in child:
                    result[key] = copy(child["default"])
                continue
            result[key] = prune_and_default(item, child)
        for key, child in (props or {}).items():
            if key not in result and "default" in child and not (root and key == "metadata"):
                result[key] = prune_and_default(copy(child["default"]), child)
        return result
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        return [prune_and_default(v, schema["items"]) for v in value]
    return value


def _json_schema(schema: Any) -> Any:
    """OpenAPI v3 as JSON Schema draft 4: nullable, int-or-string; metadata left to ObjectMeta's checks."""
    if isinstance(schema, list):
        return [_json_schema(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: _json_schema(v) for k, v in schema.items() if not k.startswith("x-kubernetes-") and k != "nullable"}
    if schema.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
        out.setdefault("anyOf", [{"type": "integer"}, {"type": "string"}])
    if schema.get("nullable") and "type" in out:
        out["type"] = [out["type"], "null"]
        if "enum" in out:
            out["enum"] = [*out["enum"], None]
    return out


def _path(parts: Any) -> str:
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _type_name(value: Any) -> str:
    for kind, name in ((bool, "boolean"), (int, "integer"), (float, "number"), (str, "string"), (list, "array"),
                       (dict, "object"), (type(None), "null")):
        if isinstance(value, kind):
            return name
    return type(value).__name__


def _field_errors(error: jsonschema.ValidationError) -> list[FieldError]:
    where, keyword, limit, value = _path(error.absolute_path), error.validator, error.validator_value, error.instance
    body = f"{where} in body"
    if keyword == "required":
        return [field_required(_path([*error.absolute_path, name]))
                for name in limit if isinstance(value, dict) and name not in value]
    if keyword == "enum":
        return [field_unsupported(where, value, [v for v in limit if v is not None])]
    if keyword == "type":
        types = ",".join(limit) if isinstance(limit, list) else limit
        kind = _type_name(value)
        return [field_invalid(where, kind, f'{body} must be of type {types}: "{kind}"')]
    if keyword == "format":
        return [field_invalid(where, value, f'{body} must be of type {limit}: "{value}"')]
    if keyword == "maxLength":
        return [(where, "FieldValueTooLong", f"Too long: may not be more than {limit} bytes")]
    if keyword == "maxItems":
        return [(where, "FieldValueTooMany", f"Too many: {len(value)}: must have at most {limit} items")]
    message = {"minimum": f"should be greater than or equal to {limit}",
               "maximum": f"should be less than or equal to {limit}",
               "minLength": f"should be at least {limit} chars long", "pattern": f"should match '{limit}'",
               "minItems": f"should have at least {limit} items",
               "minProperties": f"should have at least {limit} properties",
               "maxProperties": f"should have at most {limit} properties",
               "uniqueItems": "shouldn't contain duplicates"}.get(keyword)
    return [field_invalid(where, value, f"{body} {message}" if message else error.message)]


def schema_errors(resource: CustomResource, version: str, obj: Json) -> list[FieldError]:
    schema = resource.schemas.get(version) or resource.schemas.get(resource.version)
    if not schema:
        return []
    checked = _json_schema({**schema, "properties": {k: v for k, v in (schema.get("properties") or {}).items()
                                                     if k not in ("metadata", "apiVersion", "kind")}})
    errors: list[FieldError] = []
    for error in jsonschema.Draft4Validator(checked, format_checker=FORMATS).iter_errors(obj):
        if error.validator in ("anyOf", "oneOf") and error.context:  # int-or-string: say what it must be
            errors.append(field_invalid(_path(error.absolute_path), _type_name(error.instance),
                                        f"{_path(error.absolute_path)} in body must be of type integer,string: "
                                        f'"{_type_name(error.instance)}"'))
        else:
            errors += _field_errors(error)
    return sorted(dict.fromkeys(errors), key=lambda e: e[0])


def store_form(resource: CustomResource, version: str, obj: Json) -> Json:
    schema = resource.schemas.get(version) or resource.schemas.get(resource.version)
    return prune_and_default(obj, schema, root=True) if schema else obj

