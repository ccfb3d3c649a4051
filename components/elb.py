"""RegionalElb: the Edge Load Balancer and EIP that Pulumi owns in one ENS node pool, and its listeners.

Update semantics follow the ACK Edge update-policy table: ELB attributes cannot change (any change
replaces the ELB, and `pulumi preview` says so); EIP bandwidth changes in place; listeners follow the
Service's ports. Pulumi-created resources are released on destroy unless the stack is protected.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional, Sequence

import pulumi
import pulumi_alicloud as alicloud

from components.controller import Controller, controller_dependencies
from components.eip_address import EipAddress
from components.ens_listener import EnsListener
from components.listeners import ListenerSpec
from reconciler.provider import BackendSync
from stacks.model import Eip, NodePool, Service
from stacks.naming import eip_isp, elb_name

PAY_AS_YOU_GO = "PayAsYouGo"
# pulumi-alicloud's argument for each ENS API attribute of UDP and HTTP listeners.
BRIDGED_ARGS = {
    "Description": "description", "Scheduler": "scheduler", "EstablishedTimeout": "established_timeout",
    "HealthCheckConnectTimeout": "health_check_connect_timeout", "HealthCheckInterval": "health_check_interval",
    "HealthyThreshold": "healthy_threshold", "UnhealthyThreshold": "unhealthy_threshold",
    "HealthCheck": "health_check", "HealthCheckURI": "health_check_uri", "HealthCheckTimeout": "health_check_timeout",
    "HealthCheckConnectPort": "health_check_connect_port",
}
BRIDGED_LISTENERS = {"udp": alicloud.ens.LoadBalancerUdpListener, "http": alicloud.ens.LoadBalancerHttpListener}
# The started state, spelled as each resource takes it: the HTTP listener validates lower case, the UDP one
# starts the listener only on "Running" (contracts/alicloud_ens.py).
RUNNING = {"http": "running", "udp": "Running"}


@dataclass(frozen=True)
class RegionalElbArgs:
    service: Service
    pool: NodePool
    cluster_id: str
    protect: bool
    # Listeners only for `management: pulumi`; with `user`, ECM keeps listeners in step with the ports.
    listeners: Sequence[ListenerSpec] = ()
    # The Service's NodePorts (by port index) and healthCheckNodePort, once Kubernetes allocated them.
    node_ports: Optional[pulumi.Output[list[Optional[int]]]] = None
    health_check_node_port: Optional[pulumi.Output[Optional[int]]] = None
    # `management: pulumi`: BackendSync keeps the ELB's backends equal to the pool's nodes serving the Service.
    sync_backends: bool = False
    # Created after these (the Kubernetes Service, which BackendSync reads).
    after: Sequence[pulumi.Resource] = ()
    # The in-cluster controller, when the stack deploys it: it keeps the backends, BackendSync waits for it.
    controller: Optional[Controller] = None


class RegionalElb(pulumi.ComponentResource):
    elb_id: pulumi.Output[str]
    address: pulumi.Output[str]

    def __init__(self, name: str, args: RegionalElbArgs, opts: Optional[pulumi.ResourceOptions] = None):
        # Protected as a whole: every child inherits `protect`, so a destroy, or a pool leaving the selector,
        # stops at the first of them instead of deleting listeners and backends before the load balancer.
        super().__init__("ack-edge-lb:elb:RegionalElb", name, None,
                         pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(protect=args.protect)))
        svc, pool = args.service, args.pool
        assert pool.ens is not None, "the loader only lets ENS pools reach an ELB"
        cloud_name = elb_name(svc.name, svc.namespace, pool.id, args.cluster_id)
        eip_config = svc.load_balancer.eip or Eip()
        adopt = svc.load_balancer.adopt.get(pool.id)

        # Which changes replace the ELB (and its address) is the provider's to say: its force-new inputs
        # (contracts/alicloud_ens.py). A rename, for one, is an update in place.
        self.load_balancer = alicloud.ens.LoadBalancer(
            f"{name}/loadbalancer",
            load_balancer_name=cloud_name,
            ens_region_id=pool.ens.region_id,
            network_id=pool.ens.network_id,
            vswitch_id=pool.ens.vswitch_ids[0],
            load_balancer_spec=svc.load_balancer.spec,
            payment_type=PAY_AS_YOU_GO,
            # Backends are kept by ECM or BackendSync, never by this resource.
            opts=pulumi.ResourceOptions(parent=self, ignore_changes=["backendServers"],
                                        import_=adopt.load_balancer_id if adopt else None),
        )
        self.eip = alicloud.ens.Eip(
            f"{name}/eip",
            eip_name=cloud_name,
            ens_region_id=pool.ens.region_id,
            bandwidth=eip_config.bandwidth,
            internet_charge_type=eip_config.charge_type,
            isp=eip_isp(svc, pool),
            payment_type=PAY_AS_YOU_GO,
            opts=pulumi.ResourceOptions(parent=self, import_=adopt.eip_id if adopt else None),
        )
        # An EIP binds to one instance at a time: a new ELB can only get it once the old one let go.
        self.attachment = alicloud.ens.EipInstanceAttachment(
            f"{name}/eip-attachment",
            allocation_id=self.eip.id,
            instance_id=self.load_balancer.id,
            instance_type="SlbInstance",
            opts=pulumi.ResourceOptions(parent=self, delete_before_replace=True, import_=(
                f"{adopt.eip_id}:{adopt.load_balancer_id}:SlbInstance" if adopt else None)),
        )
        self.address_lookup = EipAddress(f"{name}/eip-address", self.eip.id,
                                         opts=pulumi.ResourceOptions(parent=self, depends_on=[self.attachment]))

        self.listeners = [self._listener(name, spec, args) for spec in args.listeners]
        self.backends = None
        if args.sync_backends:
            self.backends = BackendSync(
                f"{name}/backends", kind="ens", group_id=self.load_balancer.id, namespace=svc.namespace,
                service=svc.name, mode="local" if svc.external_traffic_policy == "Local" else "cluster",
                pools=[pool.id], port_name=svc.ports[0].name, drain_seconds=svc.load_balancer.drain_seconds,
                ingress=[{"ip": self.address_lookup.ipAddress}], controller=args.controller is not None,
                opts=pulumi.ResourceOptions(parent=self, depends_on=[*self.listeners, *args.after,
                                                                     *controller_dependencies(args.controller)]))
        self.elb_id = self.load_balancer.id
        self.address = self.address_lookup.ipAddress
        self.listener_ports = [f"{spec.protocol}:{spec.port}" for spec in args.listeners]
        self.register_outputs({"elbId": self.elb_id, "address": self.address, "listeners": self.listener_ports,
                               "region": pool.ens.region_id})

    def _listener(self, name: str, spec: ListenerSpec, args: RegionalElbArgs) -> pulumi.Resource:
        backend_port = _pick(args.node_ports, spec.port_index)
        attributes: dict[str, Any] = dict(spec.attributes)
        if spec.health_check_node_port and args.health_check_node_port is not None:
            attributes["HealthCheckConnectPort"] = args.health_check_node_port
        resource_name = f"{name}/listener/{spec.key}"
        if spec.protocol in BRIDGED_LISTENERS:
            # A new NodePort forces a new listener on the same port, which can only exist once the old one
            # is gone (the listener's id is `<lb>:<port>`).
            return BRIDGED_LISTENERS[spec.protocol](
                resource_name, load_balancer_id=self.load_balancer.id, listener_port=spec.port,
                backend_server_port=backend_port, status=RUNNING[spec.protocol],
                **{BRIDGED_ARGS[key]: value for key, value in attributes.items()},
                opts=pulumi.ResourceOptions(parent=self, delete_before_replace=True))
        child = pulumi.ResourceOptions(parent=self)
        return EnsListener(resource_name, load_balancer_id=self.load_balancer.id, protocol=spec.protocol,
                           listener_port=spec.port, backend_server_port=backend_port, attributes=attributes,
                           opts=child)


def _pick(ports: Optional[pulumi.Output[list[Optional[int]]]], index: int) -> Optional[pulumi.Output[Optional[int]]]:
    return None if ports is None else ports.apply(lambda values: values[index] if values else None)
