"""Rules about node pools."""

from __future__ import annotations

from typing import Iterator

from stacks.model import StackConfig
from stacks.naming import region_carriers, region_of_zone
from stacks.problems import Problem
from stacks.rules._registry import rule


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
            yield Problem(f"{at}.ens", pool.ens.model_dump(by_alias=True, exclude_none=True),
                          f"ENS placement is only for `type: ens` pools, this pool is `{pool.type}`",
                          "remove `ens`, or set `type: ens`")
        if pool.type == "cloud" and not pool.zones:
            yield Problem(f"{at}.zones", [], "a cloud node pool needs its zones",
                          "add `zones: [{zoneId, vswitchId}]` for the pool's ECS vSwitches")
        if pool.type != "cloud" and pool.zones:
            yield Problem(f"{at}.zones", [z.model_dump(by_alias=True) for z in pool.zones],
                          f"zones are only for `type: cloud` pools, this pool is `{pool.type}`",
                          "remove `zones`, or set `type: cloud`")


@rule
def pool_carrier_fits_region(cfg: StackConfig) -> Iterator[Problem]:
    for i, pool in enumerate(cfg.node_pools):
        if pool.ens is None or pool.ens.isp is None:
            continue
        carriers = region_carriers(pool.ens.region_id)
        if carriers and pool.ens.isp not in carriers:
            yield Problem(f"nodePools[{i}].ens.isp", pool.ens.isp,
                          f"region `{pool.ens.region_id}` is served by {', '.join(sorted(carriers))} only",
                          f"use one of: {', '.join(sorted(carriers))}, or leave `isp` out")


@rule
def cloud_zones_share_a_region(cfg: StackConfig) -> Iterator[Problem]:
    """An NLB or CLB lives in one region, as do the cluster's VPC and its cloud node pools."""
    first: tuple[str, str] | None = None
    for i, pool in enumerate(cfg.node_pools):
        if pool.type != "cloud":
            continue  # zones on other pools are refused by pool_placement_fits_type
        for j, zone in enumerate(pool.zones):
            region = region_of_zone(zone.zone_id)
            if first is None:
                first = (region, f"nodePools[{i}].zones[{j}].zoneId")
            elif region != first[0]:
                yield Problem(f"nodePools[{i}].zones[{j}].zoneId", zone.zone_id,
                              f"the zone is in `{region}`, but {first[1]} is in `{first[0]}`; the cluster's cloud "
                              "pools, its VPC and its NLB or CLB are in one region",
                              f"list only zones of `{first[0]}` (the cluster's region)")
