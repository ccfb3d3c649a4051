"""Rules of the ACK Edge documentation about how a service is exposed: pools, policies, ELB binding."""

from __future__ import annotations

from collections import defaultdict
from typing import Iterator

from packaging.version import InvalidVersion, Version

from stacks.model import StackConfig
from stacks.naming import label_selector, region_carriers
from stacks.problems import Problem
from stacks.rules._registry import lb_path, matched, rule, svc_path

ECM_MIN_VERSION = Version("2.1.0")
# CreateLoadBalancer (NLB) takes 2 to 10 zone mappings.
NLB_ZONES = (2, 10)


@rule
def selector_matches_pools(cfg: StackConfig) -> Iterator[Problem]:
    for i, svc in enumerate(cfg.services):
        at = f"{svc_path(i)}.nodePoolSelector"
        selector = dict(svc.node_pool_selector)
        if svc.load_balancer.type == "elb" and not selector:
            yield Problem(at, selector, "ELB exposure picks ENS node pools by label, and no selector is set",
                          "add `nodePoolSelector: {k8s-svc: <value>}` and the same label on the ENS pools")
            continue
        pools = matched(cfg, svc)
        if not pools:
            known = sorted({f"{k}={v}" for p in cfg.node_pools for k, v in p.labels.items()})
            yield Problem(at, label_selector(selector), "the selector matches no node pool",
                          f"use labels the pools carry ({', '.join(known) or 'no pool has labels'}), "
                          "or add the label to the pools under `nodePools[].labels`")
        elif svc.load_balancer.type == "elb":
            for pool in pools:
                if pool.type != "ens":
                    yield Problem(at, label_selector(selector),
                                  f"it matches `{pool.id}`, a {pool.type} pool, but ELBs serve ENS node pools only",
                                  f"narrow the selector or remove the label from `{pool.id}`; "
                                  "expose cloud pods with `type: nlb` or `type: clb`")


@rule
def ecm_version_supports_elb(cfg: StackConfig) -> Iterator[Problem]:
    uses_ecm = [i for i, s in enumerate(cfg.services)
                if s.load_balancer.type == "elb" and s.load_balancer.management in ("ecm", "user")]
    if not uses_ecm:
        return
    raw = cfg.cluster.ecm_version
    first = f"{lb_path(uses_ecm[0])}.management"
    if raw is None:
        yield Problem("cluster.ecmVersion", None, f"{first} relies on edge-controller-manager, "
                      "whose version is not given", f"set `cluster.ecmVersion` (multi-region ELB needs {ECM_MIN_VERSION} or later)")
        return
    try:
        version = Version(raw)
    except InvalidVersion:
        version = Version("0")
    if version < ECM_MIN_VERSION:
        yield Problem("cluster.ecmVersion", raw, f"multi-region ELB ({first}) needs edge-controller-manager "
                      f"{ECM_MIN_VERSION} or later", "upgrade the edge-controller-manager add-on, then raise `cluster.ecmVersion`")


@rule
def edge_pods_behind_clb_need_cluster(cfg: StackConfig) -> Iterator[Problem]:
    for i, svc in enumerate(cfg.services):
        if svc.load_balancer.type != "clb" or svc.external_traffic_policy != "Local":
            continue
        edge = [p.id for p in matched(cfg, svc) if p.type != "cloud"]
        if edge:
            yield Problem(f"{svc_path(i)}.externalTrafficPolicy", "Local",
                          f"pods in edge pools ({', '.join(edge)}) reach a CLB through ECS forwarding, "
                          "which does not work with `Local`",
                          "set `externalTrafficPolicy: Cluster`, or select only cloud pools with `nodePoolSelector`")


@rule
def nlb_backends_fit_network(cfg: StackConfig) -> Iterator[Problem]:
    for i, svc in enumerate(cfg.services):
        lb = svc.load_balancer
        if lb.type != "nlb":
            continue
        if lb.server_group_type == "Ip":
            if cfg.cluster.network != "terway-edge":
                yield Problem("cluster.network", cfg.cluster.network,
                              f"{lb_path(i)} registers pods as IP backends of an NLB, which needs the Terway Edge plug-in",
                              "use a cluster with `network: terway-edge`, or `serverGroupType: Instance` for cloud pods")
            if not cfg.cluster.express_connect:
                yield Problem("cluster.expressConnect", False,
                              f"{lb_path(i)} registers edge pods as NLB IP backends, reached over Express Connect",
                              "connect cloud and edge with an Express Connect circuit and set `expressConnect: true`")
        else:
            edge = [p.id for p in matched(cfg, svc) if p.type != "cloud"]
            if edge:
                yield Problem(f"{lb_path(i)}.serverGroupType", "Instance",
                              f"`Instance` backends are ECS instances, but the service also runs in {', '.join(edge)}",
                              "use `serverGroupType: Ip` (pods as IP backends), or select cloud pools only")


@rule
def nlb_has_zone_mappings(cfg: StackConfig) -> Iterator[Problem]:
    zones = sorted({z.zone_id for p in cfg.node_pools if p.type == "cloud" for z in p.zones})
    for i, svc in enumerate(cfg.services):
        if svc.load_balancer.type == "nlb" and not NLB_ZONES[0] <= len(zones) <= NLB_ZONES[1]:
            yield Problem("nodePools", zones, f"the NLB of {svc_path(i)} is placed in the cloud pools' zones, and "
                          f"an NLB needs {NLB_ZONES[0]} to {NLB_ZONES[1]} zones ({len(zones)} given)",
                          "list zone/vSwitch pairs of at least two zones under `nodePools[].zones` of cloud pools")


@rule
def adoption_fits_mode(cfg: StackConfig) -> Iterator[Problem]:
    for i, svc in enumerate(cfg.services):
        lb = svc.load_balancer
        if not lb.adopt:
            continue
        at = f"{lb_path(i)}.adopt"
        if not lb.pulumi_listeners:  # `pulumi`, and `user` for NLB and CLB: Pulumi owns the load balancer
            yield Problem(at, sorted(lb.adopt), "only Pulumi-owned load balancers are imported",
                          "set `management: pulumi`, or bind existing ELBs with `management: user` and `elbIds`"
                          if lb.type == "elb" else "set `management: user` (CCM keeps the backends) or `pulumi`")
            continue
        keys = {p.id for p in matched(cfg, svc)} if lb.type == "elb" else {"lb"}
        for key, adopt in sorted(lb.adopt.items()):
            if key not in keys:
                yield Problem(f"{at}.{key}", adopt.load_balancer_id,
                              "nothing is created under this key, so nothing can be imported",
                              f"use one of: {', '.join(sorted(keys))}")
            if lb.type == "elb" and adopt.eip_id is None:
                yield Problem(f"{at}.{key}.eipId", None, "an ELB is imported with its EIP, or the address changes",
                              "add `eipId: eip-...`, the EIP bound to that ELB")
            if lb.type != "elb" and adopt.eip_id is not None:
                yield Problem(f"{at}.{key}.eipId", adopt.eip_id, f"{lb.type.upper()} addresses are not EIPs here",
                              "remove `eipId`")


@rule
def clb_needs_cloud_nodes(cfg: StackConfig) -> Iterator[Problem]:
    if any(p.type == "cloud" for p in cfg.node_pools):
        return
    for i, svc in enumerate(cfg.services):
        if svc.load_balancer.type == "clb":
            yield Problem(f"{lb_path(i)}.type", "clb", "a CLB's backends are ECS nodes, and the stack has no cloud pool",
                          "add the cluster's cloud node pool under `nodePools` (type: cloud, with its zones)")


@rule
def local_only_features(cfg: StackConfig) -> Iterator[Problem]:
    for i, svc in enumerate(cfg.services):
        if svc.external_traffic_policy != "Cluster":
            continue
        lb = svc.load_balancer
        if lb.persistence_timeout > 0:
            yield Problem(f"{lb_path(i)}.persistenceTimeout", lb.persistence_timeout,
                          "session persistence is not supported with `externalTrafficPolicy: Cluster`",
                          "set `externalTrafficPolicy: Local`, or `persistenceTimeout: 0`")
        if lb.preserve_client_ip:
            yield Problem(f"{lb_path(i)}.preserveClientIp", True,
                          "the client source IP is only preserved with `externalTrafficPolicy: Local`",
                          "set `externalTrafficPolicy: Local`, or `preserveClientIp: false`")


@rule
def pod_level_balancing_uses_wrr(cfg: StackConfig) -> Iterator[Problem]:
    for i, svc in enumerate(cfg.services):
        lb = svc.load_balancer
        if lb.pod_level_balancing and lb.scheduler not in (None, "wrr"):
            yield Problem(f"{lb_path(i)}.scheduler", lb.scheduler,
                          "pod-level balancing weighs nodes by their pod count, which only `wrr` honours",
                          "set `scheduler: wrr` (or leave it out), or `podLevelBalancing: false`")


@rule
def user_managed_elbs_are_bound(cfg: StackConfig) -> Iterator[Problem]:
    for i, svc in enumerate(cfg.services):
        lb = svc.load_balancer
        if lb.type != "elb" or lb.management != "user":
            continue
        pools = {p.id for p in matched(cfg, svc)}
        for pool in sorted(set(lb.elb_ids) - pools):
            yield Problem(f"{lb_path(i)}.elbIds.{pool}", lb.elb_ids[pool],
                          "the service is not exposed in this node pool, so the ELB would never be bound",
                          "remove the entry, or fix the pool id or the selector")
        if lb.eip is not None and pools and pools <= set(lb.elb_ids):
            yield Problem(f"{lb_path(i)}.eip", lb.eip.model_dump(by_alias=True),
                          "every pool binds an existing ELB, which brings its own EIP: no EIP is created here",
                          "remove `eip`, and set the bandwidth on the EIP itself")


@rule
def shared_elbs(cfg: StackConfig) -> Iterator[Problem]:
    users: dict[str, list[int]] = defaultdict(list)
    for i, svc in enumerate(cfg.services):
        lb = svc.load_balancer
        for elb in sorted(set(lb.elb_ids.values())):
            users[elb].append(i)
        if not lb.shared:
            continue
        if lb.management != "user":
            yield Problem(f"{lb_path(i)}.management", lb.management,
                          "one ELB shared by several Services needs self-managed ELB and EIP",
                          "set `management: user` and list the ELBs in `elbIds`")
        else:
            for pool in sorted({p.id for p in matched(cfg, svc)} - set(lb.elb_ids)):
                yield Problem(f"{lb_path(i)}.elbIds.{pool}", None,
                              "a shared ELB is named by its id in every Service that binds it",
                              f"add `elbIds: {{{pool}: lb-...}}` with the shared ELB of that pool")
        if svc.external_traffic_policy != "Cluster":
            yield Problem(f"{svc_path(i)}.externalTrafficPolicy", svc.external_traffic_policy,
                          "a shared ELB needs `externalTrafficPolicy: Cluster`",
                          "set `externalTrafficPolicy: Cluster`, or stop sharing the ELB (`shared: false`)")
    for elb, services in users.items():
        if len(services) < 2:
            continue
        for i in services:
            if not cfg.services[i].load_balancer.shared:
                yield Problem(f"{lb_path(i)}.shared", False,
                              f"ELB `{elb}` is also bound by services {[j for j in services if j != i]}",
                              "set `shared: true` on every service that binds it, or give each its own ELB")
        listeners: dict[tuple[int, str], int] = {}
        for i in services:
            for j, port in enumerate(cfg.services[i].ports):
                key = (port.port, port.protocol)
                if key in listeners and listeners[key] != i:
                    yield Problem(f"{svc_path(i)}.ports[{j}].port", port.port,
                                  f"services[{listeners[key]}] already listens on {port.protocol} {port.port} of shared ELB `{elb}`",
                                  "give the services sharing an ELB different listener ports")
                listeners.setdefault(key, i)


@rule
def eip_carrier_fits_every_pool(cfg: StackConfig) -> Iterator[Problem]:
    """An edge EIP has one carrier, and `isp` applies to the EIP of every matched pool."""
    for i, svc in enumerate(cfg.services):
        eip = svc.load_balancer.eip
        if svc.load_balancer.type != "elb" or eip is None or eip.isp is None:
            continue
        for pool in matched(cfg, svc):
            if pool.ens is None:
                continue
            carriers = {pool.ens.isp} if pool.ens.isp else region_carriers(pool.ens.region_id)
            if carriers and eip.isp not in carriers:
                yield Problem(f"{lb_path(i)}.eip.isp", eip.isp,
                              f"the EIP of `{pool.id}` would be {eip.isp}, but its region `{pool.ens.region_id}` "
                              f"is served by {', '.join(sorted(carriers))}; `isp` forces a new EIP when it changes",
                              "leave `isp` out, so that each pool's EIP takes its region's carrier "
                              "(or `nodePools[].ens.isp`)")
