"""A watch cache of one kind: list, then watch from the list's resourceVersion, with the official client's `Watch`.

What it guarantees the controller:
- `synced` is set once the first list is complete; until then nothing may act on this cache.
- The cache is always a complete state the API server had at some resourceVersion: a list replaces it whole,
  each watch event moves it on. A broken stream or an outage keeps the last state (never a partial one) and
  resumes from the last resourceVersion seen (BOOKMARK events move it on); `410 Gone` (the version left the
  watch window) lists again, and what the new list lacks is reported as DELETED.
- Objects are kept as API JSON (dicts), as `reconciler/cluster.py` reads them. An `index` (object -> value, such
  as the Service a slice belongs to) and a `derive` (object -> what a reader needs of it, such as `node_info`) are
  kept with the objects, changed under the same lock: a reader never sees an object without its index entry (as
  client-go's Indexer, so a relist cannot show a worker a view that lacks what the new list brought).
Retries back off from 0.5 s to 30 s; every request has a timeout; `stop` ends the thread within one read timeout.
"""

from __future__ import annotations

import json
import logging
import threading
from typing import Any, Callable, Iterable, Optional

from kubernetes import watch
from kubernetes.client.exceptions import ApiException

Json = dict[str, Any]
Handler = Callable[[str, Json], None]  # (ADDED | MODIFIED | DELETED, object)
PAGE_LIMIT = 500
WATCH_SECONDS = 240        # the server ends each stream after this; it is watched again from the last version
CONNECT_TIMEOUT = 10.0
BACKOFF_FIRST, BACKOFF_MAX = 0.5, 30.0

log = logging.getLogger("reconciler.controller.informer")


def key_of(obj: Json) -> str:
    meta = obj.get("metadata") or {}
    return f"{meta.get('namespace') or ''}/{meta.get('name') or ''}"


class Informer:
    """One kind's cache. `list_call(**kwargs)` is a generated client method (list_node, list_..._for_all_namespaces,
    list_cluster_custom_object with its positional arguments bound)."""

    def __init__(self, kind: str, list_call: Callable[..., Any], on_event: Handler, stop: threading.Event,
                 label_selector: Optional[str] = None, index: Optional[Callable[[Json], Optional[str]]] = None,
                 derive: Optional[Callable[[Json], Any]] = None):
        self.kind, self.list_call, self.on_event, self.stop = kind, list_call, on_event, stop
        self.label_selector = label_selector
        self.synced = threading.Event()
        self._lock = threading.Lock()
        self._objects: dict[str, Json] = {}
        self._index_of, self._derive = index, derive
        self._indexed: dict[str, set[str]] = {}   # index value -> keys
        self._derived: dict[str, Any] = {}        # key -> derive(object)
        self._watch: Optional[watch.Watch] = None
        self.thread = threading.Thread(target=self._run, name=f"informer-{kind}", daemon=True)
        self.lists = 0     # lists made (the first, and one per 410)
        self.watches = 0   # watch streams opened

    # --- reads --------------------------------------------------------------------------------

    def get(self, key: str) -> Optional[Json]:
        with self._lock:
            return self._objects.get(key)

    def items(self) -> list[Json]:
        with self._lock:
            return list(self._objects.values())

    def keys(self) -> list[str]:
        with self._lock:
            return sorted(self._objects)

    def by(self, value: str) -> list[tuple[str, Json]]:
        """(key, object) of the objects whose index is `value`, in key order."""
        with self._lock:
            return [(key, self._objects[key]) for key in sorted(self._indexed.get(value, ()))]

    def derived(self) -> list[Any]:
        """`derive` of every object."""
        with self._lock:
            return list(self._derived.values())

    # --- the thread ---------------------------------------------------------------------------

    def start(self) -> None:
        self.thread.start()

    def halt(self) -> None:
        """Ask the thread to end (the caller sets `stop` too); an open stream ends at its next event or timeout."""
        if self._watch is not None:
            self._watch.stop()

    def _run(self) -> None:
        backoff, version = BACKOFF_FIRST, None
        while not self.stop.is_set():
            try:
                if version is None:
                    version = self._list()
                    self.synced.set()
                version = self._follow(version)
                backoff = BACKOFF_FIRST
            except ApiException as exc:
                if exc.status == 410:
                    log.info("watch expired, listing again", extra={"kind": self.kind})
                    version = None
                    continue
                log.warning("watch failed", extra={"kind": self.kind, "status": exc.status, "reason": exc.reason})
            except Exception as exc:  # noqa: BLE001 - connection refused/reset, timeouts: keep the cache, retry
                if self.stop.is_set():
                    return
                log.warning("watch failed", extra={"kind": self.kind, "error": f"{type(exc).__name__}: {exc}"[:300]})
            if self.stop.wait(backoff):
                return
            backoff = min(backoff * 2, BACKOFF_MAX)

    def _list(self) -> str:
        items: list[Json] = []
        token: Optional[str] = None
        for _ in range(2000):
            answer = self.list_call(limit=PAGE_LIMIT, _continue=token, _preload_content=False,
                                    _request_timeout=(CONNECT_TIMEOUT, 60.0), **self._selector())
            try:
                page = json.loads(answer.data)
            finally:
                answer.release_conn()
            items += page.get("items") or []
            meta = page.get("metadata") or {}
            token = meta.get("continue") or None
            if token is None:
                break
        self.lists += 1
        fresh = {key_of(obj): obj for obj in items}
        with self._lock:
            old, self._objects = self._objects, fresh
            self._indexed, self._derived = {}, {}
            for key, obj in fresh.items():
                self._keep(key, obj)
        for key, obj in old.items():
            if key not in fresh:
                self.on_event("DELETED", obj)
        for key, obj in fresh.items():
            if old.get(key) != obj:
                self.on_event("ADDED" if key not in old else "MODIFIED", obj)
        return str(meta.get("resourceVersion") or "")

    def _follow(self, version: str) -> str:
        """One watch stream from `version`; returns the last version seen when the server ends it."""
        self._watch = watch.Watch()
        self.watches += 1

        def call(*args: Any, **kwargs: Any) -> Any:
            # No docstring on purpose: `Watch` then finds no model to deserialize into and hands out the API JSON
            # (and still turns an ERROR event into ApiException; `deserialize=False` would not).
            return self.list_call(*args, **kwargs)
        try:
            for event in self._watch.stream(call, resource_version=version, allow_watch_bookmarks=True,
                                            timeout_seconds=WATCH_SECONDS,
                                            _request_timeout=(CONNECT_TIMEOUT, WATCH_SECONDS + 30.0),
                                            **self._selector()):
                kind, obj = event.get("type"), event.get("object") or {}
                version = str((obj.get("metadata") or {}).get("resourceVersion") or version)
                if kind == "BOOKMARK":
                    continue
                self._apply(str(kind), obj)
                if self.stop.is_set():
                    break
        finally:
            self._watch = None
        return version

    def _apply(self, kind: str, obj: Json) -> None:
        key = key_of(obj)
        with self._lock:
            old = self._objects.pop(key, None)
            if old is not None:
                self._forget(key, old)
            if kind != "DELETED":
                self._objects[key] = obj
                self._keep(key, obj)
        self.on_event(kind, obj)

    def _keep(self, key: str, obj: Json) -> None:
        """Index and derive one object (the lock held)."""
        if self._index_of is not None:
            value = self._index_of(obj)
            if value is not None:
                self._indexed.setdefault(value, set()).add(key)
        if self._derive is not None:
            self._derived[key] = self._derive(obj)

    def _forget(self, key: str, obj: Json) -> None:
        if self._index_of is not None:
            value = self._index_of(obj)
            if value is not None:
                self._indexed.get(value, set()).discard(key)
        self._derived.pop(key, None)

    def _selector(self) -> dict[str, str]:
        return {"label_selector": self.label_selector} if self.label_selector else {}


def all_synced(informers: Iterable[Informer], timeout: float) -> bool:
    """Wait until every cache has listed (bounded); False when one has not within `timeout`."""
    import time

    deadline = time.monotonic() + timeout
    return all(i.synced.wait(max(0.0, deadline - time.monotonic())) for i in informers)
