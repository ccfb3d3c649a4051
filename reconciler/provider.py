"""BackendSync as a Pulumi dynamic resource: one per backend group (ENS ELB, NLB server group, CLB VServerGroup).

Each group has a record in the cluster, a BackendGroup (reconciler/record.py): its spec is what this resource
declares, its status what the group's one writer owns and is doing. The writer is this resource, or, with
`controller: true`, the in-cluster controller.
- `diff` reads the cluster and the record (never the cloud, never writes) and reports a change when the
  inputs or the desired set moved, or when the record says the last sync did not finish (an error, a batch
  in flight, not synced, another desired hash): so the `pulumi up` after a failed one repairs the group
  without `pulumi refresh`, and an unchanged cluster costs no cloud call.
- `create` / `update` write the record's spec, then list the group once and apply the plan, the intent of
  each batch recorded before its cloud call and the result after it. With the controller they only write
  the spec and wait (bounded, `waitSeconds`) until it reports Synced at the new generation.
- `read` returns the live owned backends for `pulumi refresh` (an empty id when the group is gone);
  `delete` drains, then removes only the backends it owns, then deletes the record (with the controller:
  deletes the record and waits until the controller has released them).
Credentials (AccessKey, kubeconfig) come from the environment or the provider configuration, never
from inputs, so they never reach the state.
"""

from __future__ import annotations

import contextlib
import time
from typing import Any, Iterator, Optional, Sequence

import pulumi
from pulumi.dynamic import (
    CheckFailure,
    CheckResult,
    ConfigureRequest,
    CreateResult,
    DiffResult,
    ReadResult,
    ResourceProvider,
    UpdateResult,
)

from cloud import credentials
from components.dynamic import DynamicResource
from components.wire import fully_known, gone, is_known, normalized
from reconciler import ratelimit
from reconciler.desired import Target
from reconciler.model import BATCH_LIMITS, Backend

MODES = ("cluster", "local", "ip")
# A different group or Service is a different resource: the old one's backends are released.
REPLACE_ON = ("kind", "groupId", "namespace", "service")
INPUTS = (*REPLACE_ON, "regionId", "portName", "mode", "pools", "port", "serverType", "drainSeconds", "ingress",
          "controller", "waitSeconds")
KUBECONFIG_CONFIG = credentials.KUBECONFIG_CONFIG  # the setting pulumi-kubernetes reads, usually a secret
WAIT_SECONDS = 300.0
CONTROLLER_LOGS = "kubectl logs -n ack-edge-lb-system deployment/ack-edge-lb-controller"


def _inputs(props: dict[str, Any]) -> dict[str, Any]:
    return {key: normalized(props.get(key)) for key in INPUTS}


def _stored(props: dict[str, Any]) -> list[Backend]:
    return [Backend.from_dict(normalized(raw)) for raw in props.get("backends") or []]


def _outputs(inputs: dict[str, Any], backends: Sequence[Backend], desired_hash: str,
             without_port: int = 0) -> dict[str, Any]:
    from reconciler.record import counts

    return {**inputs, "backends": [b.as_dict() for b in sorted(backends)], "desiredHash": desired_hash,
            "counts": counts(backends, without_port)}


def _ingress_failures(value: Any) -> list[str]:
    if value is None or not is_known(value):
        return []
    if not isinstance(value, list):
        return [f"{value!r} is not a list of addresses"]
    return [f"{item!r} is not one {{ip}} or {{hostname}}" for item in value if is_known(item) and not (
        isinstance(item, dict) and len(item) == 1 and set(item) <= {"ip", "hostname"})]


class BackendSyncProvider(ResourceProvider):
    """Stateless until `configure`; the serialized provider holds only these bounds."""

    def __init__(self, policy: Any = None, poll_interval: float = 1.0, read_timeout: float = 15.0):
        self.policy = policy
        self.poll_interval = poll_interval  # NLB jobs, and the record while a controller syncs
        self.read_timeout = read_timeout    # one cloud call

    def configure(self, req: ConfigureRequest) -> None:
        # Every `alicloud:` setting pulumi-alicloud reads, and `kubernetes:kubeconfig` / `kubernetes:context`;
        # held in memory only, never serialized into the state.
        self._config = credentials.provider_config(req.config, kubernetes=True)
        # The stack's `ack-edge-lb:rateLimits` (checked by the program's rules), shared by every group of this host.
        limits = req.config.get(ratelimit.SETTING)
        if limits not in (None, "", "{}"):
            ratelimit.configure(ratelimit.limits_from_text(limits) if isinstance(limits, str) else limits)

    # --- the layers, built per call -------------------------------------------------------------

    @contextlib.contextmanager
    def _cluster(self) -> Iterator[Any]:
        from reconciler.cluster import load_api_client

        api = load_api_client(getattr(self, "_config", None))
        try:
            yield api
        finally:
            api.close()

    @staticmethod
    def _view(api: Any, props: dict[str, Any]):
        from reconciler.cluster import read_cluster

        return read_cluster(api, props["namespace"], props["service"], props.get("portName"))

    @staticmethod
    def _record(api: Any, props: dict[str, Any]):
        from reconciler.record import BackendRecord, record_name

        return BackendRecord(api, props["namespace"],
                             record_name(props["service"], props["kind"], props["groupId"], props.get("regionId")))

    @staticmethod
    def _spec(props: dict[str, Any]) -> dict[str, Any]:
        from reconciler.record import spec_for

        return spec_for(kind=props["kind"], group_id=props["groupId"], service=props["service"], mode=props["mode"],
                        region_id=props.get("regionId"), port_name=props.get("portName"),
                        pools=props.get("pools") or (), port=int(props.get("port") or 0),
                        server_type=props.get("serverType"), drain_seconds=float(props.get("drainSeconds") or 0),
                        ingress=props.get("ingress"), writer="controller" if props.get("controller") else "pulumi")

    def _group(self, props: dict[str, Any]):
        from reconciler.groups import group_for, owner_mark

        return group_for(props["kind"], props["groupId"], owner=owner_mark(props["namespace"], props["service"]),
                         region=props.get("regionId"), config=getattr(self, "_config", None), policy=self.policy,
                         poll_interval=self.poll_interval, read_timeout=self.read_timeout)

    @staticmethod
    def _target(props: dict[str, Any]) -> Target:
        return Target(props["mode"], frozenset(props.get("pools") or ()), int(props.get("port") or 0),
                      props.get("serverType") or props["kind"])

    def _apply(self, props: dict[str, Any], stored: Sequence[Backend] = ()) -> dict[str, Any]:
        """Write the record's spec, then sync the group (or let the controller do it and wait)."""
        from reconciler.publish import publish_ingress
        from reconciler.record import holds_ownership, owned_from
        from reconciler.sync import sync

        with self._cluster() as api:
            record = self._record(api, props)
            generation = record.ensure(self._spec(props))
            if props.get("controller"):
                return self._wait(record, props, generation)
            # The record knows what a failed or crashed run added; the state only what the last good one did.
            status = record.status
            owned = set(owned_from(status)) if holds_ownership(status) else {b.key for b in stored}
            try:
                result = sync(self._group(props), self._target(props), self._view(api, props), owned,
                              drain_seconds=float(props.get("drainSeconds") or 0), journal=record)
            except Exception as exc:
                # A failed read leaves no trace in the cloud, but the next diff must still see the failure.
                with contextlib.suppress(Exception):
                    record.fail(str(exc))
                raise
            publish_ingress(api, props["namespace"], props["service"])
        return _outputs(props, result.backends, result.desired_hash, len(result.without_port))

    def _wait(self, record: Any, props: dict[str, Any], generation: int) -> dict[str, Any]:
        wait = float(props.get("waitSeconds") or WAIT_SECONDS)
        try:
            obj = record.wait_synced(generation, wait, self.poll_interval)
        except TimeoutError as exc:
            raise TimeoutError(
                f"the controller did not sync the backends of {props['kind']} group {props['groupId']} in time: "
                f"{exc}. Look at `kubectl get bg -n {record.namespace}` (`kubectl describe bg "
                f"{record.name} -n {record.namespace}` for its conditions and events) and at the controller's logs "
                f"(`{CONTROLLER_LOGS}`, in the stack's controller namespace); then run `pulumi up` again") from None
        status = obj.get("status") or {}
        return _outputs(props, [Backend.from_dict(raw) for raw in status.get("owned") or []],
                        status.get("desiredHash") or "", int((status.get("counts") or {}).get("withoutPort") or 0))

    # --- Pulumi protocol ------------------------------------------------------------------------

    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        """Validate what is known: in a first preview `groupId` and `port` (a NodePort) are not yet."""
        failures = []
        known = {key: news.get(key) for key in INPUTS if is_known(news.get(key))}
        if "kind" in known and known["kind"] not in BATCH_LIMITS:
            failures.append(CheckFailure("kind", f"{known['kind']!r} is not one of {', '.join(BATCH_LIMITS)}"))
        if "mode" in known and known["mode"] not in MODES:
            failures.append(CheckFailure("mode", f"{known['mode']!r} is not one of {', '.join(MODES)}"))
        for key in ("groupId", "namespace", "service"):
            if key in known and not known[key]:
                failures.append(CheckFailure(key, f"`{key}` is required"))
        if "port" in known:
            port = normalized(known["port"] or 0)
            if not isinstance(port, int) or isinstance(port, bool) or not 0 <= port <= 65535:
                failures.append(CheckFailure("port", f"{port!r} is not a port number"))
        if "drainSeconds" in known:
            drain = known["drainSeconds"] or 0
            if not isinstance(drain, (int, float)) or not 0 <= drain <= 3600:
                failures.append(CheckFailure("drainSeconds", f"{drain!r} is not 0-3600 seconds"))
        if known.get("controller") not in (None, True, False):
            failures.append(CheckFailure("controller", f"{known['controller']!r} is not true or false"))
        if known.get("waitSeconds") is not None:
            wait = known["waitSeconds"]
            if not isinstance(wait, (int, float)) or isinstance(wait, bool) or not 0 < wait <= 3600:
                failures.append(CheckFailure("waitSeconds", f"{wait!r} is not 1-3600 seconds"))
        failures += [CheckFailure("ingress", why) for why in _ingress_failures(known.get("ingress"))]
        return CheckResult(normalized(news), failures)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        from reconciler.desired import desired
        from reconciler.record import CrdNotInstalled, unfinished
        from reconciler.sync import desired_hash

        before, after = _inputs(olds), _inputs(news)
        # An input not known yet (a preview) may be anything: a replace-on input may replace.
        replaces = [key for key in REPLACE_ON if not is_known(after[key]) or before[key] != after[key]]
        if replaces or not fully_known(after) or before != after:
            return DiffResult(changes=True, replaces=replaces)
        with self._cluster() as api:
            record = self._record(api, after)
            try:
                obj = record.read()
            except CrdNotInstalled:
                obj = None
            # A record that is missing, edited, or says the last sync did not finish: sync again.
            if obj is None or obj.get("spec") != self._spec(after) or unfinished(obj):
                return DiffResult(changes=True, replaces=[])
            if after.get("controller"):
                return DiffResult(changes=False, replaces=[])  # the controller follows the cluster
            if (obj.get("status") or {}).get("desiredHash") != olds.get("desiredHash"):
                return DiffResult(changes=True, replaces=[])
            wanted = desired(self._view(api, after), self._target(after))
        # What the cloud keeps of a backend: its key, weight and type (a refresh reads back no more).
        stored = {b.key: (b.weight, b.type) for b in _stored(olds)}
        moved = desired_hash(wanted) != olds.get("desiredHash") or stored != {k: (b.weight, b.type)
                                                                            for k, b in wanted.items()}
        return DiffResult(changes=moved, replaces=[])

    def create(self, props: dict[str, Any]) -> CreateResult:
        props = _inputs(props)
        # A create after a failed one finds that run's record: what it added is owned, not leaked.
        outs = self._apply(props)
        return CreateResult(f"{props['kind']}:{props['groupId']}:{props['namespace']}/{props['service']}", outs)

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        return UpdateResult(self._apply(_inputs(news), _stored(olds)))

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        from reconciler.record import CrdNotInstalled, holds_ownership, owned_from

        props = normalized(props)
        group = self._group(props)
        try:
            live = group.list()
        except Exception as exc:  # noqa: BLE001 - only "gone" is an answer; the rest is an error
            if gone(exc):
                return ReadResult("", {})
            raise
        with self._cluster() as api:
            try:
                obj = self._record(api, props).read()
            except CrdNotInstalled:
                obj = None
        status = (obj or {}).get("status") or {}
        owned = set(owned_from(status)) if holds_ownership(status) else {b.key for b in _stored(props)}
        mine = owned | group.marked(live)
        return ReadResult(id_, _outputs(_inputs(props), [b for b in live if b.key in mine],
                                        status.get("desiredHash") or props.get("desiredHash") or ""))

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        from reconciler.record import holds_ownership, owned_from
        from reconciler.sync import release

        props = _inputs(normalized(props))
        with self._cluster() as api:
            record = self._record(api, props)
            obj = _read_or_none(record)
            if props.get("controller"):
                self._released_by_controller(record, props)
                return
            status = (obj or {}).get("status") or {}
            owned = set(owned_from(status)) if holds_ownership(status) else {b.key for b in _stored(props)}
            release(self._group(props), owned, drain_seconds=float(props.get("drainSeconds") or 0),
                    journal=record if obj is not None else None)
            record.delete(released=True)

    def _released_by_controller(self, record: Any, props: dict[str, Any]) -> None:
        """The controller holds a finalizer on the records it syncs: the record goes once the backends did."""
        record.delete()
        wait = float(props.get("waitSeconds") or WAIT_SECONDS)
        deadline = time.monotonic() + wait
        while _read_or_none(record) is not None:
            if time.monotonic() >= deadline:
                raise TimeoutError(
                    f"waited {wait:g} s for the controller to release the backends of {record} and remove its "
                    f"finalizer. Look at `kubectl get bg {record.name} -n {record.namespace} -o yaml` and at the "
                    f"controller's logs (`{CONTROLLER_LOGS}`); then run `pulumi destroy` again")
            time.sleep(self.poll_interval)


def _read_or_none(record: Any) -> Optional[dict[str, Any]]:
    from reconciler.record import CrdNotInstalled

    try:
        return record.read()
    except CrdNotInstalled:
        return None


class BackendSync(DynamicResource, module="backends", name="BackendSync"):
    """Keeps one backend group equal to the pods and nodes that should serve a Service."""

    backends: pulumi.Output[list[dict[str, Any]]]
    counts: pulumi.Output[dict[str, int]]

    def __init__(self, name: str, *, kind: str, group_id: pulumi.Input[str], namespace: str, service: str, mode: str,
                 pools: list[str], port: pulumi.Input[int] = 0, server_type: Optional[str] = None,
                 port_name: Optional[str] = None, region_id: Optional[str] = None, drain_seconds: float = 0,
                 ingress: Optional[pulumi.Input[list[dict[str, pulumi.Input[str]]]]] = None,
                 controller: bool = False, wait_seconds: float = WAIT_SECONDS,
                 opts: Optional[pulumi.ResourceOptions] = None, provider: Optional[BackendSyncProvider] = None):
        """`ingress`: the load balancer's address(es), `[{"ip": ...}]` or `[{"hostname": ...}]`, recorded for the
        controller to publish in the Service's status. `controller`: the in-cluster controller writes the
        backends; this resource writes the record's spec and waits up to `wait_seconds` for it to be synced."""
        super().__init__(provider or BackendSyncProvider(), name, {
            "kind": kind, "groupId": group_id, "namespace": namespace, "service": service, "mode": mode,
            "pools": sorted(pools), "port": port, "serverType": server_type or kind, "portName": port_name,
            "regionId": region_id, "drainSeconds": drain_seconds, "ingress": ingress,
            "controller": controller, "waitSeconds": wait_seconds,
            "backends": None, "counts": None, "desiredHash": None,
        }, opts)
