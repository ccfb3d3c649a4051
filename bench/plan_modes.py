"""The stacks of bench/plan_scale.py, one per exposure mode, with their bare baselines and floors.

Each mode gives: the raw `ack-edge-lb:` settings of a stack with N ENS node pools and two services; the
baseline program, which declares exactly what the program declares for that stack (same classes, type
tokens, names, parents, resource options, inputs of the same shape and the same component and stack
outputs), flat, with the values written out: no configuration loading, rules, naming or components logic;
and the inputs of the floor's plain `CustomResource`s. `plan_scale.py` checks, before measuring, that the
baseline's registrations have the program's shape, so a baseline cannot silently go stale.

pulumi and the provider SDKs are imported inside the programs: the measured subprocess pays for them in
its warm-up run, and the parent process stays light.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

CLUSTER_ID = "c0123456789abcdef"
VPC_ID = "vpc-bp1test"
CLUSTER = {"id": CLUSTER_ID, "vpcId": VPC_ID, "network": "terway-edge", "expressConnect": True,
           "ecmVersion": "2.1.0"}
SERVICES = ("cube-web", "cube-api")
NAMESPACE = "default"
SELECTOR = {"k8s-svc": "cube"}
TCP_PORTS = [{"name": "http", "port": 80, "targetPort": 80, "protocol": "TCP"},
             {"name": "https", "port": 443, "targetPort": 8443, "protocol": "TCP"}]
CERTIFICATE = "cert-bench-0001"
# ELB under Pulumi: a TCP listener and an HTTPS one (the dynamic EnsListener for both).
ELB_PORTS = [TCP_PORTS[0], {**TCP_PORTS[1], "listener": "https", "certificateId": CERTIFICATE}]
CLOUD_POOL = "np-cloud"
CLOUD_ZONES = {"cn-hangzhou-j": "vsw-cnhangzhouj", "cn-hangzhou-k": "vsw-cnhangzhouk"}  # sorted, as the program
CLOUD_REGION = "cn-hangzhou"


# --- the stacks ----------------------------------------------------------------------------------


def pool_id(i: int) -> str:
    return f"np-ens-{i:04d}"


def ens_pool(i: int) -> dict[str, Any]:
    compact = pool_id(i).replace("-", "")
    return {"id": pool_id(i), "type": "ens", "labels": dict(SELECTOR),
            "ens": {"regionId": f"cn-region-{i:04d}", "networkId": f"n-{compact}", "vswitchIds": [f"vsw-{compact}"]}}


def cloud_pool() -> dict[str, Any]:
    return {"id": CLOUD_POOL, "type": "cloud", "labels": dict(SELECTOR),
            "zones": [{"zoneId": z, "vswitchId": v} for z, v in reversed(CLOUD_ZONES.items())]}


def service(name: str, lb: dict[str, Any], ports: list[dict[str, Any]], policy: str = "Local") -> dict[str, Any]:
    return {"name": name, "namespace": NAMESPACE, "selector": {"app": name}, "ports": [dict(p) for p in ports],
            "externalTrafficPolicy": policy, "nodePoolSelector": dict(SELECTOR), "loadBalancer": lb}


def stack(pools: list[dict[str, Any]], services: list[dict[str, Any]]) -> dict[str, Any]:
    return {"cluster": dict(CLUSTER), "nodePools": pools, "services": services}


def ecm_stack(n: int) -> dict[str, Any]:
    return stack([ens_pool(i) for i in range(n)],
                 [service(s, {"type": "elb", "management": "ecm"}, TCP_PORTS) for s in SERVICES])


def elb_pulumi_stack(n: int) -> dict[str, Any]:
    return stack([ens_pool(i) for i in range(n)],
                 [service(s, {"type": "elb", "management": "pulumi"}, ELB_PORTS) for s in SERVICES])


def nlb_pulumi_stack(n: int) -> dict[str, Any]:
    return stack([cloud_pool(), *(ens_pool(i) for i in range(n))],
                 [service(s, {"type": "nlb", "management": "pulumi"}, TCP_PORTS) for s in SERVICES])


def clb_pulumi_stack(n: int) -> dict[str, Any]:
    return stack([cloud_pool(), *(ens_pool(i) for i in range(n))],
                 [service(s, {"type": "clb", "management": "pulumi"}, TCP_PORTS, policy="Cluster")
                  for s in SERVICES])


# --- pieces every baseline shares ----------------------------------------------------------------


def _placement(i: int) -> dict[str, str]:
    compact = pool_id(i).replace("-", "")
    return {"region": f"cn-region-{i:04d}", "network": f"n-{compact}", "vswitch": f"vsw-{compact}"}


def _component(type_: str, name: str, opts: Any = None) -> Any:
    import pulumi

    return pulumi.ComponentResource(type_, name, None, opts)


def _service(key: str, name: str, policy: str, lb_class: str, annotations: dict[str, str], parent: Any) -> Any:
    """The Kubernetes Service as the program declares it (inputs as plain dicts: bare)."""
    import pulumi
    import pulumi_kubernetes as k8s

    return k8s.core.v1.Service(
        f"{key}/service", metadata={"name": name, "namespace": NAMESPACE, "annotations": annotations},
        spec={"type": "LoadBalancer", "load_balancer_class": lb_class, "external_traffic_policy": policy,
              "selector": {"app": name}, "ports": [
                  {"name": p["name"], "port": p["port"], "protocol": p["protocol"], "target_port": p["targetPort"]}
                  for p in TCP_PORTS]},
        opts=pulumi.ResourceOptions(parent=parent, replace_on_changes=["spec.loadBalancerClass"],
                                    delete_before_replace=True))


def _pulumi_annotations() -> dict[str, str]:
    return {"openyurt.io/topologyKeys": "openyurt.io/nodepool", "pulumi.com/skipAwait": "true"}


def _unknown_after(resource_output: Any) -> Any:
    """An output derived from the Service that is unknown in preview, as an allocated port is."""
    import pulumi

    return resource_output.apply(lambda _: pulumi.output.UNKNOWN)


@dataclass(frozen=True)
class Exposed:
    """What an EdgeService registers as its outputs, and the stack exports."""

    external_ips: Any  # an Output: per region (ELB) or per kind (NLB, CLB) the address
    external_ip: Any   # an Output: the comma-separated addresses
    pools: list[str]
    load_balancers: dict[str, Any]


def _edge_outputs(edge: Any, name: str, exposed: Exposed) -> Exposed:
    edge.register_outputs({"service": f"{NAMESPACE}/{name}", "externalIps": exposed.external_ips,
                           "externalIp": exposed.external_ip, "nodePools": exposed.pools,
                           "loadBalancers": exposed.load_balancers})
    return exposed


def _export(exposed: dict[str, Exposed]) -> None:
    """The program's four stack outputs, same keys and values."""
    import pulumi

    pulumi.export("externalIp", {k: v.external_ip for k, v in exposed.items()})
    pulumi.export("externalIps", {k: v.external_ips for k, v in exposed.items()})
    pulumi.export("nodePools", {k: v.pools for k, v in exposed.items()})
    pulumi.export("loadBalancers", {k: v.load_balancers for k, v in exposed.items() if v.load_balancers})


# --- the baselines -------------------------------------------------------------------------------


def bare_ecm(n: int) -> None:
    """ECM-managed ELB: per service the EdgeService, its Service, one NodePool patch per pool."""
    import pulumi

    from components.cluster_patch import NODE_POOL_API, NODE_POOL_WAIT, ExistingObjectPatch

    exposed = {}
    for name in SERVICES:
        key = f"{NAMESPACE}/{name}"
        edge = _component("ack-edge-lb:edge_service:EdgeService", key)
        svc = _service(key, name, "Local", "alibabacloud.com/elb", {
            "openyurt.io/topologyKeys": "openyurt.io/nodepool", "pulumi.com/skipAwait": "true",
            "service.openyurt.io/nodepool-labelselector": "k8s-svc=cube"}, edge)
        child = pulumi.ResourceOptions(parent=edge)
        for i in range(n):
            where = _placement(i)
            ExistingObjectPatch(
                f"{key}/nodepool/{pool_id(i)}", api_version=NODE_POOL_API, kind="NodePool", plural="nodepools",
                object_name=pool_id(i), labels=dict(SELECTOR), annotations={
                    "alibabacloud.com/ens-network-id": where["network"],
                    "alibabacloud.com/ens-region-id": where["region"],
                    "alibabacloud.com/ens-vswitch-id": where["vswitch"]},
                wait_seconds=NODE_POOL_WAIT, opts=child)
        external_ips = svc.status.apply(lambda _: [])
        exposed[key] = _edge_outputs(edge, name, Exposed(external_ips, external_ips.apply(",".join),
                                                         [pool_id(i) for i in range(n)], {}))
    _export(exposed)


def _elb_attributes(name: str, port: int, https: bool, health_port: Any) -> dict[str, Any]:
    common = {"Description": f"k8s/{port}/{name}/{NAMESPACE}/{CLUSTER_ID}", "Scheduler": "rr",
              "HealthyThreshold": 3, "UnhealthyThreshold": 3, "HealthCheckInterval": 2}
    if https:
        return {**common, "HealthCheck": "on", "HealthCheckURI": "/healthz", "HealthCheckTimeout": 5,
                "ServerCertificateId": CERTIFICATE, "HealthCheckConnectPort": health_port}
    return {**common, "PersistenceTimeout": 0, "EstablishedTimeout": 500, "HealthCheckConnectTimeout": 5,
            "HealthCheckType": "http", "HealthCheckURI": "/healthz", "HealthCheckConnectPort": health_port}


def bare_elb_pulumi(n: int) -> None:
    """Pulumi-owned ELB: per service and pool a RegionalElb with ELB, EIP, attachment, address, listeners, backends."""
    import pulumi
    import pulumi_alicloud as alicloud

    from components.eip_address import EipAddress
    from components.ens_listener import EnsListener
    from reconciler.provider import BackendSync

    exposed = {}
    for name in SERVICES:
        key = f"{NAMESPACE}/{name}"
        edge = _component("ack-edge-lb:edge_service:EdgeService", key)
        svc = _service(key, name, "Local", "ack-edge-lb/pulumi", _pulumi_annotations(), edge)
        node_ports = [_unknown_after(svc.spec) for _ in ELB_PORTS]
        health_port = _unknown_after(svc.spec)
        addresses, load_balancers = {}, {}
        for i in range(n):
            where, pool = _placement(i), pool_id(i)
            prefix, cloud_name = f"{key}/elb/{pool}", f"k8s/{name}/{NAMESPACE}/{pool}/{CLUSTER_ID}"
            elb = _component("ack-edge-lb:elb:RegionalElb", prefix,
                             pulumi.ResourceOptions(parent=edge, protect=False))
            child = pulumi.ResourceOptions(parent=elb)
            lb = alicloud.ens.LoadBalancer(
                f"{prefix}/loadbalancer", load_balancer_name=cloud_name, ens_region_id=where["region"],
                network_id=where["network"], vswitch_id=where["vswitch"], load_balancer_spec="elb.s2.small",
                payment_type="PayAsYouGo", opts=pulumi.ResourceOptions(parent=elb, ignore_changes=["backendServers"]))
            eip = alicloud.ens.Eip(
                f"{prefix}/eip", eip_name=cloud_name, ens_region_id=where["region"], bandwidth=10,
                internet_charge_type="95BandwidthByMonth", payment_type="PayAsYouGo", opts=child)
            attachment = alicloud.ens.EipInstanceAttachment(
                f"{prefix}/eip-attachment", allocation_id=eip.id, instance_id=lb.id, instance_type="SlbInstance",
                opts=pulumi.ResourceOptions(parent=elb, delete_before_replace=True))
            address = EipAddress(f"{prefix}/eip-address", eip.id,
                                 opts=pulumi.ResourceOptions(parent=elb, depends_on=[attachment]))
            listeners = [
                EnsListener(f"{prefix}/listener/{'https' if https else 'tcp'}-{p['port']}", load_balancer_id=lb.id,
                            protocol="https" if https else "tcp", listener_port=p["port"],
                            backend_server_port=node_ports[index],
                            attributes=_elb_attributes(name, p["port"], https, health_port), opts=child)
                for index, p in enumerate(ELB_PORTS) for https in [p.get("listener") == "https"]]
            BackendSync(f"{prefix}/backends", kind="ens", group_id=lb.id, namespace=NAMESPACE, service=name,
                        mode="local", pools=[pool], port_name="http", drain_seconds=10,
                        opts=pulumi.ResourceOptions(parent=elb, depends_on=[*listeners, svc]))
            ports = ["tcp:80", "https:443"]
            elb.register_outputs({"elbId": lb.id, "address": address.ipAddress, "listeners": ports,
                                  "region": where["region"]})
            addresses[where["region"]] = address.ipAddress
            load_balancers[where["region"]] = {"elbId": lb.id, "address": address.ipAddress, "listeners": ports}
        external_ips = pulumi.Output.all(**addresses).apply(dict)
        exposed[key] = _edge_outputs(edge, name, Exposed(
            external_ips, external_ips.apply(lambda by_region: ",".join(by_region.values())),
            [pool_id(i) for i in range(n)], load_balancers))
    _export(exposed)


def _regional(kind: str, n: int) -> None:
    """Pulumi-owned NLB or CLB: one load balancer per service, under the shared regional provider."""
    import pulumi
    import pulumi_alicloud as alicloud

    from reconciler.provider import BackendSync

    provider = alicloud.Provider(f"alicloud-{CLOUD_REGION}", region=CLOUD_REGION)
    every_pool = [CLOUD_POOL, *(pool_id(i) for i in range(n))]
    exposed = {}
    for name in SERVICES:
        key, lb_name = f"{NAMESPACE}/{name}", f"k8s.{name}.{NAMESPACE}.{CLUSTER_ID}"
        edge = _component("ack-edge-lb:edge_service:EdgeService", key)
        svc = _service(key, name, "Local" if kind == "nlb" else "Cluster", "ack-edge-lb/pulumi",
                       _pulumi_annotations(), edge)
        prefix = f"{key}/{kind}"
        exposure = _component(f"ack-edge-lb:{kind}:{'NlbExposure' if kind == 'nlb' else 'ClbExposure'}", prefix,
                              pulumi.ResourceOptions(parent=edge, protect=False, providers=[provider]))
        child = pulumi.ResourceOptions(parent=exposure)
        if kind == "nlb":
            lb = alicloud.nlb.LoadBalancer(
                f"{prefix}/loadbalancer", load_balancer_name=lb_name, load_balancer_type="Network",
                address_type="Internet", address_ip_version="ipv4", vpc_id=VPC_ID, deletion_protection_enabled=False,
                zone_mappings=[{"zone_id": z, "vswitch_id": v} for z, v in CLOUD_ZONES.items()], opts=child)
            address = lb.dns_name
        else:
            lb = alicloud.slb.ApplicationLoadBalancer(
                f"{prefix}/loadbalancer", load_balancer_name=lb_name, address_type="internet",
                instance_charge_type="PayByCLCU", payment_type="PayAsYouGo", delete_protection="off", opts=child)
            address = lb.address
        for p in TCP_PORTS:
            port, suffix = p["port"], f"tcp-{p['port']}"
            mark = f"k8s/{port}/{name}/{NAMESPACE}/{CLUSTER_ID}"
            if kind == "nlb":
                group = alicloud.nlb.ServerGroup(
                    f"{prefix}/server-group/{suffix}", server_group_name=f"k8s.{port}.{name}.{NAMESPACE}.{CLUSTER_ID}",
                    server_group_type="Ip", protocol="TCP", vpc_id=VPC_ID, scheduler="Rr",
                    preserve_client_ip_enabled=False, connection_drain_enabled=True, connection_drain_timeout=10,
                    health_check={"health_check_enabled": True, "health_check_type": "TCP", "healthy_threshold": 3,
                                  "unhealthy_threshold": 3, "health_check_interval": 2,
                                  "health_check_connect_timeout": 5}, opts=child)
                alicloud.nlb.Listener(f"{prefix}/listener/{suffix}", load_balancer_id=lb.id, server_group_id=group.id,
                                      listener_port=port, listener_protocol="TCP", listener_description=mark,
                                      opts=child)
                sync = {"mode": "ip", "pools": every_pool, "port": p["targetPort"], "server_type": "Ip"}
            else:
                group = alicloud.slb.ServerGroup(f"{prefix}/server-group/{suffix}", load_balancer_id=lb.id, name=mark,
                                                 opts=child)
                node_port = _unknown_after(svc.spec)
                alicloud.slb.Listener(
                    f"{prefix}/listener/{suffix}", load_balancer_id=lb.id, frontend_port=port, backend_port=node_port,
                    protocol="tcp", server_group_id=group.id, bandwidth=-1, scheduler="rr", description=mark,
                    healthy_threshold=3, unhealthy_threshold=3, health_check_interval=2, health_check_timeout=5,
                    health_check_type="tcp", persistence_timeout=0, established_timeout=500,
                    opts=pulumi.ResourceOptions(parent=exposure, delete_before_replace=True))
                sync = {"mode": "cluster", "pools": [CLOUD_POOL], "port": node_port, "server_type": "ecs"}
            BackendSync(f"{prefix}/backends/{suffix}", kind=kind, group_id=group.id, namespace=NAMESPACE, service=name,
                        port_name=p["name"], region_id=CLOUD_REGION, drain_seconds=10, **sync,
                        opts=pulumi.ResourceOptions(parent=exposure, depends_on=[group, svc]))
        listeners = [f"tcp:{p['port']}" for p in TCP_PORTS]
        exposure.register_outputs({"lbId": lb.id, "address": address, "listeners": listeners})
        load_balancers = {kind: {"lbId": lb.id, "address": address, "listeners": listeners}}
        exposed[key] = _edge_outputs(edge, name, Exposed(address.apply(lambda a: {kind: a}), address,
                                                         every_pool, load_balancers))
    _export(exposed)


def bare_nlb_pulumi(n: int) -> None:
    _regional("nlb", n)


def bare_clb_pulumi(n: int) -> None:
    _regional("clb", n)


# --- the floors' inputs: one typical resource of the mode ---------------------------------------


def node_pool_patch_inputs(i: int) -> dict[str, Any]:
    where = _placement(i)
    return {"apiVersion": "apps.openyurt.io/v1beta2", "kind": "NodePool", "plural": "nodepools",
            "name": pool_id(i), "labels": dict(SELECTOR), "annotations": {
                "alibabacloud.com/ens-network-id": where["network"], "alibabacloud.com/ens-region-id": where["region"],
                "alibabacloud.com/ens-vswitch-id": where["vswitch"]}, "waitSeconds": 30}


def ens_listener_inputs(i: int) -> dict[str, Any]:
    return {"loadBalancerId": f"lb-{i:08d}", "protocol": "tcp", "listenerPort": 80, "backendServerPort": 30080,
            "attributes": _elb_attributes(SERVICES[i % 2], 80, False, 31000)}


def server_group_inputs(i: int) -> dict[str, Any]:
    return {"serverGroupName": f"k8s.80.{SERVICES[i % 2]}.{NAMESPACE}.{CLUSTER_ID}", "serverGroupType": "Ip",
            "protocol": "TCP", "vpcId": VPC_ID, "scheduler": "Rr", "connectionDrainEnabled": True,
            "connectionDrainTimeout": 10, "healthCheck": {"healthCheckEnabled": True, "healthCheckType": "TCP",
                                                          "healthyThreshold": 3, "unhealthyThreshold": 3}}


# --- the modes -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Mode:
    name: str
    what: str                                   # one line for the table's title
    stack: Callable[[int], dict[str, Any]]      # N ENS pools -> raw `ack-edge-lb:` settings
    baseline: Callable[[int], None]             # N -> the bare program
    floor_inputs: Callable[[int], dict[str, Any]]
    expected: Callable[[int], int]              # registrations the program should make (a cross-check)
    grows: bool                                 # do the registrations grow with the pools?


MODES: dict[str, Mode] = {m.name: m for m in (
    Mode("ecm", "two ECM-managed ELB services (per pool: one NodePool patch each)", ecm_stack, bare_ecm,
         node_pool_patch_inputs, lambda n: 2 * (2 + n), True),
    # per pool and service: RegionalElb, ELB, EIP, attachment, EipAddress, 2 EnsListeners, BackendSync
    Mode("elb-pulumi", "two Pulumi-owned ELB services, TCP 80 + HTTPS 443 (per pool: 8 registrations each)",
         elb_pulumi_stack, bare_elb_pulumi, ens_listener_inputs, lambda n: 2 * (2 + 8 * n), True),
    # the provider, then per service: EdgeService, Service, exposure, LB, per port group + listener + sync
    Mode("nlb-pulumi", "two Pulumi-owned NLB services, pods as IP backends (one NLB per service)",
         nlb_pulumi_stack, bare_nlb_pulumi, server_group_inputs, lambda n: 1 + 2 * (4 + 3 * 2), False),
    Mode("clb-pulumi", "two Pulumi-owned CLB services, Cluster (one CLB per service)",
         clb_pulumi_stack, bare_clb_pulumi, server_group_inputs, lambda n: 1 + 2 * (4 + 3 * 2), False),
)}
