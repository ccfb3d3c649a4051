"""Client-side rate limits per account and API family, shared by every group the process syncs.

Pulumi runs all dynamic resources of a program in one provider process, and the cloud's limits are per
account: so one sliding window per (product, API family, account) lives here, module-wide, and every sync
thread takes its call slots from it (`limiter(...).acquire`, once per attempt, retries included).

A window admits at most `calls` acquisitions in any interval of `period + margin` seconds, so never more than
the documented quota in any window of its period, wherever the cloud starts its windows. (A token bucket at
the quota rate does not: with a burst of 10 on top of 9 calls/s it let 19 ENS calls through in one second.)
The margin is there because the cloud counts a call when it arrives, not when we let it go: connection set-up
and latency differ from call to call, and two calls `period` apart here may land closer together there. It is
time added to the window, not calls taken from the quota: the first second still gets all 10 ENS calls.

Limits are configurable, because the NLB quota (and any other) is shared with CCM, ECM, the console and every
other tool of the account. Keys are "<product>.<family>" (`ens.backends`, `nlb.servers`, `clb.write`); a value
is calls per the family's period, or `{"calls": N, "period": seconds, "margin": seconds}` (period and margin
optional). Limits above the documented quota are refused.

    configure(limits)        the process's limits: the defaults, then the environment, then `limits`
                             (the stack setting `ack-edge-lb:rateLimits`, or the controller's flags)
    limits_from_text(text)   parse the JSON form, e.g. '{"nlb.servers": 100, "ens.backends": {"calls": 8}}'
    limits()                 the limits in force (for logs and reports)

The environment variable ACK_EDGE_LB_RATE_LIMITS (the same JSON) is read at first use. Each error names the
setting, the key and the fix (`RateLimitError`, a ValueError).
"""

from __future__ import annotations

import json
import math
import os
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Optional

ENV = "ACK_EDGE_LB_RATE_LIMITS"
SETTING = "ack-edge-lb:rateLimits"
# Seconds added to every window: more than the arrival jitter of calls from one process (a new TLS connection
# costs a few round trips more than a reused one), and under 10% of the shortest quota period (ENS's second).
MARGIN = 0.1


@dataclass(frozen=True)
class Limit:
    """At most `calls` acquisitions in any `period + margin` seconds."""

    calls: int
    period: float
    margin: float = MARGIN

    @property
    def window(self) -> float:
        return self.period + self.margin

    def __str__(self) -> str:
        return f"{self.calls} calls per {self.period:g} s (+{self.margin:g} s margin)"


# Documented per-account quotas (FACTS.md section 2).
QUOTAS: dict[str, Limit] = {
    "ens.backends": Limit(10, 1.0),   # Add/Remove/SetBackendServers: one window for the three, the safe reading
    "nlb.servers": Limit(200, 60.0),  # AddServersToServerGroup, and its Remove/Update siblings
    "clb.write": Limit(90, 60.0),     # CLB write APIs
}


class RateLimitError(ValueError):
    """A rate-limit setting that cannot be used; the message names the setting, the key and the fix."""


def _example(key: str) -> str:
    quota = QUOTAS[key]
    return f'{{"{key}": {quota.calls // 2}}} or {{"{key}": {{"calls": {quota.calls // 2}, "period": {quota.period:g}}}}}'


def _number(value: Any, where: str, fix: str, *, whole: bool = False, zero: bool = False) -> float:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    ok = ok and (value >= 0 if zero else value > 0) and (not whole or float(value).is_integer())
    if not ok:
        kind = "a whole number" if whole else "a number of seconds"
        raise RateLimitError(f"{where}: {kind} {'of 0 or more' if zero else 'above 0'} is needed, "
                             f"got {json.dumps(value, default=repr)}; {fix}")
    return value


def parse_limit(key: str, value: Any, source: str = SETTING) -> Limit:
    """One setting's value as a Limit, checked against the family's documented quota."""
    if key not in QUOTAS:
        raise RateLimitError(f"{source}: unknown API family {key!r}; use one of {', '.join(sorted(QUOTAS))}")
    quota, where, fix = QUOTAS[key], f"{source}[{key!r}]", f"for example {_example(key)}"
    if isinstance(value, Limit):
        value = {"calls": value.calls, "period": value.period, "margin": value.margin}
    if not isinstance(value, Mapping):
        value = {"calls": value}
    unknown = sorted(set(value) - {"calls", "period", "margin"})
    if unknown or "calls" not in value:
        what = f"unknown field {unknown[0]!r}" if unknown else "no 'calls'"
        raise RateLimitError(f"{where}: {what}; give calls per period as a number, {fix}")
    limit = Limit(int(_number(value["calls"], f"{where}.calls", fix, whole=True)),
                  float(_number(value.get("period", quota.period), f"{where}.period", fix)),
                  float(_number(value.get("margin", MARGIN), f"{where}.margin", fix, zero=True)))
    if limit.calls > quota.calls or limit.period < quota.period:
        raise RateLimitError(f"{where}: {limit.calls} calls per {limit.period:g} s exceeds the documented quota of "
                             f"{quota.calls} calls per {quota.period:g} s per account; use at most {quota.calls} "
                             f"calls over at least {quota.period:g} s, {fix}")
    return limit


def limits_from_text(text: str, source: str = SETTING) -> dict[str, Limit]:
    """The JSON form of the setting (or of ACK_EDGE_LB_RATE_LIMITS) as checked limits; empty text: none."""
    if not text.strip():
        return {}
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise RateLimitError(f"{source}: not JSON ({exc.msg} at column {exc.colno}); give an object such as "
                             f"{_example('nlb.servers')}") from None
    if not isinstance(data, dict):
        raise RateLimitError(f"{source}: a JSON object of API family to calls is needed, got {type(data).__name__};"
                             f" for example {_example('nlb.servers')}")
    return {key: parse_limit(key, value, source) for key, value in data.items()}


# Told each time a call has to wait for its slot (the controller's throttle metric): fn(window name, seconds).
WAIT_OBSERVERS: list[Callable[[str, float], None]] = []


@dataclass
class SlidingWindow:
    """At most `limit.calls` acquisitions in any `limit.window` seconds; thread-safe, memory O(calls)."""

    limit: Limit
    name: str = "rate limit"
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    _stamps: deque = field(init=False, repr=False)  # the last `calls` admission times, oldest first
    _lock: threading.Lock = field(init=False, repr=False, default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self._stamps = deque(maxlen=self.limit.calls)

    def acquire(self, timeout: float = 300.0) -> None:
        """Take one call slot, waiting as long as the window requires (TimeoutError past `timeout`)."""
        deadline = self.clock() + timeout
        while True:
            with self._lock:
                now = self.clock()
                if len(self._stamps) < self._stamps.maxlen or now >= self._stamps[0] + self.limit.window:
                    self._stamps.append(now)  # drops the oldest: it is outside every window from now on
                    return
                wait = self._stamps[0] + self.limit.window - now
            if now + wait > deadline:
                raise TimeoutError(f"{self.name} ({self.limit}): no call slot within {timeout:g} s")
            for observe in WAIT_OBSERVERS:
                observe(self.name, wait)
            self.sleep(wait)

    def set_limit(self, limit: Limit) -> None:
        """A new limit that still counts the calls already made (a fresh window could exceed the quota)."""
        with self._lock:
            self.limit, self._stamps = limit, deque(self._stamps, maxlen=limit.calls)


_WINDOWS: dict[tuple[str, str, str], SlidingWindow] = {}
_LIMITS: dict[str, Limit] = {}  # the process's limits, once loaded (defaults, environment, configure)
_REGISTRY_LOCK = threading.Lock()


def _load(overrides: Optional[Mapping[str, Any]] = None, source: str = SETTING) -> dict[str, Limit]:
    loaded = {**QUOTAS, **limits_from_text(os.environ.get(ENV, ""), ENV)}
    loaded.update({key: parse_limit(key, value, source) for key, value in (overrides or {}).items()})
    return loaded


def configure(limits: Optional[Mapping[str, Any]] = None, source: str = SETTING) -> dict[str, Limit]:
    """Set the process's limits: documented quotas, then ACK_EDGE_LB_RATE_LIMITS, then `limits`.

    `limits` maps "<product>.<family>" to calls per period, `{"calls", "period", "margin"}` or a Limit, as
    `limits_from_text` returns it; families it does not name keep their default. Windows already in use
    take the new limit and keep counting the calls they admitted. Returns the limits now in force.
    """
    loaded = _load(limits, source)
    with _REGISTRY_LOCK:
        _LIMITS.clear()
        _LIMITS.update(loaded)
        for (product, family, _), window in _WINDOWS.items():
            window.set_limit(loaded[f"{product}.{family}"])
    return dict(loaded)


def _in_force() -> dict[str, Limit]:
    """The limits, loaded at first use (the registry lock held): a bad environment raises, every time."""
    if not _LIMITS:
        _LIMITS.update(_load())
    return _LIMITS


def limits() -> dict[str, Limit]:
    """The limits in force (the first use reads ACK_EDGE_LB_RATE_LIMITS)."""
    with _REGISTRY_LOCK:
        return dict(_in_force())


def limiter(product: str, family: str, account: str) -> SlidingWindow:
    """The process-wide window of one account's API family."""
    key, name = (product, family, account), f"{product}.{family}"
    with _REGISTRY_LOCK:
        if key not in _WINDOWS:
            _WINDOWS[key] = SlidingWindow(_in_force()[name], name=f"rate limit {name}")
        return _WINDOWS[key]


def reset() -> None:
    """Forget every window and the configured limits (tests and benchmarks start from empty windows)."""
    with _REGISTRY_LOCK:
        _WINDOWS.clear()
        _LIMITS.clear()

