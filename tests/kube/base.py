"""The request path of the fake API server: authentication, faults, body parsing, GET, LIST and WATCH answers.

Authentication comes before injected errors, as in the server's filter chain: without the token a request is
401 even when a 429 is armed (an outage and slowness come first: see `faults`). Lists are sorted by name, as
etcd returns keys, take `labelSelector`, `fieldSelector`, `limit` and `continue`, and carry
metadata.resourceVersion = the current one (and remainingItemCount when unfiltered and cut short); with
`watch` they stream changes instead (see `watch`).
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from http import HTTPStatus
from typing import Any, Callable, Optional
from urllib.parse import parse_qsl, urlsplit

import yaml

from tests.kube.faults import Faults
from tests.kube.watch import ChangeLog, Scope, Selector, Store, WatchPlan, encode, open_watch, serve_watch
from tests.kube.wire import APPLY_PATCH, CREATED, FAULT_MESSAGES, ApiError, Json, Request, copy, query_bool
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

    def start_chunked(self) -> bool:
        head = (f"HTTP/1.1 200 OK\r\nDate: {self.date_time_string()}\r\nContent-Type: application/json\r\n"
                f"Cache-Control: no-cache, private\r\nTransfer-Encoding: chunked\r\n\r\n")
        return self._send(head.encode())

    def send_lines(self, events: list[Json]) -> bool:
        data = encode(events)
        return not data or self._send(f"{len(data):x}\r\n".encode() + data + b"\r\n")

    def end_chunked(self, clean: bool) -> None:
        """The last chunk, or (a broken stream) none and the connection closed."""
        if not (clean and self._send(b"0\r\n\r\n")):
            self.close_connection = True
            try:
                self.connection.shutdown(2)
            except OSError:
                pass

    def _send(self, data: bytes) -> bool:
        try:
            self.wfile.write(data)
            return True
        except OSError:
            self.close_connection = True
            return False


def now_time() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class ServerBase(Faults, LoopbackServer):
    handler = _Handler
    thread_name = "fake-kube-apiserver"

    def __init__(self, token: Optional[str] = None, *, max_page: Optional[int] = None, history: int = 1000):
        self._token = token  # compared, never recorded
        self.max_page = max_page
        self.requests: list[Request] = []
        self.hooks: list[Callable[[Call], None]] = []  # run under the lock before each routed request
        self.lock = threading.RLock()
        self.log = ChangeLog(self.lock, history)
        self.bookmark_seconds = 1.0  # how often a watch with allowWatchBookmarks gets a BOOKMARK
        self.watch_timeout = 60.0  # a watch without timeoutSeconds ends after this (the real server: 30-60 min)
        self.open_watches = 0
        super().__init__()

    def store(self) -> Store:
        """A dict of stored objects whose writes are logged for watches."""
        return Store(self.log)

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
        return str(self.log.issue())

    def current_rv(self) -> str:
        return str(self.log.issued)

    def compact(self, keep: int = 0) -> None:
        """Forget all but the last `keep` changes: a watch from an older resourceVersion is then 410 Expired."""
        self.log.compact(keep)

    def tick(self) -> None:
        """Called under the lock by quiet watch streams: time-based state moves on (objects that appear later)."""

    def start(self):  # type: ignore[override]
        self.stopping.clear()
        return super().start()

    def _before_stop(self) -> None:
        self.stopping.set()
        with self.lock:
            self.log.changed.notify_all()
            if self._reopen is not None:
                self._reopen.cancel()
        deadline = time.monotonic() + 2.0  # open watch streams write their last chunk before connections close
        while self.open_watches and time.monotonic() < deadline:
            time.sleep(0.01)

    def _meta(self, name: str, namespace: Optional[str] = None, **extra: Any) -> Json:
        meta: Json = {"name": name, **({"namespace": namespace} if namespace else {}), "uid": str(uuid.uuid4()),
                      "resourceVersion": self.next_rv(), "creationTimestamp": CREATED}
        return {**meta, **{k: v for k, v in extra.items() if v}}

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
        self._delay(url.path)
        try:
            self._unavailable()
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
        if isinstance(payload, WatchPlan):
            serve_watch(self, handler, payload)
        else:
            handler.reply(status, payload, headers)

    def _list(self, scope: Scope, items: list[Json], query: dict[str, str]) -> Any:
        """A list of `items` (the objects in `scope`), or the plan of a watch when the query asks for one."""
        if query_bool(query, "watch"):
            return open_watch(self.log, scope, items, query, self.watch_timeout)
        list_rv = self.current_rv()
        selector = Selector.of(query, scope)
        chosen = sorted((i for i in items if selector(i)), key=_key)
        if query.get("continue"):
            try:
                token = json.loads(base64.urlsafe_b64decode(query["continue"].encode()))
                start, list_rv = str(token["start"]), str(token["rv"])
            except (binascii.Error, ValueError, KeyError, TypeError):
                raise ApiError(400, "continue key is not valid: incorrect encoded start resourceVersion") from None
            chosen = [i for i in chosen if _key(i) >= start]
        try:
            limit = int(query.get("limit") or 0)
        except ValueError:
            raise ApiError(400, f"invalid limit {query['limit']!r}") from None
        size = min([x for x in (limit, self.max_page) if x and x > 0] or [len(chosen)])
        page, rest = chosen[:size], chosen[size:]
        meta: Json = {"resourceVersion": list_rv}
        if rest:
            token = {"v": "meta.k8s.io/v1", "rv": int(list_rv), "start": _key(rest[0])}
            meta["continue"] = base64.urlsafe_b64encode(json.dumps(token).encode()).decode()
            if not (selector.labels or selector.fields):  # the server only knows the remainder when unfiltered
                meta["remainingItemCount"] = len(rest)
        return {"kind": f"{scope.kind}List", "apiVersion": scope.served_version, "metadata": meta,
                "items": [scope.show(i) for i in copy(page)]}


def _key(obj: Json) -> str:
    """The etcd key's tail, in whose order lists come: `<namespace>/<name>`, or `<name>` when cluster-scoped."""
    meta = obj["metadata"]
    return f"{meta['namespace']}/{meta['name']}" if meta.get("namespace") else meta["name"]


def _parse_body(raw: bytes, content_type: str) -> Any:
    if not raw:
        return None
    try:
        # JSON is YAML: an apply patch may come in either form (the Python client sends JSON).
        return yaml.safe_load(raw) if content_type == APPLY_PATCH else json.loads(raw)
    except (ValueError, yaml.YAMLError) as exc:
        raise ApiError(400, f"the body of the request could not be decoded: {type(exc).__name__}") from None
