"""Client-side rate limits per account and API, shared by every group the process syncs.

Pulumi runs all dynamic resources of a program in one provider process, and the cloud's limits are
per account: so one token bucket per (product, access key, API family) lives here, module-wide,
and every sync thread takes its tokens from it. Waiting is bounded by the caller's patience.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Callable

# Documented write quotas (FACTS.md section 2), in calls per second per account.
QUOTAS: dict[tuple[str, str], float] = {
    ("ens", "backends"): 10.0,      # Add/Remove/SetBackendServers (one bucket for the three: the safe reading)
    ("nlb", "servers"): 200 / 60,   # AddServersToServerGroup, and its Remove/Update siblings
    ("clb", "write"): 90 / 60,      # CLB write APIs
}
# Run a little under the quota: at exactly the quota, timing differences between us and the cloud
# made it refuse about one call in twenty (bench/sync_scale.py); the account may also be shared with
# ECM, CCM or the console. The burst is the cloud's own (10 calls), so short syncs are not slowed.
HEADROOM = 0.9
BURST = 10
RATES: dict[tuple[str, str], tuple[float, int]] = {key: (q * HEADROOM, BURST) for key, q in QUOTAS.items()}


@dataclass
class TokenBucket:
    rate: float                    # tokens per second
    burst: int                     # bucket size
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    _tokens: float = field(init=False)
    _stamp: float = field(init=False)
    _lock: threading.Lock = field(init=False, default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self._tokens, self._stamp = float(self.burst), self.clock()

    def acquire(self, timeout: float = 300.0) -> None:
        """Take one token, waiting as long as the rate requires (TimeoutError past `timeout`)."""
        deadline = self.clock() + timeout
        while True:
            with self._lock:
                now = self.clock()
                self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
                self._stamp = now
                if self._tokens >= 1:
                    self._tokens -= 1
                    return
                wait = (1 - self._tokens) / self.rate
            if self.clock() + wait > deadline:
                raise TimeoutError(f"rate limit: no call slot within {timeout:g} s")
            self.sleep(wait)


_BUCKETS: dict[tuple[str, str, str], TokenBucket] = {}
_REGISTRY_LOCK = threading.Lock()


def bucket(product: str, family: str, account: str) -> TokenBucket:
    """The process-wide bucket of one account's API family."""
    key = (product, family, account)
    with _REGISTRY_LOCK:
        if key not in _BUCKETS:
            rate, burst = RATES[(product, family)]
            _BUCKETS[key] = TokenBucket(rate, burst)
        return _BUCKETS[key]


def reset() -> None:
    """Forget every bucket (tests and benchmarks start from full buckets)."""
    with _REGISTRY_LOCK:
        _BUCKETS.clear()
