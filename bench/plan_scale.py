"""How planning under Pulumi mocks scales with the number of ENS node pools, against a bare baseline.

    venv/bin/python bench/plan_scale.py [--sizes 1,10,100,300] [--repeat 1]

For each size N the stack has N ENS node pools (each with its own region, network and vSwitch,
labelled `k8s-svc=cube`) and two ECM-managed ELB services with two ports each, so the program
declares 2 EdgeService components, 2 Services and 2*N NodePool patches. It is planned with
`stacks.offline.run_program(..., preview=True)`, exactly as `python -m stacks plan` does.

The baseline ("bare registrations") declares exactly the resources the program declares, with
the same classes (`pulumi_kubernetes` Service and CustomResourcePatch under two components) and
inputs of the same shape, in a flat loop: no configuration loading, rules, naming or components
logic. The ratio ours/baseline per registration is our program's overhead (target <= 1.3). A
second row, the floor, registers as many plain `pulumi.CustomResource`s: what the SDK costs with
no provider SDK at all, shown for diagnosis.

All three run through `stacks.offline.run_program` (the same mocks, recording monitor and event
loop as `python -m stacks plan`), ours with the project's `__main__.py`, the others with their own
program function.

Isolation: every measurement (kind, size, repeat) runs in its own fresh Python subprocess. Inside
it, one small warm-up run (N=1, same kind) pays the one-time costs (lazy imports, pydantic and
SDK caches) first; then the timed run, without tracemalloc. Peak memory is measured in a second,
identical run under tracemalloc (tracemalloc slows allocation-heavy code down severalfold, so it
is kept out of the timed run), in the first repeat only (it hardly varies). The best (lowest) time
of `--repeat` subprocesses is reported.

Figures are printed, never asserted: a MISS is reported, the exit status stays 0.
"""

from __future__ import annotations

import argparse
import gc
import json
import subprocess
import sys
import time
import tracemalloc
from functools import partial
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

RATIO_TARGET = 1.3  # our ms per registration / baseline ms per registration
GROWTH_TARGET = 3.3  # time(300) / time(100): 3.0 would be exactly linear
DEFAULT_SIZES = (1, 10, 100, 300)

CLUSTER = {"id": "c0123456789abcdef", "vpcId": "vpc-bp1test", "network": "terway-edge",
           "expressConnect": True, "ecmVersion": "2.1.0"}
PORTS = [{"name": "http", "port": 80, "targetPort": 80, "protocol": "TCP"},
         {"name": "https", "port": 443, "targetPort": 8443, "protocol": "TCP"}]


# --- the stacks ----------------------------------------------------------------------------------


def ens_pool(i: int) -> dict[str, Any]:
    pool_id = f"np-ens-{i:04d}"
    compact = pool_id.replace("-", "")
    return {"id": pool_id, "type": "ens", "labels": {"k8s-svc": "cube"},
            "ens": {"regionId": f"cn-region-{i:04d}", "networkId": f"n-{compact}",
                    "vswitchIds": [f"vsw-{compact}"]}}


def elb_service(name: str) -> dict[str, Any]:
    return {"name": name, "namespace": "default", "selector": {"app": name},
            "ports": [dict(p) for p in PORTS], "externalTrafficPolicy": "Local",
            "nodePoolSelector": {"k8s-svc": "cube"},
            "loadBalancer": {"type": "elb", "management": "ecm"}}


def stack_config(pools: int) -> dict[str, Any]:
    """The raw `ack-edge-lb:` settings of a stack with `pools` ENS pools and two ELB services."""
    return {"cluster": dict(CLUSTER),
            "nodePools": [ens_pool(i) for i in range(pools)],
            "services": [elb_service("cube-web"), elb_service("cube-api")]}


def expected_registrations(pools: int) -> int:
    # per service: the EdgeService component, its Service, one NodePool patch per matched pool.
    # The baselines register as many as the program actually did; this is only a cross-check.
    return 2 * (2 + pools)


# --- the programs: ours and the two baselines ----------------------------------------------------


def _patch_metadata(i: int) -> dict[str, Any]:
    """The metadata of one NodePool patch, as the program writes it."""
    compact = f"npens{i:04d}"
    return {
        "name": f"np-ens-{i:04d}",
        "labels": {"k8s-svc": "cube"},
        "annotations": {
            "alibabacloud.com/ens-network-id": f"n-{compact}",
            "alibabacloud.com/ens-region-id": f"cn-region-{i:04d}",
            "alibabacloud.com/ens-vswitch-id": f"vsw-{compact}",
        },
    }


def bare_kubernetes(pools: int) -> None:
    """The same registrations as the program, declared flat: no configuration, rules or components logic."""
    import pulumi
    import pulumi_kubernetes as k8s

    for name in ("default/cube-web", "default/cube-api"):
        parent = pulumi.ComponentResource("ack-edge-lb:edge_service:EdgeService", name, None)
        child = pulumi.ResourceOptions(parent=parent)
        k8s.core.v1.Service(f"{name}/service", metadata={"name": name.split("/")[1], "namespace": "default"},
                            spec={"type": "LoadBalancer", "ports": [dict(p) for p in PORTS]}, opts=child)
        for i in range(pools):
            k8s.apiextensions.CustomResourcePatch(f"{name}/nodepool/np-ens-{i:04d}", api_version="apps.openyurt.io/v1beta2",
                                                  kind="NodePool", metadata=_patch_metadata(i), opts=child)


def bare_custom(registrations: int) -> None:
    """The floor: as many plain `CustomResource` registrations, inputs the size of a NodePool patch."""
    import pulumi

    parents = [pulumi.ComponentResource("test:index:Bare", f"c{j}", None) for j in range(min(2, registrations))]
    for i in range(registrations - len(parents)):
        pulumi.CustomResource("test:index:Bare", f"r{i}", {"apiVersion": "apps.openyurt.io/v1beta2", "kind": "NodePool",
                                                           "metadata": _patch_metadata(i)},
                              opts=pulumi.ResourceOptions(parent=parents[i % len(parents)]))


def plan(kind: str, pools: int, registrations: int):
    """One offline run under the same mocks setup as `python -m stacks plan` (stacks.offline.run_program)."""
    from stacks.offline import run_program

    if kind == "ours":
        return run_program(stack_config(pools), "bench", preview=True)
    program = partial(bare_kubernetes, pools) if kind == "baseline" else partial(bare_custom, registrations)
    return run_program({}, "bench", preview=True, program=program)


# --- one measurement, in a fresh subprocess ------------------------------------------------------


KINDS = ("ours", "baseline", "floor")
LABELS = {"ours": "ack-edge-lb", "baseline": "baseline", "floor": "floor"}


def measure(kind: str, pools: int, registrations: int, memory: bool = True) -> dict[str, Any]:
    """One measurement; `registrations` sets the baselines' size (ours is set by `pools`)."""
    go = partial(plan, kind, pools, registrations)
    warm = partial(plan, kind, 1, expected_registrations(1))

    warm()
    gc.collect()

    start = time.perf_counter()
    run = go()
    seconds = time.perf_counter() - start
    count = len(run.resources)
    del run
    gc.collect()
    result = {"kind": kind, "pools": pools, "registrations": count, "seconds": seconds,
              "peak_mib": None}
    if not memory:
        return result

    tracemalloc.start()
    tracemalloc.reset_peak()
    run = go()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    if len(run.resources) != count:
        raise RuntimeError(f"{kind} N={pools}: {count} then {len(run.resources)} registrations")
    result["peak_mib"] = peak / 2**20
    return result


def measure_in_subprocess(kind: str, pools: int, registrations: int, memory: bool) -> dict[str, Any]:
    command = [sys.executable, str(Path(__file__).resolve()), "--worker", kind,
               "--pools", str(pools), "--registrations", str(registrations)]
    if not memory:
        command.append("--no-memory")
    proc = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"measurement {kind} N={pools} failed:\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def best_of(kind: str, pools: int, registrations: int, repeat: int) -> dict[str, Any]:
    results = [measure_in_subprocess(kind, pools, registrations, memory=(i == 0))
               for i in range(repeat)]
    best = dict(min(results, key=lambda r: r["seconds"]))
    best["peak_mib"] = results[0]["peak_mib"]
    return best


# --- report --------------------------------------------------------------------------------------


def verdict(ok: bool) -> str:
    return "[green]PASS[/green]" if ok else "[red]MISS[/red]"


def ms_per_registration(result: dict[str, Any]) -> float:
    return 1000 * result["seconds"] / max(result["registrations"], 1)


def report(rows: list[dict[str, dict[str, Any]]], repeat: int) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    table = Table(title=f"Offline plan under Pulumi mocks (preview), best of {repeat}",
                  caption=f"ratio: ack-edge-lb ms/reg ÷ baseline ms/reg (target ≤ {RATIO_TARGET}); "
                          "in parentheses: ÷ floor (plain CustomResource), for diagnosis only")
    for col, justify in (("pools", "right"), ("program", "left"), ("regs", "right"),
                         ("seconds", "right"), ("ms/reg", "right"), ("peak MiB", "right"),
                         ("ratio", "right"), ("target", "left")):
        table.add_column(col, justify=justify, no_wrap=True)
    for row in rows:
        ours_ms = ms_per_registration(row["ours"])
        for kind in KINDS:
            result = row[kind]
            ms = ms_per_registration(result)
            ratio, target = "", ""
            if kind == "ours":
                base_ms = ms_per_registration(row["baseline"])
                ratio = f"{ours_ms / base_ms:.2f}"
                target = verdict(ours_ms / base_ms <= RATIO_TARGET)
            elif kind == "floor":
                ratio = f"[dim]({ours_ms / ms:.2f})[/dim]"
            peak = "" if result["peak_mib"] is None else f"{result['peak_mib']:.1f}"
            label = LABELS[kind] if kind == "ours" else f"[dim]{LABELS[kind]}[/dim]"
            table.add_row(str(result["pools"]) if kind == "ours" else "", label,
                          str(result["registrations"]), f"{result['seconds']:.3f}", f"{ms:.3f}",
                          peak, ratio, target, end_section=(kind == KINDS[-1]))
    console.print(table)

    by_size = {row["ours"]["pools"]: row for row in rows}
    if 100 not in by_size or 300 not in by_size:
        console.print("[yellow]growth time(300)/time(100): needs sizes 100 and 300 (see --sizes)[/yellow]")
        return
    growth = Table(title="Growth time(300) / time(100)",
                   caption=f"target ≤ {GROWTH_TARGET} for ack-edge-lb; 3.0 is linear")
    for col, justify in (("program", "left"), ("time(100) s", "right"), ("time(300) s", "right"),
                         ("growth", "right"), ("target", "left")):
        growth.add_column(col, justify=justify, no_wrap=True)
    for kind in KINDS:
        t100, t300 = by_size[100][kind]["seconds"], by_size[300][kind]["seconds"]
        ratio = t300 / t100
        growth.add_row(LABELS[kind] if kind == "ours" else f"[dim]{LABELS[kind]}[/dim]",
                       f"{t100:.3f}", f"{t300:.3f}", f"{ratio:.2f}",
                       verdict(ratio <= GROWTH_TARGET) if kind == "ours" else "")
    console.print(growth)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--sizes", default=",".join(map(str, DEFAULT_SIZES)),
                        help="comma-separated numbers of ENS node pools (default: %(default)s)")
    parser.add_argument("--repeat", type=int, default=1,
                        help="fresh-process runs per measurement; the best is kept (default: %(default)s)")
    parser.add_argument("--worker", choices=KINDS, help=argparse.SUPPRESS)
    parser.add_argument("--pools", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--registrations", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--no-memory", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.worker:  # inside the measurement subprocess: one JSON line on stdout
        print(json.dumps(measure(args.worker, args.pools, args.registrations,
                                 memory=not args.no_memory)))
        return 0

    try:
        sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    except ValueError:
        parser.error(f"--sizes takes comma-separated integers, got {args.sizes!r}")
    if not sizes or min(sizes) < 1:
        parser.error("--sizes: every size must be at least 1")
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")

    rows = []
    for pools in sizes:
        ours = best_of("ours", pools, expected_registrations(pools), args.repeat)
        if ours["registrations"] != expected_registrations(pools):
            print(f"note: N={pools}: the program registered {ours['registrations']} resources, "
                  f"{expected_registrations(pools)} expected; the baselines follow the program",
                  file=sys.stderr)
        row = {"ours": ours}
        for kind in KINDS[1:]:
            row[kind] = best_of(kind, pools, ours["registrations"], args.repeat)
            if row[kind]["registrations"] != ours["registrations"]:
                raise SystemExit(f"N={pools}: {kind} registered {row[kind]['registrations']}, "
                                 f"the program {ours['registrations']}")
        rows.append(row)
    report(rows, args.repeat)
    return 0


if __name__ == "__main__":
    sys.exit(main())
