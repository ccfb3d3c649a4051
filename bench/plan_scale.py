"""How planning under Pulumi mocks scales with the number of ENS node pools, per exposure mode, against bare baselines.

    venv/bin/python bench/plan_scale.py [--modes ecm,elb-pulumi,nlb-pulumi,clb-pulumi] [--sizes 1,10,100,300]
                                        [--repeat 1]

For each mode and size N the stack has N ENS node pools (each with its own region, network and vSwitch,
labelled `k8s-svc=cube`) and two services of that mode with two ports each (bench/plan_modes.py):

    ecm         ELB, `management: ecm`: per service the EdgeService, its Service, one NodePool patch
                (ExistingObjectPatch, a dynamic resource) per pool
    elb-pulumi  ELB, `management: pulumi`, TCP 80 + HTTPS 443: per service and pool a RegionalElb with
                ens.LoadBalancer, ens.Eip, ens.EipInstanceAttachment, EipAddress, two EnsListeners, BackendSync
    nlb-pulumi  NLB, `management: pulumi` (Terway Edge, Express Connect, a cloud pool in two zones besides the
                N ENS pools): the regional provider, per service an NlbExposure with nlb.LoadBalancer and per
                port a ServerGroup, a Listener and a BackendSync
    clb-pulumi  CLB, `management: pulumi`, `Cluster`: the same with ClbExposure, slb.ApplicationLoadBalancer,
                slb.ServerGroup and slb.Listener

For NLB and CLB the registrations do not grow with the pools (one load balancer per service); the
configuration and rules work does (every pool is validated, and the pools are BackendSync inputs), so their
ms per registration grows with N by design. Their ratio and growth are reported all the same.

Each stack is planned with `plan.offline.run_program(..., preview=True)`, exactly as `python -m plan`
does, after checking it validates (`stacks.load.validate`); its raw settings are built before the
clock starts. Per mode, the baseline ("bare
registrations") declares exactly what the program declares (same classes: pulumi-kubernetes,
pulumi-alicloud and the project's dynamic resources, components as `pulumi.ComponentResource` with the same
type tokens; the same names, parents, resource options, inputs, component and stack outputs) in a flat
loop: no configuration loading, rules, naming or components logic. Before measuring, a check run compares
the two plans' registrations (type, name, parent, options, shape of the inputs, shape of the stack outputs)
and stops at the first difference, so the baseline cannot go stale unnoticed. The ratio ours/baseline per
registration is our program's overhead (target <= 1.3). A third row, the floor, registers as many plain
`pulumi.CustomResource`s with inputs like one typical resource of the mode: what the SDK costs with no
provider SDK and no dynamic provider serialization at all, shown for diagnosis.

All three run through `plan.offline.run_program` (the same mocks, recording monitor and event loop as
`python -m plan`), ours with the project's `__main__.py`, the others with their own program function.

Isolation: every measurement (mode, kind, size, repeat) runs in its own fresh Python subprocess. Inside
it, one small warm-up run (N=1, same mode and kind) pays the one-time costs (lazy imports, pydantic and
SDK caches) first; then the timed run, without tracemalloc. Peak memory is measured in a second, identical
run under tracemalloc (tracemalloc slows allocation-heavy code down severalfold, so it is kept out of the
timed run), in the first repeat only (it hardly varies). The best (lowest) time of `--repeat` subprocesses
is reported; the repeats run in rounds over every size and kind, so that a slow spell of the machine (a
2-core VM shows +-20 % from one minute to the next) spreads over the cells instead of spoiling one.

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
from typing import Any, Callable

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.plan_modes import MODES, Mode  # noqa: E402

RATIO_TARGET = 1.3  # our ms per registration / baseline ms per registration
GROWTH_TARGET = 3.3  # time(300) / time(100): 3.0 would be exactly linear
DEFAULT_SIZES = (1, 10, 100, 300)
CHECK_POOLS = 3  # the size at which the baseline's registrations are compared with the program's


# --- the programs: ours, the baseline, the floor -------------------------------------------------


def bare_custom(mode: Mode, registrations: int) -> None:
    """The floor: as many plain `CustomResource` registrations under two components, typical inputs of the mode."""
    import pulumi

    parents = [pulumi.ComponentResource("test:index:Bare", f"c{j}", None) for j in range(min(2, registrations))]
    for i in range(registrations - len(parents)):
        pulumi.CustomResource("test:index:Bare", f"r{i}", mode.floor_inputs(i),
                              opts=pulumi.ResourceOptions(parent=parents[i % len(parents)]))


def plan(mode: Mode, kind: str, pools: int, registrations: int) -> Callable[[], Any]:
    """One offline run under the same mocks setup as `python -m plan` (plan.offline.run_program),
    ready to go: the stack's raw settings (the benchmark's input, not the program's work) are built first."""
    from plan.offline import run_program

    if kind == "ours":
        return partial(run_program, mode.stack(pools), "bench", preview=True)
    program = partial(mode.baseline, pools) if kind == "baseline" else partial(bare_custom, mode, registrations)
    return partial(run_program, {}, "bench", preview=True, program=program)


# --- the shape check -----------------------------------------------------------------------------


def _signature(value: Any, unknown: str) -> Any:
    """The shape of a recorded input: keys and list lengths kept, each leaf reduced to its kind."""
    if isinstance(value, dict):
        return {k: _signature(v, unknown) for k, v in sorted(value.items())}
    if isinstance(value, list):
        return [_signature(v, unknown) for v in value]
    return "unknown" if value == unknown else type(value).__name__


def shape(run: Any) -> dict[str, tuple[Any, ...]]:
    """Per registered name: type, parent, custom, options and the shape of the inputs; and the stack outputs'."""
    from plan.offline import UNKNOWN

    out = {r.name: (r.type, r.parent, r.custom, tuple(sorted((k, repr(v)) for k, v in r.options.items())),
                    repr(_signature(r.inputs, UNKNOWN))) for r in run.resources}
    out["(stack outputs)"] = ("", None, False, (), repr(_signature(run.outputs, UNKNOWN)))
    return out


def shape_differences(ours: dict[str, tuple[Any, ...]], base: dict[str, tuple[Any, ...]]) -> list[str]:
    fields = ("type", "parent", "custom", "options", "inputs")
    out = [f"only the program registers {n}" for n in sorted(ours.keys() - base.keys())]
    out += [f"only the baseline registers {n}" for n in sorted(base.keys() - ours.keys())]
    for n in sorted(ours.keys() & base.keys()):
        out += [f"{n}: {f} is {a} in the program, {b} in the baseline"
                for f, a, b in zip(fields, ours[n], base[n], strict=True) if a != b]
    return out


# --- in the subprocess: one measurement, or the check --------------------------------------------


KINDS = ("ours", "baseline", "floor")
LABELS = {"ours": "ack-edge-lb", "baseline": "baseline", "floor": "floor"}


def measure(mode: Mode, kind: str, pools: int, registrations: int, memory: bool = True) -> dict[str, Any]:
    """One measurement; `registrations` sets the floor's size (ours and the baseline's are set by `pools`)."""
    plan(mode, kind, 1, mode.expected(1))()  # the warm-up
    go = plan(mode, kind, pools, registrations)
    gc.collect()

    start = time.perf_counter()
    run = go()
    seconds = time.perf_counter() - start
    count = len(run.resources)
    del run
    gc.collect()
    result = {"mode": mode.name, "kind": kind, "pools": pools, "registrations": count, "seconds": seconds,
              "peak_mib": None}
    if not memory:
        return result

    tracemalloc.start()
    tracemalloc.reset_peak()
    run = go()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    if len(run.resources) != count:
        raise RuntimeError(f"{mode.name} {kind} N={pools}: {count} then {len(run.resources)} registrations")
    result["peak_mib"] = peak / 2**20
    return result


def check(mode: Mode, sizes: list[int]) -> dict[str, Any]:
    """Every size's stack validates; at CHECK_POOLS the baseline registers what the program registers."""
    from plan.offline import run_program
    from stacks.load import validate
    from stacks.problems import ConfigError

    warnings = {}
    for pools in sizes:
        try:
            warnings[pools] = len(validate(mode.stack(pools), "bench").warnings)
        except ConfigError as exc:
            return {"problems": [f"the {mode.name} stack with {pools} pools does not validate:\n{exc}"]}
    ours = run_program(mode.stack(CHECK_POOLS), "bench", preview=True)
    base = run_program({}, "bench", preview=True, program=partial(mode.baseline, CHECK_POOLS))
    return {"problems": shape_differences(shape(ours), shape(base)), "warnings": warnings,
            "registrations": len(ours.resources)}


# --- in the parent: fresh subprocesses ------------------------------------------------------------


def _worker(*args: str) -> dict[str, Any]:
    command = [sys.executable, str(Path(__file__).resolve()), *args]
    proc = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed:\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def measure_in_subprocess(mode: Mode, kind: str, pools: int, registrations: int, memory: bool) -> dict[str, Any]:
    return _worker("--worker", kind, "--modes", mode.name, "--pools", str(pools),
                   "--registrations", str(registrations), *([] if memory else ["--no-memory"]))


def best(results: list[dict[str, Any]]) -> dict[str, Any]:
    """The fastest of the repeats, with the peak memory of the first (the only one measured)."""
    fastest = dict(min(results, key=lambda r: r["seconds"]))
    fastest["peak_mib"] = results[0]["peak_mib"]
    return fastest


def check_in_subprocess(mode: Mode, sizes: list[int]) -> None:
    result = _worker("--worker", "check", "--modes", mode.name, "--sizes", ",".join(map(str, sizes)))
    if result["problems"]:
        shown = "\n  ".join(result["problems"][:20])
        raise SystemExit(f"{mode.name}: the baseline does not register what the program registers "
                         f"(N={CHECK_POOLS}; bench/plan_modes.py):\n  {shown}")
    if result["registrations"] != mode.expected(CHECK_POOLS):
        print(f"note: {mode.name} N={CHECK_POOLS}: the program registered {result['registrations']} resources, "
              f"{mode.expected(CHECK_POOLS)} expected; the baseline follows the program", file=sys.stderr)
    warnings = sorted(set(result["warnings"].values()))
    print(f"checked {mode.name}: the stacks of {', '.join(result['warnings'])} pools validate "
          f"({'/'.join(map(str, warnings))} warnings); the baseline registers what the program registers "
          f"(N={CHECK_POOLS}: {result['registrations']} registrations)")


def measure_mode(mode: Mode, sizes: list[int], repeat: int) -> list[dict[str, dict[str, Any]]]:
    """`repeat` rounds over every size and kind, so that a slow minute of the machine spreads over the cells
    instead of spoiling one; the floor registers as many resources as the program did."""
    results: dict[tuple[int, str], list[dict[str, Any]]] = {(p, k): [] for p in sizes for k in KINDS}
    for round_ in range(repeat):
        for pools in sizes:
            for kind in KINDS:
                count = results[(pools, "ours")][0]["registrations"] if kind != "ours" else mode.expected(pools)
                result = measure_in_subprocess(mode, kind, pools, count, memory=(round_ == 0))
                if kind == "ours" and round_ == 0 and result["registrations"] != count:
                    print(f"note: {mode.name} N={pools}: the program registered {result['registrations']} "
                          f"resources, {count} expected; the baseline and floor follow the program", file=sys.stderr)
                if kind != "ours" and result["registrations"] != count:
                    raise SystemExit(f"{mode.name} N={pools}: {kind} registered {result['registrations']}, "
                                     f"the program {count}")
                results[(pools, kind)].append(result)
    return [{kind: best(results[(pools, kind)]) for kind in KINDS} for pools in sizes]


# --- report --------------------------------------------------------------------------------------


def verdict(ok: bool) -> str:
    return "[green]PASS[/green]" if ok else "[red]MISS[/red]"


def ms_per_registration(result: dict[str, Any]) -> float:
    return 1000 * result["seconds"] / max(result["registrations"], 1)


def label(kind: str) -> str:
    return LABELS[kind] if kind == "ours" else f"[dim]{LABELS[kind]}[/dim]"


def report(mode: Mode, rows: list[dict[str, dict[str, Any]]], repeat: int) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    caption = (f"ratio: ack-edge-lb ms/reg ÷ baseline ms/reg (target ≤ {RATIO_TARGET}); "
               "in parentheses: ÷ floor (plain CustomResource), for diagnosis only")
    if not mode.grows:
        caption += ("\nregistrations do not grow with pools (one load balancer per service); the configuration "
                    "and rules work does, so ms/reg grows with the pools")
    table = Table(title=f"{mode.name}: {mode.what}\noffline plan under Pulumi mocks (preview), best of {repeat}",
                  caption=caption)
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
            table.add_row(str(result["pools"]) if kind == "ours" else "", label(kind),
                          str(result["registrations"]), f"{result['seconds']:.3f}", f"{ms:.3f}",
                          peak, ratio, target, end_section=(kind == KINDS[-1]))
    console.print(table)

    by_size = {row["ours"]["pools"]: row for row in rows}
    if 100 not in by_size or 300 not in by_size:
        console.print(f"[yellow]{mode.name} growth time(300)/time(100): needs sizes 100 and 300 (see --sizes)[/yellow]")
        return
    growth = Table(title=f"{mode.name}: growth time(300) / time(100)",
                   caption=f"target ≤ {GROWTH_TARGET} for ack-edge-lb; 3.0 is linear"
                           + ("" if mode.grows else "; the registrations are constant here (≈1.0 for the baselines)"))
    for col, justify in (("program", "left"), ("time(100) s", "right"), ("time(300) s", "right"),
                         ("growth", "right"), ("target", "left")):
        growth.add_column(col, justify=justify, no_wrap=True)
    for kind in KINDS:
        t100, t300 = by_size[100][kind]["seconds"], by_size[300][kind]["seconds"]
        ratio = t300 / t100
        growth.add_row(label(kind), f"{t100:.3f}", f"{t300:.3f}", f"{ratio:.2f}",
                       verdict(ratio <= GROWTH_TARGET) if kind == "ours" else "")
    console.print(growth)


# --- command line --------------------------------------------------------------------------------


def _list(parser: argparse.ArgumentParser, option: str, text: str) -> list[str]:
    items = [s.strip() for s in text.split(",") if s.strip()]
    if not items:
        parser.error(f"{option}: give at least one")
    return items


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--modes", default=",".join(MODES),
                        help="comma-separated exposure modes (default: all: %(default)s)")
    parser.add_argument("--sizes", default=",".join(map(str, DEFAULT_SIZES)),
                        help="comma-separated numbers of ENS node pools (default: %(default)s)")
    parser.add_argument("--repeat", type=int, default=1,
                        help="fresh-process runs per measurement; the best is kept (default: %(default)s)")
    parser.add_argument("--worker", choices=(*KINDS, "check"), help=argparse.SUPPRESS)
    parser.add_argument("--pools", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--registrations", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--no-memory", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    unknown = [m for m in _list(parser, "--modes", args.modes) if m not in MODES]
    if unknown:
        parser.error(f"--modes: unknown {', '.join(unknown)}; the modes are {', '.join(MODES)}")
    modes = [MODES[m] for m in _list(parser, "--modes", args.modes)]
    try:
        sizes = [int(s) for s in _list(parser, "--sizes", args.sizes)]
    except ValueError:
        parser.error(f"--sizes takes comma-separated integers, got {args.sizes!r}")
    if min(sizes) < 1:
        parser.error("--sizes: every size must be at least 1")
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")

    if args.worker == "check":  # inside a subprocess: one JSON line on stdout
        print(json.dumps(check(modes[0], sizes)))
        return 0
    if args.worker:
        print(json.dumps(measure(modes[0], args.worker, args.pools, args.registrations, memory=not args.no_memory)))
        return 0

    for mode in modes:  # every check first: a stale baseline stops the run before minutes of measuring
        check_in_subprocess(mode, sizes)
    for mode in modes:
        report(mode, measure_mode(mode, sizes, args.repeat), args.repeat)
    return 0


if __name__ == "__main__":
    sys.exit(main())
