"""How planning under Pulumi mocks scales with the number of ENS node pools, against a bare baseline.

    venv/bin/python bench/plan_scale.py [--sizes 1,10,100,300] [--repeat 1]

For each size N the stack has N ENS node pools (each with its own region, network and vSwitch,
labelled `k8s-svc=cube`) and two ECM-managed ELB services with two ports each, so the program
declares 2 EdgeService components, 2 Services and 2*N NodePool patches. It is planned with
`stacks.offline.run_program(..., preview=True)`, exactly as `python -m stacks plan` does.

The baseline registers the same number of resources with no program logic: 2 plain
`ComponentResource`s and plain `CustomResource("test:index:Bare", ...)` children with inputs shaped
like the NodePool patches, under the same mocks setup as `run_program` (reset options, the same
`_Mocks` and `RecordingMonitor`, `_sync_await(run_pulumi_func(...))`). The ratio and its target are
against this baseline.

A second, diagnostic baseline ("subclassed") declares the same resources through trivial
subclasses of `CustomResource`/`ComponentResource`, as every provider SDK resource (and every
component) is declared. The SDK only captures a source stack trace per registration when it finds
a third `__init__` on the stack (the concrete resource class), so plain `CustomResource(...)` calls
skip that cost while `pulumi_kubernetes` resources and our `EdgeService` pay it. The gap between
the two baselines is SDK cost that any real program pays, whatever its own logic.

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
import logging
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path
from typing import Any, Callable

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
    # per service: the EdgeService component, its Service, one NodePool patch per matched pool
    return 2 * (2 + pools)


# --- the two programs ----------------------------------------------------------------------------


def plan_ours(pools: int):
    from stacks.offline import run_program

    return run_program(stack_config(pools), "bench", preview=True)


def _bare_inputs(i: int) -> dict[str, Any]:
    """Inputs the size and shape of one NodePool patch (apiVersion, kind, metadata with 4 maps)."""
    compact = f"npens{i:04d}"
    return {
        "apiVersion": "apps.openyurt.io/v1beta2",
        "kind": "NodePool",
        "metadata": {
            "name": f"np-ens-{i:04d}",
            "labels": {"k8s-svc": "cube"},
            "annotations": {
                "alibabacloud.com/ens-network-id": f"n-{compact}",
                "alibabacloud.com/ens-region-id": f"cn-region-{i:04d}",
                "alibabacloud.com/ens-vswitch-id": f"vsw-{compact}",
            },
        },
    }


def _subclasses():
    import pulumi

    class Bare(pulumi.CustomResource):
        def __init__(self, t, name, props, opts=None):
            super().__init__(t, name, props, opts)

    class BareComponent(pulumi.ComponentResource):
        def __init__(self, t, name, props, opts=None):
            super().__init__(t, name, props, opts)

    return Bare, BareComponent


def plan_baseline(registrations: int, subclassed: bool = False):
    """`registrations` bare registrations under the same mocks setup as `run_program`.

    `subclassed`: declare them through trivial subclasses, as provider SDKs and components do.
    """
    import pulumi
    from pulumi.runtime import mocks as pulumi_mocks
    from pulumi.runtime import settings
    from pulumi.runtime.stack import run_pulumi_func
    from pulumi.runtime.sync_await import _sync_await

    from stacks.load import PROJECT
    from stacks.offline import RecordingMonitor, Run, _Mocks, _WarningLog

    stack = "bench"
    run = Run(stack=stack, preview=True)
    logger = logging.getLogger(f"ack-edge-lb.bench.{id(run)}")
    logger.propagate = False
    logger.addHandler(_WarningLog(run))

    settings.reset_options(project=PROJECT, stack=stack, preview=True)
    pulumi.runtime.set_all_config({})
    mocks = _Mocks(True)
    pulumi_mocks.set_mocks(mocks, project=PROJECT, stack=stack, preview=True, logger=logger,
                           monitor=RecordingMonitor(mocks, run))

    component, custom = pulumi.ComponentResource, pulumi.CustomResource
    if subclassed:
        custom, component = _subclasses()

    def program() -> None:
        parents = [component("test:index:BareComponent", f"c{j}", None)
                   for j in range(min(2, registrations))]
        for i in range(registrations - len(parents)):
            custom("test:index:Bare", f"r{i}", _bare_inputs(i),
                   opts=pulumi.ResourceOptions(parent=parents[i % len(parents)]))

    _sync_await(run_pulumi_func(program))
    return run


# --- one measurement, in a fresh subprocess ------------------------------------------------------


KINDS = ("ours", "baseline", "subclassed")
LABELS = {"ours": "ack-edge-lb", "baseline": "baseline", "subclassed": "subclassed"}


def measure(kind: str, pools: int, memory: bool = True) -> dict[str, Any]:
    registrations = expected_registrations(pools)
    if kind == "ours":
        go: Callable[[], Any] = lambda: plan_ours(pools)
        warm: Callable[[], Any] = lambda: plan_ours(1)
    else:
        sub = kind == "subclassed"
        go = lambda: plan_baseline(registrations, sub)
        warm = lambda: plan_baseline(expected_registrations(1), sub)

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


def measure_in_subprocess(kind: str, pools: int, memory: bool) -> dict[str, Any]:
    command = [sys.executable, str(Path(__file__).resolve()), "--worker", kind, "--pools", str(pools)]
    if not memory:
        command.append("--no-memory")
    proc = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"measurement {kind} N={pools} failed:\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def best_of(kind: str, pools: int, repeat: int) -> dict[str, Any]:
    results = [measure_in_subprocess(kind, pools, memory=(i == 0)) for i in range(repeat)]
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
                          "in parentheses: ÷ subclassed baseline, for diagnosis only")
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
            elif kind == "subclassed":
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
    parser.add_argument("--no-memory", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.worker:  # inside the measurement subprocess: one JSON line on stdout
        print(json.dumps(measure(args.worker, args.pools, memory=not args.no_memory)))
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
        row = {kind: best_of(kind, pools, args.repeat) for kind in KINDS}
        counts = {kind: r["registrations"] for kind, r in row.items()}
        if len(set(counts.values())) != 1 or counts["ours"] != expected_registrations(pools):
            raise SystemExit(f"N={pools}: registrations differ: {counts} "
                             f"(expected {expected_registrations(pools)})")
        rows.append(row)
    report(rows, args.repeat)
    return 0


if __name__ == "__main__":
    sys.exit(main())
