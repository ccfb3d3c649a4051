"""A cluster and a cloud for the controller: the fake Kubernetes API and the emulator in this process, on
127.0.0.1, and controller replicas as real processes against them.

    with World(tmp_path) as world:
        world.nodes("np-cloud", ["cloud-1", "cloud-2"])
        web = world.nlb_ip("shop", "web", drain_seconds=1)          # Service, Ip server group, its record
        world.endpoints(web, {"a": [Pod("172.16.0.1", "cloud-1")]})  # EndpointSlices, pods kept in their slice
        a = world.start("a")                                          # python -m reconciler.controller ...
        world.wait_servers(web, {("172.16.0.1", 8080): 100})
        world.wait_synced(web)

The records are created as the Pulumi dynamic resource declares them: `BackendRecord(api, ns,
record_name(...)).ensure(spec_for(...))`. Cloud objects (server groups, ELBs, foreign servers) are put into the
emulator's state directly, so they cost no counted call; every call the controller makes is counted
(`cloud.calls`, `cloud.log`). An NLB job ends at its first status poll, or after `nlb_job_seconds` when nobody
polls it (a killed replica's job still ends, as a real one does). Teardown kills every replica still running, then stops both servers.
"""

from __future__ import annotations

import os
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Optional

import yaml
from kubernetes import config as k8s_config

from reconciler.groups import owner_mark
from reconciler.record import CRD_FILE, PLURAL, BackendRecord, describe, is_synced, record_name, spec_for
from tests.controller.process import FAST_FLAGS, ControllerProcess, free_port, tails
from tests.controller.waits import Servers, wait_until
from tests.emulator import Emulator, Ens, Nlb, Params, Slb
from tests.kubeserver import SERVICE_NAME_LABEL, KubeServer

SYSTEM_NS, LEASE = "ack-edge-lb-system", "ack-edge-lb-controller"
REGION, LB_CLASS = "cn-hangzhou", "ack-edge-lb/pulumi"
ACCESS_KEY = ("ak-controller-test", "sk-controller-test")
TOKEN = "controller-token"
NLB_WRITES = ("AddServersToServerGroup", "UpdateServerGroupServersAttribute", "RemoveServersFromServerGroup")
ENS_WRITES = ("AddBackendServers", "SetBackendServers", "RemoveBackendServers")
WRITES = NLB_WRITES + ENS_WRITES
_CLEARED_ENV = ("ALIBABA_CLOUD_", "ALICLOUD_", "ACK_EDGE_LB_", "KUBECONFIG", "POD_")


@dataclass(frozen=True)
class Pod:
    ip: str
    node: Optional[str] = None
    ready: bool = True
    terminating: bool = False

    def wire(self, namespace: str) -> dict[str, Any]:
        """An endpoint as the EndpointSlice controller writes it."""
        name = f"pod-{self.ip.replace('.', '-')}"
        # A terminating pod is never `ready`; `serving` says whether its readiness probe still passes.
        conditions = {"ready": self.ready and not self.terminating, "serving": self.ready,
                      "terminating": self.terminating}
        endpoint = {"addresses": [self.ip], "conditions": conditions,
                    "targetRef": {"kind": "Pod", "namespace": namespace, "name": name,
                                  "uid": str(uuid.uuid5(uuid.NAMESPACE_URL, f"pod/{namespace}/{name}"))}}
        if self.node:
            endpoint["nodeName"] = self.node
        return endpoint


@dataclass
class Group:
    """One seeded backend group and its BackendGroup record."""

    kind: str
    group_id: str
    namespace: str
    service: str
    spec: dict[str, Any]
    record: str
    port_name: str = "http"
    target_port: int = 8080
    slices: dict[str, str] = field(default_factory=dict)  # our slice name -> stored slice name

    @property
    def owner(self) -> str:
        return owner_mark(self.namespace, self.service)


class World:
    def __init__(self, directory: Path, *, latency: float = 0.0, rate_limits: bool = True, nlb_job_polls: int = 1,
                 nlb_job_seconds: float = 1.0):
        self.directory = Path(directory)
        self.kube = KubeServer(token=TOKEN)
        nlb = Nlb(job_polls=nlb_job_polls, job_seconds=nlb_job_seconds)
        self.cloud = Emulator([Ens(create_polls=0), nlb, Slb()], latency=latency, rate_limits=rate_limits,
                              secrets={ACCESS_KEY[0]: ACCESS_KEY[1]})
        self.controllers: list[ControllerProcess] = []
        self.groups: list[Group] = []
        self.api: Any = None

    # --- lifecycle ------------------------------------------------------------------------------------

    def __enter__(self) -> "World":
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            self.kube.start()
            self.cloud.start()
            self.kube.register_crd(CRD_FILE)
            self.kubeconfig = self.directory / "kubeconfig.yaml"
            self.kubeconfig.write_text(self.kube.kubeconfig(TOKEN))
            self.api = k8s_config.new_client_from_config_dict(yaml.safe_load(self.kube.kubeconfig(TOKEN)))
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc: Any) -> None:
        for controller in self.controllers:
            controller.stop()
        if self.api is not None:
            self.api.close()
        self.cloud.stop()
        self.kube.stop()

    # --- the cluster ----------------------------------------------------------------------------------

    def nodes(self, pool: str, names: Iterable[str], *, ens: bool = False) -> list[str]:
        """Ready nodes of `pool`: ENS nodes carry their instance id label (Running in the emulator), cloud nodes
        a providerID `<region>.i-<name>`."""
        out = []
        for name in names:
            if ens:
                instance = f"i-{name}"
                self.kube.add_node(name, pool=pool, instance_id=instance, internal_ip="10.0.0.1")
                with self.cloud.lock:
                    self.cloud.ens.instances[instance] = "Running"
            else:
                self.kube.add_node(name, pool=pool, provider_id=f"{REGION}.i-{name}", internal_ip="10.0.0.1")
            out.append(name)
        return out

    def service(self, namespace: str, name: str, *, port_name: str = "http", target_port: int = 8080,
                policy: str = "Cluster") -> None:
        self.kube.add_service(namespace, name, ports=[{"name": port_name, "port": 80, "targetPort": target_port}],
                              load_balancer_class=LB_CLASS, external_traffic_policy=policy)

    def delete_service(self, group: Group, *, with_slices: bool = True) -> None:
        """The Service deleted; its EndpointSlices follow (the garbage collector deletes them by ownerReference)."""
        with self.kube.lock:
            del self.kube.services[(group.namespace, group.service)]
        if with_slices:
            self.endpoints(group, {})

    def endpoints(self, group: Group, slices: Mapping[str, Iterable[Pod]]) -> float:
        """The Service's EndpointSlices, one per key of `slices`, each pod staying in the slice it is put in (as
        the EndpointSlice controller keeps endpoints in place): changed slices are updated in place, new ones
        created, slices no longer named deleted, in that order. Returns the time (monotonic) of the last write."""
        ports = [{"name": group.port_name, "port": group.target_port, "protocol": "TCP"}]
        kube, ns = self.kube, group.namespace
        with kube.lock:
            for key, pods in slices.items():
                wire = [p.wire(ns) for p in pods]
                stored = group.slices.get(key)
                if stored is None:
                    stored = group.slices[key] = f"{group.service}-{key}"
                    meta = kube._meta(stored, ns, generateName=f"{group.service}-",
                                      labels={"endpointslice.kubernetes.io/managed-by":
                                              "endpointslice-controller.k8s.io", SERVICE_NAME_LABEL: group.service},
                                      generation=1)
                    owner = kube.services.get((ns, group.service))
                    if owner is not None:
                        meta["ownerReferences"] = [{"apiVersion": "v1", "kind": "Service", "name": group.service,
                                                    "uid": owner["metadata"]["uid"], "controller": True,
                                                    "blockOwnerDeletion": True}]
                    kube.slices[(ns, stored)] = {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
                                                 "metadata": meta, "addressType": "IPv4", "endpoints": wire,
                                                 "ports": ports}
                    continue
                current = kube.slices[(ns, stored)]
                if current["endpoints"] != wire:
                    updated = {**current, "endpoints": wire, "ports": ports,
                               "metadata": {**current["metadata"],
                                            "generation": current["metadata"].get("generation", 1) + 1}}
                    kube.slices[(ns, stored)] = updated
            for key in [k for k in group.slices if k not in slices]:
                kube.slices.pop((ns, group.slices.pop(key)), None)
            return time.monotonic()

    # --- the cloud ------------------------------------------------------------------------------------

    def nlb_group(self, name: str = "web") -> str:
        with self.cloud.lock:
            answer = self.cloud.nlb.handle("CreateServerGroup", Params({
                "ServerGroupName": name, "ServerGroupType": "Ip", "VpcId": "vpc-test", "Protocol": "TCP",
                "RegionId": REGION}))
            self.cloud.nlb.finish_jobs()
        return answer["ServerGroupId"]

    def ens_elb(self, region: str = "cn-hefei-cmcc-2") -> str:
        with self.cloud.lock:
            answer = self.cloud.ens.handle("CreateLoadBalancer", Params({
                "EnsRegionId": region, "LoadBalancerSpec": "elb.s2.small", "NetworkId": "n-test",
                "VSwitchId": "vsw-test", "PayType": "PostPaid"}))
        return answer["LoadBalancerId"]

    def foreign(self, group: Group, server_id: str, port: int = 9000) -> tuple[str, int]:
        """A server someone else added (the console, another tool): never to be touched."""
        with self.cloud.lock:
            if group.kind == "nlb":
                self.cloud.nlb.server_groups[group.group_id]["_servers"].append({
                    "ServerGroupId": group.group_id, "ServerId": server_id, "ServerIp": server_id, "ServerType": "Ip",
                    "Port": port, "Weight": 100, "Description": "manual", "Status": "Available", "_job": None})
                return server_id, port
            self.cloud.ens.instances[server_id] = "Running"
            self.cloud.ens.load_balancers[group.group_id]["_backends"].append(
                {"ServerId": server_id, "Type": "ens", "Weight": 100})
            return server_id, 0

    def servers(self, group: Group) -> Servers:
        """(server id, port) -> weight, as the emulator holds them now."""
        with self.cloud.lock:
            if group.kind == "nlb":
                raw = self.cloud.nlb.server_groups[group.group_id]["_servers"]
                return {(s["ServerId"], int(s["Port"])): int(s.get("Weight", 100)) for s in raw}
            raw = self.cloud.ens.load_balancers[group.group_id]["_backends"]
            return {(s["ServerId"], int(s.get("Port") or 0)): int(s.get("Weight", 100)) for s in raw}

    def writes(self) -> int:
        with self.cloud.lock:
            return sum(self.cloud.calls[a] for a in WRITES)

    def calls(self) -> int:
        with self.cloud.lock:
            return sum(self.cloud.calls.values())

    # --- records --------------------------------------------------------------------------------------

    def record(self, kind: str, group_id: str, namespace: str, service: str, mode: str, *,
               region: Optional[str] = None, pools: Iterable[str] = (), port: int = 0, port_name: str = "http",
               server_type: Optional[str] = None, drain_seconds: float = 0,
               ingress: Optional[list[dict[str, str]]] = None, target_port: int = 8080,
               writer: str = "controller") -> Group:
        """A record as BackendSync declares it; `writer` "controller" when the stack deploys the controller."""
        spec = spec_for(kind=kind, group_id=group_id, service=service, mode=mode, region_id=region,
                        port_name=port_name, pools=pools, port=port, server_type=server_type,
                        drain_seconds=drain_seconds, ingress=ingress, writer=writer)
        name = record_name(service, kind, group_id, region)
        BackendRecord(self.api, namespace, name).ensure(spec)
        group = Group(kind, group_id, namespace, service, spec, name, port_name, target_port)
        self.groups.append(group)
        return group

    def nlb_ip(self, namespace: str, service: str, *, drain_seconds: float = 1, create_service: bool = True,
               writer: str = "controller") -> Group:
        """A Service of class ack-edge-lb/pulumi, an NLB `Ip` server group, and the record binding them."""
        if create_service:
            self.service(namespace, service)
        group_id = self.nlb_group(service)
        return self.record("nlb", group_id, namespace, service, "ip", region=REGION, port=8080, server_type="Ip",
                           drain_seconds=drain_seconds, writer=writer,
                           ingress=[{"hostname": f"nlb-{service}.{REGION}.nlb.aliyuncsslb.com"}])

    def ens_cluster(self, namespace: str, service: str, pool: str, *, drain_seconds: float = 1,
                    address: str = "39.0.0.1") -> Group:
        """A Service, an ENS ELB, and a record in Cluster mode for the Ready nodes of `pool`."""
        self.service(namespace, service)
        return self.record("ens", self.ens_elb(), namespace, service, "cluster", pools=[pool], server_type="ens",
                           drain_seconds=drain_seconds, ingress=[{"ip": address}])

    def record_obj(self, group: Group) -> Optional[dict[str, Any]]:
        return self.kube.custom_object(PLURAL, group.record, group.namespace)

    def synced(self, group: Group) -> bool:
        obj = self.record_obj(group)
        generation = int(((obj or {}).get("metadata") or {}).get("generation") or 1)
        return is_synced(obj, generation)

    def owned(self, group: Group) -> Servers:
        status = (self.record_obj(group) or {}).get("status") or {}
        return {(b["serverId"], int(b.get("port") or 0)): int(b["weight"]) for b in status.get("owned") or []}

    def events(self, group: Group, reason: Optional[str] = None) -> list[dict[str, Any]]:
        return self.kube.recorded_events(group.namespace, name=group.record, kind="BackendGroup", reason=reason)

    def lease_holder(self) -> Optional[str]:
        lease = self.kube.lease(SYSTEM_NS, LEASE)
        return ((lease or {}).get("spec") or {}).get("holderIdentity") or None

    def service_ingress(self, group: Group) -> list[dict[str, str]]:
        svc = self.kube.services.get((group.namespace, group.service)) or {}
        ingress = ((svc.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
        return [{k: v for k, v in point.items() if k in ("ip", "hostname")} for point in ingress]

    # --- controllers ----------------------------------------------------------------------------------

    def env(self, extra: Optional[Mapping[str, str]] = None) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(_CLEARED_ENV)}
        endpoint = f"http://{self.cloud.endpoint}"
        env.update({"ALIBABA_CLOUD_ACCESS_KEY_ID": ACCESS_KEY[0], "ALIBABA_CLOUD_ACCESS_KEY_SECRET": ACCESS_KEY[1],
                    "ACK_EDGE_LB_ENS_ENDPOINT": endpoint, "ACK_EDGE_LB_NLB_ENDPOINT": endpoint,
                    "ACK_EDGE_LB_CLB_ENDPOINT": endpoint, "ALIBABA_CLOUD_ECS_METADATA_DISABLED": "true",
                    "PYTHONUNBUFFERED": "1", "HOME": str(self.directory)})
        env.update(extra or {})
        return env

    def start(self, identity: str = "a", *extra: str, flags: Optional[Mapping[str, str]] = None,
              rate_limits: Optional[str] = None, env: Optional[Mapping[str, str]] = None) -> ControllerProcess:
        """One replica: FAST_FLAGS, overridden by `flags`; `extra` appended as given (`--no-leader-election`)."""
        port = free_port()
        args = {"--kubeconfig": str(self.kubeconfig), "--namespace": SYSTEM_NS, "--identity": identity,
                "--metrics-port": str(port), "--metrics-address": "127.0.0.1", **FAST_FLAGS, **(flags or {})}
        if rate_limits is not None:
            args["--rate-limits"] = rate_limits
        argv = [part for item in args.items() for part in item] + list(extra)
        controller = ControllerProcess(identity, argv, self.env(env), self.directory, port)
        self.controllers.append(controller)
        return controller

    def explain(self) -> str:
        """What to look at when a wait fails: each record's state, each replica's last log lines."""
        lines = [f"record {g.namespace}/{g.record}: {describe(self.record_obj(g))}; group {self.servers(g)}"
                 for g in self.groups[:4]]
        lines.append(f"lease holder: {self.lease_holder()}; cloud calls: {dict(self.cloud.calls)}")
        return "\n".join(lines) + "\n" + tails(self.controllers)

    def leader(self, timeout: float = 15.0) -> ControllerProcess:
        """The running replica the Lease names."""
        def find() -> Optional[ControllerProcess]:
            holder = self.lease_holder()
            return next((c for c in self.controllers if c.identity == holder and c.alive()), None)
        return wait_until(find, timeout, "a running replica holds the Lease", self.explain)

    def wait_servers(self, group: Group, expected: Servers, timeout: float = 15.0) -> Servers:
        return wait_until(lambda: self.servers(group) == expected or _diff(self.servers(group), expected),
                          timeout, f"group {group.group_id} holds exactly the expected {len(expected)} servers",
                          self.explain) and self.servers(group)

    def wait_synced(self, group: Group, timeout: float = 15.0) -> dict[str, Any]:
        wait_until(lambda: self.synced(group), timeout, f"record {group.record} Synced at its generation",
                   self.explain)
        return self.record_obj(group) or {}

    def wait_metrics(self, controller: ControllerProcess, timeout: float = 20.0):
        return wait_until(controller.metrics_or_none, timeout, f"{controller.identity} serves /metrics", self.explain)


def _diff(have: Servers, want: Servers) -> bool:
    """Falsy, but says what differs when a wait fails (AssertionError is shown as the last value)."""
    missing = sorted(k for k in want if k not in have)[:5]
    extra = sorted(k for k in have if k not in want)[:5]
    weights = sorted((k, have[k], want[k]) for k in want if k in have and have[k] != want[k])[:5]
    raise AssertionError(f"{len(have)} servers; missing {missing}, extra {extra}, weights (have, want) {weights}")

