"""ClbExposure: a Pulumi-owned CLB for on-cloud pods, and for edge pods through ECS forwarding.

Per Service port a VServerGroup, a listener on the NodePort, and a BackendSync that registers ECS
nodes: under `Cluster` every node of the cloud pools (for edge pods, the cloud nodes forward over
Express Connect: the loader allows only `Cluster` then), under `Local` the nodes running a pod,
weighted by their pod count.

Under `management: user` the same CLB, groups and listeners, but no BackendSync: the Service binds the
groups (`vgroup-port`) and CCM keeps their backends (components/annotations.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional, Sequence

import pulumi
from pulumi_alicloud import slb

from components.annotations import vgroup_port
from components.controller import Controller, controller_dependencies
from components.listeners import ESTABLISHED_TIMEOUT_DEFAULT, LOCAL_HEALTH_PATH, SCHEDULER_DEFAULT
from reconciler.provider import BackendSync
from stacks.model import HealthCheck, NodePool, Service
from stacks.naming import cloud_zones, listener_name, nlb_name, nlb_server_group_name, region_of_zone

# "As of June 1, 2025, pay-by-specification CLB instances are no longer available for purchase"; a
# pay-as-you-go CLB is metered by LCU (CreateLoadBalancer, SLB 2014-05-15). No spec, then.
INSTANCE_CHARGE_TYPE = "PayByCLCU"


def backend_pools(matched: Sequence[NodePool], every: Sequence[NodePool]) -> list[str]:
    """Cloud nodes are the only CLB backends: the matched cloud pools, else (edge pods only) all cloud pools."""
    cloud = [p.id for p in matched if p.type == "cloud"]
    return cloud or [p.id for p in every if p.type == "cloud"]


@dataclass(frozen=True)
class ClbExposureArgs:
    service: Service
    cluster_id: str
    node_pools: Sequence[NodePool]
    matched_pools: Sequence[NodePool]
    protect: bool
    node_ports: Optional[pulumi.Output[list[Optional[int]]]] = None
    health_check_node_port: Optional[pulumi.Output[Optional[int]]] = None
    after: Sequence[pulumi.Resource] = ()
    # The alicloud provider of the cluster's region (components/providers.py).
    provider: Optional[pulumi.ProviderResource] = None
    # CCM keeps the groups' backends (`management: user`): no BackendSync.
    bound_by_ccm: bool = False
    # The in-cluster controller, when the stack deploys it: it keeps the backends, BackendSync waits for it.
    controller: Optional[Controller] = None


class ClbExposure(pulumi.ComponentResource):
    address: pulumi.Output[str]

    def __init__(self, name: str, args: ClbExposureArgs, opts: Optional[pulumi.ResourceOptions] = None):
        # Protected as a whole: every child inherits `protect`, so a destroy, or a pool leaving the selector,
        # stops at the first of them instead of deleting listeners and backends before the load balancer.
        # Its cloud resources take the provider of the cluster's region, never the default's (cn-beijing).
        super().__init__("ack-edge-lb:clb:ClbExposure", name, None, pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(
            protect=args.protect, providers=[args.provider] if args.provider is not None else None)))
        svc, lb = args.service, args.service.load_balancer
        zones = cloud_zones(args.node_pools)
        region = region_of_zone(next(iter(zones)))
        child = pulumi.ResourceOptions(parent=self)
        self.load_balancer = slb.ApplicationLoadBalancer(
            f"{name}/loadbalancer",
            load_balancer_name=nlb_name(svc.name, svc.namespace, args.cluster_id),
            address_type=lb.address_type, instance_charge_type=INSTANCE_CHARGE_TYPE, payment_type="PayAsYouGo",
            vswitch_id=next(iter(zones.values())) if lb.address_type == "intranet" else None,
            delete_protection="on" if args.protect else "off",
            opts=pulumi.ResourceOptions(parent=self,
                                        import_=lb.adopt["lb"].load_balancer_id if "lb" in lb.adopt else None))
        hc = lb.health_check or HealthCheck()
        local = svc.external_traffic_policy == "Local"
        pools = backend_pools(args.matched_pools, args.node_pools)
        self.listeners, self.syncs, self.groups = [], [], []
        for index, port in enumerate(svc.ports):
            protocol = port.listener_protocol
            key = f"{protocol}-{port.port}"
            mark = listener_name(port.port, svc.name, svc.namespace, args.cluster_id)
            # CCM takes a VServerGroup named `k8s/<port>/<svc>/<ns>/<cluster>` for one it created, refuses to bind
            # it and drops that error (clbv1/vgroups.go:499-518, 76-86; pkg/model/load_balancer.go:329-341): the
            # port silently gets no backends. A bound group is named without `/`.
            group_name = (nlb_server_group_name(port.port, svc.name, svc.namespace, args.cluster_id)
                          if args.bound_by_ccm else mark)
            group = slb.ServerGroup(f"{name}/server-group/{key}", load_balancer_id=self.load_balancer.id,
                                    name=group_name, opts=child)
            self.groups.append((port.port, group))
            node_port = (args.node_ports.apply(lambda ports, i=index: ports[i] if ports else None)
                         if args.node_ports is not None else None)
            check: dict[str, Any] = {"healthy_threshold": hc.healthy_threshold,
                                     "unhealthy_threshold": hc.unhealthy_threshold,
                                     "health_check_interval": hc.interval, "health_check_timeout": hc.connect_timeout}
            if protocol == "tcp":
                check.update(health_check_type="http" if (local or hc.type == "http") else "tcp",
                             persistence_timeout=lb.persistence_timeout,
                             established_timeout=lb.established_timeout or ESTABLISHED_TIMEOUT_DEFAULT)
            if protocol in ("http", "https") or check.get("health_check_type") == "http":
                check.update(health_check="on", health_check_uri=LOCAL_HEALTH_PATH if local else (hc.uri or "/"))
            if local and protocol != "udp" and args.health_check_node_port is not None:
                check["health_check_connect_port"] = args.health_check_node_port
            self.listeners.append(slb.Listener(
                f"{name}/listener/{key}", load_balancer_id=self.load_balancer.id, frontend_port=port.port,
                backend_port=node_port, protocol=protocol, server_group_id=group.id, bandwidth=-1,
                scheduler=lb.scheduler or ("wrr" if lb.pod_level_balancing else SCHEDULER_DEFAULT),
                server_certificate_id=port.certificate_id, description=mark, **check,
                # A new NodePort (backendPort, force-new) means a new listener on the same frontend port.
                opts=pulumi.ResourceOptions(parent=self, delete_before_replace=True)))
            if args.bound_by_ccm:
                continue
            self.syncs.append(BackendSync(
                f"{name}/backends/{key}", kind="clb", group_id=group.id, namespace=svc.namespace, service=svc.name,
                mode="local" if local else "cluster", pools=pools, port=node_port if node_port is not None else 0,
                server_type="ecs", port_name=port.name, region_id=region, drain_seconds=lb.drain_seconds,
                ingress=[{"ip": self.load_balancer.address}], controller=args.controller is not None,
                opts=pulumi.ResourceOptions(parent=self, depends_on=[group, *args.after,
                                                                     *controller_dependencies(args.controller)])))
        self.lb_id = self.load_balancer.id
        self.address = self.load_balancer.address
        self.listener_ports = [f"{p.listener_protocol}:{p.port}" for p in svc.ports]
        # What a Service binds for CCM: each Service port's group (components/annotations.py).
        self.vgroup_port = pulumi.Output.all(*[g.id for _, g in self.groups]).apply(
            lambda ids: vgroup_port(zip(ids, [port for port, _ in self.groups], strict=True)))
        self.register_outputs({"lbId": self.lb_id, "address": self.address, "listeners": self.listener_ports})
