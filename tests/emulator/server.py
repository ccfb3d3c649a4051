"""Generic RPC server of the emulator: wire format, credentials, faults, rate limits, call counting.

What the official clients (alibabacloud-tea-openapi 0.4, darabonba 1.0) send, seen against this server:
- Default ACS3-HMAC-SHA256 signing: `POST /` with headers `x-acs-action`, `x-acs-version`, `x-acs-date`,
  `x-acs-signature-nonce`, `x-acs-content-sha256` and `Authorization: ACS3-HMAC-SHA256 Credential=<id>,
  SignedHeaders=<a;b;...>,Signature=<hex>`. ENS sends every parameter in the query string (lists as `Name.1`,
  arrays of objects such as BackendServers as one JSON string, booleans as `True`/`False`); NLB sends a form body.
- Legacy signing (`Config(signature_algorithm="v2")`): `Action`, `Version`, `AccessKeyId`, `Signature`
  (HMAC-SHA1), `SignatureNonce`, `Timestamp`, `Format=json` in the query; the x-acs-action/version headers
  are still sent.
- `client.call_api(Params(auth_type="Anonymous", ...))` sends no credentials at all.

How the SDK turns an error answer (4xx/5xx, JSON `{RequestId, HostId, Code, Message}`) into an exception:
- 4xx -> `alibabacloud_tea_openapi.exceptions.ClientException`, 5xx -> `ServerException`; both subclass
  `AlibabaCloudException` (a darabonba `ResponseException`). Only a positive integer `x-acs-retry-after`
  header makes it a `ThrottlingException` (with `retry_after`), whatever the status; this server never sends
  it, so `Throttling.User` arrives as a plain ClientException.
- Attributes: `code` = Code; `status_code` (also `statusCode`) = HTTP status; `request_id`; `message` =
  "code: <status>, <Message> request id: <RequestId>"; `data` = the parsed body plus a `statusCode` key.
- The SDK does not retry by default. A read timeout (`RuntimeOptions(read_timeout=<ms>)`, from
  `darabonba.runtime` or `alibabacloud_tea_util.models`, both work) raises
  `darabonba.exceptions.UnretryableException`; its `inner_exception` is a `RetryError` whose message says
  "Read timed out. (read timeout=0.1)" and whose `__context__` is the requests ReadTimeout.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, Callable, Iterable, NamedTuple, Optional
from urllib.parse import parse_qsl, quote, urlsplit

from tests.loopback import LoopbackServer, TrackedHandler

from .product import COMMON_ERRORS, ApiError, Params, Product, error

MAX_STALL = 30.0  # no latency or timeout fault holds a handler thread longer than this
MAX_BODY = 1 << 20
# Signing and protocol parameters: never business parameters, never logged.
SIGNING_PARAMS = frozenset({"Action", "Version", "AccessKeyId", "Signature", "SignatureMethod", "SignatureVersion",
                            "SignatureNonce", "SignatureType", "Timestamp", "Format", "SecurityToken"})


@dataclass
class Fault:
    """One injected failure; `fired` counts the answers it replaced, `passed` the successes it waited for."""

    action: str
    code: str
    times: int = 1
    after: int = 0
    status: Optional[int] = None
    message: Optional[str] = None
    delay: float = 0.0
    applied: bool = False
    passed: int = 0
    fired: int = 0

    def matches(self, action: str) -> bool:
        return self.action in ("*", action)

    @property
    def armed(self) -> bool:
        return self.fired < self.times and self.passed >= self.after


class Call(NamedTuple):
    action: str
    params: dict[str, str]


class _Buckets:
    """Token buckets per (product, account, action): `burst` tokens, refilled at `rate` per second."""

    def __init__(self, clock: Callable[[], float]):
        self.clock = clock
        self._state: dict[tuple[str, str, str], tuple[float, float]] = {}

    def take(self, key: tuple[str, str, str], rate: float, burst: float) -> bool:
        now = self.clock()
        tokens, last = self._state.get(key, (burst, now))
        tokens = min(burst, tokens + max(0.0, now - last) * rate)
        ok = tokens >= 1.0
        self._state[key] = (tokens - 1.0 if ok else tokens, now)
        return ok


def _signature_mismatch() -> ApiError:
    return ApiError(400, "SignatureDoesNotMatch", "Specified signature is not matched with our calculation.")


def _enc(value: str) -> str:
    return quote(value, safe="~")


def _acs3_signature(secret: str, method: str, path: str, query: dict[str, str], headers: Any,
                    signed: list[str], payload_hash: str) -> str:
    canonical = "\n".join([
        method, path or "/",
        "&".join(f"{_enc(k)}={_enc(v)}" for k, v in sorted(query.items())),
        "".join(f"{h}:{(headers.get(h) or '').strip()}\n" for h in signed),
        ";".join(signed), payload_hash])
    to_sign = "ACS3-HMAC-SHA256\n" + hashlib.sha256(canonical.encode()).hexdigest()
    return hmac.new(secret.encode(), to_sign.encode(), hashlib.sha256).hexdigest()


def _v2_signature(secret: str, method: str, params: dict[str, str]) -> str:
    canonical = "&".join(f"{_enc(k)}={_enc(v)}" for k, v in sorted(params.items()) if k != "Signature")
    to_sign = f"{method}&{_enc('/')}&{_enc(canonical)}"
    return base64.b64encode(hmac.new(f"{secret}&".encode(), to_sign.encode(), hashlib.sha1).digest()).decode()


class _Handler(TrackedHandler):
    timeout = 10  # an idle keep-alive connection ends on its own: no handler thread lives forever
    server_version = "AlibabaCloudEmulator"

    def do_POST(self) -> None:
        self.server.owner._serve(self)

    do_GET = do_PUT = do_DELETE = do_POST

    def reply(self, status: int, payload: dict[str, Any], request_id: str) -> None:
        body = json.dumps(payload).encode()
        head = (f"HTTP/1.1 {status} {HTTPStatus(status).phrase}\r\nDate: {self.date_time_string()}\r\n"
                f"Content-Type: application/json;charset=utf-8\r\nContent-Length: {len(body)}\r\n"
                f"x-acs-request-id: {request_id}\r\n\r\n")
        try:
            self.wfile.write(head.encode() + body)  # one write: headers and body in one segment
        except OSError:  # the client gave up (read timeout): nothing left to tell it
            self.close_connection = True


class FakeClock:
    """A clock tests move by hand (`clock.now += 1`), for the rate limits and timed transitions."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class Emulator(LoopbackServer):
    """Alibaba Cloud RPC APIs on 127.0.0.1:<ephemeral port>, one Product per API version.

    with Emulator() as emu:                       # ENS by default; Emulator([Ens(), Nlb()]) for more
        Client(Config(..., endpoint=emu.endpoint, protocol="http"))
        emu.ens.instances["i-1"] = "Running"      # a product's state: emu.<product.name>
        emu.inject("AddBackendServers", "Throttling.User", times=2, after=1)
        emu.calls["AddBackendServers"], emu.log[-1].params

    A request goes: count and log (every request naming an action, whatever its outcome) -> credentials
    (and signature when `secrets` is given) -> version and action -> `latency` -> rate limit -> injected
    fault -> the product's method. `calls` counts per action over all products (each product also has its
    own `calls`), `log` holds Call(action, params) without signing parameters, `outcomes` counts
    (action, Code or "OK" or "timeout"), `bugs` keeps exceptions a product raised that were not ApiError.
    Rate limits are per (product, access key id, action): set `product.rate_limits[action]` to calls per
    second or (rate, burst), None to lift one, or `emu.rate_limits = False` for all; `clock` drives them.
    """

    handler = _Handler
    thread_name = "alibabacloud-emulator"

    def __init__(self, products: Optional[Iterable[Product]] = None, *, latency: float = 0.0,
                 rate_limits: bool = True, secrets: Optional[dict[str, str]] = None,
                 clock: Callable[[], float] = time.monotonic):
        if products is None:
            from .ens import Ens
            products = [Ens()]
        self.products: dict[str, Product] = {p.version: p for p in products}
        self.latency = latency  # seconds added to every call, for benchmarks
        self.rate_limits = rate_limits  # False: no Throttling.User from the token buckets
        self._secrets = dict(secrets or {})  # access key id -> secret; empty: any key id, no signature check
        self.calls: Counter[str] = Counter()
        self.log: list[Call] = []
        self.outcomes: Counter[tuple[str, str]] = Counter()  # (action, Code or "OK")
        self.faults: list[Fault] = []
        self.bugs: list[Exception] = []  # exceptions a product raised other than ApiError (answered as 500)
        self.lock = threading.RLock()
        self._buckets = _Buckets(clock)
        self._stopping = threading.Event()
        super().__init__()

    def __getattr__(self, name: str) -> Product:
        for product in self.__dict__.get("products", {}).values():
            if product.name == name:
                return product
        raise AttributeError(name)

    # --- lifecycle ------------------------------------------------------------------------------

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> "Emulator":
        if self._server is None:
            self._stopping.clear()
        return super().start()

    def _before_stop(self) -> None:
        self._stopping.set()  # wakes stalled handlers

    # --- test controls --------------------------------------------------------------------------

    def inject(self, action: str, code: str, times: int = 1, after: int = 0, *, status: Optional[int] = None,
               message: Optional[str] = None, delay: float = 1.0, applied: bool = False) -> Fault:
        """Make `action` ("*" for any) fail `times` times, once `after` calls of it have succeeded.

        `code` is an error code (known codes get their real status and message; others need `status=`), or
        "timeout": the answer is held `delay` seconds (at most MAX_STALL), longer than the client's read
        timeout. With `applied=True` the action takes effect before the stall (the nasty case: it happened,
        the client did not hear); otherwise it does not happen and the connection is closed unanswered.
        """
        if action != "*" and not any(action in p.actions for p in self.products.values()):
            raise ValueError(f"no product has an action {action!r}")
        if times < 1 or after < 0:
            raise ValueError("times must be >= 1 and after >= 0")
        known = {**COMMON_ERRORS, **{k: v for p in self.products.values() for k, v in p.ERRORS.items()}}
        if code != "timeout" and code not in known and status is None:
            raise ValueError(f"unknown code {code!r}: give its HTTP status with status=")
        fault = Fault(action, code, times, after, status, message, min(max(delay, 0.0), MAX_STALL), applied)
        with self.lock:
            self.faults.append(fault)
        return fault

    def clear_faults(self) -> None:
        with self.lock:
            self.faults.clear()

    def reset_counts(self) -> None:
        with self.lock:
            self.calls.clear()
            self.log.clear()
            self.outcomes.clear()
            for product in self.products.values():
                product.calls.clear()

    # --- request path ---------------------------------------------------------------------------

    def _serve(self, handler: _Handler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(min(length, MAX_BODY)) if length > 0 else b""
        if length > MAX_BODY:
            handler.close_connection = True  # the unread rest would be taken for the next request
        url = urlsplit(handler.path)
        query = dict(parse_qsl(url.query, keep_blank_values=True))
        form = {}
        if "x-www-form-urlencoded" in (handler.headers.get("Content-Type") or ""):
            form = dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
        params = {**query, **form}
        action = handler.headers.get("x-acs-action") or params.get("Action") or ""
        product = self.products.get(handler.headers.get("x-acs-version") or params.get("Version") or "")
        request_id = str(uuid.uuid4()).upper()
        status, payload, stall, answer = 200, {}, 0.0, True
        try:
            if not action:
                raise ApiError(400, "MissingAction", "Action is mandatory for this action.")
            public = {k: v for k, v in params.items() if k not in SIGNING_PARAMS}
            with self.lock:
                self.calls[action] += 1
                self.log.append(Call(action, public))
                if product is not None:
                    product.calls[action] += 1
            account = self._authenticate(handler, url.path, query, params, body)
            if product is None:
                raise ApiError(400, "InvalidVersion", "Specified parameter Version is not valid.")
            product.check_action(action)
            if self.latency > 0:
                self._stopping.wait(min(self.latency, MAX_STALL))
            self._admit(product, account, action)
            fault = self._take_fault(action)
            if fault is not None and fault.code != "timeout":
                raise ApiError(fault.status or product.error(fault.code).status, fault.code,
                               fault.message or product.error(fault.code).message)
            if fault is not None:
                stall, answer = fault.delay, fault.applied
            if answer:
                with self.lock:
                    payload = product.handle(action, Params(public))
                    for f in self.faults:
                        if f.matches(action) and f.passed < f.after:
                            f.passed += 1
        except Exception as exc:  # noqa: BLE001 - a bug in a product answers 500 and is kept for the test to see
            if not isinstance(exc, ApiError):
                self.bugs.append(exc)
                exc = error("InternalError")
            status, payload = exc.status, {"HostId": product.host if product else "127.0.0.1",
                                           "Code": exc.code, "Message": exc.message}
        with self.lock:
            self.outcomes[(action, "timeout" if stall > 0 else payload.get("Code", "OK"))] += 1
        if stall > 0:
            self._stopping.wait(stall)
        if not answer:
            handler.close_connection = True
            return
        handler.reply(status, {"RequestId": request_id, **payload}, request_id)

    def _authenticate(self, handler: _Handler, path: str, query: dict[str, str], params: dict[str, str],
                      body: bytes) -> str:
        """The caller's access key id; the secret is only ever used to recompute a signature."""
        auth = handler.headers.get("Authorization")
        if auth:
            algorithm, _, rest = auth.partition(" ")
            fields = dict(part.strip().split("=", 1) for part in rest.split(",") if "=" in part)
            key_id, signature = fields.get("Credential", ""), fields.get("Signature", "")
            if algorithm != "ACS3-HMAC-SHA256" or not key_id or not signature:
                raise ApiError(400, "IncompleteSignature",
                               "The request signature does not conform to Aliyun standards.")
            if self._secrets:
                secret = self._known_secret(key_id)
                payload_hash = handler.headers.get("x-acs-content-sha256") or ""
                signed = [h for h in fields.get("SignedHeaders", "").split(";") if h]
                expected = _acs3_signature(secret, handler.command, path, query, handler.headers, signed, payload_hash)
                if payload_hash != hashlib.sha256(body).hexdigest() or not hmac.compare_digest(expected, signature):
                    raise _signature_mismatch()
            return key_id
        key_id = params.get("AccessKeyId")
        if not key_id:
            raise ApiError(400, "MissingAccessKeyId", "AccessKeyId is mandatory for this action.")
        if self._secrets:
            expected = _v2_signature(self._known_secret(key_id), handler.command, params)
            if not hmac.compare_digest(expected, params.get("Signature", "")):
                raise _signature_mismatch()
        return key_id

    def _known_secret(self, key_id: str) -> str:
        if key_id not in self._secrets:
            raise ApiError(404, "InvalidAccessKeyId.NotFound", "Specified access key is not found.")
        return self._secrets[key_id]

    def _admit(self, product: Product, account: str, action: str) -> None:
        limit = product.limit(action) if self.rate_limits else None
        if limit is None:
            return
        with self.lock:
            if not self._buckets.take((product.name, account, action), *limit):
                raise product.error("Throttling.User")  # a product may word it its own way (NLB does)

    def _take_fault(self, action: str) -> Optional[Fault]:
        with self.lock:
            for fault in self.faults:
                if fault.matches(action) and fault.armed:
                    fault.fired += 1
                    return fault
        return None
