"""The JSON of a plan or a diff, schema `ack-edge-lb/plan/v1` (docs/plan.schema.json), and reading it back.

Deterministic: keys sorted, resources by name, every list in a fixed order, so two runs of one stack
print the same bytes. `run_from_document` reads this format and the one before it
(`{stack, resources: [{type, name, parent, inputs, options}], outputs, warnings}`), which the program
at an older ref prints.
"""

from __future__ import annotations

import json
from typing import Any

from plan import SCHEMA
from plan.diff import ABSENT, Change, ResourceDiff, summary_text
from plan.effects import AddressChange, Effect
from plan.offline import Registration, Run
from plan.report import Report

SCHEMA_PREFIX = "ack-edge-lb/plan/"

# Values whose meaning is not in the value: said beside it, in the text and the JSON.
NOTES: dict[tuple[str, str, Any], str] = {
    ("alicloud:slb/listener:Listener", "bandwidth", -1): "bandwidth -1: no bandwidth cap, pay-by-LCU",
}


def notes(r: Registration) -> list[str]:
    return [text for (type_, key, value), text in NOTES.items()
            if r.type == type_ and key in r.inputs and r.inputs[key] == value]


def change_json(c: Change) -> dict[str, Any]:
    out: dict[str, Any] = {"path": c.path, "segments": list(c.segments), "kind": c.kind}
    if c.old is not ABSENT:
        out["old"] = c.old
    if c.new is not ABSENT:
        out["new"] = c.new
    if c.via:
        out["via"] = list(c.via)
    return out


def _resource(d: ResourceDiff) -> dict[str, Any]:
    r = d.current
    out = {"name": d.name, "type": r.type, "parent": r.parent, "custom": r.custom, "op": d.op,
           "inputs": r.inputs, "options": r.options, "dependencies": list(r.dependencies),
           "propertyDependencies": {k: list(v) for k, v in r.property_dependencies.items()},
           "changes": [change_json(c) for c in d.changes],
           "replaceReasons": [{"by": x.by, "paths": list(x.paths), "sources": list(x.sources)} for x in d.reasons],
           "related": [{"name": x.name, "relation": x.relation, "op": x.op, "paths": list(x.paths)}
                       for x in d.related],
           "notes": notes(r)}
    if d.old is not None and d.new is not None and d.old.type != d.new.type:
        out["oldType"] = d.old.type
    return out


def _effect(e: Effect) -> dict[str, Any]:
    return {"controller": e.controller, "service": e.service, "action": e.action, "message": e.message,
            "pools": list(e.pools), "source": e.source}


def _address(a: AddressChange) -> dict[str, Any]:
    return {"kind": a.kind, "message": a.message, "addresses": a.addresses, "managedBy": a.managed_by,
            "resource": a.resource, "service": a.service, "pool": a.pool, "region": a.region}


def document(report: Report) -> dict[str, Any]:
    counts = report.diff.counts()
    return {
        "schema": SCHEMA,
        "kind": report.kind,
        "stack": report.stack,
        "against": None if report.ref is None else {"ref": report.ref, "stackExisted": not report.new_stack},
        "summary": {**counts, "text": f"Resources: {summary_text(counts)}", "byType": report.diff.counts_by_type()},
        "resources": [_resource(d) for d in sorted(report.diff.resources.values(), key=lambda d: d.name)],
        "addressChanges": [_address(a) for a in report.addresses],
        "controllerEffects": [_effect(e) for e in report.effects],
        "outputs": report.run.outputs,
        "outputChanges": [change_json(c) for c in report.diff.outputs],
        "warnings": list(report.run.warnings),
    }


def dumps(report: Report) -> str:
    return json.dumps(document(report), indent=2, sort_keys=True)


def run_from_document(document: dict[str, Any]) -> Run:
    """The run a plan document describes (a diff's deleted resources are not in it); either format."""
    current = str(document.get("schema", "")).startswith(SCHEMA_PREFIX)
    run = Run(stack=document["stack"], preview=True, outputs=document.get("outputs") or {},
              warnings=list(document.get("warnings") or []))
    for r in document["resources"]:
        if current and r.get("op") == "delete":
            continue
        run.resources.append(Registration(
            type=r["type"], name=r["name"], parent=r.get("parent"), inputs=r.get("inputs") or {},
            custom=r["custom"] if "custom" in r else not r["type"].startswith("ack-edge-lb:"),
            options=r.get("options") or {}, dependencies=tuple(r.get("dependencies") or ()),
            property_dependencies={k: tuple(v) for k, v in (r.get("propertyDependencies") or {}).items()}))
    return run

