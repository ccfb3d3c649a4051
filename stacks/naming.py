"""Names and selections in the ACK Edge vocabulary; pure functions, no I/O."""

from __future__ import annotations

from typing import Iterable, Mapping

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
    """The node pools a Service is exposed in, in configuration order; an empty selector matches all."""
    return [pool for pool in pools if selector_matches(service.node_pool_selector, pool.labels)]


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
    """Zone -> vSwitch of the cloud pools (the first vSwitch given for a zone), in zone order."""
    zones: dict[str, str] = {}
    for pool in pools:
        if pool.type == "cloud":
            for zone in pool.zones:
                zones.setdefault(zone.zone_id, zone.vswitch_id)
    return dict(sorted(zones.items()))


def listener_name(port: int, service: str, namespace: str, cluster: str) -> str:
    """The owner mark the cloud-controller-manager puts on listeners: `k8s/<port>/<svc>/<ns>/<cluster>`."""
    return f"k8s/{port}/{service}/{namespace}/{cluster}"
