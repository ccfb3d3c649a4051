"""The offline plan as a readable tree: stack -> service -> region -> resources, with key properties."""

from __future__ import annotations

from typing import Any, Callable

from rich.console import Console
from rich.tree import Tree

from plan.offline import Registration, Run
from stacks.model import NodePool, StackConfig
from stacks.naming import service_key

LB_PREFIX = "service.beta.kubernetes.io/alibaba-cloud-loadbalancer-"


def _short(key: str) -> str:
    return key.replace(LB_PREFIX, "lb/").replace("service.openyurt.io/", "openyurt/")


def _pairs(mapping: dict[str, Any] | None) -> str:
    return ", ".join(f"{_short(k)}={v}" for k, v in sorted((mapping or {}).items()))


def _service(r: Registration) -> list[str]:
    spec, meta = r.inputs.get("spec", {}), r.inputs.get("metadata", {})
    ports = ", ".join(f"{p.get('name') or '-'} {p['port']}/{p.get('protocol', 'TCP')}->{p.get('targetPort')}"
                      for p in spec.get("ports", []))
    lines = [f"type={spec.get('type')} class={spec.get('loadBalancerClass') or '(CCM default)'} "
             f"externalTrafficPolicy={spec.get('externalTrafficPolicy')}",
             f"ports: {ports}"]
    if meta.get("annotations"):
        lines.append(f"annotations: {_pairs(meta['annotations'])}")
    return lines + ([", ".join(_flags(r))] if _flags(r) else [])


def is_object_patch(r: Registration) -> bool:
    """An ExistingObjectPatch (components/cluster_patch.py): labels and annotations on a NodePool or PoolService."""
    return r.type == "pulumi-python:dynamic/cluster:ExistingObjectPatch"


def _patch(r: Registration) -> list[str]:
    lines = []
    if r.inputs.get("labels"):
        lines.append(f"labels: {_pairs(r.inputs['labels'])}")
    if r.inputs.get("annotations"):
        lines.append(f"annotations: {_pairs(r.inputs['annotations'])}")
    lines.append(f"waits up to {r.inputs.get('waitSeconds'):g} s for the {r.inputs['kind']}; never creates it")
    return lines


def _daemonset(r: Registration) -> list[str]:
    pod = r.inputs.get("spec", {}).get("template", {}).get("spec", {})
    return [f"image: {c.get('image')}" for c in pod.get("containers", [])]


def _flags(r: Registration) -> list[str]:
    out = []
    if r.options.get("protect"):
        out.append("protected")
    if r.options.get("replaceOnChanges"):
        out.append(f"replaced when {', '.join(r.options['replaceOnChanges'])} changes")
    return out


def _cloud(*keys: str) -> Callable[[Registration], list[str]]:
    """Key properties of a cloud resource, in the order given, with its options."""
    def describe(r: Registration) -> list[str]:
        shown = ", ".join(f"{k}={r.inputs[k]}" for k in keys if r.inputs.get(k) is not None)
        return [line for line in (shown, ", ".join(_flags(r))) if line]
    return describe


def _dynamic(r: Registration) -> list[str]:
    shown = {k: v for k, v in r.inputs.items() if k not in ("__provider", "attributes") and v is not None}
    lines = [", ".join(f"{k}={v}" for k, v in shown.items())]
    if r.inputs.get("attributes"):
        lines.append("attributes: " + _pairs(r.inputs["attributes"]))
    return lines


def _generic(r: Registration) -> list[str]:
    return [f"{k}: {v}" for k, v in sorted(r.inputs.items()) if k not in ("kind", "apiVersion", "__provider")][:6]


DESCRIBE: dict[str, Callable[[Registration], list[str]]] = {
    "kubernetes:core/v1:Service": _service,
    "kubernetes:apps/v1:DaemonSet": _daemonset,
    "alicloud:ens/loadBalancer:LoadBalancer": _cloud("loadBalancerName", "ensRegionId", "loadBalancerSpec",
                                                     "networkId", "vswitchId"),
    "alicloud:ens/eip:Eip": _cloud("eipName", "bandwidth", "internetChargeType", "isp"),
    "alicloud:ens/eipInstanceAttachment:EipInstanceAttachment": _cloud("instanceType"),
    "alicloud:ens/loadBalancerUdpListener:LoadBalancerUdpListener": _cloud("listenerPort", "backendServerPort",
                                                                           "scheduler", "status"),
    "alicloud:ens/loadBalancerHttpListener:LoadBalancerHttpListener": _cloud("listenerPort", "backendServerPort",
                                                                             "scheduler", "healthCheckUri", "status"),
    "pulumi-python:dynamic/cluster:ExistingObjectPatch": _patch,
    "pulumi-python:dynamic/backends:BackendSync": _dynamic,
    "pulumi-python:dynamic/ens:Listener": _dynamic,
    "pulumi-python:dynamic/ens:EipAddress": _dynamic,
}


def _title(r: Registration) -> str:
    kind = r.type.rsplit(":", 1)[-1]
    name = r.inputs.get("metadata", {}).get("name") or r.name
    namespace = r.inputs.get("metadata", {}).get("namespace")
    if is_object_patch(r):
        kind, name, namespace = f"{r.inputs['kind']}Patch", r.inputs["name"], r.inputs.get("namespace")
    elif r.type.startswith("pulumi-python:dynamic"):
        kind = f"dynamic {kind}"
    if r.parent and name.startswith(f"{r.parent}/"):
        name = name[len(r.parent) + 1:]  # the tree already shows the parent
    return f"[bold]{kind}[/] {namespace + '/' if namespace else ''}{name}  [dim]({r.type})[/]"


def _add(node: Tree, r: Registration, run: Run) -> None:
    branch = node.add(_title(r))
    if r.custom:
        for line in DESCRIBE.get(r.type, _generic)(r):
            branch.add(f"[dim]{line}[/]")
    for child in sorted(run.children(r.name), key=lambda c: c.name):
        _add(branch, child, run)


def _region(pool: NodePool) -> str:
    if pool.ens is not None:
        return f"region {pool.ens.region_id} (node pool {pool.id}, ENS)"
    return f"node pool {pool.id} ({pool.type})"


def tree(run: Run, config: StackConfig) -> Tree:
    root = Tree(f"[bold]stack {run.stack}[/] ({'preview' if run.preview else 'apply'}, offline under mocks)")
    pools = {p.id: p for p in config.node_pools}
    for svc in config.services:
        component = run.named(service_key(svc))
        lb = svc.load_balancer
        node = root.add(f"[bold cyan]{svc.namespace}/{svc.name}[/]  {lb.type} · {lb.management} · "
                        f"{svc.external_traffic_policy}  [dim]({component.type})[/]")
        children = sorted(run.children(component.name), key=lambda r: r.name)
        regions: dict[str, Tree] = {}
        for child in children:
            pool = pools.get(child.name.rsplit("/", 1)[-1])
            if pool is None:
                _add(node, child, run)
                continue
            if pool.id not in regions:
                regions[pool.id] = node.add(f"[yellow]{_region(pool)}[/]")
            _add(regions[pool.id], child, run)
    outputs = root.add("[bold]outputs[/]")
    for key, value in run.outputs.items():
        outputs.add(f"{key}: {value}")
    return root


def print_plan(run: Run, config: StackConfig, console: Console | None = None) -> None:
    console = console or Console()
    console.print(tree(run, config))
    for warning in run.warnings:
        console.print("[yellow]warning[/] ", end="")
        console.print(warning, markup=False)
    console.print(f"{len(run.resources)} resources would be declared.")
