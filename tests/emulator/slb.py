"""SLB / CLB (Classic Load Balancer, API 2014-05-15): instances, VServer groups, backend servers, listeners.

Wire format (alibabacloud-slb20140515 3.3): every parameter in the query string; BackendServers travels as one
JSON string. Config.region_id is not sent as RegionId, and every CLB action requires RegionId: a request
without it answers MissingRegionId, and a resource is found only in its own region. TCP and UDP listener
requests carry `healthCheckInterval` (UDP also `healthCheckExp`, `healthCheckReq`) with a lower-case first letter
and the health check switch as `HealthCheckSwitch`: those are the names read here; attribute answers use
`HealthCheckInterval`, `HealthCheckExp`, `HealthCheckReq`, `HealthCheck`, as the response models do. Lists are
wrapped, `{"BackendServers": {"BackendServer": [...]}}`.

Everything is synchronous: a new CLB is `active` at once, a new listener `stopped` until
StartLoadBalancerListener. Busy codes (BackendServer.configuring, OperationBusy, SystemBusy) exist only as
injected faults.

Documented codes used: InvalidLoadBalancerId.NotFound, InvalidServerId.NotExist (unknown server),
BackendServer.InvalidType, ListenerAlreadyExists; an unknown VServer group answers `InvalidParameter` with "The
specified VServerGroupId does not exist." and an unknown listener "The specified resource does not exist." (the
messages Terraform's provider matches). InstanceBackendServerNumberOverLimit is what the cloud-controller-manager
handles when a CLB exceeds its backend quota. Choices where the reference names no code:
- More than 20 servers in one call, malformed BackendServers: `InvalidParameter.BackendServers`; other
  out-of-range fields `InvalidParameter.<Field>`, absent required ones `Missing<Field>` (as ens.py).
- Backend quota: 200 distinct servers (ServerId, plus ServerIp for eni/eci) over all VServer groups of a CLB.
- Adding a (ServerId, Port) already in the group: `InvalidBackendServers.AlreadyExists` (as ens.py); the same
  server twice in one call: the first wins. Removing one that is not there: ignored (documented).
  SetVServerGroupAttribute of one that is not there: `InvalidBackendServers.NotFound`. Add, Remove and Set answer
  the group's whole list after the change (the Remove reference example shows the servers left).
- A server not Running (ENI: InUse): `IncorrectInstanceStatus` (the ECS code).
- Deleting a VServer group a listener uses: `ResourceInUse.VServerGroup`; a 51st listener:
  `ListenerNumberOverLimit`.
"""

from __future__ import annotations

import itertools
import time
from functools import partialmethod
from typing import Any

from .product import Params, Product, invalid, missing, new_id, now_iso, page, public, read_attributes

ERRORS: dict[str, tuple[int, str]] = {
    "InvalidLoadBalancerId.NotFound": (404, "The specified LoadBalancerId does not exist."),
    "InvalidParameter": (400, "The specified parameter is not valid."),
    "InvalidServerId.NotExist": (400, "The specified ServerId is not exist."),
    "IncorrectInstanceStatus": (400, "The current status of the instance does not support this operation."),
    "BackendServer.InvalidType": (400, "The specified Type is invalid."),
    "InvalidBackendServers.AlreadyExists": (400, "The backend server is already added to the vServer group."),
    "InvalidBackendServers.NotFound": (400, "The backend server is not in the vServer group."),
    "InstanceBackendServerNumberOverLimit": (400, "The number of backend servers exceeds the quota of the "
                                                  "load balancer."),
    "ListenerAlreadyExists": (400, "The specified listener port is already in use."),
    "ListenerNumberOverLimit": (400, "The number of listeners exceeds the quota of the load balancer."),
    "ResourceInUse.VServerGroup": (400, "The specified VServerGroup is used by a listener."),
    "BackendServer.configuring": (400, "A previous configuration of the load balancer is pending; please try "
                                       "again later."),
    "OperationBusy": (400, "The operation is busy."),
    "SystemBusy": (400, "The system is busy."),
}
NO_VSERVER_GROUP = "The specified VServerGroupId does not exist."
NO_LISTENER = "The specified resource does not exist."

ON_OFF = ("choice", ("on", "off"))
PORT = ("int", 1, 65535)
TEXT = ("str", 80)
_HEALTH = {"HealthyThreshold": ("int", 2, 10), "UnhealthyThreshold": ("int", 2, 10), "HealthCheckConnectPort": PORT,
           "BackendServerPort": PORT, "Description": ("str", 256), "Bandwidth": ("int", -1, 5120)}
_L4 = {**_HEALTH, "Scheduler": ("choice", ("wrr", "rr", "wlc", "sch", "tch")), "HealthCheckSwitch": ON_OFF,
       "HealthCheckConnectTimeout": ("int", 1, 300), "healthCheckInterval": ("int", 1, 50)}
# Attributes each protocol accepts, under their wire names, with their documented ranges.
SPECS: dict[str, dict[str, tuple]] = {
    "tcp": {**_L4, "PersistenceTimeout": ("int", 0, 3600), "EstablishedTimeout": ("int", 10, 900),
            "HealthCheckType": ("choice", ("tcp", "http")), "HealthCheckDomain": TEXT, "HealthCheckURI": TEXT,
            "HealthCheckHttpCode": TEXT, "ConnectionDrain": ON_OFF, "ConnectionDrainTimeout": ("int", 10, 900)},
    "udp": {**_L4, "healthCheckExp": ("str", 512), "healthCheckReq": ("str", 512)},
    "http": {**_HEALTH, "Scheduler": ("choice", ("wrr", "rr", "wlc")), "HealthCheck": ON_OFF,
             "HealthCheckInterval": ("int", 1, 50), "HealthCheckTimeout": ("int", 1, 300), "HealthCheckURI": TEXT,
             "HealthCheckDomain": TEXT, "HealthCheckHttpCode": TEXT, "HealthCheckMethod": ("choice", ("head", "get")),
             "StickySession": ON_OFF, "StickySessionType": ("choice", ("insert", "server")), "Cookie": ("str", 200),
             "CookieTimeout": ("int", 1, 86400), "XForwardedFor": ON_OFF, "IdleTimeout": ("int", 1, 60),
             "RequestTimeout": ("int", 1, 180), "Gzip": ON_OFF, "ListenerForward": ON_OFF, "ForwardPort": PORT},
}
REQUIRED = {"tcp": ("Bandwidth",), "udp": ("Bandwidth",), "http": ("HealthCheck",)}
RENAME = {"healthCheckInterval": "HealthCheckInterval", "healthCheckExp": "HealthCheckExp",
          "healthCheckReq": "HealthCheckReq", "HealthCheckSwitch": "HealthCheck"}  # request name -> answer name
_CHECKS = {"HealthyThreshold": 3, "UnhealthyThreshold": 3, "HealthCheckInterval": 2}
DEFAULTS: dict[str, dict[str, Any]] = {
    "tcp": {**_CHECKS, "Scheduler": "wrr", "PersistenceTimeout": 0, "EstablishedTimeout": 900, "HealthCheck": "on",
            "HealthCheckType": "tcp", "HealthCheckConnectTimeout": 5, "ConnectionDrain": "off"},
    "udp": {**_CHECKS, "Scheduler": "wrr", "HealthCheck": "on", "HealthCheckConnectTimeout": 5},
    "http": {**_CHECKS, "Scheduler": "wrr", "StickySession": "off", "XForwardedFor": "on", "IdleTimeout": 15,
             "RequestTimeout": 60, "Gzip": "on", "HealthCheckTimeout": 5, "ListenerForward": "off"},
}
TRANSPORT = {"tcp": "tcp", "http": "tcp", "https": "tcp", "udp": "udp"}  # TCP and UDP may share a port number
SPECS_LB = ("slb.s1.small", "slb.s2.small", "slb.s2.medium", "slb.s3.small", "slb.s3.medium", "slb.s3.large")
WRITES = ("CreateLoadBalancer", "DeleteLoadBalancer", "CreateVServerGroup", "DeleteVServerGroup",
          "AddVServerGroupBackendServers", "RemoveVServerGroupBackendServers", "SetVServerGroupAttribute",
          "CreateLoadBalancerTCPListener", "CreateLoadBalancerUDPListener", "CreateLoadBalancerHTTPListener",
          "StartLoadBalancerListener", "StopLoadBalancerListener", "DeleteLoadBalancerListener")


def _key(server: dict[str, Any]) -> tuple[str, str, int]:
    """A backend entry: an ENI or ECI with several IPs is one entry per IP; an ECS one per port."""
    return server["ServerId"], server.get("ServerIp", "") if server["Type"] != "ecs" else "", server["Port"]


def _wrapped(servers: list[dict[str, Any]]) -> dict[str, Any]:
    return {"BackendServer": [dict(s) for s in servers]}


class Slb(Product):
    name, version, host = "slb", "2014-05-15", "slb.aliyuncs.com"
    ERRORS = ERRORS
    RATE_LIMITS = {action: (90 / 60, 90) for action in WRITES}  # write APIs: 90 calls per 60 s per account

    def __init__(self, max_backends_per_call: int = 20, max_backends_per_instance: int = 200,
                 max_listeners: int = 50):
        super().__init__()
        self.max_backends_per_call, self.max_backends_per_instance = max_backends_per_call, max_backends_per_instance
        self.max_listeners = max_listeners
        self.instances: dict[str, str] = {}  # ECS/ECI/ENI id -> status ("Running", "InUse", ...); tests fill it
        self.load_balancers: dict[str, dict[str, Any]] = {}
        self.vserver_groups: dict[str, dict[str, Any]] = {}
        self._serial = itertools.count(1)

    def handle(self, action: str, params: Params) -> dict[str, Any]:
        params.get_str("RegionId", required=True)  # every CLB action needs it, and the SDK never fills it in
        return super().handle(action, params)

    # --- load balancers -------------------------------------------------------------------------

    def _lb(self, p: Params) -> dict[str, Any]:
        lb = self.load_balancers.get(p.get_str("LoadBalancerId", required=True) or "")
        if lb is None or lb["RegionId"] != p["RegionId"]:
            raise self.error("InvalidLoadBalancerId.NotFound")
        return lb

    def CreateLoadBalancer(self, p: Params) -> dict[str, Any]:
        address_type = p.get_str("AddressType", default="internet", choices=("internet", "intranet"))
        vpc, vswitch = p.get_str("VpcId"), p.get_str("VSwitchId")
        if address_type == "intranet" and vswitch is None:
            raise missing("VSwitchId")
        n, spec = next(self._serial), p.get_str("LoadBalancerSpec", choices=SPECS_LB)
        lb_id = new_id("lb", 23)
        lb = {"LoadBalancerId": lb_id, "LoadBalancerName": p.get_str("LoadBalancerName", max_len=80) or
              f"auto_named_slb{n}", "LoadBalancerStatus": "active", "AddressType": address_type,
              "Address": p.get_str("Address") or (f"192.168.{(n >> 8) & 255}.{n & 255}" if address_type == "intranet"
                                                  else f"47.96.{(n >> 8) & 255}.{n & 255}"),
              "AddressIPVersion": p.get_str("AddressIPVersion", default="ipv4", choices=("ipv4", "ipv6")),
              "RegionId": p["RegionId"], "VpcId": vpc or "", "VSwitchId": vswitch or "",
              "NetworkType": "vpc" if vpc else "classic", "LoadBalancerSpec": spec or "slb.lcu.elastic",
              "InstanceChargeType": "PayBySpec" if spec else "PayByCLCU",
              "PayType": p.get_str("PayType", default="PayOnDemand", choices=("PayOnDemand", "PrePay")),
              "InternetChargeType": p.get_str("InternetChargeType", default="paybytraffic",
                                              choices=("paybytraffic", "paybybandwidth")),
              "Bandwidth": p.get_int("Bandwidth", 1, 5120, default=5120),
              "MasterZoneId": p.get_str("MasterZoneId", default=""),
              "SlaveZoneId": p.get_str("SlaveZoneId", default=""),
              "DeleteProtection": p.get_str("DeleteProtection", default="off", choices=("on", "off")),
              "ResourceGroupId": p.get_str("ResourceGroupId", default="rg-default"), "CreateTime": now_iso(),
              "CreateTimeStamp": int(time.time() * 1000), "_listeners": {},
              "Tags": {"Tag": [{"TagKey": p[f"Tag.{i}.Key"], "TagValue": p.get(f"Tag.{i}.Value", "")}
                               for i in range(1, 21) if f"Tag.{i}.Key" in p]}}
        self.load_balancers[lb_id] = lb
        shown = ("LoadBalancerId", "LoadBalancerName", "Address", "AddressIPVersion", "VpcId", "VSwitchId",
                 "NetworkType", "ResourceGroupId")
        return {k: lb[k] for k in shown}

    def DescribeLoadBalancerAttribute(self, p: Params) -> dict[str, Any]:
        lb = self._lb(p)
        listeners = sorted(lb["_listeners"].values(), key=lambda item: (item["ListenerPort"], item["_protocol"]))
        return {**public(lb), "ListenerPorts": {"ListenerPort": [item["ListenerPort"] for item in listeners]},
                "ListenerPortsAndProtocol": {"ListenerPortAndProtocol": [
                    {"ListenerPort": item["ListenerPort"], "ListenerProtocol": item["_protocol"],
                     "Description": item.get("Description", "")} for item in listeners]},
                "ListenerPortsAndProtocal": {"ListenerPortAndProtocal": [  # sic: the API keeps the old misspelling
                    {"ListenerPort": item["ListenerPort"], "ListenerProtocal": item["_protocol"]}
                    for item in listeners]},
                "BackendServers": {"BackendServer": []}}  # default-group servers: not modelled

    def DescribeLoadBalancers(self, p: Params) -> dict[str, Any]:
        ids = set((p.get_str("LoadBalancerId") or "").split(",")) - {""}  # CLB takes a comma-separated list
        wanted = {k: p.get_str(k) for k in ("LoadBalancerName", "VpcId", "VSwitchId", "AddressType", "Address")}
        found = [lb for lb in self.load_balancers.values() if lb["RegionId"] == p["RegionId"]
                 and (not ids or lb["LoadBalancerId"] in ids) and all(v in (None, lb[k]) for k, v in wanted.items())]
        shown, paging = page(found, p)
        return {"LoadBalancers": {"LoadBalancer": [public(lb) for lb in shown]}, **paging}

    def DeleteLoadBalancer(self, p: Params) -> dict[str, Any]:
        lb_id = self._lb(p)["LoadBalancerId"]
        del self.load_balancers[lb_id]  # listeners go with it, and so do its VServer groups
        self.vserver_groups = {k: g for k, g in self.vserver_groups.items() if g["LoadBalancerId"] != lb_id}
        return {}

    # --- VServer groups -------------------------------------------------------------------------

    def _group(self, p: Params) -> dict[str, Any]:
        group = self.vserver_groups.get(p.get_str("VServerGroupId", required=True) or "")
        if group is None or self.load_balancers[group["LoadBalancerId"]]["RegionId"] != p["RegionId"]:
            raise self.error("InvalidParameter", NO_VSERVER_GROUP)
        return group

    def _backends(self, p: Params, required: bool = True) -> list[dict[str, Any]]:
        raw = p.get_json("BackendServers", required=required)
        if raw is None:
            return []
        if not isinstance(raw, list) or not raw or not all(isinstance(item, dict) for item in raw):
            raise invalid("BackendServers", "A JSON array of backend server objects is expected.")
        if len(raw) > self.max_backends_per_call:
            raise invalid("BackendServers", f"At most {self.max_backends_per_call} backend servers per call, "
                                            f"got {len(raw)}.")
        servers: list[dict[str, Any]] = []
        for item in raw:
            s = Params({k: str(v) for k, v in item.items() if v is not None})
            server: dict[str, Any] = {"ServerId": s.get_str("ServerId", required=True),
                                      "Port": s.get_int("Port", 1, 65535, required=True),
                                      "Type": (s.get_str("Type") or "ecs").lower()}
            if server["Type"] not in ("ecs", "eni", "eci"):
                raise self.error("BackendServer.InvalidType")
            for key, value in (("Weight", s.get_int("Weight", 0, 100)), ("ServerIp", s.get_str("ServerIp")),
                               ("Description", s.get_str("Description", max_len=80))):
                if value is not None:
                    server[key] = value
            if server["Type"] != "ecs" and "ServerIp" not in server:
                raise invalid("BackendServers", f"ServerIp is required for {server['Type']} server "
                                                f"{server['ServerId']}.")
            if all(_key(other) != _key(server) for other in servers):  # duplicates in one call: the first wins
                servers.append(server)
        return servers

    def _check_instance(self, server: dict[str, Any]) -> None:
        status = self.instances.get(server["ServerId"])
        if status is None:
            raise self.error("InvalidServerId.NotExist", f"The specified ServerId {server['ServerId']} is not exist.")
        if status not in ("Running", "InUse"):
            raise self.error("IncorrectInstanceStatus", f"The current status of instance {server['ServerId']} "
                                                        f"({status}) does not support this operation.")

    def _add(self, group: dict[str, Any], servers: list[dict[str, Any]]) -> None:
        existing = {_key(b) for b in group["_backends"]}
        for server in servers:  # every check passes before anything changes: a failed call changes nothing
            self._check_instance(server)
            if _key(server) in existing:
                raise self.error("InvalidBackendServers.AlreadyExists", f"The backend server {server['ServerId']}:"
                                                                        f"{server['Port']} is already in the group.")
        on_lb = [b for g in self.vserver_groups.values() if g["LoadBalancerId"] == group["LoadBalancerId"]
                 for b in g["_backends"]]  # a group being created has no backends yet
        distinct = {_key(b)[:2] for b in on_lb + servers}
        if len(distinct) > self.max_backends_per_instance:
            raise self.error("InstanceBackendServerNumberOverLimit",
                             f"The number of backend servers ({len(distinct)}) exceeds the quota of the load "
                             f"balancer ({self.max_backends_per_instance}).")
        group["_backends"].extend({"Weight": 100, **server} for server in servers)

    def CreateVServerGroup(self, p: Params) -> dict[str, Any]:
        lb = self._lb(p)
        group = {"VServerGroupId": new_id("rsp", 13), "LoadBalancerId": lb["LoadBalancerId"], "CreateTime": now_iso(),
                 "VServerGroupName": p.get_str("VServerGroupName", max_len=80, default=""), "_backends": [],
                 "Tags": {"Tag": [{"TagKey": p[f"Tag.{i}.Key"], "TagValue": p.get(f"Tag.{i}.Value", "")}
                                  for i in range(1, 21) if f"Tag.{i}.Key" in p]}}
        self._add(group, self._backends(p, required=False))  # before the group exists: a failure leaves nothing
        self.vserver_groups[group["VServerGroupId"]] = group
        return {"VServerGroupId": group["VServerGroupId"], "BackendServers": _wrapped(group["_backends"])}

    def _users(self, group: dict[str, Any]) -> list[dict[str, Any]]:
        lb = self.load_balancers[group["LoadBalancerId"]]
        return [item for item in lb["_listeners"].values() if item.get("VServerGroupId") == group["VServerGroupId"]]

    def DescribeVServerGroups(self, p: Params) -> dict[str, Any]:
        lb, with_listeners = self._lb(p), p.get_bool("IncludeListener", False)
        items = []
        for group in self.vserver_groups.values():
            if group["LoadBalancerId"] != lb["LoadBalancerId"]:
                continue
            item = {k: group[k] for k in ("VServerGroupId", "VServerGroupName", "CreateTime", "Tags")}
            item["ServerCount"] = len(group["_backends"])
            if with_listeners:
                item["AssociatedObjects"] = {"Rules": {"Rule": []}, "Listeners": {"Listener": [
                    {"Port": u["ListenerPort"], "Protocol": u["_protocol"]} for u in self._users(group)]}}
            items.append(item)
        return {"VServerGroups": {"VServerGroup": items}}

    def DescribeVServerGroupAttribute(self, p: Params) -> dict[str, Any]:
        group = self._group(p)
        return {**public(group), "BackendServers": _wrapped(group["_backends"])}

    def DeleteVServerGroup(self, p: Params) -> dict[str, Any]:
        group = self._group(p)
        if self._users(group):
            raise self.error("ResourceInUse.VServerGroup")
        del self.vserver_groups[group["VServerGroupId"]]
        return {}

    def _changed(self, group: dict[str, Any]) -> dict[str, Any]:
        return {"VServerGroupId": group["VServerGroupId"], "BackendServers": _wrapped(group["_backends"])}

    def AddVServerGroupBackendServers(self, p: Params) -> dict[str, Any]:
        group = self._group(p)
        self._add(group, self._backends(p))
        return self._changed(group)

    def RemoveVServerGroupBackendServers(self, p: Params) -> dict[str, Any]:
        group = self._group(p)
        gone = {_key(s) for s in self._backends(p)}
        group["_backends"] = [b for b in group["_backends"] if _key(b) not in gone]  # absent ones are ignored
        return self._changed(group)

    def SetVServerGroupAttribute(self, p: Params) -> dict[str, Any]:
        group = self._group(p)
        servers, existing = self._backends(p, required=False), {_key(b): b for b in group["_backends"]}
        for server in servers:
            if _key(server) not in existing:
                raise self.error("InvalidBackendServers.NotFound", f"The backend server {server['ServerId']}:"
                                                                   f"{server['Port']} is not in the vServer group.")
        for server in servers:  # weights and descriptions only: membership never changes here
            existing[_key(server)].update({k: server[k] for k in ("Weight", "Description") if k in server})
        group["VServerGroupName"] = p.get_str("VServerGroupName", max_len=80, default=group["VServerGroupName"])
        return {**self._changed(group), "VServerGroupName": group["VServerGroupName"]}

    # --- listeners ------------------------------------------------------------------------------

    def _create_listener(self, protocol: str, p: Params) -> dict[str, Any]:
        lb = self._lb(p)
        port = p.get_int("ListenerPort", 1, 65535, required=True)
        attributes = read_attributes(p, SPECS[protocol])
        for name in REQUIRED[protocol]:
            if name not in attributes:
                raise missing(name)
        group_id = p.get_str("VServerGroupId")
        if group_id is not None:
            if self._group(p)["LoadBalancerId"] != lb["LoadBalancerId"]:
                raise self.error("InvalidParameter", NO_VSERVER_GROUP)
        elif "BackendServerPort" not in attributes:
            raise missing("BackendServerPort")
        if any(TRANSPORT[other] == TRANSPORT[protocol] and taken == port for other, taken in lb["_listeners"]):
            raise self.error("ListenerAlreadyExists", f"The specified listener port {port} is already in use.")
        if len(lb["_listeners"]) >= self.max_listeners:
            raise self.error("ListenerNumberOverLimit")
        lb["_listeners"][(protocol, port)] = {
            **DEFAULTS[protocol], **{RENAME.get(k, k): v for k, v in attributes.items()}, "ListenerPort": port,
            "LoadBalancerId": lb["LoadBalancerId"], "VServerGroupId": group_id or "", "Status": "stopped",
            "_protocol": protocol}
        return {}

    def _describe_listener(self, protocol: str, p: Params) -> dict[str, Any]:
        listener = self._lb(p)["_listeners"].get((protocol, p.get_int("ListenerPort", 1, 65535, required=True)))
        if listener is None:
            raise self.error("InvalidParameter", NO_LISTENER)
        return public(listener)

    def _listener(self, p: Params) -> tuple[dict[str, Any], tuple[str, int]]:
        """(CLB, listener key) by ListenerPort and, when given, ListenerProtocol (TCP first when both exist)."""
        lb, port = self._lb(p), p.get_int("ListenerPort", 1, 65535, required=True)
        protocol = p.get_str("ListenerProtocol", choices=("tcp", "udp", "http", "https"))
        keys = sorted(k for k in lb["_listeners"] if k[1] == port and protocol in (None, k[0]))
        if not keys:
            raise self.error("InvalidParameter", NO_LISTENER)
        return lb, ("tcp", port) if protocol is None and ("tcp", port) in keys else keys[0]

    def StartLoadBalancerListener(self, p: Params) -> dict[str, Any]:
        lb, key = self._listener(p)
        lb["_listeners"][key]["Status"] = "running"
        return {}

    def StopLoadBalancerListener(self, p: Params) -> dict[str, Any]:
        lb, key = self._listener(p)
        lb["_listeners"][key]["Status"] = "stopped"
        return {}

    def DeleteLoadBalancerListener(self, p: Params) -> dict[str, Any]:
        lb, key = self._listener(p)
        del lb["_listeners"][key]
        return {}


# One action per protocol and verb (CreateLoadBalancerTCPListener, ...), served by the same two methods.
for _name in ("TCP", "UDP", "HTTP"):
    setattr(Slb, f"CreateLoadBalancer{_name}Listener", partialmethod(Slb._create_listener, _name.lower()))
    setattr(Slb, f"DescribeLoadBalancer{_name}ListenerAttribute", partialmethod(Slb._describe_listener, _name.lower()))
