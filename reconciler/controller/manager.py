"""The controller: watch caches feed a work queue of groups; workers sync one group at a time each.

    ctl = Controller(api_client, Options(workers=4), config=None)  # config: as a dynamic provider's
    ctl.start(); ctl.wait_synced(30); ...; ctl.stop()

Events, not polling. Records (BackendGroup), Services, EndpointSlices and Nodes are watched (informer.py).
A record's event makes its group due; a Service's or an EndpointSlice's makes the groups of that Service due;
a Node's makes every group due, but only when what the reconciler reads of the node changed (readiness,
cordon, pool, instance id: not kubelet's heartbeats). Each group waits `coalesce_seconds` after its first event,
so a burst makes one sync. A drift timer makes every group due once per `drift_seconds` with a cloud read.

One sync of one group (`_sync`):
1. Read the record (GET: the cache may lag behind this controller's own last write). Being deleted, or its
   Service gone: the desired set is empty, so owned backends are drained and removed; foreign ones stay.
2. Hold the finalizer, so a deleted record stays until its backends are released.
3. The desired set from the caches, plus the backends still draining (weight 0 until spec.drainSeconds
   has passed since this controller drained them, then removed).
4. Nothing to do without a cloud call: Synced at this generation, the same desired hash, no drift due.
5. Else list the group (one read), plan, and apply with the record as journal: each batch's intent is
   written before its cloud call, the result after the last (reconciler/sync.py apply_plan). A record that
   cannot be written stops the sync before any cloud call.
6. Publish: the Service's ingress, an Event when something was written, the backends gauge.
A failed sync is retried with backoff (1 s doubling to 60 s) and leaves Synced=False with lastError.

Nothing acts before every cache has listed once, and a cache never holds a partial list (informer.py), so a
failed or partial Kubernetes read never removes a backend.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable, Mapping, Optional

from kubernetes import client as k8s

from cloud.retry import gone
from reconciler import groups as adapters
from reconciler.cluster import SERVICE_NAME_LABEL, NodeInfo, node_info, view_of
from reconciler.controller import metrics
from reconciler.controller.informer import Informer, all_synced, key_of
from reconciler.controller.workqueue import WorkQueue
from reconciler.desired import Target, desired, without_port
from reconciler.model import TIME_FORMAT, Backend
from reconciler.planner import Key, plan
from reconciler.publish import Publisher
from reconciler.record import (
    FINALIZER,
    GROUP,
    PLURAL,
    VERSION,
    BackendRecord,
    holds_ownership,
    is_synced,
    owned_from,
)
from reconciler.sync import apply_plan, desired_hash

log = logging.getLogger("reconciler.controller")
RETRY_FIRST, RETRY_MAX = 1.0, 60.0
Hold = tuple[Backend, float, str]  # a draining backend at weight 0, its monotonic start, the start in RFC 3339


@dataclass(frozen=True)
class Options:
    workers: int = 4
    coalesce_seconds: float = 0.05
    drift_seconds: float = 600.0
    job_poll_seconds: float = 0.2
    watch_namespace: Optional[str] = None
    identity: str = "ack-edge-lb-controller"
    sync_wait_seconds: float = 60.0   # how long workers wait for the caches' first lists before giving up


class Controller:
    def __init__(self, api: k8s.ApiClient, options: Options = Options(),
                 config: Optional[Mapping[str, Any]] = None, clock: Callable[[], float] = time.monotonic,
                 wall: Callable[[], float] = time.time):
        self.api, self.options, self.config, self.clock, self.wall = api, options, config, clock, wall
        self.stop_event = threading.Event()
        self.queue = WorkQueue(clock)
        self.publisher = Publisher(api, options.identity)
        self._lock = threading.Lock()
        self._nodes_seen: dict[str, NodeInfo] = {}      # node name -> what an event last said of it
        # Draining backends per record: (the backend at weight 0, monotonic start, start as written in the status).
        self._holds: dict[str, dict[Key, Hold]] = {}
        self._failures: dict[str, int] = {}
        self._drift_due: set[str] = set()
        self._groups: dict[tuple, Any] = {}
        self.threads: list[threading.Thread] = []
        ns = options.watch_namespace
        custom, core, discovery = k8s.CustomObjectsApi(api), k8s.CoreV1Api(api), k8s.DiscoveryV1Api(api)
        if ns:
            records = _bound(custom.list_namespaced_custom_object, GROUP, VERSION, ns, PLURAL)
            services = _bound(core.list_namespaced_service, ns)
            slices = _bound(discovery.list_namespaced_endpoint_slice, ns)
        else:
            records = _bound(custom.list_cluster_custom_object, GROUP, VERSION, PLURAL)
            services = core.list_service_for_all_namespaces
            slices = discovery.list_endpoint_slice_for_all_namespaces
        # Records by their Service, slices by theirs, nodes as the reconciler reads them: kept by the caches.
        self.records = Informer("BackendGroup", records, self._on_record, self.stop_event, index=_service_of_record)
        self.services = Informer("Service", services, self._on_service, self.stop_event)
        # Only slices that belong to a Service (the EndpointSlice controller labels them).
        self.slices = Informer("EndpointSlice", slices, self._on_slice, self.stop_event,
                               label_selector=SERVICE_NAME_LABEL, index=_service_of_slice)
        self.nodes = Informer("Node", core.list_node, self._on_node, self.stop_event, derive=node_info)
        self.informers = (self.records, self.services, self.slices, self.nodes)
        metrics.install()

    # --- life cycle ---------------------------------------------------------------------------

    def start(self) -> None:
        for informer in self.informers:
            informer.start()
        self.threads = [threading.Thread(target=self._worker, name=f"worker-{i}", daemon=True)
                        for i in range(max(1, self.options.workers))]
        if self.options.drift_seconds > 0:
            self.threads.append(threading.Thread(target=self._drift, name="drift", daemon=True))
        for thread in self.threads:
            thread.start()

    def wait_synced(self, timeout: float) -> bool:
        return all_synced(self.informers, timeout)

    def stop(self, timeout: float = 30.0) -> None:
        """Stop taking work; a sync in flight finishes its batch (bounded by `timeout`)."""
        self.stop_event.set()
        self.queue.close()
        for informer in self.informers:
            informer.halt()
        deadline = self.clock() + timeout
        for thread in self.threads:
            thread.join(max(0.0, deadline - self.clock()))

    def idle(self) -> bool:
        """Nothing due and nothing in progress (draining groups wait in the queue, so they are not idle)."""
        return self.queue.idle()

    # --- events -> due groups -----------------------------------------------------------------

    def _due(self, key: str) -> None:
        self.queue.add(key, self.options.coalesce_seconds)
        metrics.QUEUE_DEPTH.set(self.queue.depth())

    def _on_record(self, kind: str, obj: dict[str, Any]) -> None:
        key = key_of(obj)
        if kind == "DELETED":
            self._holds.pop(key, None)
            self._groups.pop(self._group_key(key.split("/", 1)[0], obj.get("spec") or {}), None)
            metrics.forget(*key.split("/", 1))
            return
        self._due(key)

    def _groups_of(self, service: Optional[str]) -> list[str]:
        return [key for key, _ in self.records.by(service)] if service else []

    def _on_service(self, _kind: str, obj: dict[str, Any]) -> None:
        for key in self._groups_of(key_of(obj)):
            self._due(key)

    def _on_slice(self, _kind: str, obj: dict[str, Any]) -> None:
        for key in self._groups_of(_service_of_slice(obj)):
            self._due(key)

    def _on_node(self, kind: str, obj: dict[str, Any]) -> None:
        name = (obj.get("metadata") or {}).get("name")
        seen = None if kind == "DELETED" else node_info(obj)
        with self._lock:
            if self._nodes_seen.get(name) == seen:
                return  # a heartbeat: nothing the reconciler reads changed
            if seen is None:
                self._nodes_seen.pop(name, None)
            else:
                self._nodes_seen[name] = seen
        for key in self.records.keys():
            self._due(key)

    def _drift(self) -> None:
        while not self.stop_event.wait(self.options.drift_seconds):
            keys = self.records.keys()
            with self._lock:
                self._drift_due.update(keys)
            for key in keys:
                self._due(key)

    # --- workers ------------------------------------------------------------------------------

    def _worker(self) -> None:
        if not self.wait_synced(self.options.sync_wait_seconds):
            missing = [i.kind for i in self.informers if not i.synced.is_set()]
            log.error("caches not listed, no sync will run until they are", extra={"kinds": missing})
        while not self.stop_event.is_set():
            if not self.wait_synced(1.0):
                continue
            item = self.queue.get(timeout=0.5)
            if item is None:
                continue
            key, since = item
            metrics.QUEUE_DEPTH.set(self.queue.depth())
            try:
                self._sync(key, since)
                self._failures.pop(key, None)
            except Exception as exc:  # noqa: BLE001 - one group's failure must not stop the others
                failures = self._failures.get(key, 0) + 1
                self._failures[key] = failures
                delay = min(RETRY_FIRST * 2 ** (failures - 1), RETRY_MAX)
                log.warning("sync failed", extra={"record": key, "attempt": failures, "retry_in": delay,
                                                  "error": str(exc)[:1000]})
                self.queue.done(key)
                self.queue.add(key, delay, event=False)
                continue
            self.queue.done(key)

    @staticmethod
    def _group_key(namespace: str, spec: Mapping[str, Any]) -> tuple:
        return (spec.get("kind"), spec.get("groupId"), spec.get("regionId"), namespace, spec.get("service"))

    def _group(self, namespace: str, spec: Mapping[str, Any]):
        """The cloud adapter of a group, kept: its SDK client and credentials are built once."""
        cache_key = self._group_key(namespace, spec)
        group = self._groups.get(cache_key)
        if group is None:
            group = adapters.group_for(spec["kind"], spec["groupId"],
                                       owner=adapters.owner_mark(namespace, spec["service"]),
                                       region=spec.get("regionId"), config=dict(self.config or {}) or None,
                                       poll_interval=self.options.job_poll_seconds)
            self._groups[cache_key] = group
        return group

    def _view(self, namespace: str, spec: Mapping[str, Any]):
        slices = [obj for _, obj in self.slices.by(f"{namespace}/{spec['service']}")]
        # Nodes are read once per node event by the cache, not once per sync.
        return view_of(self.nodes.derived(), slices, spec.get("portName") or "")

    def _sync(self, key: str, since: float) -> None:
        namespace, name = key.split("/", 1)
        record = BackendRecord(self.api, namespace, name, writer="controller")
        obj = record.read()
        if obj is None:
            return
        spec, meta = obj.get("spec") or {}, obj.get("metadata") or {}
        generation = record.generation
        record.syncing = generation
        deleting = bool(meta.get("deletionTimestamp"))
        if spec.get("writer", "pulumi") != "controller":
            # The stack's BackendSync writes this group: hands off, and no finalizer of ours keeps it.
            self._holds.pop(key, None)
            if FINALIZER in (meta.get("finalizers") or []):
                record.release_finalizer()
                log.info("handed back", extra={"record": key, "writer": spec.get("writer", "pulumi")})
            return
        if deleting and FINALIZER not in (meta.get("finalizers") or []):
            return  # released already; the API server removes it
        if not deleting:
            record.hold_finalizer()
        kind = spec["kind"]
        service = None if deleting else self.services.get(f"{namespace}/{spec['service']}")
        target = Target(spec["mode"], frozenset(spec.get("pools") or ()), int(spec.get("port") or 0),
                        spec.get("serverType") or kind)
        view = self._view(namespace, spec) if service is not None else None
        wanted = desired(view, target) if view is not None else {}
        drain = float(spec.get("drainSeconds") or 0)
        now = self.clock()
        status = record.status
        if key not in self._holds:  # first sight in this process: drains a predecessor started go on
            self._holds[key] = restored_holds(status, now, self.wall())
        holds = self._holds[key]
        for held_key, (held, started, _) in list(holds.items()):
            if held_key in wanted or now - started >= drain:
                del holds[held_key]
            else:
                wanted[held_key] = held
        self._come_back(key, holds, drain)
        with self._lock:
            drift = key in self._drift_due
            self._drift_due.discard(key)
        if not drift and not deleting and is_synced(obj, generation) and status.get("desiredHash") == \
                desired_hash(wanted):
            metrics.SYNCS.labels(kind, "unchanged").inc()
            self._publish_ingress(namespace, spec["service"])
            return

        started_at = self.clock()
        try:
            group = self._group(namespace, spec)
            try:
                current = group.list()
            except Exception as exc:
                if deleting and gone(exc):
                    self._drop_finalizer(record, obj, "the group no longer exists")
                    return
                raise
            owned = set(owned_from(status)) if holds_ownership(status) else set()
            mine = owned | group.marked(current)
            if drain > 0:
                for backend in current:
                    if backend.key in mine and backend.key not in wanted and backend.weight > 0:
                        held = backend.with_weight(0)
                        wanted[backend.key] = held
                        holds[backend.key] = (held, now, rfc3339(self.wall()))
                self._come_back(key, holds, drain)
            steps = plan(current, wanted, mine, limit=group.limit)
            apply_plan(group, steps, journal=record, owned=[b for b in current if b.key in mine])
            record.finish(steps.result, desired_hash(wanted),
                          len(without_port(view, target)) if view is not None else 0,
                          draining={k: since for k, (_, _, since) in holds.items()})
        except Exception as exc:
            metrics.SYNC_SECONDS.labels(kind, "error").observe(self.clock() - started_at)
            metrics.SYNCS.labels(kind, "error").inc()
            with contextlib.suppress(Exception):  # (a failure apply_plan recorded is the same text: no write)
                record.fail(str(exc))
            self.publisher.event(obj, "Warning", "SyncFailed", str(exc))
            raise
        done = self.clock()
        metrics.SYNC_SECONDS.labels(kind, "ok").observe(done - started_at)
        metrics.READY_TO_SYNCED.labels(kind).observe(done - since)
        metrics.SYNCS.labels(kind, "ok").inc()
        serving = sum(1 for b in steps.result if b.weight > 0)
        metrics.set_backends(namespace, name, serving, len(steps.result) - serving)
        if steps.write_calls:
            summary = ", ".join(f"{op} {steps.count(op)}" for op in ("add", "update", "remove") if steps.count(op))
            log.info("synced", extra={"record": key, "kind": kind, "group": spec["groupId"],
                                      "adds": steps.count("add"), "updates": steps.count("update"),
                                      "removes": steps.count("remove"), "calls": steps.write_calls,
                                      "serving": serving, "owned": len(steps.result), "drift": drift})
            self.publisher.event(obj, "Normal", "Drift" if drift else "Synced",
                                 f"{summary}: {len(steps.result)} backends, {serving} serving"
                                 + (" (repaired drift found by the periodic read)" if drift else ""))
        if deleting and not holds:
            self._drop_finalizer(record, record.obj or obj, f"released {steps.count('remove')} backends")
            return
        self._publish_ingress(namespace, spec["service"])

    def _come_back(self, key: str, holds: Mapping[Key, Hold], drain: float) -> None:
        """Due again when the first drain is over, to remove it (every sync says so anew: the queue keeps one
        due time per group, the earliest, and an earlier event's sync may take it)."""
        if holds:
            first = min(started for _, started, _ in holds.values())
            self.queue.add(key, max(0.0, first + drain - self.clock()) + 0.01, event=False)

    # --- the record's metadata, the Service's status ------------------------------------------

    def _drop_finalizer(self, record: BackendRecord, obj: Mapping[str, Any], why: str) -> None:
        # The Event first: once the finalizer is gone, so is the record it is about.
        self.publisher.event(copy.deepcopy(dict(obj)), "Normal", "Released", why)
        record.release_finalizer()
        self._holds.pop(f"{record.namespace}/{record.name}", None)
        log.info("released", extra={"record": f"{record.namespace}/{record.name}", "why": why})

    def _publish_ingress(self, namespace: str, service: str) -> None:
        records = [obj for _, obj in self.records.by(f"{namespace}/{service}")]
        if self.publisher.ingress(self.services.get(f"{namespace}/{service}"), records):
            log.info("service ingress written", extra={"service": f"{namespace}/{service}"})


def rfc3339(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, timezone.utc).strftime(TIME_FORMAT)


def restored_holds(status: Mapping[str, Any], now: float, wall: float) -> dict[Key, Hold]:
    """The drains the record says are running (`status.draining`, written with each result), on this process's
    monotonic clock: a restart or a new leader finishes them instead of cutting them short."""
    owned = owned_from(status)
    holds: dict[Key, Hold] = {}
    for item in status.get("draining") or []:
        key = (str(item.get("serverId")), int(item.get("port") or 0))
        try:
            since = datetime.strptime(str(item.get("since")), TIME_FORMAT).replace(tzinfo=timezone.utc)
        except ValueError:
            continue
        if key in owned:
            holds[key] = (owned[key].with_weight(0), now - max(0.0, wall - since.timestamp()), str(item["since"]))
    return holds


def _service_of_record(obj: Mapping[str, Any]) -> Optional[str]:
    service = (obj.get("spec") or {}).get("service")
    return f"{(obj.get('metadata') or {}).get('namespace')}/{service}" if service else None


def _service_of_slice(obj: Mapping[str, Any]) -> Optional[str]:
    meta = obj.get("metadata") or {}
    service = (meta.get("labels") or {}).get(SERVICE_NAME_LABEL)
    return f"{meta.get('namespace')}/{service}" if service else None


def _bound(method: Callable[..., Any], *args: Any) -> Callable[..., Any]:
    """A list method with its positional arguments bound (for an informer's list and watch calls)."""
    def call(**kwargs: Any) -> Any:
        return method(*args, **kwargs)
    return call
