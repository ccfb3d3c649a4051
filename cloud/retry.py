"""Retries with exponential backoff and full jitter, and bounded waits for asynchronous states.

Which errors are worth another try is decided from the SDK exception's code and HTTP status
(FACTS.md section 2): throttling, "busy" codes of a resource being changed, and 5xx. Transport
errors (connection reset, read timeout) are retried too; creating calls stay safe because the
providers adopt what an earlier, timed-out attempt already created.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from typing import Any, Callable, Optional, TypeVar

T = TypeVar("T")

THROTTLING = frozenset({"Throttling", "Throttling.User", "Throttling.Api", "Rejected.Throttling",
                        "ServiceUnavailable"})
BUSY = frozenset({"IncorrectEipStatus", "IncorrectLoadBalancerStatus", "Conflict.Lock",
                  "IncorrectStatus.serverGroup", "OperationFailed.ResourceIsConfiguring", "SystemBusy"})


TRANSPORT = frozenset({"RetryError", "UnretryableException"})


class CloudError(Exception):
    """A failed cloud call, with what was being done; never carries credentials."""

    def __init__(self, what: str, code: Optional[str], message: str, request_id: Optional[str] = None,
                 attempts: int = 1):
        self.what, self.code, self.request_id, self.attempts = what, code, request_id, attempts
        detail = f" (RequestId {request_id})" if request_id else ""
        tries = f" after {attempts} attempts" if attempts > 1 else ""
        super().__init__(f"{what} failed{tries}: {code or 'error'}: {message}{detail}")


class WaitTimeout(Exception):
    pass


def error_code(exc: BaseException) -> Optional[str]:
    return getattr(exc, "code", None)


def is_retryable(exc: BaseException) -> bool:
    code, status = error_code(exc), getattr(exc, "status_code", None)
    if code in THROTTLING or code in BUSY:
        return True
    if isinstance(status, int) and status >= 500:
        return True
    # No HTTP answer at all (connection refused or reset, read timeout): darabonba wraps the I/O
    # error in RetryError, and that in UnretryableException once its own (disabled) retry gives up.
    return type(exc).__name__ in TRANSPORT or isinstance(exc, (OSError, TimeoutError))


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 6
    base: float = 0.2      # seconds before the first retry (times 2**n, capped)
    cap: float = 5.0
    deadline: float = 60.0  # no retry starts after this many seconds


DEFAULT = RetryPolicy()


def call(fn: Callable[[], T], *, what: str, policy: RetryPolicy = DEFAULT,
         sleep: Callable[[float], None] = time.sleep, rng: Callable[[], float] = random.random) -> T:
    """`fn()`, retried while it fails with a retryable error; CloudError once it gives up."""
    started = time.monotonic()
    for attempt in range(1, policy.attempts + 1):
        try:
            return fn()
        except Exception as exc:  # noqa: BLE001 - classified below, re-raised as CloudError
            last = exc
            delay = rng() * min(policy.cap, policy.base * 2 ** (attempt - 1))
            out_of_time = time.monotonic() - started + delay > policy.deadline
            if not is_retryable(exc) or attempt == policy.attempts or out_of_time:
                break
            sleep(delay)
    raise CloudError(what, error_code(last), getattr(last, "message", None) or str(last),
                     getattr(last, "request_id", None), attempt) from None


def wait_for(probe: Callable[[], T], ready: Callable[[T], bool], *, what: str, timeout: float = 120.0,
             interval: float = 1.0, sleep: Callable[[float], None] = time.sleep,
             describe: Callable[[T], Any] = repr) -> T:
    """Poll `probe` until `ready(value)`; WaitTimeout naming the last state after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if ready(value):
            return value
        if time.monotonic() + interval > deadline:
            raise WaitTimeout(f"{what}: still {describe(value)} after {timeout:g} s")
        sleep(interval)


# Error codes meaning the resource no longer exists (`InvalidLoadBalancerId.NotFound`, `...NotExist`).
GONE_CODES = ("NotFound", "NotExist")


def gone(exc: BaseException) -> bool:
    """The cloud says the resource is not there (a read of it answers "gone", not an error)."""
    code = getattr(exc, "code", None) or ""
    return any(marker in code for marker in GONE_CODES)
