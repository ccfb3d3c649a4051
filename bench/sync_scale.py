"""BackendSync against the cloud at scale: many ENS ELBs synced at once under one account's rate limit.

    venv/bin/python bench/sync_scale.py [--quick] [--regions 50] [--backends 200] [--latency 0.02]
                                        [--workers 4] [--b-initial-regions 10 | --full-baselines]
                                        [--rate-limits '{"ens.backends": {"calls": 10, "margin": 0}}']

Set-up. N regions, one ENS ELB each, and M cluster nodes per region (one node pool per region, every
node Ready, its ENS instance id registered Running in the emulator); the Service is in Cluster mode,
so each ELB should hold its region's M nodes with weight 100 (0 for a cordoned node). The cluster
side is built directly as `ClusterView` objects, one view holding every node of every region (no
Kubernetes server: the benchmark is about the cloud side). The cloud is `tests.emulator` (ENS) on
127.0.0.1: the official SDK client talks to it, every call is answered after `--latency` seconds,
the documented per-account limits are enforced (Add/Remove/SetBackendServers 10 calls/s each,
burst 10, answered `Throttling.User`), and a call with more than 20 servers is refused
(`InvalidParameter.BackendServers`). ELBs and instances are created directly in the emulator's state.

"ack-edge-lb" is the production code, not a copy: per group, in a worker thread, an `EnsGroup` over a
fresh `EnsApi` (the dynamic provider builds one per operation) and `sync.sync(group, Target("cluster",
{pool}), view, owned)`: one list call, `desired`, `planner.plan` (add -> update -> remove, batches of
20), then writes that each take a call slot from the process-wide `ratelimit` window ("ens", "backends":
at most 10 calls in any 1.1 s, the quota of 10 per second plus the 0.1 s margin; shared by every thread;
`ratelimit.reset()` and `ratelimit.configure(--rate-limits)` before each run), retried by `retry.call`
with the default policy. --rate-limits takes the JSON of ACK_EDGE_LB_RATE_LIMITS (which applies too),
for example `{"ens.backends": {"calls": 10, "margin": 0}}` to measure what the margin buys. Groups run concurrently in a pool of --workers threads. The
default, 4, is what one `pulumi up` actually gets: Pulumi's Python dynamic-provider host serves all
dynamic resources of a program from one process with `grpc.server(ThreadPoolExecutor(max_workers=4))`
(pulumi/dynamic/__main__.py), whatever `--parallel` says.

Scenarios, in order, on one emulator; the cloud state and the owned keys carry over, as the Pulumi
state would:
  1. initial: empty ELBs -> M backends each;
  2. churn: per region 10% of the nodes replaced by new ones (new instance ids) and 5% of the others
     cordoned (weight 100 -> 0): at the defaults 20 additions, 10 weight updates, 20 removals per group;
  3. no-op: nothing changed since 2.
drainSeconds is 0 (the provider's default): a leaving server is removed without a drain step.

Figures per scenario and method:
- write calls: the Add/Set/RemoveBackendServers calls the method made (the requests the emulator
  received, less those it answered with a throttling code: each of those is a retry by `retry.call`)
  against the lower bound: the sum over groups and change kinds (addition, weight update, removal)
  of ceil(changes / 20), the changes counted from the cloud state before the run to the expected
  state. Target ratio 1.00. Throttled requests are shown apart; target 0 (the client window is there
  so that the cloud never has to refuse).
- reads: DescribeLoadBalancerAttribute requests. Target: at most one per group; for no-op, no write at all.
- wall: first submission to last group done, against the critical-path bound, the largest of
    rate     with W the lower bound of write calls and the documented quota, N = 10 calls in any
             P = 1 s: the first write cannot be sent before one latency L (its group's list call comes
             first), the (kN+1)-th no sooner than kP after it, and the last call then takes L:
             2L + floor((W - 1) / N) x P. The client's margin is not in the bound: what it costs is
             measured. The emulator's own buckets (10/s, burst 10, per action) are looser and do not
             tighten it;
    group    the longest single group's sequential calls: (1 list + its lower-bound writes) x L;
    workers  every call holds a worker for at least L, and a group's calls stay on one worker:
             max((one list per group + W) / workers, ceil(groups / workers)) x L.
  W is the lower bound, not the calls made, so the bound holds for any method given --workers threads.
  Wall time includes building SDK clients and computing the desired sets. Target: <= 1.2 x bound.
  The bound counts no CPU time; `cpu s` shows the process CPU time of the run, the emulator's included
  (it runs in this process, under the same GIL), for when a run with few calls is CPU-bound.
- final = desired: per group, the ELB's servers (id, weight, type, port) in the emulator's state equal
  the expected set, computed from the node list directly (not with `desired`).

Baselines, same emulator settings, same shared rate-limit window, same adapter (`EnsGroup`, so the
same wire format and retries); only the write policy differs. Each baseline scenario starts from the
cloud state ack-edge-lb started from, seeded directly into a fresh emulator (empty; the expected
set before churn; the expected set after churn), and the desired set comes from `desired`:
  (a) "one call", like Terraform's `alicloud_ens_load_balancer`: per group, list; one
      RemoveBackendServers with every removal; one AddBackendServers with every addition; no batching.
      A weight change is a removal plus an addition (the resource has no Set call). After the writes,
      a second list (Terraform reads a resource back after an update). Groups concurrently with the
      same --workers. A refused call fails the group there, as it fails the Terraform resource. When
      it works it may make fewer calls than the lower bound: weight changes ride in the remove and add
      calls, at the price of taking serving (or draining) servers out of the group for a moment.
      This is the generous reading: the provider's Update (aliyun/terraform-provider-alicloud,
      alicloud/resource_alicloud_ens_load_balancer.go at ec7c3c5) sends the whole old list to RemoveBackendServers and the whole new list to AddBackendServers
      whenever `backend_servers` changes, so there any change to a group of more than 20 servers fails.
  (b) "fixed 19", like the former open ENS ELB controller of cloud-provider-alibaba-cloud: per group,
      list; removals, then additions, then weight updates, in batches of 19; groups one after the
      other (no concurrency). Its initial scenario runs on the first --b-initial-regions regions only
      by default (the other regions are identical; bound and lower bound are computed for that
      subset), to keep the run short; --full-baselines runs it on all of them.

Every wait is bounded: each scenario's thread pool at most --timeout seconds, a call slot wait at most
300 s (ratelimit), a call at most 15 s (read timeout) and 6 attempts within 60 s (retry.DEFAULT).
Everything talks to 127.0.0.1 only. Figures are printed, never asserted: a MISS is reported, the exit
status stays 0.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import random
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import wait as wait_for_futures
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from cloud import credentials  # noqa: E402
from cloud.ens import EnsApi  # noqa: E402
from cloud.retry import DEFAULT as RETRY_POLICY  # noqa: E402
from cloud.retry import THROTTLING  # noqa: E402
from reconciler import ratelimit  # noqa: E402
from reconciler.cluster import ClusterView, NodeInfo  # noqa: E402
from reconciler.desired import Target, desired  # noqa: E402
from reconciler.groups import EnsGroup  # noqa: E402
from reconciler.model import BATCH_LIMITS, Backend  # noqa: E402
from reconciler.sync import sync  # noqa: E402
from tests.emulator import Emulator, Ens, Params  # noqa: E402

LIMIT = BATCH_LIMITS["ens"]                      # servers per write call (20)
# The bound uses the documented quota (10 calls in any second per account), not the client's window: the
# margin it keeps is part of what is measured.
QUOTA = ratelimit.QUOTAS["ens.backends"]
EMULATOR_REFILL = 1.0                            # seconds for the emulator's buckets (10/s, burst 10) to refill
WRITE_ACTIONS = ("AddBackendServers", "SetBackendServers", "RemoveBackendServers")
READ_ACTION = "DescribeLoadBalancerAttribute"
WALL_TARGET = 1.2
CHURN, CORDON = 0.10, 0.05
FIXED_BATCH = 19
ACCESS_KEY = ("ak", "sk")
QUICK = {"regions": 5, "backends": 60, "latency": 0.02, "workers": 4}
DEFAULTS = {"regions": 50, "backends": 200, "latency": 0.02, "workers": 4}
METHODS = {"ours": "ack-edge-lb", "one": "(a) one call", "fixed": "(b) fixed 19"}
State = dict[str, tuple[int, str, int]]  # server id -> (weight, type, port)


# --- the cluster: nodes per region -------------------------------------------------------------------


def pool_of(region: int) -> str:
    return f"np-r{region:03d}"


def node(region: int, n: int, schedulable: bool = True) -> NodeInfo:
    return NodeInfo(name=f"r{region:03d}-node-{n:05d}", pool=pool_of(region), ready=True, schedulable=schedulable,
                    instance_id=f"i-r{region:03d}n{n:05d}", internal_ip=f"10.{region % 256}.{n // 256 % 256}.{n % 256}")


Fleet = dict[int, tuple[NodeInfo, ...]]  # region -> its nodes


def initial_fleet(regions: int, backends: int) -> Fleet:
    return {r: tuple(node(r, n) for n in range(backends)) for r in range(regions)}


def churned(fleet: Fleet, rng: random.Random) -> Fleet:
    """Per region: CHURN of the nodes replaced by new ones, CORDON of the others cordoned."""
    out: Fleet = {}
    for region, nodes in fleet.items():
        gone_count, cordon_count = round(len(nodes) * CHURN), round(len(nodes) * CORDON)
        picked = rng.sample(range(len(nodes)), min(len(nodes), gone_count + cordon_count))
        gone, cordoned = set(picked[:gone_count]), set(picked[gone_count:])
        kept = [dataclasses.replace(n, schedulable=False) if i in cordoned else n
                for i, n in enumerate(nodes) if i not in gone]
        first_new = len(nodes)  # node numbers only grow: a new node never reuses an old instance id
        out[region] = tuple(kept) + tuple(node(region, first_new + j) for j in range(len(gone)))
    return out


def view_of(fleet: Fleet) -> ClusterView:
    return ClusterView(tuple(n for nodes in fleet.values() for n in nodes), ())


def expected(nodes: tuple[NodeInfo, ...]) -> State:
    """What the ELB should hold in Cluster mode, straight from the nodes (independent of `desired`)."""
    return {n.instance_id: (100 if n.schedulable else 0, "ens", 0) for n in nodes if n.ready and n.instance_id}


def target(region: int) -> Target:
    return Target("cluster", frozenset({pool_of(region)}), 0, "ens")


# --- the cloud: one emulator, one ELB per region -----------------------------------------------------


class Cloud:
    """An emulator with one active ELB per region and the given instances Running; latency set after set-up."""

    def __init__(self, regions: int, instance_ids: set[str], latency: float):
        self.emu = Emulator([Ens(create_polls=0)], latency=0.0)
        self.regions, self.instance_ids, self.latency = regions, instance_ids, latency
        self.lbs: dict[int, str] = {}
        self._quiet_until = 0.0

    def __enter__(self) -> "Cloud":
        self.emu.start()
        if not self.emu.endpoint.startswith("127.0.0.1:"):
            raise SystemExit(f"the emulator listens on {self.emu.endpoint}, not on 127.0.0.1")
        with self.emu.lock:
            for r in range(self.regions):
                answer = self.emu.ens.handle("CreateLoadBalancer", Params({
                    "EnsRegionId": f"cn-bench-{r:03d}", "LoadBalancerSpec": "elb.s2.small", "NetworkId": f"n-r{r:03d}",
                    "VSwitchId": f"vsw-r{r:03d}", "PayType": "PostPaid",
                    "LoadBalancerName": f"k8s/cube-svc/default/{pool_of(r)}/c-bench"}))
                self.lbs[r] = answer["LoadBalancerId"]
            for instance in self.instance_ids:
                self.emu.ens.instances[instance] = "Running"
        # One call before anything is timed: the SDK's lazy set-up and the first connection are paid here.
        EnsGroup(self.api(), self.lbs[0]).list()
        self.emu.latency = self.latency
        return self

    def __exit__(self, *exc: Any) -> None:
        self.emu.stop()

    def api(self) -> EnsApi:
        return EnsApi(credentials.Credentials(*ACCESS_KEY), endpoint=self.emu.endpoint, protocol="http",
                      policy=RETRY_POLICY)

    def state(self, region: int) -> State:
        with self.emu.lock:
            servers = list(self.emu.ens.load_balancers[self.lbs[region]]["_backends"])
        return {str(s["ServerId"]): (int(s.get("Weight", 100)), str(s.get("Type") or "ens"), int(s.get("Port") or 0))
                for s in servers}

    def seed(self, region: int, wanted: State) -> None:
        """Put a state into the ELB directly, in the shape AddBackendServers stores."""
        servers = [{"ServerId": sid, "Type": kind, "Weight": weight, **({"Port": port} if port else {})}
                   for sid, (weight, kind, port) in sorted(wanted.items())]
        with self.emu.lock:
            self.emu.ens.load_balancers[self.lbs[region]]["_backends"] = servers

    def settle(self) -> None:
        """Let the emulator's buckets refill after the previous run (the client's window is reset)."""
        remaining = self._quiet_until - time.monotonic()
        if remaining > 0:
            time.sleep(min(remaining, EMULATOR_REFILL + 0.1))

    def ran(self) -> None:
        self._quiet_until = time.monotonic() + EMULATOR_REFILL + 0.05


# --- one measured run --------------------------------------------------------------------------------


@dataclass
class Outcome:
    method: str
    scenario: str
    regions: list[int]
    workers: int
    changes: Counter = field(default_factory=Counter)   # add / update / remove, over all groups
    lower_bound: int = 0
    writes: Counter = field(default_factory=Counter)    # action -> requests
    refused: Counter = field(default_factory=Counter)   # error code of write answers -> count
    throttled: int = 0
    reads: int = 0
    failed: Counter = field(default_factory=Counter)    # error code -> failed groups
    wall: float = 0.0
    cpu: float = 0.0                                    # process CPU time during the run (emulator included)
    bound: float = 0.0
    basis: str = ""
    equal: int = 0
    note: str = ""

    @property
    def groups(self) -> int:
        return len(self.regions)

    @property
    def write_calls(self) -> int:
        return sum(self.writes.values())


def group_lower_bound(before: State, wanted: State) -> tuple[int, Counter]:
    kinds = Counter(add=len(wanted.keys() - before.keys()), remove=len(before.keys() - wanted.keys()),
                    update=sum(1 for k in wanted.keys() & before.keys() if wanted[k][0] != before[k][0]))
    return sum(math.ceil(n / LIMIT) for n in kinds.values()), kinds


def critical_path(writes: int, longest_group: int, groups: int, latency: float, workers: int) -> tuple[float, str]:
    """The wall-time bound of the module docstring: the largest of the rate, group and workers terms."""
    terms = {"rate": (2 * latency + (writes - 1) // QUOTA.calls * QUOTA.period) if writes > 0 else 0.0,
             "group": (1 + longest_group) * latency if groups else 0.0,
             "workers": max((groups + writes) / workers, math.ceil(groups / workers)) * latency}
    basis = max(terms, key=lambda k: terms[k])
    return terms[basis], basis


def error_code(exc: BaseException) -> str:
    """The API code of a failure, looking through the RuntimeError that apply_plan wraps around it."""
    seen: Optional[BaseException] = exc
    for _ in range(5):
        if seen is None:
            break
        if getattr(seen, "code", None):
            return str(seen.code)
        seen = seen.__cause__
    return type(exc).__name__


def measure(cloud: Cloud, method: str, scenario: str, regions: list[int], fleet: Fleet,
            work: Callable[[int], None], workers: int, timeout: float, limits: dict[str, ratelimit.Limit],
            note: str = "") -> Outcome:
    out = Outcome(method, scenario, regions, workers, note=note)
    wanted = {r: expected(fleet[r]) for r in regions}
    longest = 0
    for r in regions:
        calls, kinds = group_lower_bound(cloud.state(r), wanted[r])
        out.lower_bound += calls
        out.changes.update(kinds)
        longest = max(longest, calls)
    out.bound, out.basis = critical_path(out.lower_bound, longest, len(regions), cloud.latency, workers)

    cloud.settle()
    ratelimit.reset()
    ratelimit.configure(limits)
    cloud.emu.reset_counts()
    bugs = len(cloud.emu.bugs)
    start, cpu = time.perf_counter(), time.process_time()
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=f"{method}-{scenario}")
    futures = {pool.submit(work, r): r for r in regions}  # submission order = region order (matters for workers=1)
    done, pending = wait_for_futures(futures, timeout=timeout)
    out.wall, out.cpu = time.perf_counter() - start, time.process_time() - cpu
    pool.shutdown(wait=not pending, cancel_futures=True)
    cloud.ran()

    for future in done:
        if future.exception() is not None:
            out.failed[error_code(future.exception())] += 1
    if pending:
        out.failed[f"not done in {timeout:g} s"] += len(pending)
    with cloud.emu.lock:
        for (action, code), count in cloud.emu.outcomes.items():
            if action in WRITE_ACTIONS:
                out.writes[action] += count
                if code in THROTTLING:
                    out.throttled += count
                elif code != "OK":
                    out.refused[code] += count
        out.reads = cloud.emu.calls[READ_ACTION]
    out.equal = sum(1 for r in regions if cloud.state(r) == wanted[r])
    if len(cloud.emu.bugs) > bugs:
        out.failed[f"emulator raised {type(cloud.emu.bugs[-1]).__name__}"] += len(cloud.emu.bugs) - bugs
    return out


# --- the three methods -------------------------------------------------------------------------------


def ours(cloud: Cloud, view: ClusterView, owned: dict[int, frozenset]) -> Callable[[int], None]:
    """ack-edge-lb: `sync.sync` of one group; its owned keys are kept for the next scenario."""

    def work(region: int) -> None:
        group = EnsGroup(cloud.api(), cloud.lbs[region])
        result = sync(group, target(region), view, owned.get(region, frozenset()))
        owned[region] = result.plan.owned

    return work


def one_call(cloud: Cloud, view: ClusterView) -> Callable[[int], None]:
    """(a) Terraform-like: one Remove with every removal, one Add with every addition, then a read back."""

    def work(region: int) -> None:
        group = EnsGroup(cloud.api(), cloud.lbs[region])
        current = {b.key: b for b in group.list()}
        wanted = desired(view, target(region))
        removes = [b for k, b in current.items() if k not in wanted or wanted[k].weight != b.weight]
        adds = [b for k, b in wanted.items() if k not in current or current[k].weight != b.weight]
        if removes:
            group.remove(removes)
        if adds:
            group.add(adds)
        if removes or adds:
            group.list()

    return work


def fixed_19(cloud: Cloud, view: ClusterView) -> Callable[[int], None]:
    """(b) the former ENS ELB controller: remove, add, update, in batches of 19 (run with one worker)."""

    def chunks(items: list[Backend]) -> list[list[Backend]]:
        return [items[i:i + FIXED_BATCH] for i in range(0, len(items), FIXED_BATCH)]

    def work(region: int) -> None:
        group = EnsGroup(cloud.api(), cloud.lbs[region])
        current = {b.key: b for b in group.list()}
        wanted = desired(view, target(region))
        for batch in chunks([b for k, b in current.items() if k not in wanted]):
            group.remove(batch)
        for batch in chunks([b for k, b in wanted.items() if k not in current]):
            group.add(batch)
        for batch in chunks([b for k, b in wanted.items() if k in current and current[k].weight != b.weight]):
            group.set_weights(batch)

    return work


# --- the benchmark -----------------------------------------------------------------------------------


SCENARIOS = ("initial", "churn", "no-op")


def run(args: argparse.Namespace, say: Callable[[str], None]) -> list[Outcome]:
    rng = random.Random(args.seed)
    before_churn = initial_fleet(args.regions, args.backends)
    after_churn = churned(before_churn, rng)
    fleets = {"initial": before_churn, "churn": after_churn, "no-op": after_churn}
    starts: dict[str, Optional[Fleet]] = {"initial": None, "churn": before_churn, "no-op": after_churn}
    views = {name: view_of(fleet) for name, fleet in fleets.items()}
    instances = {n.instance_id for fleet in (before_churn, after_churn) for nodes in fleet.values() for n in nodes}
    everywhere = list(range(args.regions))
    outcomes: list[Outcome] = []

    def cloud() -> Cloud:
        return Cloud(args.regions, instances, args.latency)

    # ack-edge-lb: the three scenarios in a row on one emulator.
    owned: dict[int, frozenset] = {}
    with cloud() as c:
        for name in SCENARIOS:
            say(f"ack-edge-lb: {name} ({args.regions} groups, {args.workers} workers)")
            outcomes.append(measure(c, "ours", name, everywhere, fleets[name], ours(c, views[name], owned),
                                    args.workers, args.timeout, args.limits))

    # Baselines: each scenario from the same starting state, seeded.
    b_initial = everywhere[:args.b_initial_regions] if args.b_initial_regions else everywhere
    for method, workers in (("one", args.workers), ("fixed", 1)):
        with cloud() as c:
            for name in SCENARIOS:
                regions, note = everywhere, ""
                if method == "fixed" and name == "initial" and len(b_initial) < len(everywhere):
                    regions, note = b_initial, f"first {len(b_initial)} of {len(everywhere)} regions"
                start = starts[name]
                for r in everywhere:
                    c.seed(r, expected(start[r]) if start is not None else {})
                say(f"{METHODS[method]}: {name} ({len(regions)} groups, {workers} worker{'s' * (workers > 1)})")
                work = (one_call if method == "one" else fixed_19)(c, views[name])
                outcomes.append(measure(c, method, name, regions, fleets[name], work, workers, args.timeout,
                                        args.limits, note))
    return outcomes


# --- report ------------------------------------------------------------------------------------------


def verdict(ok: bool) -> str:
    return "[green]PASS[/green]" if ok else "[red]MISS[/red]"


def label(method: str) -> str:
    return METHODS[method] if method == "ours" else f"[dim]{METHODS[method]}[/dim]"


def report(outcomes: list[Outcome], args: argparse.Namespace) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(width=None if sys.stdout.isatty() else 140)
    console.print(f"[bold]BackendSync at scale[/bold]: {args.regions} regions x {args.backends} backends, "
                  f"latency {args.latency * 1000:g} ms per call, {args.workers} workers; client window "
                  f"{args.client} (shared by Add/Set/Remove), emulator "
                  f"{Ens.RATE_LIMITS['AddBackendServers']:g} calls/s burst 10 per action; at most {LIMIT} servers "
                  f"per call; churn: {CHURN:.0%} of the nodes replaced + {CORDON:.0%} cordoned per region")

    def section(i: int) -> bool:
        return i + 1 < len(outcomes) and outcomes[i + 1].method != outcomes[i].method

    def who(o: Outcome) -> tuple[str, str]:
        groups = f"{o.groups}/{args.regions}" if o.groups < args.regions else str(o.groups)
        return label(o.method), groups

    writes = Table(title="Write calls per scenario",
                   caption=f"lower bound: Σ over groups and kinds (add, weight update, remove) of ⌈changes/{LIMIT}⌉; "
                           "writes: the calls the method made (refused ones included); throttled: extra requests "
                           "the emulator answered Throttling.User, each retried by retry.call")
    for col, justify in (("scenario", "left"), ("method", "left"), ("groups", "right"), ("add/upd/rm", "right"),
                         ("writes", "right"), ("lower bd", "right"), ("ratio", "right"), ("target", "left"),
                         ("throttled", "right"), ("target", "left")):
        writes.add_column(col, justify=justify, no_wrap=True)
    for i, o in enumerate(outcomes):
        mine = o.method == "ours"
        logical = o.write_calls - o.throttled
        ratio = logical / o.lower_bound if o.lower_bound else (1.0 if logical == 0 else math.inf)
        writes.add_row(o.scenario, *who(o), f"{o.changes['add']}/{o.changes['update']}/{o.changes['remove']}",
                       str(logical) + (f" ({sum(o.refused.values())} refused)" if o.refused else ""),
                       str(o.lower_bound), "-" if ratio == math.inf else f"{ratio:.2f}",
                       verdict(logical == o.lower_bound) if mine else "", str(o.throttled),
                       verdict(o.throttled == 0) if mine else "", end_section=section(i))
    console.print(writes)

    reads = Table(title="Reads, failures and final state",
                  caption="reads: DescribeLoadBalancerAttribute requests, target ≤ 1 per group (no-op: and no "
                          "write); final = desired: groups whose ELB holds exactly the expected servers and weights")
    for col, justify in (("scenario", "left"), ("method", "left"), ("groups", "right"), ("reads", "right"),
                         ("target", "left"), ("failed groups", "left"), ("final = desired", "right"),
                         ("target", "left")):
        reads.add_column(col, justify=justify, no_wrap=True)
    for i, o in enumerate(outcomes):
        mine = o.method == "ours"
        reads_ok = o.reads <= o.groups and (o.scenario != "no-op" or o.write_calls == 0)
        failed = ", ".join(f"{n} ({code})" for code, n in o.failed.most_common()) or "0"
        reads.add_row(o.scenario, *who(o), str(o.reads), verdict(reads_ok) if mine else "", failed,
                      f"{o.equal}/{o.groups}", verdict(o.equal == o.groups) if mine else "", end_section=section(i))
    console.print(reads)

    times = Table(title="Wall time per scenario",
                  caption=f"bound: the critical path under the rate limit (module docstring): rate = "
                          f"2L + ⌊(W−1)/{QUOTA.calls}⌋·{QUOTA.period:g} s, group = (1+w_max)·L, workers = "
                          f"max((G+W)/workers, ⌈G/workers⌉)·L, W the lower bound of writes; target ≤ {WALL_TARGET}x; "
                          "cpu: process CPU time, the in-process emulator's included (one GIL for both)")
    for col, justify in (("scenario", "left"), ("method", "left"), ("groups", "right"), ("workers", "right"),
                         ("wall s", "right"), ("cpu s", "right"), ("bound s", "right"), ("bound by", "left"),
                         ("ratio", "right"), ("target", "left")):
        times.add_column(col, justify=justify, no_wrap=True)
    for i, o in enumerate(outcomes):
        ratio = o.wall / o.bound if o.bound > 0 else math.inf
        times.add_row(o.scenario, *who(o), str(o.workers), f"{o.wall:.2f}", f"{o.cpu:.2f}", f"{o.bound:.2f}", o.basis,
                      "-" if ratio == math.inf else f"{ratio:.2f}",
                      verdict(round(ratio, 2) <= WALL_TARGET) if o.method == "ours" else "", end_section=section(i))
    console.print(times)

    notes = [f"{label(o.method)} {o.scenario}: {o.note}" for o in outcomes if o.note]
    notes += [f"{label(o.method)} {o.scenario}: refused {code} x{n}" for o in outcomes for code, n in o.refused.items()]
    for line in notes:
        console.print(f"  note: {line}")


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help=f"small run: {QUICK['regions']} regions x {QUICK['backends']} backends, a few seconds")
    parser.add_argument("--regions", type=int, help=f"ENS regions, one ELB each (default {DEFAULTS['regions']})")
    parser.add_argument("--backends", type=int, help=f"nodes (backends) per region (default {DEFAULTS['backends']})")
    parser.add_argument("--latency", type=float, help=f"seconds per call in the emulator (default {DEFAULTS['latency']})")
    parser.add_argument("--workers", type=int, help=f"threads syncing groups at once (default {DEFAULTS['workers']})")
    parser.add_argument("--b-initial-regions", type=int, default=10,
                        help="regions baseline (b) syncs in the initial scenario (default %(default)s; 0: all)")
    parser.add_argument("--full-baselines", action="store_true", help="baseline (b) on every region in every scenario")
    parser.add_argument("--timeout", type=float, default=900.0,
                        help="seconds a scenario may take before its unfinished groups count as failed "
                             "(default %(default)s)")
    parser.add_argument("--seed", type=int, default=1, help="which nodes churn (default %(default)s)")
    parser.add_argument("--rate-limits", default="", metavar="JSON",
                        help=f"client rate limits over the defaults and {ratelimit.ENV}, as in that variable")
    args = parser.parse_args(argv)
    try:
        args.limits = ratelimit.limits_from_text(args.rate_limits, "--rate-limits")
        args.client = ratelimit.configure(args.limits)["ens.backends"]
    except ratelimit.RateLimitError as exc:
        parser.error(str(exc))
    ratelimit.reset()

    base = QUICK if args.quick else DEFAULTS
    for key, value in base.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    if args.quick or args.full_baselines:
        args.b_initial_regions = 0
    if args.regions < 1 or args.backends < 1 or args.workers < 1:
        parser.error("--regions, --backends and --workers must be at least 1")
    if not 0 <= args.latency <= 5:
        parser.error("--latency: 0 to 5 seconds")
    if args.b_initial_regions < 0 or args.timeout <= 0:
        parser.error("--b-initial-regions must be >= 0 and --timeout > 0")

    import alibabacloud_ens20171110.client  # noqa: F401 - pay the SDK's import before anything is timed
    import alibabacloud_ens20171110.models  # noqa: F401
    from rich.console import Console

    progress = Console(stderr=True)
    started = time.perf_counter()
    outcomes = run(args, lambda text: progress.print(f"[dim]{time.perf_counter() - started:6.1f}s  {text}[/dim]"))
    report(outcomes, args)
    progress.print(f"[dim]total {time.perf_counter() - started:.1f} s[/dim]")
    return 0


if __name__ == "__main__":
    sys.exit(main())
