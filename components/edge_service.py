"""EdgeService: one Kubernetes Service of the stack and the cluster objects that expose it.

For the controller-managed modes (ELB through ECM, NLB and CLB through CCM) everything the cloud
needs is said in Kubernetes: the Service with its class and annotations, the ENS NodePools' labels
and annotations that ECM reads, and for self-managed ELBs the PoolService that binds each pool to
its ELB. The controllers then build the load balancers and write their addresses into the Service.
Where Pulumi builds an NLB or CLB (`pulumi`; `user`, where the Service binds it for CCM to fill its
server groups), the exposure component holds it.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any, Optional, Sequence

import pulumi
import pulumi_kubernetes as k8s

from components import annotations as ann
from components.clb import ClbExposure, ClbExposureArgs
from components.cluster_patch import NODE_POOL_WAIT, POOL_SERVICE_WAIT, ExistingObjectPatch
from components.controller import Controller
from components.elb import RegionalElb, RegionalElbArgs
from components.listeners import listener_specs
from components.nlb import NlbExposure, NlbExposureArgs
from components.providers import RegionalProviders
from stacks.model import Cluster, NodePool, Service, Workload
from stacks.naming import cloud_region, pool_service_name


@dataclass(frozen=True)
class EdgeServiceArgs:
    service: Service
    cluster: Cluster
    # Every node pool of the stack (NLB zones come from the cloud pools), and the ones the Service is exposed in.
    node_pools: Sequence[NodePool]
    matched_pools: Sequence[NodePool]
    # Protect Pulumi-created ELBs and EIPs against deletion.
    protect: bool = False
    # Providers of the regional resources (NLB, CLB); one per region, shared by the services.
    providers: Optional[RegionalProviders] = None
    # The in-cluster controller, when the stack deploys it: it keeps the backends of the groups Pulumi owns
    # (`management: pulumi`), and each BackendSync hands its group to it and waits until it is synced.
    controller: Optional[Controller] = None


def _addresses(status: Any) -> list[str]:
    """The ingress points a controller wrote into the Service status, one per region for ELB."""
    ingress = getattr(getattr(status, "load_balancer", None), "ingress", None) or []
    return [point.ip or point.hostname for point in ingress if point.ip or point.hostname]


class EdgeService(pulumi.ComponentResource):
    service: k8s.core.v1.Service
    external_ips: pulumi.Output[list[str]]
    external_ip: pulumi.Output[str]

    def __init__(self, name: str, args: EdgeServiceArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("ack-edge-lb:edge_service:EdgeService", name, None, opts)
        svc = args.service
        lb = svc.load_balancer
        child = pulumi.ResourceOptions(parent=self)
        annotations: dict[str, Any] = ann.service_annotations(svc, args.node_pools)
        binding = _CcmBinding() if lb.ccm_binds else None
        if binding is not None:
            annotations = dict(sorted({**annotations, **binding.annotations}.items()))

        self.service = k8s.core.v1.Service(
            f"{name}/service",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=svc.name,
                namespace=svc.namespace,
                annotations=annotations,
            ),
            spec=k8s.core.v1.ServiceSpecArgs(
                type="LoadBalancer",
                load_balancer_class=ann.load_balancer_class(svc),
                external_traffic_policy=svc.external_traffic_policy,
                selector=dict(svc.selector),
                ports=[
                    k8s.core.v1.ServicePortArgs(
                        name=p.name, port=p.port, protocol=p.protocol,
                        target_port=p.target_port if p.target_port is not None else p.port,
                        node_port=p.node_port,
                    )
                    for p in svc.ports
                ],
            ),
            # `spec.loadBalancerClass` cannot change once set (Kubernetes API), and pulumi-kubernetes would
            # update it in place ("field is immutable"): switching `type` or `management` replaces the
            # Service, deleting the old one first since both have one name (contracts/kubernetes.py).
            opts=pulumi.ResourceOptions(parent=self, replace_on_changes=_replace_on(svc), delete_before_replace=True),
        )

        controller_elb = lb.type == "elb" and lb.management in ("ecm", "user")
        # Patches are plain dicts, not typed Args: there is one per pool, and at hundreds of pools the
        # typed inputs' translation was most of the program's own cost (bench/plan_scale.py).
        # Patches of objects others create (ACK the NodePools, ECM the PoolServices), which never create
        # them: a server-side-apply patch would (components/cluster_patch.py).
        self.node_pool_patches = [
            ExistingObjectPatch.node_pool(f"{name}/nodepool/{pool.id}", node_pool=pool.id,
                                          **_node_pool_patch(svc, pool), wait_seconds=NODE_POOL_WAIT, opts=child)
            for pool in args.matched_pools if controller_elb]
        owned = lb.management == "pulumi"
        # What Kubernetes allocates for the Service, which Pulumi-owned listeners forward to.
        node_ports = self.service.spec.apply(lambda s: [_allocated(p.node_port) for p in (s.ports or [])]
                                             ) if lb.pulumi_listeners else None
        health_port = self.service.spec.apply(
            lambda s: _allocated(s.health_check_node_port) if svc.external_traffic_policy == "Local" else None
        ) if lb.pulumi_listeners else None
        # ELBs Pulumi creates: every pool under `pulumi`, the pools without an `elbIds` entry under `user`.
        self.elbs: dict[str, RegionalElb] = {}
        if lb.type == "elb" and lb.management in ("user", "pulumi"):
            specs = listener_specs(svc, args.cluster.id) if owned else []
            for pool in args.matched_pools:
                if pool.id in lb.elb_ids:
                    continue  # adopted: nothing is created for it, nothing deleted on destroy
                self.elbs[pool.id] = RegionalElb(f"{name}/elb/{pool.id}", RegionalElbArgs(
                    service=svc, pool=pool, cluster_id=args.cluster.id, protect=args.protect, listeners=specs,
                    node_ports=node_ports, health_check_node_port=health_port, sync_backends=owned,
                    after=[self.service], controller=args.controller,
                ), opts=child)
        # A Pulumi-owned NLB or CLB: one load balancer for the Service, not one per region.
        self.exposure: Optional[NlbExposure | ClbExposure] = None
        try:
            self.exposure = self._exposure(name, args, node_ports, health_port, child)
        except BaseException as exc:
            if binding is not None:  # the Service waits for the binding: fail it, or the program never ends
                binding.fail(exc)
            raise
        if binding is not None:
            binding.resolve(self.exposure)
        self.pool_service_patches = []
        if lb.type == "elb" and lb.management == "user":
            # ECM creates PoolService `<svc>-<pool>` once the Service exists; the binding waits for it (at most
            # POOL_SERVICE_WAIT), then puts the ELB id on it.
            for pool in args.matched_pools:
                elb_id = lb.elb_ids.get(pool.id) or self.elbs[pool.id].elb_id
                self.pool_service_patches.append(ExistingObjectPatch.pool_service(
                    f"{name}/poolservice/{pool.id}", namespace=svc.namespace,
                    pool_service=pool_service_name(svc.name, pool.id), annotations={ann.LOADBALANCER_ID: elb_id},
                    wait_seconds=POOL_SERVICE_WAIT, opts=pulumi.ResourceOptions(parent=self, depends_on=[self.service])))

        self.workload = None
        if svc.workload is not None:
            self.workload = _demo_workload(f"{name}/workload", svc.workload, svc, args.matched_pools, child)

        self.pool_ids = [p.id for p in args.matched_pools]
        region_keys = _region_keys(args.matched_pools)
        # Per region, the ELB the Service is bound to: Pulumi-created (id, address, listeners) or adopted.
        self.load_balancers: dict[str, Any] = {}
        if lb.type == "elb" and lb.management in ("user", "pulumi"):
            for pool in args.matched_pools:
                key = region_keys[pool.id]
                created = self.elbs.get(pool.id)
                self.load_balancers[key] = (
                    {"elbId": created.elb_id, "address": created.address, "listeners": created.listener_ports}
                    if created else {"elbId": lb.elb_ids[pool.id], "adopted": True})
        if self.exposure is not None:
            self.load_balancers[lb.type] = {"lbId": self.exposure.lb_id, "address": self.exposure.address,
                                            "listeners": self.exposure.listener_ports}
            self.external_ips = self.exposure.address.apply(lambda address: {lb.type: address})
            self.external_ip = self.exposure.address.apply(lambda address: address or "")
        elif self.elbs and len(self.elbs) == len(args.matched_pools):
            # Pulumi created every EIP: the addresses are known per region.
            self.external_ips = pulumi.Output.all(**{
                region_keys[pool.id]: self.elbs[pool.id].address for pool in args.matched_pools
            }).apply(lambda by_region: dict(sorted(by_region.items())))
            self.external_ip = self.external_ips.apply(lambda by_region: ",".join(ip for ip in by_region.values() if ip))
        else:  # the controller writes them into the Service status
            self.external_ips = self.service.status.apply(_addresses)
            self.external_ip = self.external_ips.apply(",".join)
        self.register_outputs({
            "service": f"{svc.namespace}/{svc.name}",
            "externalIps": self.external_ips,
            "externalIp": self.external_ip,
            "nodePools": self.pool_ids,
            "loadBalancers": self.load_balancers,
        })

    def _exposure(self, name: str, args: EdgeServiceArgs, node_ports: Any, health_port: Any,
                  child: pulumi.ResourceOptions) -> Optional[NlbExposure | ClbExposure]:
        """The NLB or CLB Pulumi builds (`pulumi`, and `user` where CCM fills its groups), or None."""
        svc, lb = args.service, args.service.load_balancer
        if lb.type not in ("nlb", "clb") or not lb.pulumi_listeners:
            return None
        regional = (args.providers or RegionalProviders()).alicloud(cloud_region(args.node_pools))
        # BackendSync waits for the Service (its endpoints); under `user` CCM keeps the backends, and it is the
        # Service that depends on the groups, through its binding.
        after = [] if lb.ccm_binds else [self.service]
        if lb.type == "nlb":
            return NlbExposure(f"{name}/nlb", NlbExposureArgs(
                service=svc, cluster_id=args.cluster.id, vpc_id=args.cluster.vpc_id, node_pools=args.node_pools,
                matched_pools=args.matched_pools, protect=args.protect, node_ports=node_ports, after=after,
                provider=regional, bound_by_ccm=lb.ccm_binds, controller=args.controller,
            ), opts=child)
        return ClbExposure(f"{name}/clb", ClbExposureArgs(
            service=svc, cluster_id=args.cluster.id, node_pools=args.node_pools, matched_pools=args.matched_pools,
            protect=args.protect, node_ports=node_ports, health_check_node_port=health_port, after=after,
            provider=regional, bound_by_ccm=lb.ccm_binds, controller=args.controller,
        ), opts=child)


class _CcmBinding:
    """What binds a Service to the NLB or CLB Pulumi builds (`management: user`): the load balancer's id and
    each port's server group, for CCM to fill (ccm.md sections 1 and 3).

    The groups are declared after the Service, since their listeners forward to its NodePorts; the ids reach
    the annotations through deferred outputs. So the Service depends on the load balancer and the groups and
    is deleted before them: CCM then drains its backends from groups that still exist. Deleted after a bound
    NLB group, every reconcile of the Service, its deletion included, fails on the missing group, and CCM's
    finalizer holds the Service for good (ccm.md section 3, nlbv2/server_groups.go:215-230). pulumi-kubernetes
    waits for a Service's deletion, finalizers included, whatever `skipAwait` says (pulumi-kubernetes@94977969
    provider/pkg/metadata/overrides.go:168-209: only legacy workload kinds skip it)."""

    def __init__(self) -> None:
        self.lb_id, self._resolve_lb = pulumi.deferred_output()
        self.groups, self._resolve_groups = pulumi.deferred_output()

    @property
    def annotations(self) -> dict[str, pulumi.Output[str]]:
        return {ann.LOADBALANCER_ID: self.lb_id, ann.VGROUP_PORT: self.groups}

    def resolve(self, exposure: Optional[NlbExposure | ClbExposure]) -> None:
        if exposure is None:
            self.fail(RuntimeError("management: user declares no load balancer to bind"))
            return
        self._resolve_lb(exposure.lb_id)
        self._resolve_groups(exposure.vgroup_port)

    def fail(self, exc: BaseException) -> None:
        def raise_(_: Any) -> Any:
            raise exc
        failed = pulumi.Output.from_input(None).apply(raise_)
        self._resolve_lb(failed)
        self._resolve_groups(failed)


def _replace_on(svc: Service) -> list[str]:
    """What replaces the Service (deleting it first) rather than updating it: its class; for NLB and CLB also the
    load balancer it binds (`loadbalancer-id`). CCM refuses to bind a Service whose status already holds another
    address, and one that stops binding keeps looking for its old load balancer instead of building one (ccm.md
    section 1): switching `ccm` and `user`, or binding a new load balancer, needs a new Service. The path is
    quoted as pulumi-kubernetes writes its detailed diff (provider/pkg/provider/provider.go:3359-3364)."""
    paths = ["spec.loadBalancerClass"]
    if svc.load_balancer.type in ("nlb", "clb"):
        paths.append(f'metadata.annotations["{ann.LOADBALANCER_ID}"]')
    return paths


def _allocated(port: Optional[int]) -> Any:
    """A port the API server allocates (NodePort, healthCheckNodePort). A preview that cannot dry-run the
    Service (pulumi-kubernetes returns the inputs then) sees none: it is unknown until the Service exists,
    not absent, so the listeners that take it are checked once it is known."""
    if port is None and pulumi.runtime.is_dry_run():
        return pulumi.output.UNKNOWN
    return port


def _node_pool_patch(svc: Service, pool: NodePool) -> dict[str, Any]:
    """ECM reads the selector label and the ENS placement from each NodePool."""
    return {
        "labels": {key: pool.labels[key] for key in sorted(svc.node_pool_selector)},
        "annotations": ann.node_pool_annotations(pool),
    }


def _region_keys(pools: Sequence[NodePool]) -> dict[str, str]:
    """Pool id -> its ENS region, or `region/pool` where the Service has two pools in that region."""
    def region(pool: NodePool) -> str:
        return pool.ens.region_id if pool.ens else pool.id
    counts = Counter(region(p) for p in pools if p.ens)
    return {p.id: region(p) if counts[region(p)] <= 1 else f"{region(p)}/{p.id}" for p in pools}


def _demo_workload(name: str, workload: Workload, svc: Service, pools: Sequence[NodePool],
                   opts: pulumi.ResourceOptions) -> k8s.apps.v1.DaemonSet:
    """The `cube` DaemonSet of the documentation: one pod per node of the matched pools."""
    ports = [k8s.core.v1.ContainerPortArgs(container_port=p.target_port or p.port, protocol=p.protocol)
             for p in svc.ports if not isinstance(p.target_port, str)]
    return k8s.apps.v1.DaemonSet(
        name,
        metadata=k8s.meta.v1.ObjectMetaArgs(name=workload.name, namespace=svc.namespace, labels=dict(svc.selector)),
        spec=k8s.apps.v1.DaemonSetSpecArgs(
            selector=k8s.meta.v1.LabelSelectorArgs(match_labels=dict(svc.selector)),
            template=k8s.core.v1.PodTemplateSpecArgs(
                metadata=k8s.meta.v1.ObjectMetaArgs(labels=dict(svc.selector)),
                spec=k8s.core.v1.PodSpecArgs(
                    affinity=k8s.core.v1.AffinityArgs(node_affinity=k8s.core.v1.NodeAffinityArgs(
                        required_during_scheduling_ignored_during_execution=k8s.core.v1.NodeSelectorArgs(
                            node_selector_terms=[k8s.core.v1.NodeSelectorTermArgs(match_expressions=[
                                k8s.core.v1.NodeSelectorRequirementArgs(
                                    key=ann.NODEPOOL_LABEL, operator="In", values=sorted(p.id for p in pools)),
                            ])],
                        ),
                    )),
                    containers=[k8s.core.v1.ContainerArgs(name=workload.name, image=workload.image, ports=ports)],
                ),
            ),
        ),
        opts=opts,
    )
