"""ENS (Edge Node Service, API 2017-11-10): ELBs, listeners, backend servers and EIPs.

Field names and types follow the SDK's models (alibabacloud-ens20171110 12.1): for instance
DescribeLoadBalancerAttribute answers BackendServers[].Port and ListenerPorts as strings, and
DescribeLoadBalancerListeners answers ListenerPort as a string, because the models declare them so.

Asynchronous states advance per observation ("poll"): a describe that reports the resource shows the
transitional status `create_polls` / `start_polls` / `associate_polls` times, then the final one
(0 = final at once). Calls that need a settled resource answer IncorrectLoadBalancerStatus while an ELB is
Creating and IncorrectEipStatus while an EIP is Associating, as the real service does for a busy resource.

Choices where the documentation gives no code (see ERRORS for the wording):
- More than 20 backend servers in one call, malformed BackendServers: `InvalidParameter.BackendServers`
  (ENS documents `InvalidParameter.%s` for invalid fields); ranges and choices likewise answer
  `InvalidParameter.<Field>`, absent required parameters `Missing<Field>` (the gateway's form).
- Adding a (ServerId, Port) that is already a backend: an error, `InvalidBackendServers.AlreadyExists`, as CLB
  documents for the same action; duplicates inside one request: the first wins, the rest are ignored (CLB).
  Removing a server that is not there is a no-op; SetBackendServers of a server that is not there:
  `InvalidBackendServers.NotFound`. Add/Remove/Set answer the servers the call acted on.
- Unknown instance: `InvalidInstanceId.NotFound`; known but not Running: `IncorrectInstanceStatus`.
- A listener on a port already taken by a listener of the same transport (TCP, HTTP and HTTPS share one):
  `ListenerAlreadyExists`; UDP and TCP may share a port number.
- Releasing an ELB that still has an EIP: `DependencyViolation.Eip`; releasing an EIP that is not Available,
  or associating one that is not Available: `IncorrectEipStatus`; an ELB that already has an EIP:
  `InvalidAssociation.Duplicated`. ReleaseInstance answers ResourceType "elb", "eip" or "instance".
- A ClientToken reused with other parameters: `IdempotentParameterMismatch`.

Listeners changed and deleted only while Stopped (`STOP_TO_CHANGE`): SetLoadBalancer<P>ListenerAttribute and
DeleteLoadBalancerListener on one that is Running, Starting or Stopping answer `IncorrectListenerStatus` and change
nothing. HTTP: terraform-provider-alicloud `alicloud/resource_alicloud_ens_load_balancer_http_listener.go`
(f783645) stops the listener and retries both calls on that code (or IncorrectInstanceStatus). UDP is exempt: its
`resource_alicloud_ens_load_balancer_udp_listener.go` sets and deletes a running listener. HTTPS is held to the
HTTP rule by inference (the other L7 listener; Terraform has none and the API reference pages state no rule); TCP
is exempt, as no source asks for a stop. The message is the emulator's own (no source quotes ENS's).
`stop_to_change=` changes the set; `stop_polls` makes a stop asynchronous (Stopping, then Stopped, as the SDK
documents both).
"""

from __future__ import annotations

import itertools
import re
from functools import partialmethod
from typing import Any, Callable

from .product import (
    Params,
    Product,
    invalid,
    missing,
    new_id,
    now_iso,
    observe,
    page,
    public,
    read_attributes,
    transition,
)

ERRORS: dict[str, tuple[int, str]] = {
    "InvalidLoadBalancerId.NotFound": (404, "The specified load balancer does not exist."),
    "IncorrectLoadBalancerStatus": (400, "The current status of the load balancer does not support this operation."),
    "ListenerAlreadyExists": (400, "The specified listener port is already in use."),
    "InvalidListener.NotFound": (404, "The specified listener does not exist."),
    "InvalidInstanceId.NotFound": (400, "Specified instance does not exist."),
    "IncorrectInstanceStatus": (400, "The current status of instance does not support this operation."),
    "InvalidBackendServers.AlreadyExists": (400, "The backend server is already added to the load balancer."),
    "InvalidBackendServers.NotFound": (400, "The backend server is not added to the load balancer."),
    "InvalidAllocationId.NotFound": (404, "Specified allocation ID is not found."),
    "IncorrectEipStatus": (400, "Current elastic IP status does not support this operation."),
    "InvalidAssociation.Duplicated": (400, "The instance already has an elastic IP address associated."),
    "DependencyViolation.Eip": (400, "The load balancer still has an elastic IP address associated."),
    "IdempotentParameterMismatch": (400, "The request uses the same client token as a previous, but non-identical "
                                         "request."),
    "IncorrectListenerStatus": (400, "The current status of the listener does not support this operation."),
}

SCHEDULERS_L4 = ("wrr", "wlc", "rr", "sch", "tch")
ON_OFF = ("choice", ("on", "off"))
PORT = ("int", 1, 65535)
TEXT = ("str", 80)
_COMMON = {"BackendServerPort": PORT, "Description": TEXT, "HealthCheckConnectPort": PORT,
           "HealthCheckInterval": ("int", 1, 50), "HealthyThreshold": ("int", 2, 10),
           "UnhealthyThreshold": ("int", 2, 10)}
_L4 = {**_COMMON, "Scheduler": ("choice", SCHEDULERS_L4), "EstablishedTimeout": ("int", 10, 900),
       "HealthCheckConnectTimeout": ("int", 1, 300), "EipTransmit": ("str", 16)}
_L7 = {**_COMMON, "Scheduler": ("choice", ("wrr", "wlc", "rr")), "HealthCheck": ON_OFF, "HealthCheckDomain": TEXT,
       "HealthCheckHttpCode": TEXT, "HealthCheckMethod": ("choice", ("head", "get")),
       "HealthCheckTimeout": ("int", 1, 300),
       "HealthCheckURI": TEXT, "IdleTimeout": ("int", 1, 60), "RequestTimeout": ("int", 1, 180),
       "ListenerForward": ON_OFF, "ForwardPort": PORT}
# Attributes each protocol accepts (create and set) and reports, with their documented ranges.
SPECS: dict[str, dict[str, tuple]] = {
    "tcp": {**_L4, "PersistenceTimeout": ("int", 0, 3600), "HealthCheckType": ("choice", ("tcp", "http")),
            "HealthCheckDomain": TEXT, "HealthCheckHttpCode": TEXT, "HealthCheckURI": TEXT},
    "udp": {**_L4, "HealthCheckExp": TEXT, "HealthCheckReq": TEXT},
    "http": {**_L7, "XForwardedFor": ON_OFF},
    "https": {**_L7, "ServerCertificateId": ("str", 128), "Cookie": ("str", 200), "CookieTimeout": ("int", 1, 86400),
              "StickySessionType": ("choice", ("insert", "server"))},
}
_HEALTH = {"HealthyThreshold": 3, "UnhealthyThreshold": 3, "HealthCheckInterval": 2}
DEFAULTS: dict[str, dict[str, Any]] = {
    "tcp": {**_HEALTH, "Scheduler": "wrr", "EstablishedTimeout": 900, "PersistenceTimeout": 0,
            "HealthCheckType": "tcp", "HealthCheckConnectTimeout": 5},
    "udp": {**_HEALTH, "Scheduler": "wrr", "EstablishedTimeout": 900, "HealthCheckConnectTimeout": 5},
    "http": {**_HEALTH, "Scheduler": "wrr", "HealthCheck": "off", "IdleTimeout": 15, "RequestTimeout": 60,
             "ListenerForward": "off", "XForwardedFor": "on"},
    "https": {**_HEALTH, "Scheduler": "wrr", "HealthCheck": "off", "IdleTimeout": 15, "RequestTimeout": 60,
              "ListenerForward": "off"},
}
TRANSPORT = {"tcp": "tcp", "http": "tcp", "https": "tcp", "udp": "udp"}
STOP_TO_CHANGE = frozenset({"http", "https"})  # see the module docstring for the sources
SPEC_PATTERN = re.compile(r"elb\.s\d\.(small|medium|large|xlarge|\dxlarge)")


class Ens(Product):
    name, version, host = "ens", "2017-11-10", "ens.aliyuncs.com"
    ERRORS = ERRORS
    # Per account (access key), from the API reference: backends 10/s, CreateLoadBalancer 5/s,
    # CreateLoadBalancerTCPListener 10/s (the other listener creations assumed alike).
    RATE_LIMITS = {"AddBackendServers": 10, "RemoveBackendServers": 10, "SetBackendServers": 10,
                   "CreateLoadBalancer": 5, "CreateLoadBalancerTCPListener": 10, "CreateLoadBalancerUDPListener": 10,
                   "CreateLoadBalancerHTTPListener": 10, "CreateLoadBalancerHTTPSListener": 10}

    def __init__(self, create_polls: int = 1, start_polls: int = 1, associate_polls: int = 1,
                 max_backends_per_call: int = 20, stop_polls: int = 0,
                 stop_to_change: frozenset[str] = STOP_TO_CHANGE):
        super().__init__()
        self.create_polls, self.start_polls, self.associate_polls = create_polls, start_polls, associate_polls
        self.stop_polls, self.stop_to_change = stop_polls, frozenset(stop_to_change)
        self.max_backends_per_call = max_backends_per_call
        self.instances: dict[str, str] = {}  # ENS instance or ENI id -> status; tests fill it ("Running", ...)
        self.load_balancers: dict[str, dict[str, Any]] = {}
        self.eips: dict[str, dict[str, Any]] = {}
        self._tokens: dict[tuple[str, str], tuple[dict[str, str], dict[str, Any]]] = {}
        self._serial = itertools.count(1)

    # --- shared lookups -------------------------------------------------------------------------

    def _idempotent(self, action: str, p: Params, create: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        token = p.get("ClientToken")
        if not token:
            return create()
        fingerprint = {k: v for k, v in p.items() if k != "ClientToken"}
        if (action, token) in self._tokens:
            seen, answer = self._tokens[(action, token)]
            if seen != fingerprint:
                raise self.error("IdempotentParameterMismatch")
            return dict(answer)
        answer = create()
        self._tokens[(action, token)] = (fingerprint, dict(answer))
        return answer

    def _lb(self, p: Params, active: bool = False) -> dict[str, Any]:
        lb = self.load_balancers.get(p.get_str("LoadBalancerId", required=True) or "")
        if lb is None:
            raise self.error("InvalidLoadBalancerId.NotFound")
        if active and lb["LoadBalancerStatus"] != "Active":
            raise self.error("IncorrectLoadBalancerStatus")
        return lb

    def _listener(self, p: Params, protocol: str = "", active: bool = False) -> tuple[dict[str, Any], dict[str, Any]]:
        """(ELB, listener) named by LoadBalancerId, ListenerPort and the protocol (else ListenerProtocol)."""
        lb = self._lb(p, active)
        if not protocol:
            protocol = (p.get_str("ListenerProtocol", required=True) or "").lower()
            if protocol not in SPECS:
                raise invalid("ListenerProtocol", "Valid values: tcp, udp, http, https.")
        listener = lb["_listeners"].get((protocol, p.get_int("ListenerPort", 1, 65535, required=True)))
        if listener is None:
            raise self.error("InvalidListener.NotFound")
        return lb, listener

    def _running(self, instance_id: str) -> None:
        status = self.instances.get(instance_id)
        if status is None:
            raise self.error("InvalidInstanceId.NotFound", f"Specified instance {instance_id} does not exist.")
        if status != "Running":
            raise self.error("IncorrectInstanceStatus",
                             f"The current status of instance {instance_id} ({status}) does not support this "
                             "operation.")

    def _eip(self, p: Params) -> dict[str, Any]:
        eip = self.eips.get(p.get_str("AllocationId", required=True) or "")
        if eip is None:
            raise self.error("InvalidAllocationId.NotFound")
        return eip

    # --- ELB ------------------------------------------------------------------------------------

    def CreateLoadBalancer(self, p: Params) -> dict[str, Any]:
        return self._idempotent("CreateLoadBalancer", p, lambda: self._create_lb(p))

    def _create_lb(self, p: Params) -> dict[str, Any]:
        region = p.get_str("EnsRegionId", required=True)
        spec = p.get_str("LoadBalancerSpec", required=True) or ""
        if not SPEC_PATTERN.fullmatch(spec):
            raise invalid("LoadBalancerSpec", "For example elb.s2.small.")
        network, vswitch = p.get_str("NetworkId", required=True), p.get_str("VSwitchId", required=True)
        pay_type = p.get_str("PayType", required=True, choices=("PostPaid",))
        name = p.get_str("LoadBalancerName", max_len=80) or new_id("elb", 12)
        if name.startswith(("http://", "https://")):
            raise invalid("LoadBalancerName", "It cannot start with http:// or https://.")
        n = next(self._serial)
        lb = {"LoadBalancerId": new_id("lb"), "LoadBalancerName": name, "LoadBalancerSpec": spec,
              "EnsRegionId": region, "NetworkId": network, "VSwitchId": vswitch, "PayType": pay_type,
              "Address": f"10.{(n >> 16) & 255}.{(n >> 8) & 255}.{n & 255}", "AddressIPVersion": "ipv4",
              "AddressType": "Intranet", "CreateTime": now_iso(), "_listeners": {}, "_backends": []}
        if p.get_str("LoadBalancerType"):
            lb["LoadBalancerType"] = p["LoadBalancerType"]
        transition(lb, "LoadBalancerStatus", "Creating", "Active", self.create_polls)
        self.load_balancers[lb["LoadBalancerId"]] = lb
        return {k: lb[k] for k in ("LoadBalancerId", "LoadBalancerName", "NetworkId", "VSwitchId")}

    def DescribeLoadBalancerAttribute(self, p: Params) -> dict[str, Any]:
        lb = self._lb(p)
        listeners = sorted(lb["_listeners"].values(), key=lambda item: (item["ListenerPort"], item["Protocol"]))
        shown = ("ListenerPort", "BackendServerPort", "Description", "ForwardPort", "ListenerForward")
        return {**public(lb), "LoadBalancerStatus": observe(lb, "LoadBalancerStatus"),
                "ListenerPorts": [str(item["ListenerPort"]) for item in listeners],
                "ListenerPortsAndProtocols": [{"ListenerProtocol": item["Protocol"],
                                               **{k: item[k] for k in shown if k in item}} for item in listeners],
                "BackendServers": [{**b, "Port": str(b["Port"])} if "Port" in b else dict(b) for b in lb["_backends"]]}

    def ModifyLoadBalancerAttribute(self, p: Params) -> dict[str, Any]:
        # "The name must be 2 to 128 characters in length ... cannot start with http:// or https://"
        # (ModifyLoadBalancerAttribute, ENS 2017-11-10).
        lb = self._lb(p)
        name = p.get_str("LoadBalancerName", required=True, max_len=128) or ""
        if len(name) < 2 or name.startswith(("http://", "https://")):
            raise invalid("LoadBalancerName", "2 to 128 characters, not starting with http:// or https://.")
        lb["LoadBalancerName"] = name
        return {}

    def DescribeLoadBalancers(self, p: Params) -> dict[str, Any]:
        wanted = {k: p.get_str(k) for k in ("LoadBalancerId", "LoadBalancerName", "EnsRegionId", "NetworkId",
                                            "VSwitchId", "LoadBalancerStatus", "Address")}
        regions = set(p.get_list("EnsRegionIds"))
        found = [lb for lb in self.load_balancers.values()
                 if all(v is None or lb.get(k) == v for k, v in wanted.items())
                 and (not regions or lb["EnsRegionId"] in regions)]
        shown, paging = page(found, p)
        items = [{**public(lb), "LoadBalancerStatus": observe(lb, "LoadBalancerStatus")} for lb in shown]
        return {"LoadBalancers": {"LoadBalancer": items}, **paging}

    def ReleaseInstance(self, p: Params) -> dict[str, Any]:
        instance_id = p.get_str("InstanceId", required=True) or ""
        if instance_id in self.load_balancers:
            if any(e["InstanceId"] == instance_id for e in self.eips.values()):
                raise self.error("DependencyViolation.Eip")
            del self.load_balancers[instance_id]
            return {"ResourceType": "elb"}
        if instance_id in self.eips:
            if self.eips[instance_id]["Status"] != "Available":
                raise self.error("IncorrectEipStatus")
            del self.eips[instance_id]
            return {"ResourceType": "eip"}
        if instance_id in self.instances:
            del self.instances[instance_id]
            for lb in self.load_balancers.values():
                lb["_backends"] = [b for b in lb["_backends"] if b["ServerId"] != instance_id]
            return {"ResourceType": "instance"}
        raise self.error("InvalidInstanceId.NotFound")

    # --- listeners ------------------------------------------------------------------------------

    def _create_listener(self, protocol: str, p: Params) -> dict[str, Any]:
        lb = self._lb(p, active=True)
        port = p.get_int("ListenerPort", 1, 65535, required=True)
        attributes = read_attributes(p, SPECS[protocol])
        if protocol == "https" and "ServerCertificateId" not in attributes:
            raise missing("ServerCertificateId")
        if attributes.get("ListenerForward") == "on" and "ForwardPort" not in attributes:
            raise missing("ForwardPort")
        if any(TRANSPORT[other] == TRANSPORT[protocol] and taken == port for other, taken in lb["_listeners"]):
            raise self.error("ListenerAlreadyExists", f"The specified listener port {port} is already in use.")
        lb["_listeners"][(protocol, port)] = {**DEFAULTS[protocol], **attributes, "ListenerPort": port,
                                              "Protocol": protocol, "Status": "Stopped", "CreateTime": now_iso(),
                                              "LoadBalancerId": lb["LoadBalancerId"]}
        return {}

    def _describe_listener(self, protocol: str, p: Params) -> dict[str, Any]:
        _, listener = self._listener(p, protocol)
        reported = {k: v for k, v in listener.items() if k in SPECS[protocol] or k == "ListenerPort"}
        return {**reported, "Bandwidth": -1, "Status": observe(listener, "Status")}

    def _set_listener(self, protocol: str, p: Params) -> dict[str, Any]:
        _, listener = self._listener(p, protocol, active=True)
        changed = {**listener, **read_attributes(p, SPECS[protocol])}
        if changed.get("ListenerForward") == "on" and "ForwardPort" not in changed:
            raise missing("ForwardPort")
        self._stopped(listener)
        listener.update(changed)
        return {}

    def _stopped(self, listener: dict[str, Any]) -> None:
        """Protocols in `stop_to_change` are changed and deleted only while Stopped (module docstring)."""
        if listener["Protocol"] in self.stop_to_change and listener["Status"] != "Stopped":
            raise self.error("IncorrectListenerStatus")

    def StartLoadBalancerListener(self, p: Params) -> dict[str, Any]:
        _, listener = self._listener(p, active=True)
        if listener["Status"] == "Stopped":
            transition(listener, "Status", "Starting", "Running", self.start_polls)
        return {}

    def StopLoadBalancerListener(self, p: Params) -> dict[str, Any]:
        _, listener = self._listener(p, active=True)
        if listener["Status"] not in ("Stopped", "Stopping"):
            transition(listener, "Status", "Stopping", "Stopped", self.stop_polls)
        return {}

    def DeleteLoadBalancerListener(self, p: Params) -> dict[str, Any]:
        lb, listener = self._listener(p)
        self._stopped(listener)
        del lb["_listeners"][(listener["Protocol"], listener["ListenerPort"])]
        return {}

    def DescribeLoadBalancerListeners(self, p: Params) -> dict[str, Any]:
        lbs = [self._lb(p)] if p.get_str("LoadBalancerId") else list(self.load_balancers.values())
        port, description = p.get_int("ListenerPort", 1, 65535), p.get_str("Description")
        found = [item for lb in lbs for item in sorted(lb["_listeners"].values(), key=lambda i: i["ListenerPort"])
                 if (port is None or item["ListenerPort"] == port)
                 and (description is None or item.get("Description") == description)]
        shown, paging = page(found, p)
        keys = ("LoadBalancerId", "Protocol", "BackendServerPort", "Description", "CreateTime", "ListenerForward")
        items = [{**{k: item[k] for k in keys if k in item}, "ListenerPort": str(item["ListenerPort"]),
                  **({"ForwardPort": str(item["ForwardPort"])} if "ForwardPort" in item else {}),
                  "Status": observe(item, "Status")} for item in shown]
        return {"Listeners": {"Listener": items}, **paging}

    # --- backend servers ------------------------------------------------------------------------

    def _servers(self, p: Params, with_port: bool) -> list[dict[str, Any]]:
        raw = p.get_json("BackendServers", required=True)
        if not isinstance(raw, list) or not raw or not all(isinstance(item, dict) for item in raw):
            raise invalid("BackendServers", "A JSON array of backend server objects is expected.")
        if len(raw) > self.max_backends_per_call:
            raise invalid("BackendServers", f"At most {self.max_backends_per_call} backend servers per call, "
                                            f"got {len(raw)}.")
        servers = []
        for item in raw:
            s = Params({k: str(v) for k, v in item.items() if v is not None})
            server: dict[str, Any] = {"ServerId": s.get_str("ServerId", required=True)}
            for key, value in (("Type", s.get_str("Type", choices=("ens", "eni"))),
                               ("Weight", s.get_int("Weight", 0, 100)), ("Ip", s.get_str("Ip")),
                               ("Port", s.get_int("Port", 1, 65535) if with_port else None)):
                if value is not None:
                    server[key] = value
            servers.append(server)
        return servers

    def AddBackendServers(self, p: Params) -> dict[str, Any]:
        lb = self._lb(p, active=True)
        servers = self._servers(p, with_port=True)
        existing = {(b["ServerId"], b.get("Port")) for b in lb["_backends"]}
        added: list[dict[str, Any]] = []
        for server in servers:
            self._running(server["ServerId"])
            key = (server["ServerId"], server.get("Port"))
            if key in existing:
                raise self.error("InvalidBackendServers.AlreadyExists",
                                 f"The backend server {server['ServerId']} is already added to the load balancer.")
            if all((a["ServerId"], a.get("Port")) != key for a in added):
                added.append({"Type": "ens", "Weight": 100, **server})
        lb["_backends"].extend(added)  # only after every server passed: a failed call changes nothing
        return {"BackendServers": {"BackendServer": [dict(b) for b in added]}}

    def RemoveBackendServers(self, p: Params) -> dict[str, Any]:
        lb = self._lb(p, active=True)
        servers = self._servers(p, with_port=True)

        def hit(backend: dict[str, Any]) -> bool:
            return any(s["ServerId"] == backend["ServerId"] and s.get("Port") in (None, backend.get("Port"))
                       for s in servers)

        removed = [b for b in lb["_backends"] if hit(b)]
        lb["_backends"] = [b for b in lb["_backends"] if not hit(b)]
        return {"BackendServers": {"BackendServer": removed}}

    def SetBackendServers(self, p: Params) -> dict[str, Any]:
        lb = self._lb(p, active=True)
        servers = self._servers(p, with_port=False)
        for server in servers:
            if not any(b["ServerId"] == server["ServerId"] for b in lb["_backends"]):
                raise self.error("InvalidBackendServers.NotFound",
                                 f"The backend server {server['ServerId']} is not added to the load balancer.")
        changed = []
        for server in servers:
            for backend in lb["_backends"]:
                if backend["ServerId"] == server["ServerId"]:
                    backend.update({k: v for k, v in server.items() if k != "ServerId"})
                    changed.append(dict(backend))
        return {"BackendServers": {"BackendServer": changed}}

    # --- EIP ------------------------------------------------------------------------------------

    def CreateEipInstance(self, p: Params) -> dict[str, Any]:
        return self._idempotent("CreateEipInstance", p, lambda: self._create_eip(p))

    def _create_eip(self, p: Params) -> dict[str, Any]:
        n = next(self._serial)
        tags = [{"TagKey": p[f"Tag.{i}.Key"], "TagValue": p.get(f"Tag.{i}.Value", ""),
                 "Key": p[f"Tag.{i}.Key"], "Value": p.get(f"Tag.{i}.Value", "")}
                for i in range(1, 21) if f"Tag.{i}.Key" in p]
        eip = {"AllocationId": new_id("eip"), "EnsRegionId": p.get_str("EnsRegionId", required=True),
               "Bandwidth": p.get_int("Bandwidth", 5, 10000, default=5),
               "InternetChargeType": p.get_str("InternetChargeType", default="95BandwidthByMonth"),
               "ChargeType": p.get_str("InstanceChargeType", default="PostPaid", choices=("PrePaid", "PostPaid")),
               "Isp": p.get_str("Isp", default=""), "Name": p.get_str("Name", max_len=128, default=""),
               "Description": p.get_str("Description", max_len=256, default=""),
               "IpAddress": p.get_str("IpAddress") or f"100.{64 + ((n >> 16) & 63)}.{(n >> 8) & 255}.{n & 255}",
               "Status": "Available", "InstanceId": "", "InstanceType": "", "AllocationTime": now_iso(),
               "Tags": {"Tag": tags}}
        self.eips[eip["AllocationId"]] = eip
        return {"AllocationId": eip["AllocationId"]}

    def DescribeEnsEipAddresses(self, p: Params) -> dict[str, Any]:
        wanted = {"AllocationId": p.get_str("AllocationId"), "IpAddress": p.get_str("EipAddress"),
                  "Name": p.get_str("EipName"), "EnsRegionId": p.get_str("EnsRegionId"),
                  "InstanceId": p.get_str("AssociatedInstanceId"), "InstanceType": p.get_str("AssociatedInstanceType"),
                  "Status": p.get_str("Status")}
        regions = set(p.get_list("EnsRegionIds"))
        found = [e for e in self.eips.values() if all(v is None or e.get(k) == v for k, v in wanted.items())
                 and (not regions or e["EnsRegionId"] in regions)]
        shown, paging = page(found, p)
        items = [{**public(e), "Status": observe(e, "Status")} for e in shown]
        return {"EipAddresses": {"EipAddress": items}, **paging}

    def AssociateEnsEipAddress(self, p: Params) -> dict[str, Any]:
        eip = self._eip(p)
        instance_id = p.get_str("InstanceId", required=True) or ""
        kind = p.get_str("InstanceType", default="EnsInstance",
                         choices=("SlbInstance", "EnsInstance", "NetworkInterface"))
        if eip["Status"] != "Available":
            raise self.error("IncorrectEipStatus")
        if kind == "SlbInstance":
            self._lb(Params(LoadBalancerId=instance_id), active=True)
        else:
            self._running(instance_id)
        if any(e["InstanceId"] == instance_id for e in self.eips.values()):
            raise self.error("InvalidAssociation.Duplicated")
        eip["InstanceId"], eip["InstanceType"] = instance_id, kind
        transition(eip, "Status", "Associating", "InUse", self.associate_polls)
        return {}

    def UnAssociateEnsEipAddress(self, p: Params) -> dict[str, Any]:
        eip = self._eip(p)
        if not (eip["Status"] == "InUse" or (eip["Status"] == "Associating" and p.get_bool("Force", False))):
            raise self.error("IncorrectEipStatus")
        eip["InstanceId"], eip["InstanceType"] = "", ""
        transition(eip, "Status", "Available", "Available", 0)
        return {}

    def ModifyEnsEipAddressAttribute(self, p: Params) -> dict[str, Any]:
        eip = self._eip(p)
        if eip["Status"] == "Associating":
            raise self.error("IncorrectEipStatus")
        changes = {"Bandwidth": p.get_int("Bandwidth", 5, 10000), "Name": p.get_str("Name", max_len=128),
                   "Description": p.get_str("Description", max_len=256)}
        eip.update({k: v for k, v in changes.items() if v is not None})
        return {}


# One action per protocol and verb (CreateLoadBalancerTCPListener, ...), all served by the same three methods.
for _name in ("TCP", "UDP", "HTTP", "HTTPS"):
    for _action, _method in ((f"CreateLoadBalancer{_name}Listener", Ens._create_listener),
                             (f"DescribeLoadBalancer{_name}ListenerAttribute", Ens._describe_listener),
                             (f"SetLoadBalancer{_name}ListenerAttribute", Ens._set_listener)):
        setattr(Ens, _action, partialmethod(_method, _name.lower()))
