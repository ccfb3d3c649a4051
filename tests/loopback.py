"""A threaded HTTP server on 127.0.0.1 for the test fakes (cloud emulator, Kubernetes API): start, stop cleanly.

Answers go out in one write with TCP_NODELAY (FACTS.md: headers and body written apart cost ~45 ms per
call against delayed ACK), and stopping closes idle keep-alive connections instead of waiting them out.
"""

from __future__ import annotations

import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Optional


class TrackedHandler(BaseHTTPRequestHandler):
    """Handler base: `self.server.owner` is the LoopbackServer that serves it."""

    protocol_version = "HTTP/1.1"  # keep-alive, as the clients' connection pools expect

    def setup(self) -> None:
        super().setup()
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.server.owner._track(self.request, open_=True)  # type: ignore[attr-defined]

    def finish(self) -> None:
        self.server.owner._track(self.request, open_=False)  # type: ignore[attr-defined]
        try:
            super().finish()
        except OSError:
            pass

    def log_message(self, *args: Any) -> None:  # quiet: request lines may carry credentials
        pass


class LoopbackServer:
    handler: type[TrackedHandler] = TrackedHandler
    thread_name = "loopback-server"

    def __init__(self) -> None:
        self._server: Optional[ThreadingHTTPServer] = None
        self._thread: Optional[threading.Thread] = None
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError(f"the {self.thread_name} is not started")
        return self._server.server_address[1]

    def start(self):
        if self._server is None:
            self._server = ThreadingHTTPServer(("127.0.0.1", 0), self.handler)
            self._server.daemon_threads = True
            self._server.owner = self  # type: ignore[attr-defined]
            self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.01},
                                            name=self.thread_name, daemon=True)
            self._thread.start()
        return self

    def _before_stop(self) -> None:
        """Subclasses wake handlers that are waiting on purpose (stalls, latency)."""

    def stop(self) -> None:
        if self._server is None:
            return
        self._before_stop()
        self._server.shutdown()
        with self._connections_lock:
            open_connections = list(self._connections)
        for conn in open_connections:  # idle keep-alive handlers would otherwise wait out their timeout
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = self._thread = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def _track(self, conn: socket.socket, open_: bool) -> None:
        with self._connections_lock:
            (self._connections.add if open_ else self._connections.discard)(conn)
