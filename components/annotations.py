"""Annotations and classes that tell the cluster controllers (ECM, CCM) what to build; pure functions.

Keys and defaults follow the ACK Edge documentation ("Common ELB configurations using annotations",
multi-region ELB, NLB with pods as IP backends). Only values that differ from nothing are written:
a setting left out of the stack configuration leaves the controller's documented default in force.
"""

from __future__ import annotations

from typing import Iterable

from stacks.model import LoadBalancer, NodePool, Service
from stacks.naming import label_selector

LB = "service.beta.kubernetes.io/alibaba-cloud-loadbalancer-"

ELB_CLASS = "alibabacloud.com/elb"
NLB_CLASS = "alibabacloud.com/nlb"
# A class no cluster controller implements: the Service gets NodePorts (and a healthCheckNodePort
# under `Local`) while neither ECM nor CCM builds a load balancer for it; Pulumi owns that.
PULUMI_CLASS = "ack-edge-lb/pulumi"

NODEPOOL_SELECTOR = "service.openyurt.io/nodepool-labelselector"
TOPOLOGY_KEYS = "openyurt.io/topologyKeys"
TOPOLOGY_NODEPOOL = "openyurt.io/nodepool"
FORCE_OVERRIDE_LISTENERS = "service.openyurt.io/elb-force-override-listeners"
MANAGED_BY_USER = LB + "managed-by-user"
LOADBALANCER_ID = LB + "id"
# `<group id>:<Service port>,...`: the existing server groups CCM fills for each port of a Service that
# names a reused load balancer (`loadbalancer-id`); read only together with it (ccm.md section 3).
VGROUP_PORT = LB + "vgroup-port"
BACKEND_TYPE = "service.beta.kubernetes.io/backend-type"
SERVER_GROUP_TYPE = LB + "server-group-type"
ZONE_MAPS = LB + "zone-maps"
SKIP_AWAIT = "pulumi.com/skipAwait"

ENS_NETWORK_ID = "alibabacloud.com/ens-network-id"
ENS_REGION_ID = "alibabacloud.com/ens-region-id"
ENS_VSWITCH_ID = "alibabacloud.com/ens-vswitch-id"
NODEPOOL_LABEL = "apps.openyurt.io/nodepool"


def _listener(lb: LoadBalancer) -> dict[str, str]:
    """Scheduler, persistence and health check: the same annotation keys for ELB, NLB and CLB."""
    out: dict[str, str] = {}
    scheduler = lb.scheduler or ("wrr" if lb.pod_level_balancing else None)
    if scheduler:
        out[LB + "scheduler"] = scheduler
    if lb.persistence_timeout:
        out[LB + "persistence-timeout"] = str(lb.persistence_timeout)
    if lb.established_timeout is not None:
        out[LB + "established-timeout"] = str(lb.established_timeout)
    hc = lb.health_check
    if hc is not None:
        out[LB + "healthy-threshold"] = str(hc.healthy_threshold)
        out[LB + "unhealthy-threshold"] = str(hc.unhealthy_threshold)
        out[LB + "health-check-interval"] = str(hc.interval)
        out[LB + "health-check-connect-timeout"] = str(hc.connect_timeout)
        if lb.type != "elb":  # CLB and NLB also choose the check's type; ECM checks ELBs over TCP
            out[LB + "health-check-flag"] = "on"
            out[LB + "health-check-type"] = hc.type
            if hc.uri:
                out[LB + "health-check-uri"] = hc.uri
    return out


def _elb(service: Service) -> dict[str, str]:
    lb = service.load_balancer
    out = {NODEPOOL_SELECTOR: label_selector(service.node_pool_selector)}
    if service.topology:
        out[TOPOLOGY_KEYS] = TOPOLOGY_NODEPOOL
    if lb.management == "user":
        out[MANAGED_BY_USER] = "true"
        if lb.shared:
            out[FORCE_OVERRIDE_LISTENERS] = "true"
    else:  # ECM creates the ELB and its EIP from these
        if "spec" in lb.model_fields_set:
            out[LB + "spec"] = lb.spec
        if lb.eip is not None:
            out[LB + "eip-bandwidth"] = str(lb.eip.bandwidth)
            out[LB + "eip-internet-charge-type"] = lb.eip.charge_type
            if lb.eip.isp:
                out[LB + "eip-isp"] = lb.eip.isp
    return out


def _nlb(service: Service, pools: Iterable[NodePool]) -> dict[str, str]:
    lb = service.load_balancer
    zones = {z.zone_id: z.vswitch_id for p in pools if p.type == "cloud" for z in p.zones}
    out = {ZONE_MAPS: ",".join(f"{zone}:{vsw}" for zone, vsw in sorted(zones.items()))}
    if lb.server_group_type == "Ip":
        out[BACKEND_TYPE] = "eni"
        out[SERVER_GROUP_TYPE] = "Ip"
    return out


def _bound_nlb(lb: LoadBalancer) -> dict[str, str]:
    """How CCM registers backends in Pulumi's NLB server groups. The type comes from this annotation only, never
    from the bound group; set, it must equal the group's type or CCM refuses the binding (ccm.md section 4,
    nlbv2/model_applier.go:312-318), so it is always written. `Ip` groups take pod IPs: ENI mode (`backend-type:
    eni`) registers each ready pod IP on its target port, with no VPC check (nlbv2/server_groups.go:1043-1048)."""
    if lb.server_group_type == "Ip":
        return {BACKEND_TYPE: "eni", SERVER_GROUP_TYPE: "Ip"}
    return {SERVER_GROUP_TYPE: "Instance"}  # ECS nodes on the NodePort, under Cluster or Local


def vgroup_port(bindings: Iterable[tuple[str, int]]) -> str:
    """The `vgroup-port` value: `<group id>:<Service port>` per port, comma-separated, no spaces (CCM neither
    trims nor checks the id's prefix; clbv1/listeners.go:740-753, nlbv2/listeners.go:62-75)."""
    return ",".join(f"{group}:{port}" for group, port in bindings)


def service_annotations(service: Service, pools: Iterable[NodePool]) -> dict[str, str]:
    """All annotations of the Kubernetes Service; `pools` are the stack's node pools.

    Under `user` for NLB and CLB, the binding to Pulumi's load balancer (`loadbalancer-id`, `vgroup-port`) names
    ids Pulumi learns when it creates them: the Service component adds it."""
    lb = service.load_balancer
    # The address is filled in by a controller, not by this program: do not hold `pulumi up` for it.
    out = {SKIP_AWAIT: "true"}
    if lb.management == "pulumi":  # no controller reads anything else
        if service.topology:
            out[TOPOLOGY_KEYS] = TOPOLOGY_NODEPOOL
        return dict(sorted(out.items()))
    if lb.ccm_binds:
        # Nothing that shapes the load balancer: on a reused one CCM applies every LB annotation that is set
        # (zone-maps, address-type, security groups, name, spec, bandwidth, ...), and `additional-resource-tags`
        # would strip every tag Pulumi set (ccm.md section 1). Listener annotations are ignored without
        # `force-override-listeners`, which is never set: it would make CCM take over Pulumi's listeners (section 2).
        if lb.type == "nlb":
            out |= _bound_nlb(lb)
        return dict(sorted(out.items()))
    if lb.type == "elb":
        out |= _elb(service)
    elif lb.type == "nlb":
        out |= _nlb(service, pools)
    out |= _listener(lb)
    return dict(sorted(out.items()))


def load_balancer_class(service: Service) -> str | None:
    if service.load_balancer.management == "pulumi":
        return PULUMI_CLASS
    return {"elb": ELB_CLASS, "nlb": NLB_CLASS}.get(service.load_balancer.type)


def node_pool_annotations(pool: NodePool) -> dict[str, str]:
    """What ECM reads from an ENS NodePool to place the pool's ELB."""
    if pool.ens is None:
        return {}
    return {
        ENS_NETWORK_ID: pool.ens.network_id,
        ENS_REGION_ID: pool.ens.region_id,
        ENS_VSWITCH_ID: ",".join(pool.ens.vswitch_ids),
    }
