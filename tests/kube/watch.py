"""Watches of the fake API server, as the API server's watch cache serves them (k8s.io/apiserver/pkg/storage/cacher).

- One resourceVersion counter for every kind, as etcd's revision: each persisted write takes the next one, a
  list answers the current one (it does not move it). Every write to a `Store` is logged as a change; the log
  keeps the last `history` changes (etcd compaction and the cache's window), so an older resourceVersion
  expires.
- `?watch=1` (any strconv.ParseBool true) on a list path streams `{"type", "object"}` lines in a chunked 200
  answer. Without `resourceVersion`, or with "0", the stream starts with an ADDED event per object that exists
  (the "get state and start at most recent" / "start at any" semantics); with a resourceVersion it sends every
  change after it. A resourceVersion older than the window is an ERROR event carrying a 410 Expired Status
  "too old resource version: <rv> (<oldest kept>)" in a 200 stream, as the cacher's error watcher sends it;
  a watcher that falls out of the window mid-stream gets the same. A resourceVersion from the future waits.
- `labelSelector` and `fieldSelector` filter as the cacher does: an object that stops matching is DELETED,
  one that starts matching is ADDED. A DELETED event carries the object at the deletion's resourceVersion.
- `allowWatchBookmarks=true`: BOOKMARK events every `bookmark_seconds` (the real server: about a minute) and
  one as the stream ends (the cacher sends its last one shortly before the deadline), each an object of the
  kind with only metadata.resourceVersion: every change up to it was sent. `sendInitialEvents=true` ends the initial events with a bookmark annotated
  `k8s.io/initial-events-end: "true"`.
- `timeoutSeconds` ends the stream cleanly (the last chunk); without it the server picks `watch_timeout`
  (the real server: 30-60 minutes). Stopping the server ends streams cleanly; an outage cuts them without the
  last chunk (the client sees the connection break); a client that goes away ends its stream.
"""

from __future__ import annotations

import json
import select
import socket
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from tests.kube.wire import ApiError, Json, copy, fields_match, matches, parse_fields, parse_selector, query_bool

POLL = 0.2  # how often a quiet stream checks its client, the deadline and faults


@dataclass(frozen=True)
class Change:
    rv: int
    type: str  # ADDED, MODIFIED, DELETED
    obj: Json
    old: Optional[Json]


class ExpiredError(Exception):
    pass


class ChangeLog:
    """The global resourceVersion counter and the window of recent changes; waiters wake on each change."""

    def __init__(self, lock: Any, size: int = 1000, first: int = 1000) -> None:
        self.lock = lock
        self.changed = threading.Condition(lock)
        self.size = size
        self.issued = first - 1  # the last resourceVersion handed out
        self.floor = first - 1  # every change after this resourceVersion is still in the window
        self._changes: deque[Change] = deque()

    def issue(self) -> int:
        with self.lock:
            self.issued += 1
            return self.issued

    def record(self, type_: str, obj: Json, old: Optional[Json]) -> None:
        with self.lock:
            self._changes.append(Change(int(obj["metadata"]["resourceVersion"]), type_, copy(obj), old))
            while len(self._changes) > self.size:
                self.floor = self._changes.popleft().rv
            self.changed.notify_all()

    def since(self, rv: int) -> list[Change]:
        with self.lock:
            if rv < self.floor:
                raise ExpiredError(f"too old resource version: {rv} ({self.floor})")
            return [c for c in self._changes if c.rv > rv]

    def compact(self, keep: int = 0) -> None:
        """Drop all but the last `keep` changes, as an etcd compaction does: older resourceVersions expire."""
        with self.lock:
            while len(self._changes) > keep:
                self.floor = self._changes.popleft().rv
            if not self._changes:
                self.floor = self.issued


class Store(dict):
    """Stored objects by key; setting one stamps the next resourceVersion on it and logs the change."""

    def __init__(self, log: ChangeLog) -> None:
        super().__init__()
        self.log = log

    def __setitem__(self, key: Any, obj: Json) -> None:
        with self.log.lock:
            old = super().get(key)
            before = copy(old) if old is not None else None
            obj.setdefault("metadata", {})["resourceVersion"] = str(self.log.issue())
            super().__setitem__(key, obj)
            self.log.record("ADDED" if old is None else "MODIFIED", obj, before)

    def __delitem__(self, key: Any) -> None:
        with self.log.lock:
            obj = super().pop(key)
            gone = copy(obj)
            gone["metadata"]["resourceVersion"] = str(self.log.issue())
            self.log.record("DELETED", gone, obj)

    def pop(self, key: Any, *default: Any) -> Any:
        with self.log.lock:
            if key not in self:
                if default:
                    return default[0]
                raise KeyError(key)
            obj = super().get(key)
            del self[key]
            return obj


@dataclass(frozen=True)
class Scope:
    """What a list or watch path covers: stored objects of one apiVersion and kind, maybe in one namespace."""

    api_version: str  # as stored
    kind: str
    namespace: Optional[str] = None
    served: Optional[str] = None  # the apiVersion the request named, when another (a CRD's other version)
    view: Optional[Callable[[Json], Json]] = None  # the stored form to the served one (events.k8s.io)
    fields: tuple[str, ...] = ()  # field selector labels beyond metadata.name and metadata.namespace

    @property
    def served_version(self) -> str:
        return self.served or self.api_version

    def holds(self, obj: Json) -> bool:
        return (obj.get("apiVersion"), obj.get("kind")) == (self.api_version, self.kind) and \
            self.namespace in (None, obj["metadata"].get("namespace"))

    def show(self, obj: Json) -> Json:
        if self.view is not None:
            return self.view(obj)
        return {**obj, "apiVersion": self.served_version} if self.served else obj


@dataclass
class Selector:
    labels: list[Any]
    fields: list[Any]

    @classmethod
    def of(cls, query: dict[str, str], scope: Scope) -> "Selector":
        return cls(parse_selector(query.get("labelSelector", "")),
                   parse_fields(query.get("fieldSelector", ""), scope.fields))

    def __call__(self, obj: Optional[Json]) -> bool:
        return obj is not None and matches(obj["metadata"].get("labels") or {}, self.labels) and \
            fields_match(obj, self.fields)


@dataclass
class WatchPlan:
    scope: Scope
    selector: Selector
    cursor: int  # every change up to here is sent (or was before the watch)
    timeout: float
    bookmarks: bool
    first: list[Json] = field(default_factory=list)  # events sent before any change
    finished: bool = False  # the first events are all there is (an ERROR)


def expired_event(message: str) -> Json:
    return {"type": "ERROR", "object": ApiError(410, message).body}


def bookmark(scope: Scope, rv: int, annotations: Optional[dict[str, str]] = None) -> Json:
    meta: Json = {"resourceVersion": str(rv), **({"annotations": annotations} if annotations else {})}
    return {"type": "BOOKMARK", "object": {"kind": scope.kind, "apiVersion": scope.served_version, "metadata": meta}}


def open_watch(log: ChangeLog, scope: Scope, items: list[Json], query: dict[str, str],
               default_timeout: float) -> WatchPlan:
    """The plan of one watch request (taken under the server's lock, so the initial state is consistent)."""
    selector = Selector.of(query, scope)
    raw_timeout = query.get("timeoutSeconds", "")
    try:
        timeout = float(int(raw_timeout)) if raw_timeout else default_timeout
    except ValueError:
        raise ApiError(400, f'strconv.ParseInt: parsing "{raw_timeout}": invalid syntax') from None
    rv_text, initial = query.get("resourceVersion", ""), query_bool(query, "sendInitialEvents")
    plan = WatchPlan(scope, selector, log.issued, timeout, query_bool(query, "allowWatchBookmarks"))
    if rv_text in ("", "0") or initial:
        chosen = sorted((i for i in items if selector(i)),
                        key=lambda i: (i["metadata"].get("namespace", ""), i["metadata"]["name"]))
        plan.first = [{"type": "ADDED", "object": scope.show(copy(i))} for i in chosen]
        if initial and plan.bookmarks:
            plan.first.append(bookmark(scope, plan.cursor, {"k8s.io/initial-events-end": "true"}))
        return plan
    try:
        plan.cursor = int(rv_text)
    except ValueError:
        raise ApiError(400, f'invalid resource version "{rv_text}"') from None
    if plan.cursor < log.floor:
        plan.first, plan.finished = [expired_event(f"too old resource version: {plan.cursor} ({log.floor})")], True
    return plan


def _event(plan: WatchPlan, change: Change) -> Optional[Json]:
    scope, selector = plan.scope, plan.selector
    if not scope.holds(change.obj):
        return None
    now, before = selector(change.obj), selector(change.old)
    if change.type == "DELETED":
        kind = "DELETED" if before or now else None
    elif change.type == "ADDED":
        kind = "ADDED" if now else None
    else:
        kind = "MODIFIED" if now and before else "ADDED" if now else "DELETED" if before else None
    return {"type": kind, "object": scope.show(copy(change.obj))} if kind else None


def _client_gone(handler: Any) -> bool:
    try:
        readable, _, _ = select.select([handler.connection], [], [], 0)
        return bool(readable) and handler.connection.recv(1, socket.MSG_PEEK) == b""
    except (OSError, ValueError):
        return True


def serve_watch(server: Any, handler: Any, plan: WatchPlan) -> None:
    """Stream the plan's events, then every matching change, until the deadline, the client or the server ends."""
    log: ChangeLog = server.log
    started = time.monotonic()
    deadline = started + plan.timeout
    next_bookmark = started + server.bookmark_seconds
    with server.lock:
        server.open_watches += 1
    clean = False
    try:
        if not handler.start_chunked() or not handler.send_lines(plan.first):
            return
        if plan.finished:
            clean = True
            return
        while True:
            with server.lock:
                server.tick()
                try:
                    changes = log.since(plan.cursor)
                    if not changes and not server.stopping.is_set():
                        log.changed.wait(max(0.0, min(POLL, deadline - time.monotonic())))
                        changes = log.since(plan.cursor)
                except ExpiredError as exc:
                    handler.send_lines([expired_event(str(exc))])
                    clean = True
                    return
                plan.cursor = max([plan.cursor] + [c.rv for c in changes])
                events = [e for e in (_event(plan, c) for c in changes) if e is not None]
            if server.in_outage():
                return
            if not handler.send_lines(events) or _client_gone(handler):
                return
            now = time.monotonic()
            if server.stopping.is_set() or now >= deadline:
                clean = not plan.bookmarks or handler.send_lines([bookmark(plan.scope, plan.cursor)])
                return
            if plan.bookmarks and now >= next_bookmark:
                if not handler.send_lines([bookmark(plan.scope, plan.cursor)]):
                    return
                next_bookmark = now + server.bookmark_seconds
    finally:
        handler.end_chunked(clean)
        with server.lock:
            server.open_watches -= 1


def encode(events: list[Json]) -> bytes:
    return b"".join(json.dumps(e, separators=(",", ":")).encode() + b"\n" for e in events)
