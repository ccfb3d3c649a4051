"""The record of one backend group: a BackendGroup custom resource (crd/backendgroups.yaml), read and written
with the official Kubernetes client. No Pulumi here: the dynamic resource and the controller share it.

    record = BackendRecord(api, "default", record_name("cube-svc", "ens", "lb-5abc", None))
    generation = record.ensure(spec_for(kind="ens", group_id="lb-5abc", service="cube-svc", mode="cluster"))
    owned = owned_from(record.status)                 # keys -> backends this owner may change or remove
    record.begin(Intent.start("add", batch), owned.values())   # BEFORE the cloud call
    ...                                                # the cloud call, then the next begin(), then:
    record.finish(result, desired_hash, without_port)  # owned, desiredHash, counts, Synced=True, intent cleared
    record.fail("AddBackendServers: ...")              # Synced=False, lastError; the intent stays

Why it is built this way:
- Ownership is `status.owned`. A crash between a cloud call and the write after it leaves `status.intent`:
  an `add` intent's servers may be in the group unrecorded, so `owned_from` counts them as owned (ENS servers
  carry no owner mark; they would leak). Owned servers gone from the group drop out of the next plan.
- Status writes go through `/status` as merge patches carrying the resourceVersion they were computed from:
  a 409 re-reads and recomputes, a bounded number of times. A write that would change only times is not
  sent, so a run with nothing to do writes nothing.
- A missing CRD is installed from the repository's file (created only: deleting a CRD deletes every record).
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import re
import time
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Optional

import urllib3
import yaml
from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException

from reconciler.model import Backend, Intent, now

GROUP, VERSION, PLURAL, KIND = "ack-edge-lb.io", "v1alpha1", "backendgroups", "BackendGroup"
API_VERSION = f"{GROUP}/{VERSION}"
CRD_NAME = f"{PLURAL}.{GROUP}"
CRD_FILE = Path(__file__).resolve().parent / "crd" / "backendgroups.yaml"
INSTALL = "kubectl apply -f reconciler/crd/backendgroups.yaml"
SERVICE_LABEL = "ack-edge-lb.io/service"
MANAGED_BY_LABEL, MANAGER = "app.kubernetes.io/managed-by", "ack-edge-lb"
SYNCED = "Synced"
# Held by the controller on the records it syncs: a deleted record stays until its backends are released.
FINALIZER = "ack-edge-lb.io/backends"
# The one writer of a group's backends: the in-cluster controller, or the stack's BackendSync during `pulumi up`.
# The controller syncs only `controller` records, so a stack without the controller (or one switching it off)
# never has two writers on its groups.
WRITERS = ("controller", "pulumi")
CONFLICT_ATTEMPTS = 5
REQUEST_TIMEOUT = (10.0, 30.0)  # connect, read (s)
Key = tuple[str, int]


class RecordError(Exception):
    """A read or write of the record failed; the message names the record and the API's answer."""


class CrdNotInstalled(RecordError):
    pass


class RecordConflict(RecordError):
    pass


class WriterChanged(RecordError):
    """spec.writer no longer names this writer: it must not write the group any more."""


# --- naming and spec ----------------------------------------------------------------------------------

def record_name(service: str, kind: str, group_id: str, region_id: Optional[str] = None) -> str:
    """`<service>-<kind>-<hash of group id and region>`: a DNS label of at most 63 characters."""
    digest = hashlib.sha256(f"{group_id}/{region_id or ''}".encode()).hexdigest()[:10]
    suffix = f"-{kind}-{digest}"
    stem = re.sub(r"[^a-z0-9-]", "-", service.lower())[:63 - len(suffix)].strip("-") or "group"
    return stem + suffix


def spec_for(*, kind: str, group_id: str, service: str, mode: str, region_id: Optional[str] = None,
             port_name: Optional[str] = None, pools: Iterable[str] = (), port: int = 0,
             server_type: Optional[str] = None, drain_seconds: float = 0,
             ingress: Optional[Iterable[Mapping[str, str]]] = None, writer: str = "pulumi") -> dict[str, Any]:
    """The record's spec; absent values are left out (the schema has no nulls in spec). `writer`: WRITERS."""
    if writer not in WRITERS:
        raise ValueError(f"writer {writer!r} is not one of {', '.join(WRITERS)}")
    spec: dict[str, Any] = {"kind": kind, "groupId": group_id, "service": service, "mode": mode, "writer": writer,
                            "pools": sorted(pools), "port": int(port or 0), "serverType": server_type or kind,
                            # Whole seconds: a drain shorter than one is only a test's.
                            "drainSeconds": int(math.ceil(drain_seconds or 0))}
    if region_id:
        spec["regionId"] = region_id
    if port_name is not None:
        spec["portName"] = port_name
    addresses = [{k: v for k, v in item.items() if k in ("ip", "hostname") and v} for item in ingress or ()]
    if any(addresses):
        spec["ingress"] = [a for a in addresses if a]
    return spec


# --- reading a status ---------------------------------------------------------------------------------

def owned_from(status: Optional[Mapping[str, Any]]) -> dict[Key, Backend]:
    """What the owner may change and remove: `owned`, plus the servers of a pending `add` intent."""
    status = status or {}
    owned = {b.key: b for b in (Backend.from_dict(raw) for raw in status.get("owned") or [])}
    intent = status.get("intent") or {}
    if intent.get("op") == "add":
        for raw in intent.get("backends") or []:
            backend = Backend.from_dict(raw)
            owned.setdefault(backend.key, backend)
    return owned


def holds_ownership(status: Optional[Mapping[str, Any]]) -> bool:
    """True once a sync wrote `owned` (even empty): from then on the record, not the Pulumi state, says who owns."""
    return "owned" in (status or {})


def condition(obj: Optional[Mapping[str, Any]], kind: str = SYNCED) -> Optional[dict[str, Any]]:
    return next((dict(c) for c in ((obj or {}).get("status") or {}).get("conditions") or [] if c.get("type") == kind),
                None)


def is_synced(obj: Optional[Mapping[str, Any]], generation: int) -> bool:
    """Synced=True for `generation` or a later one, and nothing in flight."""
    status = (obj or {}).get("status") or {}
    synced = condition(obj)
    return (synced is not None and synced.get("status") == "True" and not status.get("intent")
            and int(synced.get("observedGeneration") or 0) >= generation
            and int(status.get("observedGeneration") or 0) >= generation)


def unfinished(obj: Optional[Mapping[str, Any]]) -> Optional[str]:
    """Why the record asks for another sync (an error, a batch in flight, not synced), or None."""
    if obj is None:
        return "no record"
    status = obj.get("status") or {}
    if status.get("lastError"):
        return f"the last sync failed: {status['lastError']}"
    if status.get("intent"):
        intent = status["intent"]
        return f"a {intent.get('op')} batch of {len(intent.get('backends') or [])} servers was not finished"
    synced = condition(obj)
    if synced is None or synced.get("status") != "True":
        return f"not synced ({(synced or {}).get('reason') or 'never'})"
    generation = int((obj.get("metadata") or {}).get("generation") or 0)
    if int(status.get("observedGeneration") or 0) < generation:
        return f"generation {generation} not synced yet"
    return None


def describe(obj: Optional[Mapping[str, Any]]) -> str:
    """One line for error messages: generation, observedGeneration, Synced, lastError."""
    if obj is None:
        return "the record does not exist"
    status, synced = obj.get("status") or {}, condition(obj) or {}
    parts = [f"generation {(obj.get('metadata') or {}).get('generation')}",
             f"observedGeneration {status.get('observedGeneration', 'none')}",
             f"Synced={synced.get('status', 'none')}" + (f" ({synced['reason']}: {synced.get('message', '')})"
                                                          if synced.get("reason") else "")]
    if status.get("lastError"):
        parts.append(f"lastError: {status['lastError']}")
    if status.get("intent"):
        parts.append(f"a {status['intent'].get('op')} batch in flight")
    return ", ".join(parts)


def counts(owned: Iterable[Backend], without_port: int = 0) -> dict[str, int]:
    backends = list(owned)
    serving = sum(1 for b in backends if b.weight > 0)
    return {"total": len(backends), "serving": serving, "draining": len(backends) - serving,
            "withoutPort": without_port}


def merge_diff(old: Any, new: Any) -> Any:
    """The RFC 7386 merge patch that turns `old` into `new` (null removes; lists are replaced whole)."""
    if not isinstance(old, dict) or not isinstance(new, dict):
        return copy.deepcopy(new)
    patch: dict[str, Any] = {k: None for k in old if k not in new}
    for key, value in new.items():
        if key not in old or old[key] != value:
            patch[key] = merge_diff(old.get(key), value)
    return patch


def _without_times(status: Mapping[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in status.items() if k != "lastSyncTime"}
    out["conditions"] = [{k: v for k, v in c.items() if k != "lastTransitionTime"} for c in out.get("conditions") or []]
    return out


def _set_condition(status: dict[str, Any], state: str, reason: str, message: str, generation: int) -> None:
    old = next((c for c in status.get("conditions") or [] if c.get("type") == SYNCED), None)
    since = old["lastTransitionTime"] if old and old.get("status") == state and old.get("lastTransitionTime") else now()
    others = [c for c in status.get("conditions") or [] if c.get("type") != SYNCED]
    status["conditions"] = others + [{"type": SYNCED, "status": state, "reason": reason, "message": message[:1024],
                                      "lastTransitionTime": since, "observedGeneration": generation}]


# --- the record ---------------------------------------------------------------------------------------

class BackendRecord:
    """One BackendGroup object. Holds the last object read or written (`obj`), so writes carry its resourceVersion."""

    def __init__(self, api: k8s.ApiClient, namespace: str, name: str, *, attempts: int = CONFLICT_ATTEMPTS,
                 backoff: float = 0.05, sleep: Callable[[float], None] = time.sleep, writer: Optional[str] = None):
        """`writer`: write the status only while spec.writer says so (the controller: a stack that takes the group
        back stops it before its next batch, since that spec change makes the next status write conflict)."""
        self.api, self.namespace, self.name = api, namespace, name
        self.writer = writer
        self.custom = k8s.CustomObjectsApi(api)
        self.attempts, self.backoff, self.sleep = attempts, backoff, sleep
        self.obj: Optional[dict[str, Any]] = None
        # The generation whose spec this sync applies (what finish/fail record): the one ensure() returned.
        self.syncing: Optional[int] = None

    def __repr__(self) -> str:
        return f"BackendGroup {self.namespace}/{self.name}"

    @property
    def status(self) -> dict[str, Any]:
        return dict((self.obj or {}).get("status") or {})

    @property
    def generation(self) -> int:
        return int(((self.obj or {}).get("metadata") or {}).get("generation") or 0)

    # --- reads and spec ---------------------------------------------------------------------------

    def read(self) -> Optional[dict[str, Any]]:
        """The object, or None when there is none; CrdNotInstalled when the cluster does not know the kind."""
        try:
            self.obj = self._call("read", self.custom.get_namespaced_custom_object, GROUP, VERSION, self.namespace,
                                  PLURAL, self.name)
        except _Missing:
            self.obj = None
        return self.obj

    def ensure(self, spec: Mapping[str, Any], labels: Optional[Mapping[str, str]] = None) -> int:
        """Create the record, or bring its spec (and labels) to `spec`; returns the generation to sync."""
        wanted_labels = {SERVICE_LABEL: spec["service"], MANAGED_BY_LABEL: MANAGER, **(labels or {})}
        installed = False
        for attempt in range(self.attempts):
            try:
                current = self.read()
            except CrdNotInstalled:
                if installed:
                    raise
                install_crd(self.api)
                installed = True
                continue
            try:
                if current is None:
                    body = {"apiVersion": API_VERSION, "kind": KIND, "spec": dict(spec),
                            "metadata": {"name": self.name, "namespace": self.namespace, "labels": wanted_labels}}
                    self.obj = self._call("create", self.custom.create_namespaced_custom_object, GROUP, VERSION,
                                          self.namespace, PLURAL, body)
                    self.syncing = self.generation
                    return self.syncing
                meta = current.get("metadata") or {}
                labels_now = meta.get("labels") or {}
                patch: dict[str, Any] = {}
                if current.get("spec") != dict(spec):
                    patch["spec"] = merge_diff(current.get("spec") or {}, dict(spec))
                if any(labels_now.get(k) != v for k, v in wanted_labels.items()):
                    patch["metadata"] = {"labels": wanted_labels}
                if patch:
                    patch.setdefault("metadata", {})["resourceVersion"] = meta.get("resourceVersion")
                    self.obj = self._call("update the spec of", self.custom.patch_namespaced_custom_object, GROUP,
                                          VERSION, self.namespace, PLURAL, self.name, patch)
                self.syncing = self.generation
                return self.syncing
            except _Conflict:
                self.sleep(self.backoff * 2 ** attempt)
        raise RecordConflict(f"{self}: the spec write still conflicted after {self.attempts} attempts")

    def delete(self, *, released: bool = False) -> None:
        """Delete the record. `released`: the caller released the backends itself (no controller runs), so a
        FINALIZER an earlier controller left is dropped first; otherwise the record waits for the controller."""
        try:
            if released:
                self.obj = None
                self.release_finalizer()
            self._call("delete", self.custom.delete_namespaced_custom_object, GROUP, VERSION, self.namespace, PLURAL,
                       self.name)
        except (_Missing, CrdNotInstalled):
            pass
        self.obj = None

    def hold_finalizer(self) -> None:
        """The controller's FINALIZER on the record: deleted, it then stays until its backends are released."""
        self._set_finalizer(True)

    def release_finalizer(self) -> None:
        """Drop FINALIZER: the backends are released (a record being deleted then goes)."""
        self._set_finalizer(False)

    def _set_finalizer(self, present: bool) -> None:
        for attempt in range(self.attempts):
            current = self.obj if self.obj is not None else self.read()
            if current is None:
                return
            meta = current.get("metadata") or {}
            finalizers = list(meta.get("finalizers") or [])
            if (FINALIZER in finalizers) == present:
                return
            finalizers = finalizers + [FINALIZER] if present else [f for f in finalizers if f != FINALIZER]
            patch = {"metadata": {"resourceVersion": meta.get("resourceVersion"), "finalizers": finalizers}}
            try:
                self.obj = self._call("add the finalizer to" if present else "drop the finalizer of",
                                      self.custom.patch_namespaced_custom_object, GROUP, VERSION, self.namespace,
                                      PLURAL, self.name, patch)
                return
            except _Conflict:
                self.obj = None
                self.sleep(self.backoff * 2 ** attempt)
            except _Missing:
                self.obj = None
                return
        raise RecordConflict(f"{self}: the finalizer write still conflicted after {self.attempts} attempts")

    # --- status: intent before a batch, result after ------------------------------------------------

    def begin(self, intent: Intent, owned: Iterable[Backend]) -> None:
        """Before a batch's cloud call: the batch, and what is owned before it (the previous batch's result)."""
        held = [b.as_dict() for b in sorted(owned)]

        def mutate(status: dict[str, Any]) -> dict[str, Any]:
            return {**status, "owned": held, "intent": intent.as_dict()}
        self._write_status(mutate)

    def finish(self, owned: Iterable[Backend], desired_hash: str, without_port: int = 0,
               generation: Optional[int] = None, draining: Optional[Mapping[Key, str]] = None) -> None:
        """After the last batch (or when there was none): the owned backends, and Synced=True at `generation`
        (default: the one ensure() returned, else the last read: not a newer spec written meanwhile).
        `draining`: owned backends at weight 0 whose drain is still running, with its start (RFC 3339)."""
        backends = sorted(owned)
        observed = generation if generation is not None else self.syncing or self.generation
        drains = [{"serverId": key[0], "port": key[1], "since": since} for key, since in sorted((draining or {}).items())]

        def mutate(status: dict[str, Any]) -> dict[str, Any]:
            out = {k: v for k, v in status.items() if k not in ("intent", "lastError", "draining")}
            if drains:
                out["draining"] = drains
            out.update(owned=[b.as_dict() for b in backends], desiredHash=desired_hash,
                       counts=counts(backends, without_port), observedGeneration=observed, lastSyncTime=now())
            serving = out["counts"]["serving"]
            _set_condition(out, "True", "Synced", f"{len(backends)} backends, {serving} serving", observed)
            return out
        self._write_status(mutate)

    def fail(self, error: str, generation: Optional[int] = None) -> None:
        """A sync stopped: Synced=False and lastError; the intent (if any) stays, it may have been applied."""
        observed = generation if generation is not None else self.syncing or self.generation

        def mutate(status: dict[str, Any]) -> dict[str, Any]:
            out = {**status, "lastError": error[:4096], "observedGeneration": observed}
            _set_condition(out, "False", "SyncFailed", error, observed)
            return out
        self._write_status(mutate)

    def wait_synced(self, generation: int, timeout: float, interval: float = 1.0,
                    clock: Callable[[], float] = time.monotonic) -> dict[str, Any]:
        """Poll until Synced=True at `generation` or later (another writer syncs); TimeoutError after `timeout`."""
        deadline = clock() + timeout
        while True:
            obj = self.read()
            if is_synced(obj, generation):
                return obj  # type: ignore[return-value]
            if clock() >= deadline:
                raise TimeoutError(f"{self} did not report Synced=True at generation {generation} within "
                                   f"{timeout:g} s ({describe(obj)})")
            self.sleep(max(0.0, min(interval, deadline - clock())))

    def _write_status(self, mutate: Callable[[dict[str, Any]], dict[str, Any]]) -> None:
        for attempt in range(self.attempts):
            current = self.obj if self.obj is not None else self.read()
            if current is None:
                raise RecordError(f"{self} does not exist: its status cannot be written")
            writer = (current.get("spec") or {}).get("writer", "pulumi")
            if self.writer is not None and writer != self.writer:
                raise WriterChanged(f"{self}: its writer is now {writer!r}; {self.writer!r} stops here")
            old = dict(current.get("status") or {})
            new = mutate(copy.deepcopy(old))
            if _without_times(new) == _without_times(old):
                return
            body = {"metadata": {"resourceVersion": (current.get("metadata") or {}).get("resourceVersion")},
                    "status": merge_diff(old, new) if old else new}
            try:
                self.obj = self._call("write the status of", self.custom.patch_namespaced_custom_object_status,
                                      GROUP, VERSION, self.namespace, PLURAL, self.name, body)
                return
            except _Conflict:
                self.obj = None  # someone else wrote: re-read, recompute
                self.sleep(self.backoff * 2 ** attempt)
            except _Missing:
                raise RecordError(f"{self} was deleted: its status cannot be written") from None
        raise RecordConflict(f"{self}: the status write still conflicted after {self.attempts} attempts "
                             f"(another writer keeps changing it)")

    def _call(self, action: str, method: Callable[..., Any], *args: Any) -> dict[str, Any]:
        try:
            return method(*args, _request_timeout=REQUEST_TIMEOUT)
        except ApiException as exc:
            raise _error(str(self), action, exc) from None
        except urllib3.exceptions.HTTPError as exc:
            raise RecordError(f"{self}: cannot {action} it: {type(exc).__name__}: {exc}") from None


class _Missing(RecordError):
    pass


class _Conflict(RecordError):
    pass


def _error(what: str, action: str, exc: ApiException) -> RecordError:
    try:
        body = json.loads(exc.body or "{}")
    except (TypeError, ValueError):
        body = {}
    body = body if isinstance(body, dict) else {}
    text = f"{what}: cannot {action} it: HTTP {exc.status} {body.get('reason') or exc.reason}" + (
        f": {body['message']}" if body.get("message") else "")
    if exc.status == 404:
        # An unknown kind answers 404 without the object's name in its details.
        if not (body.get("details") or {}).get("name"):
            return CrdNotInstalled(f"{what}: the cluster does not serve {CRD_NAME} (the CRD is not installed): "
                                   f"{INSTALL}")
        return _Missing(text)
    if exc.status == 409:  # a stale resourceVersion, or a create that raced another (AlreadyExists): re-read
        return _Conflict(text)
    if exc.status == 403:
        text += f" (the identity needs get, create, patch and delete on {CRD_NAME} and patch on {PLURAL}/status)"
    return RecordError(text)


def install_crd(api: k8s.ApiClient, timeout: float = 30.0, interval: float = 0.2) -> None:
    """Create the CRD from the repository's file and wait until the API server serves it (bounded)."""
    extensions = k8s.ApiextensionsV1Api(api)
    cannot = f"the {CRD_NAME} CRD is not installed and cannot be installed"
    try:
        body = k8s.V1CustomResourceDefinition.from_dict(yaml.safe_load(CRD_FILE.read_text()))
        extensions.create_custom_resource_definition(body, _request_timeout=REQUEST_TIMEOUT)
    except ApiException as exc:
        if exc.status != 409:  # 409: someone installed it meanwhile
            raise CrdNotInstalled(f"{cannot} (HTTP {exc.status} {exc.reason}): {INSTALL}") from None
    except urllib3.exceptions.HTTPError as exc:
        raise CrdNotInstalled(f"{cannot} ({type(exc).__name__}): {INSTALL}") from None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            answer = extensions.read_custom_resource_definition(CRD_NAME, _preload_content=False,
                                                                _request_timeout=REQUEST_TIMEOUT)
            conditions = (json.loads(answer.data).get("status") or {}).get("conditions") or []
            if any(c.get("type") == "Established" and c.get("status") == "True" for c in conditions):
                return
        except ApiException as exc:
            if exc.status != 404:
                raise CrdNotInstalled(f"the {CRD_NAME} CRD cannot be read back (HTTP {exc.status}): {INSTALL}") from None
        time.sleep(interval)
    raise CrdNotInstalled(f"the {CRD_NAME} CRD was created but is not Established after {timeout:g} s")
