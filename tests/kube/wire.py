"""What the fake API server shares: request records, `Status` errors, label selectors, merge patches.

Error bodies follow k8s.io/apimachinery/pkg/api/errors: `NewNotFound` ("<resource> "<name>" not found",
details name/group/kind with kind = the resource), `NewConflict` ("Operation cannot be fulfilled on ..."),
`NewInvalid` ("<Kind>[.<group>] "<name>" is invalid: <field errors>", details.causes one per field error,
formatted as field.Error.ErrorBody formats them: strings quoted, numbers bare, nil as "null").
Field selectors take `=`, `==` and `!=` on the labels a resource declares (metadata.name and
metadata.namespace everywhere); another label is 400 "field label not supported". JSON patches are RFC 6902.
"""

from __future__ import annotations

import json
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timezone
from http import HTTPStatus
from typing import Any, NamedTuple, Optional

Json = dict[str, Any]
CREATED = "2025-01-02T03:04:05Z"
REASONS = {400: "BadRequest", 401: "Unauthorized", 404: "NotFound", 405: "MethodNotAllowed", 409: "Conflict",
           410: "Expired", 415: "UnsupportedMediaType", 422: "Invalid", 429: "TooManyRequests", 500: "InternalError",
           503: "ServiceUnavailable", 504: "Timeout"}
FAULT_MESSAGES = {429: "Too many requests, please try again later.", 500: "Internal error occurred: injected fault",
                  503: "The server is currently unable to handle the request"}
MERGE_PATCH = "application/merge-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"
JSON_PATCH = "application/json-patch+json"
STRATEGIC_PATCH = "application/strategic-merge-patch+json"
TRUE, FALSE = ("1", "t", "T", "TRUE", "true", "True"), ("0", "f", "F", "FALSE", "false", "False")  # strconv.ParseBool
NAME_CHARS = "bcdfghjklmnpqrstvwxz2456789"  # utilrand.String: what generateName appends (5 of them)
DNS_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")


class Request(NamedTuple):
    method: str
    path: str
    query: dict[str, str]
    has_bearer_token: bool
    content_type: str = ""


@dataclass
class Fault:
    path_prefix: str
    status: int
    times: int
    retry_after: Optional[int]
    fired: int = 0


class ApiError(Exception):
    def __init__(self, code: int, message: str, details: Optional[Json] = None, reason: Optional[str] = None):
        super().__init__(message)
        self.code = code
        self.body: Json = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                           "message": message, "reason": reason or REASONS.get(code, HTTPStatus(code).phrase),
                           "code": code}
        if details is not None:
            self.body["details"] = details


def _details(resource: str, name: str, group: str = "") -> Json:
    return {"name": name, **({"group": group} if group else {}), "kind": resource}


def qualified(resource: str, group: str = "") -> str:
    """`poolservices.network.openyurt.io`, or `services` for the core group, as errors name resources."""
    return f"{resource}.{group}" if group else resource


def not_found(resource: str, name: str, group: str = "") -> ApiError:
    return ApiError(404, f'{qualified(resource, group)} "{name}" not found', _details(resource, name, group))


def already_exists(resource: str, name: str, group: str = "") -> ApiError:
    return ApiError(409, f'{qualified(resource, group)} "{name}" already exists', _details(resource, name, group),
                    reason="AlreadyExists")


def conflict(resource: str, name: str, group: str = "", why: Optional[str] = None) -> ApiError:
    why = why or "the object has been modified; please apply your changes to the latest version and try again"
    return ApiError(409, f'Operation cannot be fulfilled on {qualified(resource, group)} "{name}": {why}',
                    _details(resource, name, group))


def go_value(value: Any) -> str:
    """A bad value as field.Error prints it."""
    if value is None:
        return '"null"'
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return "[]string{" + ", ".join(json.dumps(v) for v in value) + "}"
    return json.dumps(value)


FieldError = tuple[str, str, str]  # (field path, cause reason, error body)


def field_invalid(path: str, value: Any, detail: str) -> FieldError:
    return path, "FieldValueInvalid", f"Invalid value: {go_value(value)}: {detail}"


def field_forbidden(path: str, detail: str) -> FieldError:
    return path, "FieldValueForbidden", f"Forbidden: {detail}"


def field_required(path: str, detail: str = "") -> FieldError:
    return path, "FieldValueRequired", "Required value" + (f": {detail}" if detail else "")


def field_unsupported(path: str, value: Any, supported: list[Any]) -> FieldError:
    listed = ", ".join(go_value(v) for v in supported)
    return path, "FieldValueNotSupported", f"Unsupported value: {go_value(value)}: supported values: {listed}"


def invalid(kind: str, name: str, errors: list[FieldError], group: str = "") -> ApiError:
    """422 Invalid: `<Kind>[.<group>] "<name>" is invalid: <path>: <body>` (a bracketed list for several errors)."""
    listed = [f"{path}: {body}" for path, _, body in errors]
    text = listed[0] if len(listed) == 1 else "[" + ", ".join(listed) + "]"
    details = {**_details(kind, name, group),
               "causes": [{"reason": reason, "message": body, "field": path} for path, reason, body in errors]}
    return ApiError(422, f'{qualified(kind, group)} "{name}" is invalid: {text}', details)


def name_errors(meta: Json) -> list[FieldError]:
    """ValidateObjectMeta's name rules: a name or generateName, a DNS-1123 subdomain."""
    name = meta.get("name")
    if not name:
        return [field_required("metadata.name", "name or generateName is required")]
    if len(name) > 253 or not DNS_SUBDOMAIN.fullmatch(name):
        return [field_invalid("metadata.name", name, "a lowercase RFC 1123 subdomain must consist of lower case "
                              "alphanumeric characters, '-' or '.', and must start and end with an alphanumeric "
                              "character (e.g. 'example.com', regex used for validation is "
                              "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')")]
    return []


def generated_name(meta: Json) -> Json:
    """metadata with `name` filled from `generateName` as the API server does (when no name is given)."""
    if meta.get("name") or not meta.get("generateName"):
        return meta
    return {**meta, "name": meta["generateName"] + "".join(secrets.choice(NAME_CHARS) for _ in range(5))}


def api_time(value: Any, micro: bool, kind: str = "object") -> str:
    """A metav1.Time (seconds) or MicroTime as the server marshals it, in UTC; unparsable is 400."""
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        layout = "2006-01-02T15:04:05.000000Z07:00" if micro else "2006-01-02T15:04:05Z07:00"
        raise ApiError(400, f'{kind} in version "v1" cannot be handled as a {kind}: parsing time "{value}" as '
                            f'"{layout}": cannot parse') from None
    parsed = (parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)).astimezone(timezone.utc)
    return parsed.strftime("%Y-%m-%dT%H:%M:%S.%fZ" if micro else "%Y-%m-%dT%H:%M:%SZ")


def query_bool(query: dict[str, str], key: str) -> bool:
    value = query.get(key, "")
    if value in TRUE or value in FALSE or value == "":
        return value in TRUE
    raise ApiError(400, f'strconv.ParseBool: parsing "{value}": invalid syntax')


def preconditions(resource: str, name: str, group: str, meta: Json, current: Json) -> None:
    """metadata.uid and metadata.resourceVersion in a write are preconditions: 409 Conflict when they differ."""
    if meta.get("uid") and meta["uid"] != current["uid"]:
        raise conflict(resource, name, group, f"Precondition failed: UID in precondition: {meta['uid']}, "
                                              f"UID in object meta: {current['uid']}")
    if meta.get("resourceVersion") and meta["resourceVersion"] != current["resourceVersion"]:
        raise conflict(resource, name, group)


def parse_selector(text: str) -> list[tuple[str, str, Optional[str]]]:
    requirements: list[tuple[str, str, Optional[str]]] = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        if " in " in part or " notin " in part or "(" in part:
            raise ApiError(400, f"unable to parse requirement: set-based {part!r} is not supported here")
        if "!=" in part:
            key, _, value = part.partition("!=")
            requirements.append((key.strip(), "!=", value.strip()))
        elif "=" in part:
            key, _, value = part.partition("==") if "==" in part else part.partition("=")
            requirements.append((key.strip(), "=", value.strip()))
        else:
            requirements.append((part.lstrip("!").strip(), "absent" if part.startswith("!") else "exists", None))
    return requirements


def parse_fields(text: str, supported: tuple[str, ...] = ()) -> list[tuple[str, str, str]]:
    """A field selector: `a=b`, `a==b`, `a!=b`, comma-separated, on metadata.name/namespace or `supported`."""
    requirements: list[tuple[str, str, str]] = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        op = "!=" if "!=" in part else "==" if "==" in part else "=" if "=" in part else None
        if op is None:
            raise ApiError(400, f'invalid selector: \'{text}\'; can\'t understand \'{part}\'')
        key, _, value = part.partition(op)
        key = key.strip()
        if key not in ("metadata.name", "metadata.namespace", *supported):
            raise ApiError(400, f'field label not supported: {key}')
        requirements.append((key, "!=" if op == "!=" else "=", value.strip()))
    return requirements


def field_value(obj: Json, path: str) -> str:
    value: Any = obj
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    if isinstance(value, bool):
        return str(value).lower()
    return "" if value is None else str(value)


def fields_match(obj: Json, requirements: list[tuple[str, str, str]]) -> bool:
    return all((field_value(obj, key) == value) == (op == "=") for key, op, value in requirements)


def matches(labels: dict[str, str], requirements: list[tuple[str, str, Optional[str]]]) -> bool:
    tests = {"=": lambda k, v: labels.get(k) == v, "!=": lambda k, v: labels.get(k) != v,  # absent passes `!=`
             "exists": lambda k, v: k in labels, "absent": lambda k, v: k not in labels}
    return all(tests[op](key, value) for key, op, value in requirements)


def copy(obj: Any) -> Any:
    return json.loads(json.dumps(obj))  # handlers serialise outside the lock


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch: objects merge, null removes a key, anything else replaces."""
    if not isinstance(patch, dict):
        return copy(patch)
    result = copy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def apply_merge(target: Any, applied: Any) -> Any:
    """Server-side apply without field ownership: the applied configuration's fields set, nothing removed."""
    if not isinstance(applied, dict) or not isinstance(target, dict):
        return copy(applied)
    result = copy(target)
    for key, value in applied.items():
        if value is not None:
            result[key] = apply_merge(result.get(key), value)
    return result


def _pointer(path: str) -> list[str]:
    if path and not path.startswith("/"):
        raise ValueError(f"invalid JSON pointer {path!r}")
    return [p.replace("~1", "/").replace("~0", "~") for p in path.split("/")[1:]]


def _parent(doc: Any, tokens: list[str]) -> tuple[Any, str]:
    for token in tokens[:-1]:
        doc = doc[int(token)] if isinstance(doc, list) else doc[token]
    return doc, tokens[-1]


def json_patch(target: Any, operations: Any) -> Any:
    """RFC 6902 JSON patch; a failed `test` or a bad path is a 422, as the API server answers it."""
    if not isinstance(operations, list):
        raise ApiError(400, "the body of a JSON patch must be a list of operations")
    doc = copy(target)
    try:
        for op in operations:
            kind, tokens = op["op"], _pointer(op["path"])
            if kind in ("move", "copy"):
                source, key = _parent(doc, _pointer(op["from"]))
                value = copy(source[int(key)] if isinstance(source, list) else source[key])
                if kind == "move":
                    del source[int(key) if isinstance(source, list) else key]
                kind, op = "add", {**op, "value": value}
            if not tokens:
                if kind == "test" and doc != op["value"]:
                    raise ValueError("test failed")
                doc = copy(op["value"]) if kind in ("add", "replace") else doc
                continue
            parent, key = _parent(doc, tokens)
            if kind == "test":
                if (parent[int(key)] if isinstance(parent, list) else parent[key]) != op["value"]:
                    raise ValueError(f"testing value {op['path']} failed")
            elif kind == "remove":
                del parent[int(key) if isinstance(parent, list) else key]
            elif kind in ("add", "replace") and isinstance(parent, list):
                index = len(parent) if key == "-" else int(key)
                if kind == "add":
                    parent.insert(index, copy(op["value"]))
                else:
                    parent[index] = copy(op["value"])
            elif kind == "add" or (kind == "replace" and key in parent):
                parent[key] = copy(op["value"])
            else:
                raise ValueError(f"unknown operation or missing path: {op}")
    except (KeyError, IndexError, ValueError, TypeError) as exc:
        raise ApiError(422, f"the server rejected our request due to an error in our request: {exc}") from None
    return doc
