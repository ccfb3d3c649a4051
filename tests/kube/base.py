"""The request path of the fake API server: authentication, faults, body parsing, GET and LIST answers.

Authentication comes before faults, as in the server's filter chain: without the token a request is 401
even when a 429 is armed. Lists are sorted by name, as etcd returns keys, take `labelSelector`, `limit` and
`continue`, and carry metadata.resourceVersion (and remainingItemCount when unfiltered and cut short).
"""

from __future__ import annotations

import base64
import binascii
import hmac
import itertools
import json
import threading
import uuid
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, Callable, Optional
from urllib.parse import parse_qsl, urlsplit

import yaml

from tests.kube.wire import (
    APPLY_PATCH,
    CREATED,
    FAULT_MESSAGES,
    ApiError,
    Fault,
    Json,
    Request,
    copy,
    matches,
    parse_selector,
)
from tests.loopback import LoopbackServer, TrackedHandler

MAX_BODY = 3 * 1024 * 1024  # the API server's request size limit


@dataclass
class Call:
    method: str
    parts: list[str]
    query: dict[str, str]
    body: Any
    content_type: str


class _Handler(TrackedHandler):
    timeout = 10  # an idle keep-alive connection ends on its own
    server_version = "FakeKubeAPIServer"

    def do_GET(self) -> None:
        self.server.owner._serve(self)

    do_POST = do_PUT = do_PATCH = do_DELETE = do_GET

    def body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(min(length, MAX_BODY)) if length else b""

    def reply(self, status: int, payload: Json, headers: dict[str, str]) -> None:
        body = json.dumps(payload, separators=(",", ":")).encode()
        extra = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        head = (f"HTTP/1.1 {status} {HTTPStatus(status).phrase}\r\nDate: {self.date_time_string()}\r\n"
                f"Content-Type: application/json\r\nCache-Control: no-cache, private\r\n"
                f"Content-Length: {len(body)}\r\n{extra}\r\n")
        try:
            self.wfile.write(head.encode() + body)
        except OSError:
            self.close_connection = True


class ServerBase(LoopbackServer):
    handler = _Handler
    thread_name = "fake-kube-apiserver"

    def __init__(self, token: Optional[str] = None, *, max_page: Optional[int] = None):
        self._token = token  # compared, never recorded
        self.max_page = max_page
        self.requests: list[Request] = []
        self.faults: list[Fault] = []
        self.hooks: list[Callable[[Call], None]] = []  # run under the lock before each routed request
        self.lock = threading.RLock()
        self._rv = itertools.count(1000)
        super().__init__()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def kubeconfig(self, token: str = "t") -> str:
        """Kubeconfig YAML text: this server (plain http), a user with `token`, a current context."""
        return yaml.safe_dump({
            "apiVersion": "v1", "kind": "Config", "preferences": {},
            "clusters": [{"name": "fake", "cluster": {"server": self.url}}],
            "users": [{"name": "fake-admin", "user": {"token": token}}],
            "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "fake-admin"}}],
            "current-context": "fake"}, sort_keys=False)

    def next_rv(self) -> str:
        return str(next(self._rv))

    def _meta(self, name: str, namespace: Optional[str] = None, **extra: Any) -> Json:
        meta: Json = {"name": name, **({"namespace": namespace} if namespace else {}), "uid": str(uuid.uuid4()),
                      "resourceVersion": self.next_rv(), "creationTimestamp": CREATED}
        return {**meta, **{k: v for k, v in extra.items() if v}}

    def fail(self, path_prefix: str, status: int = 500, times: int = 1, retry_after: Optional[int] = None) -> Fault:
        """Answer the next `times` requests whose path starts with `path_prefix` with a Status error."""
        if status not in FAULT_MESSAGES or times < 1:
            raise ValueError("status must be 429, 500 or 503 and times >= 1")
        fault = Fault(path_prefix, status, times, retry_after)
        with self.lock:
            self.faults.append(fault)
        return fault

    def paths(self, prefix: str = "", method: Optional[str] = None) -> list[str]:
        with self.lock:
            return [r.path for r in self.requests if r.path.startswith(prefix) and method in (None, r.method)]

    # --- request path ---------------------------------------------------------------------------

    def route(self, call: Call) -> Optional[tuple[int, Json]]:
        raise NotImplementedError

    def _serve(self, handler: _Handler) -> None:
        url = urlsplit(handler.path)
        query = dict(parse_qsl(url.query, keep_blank_values=True))
        auth = handler.headers.get("Authorization") or ""
        content_type = (handler.headers.get("Content-Type") or "").split(";")[0].strip()
        raw = handler.body()
        with self.lock:
            self.requests.append(Request(handler.command, url.path, query, auth.startswith("Bearer "), content_type))
        headers: dict[str, str] = {}
        try:
            if self._token is not None and not hmac.compare_digest(auth.encode(), f"Bearer {self._token}".encode()):
                raise ApiError(401, "Unauthorized")
            fault = self._take_fault(url.path)
            if fault is not None:
                details = None
                if fault.retry_after is not None:
                    headers["Retry-After"] = str(fault.retry_after)
                    details = {"retryAfterSeconds": fault.retry_after}
                raise ApiError(fault.status, FAULT_MESSAGES[fault.status], details)
            call = Call(handler.command, [p for p in url.path.split("/") if p], query,
                        _parse_body(raw, content_type), content_type)
            with self.lock:
                for hook in list(self.hooks):
                    hook(call)
                answer = self.route(call)
            if answer is None:
                raise ApiError(404, "the server could not find the requested resource", {})
            status, payload = answer
        except ApiError as exc:
            status, payload = exc.code, exc.body
        handler.reply(status, payload, headers)

    def _take_fault(self, path: str) -> Optional[Fault]:
        with self.lock:
            for fault in self.faults:
                if path.startswith(fault.path_prefix) and fault.fired < fault.times:
                    fault.fired += 1
                    return fault
        return None

    def _list(self, api_version: str, kind: str, items: list[Json], query: dict[str, str]) -> Json:
        list_rv = self.next_rv()
        requirements = parse_selector(query.get("labelSelector", ""))
        chosen = sorted((i for i in items if matches(i["metadata"].get("labels") or {}, requirements)),
                        key=lambda i: i["metadata"]["name"])
        if query.get("continue"):
            try:
                token = json.loads(base64.urlsafe_b64decode(query["continue"].encode()))
                start, list_rv = str(token["start"]), str(token["rv"])
            except (binascii.Error, ValueError, KeyError, TypeError):
                raise ApiError(400, "continue key is not valid: incorrect encoded start resourceVersion") from None
            chosen = [i for i in chosen if i["metadata"]["name"] >= start]
        try:
            limit = int(query.get("limit") or 0)
        except ValueError:
            raise ApiError(400, f"invalid limit {query['limit']!r}") from None
        size = min([x for x in (limit, self.max_page) if x and x > 0] or [len(chosen)])
        page, rest = chosen[:size], chosen[size:]
        meta: Json = {"resourceVersion": list_rv}
        if rest:
            token = {"v": "meta.k8s.io/v1", "rv": int(list_rv), "start": rest[0]["metadata"]["name"]}
            meta["continue"] = base64.urlsafe_b64encode(json.dumps(token).encode()).decode()
            if not requirements:  # the real server only knows the remainder when it does not filter
                meta["remainingItemCount"] = len(rest)
        return {"kind": kind, "apiVersion": api_version, "metadata": meta, "items": copy(page)}


def _parse_body(raw: bytes, content_type: str) -> Any:
    if not raw:
        return None
    try:
        # JSON is YAML: an apply patch may come in either form (the Python client sends JSON).
        return yaml.safe_load(raw) if content_type == APPLY_PATCH else json.loads(raw)
    except (ValueError, yaml.YAMLError) as exc:
        raise ApiError(400, f"the body of the request could not be decoded: {type(exc).__name__}") from None
