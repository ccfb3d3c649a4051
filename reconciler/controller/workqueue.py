"""The work queue: which groups need a sync, when, and never two syncs of one group at a time.

- `add(key, delay)`: the group becomes due after `delay` seconds (the coalescing window, or a retry's backoff).
  A group already waiting keeps the earlier due time, so a burst of events makes one sync.
- `get()` hands out the due group that has waited longest and marks it in progress; events for it meanwhile
  are remembered and make it due again once `done(key)` is called. So each group is serialised, and an event
  that arrives during its sync is never lost.
- `dirty_since(key)`: when the first event of the pending work arrived (for the latency metric).
"""

from __future__ import annotations

import heapq
import threading
import time
from typing import Callable, Optional


class WorkQueue:
    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self.clock = clock
        self._cond = threading.Condition()
        self._due: dict[str, float] = {}        # waiting groups -> due time
        self._heap: list[tuple[float, str]] = []
        self._busy: set[str] = set()
        self._again: dict[str, float] = {}      # in progress, with an event since: due time once done
        self._since: dict[str, float] = {}      # first event of the pending work
        self._closed = False

    def add(self, key: str, delay: float = 0.0, *, event: bool = True) -> None:
        """`event=False`: a timer (a drain's end, a retry), not a change: it does not start the latency clock."""
        with self._cond:
            if self._closed:
                return
            now = self.clock()
            due = now + max(0.0, delay)
            if event:
                self._since.setdefault(key, now)
            if key in self._busy:
                self._again[key] = min(self._again.get(key, due), due)
                return
            if key in self._due and self._due[key] <= due:
                return
            self._due[key] = due
            heapq.heappush(self._heap, (due, key))
            self._cond.notify()

    def get(self, timeout: float = 1.0) -> Optional[tuple[str, float]]:
        """The next due group and when its first pending event came; None after `timeout` or once closed."""
        deadline = self.clock() + timeout
        with self._cond:
            while not self._closed:
                now = self.clock()
                while self._heap and self._due.get(self._heap[0][1]) != self._heap[0][0]:
                    heapq.heappop(self._heap)  # superseded by an earlier due time
                if self._heap and self._heap[0][0] <= now:
                    _, key = heapq.heappop(self._heap)
                    del self._due[key]
                    self._busy.add(key)
                    return key, self._since.pop(key, now)
                wait = deadline - now
                if self._heap:
                    wait = min(wait, self._heap[0][0] - now)
                if wait <= 0 and deadline <= now:
                    return None
                self._cond.wait(max(wait, 0.001))
            return None

    def done(self, key: str) -> None:
        with self._cond:
            self._busy.discard(key)
            if key in self._again:
                due = self._again.pop(key)
                self._due[key] = due
                heapq.heappush(self._heap, (due, key))
                self._cond.notify()

    def depth(self) -> int:
        with self._cond:
            return len(self._due) + len(self._again)

    def idle(self) -> bool:
        with self._cond:
            return not self._due and not self._busy and not self._again

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()
