"""NlbExposure: a Pulumi-owned NLB in the cluster VPC, pods registered directly as IP backends.

The documentation's recommended path for hybrid cloud/edge pods (Terway Edge, Express Connect; the
loader enforces both). One NLB with a zone mapping per cloud zone; per Service port an `Ip` server
group, a listener, and a BackendSync that registers every ready pod IP on its target port, pods of
cloud and edge pools alike. With `serverGroupType: Instance`, nodes (ECS) on the NodePort instead.

Under `management: user` the same NLB, groups and listeners, but no BackendSync: the Service binds the
groups (`vgroup-port`) and CCM keeps their servers (components/annotations.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

import pulumi
from pulumi_alicloud import nlb

from components.annotations import vgroup_port
from components.controller import Controller, controller_dependencies
from reconciler.provider import BackendSync
from stacks.model import HealthCheck, NodePool, Service
from stacks.naming import cloud_zones, listener_name, nlb_name, nlb_server_group_name, region_of_zone

SCHEDULERS = {"rr": "Rr", "wrr": "Wrr", "wlc": "Wlc", "sch": "Sch", "tch": "Tch", "qch": "Qch"}
# NLB connection drain takes 10-900 s; shorter drains are left to BackendSync's weight-0 step.
DRAIN_RANGE = (10, 900)


@dataclass(frozen=True)
class NlbExposureArgs:
    service: Service
    cluster_id: str
    vpc_id: str
    node_pools: Sequence[NodePool]      # every pool: the NLB sits in the cloud pools' zones
    matched_pools: Sequence[NodePool]   # where the Service's pods run
    protect: bool
    node_ports: Optional[pulumi.Output[list[Optional[int]]]] = None
    after: Sequence[pulumi.Resource] = ()
    # The alicloud provider of the cluster's region (components/providers.py).
    provider: Optional[pulumi.ProviderResource] = None
    # CCM keeps the groups' servers (`management: user`): no BackendSync.
    bound_by_ccm: bool = False
    # The in-cluster controller, when the stack deploys it: it keeps the servers, BackendSync waits for it.
    controller: Optional[Controller] = None


class NlbExposure(pulumi.ComponentResource):
    address: pulumi.Output[str]

    def __init__(self, name: str, args: NlbExposureArgs, opts: Optional[pulumi.ResourceOptions] = None):
        # Protected as a whole: every child inherits `protect`, so a destroy, or a pool leaving the selector,
        # stops at the first of them instead of deleting listeners and backends before the load balancer.
        # Its cloud resources take the provider of the cluster's region, never the default's (cn-beijing).
        super().__init__("ack-edge-lb:nlb:NlbExposure", name, None, pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(
            protect=args.protect, providers=[args.provider] if args.provider is not None else None)))
        svc, lb = args.service, args.service.load_balancer
        zones = cloud_zones(args.node_pools)
        region = region_of_zone(next(iter(zones)))
        child = pulumi.ResourceOptions(parent=self)
        self.load_balancer = nlb.LoadBalancer(
            f"{name}/loadbalancer",
            load_balancer_name=nlb_name(svc.name, svc.namespace, args.cluster_id),
            load_balancer_type="Network", address_type=lb.address_type.capitalize(), address_ip_version="ipv4",
            vpc_id=args.vpc_id, deletion_protection_enabled=args.protect,
            zone_mappings=[nlb.LoadBalancerZoneMappingArgs(zone_id=z, vswitch_id=v) for z, v in zones.items()],
            opts=pulumi.ResourceOptions(parent=self,
                                        import_=lb.adopt["lb"].load_balancer_id if "lb" in lb.adopt else None))
        ip_mode = lb.server_group_type == "Ip"
        hc = lb.health_check or HealthCheck()
        drain = max(DRAIN_RANGE[0], min(DRAIN_RANGE[1], lb.drain_seconds))
        self.listeners, self.syncs, self.groups = [], [], []
        for index, port in enumerate(svc.ports):
            key = f"{port.protocol.lower()}-{port.port}"
            # Never CCM's own name (`k8s.<port>.<protocol>.<svc>.<ns>.<cluster>`, six parts): CCM refuses to bind
            # a group so named (nlbv2/server_groups.go:552-572; pkg/model/nlb/nlb.go:395-411).
            group = nlb.ServerGroup(
                f"{name}/server-group/{key}",
                server_group_name=nlb_server_group_name(port.port, svc.name, svc.namespace, args.cluster_id),
                server_group_type=lb.server_group_type, protocol=port.protocol, vpc_id=args.vpc_id,
                scheduler=SCHEDULERS[lb.scheduler or ("wrr" if lb.pod_level_balancing else "rr")],
                preserve_client_ip_enabled=lb.preserve_client_ip,
                connection_drain_enabled=lb.drain_seconds > 0, connection_drain_timeout=drain,
                health_check=nlb.ServerGroupHealthCheckArgs(
                    health_check_enabled=True, health_check_type=hc.type.upper(), health_check_url=hc.uri,
                    healthy_threshold=hc.healthy_threshold, unhealthy_threshold=hc.unhealthy_threshold,
                    health_check_interval=hc.interval, health_check_connect_timeout=hc.connect_timeout),
                opts=child)
            self.groups.append((port.port, group))
            self.listeners.append(nlb.Listener(
                f"{name}/listener/{key}", load_balancer_id=self.load_balancer.id, server_group_id=group.id,
                listener_port=port.port, listener_protocol=port.protocol,
                listener_description=listener_name(port.port, svc.name, svc.namespace, args.cluster_id), opts=child))
            if args.bound_by_ccm:
                continue
            target = port.target_port if isinstance(port.target_port, int) else (port.port if port.target_port is None else 0)
            node_port = (args.node_ports.apply(lambda ports, i=index: ports[i] if ports else None)
                         if args.node_ports is not None else 0)
            self.syncs.append(BackendSync(
                f"{name}/backends/{key}", kind="nlb", group_id=group.id, namespace=svc.namespace, service=svc.name,
                mode="ip" if ip_mode else ("local" if svc.external_traffic_policy == "Local" else "cluster"),
                pools=[p.id for p in args.matched_pools], port=target if ip_mode else node_port,
                server_type="Ip" if ip_mode else "Ecs", port_name=port.name, region_id=region,
                drain_seconds=lb.drain_seconds, ingress=[{"hostname": self.load_balancer.dns_name}],
                controller=args.controller is not None,
                opts=pulumi.ResourceOptions(parent=self, depends_on=[group, *args.after,
                                                                     *controller_dependencies(args.controller)])))
        self.lb_id = self.load_balancer.id
        self.address = self.load_balancer.dns_name
        self.listener_ports = [f"{p.protocol.lower()}:{p.port}" for p in svc.ports]
        # What a Service binds for CCM: each Service port's group (components/annotations.py).
        self.vgroup_port = pulumi.Output.all(*[g.id for _, g in self.groups]).apply(
            lambda ids: vgroup_port(zip(ids, [port for port, _ in self.groups], strict=True)))
        self.register_outputs({"lbId": self.lb_id, "address": self.address, "listeners": self.listener_ports})
