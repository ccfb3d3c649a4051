"""A strict reader of the Mermaid flowcharts `plan/topology.py` writes, for the tests.

Every line must be one of the few forms the topology writes (node shapes, `subgraph id["title"]` ... `end`,
`-->`, `-.->`, `~~~`, `classDef`, `class`, `linkStyle`; each accepted by Mermaid 11's own flowchart parser),
and the structure must hold: subgraphs closed and not nested, ids unique, every edge, class and link style
about something declared. Anything else fails with the line that broke it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Optional

ID = r"[A-Za-z][A-Za-z0-9_]*"
NODE = re.compile(rf'^(?P<id>{ID})(?P<open>\(\(|\(\[|\[\[|\[|\()"(?P<label>[^"]*)"(?P<close>\)\)|\]\)|\]\]|\]|\))$')
PAIRS = {"((": "))", "([": "])", "[[": "]]", "[": "]", "(": ")"}
EDGE = re.compile(rf"^(?P<a>{ID}) (?P<arrow>-->|-\.->|~~~) (?P<b>{ID})$")
SUBGRAPH = re.compile(rf'^subgraph (?P<id>{ID})\["(?P<title>[^"]*)"\]$')
CLASS_DEF = re.compile(rf"^classDef (?P<name>{ID}) (?P<style>\S+( \S+)*)$")
CLASS = re.compile(rf"^class (?P<ids>{ID}(,{ID})*) (?P<name>{ID})$")
LINK_STYLE = re.compile(r"^linkStyle (?P<indexes>\d+(,\d+)*) (?P<style>\S+( \S+)*)$")


@dataclass
class Chart:
    nodes: dict[str, str] = field(default_factory=dict)                # id -> label
    parent: dict[str, Optional[str]] = field(default_factory=dict)     # node id -> subgraph id
    subgraphs: dict[str, str] = field(default_factory=dict)            # id -> title
    edges: list[tuple[str, str, str]] = field(default_factory=list)    # (from, arrow, to), in order
    classes: dict[str, str] = field(default_factory=dict)              # node id -> class
    class_defs: dict[str, str] = field(default_factory=dict)
    link_styles: dict[int, str] = field(default_factory=dict)          # edge index -> style

    def links(self) -> list[tuple[str, str]]:
        """The edges that are drawn (invisible `~~~` links only place things)."""
        return [(a, b) for a, arrow, b in self.edges if arrow != "~~~"]

    def in_region(self, title: str) -> list[str]:
        (sub,) = [s for s, t in self.subgraphs.items() if t == title]
        return [n for n, p in self.parent.items() if p == sub]


def parse(text: str) -> Chart:
    lines = text.splitlines()
    assert lines and lines[0] == "flowchart LR", lines[:1]
    chart, open_subgraph = Chart(), None
    for number, line in enumerate(lines[1:], start=2):
        s, where = line.strip(), f"line {number}: {line!r}"
        if m := SUBGRAPH.match(s):
            assert open_subgraph is None, f"nested subgraph, {where}"
            assert m["id"] not in chart.subgraphs and m["id"] not in chart.nodes, f"id used twice, {where}"
            chart.subgraphs[m["id"]] = m["title"]
            open_subgraph = m["id"]
        elif s == "end":
            assert open_subgraph is not None, f"`end` without a subgraph, {where}"
            open_subgraph = None
        elif s.startswith("direction "):
            assert open_subgraph is not None and s in ("direction LR", "direction TB"), where
        elif m := NODE.match(s):
            assert PAIRS[m["open"]] == m["close"], f"shape not closed, {where}"
            assert m["id"] not in chart.nodes and m["id"] not in chart.subgraphs, f"id used twice, {where}"
            chart.nodes[m["id"]] = m["label"]
            chart.parent[m["id"]] = open_subgraph
        elif m := EDGE.match(s):
            assert open_subgraph is None, f"edge inside a subgraph, {where}"
            chart.edges.append((m["a"], m["arrow"], m["b"]))
        elif m := CLASS_DEF.match(s):
            chart.class_defs[m["name"]] = m["style"]
        elif m := CLASS.match(s):
            for ident in m["ids"].split(","):
                assert ident not in chart.classes, f"{ident} in two classes, {where}"
                chart.classes[ident] = m["name"]
        elif m := LINK_STYLE.match(s):
            for index in m["indexes"].split(","):
                assert int(index) not in chart.link_styles, f"link {index} styled twice, {where}"
                chart.link_styles[int(index)] = m["style"]
        else:
            raise AssertionError(f"not a line of the topology's Mermaid, {where}")
    assert open_subgraph is None, f"subgraph {open_subgraph} is not closed"
    for a, arrow, b in chart.edges:
        known = chart.nodes.keys() | (chart.subgraphs.keys() if arrow == "~~~" else set())
        assert a in known and b in known, f"edge {a} {arrow} {b} joins an undeclared node"
    for ident, name in chart.classes.items():
        assert ident in chart.nodes, f"class {name} of undeclared {ident}"
        assert name in chart.class_defs, f"class {name} is not defined"
    assert all(index < len(chart.edges) for index in chart.link_styles), "linkStyle of a link that is not there"
    return chart
