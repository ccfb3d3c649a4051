"""The stack's topology as a Mermaid flowchart: the path of traffic, grouped by region, and its diff form.

    clients -> public address (EIP, NLB/CLB address) -> load balancer -> listener per port -> backends

One subgraph per region (the ENS region of an ELB, the cloud region of an NLB or CLB), each region once
however many Services use it. The model is `plan/traffic.py`; this module draws it. Node ids are hashes
of the nodes' keys (the resources' names) and everything is sorted, so one plan always prints the same
text. The diff form draws the union of the plan at a base and the plan now, coloured by what happens to
each node. GitHub renders both in comments and Markdown files.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any, Iterable, Optional, Protocol

from plan.offline import Run
from plan.traffic import ADDRESS, BACKENDS, CLIENT, LISTENER, LOAD_BALANCER, Node, Topology, build
from stacks.model import StackConfig
from stacks.naming import cloud_region

SHAPES = {ADDRESS: ('(["', '"])'), LOAD_BALANCER: ('["', '"]'), LISTENER: ('("', '")'), BACKENDS: ('[["', '"]]')}
REGION_KIND = {"ens": "ENS", "cloud": "cloud"}
# GitHub's own diff colours; removed is dashed too, for readers who do not see the colours.
STYLES = {
    "added": "fill:#dafbe1,stroke:#1a7f37,color:#0a3622",
    "replaced": "fill:#fff1e5,stroke:#bc4c00,color:#3b1600",
    "updated": "fill:#ddf4ff,stroke:#0969da,color:#0a3069",
    "removed": "fill:#ffebe9,stroke:#cf222e,color:#4c0a0a,stroke-dasharray:5 5",
}
EDGE_STYLES = {"added": "stroke:#1a7f37,stroke-width:2px", "removed": "stroke:#cf222e,stroke-dasharray:5 5"}
LEGEND = {"added": "added", "replaced": "replaced", "updated": "updated in place", "removed": "removed",
          "unchanged": "unchanged"}
UNCHANGED = "unchanged"


class ChangeSet(Protocol):
    """What the diff form reads of a plan diff (`plan.diff.PlanDiff`): resource name -> changed properties.
    What is added or removed it sees itself, from the nodes each plan has."""

    updated: dict[str, list[str]]
    replaced: dict[str, list[str]]


def _sortable(rank: tuple[Any, ...]) -> tuple[Any, ...]:
    return tuple((0, item, "") if isinstance(item, int) else (1, 0, str(item)) for item in rank)


def _order(node: Node) -> tuple[Any, ...]:
    return (_sortable(node.rank), node.key)


def _ident(prefix: str, text: str) -> str:
    return prefix + re.sub(r"[^A-Za-z0-9]+", "_", text).strip("_")


def node_id(key: str, length: int = 10) -> str:
    """A node's Mermaid id: short, since Mermaid refuses a diagram over 50,000 characters (its `maxTextSize`)
    and an id is written three or four times, and stable: it depends on the node's key alone."""
    return "n" + hashlib.sha256(key.encode()).hexdigest()[:length]


def _ids(keys: Iterable[str]) -> dict[str, str]:
    """Each node's id; where two keys' ids collide, the later key (in sorted order) takes a longer one."""
    ids: dict[str, str] = {CLIENT: "client"}
    taken = {"client"}
    for key in sorted(set(keys) - {CLIENT}):
        length = 10
        while node_id(key, length) in taken:
            length += 4
        ids[key] = node_id(key, length)
        taken.add(ids[key])
    return ids


def _text(label: str) -> str:
    return label.replace('"', "'")


def _draw(nodes: dict[str, Node], edges: dict[tuple[str, str], str], states: Optional[dict[str, str]] = None,
          notes: Optional[dict[str, str]] = None) -> str:
    """The flowchart: regions with their nodes, then the edges in traffic order; with `states`, the diff's colours."""
    ids, notes = _ids(nodes), notes or {}
    lines = ["flowchart LR", '  client(("clients"))']
    for region in sorted({n.region for n in nodes.values()}, key=lambda r: (r[1], r[0])):
        lines.append(f'  subgraph {_ident("r_", "_".join(region))}["{_text(region[1])} · {REGION_KIND[region[0]]}"]')
        lines.append("    direction LR")
        for node in sorted((n for n in nodes.values() if n.region == region), key=_order):
            left, right = SHAPES[node.step]
            label = "<br/>".join(part for part in (node.label, notes.get(node.key, "")) if part)
            lines.append(f"    {ids[node.key]}{left}{_text(label)}{right}")
        lines.append("  end")
    rank = {key: _order(node) for key, node in nodes.items()} | {CLIENT: ((), "")}
    styled: dict[str, list[str]] = {}
    for index, ((a, b), state) in enumerate(sorted(edges.items(), key=lambda e: (rank[e[0][0]], rank[e[0][1]]))):
        lines.append(f"  {ids[a]} {'-.->' if state == 'removed' else '-->'} {ids[b]}")
        if state in EDGE_STYLES:
            styled.setdefault(state, []).append(str(index))
    if states is None:
        return "\n".join(lines)
    for state, indexes in sorted(styled.items()):
        lines.append(f"  linkStyle {','.join(indexes)} {EDGE_STYLES[state]}")
    lines.append('  subgraph legend["legend"]')
    lines.append("    direction LR")
    lines += [f'    legend_{state}["{text}"]' for state, text in LEGEND.items()]
    lines.append("  end")
    # An invisible link puts the legend left of the clients, out of the edges' way (after the real edges:
    # linkStyle counts links in order).
    lines.append("  legend ~~~ client")
    for state, style in STYLES.items():
        lines.append(f"  classDef {state} {style}")
    for state in STYLES:
        members = sorted(ids[key] for key, s in states.items() if s == state)
        lines.append(f"  class {','.join([*members, f'legend_{state}'])} {state}")
    return "\n".join(lines)


def mermaid(run: Run, config: Optional[StackConfig] = None) -> str:
    """The topology of one plan. `config` names the pools behind load balancers CCM builds (nothing else says)."""
    topology = build(run, config)
    return _draw(topology.nodes, dict.fromkeys(topology.edges, UNCHANGED))


def _leaf(name: str) -> str:
    return name.rsplit("/", 1)[-1]


def _state(before: Optional[Node], after: Optional[Node], diff: ChangeSet) -> tuple[str, str]:
    """What happens to one node, and a note with the properties that make it so."""
    if before is None:
        return "added", ""
    if after is None:
        return "removed", ""
    backing = sorted(set(before.backing) | set(after.backing))
    forcing = sorted({key for name in backing for key in diff.replaced.get(name, [])})
    forcing += sorted({f"Service {key}" for name in after.rebuilt_with if _leaf(name) == "service"
                       for key in diff.replaced.get(name, [])})
    forcing += sorted({f"{_leaf(name)} replaced" for name in after.rebuilt_with
                       if _leaf(name) != "service" and name in diff.replaced})
    if forcing:
        return "replaced", _note("±", forcing)
    changed = sorted({key for name in backing for key in diff.updated.get(name, [])})
    was = dict(before.sig)
    changed += [key for key, value in after.sig if was.get(key) != value]
    changed += [f"+{_leaf(name)}" for name in sorted(set(after.backing) - set(before.backing))]
    changed += [f"-{_leaf(name)}" for name in sorted(set(before.backing) - set(after.backing))]
    return ("updated", _note("~", changed)) if changed else (UNCHANGED, "")


def _note(mark: str, keys: list[str], shown: int = 3) -> str:
    more = f" and {len(keys) - shown} more" if len(keys) > shown else ""
    return f"{mark} {', '.join(keys[:shown])}{more}"


def mermaid_diff(before: Optional[Run], after: Run, diff: Optional[ChangeSet] = None,
                 config: Optional[StackConfig] = None) -> str:
    """The topology of `after` and what `before` had that it lost, coloured by the diff between them.

    `before`: the plan at the base (None: the stack is new there, and everything is added); `diff`: the
    plan diff (`plan.diff.diff_runs(before, after)` when not given); `config`: the configuration of
    `after`, as for `mermaid`. The base's configuration is not needed: its plan says the rest."""
    if diff is None:
        from plan.diff import diff_runs

        diff = diff_runs(before or Run(after.stack, True), after)
    now = build(after, config)
    # Only the cluster's region is taken from today's configuration for the base; it does not move.
    then = build(before, None, cloud_region(config.node_pools) if config else None) if before else Topology()
    nodes = {**then.nodes, **now.nodes}
    states, notes = {}, {}
    for key in nodes:
        states[key], note = _state(then.nodes.get(key), now.nodes.get(key), diff)
        if note:
            notes[key] = note
    edges = {edge: "removed" for edge in then.edges - now.edges}
    edges |= {edge: UNCHANGED if edge in then.edges else "added" for edge in now.edges}
    return _draw(nodes, edges, states, notes)


def fenced(text: str) -> str:
    return f"```mermaid\n{text}\n```"
