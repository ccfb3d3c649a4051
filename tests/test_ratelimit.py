"""The client-side rate limits: a sliding window that never admits more than the quota in any window (threads
included, on virtual time), the first ENS second against the former token bucket, bounded waits, and the
configuration (stack setting, ACK_EDGE_LB_RATE_LIMITS, configure)."""

from __future__ import annotations

import heapq
import math
import random
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from fractions import Fraction

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciler import ratelimit
from reconciler.ratelimit import ENV, QUOTAS, Limit, RateLimitError, SlidingWindow, configure, limits_from_text


@pytest.fixture(autouse=True)
def fresh_rate_limits(monkeypatch):
    monkeypatch.delenv(ENV, raising=False)
    ratelimit.reset()
    yield
    ratelimit.reset()


class ManualClock:
    """One caller's time: sleeping moves it on."""

    def __init__(self, now: float = 0.0) -> None:
        self.now, self.slept = now, []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


class VirtualTime:
    """Time shared by worker threads that moves only when all of them sleep, then to the earliest wake-up.

    So a worker that reads the clock right after `acquire` returns reads the time it was admitted at, whatever
    the scheduler does, and a test with many threads and long windows runs in milliseconds.
    """

    def __init__(self, workers: int) -> None:
        self.now = 0.0
        self._cond = threading.Condition()
        self._running = workers
        self._wakeups: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        with self._cond:
            until = self.now + seconds
            heapq.heappush(self._wakeups, until)
            self._running -= 1
            self._cond.notify_all()
            while self.now < until:
                self._cond.wait()

    def done(self) -> None:
        with self._cond:
            self._running -= 1
            self._cond.notify_all()

    def drive(self, real_timeout: float = 20.0) -> None:
        give_up = time.monotonic() + real_timeout
        with self._cond:
            while True:
                while self._running > 0:
                    assert self._cond.wait(timeout=give_up - time.monotonic()), "a worker never slept nor ended"
                if not self._wakeups:
                    return
                self.now = heapq.heappop(self._wakeups)
                woken = 1
                while self._wakeups and self._wakeups[0] <= self.now:
                    heapq.heappop(self._wakeups)
                    woken += 1
                self._running += woken  # counted here: the driver must not move on before they run
                self._cond.notify_all()


@dataclass
class Run:
    requested: list[float] = field(default_factory=list)  # per admission, when its caller asked
    admitted: list[float] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def run_threads(limit: Limit, gaps: list[list[float]]) -> Run:
    """One thread per list: it sleeps each gap (random call times), then acquires a slot."""
    time_ = VirtualTime(len(gaps))
    window = SlidingWindow(limit, clock=time_.clock, sleep=time_.sleep)
    run, errors = Run(), []

    def worker(mine: list[float]) -> None:
        try:
            for gap in mine:
                time_.sleep(gap)
                asked = time_.clock()
                window.acquire(timeout=math.inf)
                with run.lock:
                    run.requested.append(asked)
                    run.admitted.append(time_.clock())
        except BaseException as exc:  # noqa: BLE001 - reported by the test thread
            errors.append(exc)
        finally:
            time_.done()

    threads = [threading.Thread(target=worker, args=(g,), daemon=True) for g in gaps]
    for t in threads:
        t.start()
    time_.drive()
    for t in threads:
        t.join(5)
    assert not errors, errors
    return run


def most_in_any_window(stamps: list[float], length: float) -> int:
    """The most stamps in one closed interval [t, t + length]."""
    stamps, most, first = sorted(stamps), 0, 0
    for last, stamp in enumerate(stamps):
        while stamp > stamps[first] + length:
            first += 1
        most = max(most, last - first + 1)
    return most


limits = st.builds(Limit, calls=st.integers(1, 12),
                   period=st.sampled_from([1.0, 0.5, 60.0]) | st.floats(0.05, 100),
                   margin=st.sampled_from([0.0, 0.1]) | st.floats(0.001, 1))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(limit=limits, data=st.data())
def test_no_window_ever_holds_more_than_the_quota_whatever_the_threads_do(limit, data):
    gap = st.sampled_from([0.0, limit.period, limit.window]) | st.floats(0, 2 * limit.window)
    gaps = data.draw(st.lists(st.lists(gap, min_size=1, max_size=15), min_size=2, max_size=8), label="gaps")
    run = run_threads(limit, gaps)

    assert len(run.admitted) == sum(map(len, gaps))  # every caller got through
    admitted = sorted(run.admitted)
    for i in range(len(admitted) - limit.calls):  # the call `calls` later comes a whole window later
        assert admitted[i + limit.calls] >= admitted[i] + limit.window  # as the limiter adds, to the last bit
    if limit.margin > 0:  # then closed intervals of the period too: [0, 1 s] of ENS holds 10, not 11
        assert most_in_any_window(admitted, limit.period) <= limit.calls
    # Never later than needed: a caller is let through when it asks or when the oldest slot frees.
    for asked, at in zip(run.requested, run.admitted, strict=True):
        assert at >= asked
        assert at == asked or any(math.isclose(at, a + limit.window, abs_tol=1e-9) for a in admitted)


def greedy_first_second(limiter) -> int:
    """Calls a caller who asks as fast as it may gets through in [0 s, 1 s]."""
    clock, admitted = limiter.clock, 0
    while clock() <= 1.0:
        limiter.acquire()
        admitted += clock() <= 1.0
    return admitted


@dataclass
class FormerTokenBucket:
    """The limiter before issue 10 (9 calls/s, 90% of the quota, with a burst of 10), condensed."""

    rate: Fraction
    burst: int
    clock: ManualClock

    def __post_init__(self) -> None:
        self.tokens, self.stamp = self.burst, self.clock()

    def acquire(self) -> None:
        while True:
            now = self.clock()
            self.tokens, self.stamp = min(self.burst, self.tokens + (now - self.stamp) * self.rate), now
            if self.tokens >= 1:
                self.tokens -= 1
                return
            self.clock.sleep((1 - self.tokens) / self.rate)


def test_the_first_ens_second_admits_the_quota_where_the_former_bucket_admitted_19():
    # Exact time: in floats the former bucket can spin on a last token of 0.9999999999999999.
    assert greedy_first_second(FormerTokenBucket(Fraction(9), 10, ManualClock(Fraction(0)))) == 19

    clock = ManualClock()
    window = SlidingWindow(QUOTAS["ens.backends"], clock=clock, sleep=clock.sleep)
    assert greedy_first_second(window) == 10
    assert clock.slept == [pytest.approx(1.1)]  # the 11th waited for the window (1 s + 0.1 s margin)


def test_no_second_of_a_long_greedy_run_holds_more_than_10_ens_calls():
    clock = ManualClock()
    window = SlidingWindow(QUOTAS["ens.backends"], clock=clock, sleep=clock.sleep)
    stamps = []
    while clock() < 10:
        window.acquire()
        stamps.append(clock())
    assert most_in_any_window(stamps, 1.0) == 10
    assert len([s for s in stamps if s < 10]) == 100  # 10 every 1.1 s: the margin costs a tenth of the rate, no more


def refused_by_a_cloud_window(arrivals: list[float], limit: Limit) -> int:
    """What a cloud that counts a sliding window of the quota (refusals not counted) would refuse."""
    kept: deque = deque()
    refused = 0
    for at in sorted(arrivals):
        while kept and kept[0] <= at - limit.period:
            kept.popleft()
        if len(kept) < limit.calls:
            kept.append(at)
        else:
            refused += 1
    return refused


@pytest.mark.parametrize("margin, refused", [(0.1, range(0, 1)), (0.0, range(150, 210))])
def test_the_margin_absorbs_arrival_jitter_up_to_its_length(margin, refused):
    # Calls let go here reach the cloud 0 to 100 ms later (connection set-up, latency): without the
    # margin, a cloud counting a sliding window of the quota refuses about one call in six.
    clock, rng = ManualClock(), random.Random(1)
    window = SlidingWindow(Limit(10, 1.0, margin), clock=clock, sleep=clock.sleep)
    arrivals = []
    for _ in range(1000):
        window.acquire(timeout=math.inf)
        arrivals.append(clock() + rng.uniform(0, 0.1))
    assert refused_by_a_cloud_window(arrivals, QUOTAS["ens.backends"]) in refused


def test_without_margin_the_window_is_exactly_the_quota():
    clock = ManualClock()
    window = SlidingWindow(Limit(10, 1.0, margin=0), clock=clock, sleep=clock.sleep)
    for _ in range(11):
        window.acquire()
    assert clock() == 1.0  # half-open windows: [0, 1) held 10, the 11th opens [1, 2)


def test_waiting_is_bounded():
    clock = ManualClock()
    window = SlidingWindow(Limit(2, 60.0, margin=0.5), name="rate limit nlb.servers", clock=clock, sleep=clock.sleep)
    window.acquire(timeout=0)
    window.acquire(timeout=0)  # free slots: no wait, whatever the timeout
    with pytest.raises(TimeoutError, match=r"rate limit nlb\.servers \(2 calls per 60 s \(\+0\.5 s margin\)\): "
                                           r"no call slot within 30 s"):
        window.acquire(timeout=30)
    assert clock.slept == []  # it knew the wait (60.5 s) was too long and did not start it
    window.acquire(timeout=60.5)
    assert clock() == 60.5


def test_waiting_is_bounded_on_the_real_clock():
    window = SlidingWindow(Limit(2, 0.2, margin=0))
    start = time.monotonic()
    for _ in range(4):  # two now, two 0.2 s later
        window.acquire(timeout=1)
    assert 0.19 <= time.monotonic() - start < 1.0
    start = time.monotonic()
    with pytest.raises(TimeoutError):
        window.acquire(timeout=0.05)
    assert time.monotonic() - start < 0.05


def test_one_window_per_account_and_family_shared_by_every_caller():
    ens = ratelimit.limiter("ens", "backends", "acct-1")
    assert ratelimit.limiter("ens", "backends", "acct-1") is ens
    assert ratelimit.limiter("ens", "backends", "acct-2") is not ens
    assert ratelimit.limiter("nlb", "servers", "acct-1") is not ens
    assert ens.limit == Limit(10, 1.0, 0.1)
    assert ratelimit.limiter("nlb", "servers", "acct-1").limit == Limit(200, 60.0)
    assert ratelimit.limiter("clb", "write", "acct-1").limit == Limit(90, 60.0)


# --- configuration -----------------------------------------------------------------------------------


def test_limits_from_text_takes_calls_per_period_or_an_object():
    assert limits_from_text('{"nlb.servers": 100}') == {"nlb.servers": Limit(100, 60.0)}
    assert limits_from_text('{"ens.backends": {"calls": 8, "period": 2, "margin": 0}, "clb.write": {"calls": 45}}') == {
        "ens.backends": Limit(8, 2.0, 0.0), "clb.write": Limit(45, 60.0)}
    assert limits_from_text('{"nlb.servers": 100.0}') == {"nlb.servers": Limit(100, 60.0)}
    assert limits_from_text("") == limits_from_text("  \n") == limits_from_text("{}") == {}


@pytest.mark.parametrize("text, message", [
    ('{"nlb.server": 100}', "ack-edge-lb:rateLimits: unknown API family 'nlb.server'; use one of clb.write, "
                            "ens.backends, nlb.servers"),
    ('{"nlb.servers": 0}', "ack-edge-lb:rateLimits['nlb.servers'].calls: a whole number above 0 is needed, got 0; "
                           'for example {"nlb.servers": 100} or {"nlb.servers": {"calls": 100, "period": 60}}'),
    ('{"nlb.servers": -3}', "['nlb.servers'].calls: a whole number above 0 is needed, got -3"),
    ('{"nlb.servers": 2.5}', "['nlb.servers'].calls: a whole number above 0 is needed, got 2.5"),
    ('{"nlb.servers": true}', "['nlb.servers'].calls: a whole number above 0 is needed, got true"),
    ('{"nlb.servers": "100"}', "['nlb.servers'].calls: a whole number above 0 is needed, got \"100\""),
    ('{"clb.write": {"calls": 45, "period": 0}}', "['clb.write'].period: a number of seconds above 0 is needed, got 0"),
    ('{"clb.write": {"calls": 45, "margin": -1}}', "['clb.write'].margin: a number of seconds of 0 or more is needed"),
    ('{"clb.write": {"calls": 45, "burst": 10}}', "['clb.write']: unknown field 'burst'; give calls per period"),
    ('{"clb.write": {"period": 60}}', "['clb.write']: no 'calls'"),
    ('{"nlb.servers": 300}', "['nlb.servers']: 300 calls per 60 s exceeds the documented quota of 200 calls per "
                             "60 s per account; use at most 200 calls over at least 60 s"),
    ('{"ens.backends": {"calls": 5, "period": 0.5}}', "5 calls per 0.5 s exceeds the documented quota of 10 calls"),
    ('{"nlb.servers": 100', "ack-edge-lb:rateLimits: not JSON (Expecting ',' delimiter at column 20); give an object"),
    ('[["nlb.servers", 100]]', "ack-edge-lb:rateLimits: a JSON object of API family to calls is needed, got list"),
])
def test_bad_settings_name_the_key_and_the_fix(text, message):
    with pytest.raises(RateLimitError) as caught:
        limits_from_text(text)
    assert message in str(caught.value)
    assert isinstance(caught.value, ValueError)


def test_the_environment_applies_at_first_use_and_names_itself_when_wrong(monkeypatch):
    monkeypatch.setenv(ENV, '{"nlb.servers": 50}')
    assert ratelimit.limiter("nlb", "servers", "a").limit == Limit(50, 60.0)
    assert ratelimit.limiter("ens", "backends", "a").limit == QUOTAS["ens.backends"]

    ratelimit.reset()
    monkeypatch.setenv(ENV, '{"nlb.servers": 0}')
    with pytest.raises(RateLimitError, match=rf"^{ENV}\['nlb.servers'\].calls: a whole number above 0"):
        ratelimit.limiter("nlb", "servers", "a")


def test_configure_overrides_the_environment_family_by_family(monkeypatch):
    monkeypatch.setenv(ENV, '{"nlb.servers": 50, "clb.write": 30}')
    now = configure(limits_from_text('{"nlb.servers": 100}'))
    assert now == {"nlb.servers": Limit(100, 60.0), "clb.write": Limit(30, 60.0), "ens.backends": Limit(10, 1.0)}
    assert ratelimit.limiter("nlb", "servers", "a").limit == Limit(100, 60.0)
    # The stack setting may arrive already parsed (config.get_object): plain values work as well.
    configure({"ens.backends": {"calls": 8}})
    assert ratelimit.limiter("ens", "backends", "a").limit == Limit(8, 1.0)
    assert ratelimit.limiter("nlb", "servers", "a").limit == Limit(50, 60.0)  # back to the environment's
    with pytest.raises(RateLimitError, match=r"^ack-edge-lb:rateLimits: unknown API family 'ens.listeners'"):
        configure({"ens.listeners": 5})
    assert ratelimit.limiter("ens", "backends", "a").limit == Limit(8, 1.0)  # a refused setting changes nothing


def test_a_window_in_use_takes_a_new_limit_and_keeps_its_count():
    window = ratelimit.limiter("ens", "backends", "a")
    clock = ManualClock()
    window.clock, window.sleep = clock, clock.sleep
    for _ in range(8):
        window.acquire()
    configure({"ens.backends": 5})
    assert ratelimit.limiter("ens", "backends", "a") is window and window.limit == Limit(5, 1.0)
    window.acquire()
    assert clock() == pytest.approx(1.1)  # the 8 calls already made still count against the 5
