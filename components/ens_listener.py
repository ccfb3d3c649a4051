"""ENS ELB TCP and HTTPS listeners, which pulumi-alicloud 4.0.0 lacks, as a Pulumi dynamic resource.

The provider creates a listener, starts it (ENS creates listeners Stopped) and waits until it runs,
updates its attributes in place, reads it back for `pulumi refresh` and deletes it, through the
official `alibabacloud-ens20171110` client. Credentials come from the environment or the
`alicloud:` provider configuration, never from inputs (inputs and outputs live in the state).

Inputs use the API's own field names under `attributes`, so the adapter stays a thin mapping:
`{loadBalancerId, protocol: tcp|https, listenerPort, backendServerPort, attributes: {Scheduler, ...}}`.

ENS changes and deletes some listeners only while they are stopped (`ens.STOP_TO_CHANGE`, with its
sources): those are stopped first (and waited for), changed, and started again; a delete leaves them gone.
Any other listener the cloud refuses to change because it runs is stopped and retried the same way.
"""

from __future__ import annotations

import contextlib
from typing import Any, Callable, Optional

import pulumi
from pulumi.dynamic import (
    CheckFailure,
    CheckResult,
    CreateResult,
    DiffResult,
    ReadResult,
    UpdateResult,
)

from cloud.ens import EnsApi
from cloud.retry import wait_for
from components.dynamic import DynamicResource
from components.ens_provider import EnsProvider
from components.wire import fully_known, gone, is_known, normalized

# What cannot change in place: SetLoadBalancer*ListenerAttribute takes no backend port.
REPLACE_ON = ("loadBalancerId", "protocol", "listenerPort", "backendServerPort")
PROTOCOLS = ("tcp", "https")
# API field names each protocol's create and set calls accept under `attributes`.
ATTRIBUTES = {
    "tcp": frozenset({"Description", "Scheduler", "PersistenceTimeout", "EstablishedTimeout", "EipTransmit",
                      "HealthCheckType", "HealthCheckURI", "HealthCheckDomain", "HealthCheckHttpCode",
                      "HealthCheckConnectPort", "HealthCheckConnectTimeout", "HealthCheckInterval",
                      "HealthyThreshold", "UnhealthyThreshold"}),
    "https": frozenset({"Description", "Scheduler", "ServerCertificateId", "HealthCheck", "HealthCheckURI",
                        "HealthCheckDomain", "HealthCheckHttpCode", "HealthCheckMethod", "HealthCheckConnectPort",
                        "HealthCheckTimeout", "HealthCheckInterval", "HealthyThreshold", "UnhealthyThreshold",
                        "IdleTimeout", "RequestTimeout"}),
}
REQUIRED = {"tcp": frozenset({"Scheduler"}), "https": frozenset({"Scheduler", "ServerCertificateId"})}
# Attributes that name a port (1-65535, as the API reference says).
PORT_ATTRIBUTES = ("HealthCheckConnectPort",)


def listener_id(lb_id: str, protocol: str, port: int) -> str:
    return f"{lb_id}/{protocol}/{int(port)}"


class EnsListenerProvider(EnsProvider):
    """TCP and HTTPS listeners of an ENS ELB."""


    # --- Pulumi protocol ------------------------------------------------------------------------

    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        """Validates what is known; unknowns (a first preview) go back unchanged, so the engine sees them."""
        failures = []
        protocol = news.get("protocol")
        if is_known(protocol) and protocol not in PROTOCOLS:
            failures.append(CheckFailure("protocol", f"{protocol!r} is not one of {', '.join(PROTOCOLS)}"))
        for key in ("listenerPort", "backendServerPort"):
            if not _is_port(news.get(key)):
                failures.append(CheckFailure(key, f"{normalized(news.get(key))!r} is not a port number (1-65535)"))
        lb_id = news.get("loadBalancerId")
        if is_known(lb_id) and not (isinstance(lb_id, str) and lb_id.startswith("lb-")):
            failures.append(CheckFailure("loadBalancerId", f"{lb_id!r} is not an ELB id (lb-...)"))
        attributes = news.get("attributes")
        if is_known(attributes):
            failures += _check_attributes(protocol if protocol in PROTOCOLS else None, attributes or {})
        return CheckResult(normalized(news), failures)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        """An unknown replace-on input may change, so it reports a replacement; an unknown attribute a change."""
        olds, news = normalized(olds), normalized(news)
        replaces = [key for key in REPLACE_ON if not is_known(news.get(key)) or olds.get(key) != news.get(key)]
        attributes = news.get("attributes")
        drift = olds.get("status") not in (None, "Running")
        changed = replaces or not fully_known(attributes) or olds.get("attributes") != attributes or drift
        return DiffResult(changes=bool(changed), replaces=replaces, delete_before_replace=True)

    def create(self, props: dict[str, Any]) -> CreateResult:
        props = normalized(props)
        api, protocol = self.api(), props["protocol"]
        lb_id, port = props["loadBalancerId"], props["listenerPort"]
        self._wait_active(api, lb_id)
        try:
            api.create_listener(protocol, lb_id, port, props["backendServerPort"], props.get("attributes") or {})
        except Exception as exc:  # noqa: BLE001 - an earlier attempt may have created it already
            if not api.is_conflict(exc):
                raise
            attributes = props.get("attributes") or {}
            self._stopped_for(api, protocol, lb_id, port, lambda: api.set_listener(protocol, lb_id, port, attributes))
        status = self._ensure_running(api, protocol, lb_id, port)
        return CreateResult(listener_id(lb_id, protocol, port), {**props, "status": status})

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        news = normalized(news)
        api, protocol = self.api(), news["protocol"]
        lb_id, port, attributes = news["loadBalancerId"], news["listenerPort"], news.get("attributes") or {}
        self._stopped_for(api, protocol, lb_id, port, lambda: api.set_listener(protocol, lb_id, port, attributes))
        status = self._ensure_running(api, protocol, lb_id, port)
        return UpdateResult({**news, "status": status})

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        props = normalized(props)
        lb_id, protocol, port = _parse_id(id_, props)
        try:
            live = self.api().describe_listener(protocol, lb_id, port)
        except Exception as exc:  # noqa: BLE001
            if gone(exc):
                return ReadResult("", {})
            raise
        managed = props.get("attributes") or {}
        attributes = {key: normalized(live.get(key)) for key in managed}
        outs = {**props, "loadBalancerId": lb_id, "protocol": protocol, "listenerPort": port,
                "backendServerPort": normalized(live.get("BackendServerPort", props.get("backendServerPort"))),
                "attributes": attributes, "status": live.get("Status")}
        return ReadResult(id_, outs)

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        lb_id, protocol, port = _parse_id(id_, normalized(props))
        api = self.api()
        try:
            self._stopped_for(api, protocol, lb_id, port, lambda: api.delete_listener(protocol, lb_id, port))
        except Exception as exc:  # noqa: BLE001
            if not gone(exc):
                raise

    # --- steps ----------------------------------------------------------------------------------

    def _stopped_for(self, api: EnsApi, protocol: str, lb_id: str, port: int, change: Callable[[], None]) -> None:
        """`change()` (a Set or a Delete) on a listener stopped first where ENS requires it.

        A listener of a protocol ENS is known to refuse while running is stopped up front; any other is
        stopped only when the cloud refuses the change because it runs. A change that fails after the stop
        starts the listener again: the engine keeps the old outputs (status Running) when a method raises,
        so the old configuration must keep serving."""
        if not api.stops_to_change(protocol):
            try:
                return change()
            except Exception as exc:  # noqa: BLE001 - only the "stop it first" answer is handled here
                if not api.needs_stop(exc):
                    raise
        self._stop(api, protocol, lb_id, port)
        try:
            return change()
        except Exception as exc:
            if not gone(exc):
                with contextlib.suppress(Exception):  # the change's error is the one to report
                    self._ensure_running(api, protocol, lb_id, port)
            raise

    def _stop(self, api: EnsApi, protocol: str, lb_id: str, port: int) -> None:
        status = api.describe_listener(protocol, lb_id, port).get("Status")
        if status == "Stopped":
            return
        if status != "Stopping":
            api.stop_listener(protocol, lb_id, port)
        wait_for(lambda: api.describe_listener(protocol, lb_id, port), lambda d: d.get("Status") == "Stopped",
                 what=f"{protocol.upper()} listener {port} of {lb_id} to stop", timeout=self.wait_timeout,
                 interval=self.poll_interval, describe=lambda d: d.get("Status"))

    def _wait_active(self, api, lb_id: str) -> None:
        """ELB creation is asynchronous; listeners can only be added once it is Active."""
        wait_for(lambda: api.describe_load_balancer(lb_id), lambda d: d.get("LoadBalancerStatus") == "Active",
                 what=f"ELB {lb_id} to become Active", timeout=self.wait_timeout, interval=self.poll_interval,
                 describe=lambda d: d.get("LoadBalancerStatus"))

    def _ensure_running(self, api, protocol: str, lb_id: str, port: int) -> str:
        status = api.describe_listener(protocol, lb_id, port).get("Status")
        if status == "Running":
            return status
        if status != "Starting":
            api.start_listener(protocol, lb_id, port)
        live = wait_for(lambda: api.describe_listener(protocol, lb_id, port), lambda d: d.get("Status") == "Running",
                        what=f"{protocol.upper()} listener {port} of {lb_id} to run", timeout=self.wait_timeout,
                        interval=self.poll_interval, describe=lambda d: d.get("Status"))
        return live["Status"]


def _is_port(value: Any) -> bool:
    """A port number, or not known yet (checked again once it is)."""
    value = normalized(value)
    return not is_known(value) or (isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 65535)


def _check_attributes(protocol: Optional[str], attributes: Any) -> list[CheckFailure]:
    """Names (always known: they are the program's keys) and port values of `attributes`; no rules without a
    known protocol."""
    if not isinstance(attributes, dict):
        return [CheckFailure("attributes", f"{attributes!r} is not a map of listener attributes")]
    failures = []
    if protocol is not None:
        unknown = sorted(set(attributes) - ATTRIBUTES[protocol])
        if unknown:
            failures.append(CheckFailure("attributes", f"not {protocol.upper()} listener attributes: {unknown}"))
        missing = sorted(REQUIRED[protocol] - set(attributes))
        if missing:
            failures.append(CheckFailure("attributes", f"{protocol.upper()} listeners need {missing}"))
    for key in PORT_ATTRIBUTES:
        if key in attributes and not _is_port(attributes[key]):
            failures.append(CheckFailure(f"attributes.{key}", f"{attributes[key]!r} is not a port number (1-65535)"))
    return failures


def _parse_id(id_: str, props: dict[str, Any]) -> tuple[str, str, int]:
    parts = id_.split("/")
    if len(parts) == 3 and parts[2].isdigit():
        return parts[0], parts[1], int(parts[2])
    return props["loadBalancerId"], props["protocol"], int(props["listenerPort"])


class EnsListener(DynamicResource, module="ens", name="Listener"):
    """One TCP or HTTPS listener of an ENS ELB (dynamic resource)."""

    status: pulumi.Output[str]

    def __init__(self, name: str, *, load_balancer_id: pulumi.Input[str], protocol: str, listener_port: int,
                 backend_server_port: pulumi.Input[int], attributes: dict[str, pulumi.Input[Any]],
                 opts: Optional[pulumi.ResourceOptions] = None, provider: Optional[EnsListenerProvider] = None):
        super().__init__(provider or EnsListenerProvider(), name, {
            "loadBalancerId": load_balancer_id, "protocol": protocol, "listenerPort": listener_port,
            "backendServerPort": backend_server_port, "attributes": attributes, "status": None,
        }, opts)
