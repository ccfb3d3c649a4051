"""Structured logs: one JSON object per line on stderr, `extra=` fields as keys.

No secret reaches a log line: the controller logs record names, counts, codes and error messages, and the
errors it logs are built by reconciler/ and cloud/ to name sources, never contents (credentials.py redacts
AccessKeys; cluster.py never prints kubeconfig content). As a last guard, values that look like an
AccessKey secret or a bearer token are masked.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import datetime, timezone

_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime", "taskName"}
_SECRETS = re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]{8,}|((?:secret|token|password)[\"']?\s*[:=]\s*[\"']?)[^\s\"',}]+")


def _mask(text: str) -> str:
    return _SECRETS.sub(lambda m: (m.group(1) or m.group(2)) + "***", text)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out = {"time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
               "level": record.levelname.lower(), "logger": record.name, "msg": _mask(record.getMessage())}
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                out[key] = _mask(value) if isinstance(value, str) else value
        if record.exc_info:
            out["exception"] = _mask(self.formatException(record.exc_info))
        return json.dumps(out, default=str, separators=(",", ":"))


def setup(level: str = "info") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # The clients' own chatter (connection pools, leader election's every renewal) only when asked for.
    for noisy in ("urllib3", "kubernetes", "leaderelection"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
