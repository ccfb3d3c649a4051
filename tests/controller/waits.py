"""Bounded waits and a background sampler of a backend group.

`wait_until(check, timeout, what, explain)` polls `check()` (a value that is truthy when done) until the deadline
and fails with what it waited for, the last value seen and `explain()` (the World passes the controllers' log
tails), so a failure says what the controller did. `Sampler` reads a group from the emulator's state every
`interval` seconds in a thread, keeping (time, servers) snapshots, for properties that must hold at every
moment (a group that should serve is never without a serving backend).
"""

from __future__ import annotations

import threading
import time
from typing import Any, Callable, Optional

Servers = dict[tuple[str, int], int]  # (server id, port) -> weight


def wait_until(check: Callable[[], Any], timeout: float, what: str, explain: Optional[Callable[[], str]] = None,
               interval: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        try:
            last = check()
        except AssertionError as exc:  # a check may say why it is not done yet
            last = exc
        else:
            if last:
                return last
        if time.monotonic() >= deadline:
            detail = f"\n{explain()}" if explain is not None else ""
            shown = repr(last)
            raise AssertionError(f"not within {timeout:g} s: {what} (last seen: {shown[:1500]}){detail}")
        time.sleep(interval)


def hold_for(check: Callable[[], Any], seconds: float, what: str, explain: Optional[Callable[[], str]] = None,
             interval: float = 0.05) -> None:
    """`check()` stays truthy for `seconds`: fails at the first moment it is not."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = check()
        if not value:
            detail = f"\n{explain()}" if explain is not None else ""
            raise AssertionError(f"stopped holding: {what} ({value!r}){detail}")
        time.sleep(interval)


class Sampler:
    """Snapshots of `read()` every `interval` s until stopped; use as a context manager."""

    def __init__(self, read: Callable[[], Servers], interval: float = 0.01):
        self.read, self.interval = read, interval
        self.snapshots: list[tuple[float, Servers]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="group-sampler", daemon=True)

    def __enter__(self) -> "Sampler":
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.snapshots.append((time.monotonic(), self.read()))
            self._stop.wait(self.interval)

    def never_without_serving(self) -> list[tuple[float, Servers]]:
        """The snapshots in which no backend had a weight above 0 (should be none)."""
        return [(t, s) for t, s in self.snapshots if not any(w > 0 for w in s.values())]

    def last_seen(self, key: tuple[str, int]) -> Optional[int]:
        """The weight `key` had in the last snapshot that held it."""
        for _, servers in reversed(self.snapshots):
            if key in servers:
                return servers[key]
        return None

    def first_seen(self, key: tuple[str, int]) -> Optional[float]:
        for t, servers in self.snapshots:
            if key in servers:
                return t
        return None
