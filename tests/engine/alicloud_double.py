"""The cloud side of the pulumi-alicloud resources the program declares, played against the emulator.

What the Terraform provider does for each resource (terraform-provider-alicloud, the files named in
contracts/alicloud_*.py), through the official SDK clients: create and wait for the ready state, change
what changes in place, read back, delete. So the dynamic resources that depend on these (listeners, the
EIP address, BackendSync) meet real ELBs, EIPs and server groups in the emulator, with real ids.
NLB listeners have no emulator API; their state is kept here (nothing reads them back from the cloud).
"""

from __future__ import annotations

import copy
import importlib
import itertools
from typing import Any, Callable, Optional

from alibabacloud_tea_openapi.models import Config
from alibabacloud_tea_util.models import RuntimeOptions

from components.wire import normalized

PACKAGES = {"ens": "alibabacloud_ens20171110", "nlb": "alibabacloud_nlb20220430", "slb": "alibabacloud_slb20140515"}
POLLS = 50  # the emulator finishes a transition within a few polls; the bound only stops a runaway loop
# Pulumi input -> ENS API field of the listener attributes (the inverse of components/elb.py BRIDGED_ARGS).
SPECIAL = {"healthCheckUri": "HealthCheckURI", "listenerForward": "ListenerForward"}


def _api_field(key: str) -> str:
    return SPECIAL.get(key) or key[0].upper() + key[1:]


def _method(client: Any, action: str) -> Any:
    """The SDK method of an action (`CreateVServerGroup` -> `create_vserver_group_with_options`): the
    generator's word splitting varies, so match the name without underscores."""
    wanted = f"{action}withoptions".lower()
    for name in dir(client):
        if name.endswith("_with_options") and name.replace("_", "").lower() == wanted:
            return getattr(client, name)
    raise AttributeError(f"{type(client).__module__} has no method for {action}")


class Cloud:
    """One SDK client per product against the emulator; `call("ens", "CreateLoadBalancer", {...})`."""

    def __init__(self, endpoint: str, key: tuple[str, str], region: str):
        self.endpoint, self.key, self.region = endpoint, key, region
        self._clients: dict[str, Any] = {}

    def in_region(self, region: str) -> "Cloud":
        return self if region == self.region else Cloud(self.endpoint, self.key, region)

    def call(self, product: str, action: str, params: dict[str, Any]) -> dict[str, Any]:
        package = PACKAGES[product]
        if product not in self._clients:
            client_class = importlib.import_module(f"{package}.client").Client
            self._clients[product] = client_class(Config(
                access_key_id=self.key[0], access_key_secret=self.key[1], region_id=self.region,
                endpoint=self.endpoint.split("://")[-1], protocol="http"))
        models = importlib.import_module(f"{package}.models")
        params = {k: v for k, v in normalized(params).items() if v is not None}
        request = getattr(models, f"{action}Request")().from_map(params)
        response = _method(self._clients[product], action)(
            request, RuntimeOptions(autoretry=False, read_timeout=10000, connect_timeout=5000))
        return response.body.to_map() if response.body is not None else {}

    def wait(self, probe: Callable[[], Any], ready: Callable[[Any], bool], what: str) -> Any:
        for _ in range(POLLS):
            value = probe()
            if ready(value):
                return value
        raise AssertionError(f"{what} did not happen within {POLLS} polls")


def _gone(exc: Exception) -> bool:
    return any(marker in (getattr(exc, "code", "") or "") for marker in ("NotFound", "NotExist"))


class AlicloudDouble:
    """`create/update/read/delete` per resource type, as terraform-provider-alicloud does them."""

    def __init__(self, cloud: Cloud):
        self.cloud = cloud
        self._serial = itertools.count(1)
        self._kept: dict[str, dict[str, Any]] = {}  # resources without an emulator API (NLB listeners)

    # --- dispatch ----------------------------------------------------------------------------------

    def _kind(self, type_: str) -> str:
        return type_.split(":")[1].replace("/", "_")  # "ens/eip" -> "ens_eip"

    def in_region(self, region: str) -> "AlicloudDouble":
        """The same cloud seen through a provider of `region` (NLB and CLB calls carry it)."""
        view = copy.copy(self)
        view.cloud = self.cloud.in_region(region)
        return view

    def create(self, type_: str, inputs: dict[str, Any], region: str) -> tuple[str, dict[str, Any]]:
        return getattr(self.in_region(region), f"_create_{self._kind(type_)}")(inputs)

    def update(self, type_: str, id_: str, old: dict[str, Any], inputs: dict[str, Any], region: str
               ) -> dict[str, Any]:
        handler = getattr(self.in_region(region), f"_update_{self._kind(type_)}", None)
        if handler is not None:
            return handler(id_, old, inputs)
        return {}

    def read(self, type_: str, id_: str, old: dict[str, Any], region: str) -> Optional[dict[str, Any]]:
        try:
            return getattr(self.in_region(region), f"_read_{self._kind(type_)}")(id_)
        except Exception as exc:  # noqa: BLE001 - "gone" is an answer, the rest an error
            if _gone(exc):
                return None
            raise

    def delete(self, type_: str, id_: str, old: dict[str, Any], region: str) -> None:
        try:
            getattr(self.in_region(region), f"_delete_{self._kind(type_)}")(id_, old)
        except Exception as exc:  # noqa: BLE001
            if not _gone(exc):
                raise

    # --- ENS ELB, EIP, attachment (resource_alicloud_ens_load_balancer.go, _eip.go, _eip_instance_attachment.go)

    def _elb(self, id_: str) -> dict[str, Any]:
        return self.cloud.call("ens", "DescribeLoadBalancerAttribute", {"LoadBalancerId": id_})

    def _create_ens_loadBalancer(self, inputs):
        body = self.cloud.call("ens", "CreateLoadBalancer", {
            "EnsRegionId": inputs["ensRegionId"], "LoadBalancerSpec": inputs["loadBalancerSpec"],
            "LoadBalancerName": inputs.get("loadBalancerName"), "PayType": "PostPaid",
            "NetworkId": inputs["networkId"], "VSwitchId": inputs["vswitchId"], "ClientToken": f"t{next(self._serial)}"})
        id_ = body["LoadBalancerId"]
        self.cloud.wait(lambda: self._elb(id_), lambda d: d.get("LoadBalancerStatus") == "Active", f"ELB {id_} Active")
        return id_, {"status": "Active"}

    def _update_ens_loadBalancer(self, id_, old, inputs):
        if inputs.get("loadBalancerName") != old.get("loadBalancerName"):
            self.cloud.call("ens", "ModifyLoadBalancerAttribute",
                            {"LoadBalancerId": id_, "LoadBalancerName": inputs.get("loadBalancerName")})
        return {}

    def _read_ens_loadBalancer(self, id_):
        live = self._elb(id_)
        return {"loadBalancerName": live.get("LoadBalancerName"), "loadBalancerSpec": live.get("LoadBalancerSpec"),
                "ensRegionId": live.get("EnsRegionId"), "networkId": live.get("NetworkId"),
                "vswitchId": live.get("VSwitchId"), "status": live.get("LoadBalancerStatus")}

    def _delete_ens_loadBalancer(self, id_, old):
        self.cloud.call("ens", "ReleaseInstance", {"InstanceId": id_})

    def _eip(self, id_: str) -> Optional[dict[str, Any]]:
        found = self.cloud.call("ens", "DescribeEnsEipAddresses", {"AllocationId": id_})
        return next(iter((found.get("EipAddresses") or {}).get("EipAddress") or []), None)

    def _create_ens_eip(self, inputs):
        body = self.cloud.call("ens", "CreateEipInstance", {
            "EnsRegionId": inputs["ensRegionId"], "Bandwidth": inputs.get("bandwidth"),
            "InternetChargeType": inputs["internetChargeType"], "InstanceChargeType": "PostPaid",
            "Isp": inputs.get("isp"), "Name": inputs.get("eipName"), "ClientToken": f"t{next(self._serial)}"})
        id_ = body["AllocationId"]
        eip = self.cloud.wait(lambda: self._eip(id_), lambda e: e and e.get("Status") == "Available", f"EIP {id_}")
        return id_, {"status": "Available", "isp": eip.get("Isp") or inputs.get("isp")}

    def _update_ens_eip(self, id_, old, inputs):
        self.cloud.call("ens", "ModifyEnsEipAddressAttribute", {
            "AllocationId": id_, "Name": inputs.get("eipName"), "Bandwidth": inputs.get("bandwidth")})
        return {}

    def _read_ens_eip(self, id_):
        eip = self._eip(id_)
        if eip is None:
            return None
        return {"eipName": eip.get("Name"), "bandwidth": eip.get("Bandwidth"), "isp": eip.get("Isp"),
                "ensRegionId": eip.get("EnsRegionId"), "status": eip.get("Status")}

    def _delete_ens_eip(self, id_, old):
        self.cloud.call("ens", "ReleaseInstance", {"InstanceId": id_})

    def _create_ens_eipInstanceAttachment(self, inputs):
        allocation, instance, kind = inputs["allocationId"], inputs["instanceId"], inputs.get("instanceType", "")
        self.cloud.call("ens", "AssociateEnsEipAddress",
                        {"AllocationId": allocation, "InstanceId": instance, "InstanceType": kind})
        self.cloud.wait(lambda: self._eip(allocation), lambda e: e and e.get("Status") == "InUse", "EIP InUse")
        return f"{allocation}:{instance}:{kind}", {"status": "InUse"}

    def _read_ens_eipInstanceAttachment(self, id_):
        allocation, instance, _ = id_.split(":")
        eip = self._eip(allocation)
        if eip is None or eip.get("InstanceId") != instance:
            return None
        return {"status": eip.get("Status")}

    def _delete_ens_eipInstanceAttachment(self, id_, old):
        allocation = id_.split(":")[0]
        self.cloud.call("ens", "UnAssociateEnsEipAddress", {"AllocationId": allocation})
        self.cloud.wait(lambda: self._eip(allocation), lambda e: not e or e.get("Status") == "Available", "EIP free")

    # --- ENS HTTP and UDP listeners (..._http_listener.go @f783645d, ..._udp_listener.go @e4b2c7a0) ---

    LISTENER_KEYS = ("loadBalancerId", "listenerPort", "status")

    def _listener_params(self, inputs: dict[str, Any]) -> dict[str, Any]:
        return {_api_field(k): v for k, v in inputs.items() if k not in self.LISTENER_KEYS and v is not None
                and not k.startswith("__")}

    def _create_listener(self, protocol: str, inputs: dict[str, Any], running: str):
        lb, port = inputs["loadBalancerId"], int(inputs["listenerPort"])
        self.cloud.call("ens", f"CreateLoadBalancer{protocol.upper()}Listener",
                        {"LoadBalancerId": lb, "ListenerPort": port, **self._listener_params(inputs)})
        if inputs.get("status") == running:
            self.cloud.call("ens", "StartLoadBalancerListener",
                            {"LoadBalancerId": lb, "ListenerPort": port, "ListenerProtocol": protocol})
        status = self._listener_status(protocol, lb, port)
        return f"{lb}:{port}", {"status": status.lower() if protocol == "http" else status}

    def _listener_status(self, protocol: str, lb: str, port: int) -> str:
        return self.cloud.wait(
            lambda: self.cloud.call("ens", f"DescribeLoadBalancer{protocol.upper()}ListenerAttribute",
                                    {"LoadBalancerId": lb, "ListenerPort": port}),
            lambda d: d.get("Status") in ("Running", "Stopped"), "listener settled")["Status"]

    def _update_listener(self, protocol: str, id_: str, inputs: dict[str, Any], stop_first: bool):
        lb, port = id_.split(":")
        base = {"LoadBalancerId": lb, "ListenerPort": int(port), "ListenerProtocol": protocol}
        if stop_first:  # the HTTP provider stops the listener for SetLoadBalancerHTTPListenerAttribute
            self.cloud.call("ens", "StopLoadBalancerListener", base)
            self._listener_status(protocol, lb, int(port))
        self.cloud.call("ens", f"SetLoadBalancer{protocol.upper()}ListenerAttribute",
                        {"LoadBalancerId": lb, "ListenerPort": int(port), **self._listener_params(inputs)})
        if str(inputs.get("status", "")).lower() == "running":
            self.cloud.call("ens", "StartLoadBalancerListener", base)
        status = self._listener_status(protocol, lb, int(port))
        return {"status": status.lower() if protocol == "http" else status}

    def _read_listener(self, protocol: str, id_: str):
        lb, port = id_.split(":")
        live = self.cloud.call("ens", f"DescribeLoadBalancer{protocol.upper()}ListenerAttribute",
                               {"LoadBalancerId": lb, "ListenerPort": int(port)})
        status = live.get("Status", "")
        return {"status": status.lower() if protocol == "http" else status}

    def _delete_listener(self, protocol: str, id_: str, stop_first: bool):
        lb, port = id_.split(":")
        base = {"LoadBalancerId": lb, "ListenerPort": int(port), "ListenerProtocol": protocol}
        if stop_first:  # "A running listener must be stopped before it can be deleted" (HTTP provider)
            self.cloud.call("ens", "StopLoadBalancerListener", base)
            self._listener_status(protocol, lb, int(port))
        self.cloud.call("ens", "DeleteLoadBalancerListener", base)

    def _create_ens_loadBalancerHttpListener(self, inputs):
        return self._create_listener("http", inputs, "running")

    def _update_ens_loadBalancerHttpListener(self, id_, old, inputs):
        return self._update_listener("http", id_, inputs, stop_first=True)

    def _read_ens_loadBalancerHttpListener(self, id_):
        return self._read_listener("http", id_)

    def _delete_ens_loadBalancerHttpListener(self, id_, old):
        self._delete_listener("http", id_, stop_first=True)

    def _create_ens_loadBalancerUdpListener(self, inputs):
        return self._create_listener("udp", inputs, "Running")

    def _update_ens_loadBalancerUdpListener(self, id_, old, inputs):
        return self._update_listener("udp", id_, inputs, stop_first=False)

    def _read_ens_loadBalancerUdpListener(self, id_):
        return self._read_listener("udp", id_)

    def _delete_ens_loadBalancerUdpListener(self, id_, old):
        self._delete_listener("udp", id_, stop_first=False)

    # --- NLB (resource_alicloud_nlb_*.go) -----------------------------------------------------------

    def _create_nlb_loadBalancer(self, inputs):
        body = self.cloud.call("nlb", "CreateLoadBalancer", {
            "AddressType": inputs["addressType"], "AddressIpVersion": inputs.get("addressIpVersion"),
            "LoadBalancerName": inputs.get("loadBalancerName"), "LoadBalancerType": inputs.get("loadBalancerType"),
            "VpcId": inputs["vpcId"], "RegionId": self.cloud.region,
            "ZoneMappings": [{"ZoneId": z["zoneId"], "VSwitchId": z["vswitchId"]} for z in inputs["zoneMappings"]]})
        id_ = body["LoadbalancerId"]
        live = self.cloud.wait(lambda: self._nlb(id_), lambda d: d.get("LoadBalancerStatus") == "Active", "NLB Active")
        return id_, {"dnsName": live.get("DNSName"), "status": "Active", "regionId": self.cloud.region}

    def _nlb(self, id_: str) -> dict[str, Any]:
        return self.cloud.call("nlb", "GetLoadBalancerAttribute", {"LoadBalancerId": id_, "RegionId": self.cloud.region})

    def _read_nlb_loadBalancer(self, id_):
        live = self._nlb(id_)
        return {"dnsName": live.get("DNSName"), "status": live.get("LoadBalancerStatus")}

    def _delete_nlb_loadBalancer(self, id_, old):
        body = self.cloud.call("nlb", "DeleteLoadBalancer", {"LoadBalancerId": id_, "RegionId": self.cloud.region})
        self._wait_job(body.get("JobId"))

    def _create_nlb_serverGroup(self, inputs):
        check = inputs.get("healthCheck") or {}
        flat = {f"HealthCheckConfig.{_api_field(k)}": v for k, v in check.items() if v is not None}
        body = self.cloud.call("nlb", "CreateServerGroup", {
            "ServerGroupName": inputs["serverGroupName"], "ServerGroupType": inputs.get("serverGroupType"),
            "Protocol": inputs.get("protocol"), "VpcId": inputs["vpcId"], "Scheduler": inputs.get("scheduler"),
            "RegionId": self.cloud.region, "PreserveClientIpEnabled": inputs.get("preserveClientIpEnabled"),
            "ConnectionDrainEnabled": inputs.get("connectionDrainEnabled"),
            "ConnectionDrainTimeout": inputs.get("connectionDrainTimeout"),
            "HealthCheckConfig": {k.split(".", 1)[1]: v for k, v in flat.items()}})
        # The provider waits until the group is Available (CreateServerGroup is an asynchronous job).
        self._wait_job(body.get("JobId"))
        return body["ServerGroupId"], {"status": "Available", "regionId": self.cloud.region}

    def _wait_job(self, job: Optional[str]) -> None:
        if job:
            self.cloud.wait(lambda: self.cloud.call("nlb", "GetJobStatus", {"JobId": job}),
                            lambda b: str(b.get("Status", "")).lower() == "succeeded", f"NLB job {job}")

    def _read_nlb_serverGroup(self, id_):
        found = self.cloud.call("nlb", "ListServerGroups", {"ServerGroupIds": [id_], "RegionId": self.cloud.region})
        groups = found.get("ServerGroups") or []
        return {"serverGroupName": groups[0].get("ServerGroupName")} if groups else None

    def _delete_nlb_serverGroup(self, id_, old):
        body = self.cloud.call("nlb", "DeleteServerGroup", {"ServerGroupId": id_, "RegionId": self.cloud.region})
        self._wait_job(body.get("JobId"))

    def _create_nlb_listener(self, inputs):
        id_ = f"lsn-{next(self._serial):08d}"
        self._kept[id_] = dict(inputs)
        return id_, {"status": "Running", "regionId": self.cloud.region}

    def _read_nlb_listener(self, id_):
        return {"status": "Running"} if id_ in self._kept else None

    def _delete_nlb_listener(self, id_, old):
        self._kept.pop(id_, None)

    # --- CLB (resource_alicloud_slb_*.go) ----------------------------------------------------------

    def _create_slb_applicationLoadBalancer(self, inputs):
        body = self.cloud.call("slb", "CreateLoadBalancer", {
            "RegionId": self.cloud.region, "LoadBalancerName": inputs.get("loadBalancerName"),
            "AddressType": inputs.get("addressType"), "LoadBalancerSpec": inputs.get("loadBalancerSpec"),
            "InstanceChargeType": inputs.get("instanceChargeType"),
            "VSwitchId": inputs.get("vswitchId"), "PayType": "PayOnDemand",
            "DeleteProtection": inputs.get("deleteProtection")})
        return body["LoadBalancerId"], {"address": body.get("Address"), "status": "active"}

    def _read_slb_applicationLoadBalancer(self, id_):
        live = self.cloud.call("slb", "DescribeLoadBalancerAttribute", {"LoadBalancerId": id_,
                                                                        "RegionId": self.cloud.region})
        return {"address": live.get("Address"), "loadBalancerName": live.get("LoadBalancerName")}

    def _delete_slb_applicationLoadBalancer(self, id_, old):
        self.cloud.call("slb", "DeleteLoadBalancer", {"LoadBalancerId": id_, "RegionId": self.cloud.region})

    def _create_slb_serverGroup(self, inputs):
        body = self.cloud.call("slb", "CreateVServerGroup", {
            "LoadBalancerId": inputs["loadBalancerId"], "VServerGroupName": inputs.get("name"),
            "RegionId": self.cloud.region})
        return body["VServerGroupId"], {}

    def _read_slb_serverGroup(self, id_):
        live = self.cloud.call("slb", "DescribeVServerGroupAttribute", {"VServerGroupId": id_,
                                                                        "RegionId": self.cloud.region})
        return {"name": live.get("VServerGroupName")}

    def _delete_slb_serverGroup(self, id_, old):
        self.cloud.call("slb", "DeleteVServerGroup", {"VServerGroupId": id_, "RegionId": self.cloud.region})

    # resource_alicloud_slb_listener.go: the request fields it sends, and the defaults the schema fills in.
    SLB_FIELDS = {"bandwidth": "Bandwidth", "serverGroupId": "VServerGroupId", "backendPort": "BackendServerPort",
                  "scheduler": "Scheduler", "description": "Description", "persistenceTimeout": "PersistenceTimeout",
                  "establishedTimeout": "EstablishedTimeout", "healthCheck": "HealthCheck",
                  "healthCheckType": "HealthCheckType", "healthCheckUri": "HealthCheckURI",
                  "healthCheckConnectPort": "HealthCheckConnectPort", "healthyThreshold": "HealthyThreshold",
                  "unhealthyThreshold": "UnhealthyThreshold", "healthCheckInterval": "HealthCheckInterval"}
    SLB_DEFAULTS = {"http": {"HealthCheck": "on", "StickySession": "off"}, "https": {"HealthCheck": "on"}}

    def _create_slb_listener(self, inputs):
        protocol, port = inputs["protocol"], int(inputs["frontendPort"])
        params = {"LoadBalancerId": inputs["loadBalancerId"], "ListenerPort": port, "RegionId": self.cloud.region,
                  **self.SLB_DEFAULTS.get(protocol, {}),
                  **{api: inputs[k] for k, api in self.SLB_FIELDS.items() if inputs.get(k) is not None}}
        if inputs.get("healthCheckTimeout") is not None:  # one input, two API names (listener.go:663, 942)
            params["HealthCheckTimeout" if protocol in ("http", "https") else "HealthCheckConnectTimeout"] = \
                inputs["healthCheckTimeout"]
        if protocol in ("http", "https"):
            params.pop("Bandwidth", None) if params.get("Bandwidth") == -1 else None
        if protocol == "https":  # the emulator has no HTTPS listener API: the listener is kept here
            id_ = f"{inputs['loadBalancerId']}:{protocol}:{port}"
            self._kept[id_] = dict(inputs)
            return id_, {}
        self.cloud.call("slb", f"CreateLoadBalancer{protocol.upper()}Listener", params)
        self.cloud.call("slb", "StartLoadBalancerListener", {"LoadBalancerId": inputs["loadBalancerId"],
                                                              "ListenerPort": port, "ListenerProtocol": protocol,
                                                              "RegionId": self.cloud.region})
        return f"{inputs['loadBalancerId']}:{protocol}:{port}", {}

    def _read_slb_listener(self, id_):
        if id_ in self._kept:
            return {}
        lb, protocol, port = id_.split(":")
        live = self.cloud.call("slb", f"DescribeLoadBalancer{protocol.upper()}ListenerAttribute",
                               {"LoadBalancerId": lb, "ListenerPort": int(port), "RegionId": self.cloud.region})
        return {"description": live.get("Description")}

    def _delete_slb_listener(self, id_, old):
        if self._kept.pop(id_, None) is not None:
            return
        lb, protocol, port = id_.split(":")
        self.cloud.call("slb", "DeleteLoadBalancerListener", {"LoadBalancerId": lb, "ListenerPort": int(port),
                                                               "ListenerProtocol": protocol,
                                                               "RegionId": self.cloud.region})
