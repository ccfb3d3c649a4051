"""How fast the controller follows a rolling update: pod ready -> backend in its NLB server group, against the
bound the quota imposes, with the write calls it needed and what it does once nothing changes; and the same
rollout kept by a polling reconciler, the baseline measured in the same run.

    venv/bin/python bench/controller_latency.py [--quick] [--groups 10] [--pods 200] [--waves 4] [--latency 0.02]
                                                [--nlb-quota 200] [--drain-seconds 1] [--idle-seconds 3]
                                                [--poll-seconds 1] [--no-baseline]

Set-up (tests/controller's World). The fake Kubernetes API and the cloud emulator (NLB) run in this process on
127.0.0.1; the controller runs as a real process, `python -m reconciler.controller` with leader election (a
Lease of 3 s), coalescing 50 ms, NLB job polls every 50 ms and no drift reads. --groups Services of class
`ack-edge-lb/pulumi` in one namespace, each with its own NLB `Ip` server group and BackendGroup record (mode
ip, drainSeconds --drain-seconds), --pods pods in total spread evenly over the Services and over four cloud
nodes. Every emulator call is answered after --latency seconds. Quotas are enforced on both sides: the
emulator's per-account buckets for Add/Remove/UpdateServerGroupServersAttribute (--nlb-quota calls per 60 s,
burst --nlb-quota, each action its own bucket, answered Throttling.User), and the controller's one window for
the three (`--rate-limits {"nlb.servers": {"calls": --nlb-quota}}`: at most that many calls in any 60.1 s, as
reconciler/ratelimit.py QUOTAS documents; 200 by default). The groups first fill with the old pods (not timed, and
without the latency); their calls stay in both windows.

The rollout. --waves waves (4: maxSurge 25%), each, for every Service one after the other in the same instant:
its share of new pods ready in a new EndpointSlice; after 0.5 s as many old pods terminating (serving, not
ready); after 1.0 s more those old pods gone; 0.5 s later the next wave. The Deployment's pace, never waiting
for the load balancer. The slice writes are the benchmark's own, so it knows when each new pod became ready.

Figures.
- latency per new endpoint: from the slice write that made it ready to the moment the emulator applied the
  AddServersToServerGroup call that put it in its group (stamped inside the emulator, under its lock; the
  server then shows `Adding` until its job ends, also stamped: `available`). p50 and p99 over all new pods.
- the quota-imposed lower bound, per endpoint, from a simulated ideal writer: it knows every group's state
  without reading it, and for each group change (a wave's additions, its weight updates, its removals, each
  ceil(n / 200) calls) sends its call at the earliest moment that is (a) not before the slice write that made
  the change, (b) not before that group's previous call ended (one job per group at a time, as NLB demands),
  and (c) admitted by one shared sliding window of the documented quota (`ratelimit.Limit(calls, 60 s)`,
  without the client's margin) that already holds the calls the writer made before the rollout; each
  call costs one --latency, after which its servers are in the group. Changes are taken in the order of their
  slice writes. Target: p99 - bound p99 <= 2 s.
- write calls: Add/Update/RemoveServersFromServerGroup calls the emulator answered during the rollout (a
  Throttling answer is counted apart: it is a retry), against the lower bound: per group per wave one add, one
  weight update (the old pods going to weight 0 when they terminate) and one removal, each ceil(n / 200).
  Target: equal. Fewer is no miss: under a binding quota the controller merges changes that arrived while
  its window was full (two waves' additions in one call), which the ideal writer does not; more means a change
  was split or repeated.
- calls while idle: every cloud call (reads included) in --idle-seconds (3 s: both runs then take about 40 s)
  after the last group converged and its record reported Synced. Target 0.

The baseline (skipped with --no-baseline). The same set-up and rollout on a fresh World (its own emulator
buckets, its own client window: `ratelimit.reset()` then `configure` with the controller's --rate-limits value
before each run, so both start from empty windows under the same limit), but no controller: the records name
`pulumi` as their writer and a thread of this process keeps the groups, as a CronJob or a
`while true; sync; sleep` loop would. A pass starts every --poll-seconds (the next at once when one took
longer) and syncs each group in turn with the production functions, as the Pulumi dynamic resource does
(reconciler/provider.py): the record's spec ensured, owned from its status, the cluster read
(`cluster.read_cluster`), then `sync.sync(...)` with the record as journal; adapters from `groups.group_for`
with the World's environment and endpoints, NLB job polls every 50 ms as the controller's. It is the fair
alternative: the same planner, adapters, rate limiter, records and quotas, and a period (1 s) far shorter
than a CronJob's minute; it differs only in looking for changes instead of being told of them. Its drain is the
planner's in-sync wait: a server still serving when its pod is gone (a pass that missed the terminating
phase) is set to weight 0, then the sync sleeps drainSeconds before removing it, holding up the groups after
it in that pass (the controller instead re-queues the group and syncs others meanwhile). The comparison table
gives both runs' p50 and p99 (ready -> in group), write calls and reads during the rollout, calls in the same
idle window, and rollout to convergence, each as controller / baseline (below 1: the controller does better).
Fewer baseline writes are no merit in themselves: a pass that comes late sees several waves' changes at once
and merges them, which is the latency it pays.

Figures are printed, never asserted: a MISS is reported, the exit status stays 0 (2 only when a run itself
could not finish: the controller or the poller died, or a group did not converge within --timeout seconds).
"""

from __future__ import annotations

import argparse
import bisect
import contextlib
import json
import math
import os
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from reconciler import ratelimit  # noqa: E402
from tests.controller import NLB_WRITES, Group, Pod, World  # noqa: E402
from tests.controller.process import FAST_FLAGS  # noqa: E402
from tests.emulator.nlb import objects  # noqa: E402

NS, PORT, NODES = "shop", 8080, ("cloud-1", "cloud-2", "cloud-3", "cloud-4")
LIMIT = 200                                       # servers per NLB write call
QUOTA = ratelimit.QUOTAS["nlb.servers"]
P99_TARGET = 2.0
TO_TERMINATING, TO_GONE, TO_NEXT = 0.5, 1.0, 0.5  # seconds between the phases of a wave
DEFAULTS = {"groups": 10, "pods": 200, "waves": 4}
QUICK = {"groups": 3, "pods": 60, "waves": 2}


@dataclass
class Stamps:
    """What the emulator did, stamped inside it (time.monotonic, under its lock)."""

    added: dict[str, float] = field(default_factory=dict)      # server id -> first AddServersToServerGroup applied
    available: dict[str, float] = field(default_factory=dict)  # server id -> its add job ended
    writes: list[tuple[float, str, str, int]] = field(default_factory=list)  # (time, action, group id, servers)


def instrument(world: World, stamps: Stamps) -> None:
    """Wrap the NLB product's write actions and job end (instance attributes: `handle` looks them up there)."""
    nlb = world.cloud.nlb
    for action in NLB_WRITES:
        original = getattr(nlb, action)

        def wrapped(p, original=original, action=action):
            out = original(p)  # raises on refusal: only applied calls are stamped
            now = time.monotonic()
            servers = objects(p, "Servers")
            stamps.writes.append((now, action, p.get("ServerGroupId", ""), len(servers)))
            if action == "AddServersToServerGroup":
                for server in servers:
                    stamps.added.setdefault(server.get("ServerId", ""), now)
            return out
        setattr(nlb, action, wrapped)
    finish = nlb._finish

    def finished(job, finish=finish):
        group = nlb.server_groups.get(job["_group"]) or {"_servers": []}
        adding = [s["ServerId"] for s in group["_servers"] if s.get("_job") == job["JobId"] and s["Status"] == "Adding"]
        finish(job)
        now = time.monotonic()
        for server_id in adding:
            stamps.available.setdefault(server_id, now)
    nlb._finish = finished


# --- the ideal writer --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Change:
    at: float        # the slice write that asked for it
    group: str
    op: str          # add | update | remove
    servers: tuple[str, ...]


def ideal(changes: list[Change], earlier_calls: list[float], latency: float, limit: ratelimit.Limit
          ) -> dict[str, float]:
    """Server id -> when the ideal writer has it in its group (module docstring)."""
    window = sorted(earlier_calls)  # call start times, kept sorted
    free: dict[str, float] = defaultdict(float)
    placed: dict[str, float] = {}
    for change in sorted(changes, key=lambda c: c.at):
        for i in range(0, len(change.servers), LIMIT):
            start = max(change.at, free[change.group])
            while True:  # the earliest start with fewer than `calls` starts in (start - period, start]
                inside = len(window) - bisect.bisect_right(window, start - limit.window)
                if inside < limit.calls:
                    break
                start = window[len(window) - inside] + limit.window
            bisect.insort(window, start)
            free[change.group] = start + latency
            if change.op == "add":
                for server in change.servers[i:i + LIMIT]:
                    placed[server] = start + latency
    return placed


def lower_bound_calls(changes: list[Change]) -> int:
    return sum(math.ceil(len(c.servers) / LIMIT) for c in changes)


# --- the run -----------------------------------------------------------------------------------------


def ip(generation: int, n: int) -> str:
    return f"172.{16 + generation}.{n // 250}.{n % 250 + 1}"


@dataclass
class Run:
    ready: dict[str, float] = field(default_factory=dict)   # new pod ip -> its slice write
    changes: list[Change] = field(default_factory=list)
    before_rollout: list[float] = field(default_factory=list)
    rollout_start: float = 0.0
    converged: float = 0.0
    idle_calls: Counter = field(default_factory=Counter)
    outcomes: Counter = field(default_factory=Counter)
    metrics: Any = None


def rollout(world: World, groups: list[Group], per_group: int, waves: int
            ) -> tuple[Run, Callable[[Group, int, str, int], None], int]:
    """The old pods' slices written, and `step(group, wave, phase, index)` that writes one phase of a wave."""
    run = Run()
    surge = math.ceil(per_group / waves)
    layouts = {}
    for g, group in enumerate(groups):
        old = [Pod(ip(0, g * per_group + n), NODES[n % len(NODES)]) for n in range(per_group)]
        layouts[group.group_id] = {"old": old}
        world.endpoints(group, layouts[group.group_id])

    def step(group: Group, wave: int, phase: str, g: int) -> None:
        layout = layouts[group.group_id]
        lo, hi = wave * surge, min(per_group, (wave + 1) * surge)
        leaving = {ip(0, g * per_group + n) for n in range(lo, hi)}
        if phase == "ready":
            layout[f"new-{wave}"] = [Pod(ip(1, g * per_group + n), NODES[n % len(NODES)]) for n in range(lo, hi)]
        elif phase == "terminating":
            layout["old"] = [Pod(p.ip, p.node, terminating=True) if p.ip in leaving else p for p in layout["old"]]
        else:
            layout["old"] = [p for p in layout["old"] if p.ip not in leaving]
        at = world.endpoints(group, layout)
        if phase == "ready":
            servers = tuple(p.ip for p in layout[f"new-{wave}"])
            run.ready.update({s: at for s in servers})
        else:
            servers = tuple(sorted(leaving))
        op = {"ready": "add", "terminating": "update", "gone": "remove"}[phase]
        run.changes.append(Change(at, group.group_id, op, servers))

    return run, step, surge


# --- the writers: the controller measured, the polling baseline -------------------------------------


def rate_limits(args: argparse.Namespace) -> dict[str, Any]:
    """The client window of both writers: the controller's --rate-limits, the poller's `ratelimit.configure`."""
    return {"nlb.servers": {"calls": args.nlb_quota}}


class Controller:
    """`python -m reconciler.controller`, one replica (World.start: FAST_FLAGS, leader election)."""

    name, record_writer = "controller", "controller"

    def __init__(self, args: argparse.Namespace):
        self.args, self.process, self.metrics = args, None, None

    def start(self, world: World, groups: list[Group]) -> None:
        self.process = world.start("bench", rate_limits=json.dumps(rate_limits(self.args)))

    def check(self) -> None:
        if not self.process.alive():
            raise AssertionError(f"the controller exited\n{self.process.tail()}")

    def stop(self) -> None:
        self.metrics = self.process.metrics_or_none() if self.process is not None else None

    def notes(self) -> str:
        m = self.metrics
        if m is None:
            return ""
        count = m.value("ack_edge_lb_ready_to_synced_seconds_count", kind="nlb")
        total = m.value("ack_edge_lb_ready_to_synced_seconds_sum", kind="nlb")
        return (f"controller's own figures: {m.value('ack_edge_lb_syncs_total', result='ok'):g} syncs ok, "
                f"{m.value('ack_edge_lb_syncs_total', result='unchanged'):g} unchanged, "
                f"{m.value('ack_edge_lb_syncs_total', result='error'):g} errors; ready_to_synced mean "
                f"{(total / count if count else math.nan):.3f} s over {count:g}; client waits "
                f"{m.value('ack_edge_lb_throttled_total', source='client'):g}")


@contextlib.contextmanager
def environment(env: dict[str, str]):
    """This process's environment replaced by `env` (the one World.start gives a replica), then restored."""
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


class Poller:
    """The baseline (module docstring): a thread that syncs every group in turn, one pass every poll_seconds."""

    name, record_writer = "polling baseline", "pulumi"

    def __init__(self, args: argparse.Namespace):
        self.poll_seconds = args.poll_seconds
        self.passes = self.errors = self.waits = 0
        self.last_error = ""
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None
        self._env: Optional[contextlib.ExitStack] = None

    def start(self, world: World, groups: list[Group]) -> None:
        from reconciler.groups import group_for

        self._env = contextlib.ExitStack()
        self._env.enter_context(environment(world.env()))  # credentials and endpoints as a replica's
        ratelimit.WAIT_OBSERVERS.append(self._waited)
        job_poll = float(FAST_FLAGS["--job-poll-seconds"])
        kept = [(g, group_for(g.kind, g.group_id, owner=g.owner, region=g.spec.get("regionId"),
                              poll_interval=job_poll)) for g in groups]
        self._thread = threading.Thread(target=self._loop, args=(world.api, kept), name="poller", daemon=True)
        self._thread.start()

    def _waited(self, _window: str, _seconds: float) -> None:
        self.waits += 1

    def _loop(self, api: Any, groups: list[tuple[Group, Any]]) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            for group, adapter in groups:
                self._sync(api, group, adapter)
            self.passes += 1
            self._stop.wait(max(0.0, self.poll_seconds - (time.monotonic() - started)))

    def _sync(self, api: Any, group: Group, adapter: Any) -> None:
        """One group, as BackendSyncProvider._apply does it (no Pulumi state: owned only from the record)."""
        from reconciler.cluster import read_cluster
        from reconciler.desired import Target
        from reconciler.record import BackendRecord, holds_ownership, owned_from
        from reconciler.sync import sync

        spec = group.spec
        record = BackendRecord(api, group.namespace, group.record)
        try:
            record.ensure(spec)
            status = record.status
            owned = set(owned_from(status)) if holds_ownership(status) else set()
            target = Target(spec["mode"], frozenset(spec.get("pools") or ()), int(spec.get("port") or 0),
                            spec.get("serverType") or spec["kind"])
            sync(adapter, target, read_cluster(api, group.namespace, group.service, group.port_name), owned,
                 drain_seconds=float(spec.get("drainSeconds") or 0), journal=record)
        except Exception as exc:  # noqa: BLE001 - a loop goes on with the next group, as a CronJob's next run would
            self.errors += 1
            self.last_error = str(exc)[:1000]
            with contextlib.suppress(Exception):
                record.fail(str(exc))

    def check(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            raise AssertionError(f"the poller stopped; last error: {self.last_error or 'none'}")

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=60)
        if self._waited in ratelimit.WAIT_OBSERVERS:
            ratelimit.WAIT_OBSERVERS.remove(self._waited)
        if self._env is not None:
            self._env.close()

    def notes(self) -> str:
        return (f"polling baseline: {self.passes} passes (one due every {self.poll_seconds:g} s), {self.errors} failed "
                f"syncs{f' (last: {self.last_error[:200]})' if self.errors else ''}, client waits {self.waits}")


# --- main, and measuring one writer ------------------------------------------------------------------


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help=f"{QUICK['groups']} groups, {QUICK['pods']} pods, {QUICK['waves']} waves")
    parser.add_argument("--groups", type=int, help=f"Services, one NLB Ip group each (default {DEFAULTS['groups']})")
    parser.add_argument("--pods", type=int, help=f"pods in total, before and after (default {DEFAULTS['pods']})")
    parser.add_argument("--waves", type=int, help=f"waves of the rollout (default {DEFAULTS['waves']}: maxSurge 25%%)")
    parser.add_argument("--latency", type=float, default=0.02, help="seconds per emulator call (%(default)s)")
    parser.add_argument("--nlb-quota", type=int, default=QUOTA.calls,
                        help="NLB server writes per 60 s, emulator and writers alike (%(default)s)")
    parser.add_argument("--drain-seconds", type=int, default=1, help="the records' drainSeconds (%(default)s)")
    parser.add_argument("--idle-seconds", type=float, default=3.0,
                        help="quiet time measured at the end of each run (%(default)s)")
    parser.add_argument("--poll-seconds", type=float, default=1.0,
                        help="the polling baseline's period: a pass over every group (%(default)s)")
    parser.add_argument("--no-baseline", action="store_true", help="measure the controller only")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds to converge at most (%(default)s)")
    args = parser.parse_args(argv)
    for key, value in (QUICK if args.quick else DEFAULTS).items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    if args.groups < 1 or args.pods < args.groups or args.waves < 1 or not 0 <= args.latency <= 5:
        parser.error("--groups >= 1, --pods >= --groups, --waves >= 1, --latency 0 to 5 s")
    if not 1 <= args.nlb_quota <= QUOTA.calls:
        parser.error(f"--nlb-quota: 1 to {QUOTA.calls} (the documented quota)")
    if not args.poll_seconds > 0:
        parser.error("--poll-seconds: above 0")
    from rich.console import Console

    progress = Console(stderr=True)
    started = time.perf_counter()

    def say(text: str) -> None:
        progress.print(f"[dim]{time.perf_counter() - started:6.1f}s  {text}[/dim]")

    results = []
    for writer in [Controller(args)] + ([] if args.no_baseline else [Poller(args)]):
        with tempfile.TemporaryDirectory(prefix="controller-latency-") as tmp, World(Path(tmp)) as world:
            try:
                results.append(measure(world, args, writer, say))
            except AssertionError as exc:
                progress.print(f"[red]the {writer.name} run did not finish[/red]: {str(exc)[:3000]}")
                return 2
    report(results[0], args)
    if len(results) > 1:
        compare(results[0], results[1], args)
    say("done")
    return 0


@dataclass
class Result:
    writer: str
    notes: str
    run: Run
    stamps: Stamps
    latency: list[float]
    available: list[float]
    bound: list[float]
    lower_calls: int
    made: Counter
    throttled: int
    reads: Counter
    new_pods: int

    @property
    def writes(self) -> int:
        return sum(self.made.values())

    @property
    def read_calls(self) -> int:
        return sum(self.reads.values())

    @property
    def idle(self) -> int:
        return sum(self.run.idle_calls.values())

    @property
    def span(self) -> float:
        return self.run.converged - self.run.rollout_start


def measure(world: World, args: argparse.Namespace, writer: Any, say: Callable[[str], None]) -> Result:
    """One run on a fresh World: set-up, fill, rollout, convergence and idle window, kept by `writer`."""
    def tell(text: str) -> None:
        say(f"{writer.name}: {text}")

    ratelimit.reset()  # this process's window (the poller's) starts empty, as a new controller's does
    ratelimit.configure(rate_limits(args))
    per_group = args.pods // args.groups
    for action in NLB_WRITES:
        world.cloud.nlb.rate_limits[action] = (args.nlb_quota / QUOTA.period, float(args.nlb_quota))
    world.nodes("np-cloud", NODES)
    groups = [world.nlb_ip(NS, f"web-{g}", drain_seconds=args.drain_seconds, writer=writer.record_writer)
              for g in range(args.groups)]
    stamps = Stamps()
    instrument(world, stamps)
    run, step, surge = rollout(world, groups, per_group, args.waves)
    try:
        writer.start(world, groups)
        tell(f"filling {args.groups} groups with {per_group * args.groups} pods")
        for g, group in enumerate(groups):
            world.wait_servers(group, {(ip(0, g * per_group + n), PORT): 100 for n in range(per_group)},
                               timeout=args.timeout)
            world.wait_synced(group, timeout=args.timeout)
        time.sleep(0.5)
        run.before_rollout = [t for t, *_ in stamps.writes]  # filled without latency: a call starts when applied
        world.cloud.latency = args.latency
        with world.cloud.lock:
            outcomes_before = Counter(world.cloud.outcomes)
            writes_before = len(stamps.writes)

        tell(f"rolling: {args.waves} waves of {surge} pods per group, latency {args.latency * 1000:g} ms per call")
        run.rollout_start = time.monotonic()
        for wave in range(args.waves):
            for phase, pause in (("ready", TO_TERMINATING), ("terminating", TO_GONE), ("gone", TO_NEXT)):
                for g, group in enumerate(groups):
                    step(group, wave, phase, g)
                time.sleep(pause)
            writer.check()
        tell("waiting for the groups to converge")
        for g, group in enumerate(groups):
            want = {(ip(1, g * per_group + n), PORT): 100 for n in range(per_group)}
            world.wait_servers(group, want, timeout=args.timeout)
        for group in groups:
            world.wait_synced(group, timeout=args.timeout)
        run.converged = time.monotonic()
        with world.cloud.lock:
            run.outcomes = Counter(world.cloud.outcomes) - outcomes_before
            rollout_writes = stamps.writes[writes_before:]
        tell(f"idle for {args.idle_seconds:g} s")
        world.cloud.reset_counts()
        time.sleep(args.idle_seconds)
        with world.cloud.lock:
            run.idle_calls = Counter(world.cloud.calls)
    finally:
        writer.stop()

    placed = ideal(run.changes, run.before_rollout, args.latency, ratelimit.Limit(args.nlb_quota, QUOTA.period, 0.0))
    new = sorted(run.ready)
    latency = [stamps.added[s] - run.ready[s] for s in new if s in stamps.added]
    available = [stamps.available[s] - run.ready[s] for s in new if s in stamps.available]
    bound = [placed[s] - run.ready[s] for s in new]
    made = Counter(action for _, action, *_ in rollout_writes)
    throttled = sum(n for (action, code), n in run.outcomes.items() if action in NLB_WRITES
                    and code.startswith("Throttling"))
    reads = Counter({a: n for (a, code), n in run.outcomes.items() if a not in NLB_WRITES})
    return Result(writer.name, writer.notes(), run, stamps, latency, available, bound, lower_bound_calls(run.changes),
                  made, throttled, reads, len(new))


# --- the report --------------------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    if not values:
        return math.nan
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[min(98, max(0, round(q * 100) - 1))]


def console():
    from rich.console import Console

    return Console(width=None if sys.stdout.isatty() else 140)


def report(r: Result, args: argparse.Namespace) -> None:
    from rich.table import Table

    out = console()

    def verdict(ok: bool) -> str:
        return "[green]PASS[/green]" if ok else "[red]MISS[/red]"

    out.print(f"[bold]Controller latency[/bold]: {args.groups} NLB Ip groups, {r.new_pods} new pods in "
              f"{args.waves} waves, {args.latency * 1000:g} ms per call, quota {args.nlb_quota} server writes per "
              f"{QUOTA.period:g} s (emulator buckets per action; controller window shared), drainSeconds "
              f"{args.drain_seconds}")
    times = Table(title="Pod ready -> backend in its group (seconds, per new endpoint)",
                  caption="in group: AddServersToServerGroup applied; available: its job ended; bound: the ideal "
                          "writer under the same quota and latency (module docstring)")
    for col in ("", "n", "p50", "p99", "max", "p99 - bound p99", "target"):
        times.add_column(col, justify="left" if not col else "right", no_wrap=True)
    bound_p99 = percentile(r.bound, 0.99)
    for name, values in (("in group", r.latency), ("available", r.available), ("bound", r.bound)):
        gap = percentile(values, 0.99) - bound_p99
        mine = name == "in group"
        times.add_row(name, str(len(values)), f"{percentile(values, 0.5):.3f}", f"{percentile(values, 0.99):.3f}",
                      f"{max(values, default=math.nan):.3f}", f"{gap:+.3f}" if name != "bound" else "",
                      (verdict(gap <= P99_TARGET and len(values) == r.new_pods) + f" ≤ {P99_TARGET:g}") if mine else "")
    out.print(times)

    calls = Table(title="Cloud calls", caption="lower bound: per group per wave one add, one weight update, one "
                  f"removal, each ⌈n/{LIMIT}⌉; idle: every call in {args.idle_seconds:g} s after convergence")
    for col in ("", "made", "lower bound", "target"):
        calls.add_column(col, justify="left" if not col else "right", no_wrap=True)
    short = {"AddServersToServerGroup": "add", "UpdateServerGroupServersAttribute": "update",
             "RemoveServersFromServerGroup": "remove"}
    calls.add_row("writes during the rollout",
                  f"{r.writes} ({', '.join(f'{short[a]} {n}' for a, n in sorted(r.made.items()))})",
                  str(r.lower_calls), verdict(r.writes <= r.lower_calls) + (" =" if r.writes == r.lower_calls else " ≤"))
    calls.add_row("throttled answers", str(r.throttled), "0", verdict(r.throttled == 0))
    calls.add_row("reads during the rollout", ", ".join(f"{a} {n}" for a, n in sorted(r.reads.items())) or "0", "", "")
    calls.add_row(f"calls while idle ({args.idle_seconds:g} s)", f"{r.idle}" + (
        f" ({', '.join(f'{a} {n}' for a, n in sorted(r.run.idle_calls.items()))})" if r.idle else ""), "0",
        verdict(r.idle == 0))
    out.print(calls)
    out.print(f"rollout to convergence: {r.span:.1f} s")
    if r.notes:
        out.print(r.notes)


def compare(mine: Result, base: Result, args: argparse.Namespace) -> None:
    """One table: the controller's figures against the polling baseline's, each run on its own World."""
    from rich.table import Table

    def ratio(a: float, b: float) -> str:
        if math.isnan(a) or math.isnan(b):
            return "n/a"
        if b == 0:
            return "1.00" if a == 0 else "∞"
        return f"{a / b:.2f}"

    rows = (
        ("p50 ready -> in group (s)", lambda r: percentile(r.latency, 0.5), "{:.3f}"),
        ("p99 ready -> in group (s)", lambda r: percentile(r.latency, 0.99), "{:.3f}"),
        ("writes during the rollout", lambda r: r.writes, "{:d}"),
        ("reads during the rollout", lambda r: r.read_calls, "{:d}"),
        (f"calls while idle ({args.idle_seconds:g} s)", lambda r: r.idle, "{:d}"),
        ("rollout to convergence (s)", lambda r: r.span, "{:.1f}"),
    )
    table = Table(title=f"Controller vs polling baseline (a pass every {args.poll_seconds:g} s), same rollout, "
                        "each on a fresh World",
                  caption=f"ratio: controller / baseline (below 1: the controller does better). Ideal-writer bound "
                          f"p99: {percentile(mine.bound, 0.99):.3f} s and {percentile(base.bound, 0.99):.3f} s; "
                          f"new pods in group: {len(mine.latency)} and {len(base.latency)} of {mine.new_pods}; "
                          f"throttled answers: {mine.throttled} and {base.throttled}")
    for col in ("", mine.writer, base.writer, "ratio"):
        table.add_column(col, justify="left" if not col else "right", no_wrap=True)
    for name, figure, form in rows:
        a, b = figure(mine), figure(base)
        table.add_row(name, form.format(a), form.format(b), ratio(a, b))
    out = console()
    out.print(table)
    out.print(base.notes)


if __name__ == "__main__":
    sys.exit(main())
