"""Warnings where the documentation warns: allowed, but worth knowing before `pulumi up`."""

from __future__ import annotations

from typing import Iterator

from stacks.model import StackConfig
from stacks.naming import label_selector
from stacks.problems import Problem
from stacks.rules._registry import matched, svc_path, warning

# Documented backend limits per load balancer (FACTS.md section 2): CLB 200 backend servers per
# instance, NLB 400 servers per server group.
BACKEND_QUOTA = {"clb": 200, "nlb": 400}
# Warn once a `Cluster` Service would fill this share of the quota with nodes alone.
QUOTA_WARN_SHARE = 0.8




@warning
def cluster_policy_fills_backend_quota(cfg: StackConfig) -> Iterator[Problem]:
    for i, svc in enumerate(cfg.services):
        quota = BACKEND_QUOTA.get(svc.load_balancer.type)
        if quota is None or svc.external_traffic_policy != "Cluster":
            continue
        nodes = sum(p.node_count or 0 for p in matched(cfg, svc))
        if nodes >= quota * QUOTA_WARN_SHARE:
            yield Problem(f"{svc_path(i)}.externalTrafficPolicy", "Cluster",
                          f"`Cluster` registers every node as a backend: {nodes} nodes against the "
                          f"{svc.load_balancer.type.upper()} limit of {quota}",
                          "use `Local` (only nodes running pods), or narrow `nodePoolSelector`", "warning")


@warning
def ecm_deletes_on_selection_change(cfg: StackConfig) -> Iterator[Problem]:
    for i, svc in enumerate(cfg.services):
        lb = svc.load_balancer
        if lb.type == "elb" and lb.management == "ecm":
            pools = ", ".join(p.id for p in matched(cfg, svc))
            yield Problem(f"{svc_path(i)}.nodePoolSelector", label_selector(svc.node_pool_selector),
                          f"ECM owns the ELB and EIP of each matched pool ({pools}); changing this selector or "
                          "the pools' labels so a pool stops matching deletes that pool's ELB and EIP "
                          "(its address is lost)",
                          "use `management: user` to keep ELBs and EIPs across such changes", "warning")
