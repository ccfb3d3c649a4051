"""Which addresses users connect to change, for the load balancers Pulumi owns; pure.

A replaced ELB gets a new id and private address while its EIP keeps the public address (re-bound
to the new ELB), unless the EIP is replaced or deleted too; a replaced NLB gets a new DNS name and
addresses, a replaced CLB a new address; deleting any of them releases its address.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from plan.diff import PlanDiff
from plan.offline import Registration

ELB = "alicloud:ens/loadBalancer:LoadBalancer"
EIP = "alicloud:ens/eip:Eip"
ATTACHMENT = "alicloud:ens/eipInstanceAttachment:EipInstanceAttachment"
NLB = "alicloud:nlb/loadBalancer:LoadBalancer"
CLB = "alicloud:slb/applicationLoadBalancer:ApplicationLoadBalancer"
EDGE_SERVICE = "ack-edge-lb:edge_service:EdgeService"


@dataclass(frozen=True)
class AddressChange:
    """Which address of a load balancer changes: `addresses` maps elbId, private (ELB), public (EIP),
    dns (NLB) or ip (CLB) to changes, released or stays."""

    kind: str
    message: str
    addresses: dict[str, str] = field(default_factory=dict)
    managed_by: str = "pulumi"
    resource: Optional[str] = None
    service: Optional[str] = None
    pool: Optional[str] = None
    region: Optional[str] = None


def _owner(name: str, regs: dict[str, Registration]) -> tuple[Optional[str], Optional[str]]:
    """The Service key and the pool of a resource (`<ns>/<svc>/elb/<pool>/loadbalancer`)."""
    pool, reg = None, regs.get(name)
    while reg is not None and reg.parent is not None:
        parent = regs.get(reg.parent)
        if reg.parent.split("/")[-2:-1] == ["elb"]:
            pool = reg.parent.rsplit("/", 1)[-1]
        if parent is not None and parent.type == EDGE_SERVICE:
            return parent.name, pool
        reg = parent
    return None, pool


def _eip_of(elb: str, regs: dict[str, Registration]) -> Optional[str]:
    for r in regs.values():
        if r.type == ATTACHMENT and elb in r.property_dependencies.get("instanceId", ()):
            found = r.property_dependencies.get("allocationId", ())
            if found:
                return found[0]
    parent = regs[elb].parent if elb in regs else None
    return next((r.name for r in regs.values() if r.type == EIP and r.parent == parent and parent), None)


def owned_addresses(diff: PlanDiff) -> list[AddressChange]:
    old = {d.name: d.old for d in diff.resources.values() if d.old}
    new = {d.name: d.new for d in diff.resources.values() if d.new}
    out = []
    for d in diff.resources.values():
        if d.op not in ("replace", "delete") or d.type not in (ELB, EIP, NLB, CLB):
            continue
        regs = new if d.op == "replace" else old
        service, pool = _owner(d.name, regs)
        region = d.current.inputs.get("ensRegionId")
        where = f" (pool {pool}, {region})" if pool else ""
        why = f" ({', '.join(d.forcing())})" if d.op == "replace" else ""
        gone = "released" if d.op == "delete" else "changes"
        verb = "is deleted" if d.op == "delete" else f"is replaced{why}"
        if d.type == ELB:
            eip = _eip_of(d.name, regs)
            eip_op = diff.resources[eip].op if eip in diff.resources else "same"
            public = ("released" if eip_op == "delete" else "changes" if eip_op == "replace"
                      else "stays" if d.op == "replace" else "released")
            text = {"stays": f"the public address stays: EIP {eip} is bound to the new ELB",
                    "changes": f"the public address changes too: EIP {eip} is replaced",
                    "released": f"its public address is released with EIP {eip}" if eip else
                                "no EIP of its own"}[public]
            address = "are released" if d.op == "delete" else "change"
            out.append(AddressChange("ELB", f"ELB {d.name}{where} {verb}: its id and private address {address}; "
                                     f"{text}", {"elbId": gone, "private": gone, "public": public},
                                     resource=d.name, service=service, pool=pool, region=region))
        elif d.type == EIP:
            out.append(AddressChange("EIP", f"EIP {d.name}{where} {verb}: the public address of the pool "
                                     f"{'is released' if d.op == 'delete' else 'changes'}", {"public": gone},
                                     resource=d.name, service=service, pool=pool, region=region))
        else:
            kind = "NLB" if d.type == NLB else "CLB"
            if kind == "NLB":
                what = "its DNS name and addresses " + ("are released" if d.op == "delete" else "change")
            else:
                what = "its address " + ("is released" if d.op == "delete" else "changes")
            out.append(AddressChange(kind, f"{kind} {d.name} {verb}: {what}",
                                     {"dns" if kind == "NLB" else "ip": gone}, resource=d.name, service=service))
    return sorted(out, key=lambda a: (a.service or "", a.pool or "", ("ELB", "EIP", "NLB", "CLB").index(a.kind)))
