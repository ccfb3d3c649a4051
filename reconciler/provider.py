"""BackendSync as a Pulumi dynamic resource: one per backend group (ENS ELB, NLB server group, CLB VServerGroup).

- `diff` reads the cluster (never the cloud, never writes) and reports a change when the inputs or
  the desired set moved, so every `pulumi up` converges and an unchanged cluster costs no cloud call.
- `create` / `update` list the group once and apply the plan; `read` returns the live owned backends
  for `pulumi refresh` (an empty id when the group is gone); `delete` drains, then removes only the
  backends it owns.
Credentials (AccessKey, kubeconfig) come from the environment or the provider configuration, never
from inputs, so they never reach the state.
"""

from __future__ import annotations

from typing import Any, Optional

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
from reconciler.desired import Target
from reconciler.model import BATCH_LIMITS, Backend

MODES = ("cluster", "local", "ip")
# A different group or Service is a different resource: the old one's backends are released.
REPLACE_ON = ("kind", "groupId", "namespace", "service")
INPUTS = (*REPLACE_ON, "regionId", "portName", "mode", "pools", "port", "serverType", "drainSeconds")
KUBECONFIG_CONFIG = credentials.KUBECONFIG_CONFIG  # the setting pulumi-kubernetes reads, usually a secret


def _inputs(props: dict[str, Any]) -> dict[str, Any]:
    return {key: normalized(props.get(key)) for key in INPUTS}


def _stored(props: dict[str, Any]) -> list[Backend]:
    return [Backend.from_dict(normalized(raw)) for raw in props.get("backends") or []]


def _outputs(inputs: dict[str, Any], backends: tuple[Backend, ...] | list[Backend], desired_hash: str,
             without_port: int = 0) -> dict[str, Any]:
    serving = sum(1 for b in backends if b.weight > 0)
    return {**inputs, "backends": [b.as_dict() for b in sorted(backends)], "desiredHash": desired_hash,
            "counts": {"total": len(backends), "serving": serving, "draining": len(backends) - serving,
                       "withoutPort": without_port}}


class BackendSyncProvider(ResourceProvider):
    """Stateless until `configure`; the serialized provider holds only these bounds."""

    def __init__(self, policy: Any = None, poll_interval: float = 1.0, read_timeout: float = 15.0):
        self.policy = policy
        self.poll_interval = poll_interval  # NLB jobs
        self.read_timeout = read_timeout    # one cloud call

    def configure(self, req: ConfigureRequest) -> None:
        # Every `alicloud:` setting pulumi-alicloud reads, and `kubernetes:kubeconfig` / `kubernetes:context`;
        # held in memory only, never serialized into the state.
        self._config = credentials.provider_config(req.config, kubernetes=True)

    # --- the three layers, built per call -------------------------------------------------------

    def _view(self, props: dict[str, Any]):
        from reconciler.cluster import load_api_client, read_cluster

        api = load_api_client(getattr(self, "_config", None))
        try:
            return read_cluster(api, props["namespace"], props["service"], props.get("portName"))
        finally:
            api.close()

    def _group(self, props: dict[str, Any]):
        from reconciler.groups import group_for, owner_mark

        return group_for(props["kind"], props["groupId"], owner=owner_mark(props["namespace"], props["service"]),
                         region=props.get("regionId"), config=getattr(self, "_config", None), policy=self.policy,
                         poll_interval=self.poll_interval, read_timeout=self.read_timeout)

    @staticmethod
    def _target(props: dict[str, Any]) -> Target:
        return Target(props["mode"], frozenset(props.get("pools") or ()), int(props.get("port") or 0),
                      props.get("serverType") or props["kind"])

    def _sync(self, props: dict[str, Any], owned: set[tuple[str, int]]) -> dict[str, Any]:
        from reconciler.sync import sync

        result = sync(self._group(props), self._target(props), self._view(props), owned,
                      drain_seconds=float(props.get("drainSeconds") or 0))
        return _outputs(props, result.backends, result.desired_hash, len(result.without_port))

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
        return CheckResult(normalized(news), failures)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        from reconciler.desired import desired
        from reconciler.sync import desired_hash

        before, after = _inputs(olds), _inputs(news)
        # An input not known yet (a preview) may be anything: a replace-on input may replace.
        replaces = [key for key in REPLACE_ON if not is_known(after[key]) or before[key] != after[key]]
        if replaces or not fully_known(after) or before != after:
            return DiffResult(changes=True, replaces=replaces)
        wanted = desired(self._view(after), self._target(after))
        # What the cloud keeps of a backend: its key, weight and type (a refresh reads back no more).
        stored = {b.key: (b.weight, b.type) for b in _stored(olds)}
        moved = desired_hash(wanted) != olds.get("desiredHash") or stored != {k: (b.weight, b.type)
                                                                            for k, b in wanted.items()}
        return DiffResult(changes=moved, replaces=[])

    def create(self, props: dict[str, Any]) -> CreateResult:
        props = _inputs(props)
        outs = self._sync(props, set())
        return CreateResult(f"{props['kind']}:{props['groupId']}:{props['namespace']}/{props['service']}", outs)

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        return UpdateResult(self._sync(_inputs(news), {b.key for b in _stored(olds)}))

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        props = normalized(props)
        group = self._group(props)
        try:
            live = group.list()
        except Exception as exc:  # noqa: BLE001 - only "gone" is an answer; the rest is an error
            if gone(exc):
                return ReadResult("", {})
            raise
        mine = {b.key for b in _stored(props)} | group.marked(live)
        owned = [b for b in live if b.key in mine]
        return ReadResult(id_, _outputs(_inputs(props), owned, props.get("desiredHash") or ""))

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        from reconciler.sync import release

        props = normalized(props)
        release(self._group(props), {b.key for b in _stored(props)}, drain_seconds=float(props.get("drainSeconds") or 0))


class BackendSync(DynamicResource, module="backends", name="BackendSync"):
    """Keeps one backend group equal to the pods and nodes that should serve a Service."""

    backends: pulumi.Output[list[dict[str, Any]]]
    counts: pulumi.Output[dict[str, int]]

    def __init__(self, name: str, *, kind: str, group_id: pulumi.Input[str], namespace: str, service: str, mode: str,
                 pools: list[str], port: pulumi.Input[int] = 0, server_type: Optional[str] = None,
                 port_name: Optional[str] = None, region_id: Optional[str] = None, drain_seconds: float = 0,
                 opts: Optional[pulumi.ResourceOptions] = None, provider: Optional[BackendSyncProvider] = None):
        super().__init__(provider or BackendSyncProvider(), name, {
            "kind": kind, "groupId": group_id, "namespace": namespace, "service": service, "mode": mode,
            "pools": sorted(pools), "port": port, "serverType": server_type or kind, "portName": port_name,
            "regionId": region_id, "drainSeconds": drain_seconds,
            "backends": None, "counts": None, "desiredHash": None,
        }, opts)
