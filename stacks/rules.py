"""Rules from the ACK Edge documentation that relate several fields, pools or services.

Each rule is a pure function of a field-valid `StackConfig` that yields `Problem`s; `check` runs
them all, so one run reports every problem at once. The README's "Rules" table lists them.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Callable, Iterator

from packaging.version import InvalidVersion, Version

from stacks.model import MANAGEMENT_BY_TYPE, NodePool, Service, StackConfig
from stacks.naming import elb_name, label_selector, matched_pools
from stacks.problems import Problem

Rule = Callable[[StackConfig], Iterator[Problem]]

ECM_MIN_VERSION = Version("2.1.0")
# Documented backend limits per load balancer (FACTS.md section 2): CLB 200 backend servers per
# instance, NLB 400 servers per server group.
BACKEND_QUOTA = {"clb": 200, "nlb": 400}
# Warn once a `Cluster` Service would fill this share of the quota with nodes alone.
QUOTA_WARN_SHARE = 0.8
# CreateLoadBalancer (NLB) takes 2 to 10 zone mappings.
NLB_ZONES = (2, 10)

RULES: list[Rule] = []
WARNINGS: list[Rule] = []


def rule(fn: Rule) -> Rule:
    RULES.append(fn)
    return fn


def warning(fn: Rule) -> Rule:
    WARNINGS.append(fn)
    return fn


def _svc(i: int) -> str:
    return f"services[{i}]"


def _lb(i: int) -> str:
    return f"services[{i}].loadBalancer"


def _matched(cfg: StackConfig, svc: Service) -> list[NodePool]:
    return matched_pools(svc, cfg.node_pools)


# --- node pools ----------------------------------------------------------------------------------


@rule
def pool_ids_are_unique(cfg: StackConfig) -> Iterator[Problem]:
    first: dict[str, int] = {}
    for i, pool in enumerate(cfg.node_pools):
        if pool.id in first:
            yield Problem(f"nodePools[{i}].id", pool.id,
                          f"the same node pool id is already used by nodePools[{first[pool.id]}]",
                          "give every node pool its own id (the NodePool name in the cluster)")
        first.setdefault(pool.id, i)


@rule
def pool_placement_fits_type(cfg: StackConfig) -> Iterator[Problem]:
    for i, pool in enumerate(cfg.node_pools):
        at = f"nodePools[{i}]"
        if pool.type == "ens" and pool.ens is None:
            yield Problem(f"{at}.ens", None, "an ENS node pool needs its ENS placement",
                          "add `ens: {regionId, networkId, vswitchIds}` as the pool shows them in the ENS console")
        if pool.type != "ens" and pool.ens is not None:
            yield Problem(f"{at}.ens", pool.ens.model_dump(by_alias=True),
                          f"ENS placement is only for `type: ens` pools, this pool is `{pool.type}`",
                          "remove `ens`, or set `type: ens`")
        if pool.type == "cloud" and not pool.zones:
            yield Problem(f"{at}.zones", [], "a cloud node pool needs its zones",
                          "add `zones: [{zoneId, vswitchId}]` for the pool's ECS vSwitches")
        if pool.type != "cloud" and pool.zones:
            yield Problem(f"{at}.zones", [z.model_dump(by_alias=True) for z in pool.zones],
                          f"zones are only for `type: cloud` pools, this pool is `{pool.type}`",
                          "remove `zones`, or set `type: cloud`")


# --- one service ---------------------------------------------------------------------------------


@rule
def management_fits_type(cfg: StackConfig) -> Iterator[Problem]:
    for i, svc in enumerate(cfg.services):
        lb = svc.load_balancer
        allowed = MANAGEMENT_BY_TYPE[lb.type]
        if lb.management not in allowed:
            yield Problem(f"{_lb(i)}.management", lb.management,
                          f"`{lb.management}` management does not exist for `type: {lb.type}`",
                          f"use one of: {', '.join(allowed)}")


@rule
def pulumi_owned_modes_not_supported_yet(cfg: StackConfig) -> Iterator[Problem]:
    for i, svc in enumerate(cfg.services):
        lb = svc.load_balancer
        if lb.management == "pulumi":
            yield Problem(f"{_lb(i)}.management", "pulumi",
                          f"Pulumi-owned {lb.type.upper()} (`management: pulumi`) is not supported yet",
                          "use `ecm` or `user` for elb, `ccm` for nlb and clb, until the Pulumi-owned modes land")


@rule
def fields_fit_type(cfg: StackConfig) -> Iterator[Problem]:
    """Settings that only one kind of load balancer or one management mode reads."""
    only = {
        "spec": ("elb",), "eip": ("elb",), "elb_ids": ("elb",), "shared": ("elb",),
        "server_group_type": ("nlb",),
    }
    for i, svc in enumerate(cfg.services):
        lb = svc.load_balancer
        for field, types in only.items():
            if field in lb.model_fields_set and lb.type not in types:
                alias = lb.model_fields[field].alias
                yield Problem(f"{_lb(i)}.{alias}", getattr(lb, field) if field != "eip" else lb.eip.model_dump(by_alias=True),
                              f"`{alias}` applies to {', '.join(types)} load balancers only, this one is `{lb.type}`",
                              f"remove `{alias}`")
        if lb.elb_ids and lb.management != "user":
            yield Problem(f"{_lb(i)}.elbIds", dict(lb.elb_ids),
                          f"ELB ids are read only with `management: user`, this service uses `{lb.management}`",
                          "set `management: user` to bind existing ELBs, or remove `elbIds`")
        hc = lb.health_check
        if hc is not None and hc.type == "http" and lb.type == "elb" and lb.management in ("ecm", "user"):
            yield Problem(f"{_lb(i)}.healthCheck.type", "http",
                          "ECM configures ELB listeners with TCP health checks only (no annotation for HTTP)",
                          "use `type: tcp`")
        if hc is not None and hc.uri is not None and hc.type != "http":
            yield Problem(f"{_lb(i)}.healthCheck.uri", hc.uri, "only HTTP health checks request a URI",
                          "set `healthCheck.type: http`, or remove `uri`")


@rule
def ports_are_consistent(cfg: StackConfig) -> Iterator[Problem]:
    for i, svc in enumerate(cfg.services):
        seen: dict[tuple[int, str], int] = {}
        names: dict[str, int] = {}
        for j, port in enumerate(svc.ports):
            at = f"{_svc(i)}.ports[{j}]"
            key = (port.port, port.protocol)
            if key in seen:
                yield Problem(f"{at}.port", port.port, f"{port.protocol} port {port.port} is already declared "
                              f"by ports[{seen[key]}]", "give each listener its own port, or remove the duplicate")
            seen.setdefault(key, j)
            if port.name is None and len(svc.ports) > 1:
                yield Problem(f"{at}.name", None, "Kubernetes needs a name on every port of a multi-port Service",
                              "add `name:` (a DNS label such as `http`)")
            if port.name is not None:
                if port.name in names:
                    yield Problem(f"{at}.name", port.name, f"the name is already used by ports[{names[port.name]}]",
                                  "give every port its own name")
                names.setdefault(port.name, j)


@rule
def node_ports_are_unique(cfg: StackConfig) -> Iterator[Problem]:
    first: dict[int, str] = {}
    for i, svc in enumerate(cfg.services):
        for j, port in enumerate(svc.ports):
            if port.node_port is None:
                continue
            at = f"{_svc(i)}.ports[{j}].nodePort"
            if port.node_port in first:
                yield Problem(at, port.node_port, f"NodePort {port.node_port} is already taken by {first[port.node_port]}",
                              "pick another NodePort in 30000-32767, or leave `nodePort` out to let Kubernetes choose")
            first.setdefault(port.node_port, at)


@rule
def services_are_unique(cfg: StackConfig) -> Iterator[Problem]:
    """Same name and namespace = one Kubernetes object, and for ELB the same ELB/EIP names."""
    first: dict[tuple[str, str], int] = {}
    for i, svc in enumerate(cfg.services):
        key = (svc.namespace, svc.name)
        if key in first:
            other = cfg.services[first[key]]
            names = ""
            if "elb" in (svc.load_balancer.type, other.load_balancer.type):
                pools = _matched(cfg, svc) or cfg.node_pools
                names = f"; their ELB and EIP names collide (`{elb_name(svc.name, svc.namespace, pools[0].id, cfg.cluster.id)}`)," \
                        " and ECM could delete the other's ELB"
            yield Problem(f"{_svc(i)}.name", svc.name,
                          f"services[{first[key]}] is already `{svc.namespace}/{svc.name}`{names}",
                          "rename one of the services or put it in another namespace")
        first.setdefault(key, i)


@rule
def selector_matches_pools(cfg: StackConfig) -> Iterator[Problem]:
    for i, svc in enumerate(cfg.services):
        at = f"{_svc(i)}.nodePoolSelector"
        selector = dict(svc.node_pool_selector)
        if svc.load_balancer.type == "elb" and not selector:
            yield Problem(at, selector, "ELB exposure picks ENS node pools by label, and no selector is set",
                          "add `nodePoolSelector: {k8s-svc: <value>}` and the same label on the ENS pools")
            continue
        pools = _matched(cfg, svc)
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
    first = f"{_lb(uses_ecm[0])}.management"
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
        edge = [p.id for p in _matched(cfg, svc) if p.type != "cloud"]
        if edge:
            yield Problem(f"{_svc(i)}.externalTrafficPolicy", "Local",
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
                              f"{_lb(i)} registers pods as IP backends of an NLB, which needs the Terway Edge plug-in",
                              "use a cluster with `network: terway-edge`, or `serverGroupType: Instance` for cloud pods")
            if not cfg.cluster.express_connect:
                yield Problem("cluster.expressConnect", False,
                              f"{_lb(i)} registers edge pods as NLB IP backends, reached over Express Connect",
                              "connect cloud and edge with an Express Connect circuit and set `expressConnect: true`")
        else:
            edge = [p.id for p in _matched(cfg, svc) if p.type != "cloud"]
            if edge:
                yield Problem(f"{_lb(i)}.serverGroupType", "Instance",
                              f"`Instance` backends are ECS instances, but the service also runs in {', '.join(edge)}",
                              "use `serverGroupType: Ip` (pods as IP backends), or select cloud pools only")


@rule
def nlb_has_zone_mappings(cfg: StackConfig) -> Iterator[Problem]:
    zones = sorted({z.zone_id for p in cfg.node_pools if p.type == "cloud" for z in p.zones})
    for i, svc in enumerate(cfg.services):
        if svc.load_balancer.type == "nlb" and not NLB_ZONES[0] <= len(zones) <= NLB_ZONES[1]:
            yield Problem("nodePools", zones, f"the NLB of {_svc(i)} is placed in the cloud pools' zones, and "
                          f"an NLB needs {NLB_ZONES[0]} to {NLB_ZONES[1]} zones ({len(zones)} given)",
                          "list zone/vSwitch pairs of at least two zones under `nodePools[].zones` of cloud pools")


@rule
def local_only_features(cfg: StackConfig) -> Iterator[Problem]:
    for i, svc in enumerate(cfg.services):
        if svc.external_traffic_policy != "Cluster":
            continue
        lb = svc.load_balancer
        if lb.persistence_timeout > 0:
            yield Problem(f"{_lb(i)}.persistenceTimeout", lb.persistence_timeout,
                          "session persistence is not supported with `externalTrafficPolicy: Cluster`",
                          "set `externalTrafficPolicy: Local`, or `persistenceTimeout: 0`")
        if lb.preserve_client_ip:
            yield Problem(f"{_lb(i)}.preserveClientIp", True,
                          "the client source IP is only preserved with `externalTrafficPolicy: Local`",
                          "set `externalTrafficPolicy: Local`, or `preserveClientIp: false`")


@rule
def pod_level_balancing_uses_wrr(cfg: StackConfig) -> Iterator[Problem]:
    for i, svc in enumerate(cfg.services):
        lb = svc.load_balancer
        if lb.pod_level_balancing and lb.scheduler not in (None, "wrr"):
            yield Problem(f"{_lb(i)}.scheduler", lb.scheduler,
                          "pod-level balancing weighs nodes by their pod count, which only `wrr` honours",
                          "set `scheduler: wrr` (or leave it out), or `podLevelBalancing: false`")


@rule
def user_managed_elbs_are_bound(cfg: StackConfig) -> Iterator[Problem]:
    for i, svc in enumerate(cfg.services):
        lb = svc.load_balancer
        if lb.type != "elb" or lb.management != "user":
            continue
        pools = {p.id for p in _matched(cfg, svc)}
        for pool in sorted(pools - set(lb.elb_ids)):
            yield Problem(f"{_lb(i)}.elbIds.{pool}", None,
                          f"self-managed ELB needs an existing ELB for node pool `{pool}` "
                          "(Pulumi-created ELBs for `user` management are not supported yet)",
                          f"add `elbIds: {{{pool}: lb-...}}` with the id of the pool's ELB")
        for pool in sorted(set(lb.elb_ids) - pools):
            yield Problem(f"{_lb(i)}.elbIds.{pool}", lb.elb_ids[pool],
                          "the service is not exposed in this node pool, so the ELB would never be bound",
                          "remove the entry, or fix the pool id or the selector")
        if lb.eip is not None:
            yield Problem(f"{_lb(i)}.eip", lb.eip.model_dump(by_alias=True),
                          "self-managed ELBs bring their own EIP: ECM never creates or changes it",
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
            yield Problem(f"{_lb(i)}.management", lb.management,
                          "one ELB shared by several Services needs self-managed ELB and EIP",
                          "set `management: user` and list the ELBs in `elbIds`")
        if svc.external_traffic_policy != "Cluster":
            yield Problem(f"{_svc(i)}.externalTrafficPolicy", svc.external_traffic_policy,
                          "a shared ELB needs `externalTrafficPolicy: Cluster`",
                          "set `externalTrafficPolicy: Cluster`, or stop sharing the ELB (`shared: false`)")
    for elb, services in users.items():
        if len(services) < 2:
            continue
        for i in services:
            if not cfg.services[i].load_balancer.shared:
                yield Problem(f"{_lb(i)}.shared", False,
                              f"ELB `{elb}` is also bound by services {[j for j in services if j != i]}",
                              "set `shared: true` on every service that binds it, or give each its own ELB")
        listeners: dict[tuple[int, str], int] = {}
        for i in services:
            for port in cfg.services[i].ports:
                key = (port.port, port.protocol)
                if key in listeners and listeners[key] != i:
                    yield Problem(f"{_svc(i)}.ports", port.port,
                                  f"services[{listeners[key]}] already listens on {port.protocol} {port.port} of shared ELB `{elb}`",
                                  "give the services sharing an ELB different listener ports")
                listeners.setdefault(key, i)


# --- warnings ------------------------------------------------------------------------------------


@warning
def cluster_policy_fills_backend_quota(cfg: StackConfig) -> Iterator[Problem]:
    for i, svc in enumerate(cfg.services):
        quota = BACKEND_QUOTA.get(svc.load_balancer.type)
        if quota is None or svc.external_traffic_policy != "Cluster":
            continue
        nodes = sum(p.node_count or 0 for p in _matched(cfg, svc))
        if nodes >= quota * QUOTA_WARN_SHARE:
            yield Problem(f"{_svc(i)}.externalTrafficPolicy", "Cluster",
                          f"`Cluster` registers every node as a backend: {nodes} nodes against the "
                          f"{svc.load_balancer.type.upper()} limit of {quota}",
                          "use `Local` (only nodes running pods), or narrow `nodePoolSelector`", "warning")


@warning
def ecm_deletes_on_selection_change(cfg: StackConfig) -> Iterator[Problem]:
    for i, svc in enumerate(cfg.services):
        lb = svc.load_balancer
        if lb.type == "elb" and lb.management == "ecm":
            pools = ", ".join(p.id for p in _matched(cfg, svc))
            yield Problem(f"{_svc(i)}.nodePoolSelector", label_selector(svc.node_pool_selector),
                          f"ECM owns the ELB and EIP of each matched pool ({pools}); changing this selector or "
                          "the pools' labels so a pool stops matching deletes that pool's ELB and EIP "
                          "(its address is lost)",
                          "use `management: user` to keep ELBs and EIPs across such changes", "warning")


def check(cfg: StackConfig) -> tuple[list[Problem], list[Problem]]:
    """Every error and every warning of a field-valid configuration."""
    errors = [p for fn in RULES for p in fn(cfg)]
    warnings = [p for fn in WARNINGS for p in fn(cfg)]
    return errors, warnings
