"""The stack's topology as a Mermaid flowchart: service -> region -> load balancer -> EIP -> listeners -> backends.

Built from a planned run (what the program declares) and the configuration (what the controllers
build for the modes where Pulumi declares only Kubernetes objects). GitHub renders it in comments and
Markdown files.
"""

from __future__ import annotations

import re

from plan.offline import Registration, Run
from stacks.model import StackConfig
from stacks.naming import matched_pools, service_key

BUILT_BY = {("elb", "ecm"): "ELB + EIP, built by ECM", ("elb", "user"): "ELB (self-managed), kept by ECM",
            ("nlb", "ccm"): "NLB, built by CCM", ("clb", "ccm"): "CLB, built by CCM"}
KIND = {"alicloud:ens/loadBalancer:LoadBalancer": "ELB", "alicloud:ens/eip:Eip": "EIP",
        "alicloud:nlb/loadBalancer:LoadBalancer": "NLB", "alicloud:slb/applicationLoadBalancer:ApplicationLoadBalancer": "CLB"}


class _Chart:
    def __init__(self) -> None:
        self.lines = ["flowchart LR"]
        self.ids: dict[str, str] = {}

    def node(self, key: str, label: str, shape: str = "box") -> str:
        if key not in self.ids:
            self.ids[key] = f"n{len(self.ids)}"
            text = label.replace('"', "'")
            left, right = {"box": ("[", "]"), "round": ("(", ")"), "stadium": ("([", "])")}[shape]
            self.lines.append(f'  {self.ids[key]}{left}"{text}"{right}')
        return self.ids[key]

    def edge(self, a: str, b: str) -> None:
        self.lines.append(f"  {a} --> {b}")


def _leaf(r: Registration) -> str:
    return r.name.rsplit("/", 1)[-1]


def _listeners_and_backends(chart: _Chart, run: Run, parent: Registration, lb_node: str) -> None:
    children = run.children(parent.name)
    for r in sorted(children, key=lambda c: c.name):
        if "/listener/" in r.name:
            chart.edge(lb_node, chart.node(r.name, f"listener {_leaf(r)}", "round"))
    for r in sorted(children, key=lambda c: c.name):
        if r.name.endswith("/backends") or "/backends/" in r.name:
            mode = r.inputs.get("mode", "")
            key = r.name.rsplit("/backends", 1)[1].lstrip("/")
            listener = next((c for c in children if c.name.endswith(f"/listener/{key}")), None) if key else None
            source = chart.ids.get(listener.name) if listener else lb_node
            chart.edge(source, chart.node(r.name, f"backends: {mode} ({', '.join(r.inputs.get('pools') or [])})",
                                          "stadium"))


def mermaid(run: Run, config: StackConfig) -> str:
    chart = _Chart()
    for svc in config.services:
        lb = svc.load_balancer
        root = chart.node(service_key(svc), f"{service_key(svc)}<br/>{lb.type} · {lb.management} · "
                                             f"{svc.external_traffic_policy}", "stadium")
        component = run.named(service_key(svc))
        owned = [r for r in run.children(component.name) if r.type.startswith("ack-edge-lb:") and not r.custom]
        exposures = {r.name.rsplit("/", 1)[-1]: r for r in owned if r.type == "ack-edge-lb:elb:RegionalElb"}
        for r in owned:
            if r.type in ("ack-edge-lb:nlb:NlbExposure", "ack-edge-lb:clb:ClbExposure"):
                lb_reg = next(c for c in run.children(r.name) if c.type in KIND)
                lb_node = chart.node(lb_reg.name, f"{KIND[lb_reg.type]} ({lb.address_type})")
                chart.edge(root, lb_node)
                _listeners_and_backends(chart, run, r, lb_node)
        for pool in matched_pools(svc, config.node_pools):
            if lb.type != "elb":
                continue
            region = pool.ens.region_id if pool.ens else pool.id
            region_node = chart.node(f"{service_key(svc)}/{pool.id}", f"{region}<br/>pool {pool.id}", "round")
            chart.edge(root, region_node)
            elb = exposures.get(pool.id)
            if elb is None:  # ECM builds it, or an adopted ELB
                label = (f"ELB {lb.elb_ids[pool.id]} (adopted), kept by ECM" if pool.id in lb.elb_ids
                         else BUILT_BY[(lb.type, lb.management)])
                chart.edge(region_node, chart.node(f"{service_key(svc)}/{pool.id}/lb", label))
                continue
            parts = {KIND.get(c.type): c for c in run.children(elb.name) if c.type in KIND}
            lb_node = chart.node(parts["ELB"].name, f"ELB {lb.spec}")
            chart.edge(region_node, lb_node)
            eip = parts["EIP"]
            chart.edge(lb_node, chart.node(eip.name, f"EIP {eip.inputs.get('bandwidth')} Mbit/s"))
            _listeners_and_backends(chart, run, elb, lb_node)
        if lb.management == "ccm":
            chart.edge(root, chart.node(f"{service_key(svc)}/lb", BUILT_BY[(lb.type, "ccm")]))
    return "\n".join(chart.lines)


def fenced(text: str) -> str:
    return f"```mermaid\n{text}\n```"


def node_count(text: str) -> int:
    return len(re.findall(r"^\s+n\d+[\[\(]", text, flags=re.M))
