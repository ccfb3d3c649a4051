"""What the loader says about a configuration: problems (errors) and warnings, each with its path."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Iterable, Literal, Sequence

Severity = Literal["error", "warning"]


def show(value: Any) -> str:
    if isinstance(value, str):
        text = value
    else:
        try:
            text = json.dumps(value, sort_keys=True, default=str)
        except (TypeError, ValueError):
            try:
                text = repr(value)
            except ValueError:  # e.g. an integer past Python's digit limit
                text = f"<{type(value).__name__}>"
    return text if len(text) <= 80 else text[:77] + "..."


_PLAIN_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def config_path(loc: Iterable[Any]) -> str:
    """`('services', 0, 'loadBalancer', 'eip')` -> `services[0].loadBalancer.eip`."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif _PLAIN_KEY.match(str(part)):
            out += ("." if out else "") + str(part)
        else:  # keys such as `example.com/role` or ``
            out += f"[{json.dumps(str(part))}]"
    return out or "(stack)"


@dataclass(frozen=True)
class Problem:
    path: str
    value: Any
    message: str
    fix: str
    severity: Severity = "error"

    def __str__(self) -> str:
        label = "Fix" if self.severity == "error" else "Consider"
        return f"{self.path} = {show(self.value)}: {self.message}. {label}: {self.fix}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "severity": self.severity,
            "path": self.path,
            "value": self.value,
            "message": self.message,
            "fix": self.fix,
        }


class ConfigError(Exception):
    """The stack configuration is invalid; `problems` lists every error found, each with its path."""

    def __init__(self, stack: str, problems: Sequence[Problem]):
        self.stack = stack
        self.problems = list(problems)
        lines = [f"stack `{stack}`: {len(self.problems)} configuration problem(s)"]
        lines += [f"  - {p}" for p in self.problems]
        super().__init__("\n".join(lines))
