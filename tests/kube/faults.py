"""Faults of the fake API server for client and controller tests.

- `fail(prefix, status, times, retry_after)`: the next `times` requests under the path prefix answer a Status
  error (429 with Retry-After and details.retryAfterSeconds, as the max-in-flight filter sends it; 500; 503).
- `outage(seconds=None)`: every request answers 503 ServiceUnavailable (an apiserver behind a load balancer
  with no healthy backend) and open watch streams break without their last chunk; `refuse=True` closes the
  listening socket and every open connection instead (the apiserver process is down: connection refused),
  and listens again on the same port when the outage ends. `seconds=None` lasts until `end()`.
- `slow(prefix, seconds, times=None)`: requests under the prefix wait `seconds` before they are answered
  (a loaded apiserver, a slow network); waits end early when the server stops.
Outage and slowness come before authentication; injected errors after it, as the filter chain orders them.
"""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass
from http.server import ThreadingHTTPServer
from typing import Any, Optional

from tests.kube.wire import FAULT_MESSAGES, ApiError, Fault


class _Handle:
    def __init__(self, owner: "Faults") -> None:
        self._owner = owner

    def end(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> "_Handle":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.end()


class Outage(_Handle):
    def __init__(self, owner: "Faults", until: float, refuse: bool) -> None:
        super().__init__(owner)
        self.until, self.refuse = until, refuse

    def end(self) -> None:
        self._owner.end_outage()


@dataclass(eq=False)
class Slow:
    path_prefix: str
    seconds: float
    times: Optional[int]
    delayed: int = 0


class _SlowHandle(_Handle):
    def __init__(self, owner: "Faults", slow: Slow) -> None:
        super().__init__(owner)
        self.slow = slow

    @property
    def delayed(self) -> int:
        return self.slow.delayed

    def end(self) -> None:
        with self._owner.lock:
            if self.slow in self._owner.slow_paths:
                self._owner.slow_paths.remove(self.slow)


class Faults:
    """Mixin of KubeServer (over LoopbackServer): injected errors, outages, slow answers."""

    lock: Any
    _server: Optional[ThreadingHTTPServer]
    _thread: Optional[threading.Thread]
    handler: Any

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.faults: list[Fault] = []
        self.slow_paths: list[Slow] = []
        self.outage_now: Optional[Outage] = None
        self.stopping = threading.Event()
        self._reopen: Optional[threading.Timer] = None
        super().__init__(*args, **kwargs)

    def fail(self, path_prefix: str, status: int = 500, times: int = 1, retry_after: Optional[int] = None) -> Fault:
        """Answer the next `times` requests whose path starts with `path_prefix` with a Status error."""
        if status not in FAULT_MESSAGES or times < 1:
            raise ValueError("status must be 429, 500 or 503 and times >= 1")
        fault = Fault(path_prefix, status, times, retry_after)
        with self.lock:
            self.faults.append(fault)
        return fault

    def outage(self, seconds: Optional[float] = None, *, refuse: bool = False) -> Outage:
        """An API outage for `seconds` (None: until `end_outage()` or the handle's `end()`)."""
        until = float("inf") if seconds is None else time.monotonic() + seconds
        with self.lock:
            self.end_outage()
            self.outage_now = Outage(self, until, refuse)
            self.log.changed.notify_all()  # type: ignore[attr-defined]  # streams notice and break
        if refuse:
            self._close_listener()
            if seconds is not None:
                self._reopen = threading.Timer(seconds, self.end_outage)
                self._reopen.daemon = True
                self._reopen.start()
        return self.outage_now

    def end_outage(self) -> None:
        with self.lock:
            outage, self.outage_now = self.outage_now, None
            if self._reopen is not None:
                self._reopen.cancel()
                self._reopen = None
        if outage is not None and outage.refuse and not self.stopping.is_set():
            self._listen_again()

    def in_outage(self) -> bool:
        with self.lock:
            outage = self.outage_now
            if outage is not None and not outage.refuse and time.monotonic() >= outage.until:
                self.outage_now = outage = None
            return outage is not None

    def slow(self, path_prefix: str, seconds: float, times: Optional[int] = None) -> _SlowHandle:
        """Delay requests under `path_prefix` by `seconds` (the next `times` of them, or until `end()`)."""
        slow = Slow(path_prefix, seconds, times)
        with self.lock:
            self.slow_paths.append(slow)
        return _SlowHandle(self, slow)

    # --- the request path -----------------------------------------------------------------------

    def _delay(self, path: str) -> None:
        with self.lock:
            chosen = [s for s in self.slow_paths if path.startswith(s.path_prefix)
                      and (s.times is None or s.delayed < s.times)]
            for slow in chosen:
                slow.delayed += 1
        if chosen:
            self.stopping.wait(sum(s.seconds for s in chosen))

    def _unavailable(self) -> None:
        if self.in_outage():
            raise ApiError(503, FAULT_MESSAGES[503])

    def _take_fault(self, path: str) -> Optional[Fault]:
        with self.lock:
            for fault in self.faults:
                if path.startswith(fault.path_prefix) and fault.fired < fault.times:
                    fault.fired += 1
                    return fault
        return None

    # --- refusing connections -------------------------------------------------------------------

    def _close_listener(self) -> None:
        server = self._server
        if server is None:
            return
        self._refused_port = server.server_address[1]
        server.shutdown()
        server.server_close()
        with self._connections_lock:  # type: ignore[attr-defined]
            open_connections = list(self._connections)  # type: ignore[attr-defined]
        for conn in open_connections:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def _listen_again(self) -> None:
        if self._server is None:
            return
        server = ThreadingHTTPServer(("127.0.0.1", self._refused_port), self.handler)
        server.daemon_threads = True
        server.owner = self  # type: ignore[attr-defined]
        old_thread, self._server = self._thread, server
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01},
                                        name=getattr(self, "thread_name", "fake-kube-apiserver"), daemon=True)
        self._thread.start()
        if old_thread is not None:
            old_thread.join(timeout=5)
