"""What a product module builds on: the API's error shape, typed parameters, the Product base class.

A product is one API version (ENS 2017-11-10, NLB 2022-04-30, SLB 2014-05-15). To add one: subclass
Product in its own module, set `name`, `version`, `host`, `ERRORS` and `RATE_LIMITS`, write one method per
action named exactly like the action, taking Params and returning the response body (without RequestId)
or raising ApiError; then pass an instance to `Emulator(products=[...])`. Check the parameter and response
field names against the SDK's `models/` and `client.py` (`*_with_options`): responses must deserialize with
the SDK's response models.
"""

from __future__ import annotations

import json
import secrets as _random
import string
import time
from collections import Counter
from typing import Any, Iterable, Optional, Union

MAX_LIST = 100  # `Name.N` list parameters read at most this many items
RateLimit = Union[float, tuple[float, float]]  # calls per second, or (calls per second, burst)

# Codes any product may answer (gateway codes and the faults tests inject): HTTP status and the real wording.
COMMON_ERRORS: dict[str, tuple[int, str]] = {
    "Throttling": (400, "Request was denied due to request throttling."),
    "Throttling.User": (400, "Request was denied due to user flow control."),
    "Throttling.Api": (400, "Request was denied due to api flow control."),
    "Rejected.Throttling": (400, "Request was denied due to request throttling."),
    "ServiceUnavailable": (503, "The request has failed due to a temporary failure of the server."),
    "InternalError": (500, "The request processing has failed due to some unknown error, exception or failure."),
    "SystemBusy": (400, "System is busy, please try again later."),
}


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str):
        super().__init__(f"{status} {code}: {message}")
        self.status, self.code, self.message = status, code, message


def error(code: str, message: Optional[str] = None, table: Optional[dict[str, tuple[int, str]]] = None) -> ApiError:
    status, text = {**COMMON_ERRORS, **(table or {})}.get(code, (400, code))
    return ApiError(status, code, message or text)


def missing(name: str) -> ApiError:
    # The gateway's own wording for a required parameter that is absent.
    return ApiError(400, f"Missing{name}", f"{name} is mandatory for this action.")


def invalid(name: str, detail: str = "") -> ApiError:
    # ENS documents `InvalidParameter.%s` / "The specified field %s invalid. Please check it again."
    return ApiError(400, f"InvalidParameter.{name}",
                    f"The specified field {name} invalid. Please check it again." + (f" {detail}" if detail else ""))


def new_id(prefix: str, length: int = 25) -> str:
    alphabet = string.ascii_lowercase + string.digits
    return f"{prefix}-" + "".join(_random.choice(alphabet) for _ in range(length))


class Params(dict):
    """Request parameters as they arrive (strings), with typed getters that answer the API's errors."""

    def get_str(self, name: str, required: bool = False, default: Optional[str] = None,
                choices: Optional[Iterable[str]] = None, max_len: Optional[int] = None) -> Optional[str]:
        value = self.get(name)
        if value is None or value == "":
            if required:
                raise missing(name)
            return default
        if choices is not None and value not in set(choices):
            raise invalid(name, f"Valid values: {', '.join(choices)}.")
        if max_len is not None and len(value) > max_len:
            raise invalid(name, f"At most {max_len} characters.")
        return value

    def get_int(self, name: str, lo: Optional[int] = None, hi: Optional[int] = None, required: bool = False,
                default: Optional[int] = None) -> Optional[int]:
        raw = self.get_str(name, required=required)
        if raw is None:
            return default
        try:
            value = int(raw)
        except ValueError:
            raise invalid(name, "An integer is expected.") from None
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            raise invalid(name, f"Valid values: {lo} to {hi}.")
        return value

    def get_bool(self, name: str, default: Optional[bool] = None) -> Optional[bool]:
        raw = self.get_str(name)
        if raw is None:
            return default
        if raw.lower() not in ("true", "false"):
            raise invalid(name, "true or false is expected.")
        return raw.lower() == "true"

    def get_json(self, name: str, required: bool = False) -> Any:
        raw = self.get_str(name, required=required)
        if raw is None:
            return None
        try:
            return json.loads(raw)
        except ValueError:
            raise invalid(name, "Malformed JSON.") from None

    def get_list(self, name: str) -> list[str]:
        """`Name.1`, `Name.2`, ... as the SDK flattens a list of strings."""
        out = []
        for i in range(1, MAX_LIST + 1):
            if f"{name}.{i}" not in self:
                break
            out.append(self[f"{name}.{i}"])
        return out


class Product:
    """One API product. Subclass it, set the class attributes, and write one method per action named
    exactly like the action (`def CreateLoadBalancer(self, p: Params) -> dict`). A method returns the
    response body without RequestId, or raises ApiError. Methods run under the emulator's lock."""

    name = ""  # attribute on the Emulator: `emulator.<name>`
    version = ""  # the API version the SDK sends (x-acs-version / Version)
    host = ""  # HostId in error bodies
    ERRORS: dict[str, tuple[int, str]] = {}  # product codes: (HTTP status, message)
    RATE_LIMITS: dict[str, RateLimit] = {}  # documented per-account limits

    def __init__(self) -> None:
        self.rate_limits: dict[str, Optional[RateLimit]] = dict(self.RATE_LIMITS)
        self.calls: Counter[str] = Counter()
        cls = type(self)
        self.actions = frozenset(n for n in dir(cls) if n[:1].isupper() and callable(getattr(cls, n))
                                 and not isinstance(getattr(cls, n), type))

    def error(self, code: str, message: Optional[str] = None) -> ApiError:
        return error(code, message, self.ERRORS)

    def check_action(self, action: str) -> None:
        if action not in self.actions:
            raise ApiError(404, "InvalidAction.NotFound",
                           "Specified api is not found, please check your url and method.")

    def handle(self, action: str, params: Params) -> dict[str, Any]:
        self.check_action(action)
        return getattr(self, action)(params)

    def limit(self, action: str) -> Optional[tuple[float, float]]:
        value = self.rate_limits.get(action)
        if value is None:
            return None
        rate, burst = value if isinstance(value, tuple) else (float(value), max(1.0, float(value)))
        return float(rate), float(burst)


# --- helpers most products need: asynchronous states, attribute tables, paging -----------------

def now_iso() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def public(record: dict[str, Any]) -> dict[str, Any]:
    """A stored record as the API shows it: keys starting with "_" are the emulator's bookkeeping."""
    return {k: v for k, v in record.items() if not k.startswith("_")}


def transition(record: dict[str, Any], key: str, via: str, final: str, polls: int) -> None:
    """`record[key]` reads `via` for the next `polls` observations, then `final` (at once when polls is 0)."""
    record[key], record["_polls"], record["_final"] = (via, polls, final) if polls > 0 else (final, 0, final)


def observe(record: dict[str, Any], key: str) -> str:
    """The status a describe reports now; counts as one poll of a transitional status."""
    shown = record[key]
    if record.get("_polls", 0) > 0:
        record["_polls"] -= 1
        if record["_polls"] == 0:
            record[key] = record["_final"]
    return shown


def read_attributes(p: Params, spec: dict[str, tuple]) -> dict[str, Any]:
    """The attributes of `spec` present in `p`, validated: ("int", lo, hi), ("choice", values), ("str", max_len)."""
    out: dict[str, Any] = {}
    for name, rule in spec.items():
        if p.get(name) in (None, ""):
            continue
        if rule[0] == "int":
            out[name] = p.get_int(name, rule[1], rule[2])
        elif rule[0] == "choice":
            out[name] = p.get_str(name, choices=rule[1])
        else:
            out[name] = p.get_str(name, max_len=rule[1])
    return out


def page(items: list[Any], p: Params) -> tuple[list[Any], dict[str, int]]:
    number = p.get_int("PageNumber", 1, None, default=1)
    size = p.get_int("PageSize", 1, 100, default=10)
    return items[(number - 1) * size:number * size], {"PageNumber": number, "PageSize": size, "TotalCount": len(items)}
