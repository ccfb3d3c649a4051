"""One replica of the controller as a real process: `python -m reconciler.controller`, from the repository root.

Its JSON log lines (stderr) go to `<dir>/<identity>.log`, stdout to `<dir>/<identity>.out`; `logs()` parses the
former (a line that is not JSON is kept as {"msg": <line>, "unparsed": true}, so a traceback still shows).
`metrics()` reads /metrics with prometheus_client's own parser. `kill()` is kill -9 (no goodbye: the Lease is
left to expire), `terminate()` is SIGTERM and waits for the exit (bounded). `stop()`, which the World calls in
teardown, ends the process whatever state it is in; nothing here outlives a test.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Iterable, Optional

from prometheus_client.parser import text_string_to_metric_families

ROOT = Path(__file__).resolve().parents[2]
# What every replica gets unless a test says otherwise: short leases and fast polls, so a scenario takes seconds.
# kubernetes.leaderelection refuses a retry period under 1 s and a renew deadline under 1.2 retry periods.
FAST_FLAGS = {"--lease-duration": "3", "--renew-deadline": "2", "--retry-period": "1",
              "--coalesce-seconds": "0.05", "--job-poll-seconds": "0.05", "--drift-seconds": "0"}
Labels = tuple[tuple[str, str], ...]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ControllerProcess:
    def __init__(self, identity: str, args: list[str], env: dict[str, str], directory: Path, metrics_port: int):
        self.identity, self.args, self.metrics_port = identity, args, metrics_port
        self.log_path, self.out_path = directory / f"{identity}.log", directory / f"{identity}.out"
        self._err = open(self.log_path, "ab")
        self._out = open(self.out_path, "ab")
        self.started = time.monotonic()
        self.process = subprocess.Popen([sys.executable, "-m", "reconciler.controller", *args], cwd=ROOT, env=env,
                                        stdout=self._out, stderr=self._err, stdin=subprocess.DEVNULL)

    def __repr__(self) -> str:
        return f"controller {self.identity} (pid {self.process.pid}, {self.state()})"

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def state(self) -> str:
        code = self.process.poll()
        return "running" if code is None else f"exited {code}"

    # --- ending it ----------------------------------------------------------------------------------

    def kill(self) -> None:
        """kill -9: the process stops wherever it is (mid-batch), releasing nothing."""
        if self.alive():
            os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)
        self._close()

    def terminate(self, timeout: float = 15.0) -> Optional[int]:
        """SIGTERM, then the exit code; None (and a kill -9) when it did not exit within `timeout`."""
        if self.alive():
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            return None
        finally:
            self._close()

    def stop(self) -> None:
        if self.alive():
            self.process.kill()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:  # pragma: no cover - a SIGKILLed child always goes
                pass
        self._close()

    def _close(self) -> None:
        for handle in (self._err, self._out):
            if not handle.closed:
                handle.close()

    # --- what it says -------------------------------------------------------------------------------

    def logs(self) -> list[dict[str, Any]]:
        lines = []
        try:
            text = self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return []
        for line in text.splitlines():
            if not line.strip():
                continue
            try:
                parsed = json.loads(line)
                lines.append(parsed if isinstance(parsed, dict) else {"msg": line, "unparsed": True})
            except ValueError:
                lines.append({"msg": line, "unparsed": True})
        return lines

    def log_lines(self, *words: str) -> list[dict[str, Any]]:
        """Parsed lines whose raw JSON mentions every one of `words` (case-insensitive)."""
        wanted = [w.lower() for w in words]
        return [line for line in self.logs() if all(w in json.dumps(line).lower() for w in wanted)]

    def tail(self, lines: int = 25) -> str:
        try:
            text = self.log_path.read_text(errors="replace").splitlines()
        except FileNotFoundError:
            text = []
        head = f"--- {self!r}, last {min(lines, len(text))} of {len(text)} log lines ({self.log_path})"
        return "\n".join([head, *text[-lines:]])

    def metrics_text(self, timeout: float = 2.0) -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=timeout) as answer:
            return answer.read().decode()

    def metrics(self) -> "Metrics":
        return Metrics(self.metrics_text())

    def metrics_or_none(self) -> Optional["Metrics"]:
        try:
            return self.metrics()
        except (OSError, urllib.error.URLError, ValueError):
            return None


class Metrics:
    """Samples by (sample name, labels); `families` are the declared metric names (with or without samples)."""

    def __init__(self, text: str):
        self.text = text
        self.samples: dict[tuple[str, Labels], float] = {}
        self.families: dict[str, str] = {}  # family name -> type
        for family in text_string_to_metric_families(text):
            self.families[family.name] = family.type
            for sample in family.samples:
                self.samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value

    def declares(self, name: str) -> bool:
        """True when `name` (as the contract writes it, `_total` included) is served."""
        base = name[:-len("_total")] if name.endswith("_total") else name
        return base in self.families or name in self.families

    def value(self, name: str, **labels: str) -> float:
        """The sum over the samples named `name` whose labels include `labels` (0 when there are none)."""
        return sum(v for (n, ls), v in self.samples.items() if n == name and set(labels.items()) <= set(ls))

    def labelled(self, name: str) -> list[dict[str, str]]:
        return [dict(ls) for (n, ls) in self.samples if n == name]


def tails(processes: Iterable[ControllerProcess], lines: int = 25) -> str:
    return "\n".join(p.tail(lines) for p in processes)
