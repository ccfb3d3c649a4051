"""The path of traffic through what a plan declares: client -> address -> load balancer -> listener -> backends.

Pure: read from a run's registrations (the Kubernetes Service says which controller builds what, the
cloud resources say what Pulumi owns), so a run read back from JSON (`plan/against.py`) gives the
same model as the run it was written from. The stack configuration, where given, only fills in what
no registration says: the pools behind an NLB or CLB that CCM builds, and the cloud region of a CCM CLB.
Every node has a key that stays the same from one run to the next; `plan/topology.py` draws the model.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

from components import annotations as ann
from plan.offline import UNKNOWN, Registration, Run
from stacks.model import ELB_SPEC_DEFAULT, StackConfig
from stacks.naming import cloud_region, matched_pools, region_of_zone, service_key

EDGE_SERVICE = "ack-edge-lb:edge_service:EdgeService"
EXPOSURES = {"ack-edge-lb:elb:RegionalElb": "elb", "ack-edge-lb:nlb:NlbExposure": "nlb",
             "ack-edge-lb:clb:ClbExposure": "clb"}
PATCH = "pulumi-python:dynamic/cluster:ExistingObjectPatch"
CLIENT = "(clients)"
# The steps of the path, in traffic order.
ADDRESS, LOAD_BALANCER, LISTENER, BACKENDS = range(1, 5)


@dataclass(frozen=True)
class Node:
    key: str                        # a registration's name, or `<service>/<controller>/...` for what a controller builds
    label: str                      # lines joined by <br/>
    step: int                       # ADDRESS .. BACKENDS
    region: tuple[str, str]         # ("ens" | "cloud", region id)
    rank: tuple[Any, ...]           # draw order: service, lane, step, port
    backing: tuple[str, ...] = ()   # the registrations whose change is this node's change
    rebuilt_with: tuple[str, ...] = ()  # controller-built: replaced when these are (the Service, its class)
    sig: tuple[tuple[str, Any], ...] = ()  # what a controller builds it from: a change here is an update


@dataclass
class Topology:
    nodes: dict[str, Node] = field(default_factory=dict)
    edges: set[tuple[str, str]] = field(default_factory=set)  # (from key, to key); CLIENT is the start

    def add(self, node: Node, after: str) -> str:
        self.nodes[node.key] = node
        self.edges.add((after, node.key))
        return node.key


def _known(value: Any) -> bool:
    return isinstance(value, (int, str)) and not isinstance(value, bool) and value != UNKNOWN


def _keeper(sync: Registration) -> str:
    """Who keeps a Pulumi-owned group's backends: the BackendSync at each `pulumi up`, or the in-cluster controller."""
    return "the in-cluster controller" if sync.inputs.get("controller") is True else "BackendSync"


def _pools(pools: list[str]) -> str:
    return f" of {', '.join(pools)}" if pools else ""


def _nodes_phrase(policy: str, pools: list[str], cloud: bool = False) -> str:
    kind = "cloud nodes" if cloud else "nodes"
    if policy == "Local":
        return f"{kind}{_pools(pools)} with ready pods, on the NodePort"
    return f"every Ready {kind[:-1]}{_pools(pools)}, on the NodePort"


def _node_port(port: dict[str, Any], allocated: Any = None) -> str:
    """A listener's backend port: the NodePort Kubernetes allocated, else the one configured, else unknown yet."""
    value = allocated if isinstance(allocated, int) and not isinstance(allocated, bool) else port.get("nodePort")
    return f"NodePort {value}" if isinstance(value, int) else "NodePort"


def _target(port: dict[str, Any]) -> Any:
    return port.get("targetPort", port.get("port"))


@dataclass
class _Service:
    key: str
    service: Registration
    children: list[Registration]
    lb_type: str
    management: str
    policy: str
    ports: list[dict[str, Any]]
    annotations: dict[str, str]

    @property
    def tag(self) -> str:
        return f"{self.key} · {self.lb_type} {self.management} · {self.policy}"

    def port(self, number: Any) -> dict[str, Any]:
        return next((p for p in self.ports if p.get("port") == number), {})


class _Builder:
    def __init__(self, run: Run, config: Optional[StackConfig], region_hint: Optional[str]):
        self.topology = Topology()
        self.by_name = {r.name: r for r in run.resources}
        self.by_parent: dict[str, list[Registration]] = {}
        for r in sorted(run.resources, key=lambda r: r.name):
            self.by_parent.setdefault(r.parent or "", []).append(r)
        self.config = config
        self.cloud_region = self._cloud_region(run, config) or region_hint or "cluster region"

    @staticmethod
    def _cloud_region(run: Run, config: Optional[StackConfig]) -> Optional[str]:
        """The cluster's region: from the configuration, else from what the plan declares in it."""
        if config is not None and cloud_region(config.node_pools):
            return cloud_region(config.node_pools)
        for r in sorted(run.resources, key=lambda r: r.name):
            if r.type == "pulumi:providers:alicloud" and _known(r.inputs.get("region")):
                return r.inputs["region"]
            if r.type == "kubernetes:core/v1:Service":
                zones = ((r.inputs.get("metadata") or {}).get("annotations") or {}).get(ann.ZONE_MAPS)
                if zones:  # `<zone>:<vSwitch>,...` of a CCM-built NLB
                    return region_of_zone(sorted(zones.split(","))[0].split(":")[0])
        return None

    def service(self, component: Registration) -> Optional[_Service]:
        children = self.by_parent.get(component.name, [])
        k8s = next((c for c in children if c.type == "kubernetes:core/v1:Service"), None)
        if k8s is None:
            return None
        spec, meta = k8s.inputs.get("spec", {}), k8s.inputs.get("metadata", {})
        annotations = meta.get("annotations") or {}
        cls = spec.get("loadBalancerClass")
        kinds = sorted({EXPOSURES[c.type] for c in children if c.type in EXPOSURES})
        if cls == ann.PULUMI_CLASS:
            lb_type, management = (kinds[0] if kinds else "elb"), "pulumi"
        elif kinds and annotations.get(ann.LOADBALANCER_ID):  # Pulumi's NLB or CLB, bound for CCM to fill
            lb_type, management = kinds[0], "user"
        elif cls == ann.ELB_CLASS:
            lb_type, management = "elb", "user" if annotations.get(ann.MANAGED_BY_USER) == "true" else "ecm"
        else:
            lb_type, management = ("nlb" if cls == ann.NLB_CLASS else "clb"), "ccm"
        return _Service(component.name, k8s, children, lb_type, management, spec.get("externalTrafficPolicy", "Cluster"),
                        sorted(spec.get("ports") or [], key=lambda p: (p.get("port", 0), p.get("protocol", ""))),
                        annotations)

    def configured_pools(self, svc: _Service) -> list[str]:
        """The pools a CCM-built load balancer serves: only the configuration says."""
        if self.config is None:
            return []
        for s in self.config.services:
            if service_key(s) == svc.key:
                pools = matched_pools(s, self.config.node_pools)
                return [p.id for p in pools if svc.lb_type != "clb" or p.type == "cloud"]
        return []

    # --- ELB: one path per matched ENS pool -------------------------------------------------------------------------

    def elb(self, svc: _Service) -> None:
        elbs = {c.name.rsplit("/", 1)[-1]: c for c in svc.children if c.type == "ack-edge-lb:elb:RegionalElb"}
        patches = {c.inputs.get("name"): c for c in svc.children if c.type == PATCH and c.inputs.get("kind") == "NodePool"}
        bindings = {c.name.rsplit("/", 1)[-1]: c for c in svc.children
                    if c.type == PATCH and c.inputs.get("kind") == "PoolService"}
        for pool in sorted(set(elbs) | set(patches)):
            if pool in elbs:
                self.pulumi_elb(svc, pool, elbs[pool])
            else:
                region = (patches[pool].inputs.get("annotations") or {}).get(ann.ENS_REGION_ID, pool)
                self.controller_elb(svc, pool, region, bindings.get(pool))

    def pulumi_elb(self, svc: _Service, pool: str, component: Registration) -> None:
        parts = {c.name[len(component.name) + 1:]: c for c in self.by_parent.get(component.name, [])}
        lb, eip = parts.get("loadbalancer"), parts.get("eip")
        if lb is None or eip is None:
            return
        region = ("ens", lb.inputs.get("ensRegionId", pool))
        rank = (svc.key, pool)
        by = ("ELB + EIP by Pulumi, listeners and backends by ECM" if svc.management == "user"
              else "ELB, EIP, listeners, backends by Pulumi")
        facts = [f"{eip.inputs['bandwidth']} Mbit/s"] if _known(eip.inputs.get("bandwidth")) else []
        facts += [eip.inputs["isp"]] if _known(eip.inputs.get("isp")) else []
        address = self.topology.add(Node(eip.name, _lines("EIP", " · ".join(facts)), ADDRESS, region,
                                         (*rank, ADDRESS), backing=_names(eip, parts.get("eip-address"))), CLIENT)
        elb = self.topology.add(Node(
            lb.name, f"ELB {lb.inputs.get('loadBalancerSpec', '')}".strip() + f"<br/>{svc.tag}<br/>{by}",
            LOAD_BALANCER, region, (*rank, LOAD_BALANCER), backing=(lb.name,)), address)
        if svc.management == "user":  # ECM keeps listeners and backends of the ELB Pulumi created
            self.ecm_listeners(svc, pool, region, elb, rebuilt_with=(svc.service.name, lb.name))
            return
        backends = parts.get("backends")
        listeners = sorted((r for key, r in parts.items() if key.startswith("listener/")),
                           key=lambda r: (r.inputs.get("listenerPort", 0), r.name))
        targets = []
        for r in listeners:
            port = r.inputs.get("listenerPort")
            protocol = r.inputs.get("protocol") or r.name.rsplit("/", 1)[-1].split("-")[0]
            targets.append(self.topology.add(Node(
                r.name, f"{protocol}:{port} → {_node_port(svc.port(port), r.inputs.get('backendServerPort'))}",
                LISTENER, region, (*rank, LISTENER, port), backing=(r.name,)), elb))
        if backends is not None:
            node = Node(backends.name, f"{_nodes_phrase(svc.policy, backends.inputs.get('pools') or [pool])}"
                                       f"<br/>kept by {_keeper(backends)}", BACKENDS, region, (*rank, BACKENDS),
                        backing=(backends.name,))
            for source in targets or [elb]:
                self.topology.add(node, source)

    def controller_elb(self, svc: _Service, pool: str, region_id: str, binding: Optional[Registration]) -> None:
        """ECM builds the ELB and EIP (`ecm`), or binds the ELB the user names (`user`, with `elbIds`)."""
        region, rank, rebuilt = ("ens", region_id), (svc.key, pool), (svc.service.name,)
        a = svc.annotations
        if svc.management == "user":
            elb_id = (binding.inputs.get("annotations") or {}).get(ann.LOADBALANCER_ID, "") if binding else ""
            base = f"{svc.key}/user/{pool}/{elb_id}"
            backing = (binding.name,) if binding else ()
            address = self.topology.add(Node(f"{base}/eip", f"EIP of {elb_id}", ADDRESS, region, (*rank, ADDRESS),
                                             backing=backing), CLIENT)
            elb = self.topology.add(Node(
                base, f"ELB {elb_id} (bound)<br/>{svc.tag}<br/>self-managed; listeners and backends by ECM", LOAD_BALANCER,
                region, (*rank, LOAD_BALANCER), backing=backing), address)
        else:
            base = f"{svc.key}/ecm/{pool}"
            eip = {k: a[ann.LB + k] for k in ("eip-bandwidth", "eip-isp", "eip-internet-charge-type") if a.get(ann.LB + k)}
            facts = [f"{eip['eip-bandwidth']} Mbit/s"] if "eip-bandwidth" in eip else []
            facts += [eip["eip-isp"]] if "eip-isp" in eip else []
            address = self.topology.add(Node(f"{base}/eip", _lines("EIP", " · ".join(facts)), ADDRESS, region,
                                             (*rank, ADDRESS), rebuilt_with=rebuilt, sig=tuple(sorted(eip.items()))),
                                        CLIENT)
            spec = a.get(ann.LB + "spec") or ELB_SPEC_DEFAULT  # ECM's documented default
            elb = self.topology.add(Node(
                f"{base}/elb", f"ELB {spec}<br/>{svc.tag}<br/>ELB + EIP built by ECM",
                LOAD_BALANCER, region, (*rank, LOAD_BALANCER), rebuilt_with=rebuilt, sig=(("spec", spec),)), address)
        self.ecm_listeners(svc, pool, region, elb, rebuilt_with=rebuilt)

    def ecm_listeners(self, svc: _Service, pool: str, region: tuple[str, str], elb: str,
                      rebuilt_with: tuple[str, ...]) -> None:
        """ECM makes a listener per Service port and keeps the pool's nodes as backends."""
        base, rank = f"{svc.key}/ecm/{pool}", (svc.key, pool)
        backends = Node(f"{base}/backends", f"{_nodes_phrase(svc.policy, [pool])}<br/>kept by ECM", BACKENDS, region,
                        (*rank, BACKENDS), rebuilt_with=rebuilt_with, sig=(("policy", svc.policy),))
        for port in svc.ports:
            protocol = port.get("protocol", "TCP").lower()
            listener = self.topology.add(Node(
                f"{base}/listener/{protocol}-{port.get('port')}", f"{protocol}:{port.get('port')} → {_node_port(port)}",
                LISTENER, region, (*rank, LISTENER, port.get("port")), rebuilt_with=rebuilt_with,
                sig=(("nodePort", port.get("nodePort")),)), elb)
            self.topology.add(backends, listener)

    # --- NLB and CLB: one load balancer in the cluster's region --------------------------------------------------------

    def pulumi_regional(self, svc: _Service, component: Registration) -> None:
        parts = {c.name[len(component.name) + 1:]: c for c in self.by_parent.get(component.name, [])}
        lb = parts.get("loadbalancer")
        if lb is None:
            return
        kind = svc.lb_type.upper()
        zones = sorted(z.get("zoneId", "") for z in lb.inputs.get("zoneMappings") or [])
        syncs = [r for key, r in sorted(parts.items()) if key.startswith("backends/")]
        region_id = (region_of_zone(zones[0]) if zones else
                     next((r.inputs["regionId"] for r in syncs if _known(r.inputs.get("regionId"))), self.cloud_region))
        region, rank = ("cloud", region_id), (svc.key, svc.lb_type)
        address_type = str(lb.inputs.get("addressType", "")).lower()
        address = self.topology.add(Node(
            f"{component.name}/address", f"{kind} address{' · ' + address_type if address_type else ''}", ADDRESS,
            region, (*rank, ADDRESS), backing=(lb.name,)), CLIENT)
        where = f"<br/>zones {', '.join(zones)}" if zones else ""
        bound = svc.management == "user"  # CCM fills the groups the Service binds
        by = f"{kind}, listeners, groups by Pulumi; backends by CCM" if bound else f"{kind}, listeners, backends by Pulumi"
        node = self.topology.add(Node(
            lb.name, f"{kind}<br/>{svc.tag}{where}<br/>{by}", LOAD_BALANCER, region,
            (*rank, LOAD_BALANCER), backing=(lb.name,)), address)
        for key, listener in sorted(parts.items()):
            if not key.startswith("listener/"):
                continue
            suffix = key.split("/", 1)[1]
            group, sync = parts.get(f"server-group/{suffix}"), parts.get(f"backends/{suffix}")
            port = listener.inputs.get("listenerPort", listener.inputs.get("frontendPort"))
            protocol = str(listener.inputs.get("listenerProtocol") or listener.inputs.get("protocol") or "").lower()
            ip_mode = (sync is not None and sync.inputs.get("mode") == "ip") or (
                bound and group is not None and group.inputs.get("serverGroupType") == "Ip")
            target = (f"pod port {sync.inputs.get('port') if sync is not None else _target(svc.port(port))}"
                      if ip_mode else _node_port(svc.port(port), listener.inputs.get("backendPort")))
            step = self.topology.add(Node(listener.name, f"{protocol}:{port} → {target}", LISTENER, region,
                                          (*rank, LISTENER, port), backing=(listener.name,)), node)
            if bound and group is not None:
                what = (f"pods by IP, port {_target(svc.port(port))}" if ip_mode
                        else _nodes_phrase(svc.policy, self.configured_pools(svc), cloud=svc.lb_type == "clb"))
                group_kind = (f"{group.inputs.get('serverGroupType', '')} server group".strip() if svc.lb_type == "nlb"
                              else "VServerGroup")
                self.topology.add(Node(group.name, f"{group_kind}<br/>{what}<br/>kept by CCM", BACKENDS, region,
                                       (*rank, BACKENDS, port), backing=(group.name, svc.service.name)), step)
                continue
            if sync is None:
                continue
            pools = sync.inputs.get("pools") or []
            what = (f"pods{_pools(pools)} by IP, port {sync.inputs.get('port')}" if ip_mode
                    else _nodes_phrase(svc.policy, pools, cloud=svc.lb_type == "clb"))
            group_kind = (f"{group.inputs.get('serverGroupType', '')} server group".strip() if svc.lb_type == "nlb"
                          else "VServerGroup")
            self.topology.add(Node(sync.name, f"{group_kind}<br/>{what}<br/>kept by {_keeper(sync)}", BACKENDS, region,
                                   (*rank, BACKENDS, port), backing=_names(sync, group)), step)

    def ccm(self, svc: _Service) -> None:
        """CCM builds the NLB or CLB from the Service: a listener and a server group per port."""
        kind, a = svc.lb_type.upper(), svc.annotations
        zones = sorted(z.split(":")[0] for z in (a.get(ann.ZONE_MAPS) or "").split(",") if z)
        region = ("cloud", region_of_zone(zones[0]) if zones else self.cloud_region)
        base, rank, rebuilt = f"{svc.key}/ccm", (svc.key, svc.lb_type), (svc.service.name,)
        address = self.topology.add(Node(f"{base}/address", f"{kind} address", ADDRESS, region, (*rank, ADDRESS),
                                         rebuilt_with=rebuilt), CLIENT)
        where = f"<br/>zones {', '.join(zones)}" if zones else ""
        lb = self.topology.add(Node(f"{base}/{svc.lb_type}", f"{kind}<br/>{svc.tag}{where}<br/>{kind} built by CCM",
                                    LOAD_BALANCER, region, (*rank, LOAD_BALANCER), rebuilt_with=rebuilt,
                                    sig=(("zones", tuple(zones)),)), address)
        pools = self.configured_pools(svc)
        ip_mode = svc.lb_type == "nlb" and a.get(ann.SERVER_GROUP_TYPE) == "Ip"
        group = "VServerGroup" if svc.lb_type == "clb" else ("Ip server group" if ip_mode else "server group")
        for port in svc.ports:
            protocol, number = port.get("protocol", "TCP").lower(), port.get("port")
            target = f"pod port {_target(port)}" if ip_mode else _node_port(port)
            listener = self.topology.add(Node(
                f"{base}/listener/{protocol}-{number}", f"{protocol}:{number} → {target}", LISTENER, region,
                (*rank, LISTENER, number), rebuilt_with=rebuilt, sig=(("target", target),)), lb)
            what = (f"pods{_pools(pools)} by IP, port {_target(port)}" if ip_mode
                    else _nodes_phrase(svc.policy, pools, cloud=svc.lb_type == "clb"))
            self.topology.add(Node(
                f"{base}/backends/{protocol}-{number}", f"{group}<br/>"
                f"{what}<br/>kept by CCM", BACKENDS, region, (*rank, BACKENDS, number), rebuilt_with=rebuilt,
                sig=(("ip", ip_mode), ("policy", svc.policy))), listener)

    def build(self) -> Topology:
        for component in sorted((r for r in self.by_name.values() if r.type == EDGE_SERVICE), key=lambda r: r.name):
            svc = self.service(component)
            if svc is None:
                continue
            if svc.lb_type == "elb":
                self.elb(svc)
            elif svc.management == "ccm":
                self.ccm(svc)
            else:
                for child in svc.children:
                    if child.type in EXPOSURES:
                        self.pulumi_regional(svc, child)
        return self.topology


def _names(*registrations: Optional[Registration]) -> tuple[str, ...]:
    return tuple(sorted(r.name for r in registrations if r is not None))


def _lines(*lines: str) -> str:
    return "<br/>".join(line for line in lines if line)


def build(run: Run, config: Optional[StackConfig] = None, region_hint: Optional[str] = None) -> Topology:
    """The traffic paths of every Service the run declares. `region_hint`: the cluster's region where neither
    `config` nor the run says it (only a CCM-built CLB is placed by it)."""
    return _Builder(run, config, region_hint).build()
