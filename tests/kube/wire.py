"""What the fake API server shares: request records, `Status` errors, label selectors, merge patches.

Error bodies follow k8s.io/apimachinery/pkg/api/errors: `NewNotFound` ("<resource> "<name>" not found",
details name/group/kind with kind = the resource), `NewConflict` ("Operation cannot be fulfilled on ..."),
`NewInvalid` ("<Kind> "<name>" is invalid: <field errors>", details.causes one per field error, formatted
as field.Error.ErrorBody formats them: strings quoted, numbers bare, nil as "null").
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, NamedTuple, Optional

Json = dict[str, Any]
CREATED = "2025-01-02T03:04:05Z"
REASONS = {400: "BadRequest", 401: "Unauthorized", 404: "NotFound", 409: "Conflict", 415: "UnsupportedMediaType",
           422: "Invalid", 429: "TooManyRequests", 500: "InternalError", 503: "ServiceUnavailable"}
FAULT_MESSAGES = {429: "Too many requests, please try again later.", 500: "Internal error occurred: injected fault",
                  503: "The server is currently unable to handle the request"}
MERGE_PATCH = "application/merge-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"


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


def invalid(kind: str, name: str, errors: list[FieldError], group: str = "") -> ApiError:
    """422 Invalid: `<Kind> "<name>" is invalid: <path>: <body>` (a bracketed list for several errors)."""
    listed = [f"{path}: {body}" for path, _, body in errors]
    text = listed[0] if len(listed) == 1 else "[" + ", ".join(listed) + "]"
    details = {**_details(kind, name, group),
               "causes": [{"reason": reason, "message": body, "field": path} for path, reason, body in errors]}
    return ApiError(422, f'{kind} "{name}" is invalid: {text}', details)


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
