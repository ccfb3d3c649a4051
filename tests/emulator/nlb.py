"""NLB (Network Load Balancer, API 2022-04-30): instances, server groups, servers, asynchronous jobs.

Wire format (alibabacloud-nlb20220430 4.1): a form body; lists of objects arrive flattened
(`Servers.1.ServerId`, `ZoneMappings.2.VSwitchId`, `HealthCheckConfig.HealthCheckHttpCode.1`), booleans as
`True`/`False`. Config.region_id is not sent, so RegionId is optional and defaults to `region`. Answers use
plain JSON arrays (no `{"X": {"X": [...]}}` wrapping as ENS and SLB do), and CreateLoadBalancer answers
`LoadbalancerId` with a lower-case b because that is the key the SDK model reads.

Asynchronous work: Create/DeleteServerGroup, Add/Remove/UpdateServerGroupServersAttribute and DeleteLoadBalancer
return a JobId. Until the job ends its servers show Adding / Removing / Configuring and the group Creating or
Configuring; GetJobStatus answers `processing` (the casing of the SDK model's documentation) `job_polls`
times, then `Succeeded`; with `job_seconds` set, a job also ends once that much `clock` time has passed;
`finish_jobs()` ends them all. While a job on a group runs, another write on that group answers `busy_code`
(IncorrectStatus.serverGroup, the code Terraform's provider retries on; or Conflict.Lock; None turns it off).

Error codes come from the NLB API reference tables (AddServersToServerGroup, RemoveServersFromServerGroup,
DeleteServerGroup). Choices where the reference names no code:
- Over 200 servers in one call, MaxResults over 100, a bad NextToken, 2-10 ZoneMappings: `IllegalParam.<Field>`
  ("The param of %s is illegal.", the documented pattern); any other out-of-range field likewise.
- A server already in the group: an error, like ENS and CLB here: `ResourceInUse.IP` (documented for Add) in
  an Ip group, `ResourceInUse.BackendServer` in an Instance group. The same server twice in one call:
  `DuplicatedParam.Server` (documented). Removing or updating a server not in the group:
  `ResourceNotFound.BackendServer` (documented for Remove).
- Beyond 400 servers per group: `QuotaExceeded.QuotaInsufficient` (documented for Add).
- Unknown Ecs/Eni/Eci id: `ResourceNotFound.<Type>` (documented); known but not Running (ENI: not InUse):
  `IncorrectStatus.<Type>` (documented for Eni only). Ip servers are not checked against `instances`.
- Unknown JobId: `ResourceNotFound.job`; unknown NLB: `ResourceNotFound.loadBalancer`.
"""

from __future__ import annotations

import ipaddress
import re
import time
import uuid
from typing import Any, Callable, Optional

from .product import ApiError, Params, Product, missing, new_id, now_iso, observe, public, transition

ERRORS: dict[str, tuple[int, str]] = {
    "Throttling.User": (400, "Request was denied due to api flow control."),
    "Conflict.Lock": (400, "The Lock is conflict."),  # the reference: "The Lock [%s] is conflict."
    "IncorrectStatus.serverGroup": (400, "The status of servergroup is incorrect."),
    "OperationFailed.ResourceIsConfiguring": (400, "The resource is configuring, please try again later."),
    "ResourceNotFound.serverGroup": (404, "The specified resource of serverGroup is not found."),
    "ResourceNotFound.loadBalancer": (404, "The specified resource of loadBalancer is not found."),
    "ResourceNotFound.BackendServer": (404, "The specified resource of BackendServer is not found."),
    "ResourceNotFound.job": (404, "The specified resource of job is not found."),
    "ResourceNotFound.Ecs": (404, "The specified resource of Ecs is not found."),
    "ResourceNotFound.Eni": (404, "The specified resource Eni is not found."),
    "ResourceNotFound.Eci": (404, "The specified resource of Eci is not found."),
    "IncorrectStatus.Ecs": (400, "The status of Ecs is incorrect."),
    "IncorrectStatus.Eci": (400, "The status of Eci is incorrect."),
    "IncorrectStatus.Eni": (400, "Eni status is invalid."),
    "QuotaExceeded.QuotaInsufficient": (400, "The quota is exceeded."),
    "DuplicatedParam.Server": (400, "The param of Server is duplicated."),
    "ResourceInUse.IP": (400, "The specified resource of IP is in use."),
    "ResourceInUse.BackendServer": (400, "The specified resource of BackendServer is in use."),
    "Mismatch.ServerType": (400, "The ServerType is mismatched."),
    "IllegalParam.IP": (400, "The param of IP is illegal."),
}

SERVER_TYPES = ("Ecs", "Eni", "Eci", "Ip")
SCHEDULERS = ("wrr", "wlc", "rr", "sch", "tch", "qch")  # the reference writes Wrr/Wlc: compared case-insensitively
NAME = re.compile(r"[A-Za-z][A-Za-z0-9._-]{1,127}")  # 2-128 characters, starting with a letter
HEALTH_INTS = {"HealthCheckConnectPort": (0, 65535), "HealthCheckConnectTimeout": (1, 300),
               "HealthCheckInterval": (1, 300), "HealthyThreshold": (2, 10), "UnhealthyThreshold": (2, 10)}
HEALTH_DEFAULTS = {"HealthCheckEnabled": True, "HealthCheckType": "TCP", "HealthCheckConnectPort": 0,
                   "HealthCheckConnectTimeout": 5, "HealthCheckInterval": 5, "HealthyThreshold": 2,
                   "UnhealthyThreshold": 2}
RUNNING = ("Running", "InUse")  # ECS/ECI instances run; an ENI is InUse


def illegal(name: str, detail: str = "") -> ApiError:
    return ApiError(400, f"IllegalParam.{name}", f"The param of {name} is illegal." + (f" {detail}" if detail else ""))


def objects(p: Params, name: str) -> list[Params]:
    """`Name.N.Field` parameters as one Params per N, in N order; any count (callers check limits)."""
    pattern, found = re.compile(rf"{re.escape(name)}\.(\d+)\.(.+)"), {}
    for key, value in p.items():
        match = pattern.fullmatch(key)
        if match:
            found.setdefault(int(match.group(1)), Params())[match.group(2)] = value
    return [found[n] for n in sorted(found)]


class Nlb(Product):
    name, version, host = "nlb", "2022-04-30", "nlb.cn-hangzhou.aliyuncs.com"
    ERRORS = ERRORS
    # Per account: AddServersToServerGroup is documented at 200 calls per 60 s; Remove/Update assumed alike.
    RATE_LIMITS = {a: (200 / 60, 200) for a in ("AddServersToServerGroup", "RemoveServersFromServerGroup",
                                                "UpdateServerGroupServersAttribute")}

    def __init__(self, job_polls: int = 1, job_seconds: Optional[float] = None,
                 busy_code: Optional[str] = "IncorrectStatus.serverGroup", create_polls: int = 1,
                 max_servers_per_call: int = 200, max_servers_per_group: int = 400, region: str = "cn-hangzhou",
                 processing_status: str = "processing", succeeded_status: str = "Succeeded",
                 clock: Callable[[], float] = time.monotonic):
        super().__init__()
        self.job_polls, self.job_seconds, self.busy_code = job_polls, job_seconds, busy_code
        self.create_polls, self.region, self.clock = create_polls, region, clock
        self.max_servers_per_call, self.max_servers_per_group = max_servers_per_call, max_servers_per_group
        self.processing_status, self.succeeded_status = processing_status, succeeded_status
        self.instances: dict[str, str] = {}  # Ecs/Eni/Eci id -> status ("Running", "InUse", ...); tests fill it
        self.load_balancers: dict[str, dict[str, Any]] = {}
        self.server_groups: dict[str, dict[str, Any]] = {}
        self.jobs: dict[str, dict[str, Any]] = {}
        self._page_tokens: dict[str, tuple[Any, int]] = {}

    def handle(self, action: str, params: Params) -> dict[str, Any]:
        self._settle()
        try:
            return super().handle(action, params)
        except ApiError as exc:  # the shared getters answer the ENS wording; NLB says IllegalParam.<Field>
            if not exc.code.startswith("InvalidParameter."):
                raise
            detail = exc.message.split("Please check it again.", 1)[-1].strip()
            raise illegal(exc.code.split(".", 1)[1], detail) from None

    # --- jobs -----------------------------------------------------------------------------------

    def _job(self, group_id: str = "") -> dict[str, Any]:
        job = {"JobId": str(uuid.uuid4()), "_group": group_id, "_polls": self.job_polls, "_started": self.clock(),
               "_done": False}
        return self.jobs.setdefault(job["JobId"], job)

    def _kick(self, job: dict[str, Any]) -> dict[str, Any]:
        """Called once the job's changes are recorded: with job_polls 0 it is over at once."""
        if job["_polls"] <= 0:
            self._finish(job)
        return job

    def _finish(self, job: dict[str, Any]) -> None:
        job["_done"] = True
        group = self.server_groups.get(job["_group"])
        if group is None:
            return
        kept = []
        for server in group["_servers"]:
            if server.get("_job") == job["JobId"]:
                if server["Status"] == "Removing":
                    continue
                server["Status"], server["_job"] = "Available", None
            kept.append(server)
        group["_servers"] = kept
        if not self._busy(group):
            group["ServerGroupStatus"] = "Available"

    def _settle(self) -> None:
        if self.job_seconds is not None:
            now = self.clock()
            for job in list(self.jobs.values()):
                if not job["_done"] and now - job["_started"] >= self.job_seconds:
                    self._finish(job)

    def finish_jobs(self) -> None:
        """Test helper: every running job ends now."""
        for job in list(self.jobs.values()):
            if not job["_done"]:
                self._finish(job)

    def _busy(self, group: dict[str, Any]) -> bool:
        return any(not j["_done"] and j["_group"] == group["ServerGroupId"] for j in self.jobs.values())

    def GetJobStatus(self, p: Params) -> dict[str, Any]:
        job = self.jobs.get(p.get_str("JobId", required=True) or "")
        if job is None:
            raise self.error("ResourceNotFound.job")
        if job["_done"]:
            return {"Status": self.succeeded_status}
        job["_polls"] -= 1  # this answer is one of the `job_polls` processing answers
        if job["_polls"] <= 0:
            self._finish(job)
        return {"Status": self.processing_status}

    # --- paging ---------------------------------------------------------------------------------

    def _page(self, items: list[Any], p: Params, scope: Any) -> tuple[list[Any], dict[str, Any]]:
        """MaxResults 1-100 (default 20); NextToken is opaque and valid only for the listing that issued it."""
        size = p.get_int("MaxResults", 1, 100, default=20) or 20
        start, token = 0, p.get_str("NextToken")
        if token is not None:
            if token not in self._page_tokens or self._page_tokens[token][0] != scope:
                raise illegal("NextToken", "Pass the NextToken of the previous page of the same listing.")
            start = self._page_tokens[token][1]
        paging: dict[str, Any] = {"MaxResults": size, "TotalCount": len(items)}
        if start + size < len(items):  # the last page carries no NextToken
            paging["NextToken"] = uuid.uuid4().hex
            self._page_tokens[paging["NextToken"]] = (scope, start + size)
        return items[start:start + size], paging

    # --- load balancers -------------------------------------------------------------------------

    def _lb(self, p: Params) -> dict[str, Any]:
        lb = self.load_balancers.get(p.get_str("LoadBalancerId", required=True) or "")
        if lb is None:
            raise self.error("ResourceNotFound.loadBalancer")
        return lb

    def CreateLoadBalancer(self, p: Params) -> dict[str, Any]:
        address_type = p.get_str("AddressType", required=True, choices=("Internet", "Intranet"))
        vpc = p.get_str("VpcId", required=True)
        zones = objects(p, "ZoneMappings")
        if not zones:
            raise missing("ZoneMappings")
        if not 2 <= len(zones) <= 10:
            raise illegal("ZoneMappings", f"2 to 10 zones are required, got {len(zones)}.")
        mappings, n = [], len(self.load_balancers) + 1
        for i, zone in enumerate(zones, 1):
            mapping = {"ZoneId": zone.get_str("ZoneId", required=True),
                       "VSwitchId": zone.get_str("VSwitchId", required=True), "Status": "Active",
                       "LoadBalancerAddresses": [{"EniId": new_id("eni", 20),
                                                  "PrivateIPv4Address": f"10.{n % 250}.{i}.10"}]}
            if any(m["ZoneId"] == mapping["ZoneId"] for m in mappings):
                raise illegal("ZoneMappings", f"Zone {mapping['ZoneId']} is given twice.")
            if address_type == "Internet":
                mapping["LoadBalancerAddresses"][0]["PublicIPv4Address"] = f"47.{n % 250}.{i}.10"
            mappings.append(mapping)
        name = p.get_str("LoadBalancerName", max_len=128)
        lb_id, region = new_id("nlb", 20), p.get_str("RegionId") or self.region
        lb = {"LoadBalancerId": lb_id, "LoadBalancerName": name or "", "AddressType": address_type, "VpcId": vpc,
              "AddressIpVersion": p.get_str("AddressIpVersion", default="ipv4", choices=("ipv4", "DualStack")),
              "LoadBalancerType": "Network", "RegionId": region, "ZoneMappings": mappings,
              "DNSName": f"{lb_id}.{region}.nlb.aliyuncsslb.com", "CreateTime": now_iso(),
              "LoadBalancerBusinessStatus": "Normal", "CrossZoneEnabled": True,
              "DeletionProtectionConfig": {"Enabled": False}, "SecurityGroupIds": [],
              "Tags": [{"TagKey": t.get("Key", ""), "TagValue": t.get("Value", "")} for t in objects(p, "Tag")]}
        transition(lb, "LoadBalancerStatus", "Provisioning", "Active", self.create_polls)
        self.load_balancers[lb_id] = lb
        return {"LoadbalancerId": lb_id}  # sic: the SDK model reads LoadbalancerId

    def GetLoadBalancerAttribute(self, p: Params) -> dict[str, Any]:
        lb = self._lb(p)
        return {**public(lb), "LoadBalancerStatus": observe(lb, "LoadBalancerStatus")}

    def DeleteLoadBalancer(self, p: Params) -> dict[str, Any]:
        del self.load_balancers[self._lb(p)["LoadBalancerId"]]
        return {"JobId": self._kick(self._job())["JobId"]}

    # --- server groups --------------------------------------------------------------------------

    def _group(self, p: Params, write: bool = False) -> dict[str, Any]:
        group_id = p.get_str("ServerGroupId", required=True) or ""
        group = self.server_groups.get(group_id)
        if group is None:
            raise self.error("ResourceNotFound.serverGroup")
        if write and self.busy_code and self._busy(group):
            raise self.error(self.busy_code, {"Conflict.Lock": f"The Lock [{group_id}] is conflict.",
                                              "IncorrectStatus.serverGroup": f"The status of servergroup "
                                                                             f"[{group_id}] is incorrect."}
                             .get(self.busy_code))
        return group

    def CreateServerGroup(self, p: Params) -> dict[str, Any]:
        name = p.get_str("ServerGroupName", required=True) or ""
        if not NAME.fullmatch(name):
            raise illegal("ServerGroupName", "2-128 letters, digits, '.', '_' or '-', starting with a letter.")
        scheduler = p.get_str("Scheduler", default="Wrr") or "Wrr"
        if scheduler.lower() not in SCHEDULERS:
            raise illegal("Scheduler", f"Valid values: {', '.join(SCHEDULERS)}.")
        health = Params({k[18:]: v for k, v in p.items() if k.startswith("HealthCheckConfig.")})  # flattened
        check: dict[str, Any] = dict(HEALTH_DEFAULTS)
        check.update({k: health.get_int(k, lo, hi) for k, (lo, hi) in HEALTH_INTS.items() if health.get(k)})
        check.update({k: v for k, v in (
            ("HealthCheckEnabled", health.get_bool("HealthCheckEnabled")),
            ("HealthCheckType", health.get_str("HealthCheckType", choices=("TCP", "HTTP", "UDP"))),
            ("HttpCheckMethod", health.get_str("HttpCheckMethod", choices=("GET", "HEAD"))),
            ("HealthCheckDomain", health.get_str("HealthCheckDomain", max_len=80)),
            ("HealthCheckUrl", health.get_str("HealthCheckUrl", max_len=80)),
            ("HealthCheckHttpCode", health.get_list("HealthCheckHttpCode") or None)) if v is not None})
        group_id = new_id("sgp", 20)
        group = {"ServerGroupId": group_id, "ServerGroupName": name, "VpcId": p.get_str("VpcId", required=True),
                 "ServerGroupType": p.get_str("ServerGroupType", default="Instance", choices=("Instance", "Ip")),
                 "Protocol": p.get_str("Protocol", default="TCP", choices=("TCP", "UDP", "TCP_UDP")),
                 "Scheduler": scheduler, "RegionId": p.get_str("RegionId") or self.region,
                 "AddressIPVersion": p.get_str("AddressIPVersion", default="ipv4", choices=("ipv4", "DualStack")),
                 "AnyPortEnabled": p.get_bool("AnyPortEnabled", False),
                 "ConnectionDrainEnabled": p.get_bool("ConnectionDrainEnabled", False),
                 "ConnectionDrainTimeout": p.get_int("ConnectionDrainTimeout", 0, 900, default=0),
                 "PreserveClientIpEnabled": p.get_bool("PreserveClientIpEnabled", True), "HealthCheck": check,
                 "RelatedLoadBalancerIds": [], "ServerGroupStatus": "Creating",
                 "Tags": [{"Key": t.get("Key", ""), "Value": t.get("Value", "")} for t in objects(p, "Tag")],
                 "_servers": []}
        self.server_groups[group_id] = group
        return {"ServerGroupId": group_id, "JobId": self._kick(self._job(group_id))["JobId"]}

    def ListServerGroups(self, p: Params) -> dict[str, Any]:
        ids, names = set(p.get_list("ServerGroupIds")), set(p.get_list("ServerGroupNames"))
        kind, vpc = p.get_str("ServerGroupType", choices=("Instance", "Ip")), p.get_str("VpcId")
        found = [g for g in self.server_groups.values() if (not ids or g["ServerGroupId"] in ids)
                 and (not names or g["ServerGroupName"] in names) and kind in (None, g["ServerGroupType"])
                 and vpc in (None, g["VpcId"])]
        shown, paging = self._page(found, p, ("groups", tuple(sorted(ids)), tuple(sorted(names)), kind, vpc))
        return {"ServerGroups": [{**public(g), "ServerCount": len(g["_servers"])} for g in shown], **paging}

    def DeleteServerGroup(self, p: Params) -> dict[str, Any]:
        group = self._group(p, write=True)
        del self.server_groups[group["ServerGroupId"]]
        return {"JobId": self._kick(self._job())["JobId"]}

    # --- servers --------------------------------------------------------------------------------

    @staticmethod
    def _key(server: dict[str, Any]) -> tuple[str, str, int]:
        # An ENI carries several IPs, each its own backend; other servers are one per (id, port).
        return server["ServerId"], server.get("ServerIp", "") if server["ServerType"] == "Eni" else "", server["Port"]

    def _servers(self, p: Params, group: dict[str, Any], action: str) -> list[dict[str, Any]]:
        raw = objects(p, "Servers")
        if not raw:
            raise missing("Servers")
        if len(raw) > self.max_servers_per_call:
            raise illegal("Servers", f"At most {self.max_servers_per_call} servers per call, got {len(raw)}.")
        servers, seen = [], set()
        for item in raw:
            server: dict[str, Any] = {"ServerId": item.get_str("ServerId", required=True),
                                      "ServerType": item.get_str("ServerType", required=True, choices=SERVER_TYPES),
                                      "Port": item.get_int("Port", 0, 65535, required=action == "update", default=0)}
            for key, value in (("ServerIp", item.get_str("ServerIp")), ("Weight", item.get_int("Weight", 0, 100)),
                               ("Description", item.get_str("Description"))):
                if value is not None:
                    server[key] = value
            if not 2 <= len(server.get("Description", "..")) <= 256:
                raise illegal("description", "2 to 256 characters.")
            if (group["ServerGroupType"] == "Ip") != (server["ServerType"] == "Ip"):
                raise self.error("Mismatch.ServerType", f"The ServerType is mismatched for {server['ServerId']} "
                                                        f"({server['ServerType']}) and {group['ServerGroupId']} "
                                                        f"({group['ServerGroupType']}).")
            if server["ServerType"] == "Ip":
                try:
                    ipaddress.ip_address(server["ServerId"])
                except ValueError:
                    raise self.error("IllegalParam.IP", f"The param of IP is illegal: {server['ServerId']}.") from None
                if server.setdefault("ServerIp", server["ServerId"]) != server["ServerId"]:
                    raise self.error("IllegalParam.IP", "ServerIp must equal ServerId in an Ip server group.")
            if self._key(server) in seen:
                raise self.error("DuplicatedParam.Server")
            seen.add(self._key(server))
            servers.append(server)
        return servers

    def _check_instance(self, server: dict[str, Any]) -> None:
        kind, server_id = server["ServerType"], server["ServerId"]
        if kind == "Ip":
            return
        status = self.instances.get(server_id)
        if status is None:
            raise self.error(f"ResourceNotFound.{kind}", f"The specified resource of {kind} [{server_id}] is not "
                                                         "found.")
        if status not in RUNNING:
            raise self.error(f"IncorrectStatus.{kind}", f"The status of {kind} [{server_id}] is incorrect: {status}.")

    def _write(self, p: Params, action: str) -> tuple[dict[str, Any], list[dict[str, Any]], dict[str, Any]]:
        group = self._group(p, write=True)  # (group, the request's servers, the group's servers by key)
        return group, self._servers(p, group, action), {self._key(s): s for s in group["_servers"]}

    def _started(self, group: dict[str, Any], servers: list[dict[str, Any]], status: str) -> dict[str, Any]:
        job = self._job(group["ServerGroupId"])
        for server in servers:
            server["Status"], server["_job"] = status, job["JobId"]
        group["ServerGroupStatus"] = "Configuring"
        self._kick(job)
        return {"JobId": job["JobId"], "ServerGroupId": group["ServerGroupId"]}

    def AddServersToServerGroup(self, p: Params) -> dict[str, Any]:
        group, servers, existing = self._write(p, "add")
        for server in servers:  # every check passes before anything changes: a failed call changes nothing
            self._check_instance(server)
            if self._key(server) in existing:
                code = "ResourceInUse.IP" if server["ServerType"] == "Ip" else "ResourceInUse.BackendServer"
                raise self.error(code, f"{self.error(code).message} ServerId {server['ServerId']}, "
                                       f"port {server['Port']}.")
        usage = len(group["_servers"]) + len(servers)
        if usage > self.max_servers_per_group:
            raise self.error("QuotaExceeded.QuotaInsufficient", f"The quota of servers per server group is exceeded, "
                                                                f"usage {usage}/{self.max_servers_per_group}.")
        added = [{"ServerGroupId": group["ServerGroupId"], "Weight": 100, **s} for s in servers]
        group["_servers"].extend(added)
        return self._started(group, added, "Adding")

    def _existing(self, servers: list[dict[str, Any]], existing: dict[Any, dict[str, Any]]) -> list[dict[str, Any]]:
        for server in servers:
            if self._key(server) not in existing:
                raise self.error("ResourceNotFound.BackendServer", "The specified resource of BackendServer "
                                 f"[{server['ServerId']}:{server['Port']}] is not found.")
        return [existing[self._key(s)] for s in servers]

    def RemoveServersFromServerGroup(self, p: Params) -> dict[str, Any]:
        group, servers, existing = self._write(p, "remove")
        return self._started(group, self._existing(servers, existing), "Removing")

    def UpdateServerGroupServersAttribute(self, p: Params) -> dict[str, Any]:
        group, servers, existing = self._write(p, "update")
        targets = self._existing(servers, existing)
        for server in servers:  # the new weight is recorded at once, shown as Configuring until the job ends
            existing[self._key(server)].update({k: server[k] for k in ("Weight", "Description") if k in server})
        return self._started(group, targets, "Configuring")

    def ListServerGroupServers(self, p: Params) -> dict[str, Any]:
        groups = [self._group(p)] if p.get_str("ServerGroupId") else list(self.server_groups.values())
        ids, ips = set(p.get_list("ServerIds")), set(p.get_list("ServerIps"))
        found = [s for g in groups for s in g["_servers"]
                 if (not ids or s["ServerId"] in ids) and (not ips or s.get("ServerIp") in ips)]
        scope = ("servers", p.get_str("ServerGroupId"), tuple(sorted(ids)), tuple(sorted(ips)))
        shown, paging = self._page(found, p, scope)
        return {"Servers": [public(s) for s in shown], **paging}
