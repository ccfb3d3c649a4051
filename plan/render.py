"""A plan or a diff as text: the summary, address changes, controller effects, then the tree
stack -> service -> region -> resources, each resource with its op marker when it is a diff.

Stable when piped: nothing is wrapped or abbreviated (full annotation keys), values are JSON, and
every value is escaped from rich's markup.
"""

from __future__ import annotations

from typing import Optional

from rich.console import Console
from rich.markup import escape
from rich.tree import Tree

from contracts.registry import CONTRACTS
from plan.describe import Item, describe, flags, is_object_patch, value
from plan.diff import ABSENT, MARKS, Change, PlanDiff, Related, ResourceDiff, summary_text
from plan.document import NOTES
from plan.offline import UNKNOWN
from plan.report import Report
from stacks.model import NodePool, StackConfig
from stacks.naming import service_key

__all__ = ["is_object_patch", "print_report", "tree"]

EDGE_SERVICE = "ack-edge-lb:edge_service:EdgeService"
BY = {"provider": "{paths} {is} force-new for its provider ({where})",
      "replaceOnChanges": "{paths} {is} under its replaceOnChanges option",
      "dependency": "{paths} {comes} from {sources}, which is replaced, and {is} force-new for its provider"}


def _is(paths: tuple[str, ...] | list[str], one: str, many: str) -> str:
    return one if len(paths) == 1 else many


def _relation(x: Related) -> str:
    if x.relation == "input":
        return f"its {', '.join(x.paths)} {_is(x.paths, 'comes', 'come')} from it"
    return "waits for it" if x.relation == "dependsOn" else "its child"


def change_line(type_: str, c: Change) -> str:
    if c.kind == "add":
        line = f"+ {c.path}: {value(c.new)}"
    elif c.kind == "remove":
        line = f"- {c.path}: {value(c.old)}"
    else:
        line = f"~ {c.path}: {value(c.old)} -> {value(c.new)}"
    if c.via:
        line = f"~ {c.path}: " + (f"{value(c.old)} -> " if c.old not in (ABSENT, UNKNOWN) else "") + \
            f"{UNKNOWN}: comes from {', '.join(c.via)}, which is replaced"
    note = NOTES.get((type_, c.path, c.new)) if isinstance(c.new, (str, int, float, bool)) else None
    return f"{line}  ({note})" if note else line


def _reasons(d: ResourceDiff) -> list[str]:
    out = []
    for reason in d.reasons:
        if reason.by == "type":
            out.append(f"replaced: the type changes from {reason.sources[0]} to {d.type}")
        else:
            where = "contracts/" if d.type in CONTRACTS else "its dynamic provider's diff"
            out.append("replaced: " + BY[reason.by].format(
                paths=", ".join(reason.paths), sources=", ".join(reason.sources), where=where,
                **{"is": _is(reason.paths, "is", "are"), "comes": _is(reason.paths, "comes", "come")}))
    return out


def _related(d: ResourceDiff) -> list[Item]:
    shown = [x for x in d.related if x.relation != "child"]  # the tree shows children under it
    if not shown:
        return []
    return [("changes with it", [(f"{MARKS[x.op]} " if x.op != "same" else "") + f"{x.name}: {_relation(x)}"
                                 + ("" if x.op != "same" else " (unchanged)") for x in shown])]


def _lines(d: ResourceDiff, as_diff: bool) -> list[Item]:
    if not as_diff or d.op == "create":
        return describe(d.current)
    if d.op == "delete":
        return _related(d) if d.current.custom else []
    assert d.new is not None
    # A dependent replaced for its inputs from a replaced resource: the reason says it.
    dependency = {p for r in d.reasons if r.by == "dependency" for p in r.paths}
    changes: list[Item] = [change_line(d.type, c) for c in d.changes if not (c.via and c.path in dependency)]
    return [*_reasons(d), *changes, *flags(d.new), *_related(d)] if d.op == "replace" else changes


def _title(d: ResourceDiff, as_diff: bool) -> str:
    r = d.current
    kind = r.type.rsplit(":", 1)[-1]
    meta = r.inputs.get("metadata") or {}
    name, namespace = meta.get("name") or r.name, meta.get("namespace")
    if is_object_patch(r):
        kind, name, namespace = f"{r.inputs.get('kind')}Patch", r.inputs.get("name") or r.name, r.inputs.get("namespace")
    elif r.type.startswith("pulumi-python:dynamic"):
        kind = f"dynamic {kind}"
    if r.parent and str(name).startswith(f"{r.parent}/"):
        name = str(name)[len(r.parent) + 1:]  # the tree already shows the parent
    mark = f"{MARKS[d.op]} " if as_diff and d.op != "same" else ""
    return f"{escape(mark)}[bold]{escape(kind)}[/] {escape((namespace + '/') if namespace else '')}{escape(str(name))}" \
           f"  [dim]({escape(r.type)})[/]"


class _Builder:
    def __init__(self, report: Report, config: StackConfig):
        self.as_diff = report.kind == "diff"
        self.diff: PlanDiff = report.diff
        self.children: dict[Optional[str], list[ResourceDiff]] = {}
        for d in sorted(self.diff.resources.values(), key=lambda d: d.name):
            self.children.setdefault(d.parent, []).append(d)
        self._shown: dict[str, bool] = {}
        self.pools = {p.id: p for p in config.node_pools}

    def shown(self, d: ResourceDiff) -> bool:
        """In a diff, only what changes and the resources above it."""
        if d.name not in self._shown:
            self._shown[d.name] = not self.as_diff or d.op != "same" or any(
                self.shown(c) for c in self.children.get(d.name, []))
        return self._shown[d.name]

    def add(self, node: Tree, d: ResourceDiff) -> None:
        branch = node.add(_title(d, self.as_diff))
        for item in _lines(d, self.as_diff):
            if isinstance(item, tuple):
                sub = branch.add(f"[dim]{escape(item[0])}[/]")
                for line in item[1]:
                    sub.add(f"[dim]{escape(line)}[/]")
            else:
                branch.add(f"[dim]{escape(item)}[/]")
        for child in self.children.get(d.name, []):
            if self.shown(child):
                self.add(branch, child)

    def service(self, root: Tree, d: ResourceDiff, label: str) -> None:
        mark = f"{MARKS[d.op]} " if self.as_diff and d.op != "same" else ""
        node = root.add(f"{escape(mark)}[bold cyan]{escape(d.name)}[/]  {escape(label)}  [dim]({escape(d.type)})[/]")
        regions: dict[str, Tree] = {}
        for child in self.children.get(d.name, []):
            if not self.shown(child):
                continue
            pool_id = child.name.rsplit("/", 1)[-1]
            pool = self.pools.get(pool_id)
            if pool is None and not self._gone_pool(d.name, pool_id):
                self.add(node, child)
                continue
            if pool_id not in regions:
                regions[pool_id] = node.add(f"[yellow]{escape(_region(pool) if pool else f'node pool {pool_id} (no longer in the stack)')}[/]")
            self.add(regions[pool_id], child)

    def _gone_pool(self, service: str, pool_id: str) -> bool:
        # A pool the stack no longer has still names the resources of a deleted region.
        return any(c.name == f"{service}/nodepool/{pool_id}" or c.name == f"{service}/elb/{pool_id}"
                   or c.name == f"{service}/poolservice/{pool_id}" for c in self.children.get(service, []))


def _region(pool: NodePool) -> str:
    if pool.ens is not None:
        return f"region {pool.ens.region_id} (node pool {pool.id}, ENS)"
    return f"node pool {pool.id} ({pool.type})"


def tree(report: Report, config: StackConfig) -> Tree:
    b = _Builder(report, config)
    mode = "preview" if report.run.preview else "apply"
    head = f"stack {report.stack} ({mode}, offline under mocks)" if not b.as_diff else \
        f"stack {report.stack}: changes against {report.ref}"
    root = Tree(f"[bold]{escape(head)}[/]")
    labels = {service_key(s): f"{s.load_balancer.type} · {s.load_balancer.management} · {s.external_traffic_policy}"
              for s in config.services}
    services = [key for key in labels if key in b.diff.resources]
    services += sorted(d.name for d in b.diff.resources.values() if d.type == EDGE_SERVICE and d.name not in labels)
    for key in services:
        if b.shown(b.diff.resources[key]):
            b.service(root, b.diff.resources[key], labels.get(key, "(no longer in the stack)"))
    for d in b.children.get(None, []):  # providers and anything else at the top
        if d.type != EDGE_SERVICE and b.shown(d):
            b.add(root, d)
    if not b.as_diff:
        outputs = root.add("[bold]outputs[/]")
        for key, v in sorted(report.run.outputs.items()):
            outputs.add(escape(f"{key}: {value(v)}"))
    elif b.diff.outputs:
        outputs = root.add("[bold]outputs[/]")
        for c in b.diff.outputs:
            outputs.add(escape(change_line("", c)))
    return root


def _type_line(type_: str, counts: dict[str, int]) -> str:
    return f"  {type_}: {summary_text(counts)}"


def header(report: Report) -> list[str]:
    """The summary, by type, then address changes and controller effects: what a reviewer reads first."""
    counts = report.diff.counts()
    if report.kind == "diff":
        lines = [f"Stack is new (no stack file at {report.ref}): every resource is created." if report.new_stack
                 else f"Against {report.ref}: stack {report.stack}"]
    else:
        lines = [f"Plan of stack {report.stack}: what `pulumi preview` would declare."]
    lines += [f"Resources: {summary_text(counts)}"]
    by_type = {t: c for t, c in report.diff.counts_by_type().items() if report.kind == "plan" or c["same"] != sum(c.values())}
    lines += [_type_line(t, c) for t, c in by_type.items()]
    if report.kind == "diff" and report.diff.empty:
        lines.append("No changes.")
    if report.addresses:
        lines += ["", "Address changes (what users connect to):"]
        lines += [f"- {a.message}" for a in report.addresses]
    if report.effects:
        lines += ["", "Controller effects (what ECM or CCM does in the cloud; ACK Edge update policy, FACTS.md §1):"]
        lines += [f"- {e.message}" for e in report.effects]
    return lines


def print_report(report: Report, config: StackConfig, console: Optional[Console] = None) -> None:
    console = console or Console()
    for line in header(report):
        console.print(line, markup=False)
    console.print()
    console.print(tree(report, config))
    for warning in report.run.warnings:
        console.print("warning ", end="", markup=False)
        console.print(warning, markup=False)
    if report.kind == "plan":
        console.print(f"{len(report.run.resources)} resources would be declared.", markup=False)

