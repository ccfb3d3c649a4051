"""ENS ELB TCP and HTTPS listeners, which pulumi-alicloud 4.0.0 lacks, as a Pulumi dynamic resource.

The provider creates a listener, starts it (ENS creates listeners Stopped) and waits until it runs,
updates its attributes in place, reads it back for `pulumi refresh` and deletes it, through the
official `alibabacloud-ens20171110` client. Credentials come from the environment or the
`alicloud:` provider configuration, never from inputs (inputs and outputs live in the state).

Inputs use the API's own field names under `attributes`, so the adapter stays a thin mapping:
`{loadBalancerId, protocol: tcp|https, listenerPort, backendServerPort, attributes: {Scheduler, ...}}`.
"""

from __future__ import annotations

from typing import Any, Optional

import pulumi
from pulumi.dynamic import (
    CheckFailure,
    CheckResult,
    CreateResult,
    DiffResult,
    ReadResult,
    Resource,
    UpdateResult,
)

from components.cloud.ens import EnsProvider
from components.cloud.wire import gone, normalized

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


def listener_id(lb_id: str, protocol: str, port: int) -> str:
    return f"{lb_id}/{protocol}/{int(port)}"


class EnsListenerProvider(EnsProvider):
    """TCP and HTTPS listeners of an ENS ELB."""


    # --- Pulumi protocol ------------------------------------------------------------------------

    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        failures = []
        protocol = news.get("protocol")
        if protocol not in PROTOCOLS:
            failures.append(CheckFailure("protocol", f"{protocol!r} is not one of {', '.join(PROTOCOLS)}"))
        for key in ("listenerPort", "backendServerPort"):
            port = normalized(news.get(key))
            if not isinstance(port, int) or not 1 <= port <= 65535:
                failures.append(CheckFailure(key, f"{port!r} is not a port number (1-65535)"))
        if not str(news.get("loadBalancerId", "")).startswith("lb-"):
            failures.append(CheckFailure("loadBalancerId", f"{news.get('loadBalancerId')!r} is not an ELB id (lb-...)"))
        attributes = news.get("attributes") or {}
        if protocol in PROTOCOLS:
            unknown = sorted(set(attributes) - ATTRIBUTES[protocol])
            if unknown:
                failures.append(CheckFailure("attributes", f"not {protocol.upper()} listener attributes: {unknown}"))
            missing = sorted(REQUIRED[protocol] - set(attributes))
            if missing:
                failures.append(CheckFailure("attributes", f"{protocol.upper()} listeners need {missing}"))
        return CheckResult(normalized(news), failures)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        olds, news = normalized(olds), normalized(news)
        replaces = [key for key in REPLACE_ON if olds.get(key) != news.get(key)]
        drift = olds.get("status") not in (None, "Running")
        changed = replaces or olds.get("attributes") != news.get("attributes") or drift
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
            api.set_listener(protocol, lb_id, port, props.get("attributes") or {})
        status = self._ensure_running(api, protocol, lb_id, port)
        return CreateResult(listener_id(lb_id, protocol, port), {**props, "status": status})

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        news = normalized(news)
        api, protocol = self.api(), news["protocol"]
        api.set_listener(protocol, news["loadBalancerId"], news["listenerPort"], news.get("attributes") or {})
        status = self._ensure_running(api, protocol, news["loadBalancerId"], news["listenerPort"])
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
        try:
            self.api().delete_listener(protocol, lb_id, port)
        except Exception as exc:  # noqa: BLE001
            if not gone(exc):
                raise

    def _wait_active(self, api, lb_id: str) -> None:
        """ELB creation is asynchronous; listeners can only be added once it is Active."""
        from components.cloud.retry import wait_for

        wait_for(lambda: api.describe_load_balancer(lb_id), lambda d: d.get("LoadBalancerStatus") == "Active",
                 what=f"ELB {lb_id} to become Active", timeout=self.wait_timeout, interval=self.poll_interval,
                 describe=lambda d: d.get("LoadBalancerStatus"))

    def _ensure_running(self, api, protocol: str, lb_id: str, port: int) -> str:
        from components.cloud.retry import wait_for

        status = api.describe_listener(protocol, lb_id, port).get("Status")
        if status == "Running":
            return status
        if status != "Starting":
            api.start_listener(protocol, lb_id, port)
        live = wait_for(lambda: api.describe_listener(protocol, lb_id, port), lambda d: d.get("Status") == "Running",
                        what=f"{protocol.upper()} listener {port} of {lb_id} to run", timeout=self.wait_timeout,
                        interval=self.poll_interval, describe=lambda d: d.get("Status"))
        return live["Status"]


def _parse_id(id_: str, props: dict[str, Any]) -> tuple[str, str, int]:
    parts = id_.split("/")
    if len(parts) == 3 and parts[2].isdigit():
        return parts[0], parts[1], int(parts[2])
    return props["loadBalancerId"], props["protocol"], int(props["listenerPort"])


class EnsListener(Resource):
    """One TCP or HTTPS listener of an ENS ELB (dynamic resource)."""

    status: pulumi.Output[str]

    def __init__(self, name: str, *, load_balancer_id: pulumi.Input[str], protocol: str, listener_port: int,
                 backend_server_port: pulumi.Input[int], attributes: dict[str, pulumi.Input[Any]],
                 opts: Optional[pulumi.ResourceOptions] = None, provider: Optional[EnsListenerProvider] = None):
        super().__init__(provider or EnsListenerProvider(), name, {
            "loadBalancerId": load_balancer_id, "protocol": protocol, "listenerPort": listener_port,
            "backendServerPort": backend_server_port, "attributes": attributes, "status": None,
        }, opts)
