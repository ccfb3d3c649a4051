"""Names and selections in the ACK Edge vocabulary; pure functions, no I/O."""

from __future__ import annotations

from typing import Iterable, Iterator, Mapping, Optional

from contracts import NameRule, names
from stacks.model import NodePool, Service


def elb_name(service: str, namespace: str, pool: str, cluster: str) -> str:
    """The name ECM gives the ELB and EIP of one node pool: `k8s/<svc>/<ns>/<pool>/<cluster>`."""
    return f"k8s/{service}/{namespace}/{pool}/{cluster}"


def pool_service_name(service: str, pool: str) -> str:
    """The PoolService ECM creates for a Service in one node pool."""
    return f"{service}-{pool}"


def label_selector(labels: Mapping[str, str]) -> str:
    """matchLabels as the `key1=val1,key2=val2` string the nodepool-labelselector annotation takes."""
    return ",".join(f"{key}={labels[key]}" for key in sorted(labels))


def selector_matches(selector: Mapping[str, str], labels: Mapping[str, str]) -> bool:
    return all(labels.get(key) == value for key, value in selector.items())


def matched_pools(service: Service, pools: Iterable[NodePool]) -> list[NodePool]:
    """The node pools a Service is exposed in, by pool id; an empty selector matches all.

    Sorted, not in configuration order: reordering `nodePools` must not change anything declared."""
    return sorted((pool for pool in pools if selector_matches(service.node_pool_selector, pool.labels)),
                  key=lambda pool: pool.id)


# Carrier tokens of ENS region ids: `cn-chengdu-telecom-4`, `cn-hefei-cmcc-2`, `cn-wuxi-telecom_unicom_cmcc-2`
# (ids seen in the ENS API reference examples and SDK docstrings; an edge EIP is single-carrier:
# https://www.alibabacloud.com/help/en/ens/what-is-an-edge-eip). Ids such as `cn-beijing-15` name none.
CARRIERS = ("cmcc", "telecom", "unicom")


def region_carriers(region_id: str) -> frozenset[str]:
    """The carriers an ENS region id names; empty when it names none (the node's carriers are then unknown)."""
    found: set[str] = set()
    for part in region_id.split("-")[1:]:
        tokens = part.split("_")
        if all(t in CARRIERS for t in tokens):
            found.update(tokens)
    return frozenset(found)


def eip_isp(service: Service, pool: NodePool) -> Optional[str]:
    """The carrier of the EIP of `service` in `pool`: the service's, the pool's, else the region's only one.

    None leaves it to the API ("assigned according to the default rules"); the rules have already
    refused a carrier the region does not have."""
    eip = service.load_balancer.eip
    if eip is not None and eip.isp:
        return eip.isp
    if pool.ens is None:
        return None
    if pool.ens.isp:
        return pool.ens.isp
    carriers = region_carriers(pool.ens.region_id)
    return next(iter(carriers)) if len(carriers) == 1 else None


def resource_name(*parts: str) -> str:
    """A Pulumi resource name made of parts: unique within the stack, readable in `pulumi preview`."""
    return "-".join(parts)


def service_key(service: Service) -> str:
    """`<namespace>/<name>`: the Service's identity, its component's name and its key in stack outputs."""
    return f"{service.namespace}/{service.name}"


def region_of_zone(zone_id: str) -> str:
    """`cn-hangzhou-k` -> `cn-hangzhou`: the region a zone belongs to."""
    return zone_id.rsplit("-", 1)[0]


def cloud_zones(pools: Iterable[NodePool]) -> dict[str, str]:
    """Zone -> vSwitch of the cloud pools (that of the first pool by id, where two give one zone), in zone order."""
    zones: dict[str, str] = {}
    for pool in sorted(pools, key=lambda p: p.id):
        if pool.type == "cloud":
            for zone in pool.zones:
                zones.setdefault(zone.zone_id, zone.vswitch_id)
    return dict(sorted(zones.items()))


def cloud_region(pools: Iterable[NodePool]) -> Optional[str]:
    """The region of the cloud pools' zones (the rules refuse zones in two regions); None without cloud zones."""
    zones = cloud_zones(pools)
    return region_of_zone(next(iter(zones))) if zones else None


def listener_name(port: int, service: str, namespace: str, cluster: str) -> str:
    """The owner mark the cloud-controller-manager puts on listeners: `k8s/<port>/<svc>/<ns>/<cluster>`.

    Also the description of Pulumi-owned listeners and the name of CLB VServerGroups, which allow `/`."""
    return f"k8s/{port}/{service}/{namespace}/{cluster}"


def nlb_name(service: str, namespace: str, cluster: str) -> str:
    """A Pulumi-owned NLB or CLB: `k8s.<svc>.<ns>.<cluster>`. Their APIs refuse `/`; `.` cannot occur in a
    Service name, a namespace or a cluster id, so the parts stay apart (contracts/names.py)."""
    return f"k8s.{service}.{namespace}.{cluster}"


def nlb_server_group_name(port: int, service: str, namespace: str, cluster: str) -> str:
    """The NLB server group of one Service port: `k8s.<port>.<svc>.<ns>.<cluster>` (no `/` either).

    Also the name of a CLB VServerGroup that CCM fills (`management: user`). Five `.` parts: CCM binds a group
    only if its name does not parse as one it made itself, `k8s/<port>/<svc>/<ns>/<cluster>` (CLB) or
    `k8s.<port>.<protocol>.<svc>.<ns>.<cluster>` (NLB) (pkg/model/load_balancer.go:329-341,
    pkg/model/nlb/nlb.go:395-411)."""
    return f"k8s.{port}.{service}.{namespace}.{cluster}"


def cloud_names(service: Service, pools: Iterable[NodePool], cluster: str) -> Iterator[tuple[NameRule, str]]:
    """Every cloud name and description the program (or ECM, for ELBs) gives this Service's load balancers."""
    lb = service.load_balancer
    svc, ns = service.name, service.namespace
    ports = sorted({p.port for p in service.ports})
    if lb.type == "elb":
        for pool in sorted(pools, key=lambda p: p.id):
            if pool.id not in lb.elb_ids:
                yield names.ENS_ELB_NAME, elb_name(svc, ns, pool.id, cluster)
        if lb.management == "pulumi":
            for port in ports:
                yield names.ENS_LISTENER_DESCRIPTION, listener_name(port, svc, ns, cluster)
    elif lb.pulumi_listeners and lb.type == "nlb":
        yield names.NLB_NAME, nlb_name(svc, ns, cluster)
        for port in ports:
            yield names.NLB_SERVER_GROUP_NAME, nlb_server_group_name(port, svc, ns, cluster)
            yield names.NLB_LISTENER_DESCRIPTION, listener_name(port, svc, ns, cluster)
    elif lb.pulumi_listeners and lb.type == "clb":
        yield names.CLB_NAME, nlb_name(svc, ns, cluster)
        group = nlb_server_group_name if lb.ccm_binds else listener_name
        for port in ports:
            yield names.CLB_VSERVER_GROUP_NAME, group(port, svc, ns, cluster)
            yield names.CLB_LISTENER_DESCRIPTION, listener_name(port, svc, ns, cluster)
