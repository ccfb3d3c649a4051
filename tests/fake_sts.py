"""A local STS (API 2015-04-01) for the credentials library, and an emulator that records who signed each call.

    with FakeSts(roles={"acs:ram::1:role/x"}, secrets={"LTAIbase": "base-secret"}) as sts, \\
            SignedEmulator(secrets={"LTAIbase": "base-secret", **sts.session_secrets}) as emu:
        env = {"ACK_EDGE_LB_STS_ENDPOINT": f"http://{sts.endpoint}", ...}
        ... sts.calls[-1]["RoleArn"], emu.signers[-1].token

What alibabacloud-credentials 1.0.12 sends (provider/ram_role_arn.py, provider/oidc.py): `GET /?Action=AssumeRole`
(or `AssumeRoleWithOIDC`) `&Format=JSON&Version=2015-04-01&RoleArn=...&RoleSessionName=...&DurationSeconds=...`
over https to the STS endpoint. AssumeRole is signed like any RPC call of version 1.0 (`AccessKeyId`,
`SignatureMethod=HMAC-SHA1`, `SignatureNonce`, `Signature` over the sorted query with `<secret>&`, and
`SecurityToken` when the caller is itself a session); AssumeRoleWithOIDC is anonymous and carries `OIDCToken`.
An endpoint written `http://127.0.0.1:PORT` is kept as is by TeaCore.compose_url, so this server speaks plain HTTP.
Answers are STS's: `{RequestId, AssumedRoleUser, Credentials: {AccessKeyId, AccessKeySecret, SecurityToken,
Expiration}}`, errors `{RequestId, HostId, Code, Message}` with the HTTP status.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
import uuid
from http import HTTPStatus
from typing import Any, NamedTuple, Optional
from urllib.parse import parse_qsl, quote, urlsplit

from tests.emulator import Emulator
from tests.loopback import LoopbackServer, TrackedHandler

SESSIONS = 8  # credentials issued per server, known before it starts (the emulator checks their signatures)


def _enc(value: str) -> str:
    return quote(value, safe="~")


def rpc_signature(secret: str, method: str, params: dict[str, str]) -> str:
    canonical = "&".join(f"{_enc(k)}={_enc(v)}" for k, v in sorted(params.items()) if k != "Signature")
    to_sign = f"{method}&{_enc('/')}&{_enc(canonical)}"
    return base64.b64encode(hmac.new(f"{secret}&".encode(), to_sign.encode(), hashlib.sha1).digest()).decode()


class Session(NamedTuple):
    access_key_id: str
    access_key_secret: str
    security_token: str


class _Handler(TrackedHandler):
    def do_GET(self) -> None:
        query = dict(parse_qsl(urlsplit(self.path).query, keep_blank_values=True))
        status, body = self.server.owner._answer(query)
        payload = json.dumps({"RequestId": str(uuid.uuid4()).upper(), **body}).encode()
        head = (f"HTTP/1.1 {status} {HTTPStatus(status).phrase}\r\nContent-Type: application/json;charset=utf-8\r\n"
                f"Content-Length: {len(payload)}\r\n\r\n")
        self.wfile.write(head.encode() + payload)


class FakeSts(LoopbackServer):
    """AssumeRole for the callers in `secrets` (id -> secret), AssumeRoleWithOIDC for `oidc_tokens`; both only for
    `roles`. Each success issues the next of `sessions`, valid for `lifetime` seconds. `calls` keeps every query
    without its Signature; `fail_with` (status, Code) answers every call until cleared."""

    handler = _Handler
    thread_name = "fake-sts"

    def __init__(self, roles: set[str], secrets: Optional[dict[str, str]] = None,
                 oidc_tokens: Optional[set[str]] = None, lifetime: float = 3600.0):
        super().__init__()
        self.roles, self.secrets, self.oidc_tokens = set(roles), dict(secrets or {}), set(oidc_tokens or ())
        self.lifetime = lifetime
        run = uuid.uuid4().hex[:8]
        self.sessions = [Session(f"STS.{run}{n}", f"sts-secret-{run}-{n}", f"sts-token-{run}-{n}")
                         for n in range(SESSIONS)]
        self.issued: list[Session] = []
        self.calls: list[dict[str, str]] = []
        self.fail_with: Optional[tuple[int, str]] = None
        self.lock = threading.Lock()

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def session_secrets(self) -> dict[str, str]:
        return {s.access_key_id: s.access_key_secret for s in self.sessions}

    def _known_secret(self, key_id: str) -> Optional[str]:
        issued = {s.access_key_id: s.access_key_secret for s in self.issued}
        return self.secrets.get(key_id) or issued.get(key_id)

    def _answer(self, query: dict[str, str]) -> tuple[int, dict[str, Any]]:
        with self.lock:
            self.calls.append({k: v for k, v in query.items() if k != "Signature"})
            if self.fail_with is not None:
                status, code = self.fail_with
                return status, {"HostId": "sts.aliyuncs.com", "Code": code, "Message": f"{code} (injected)"}
            action, role = query.get("Action"), query.get("RoleArn", "")
            if query.get("Version") != "2015-04-01" or action not in ("AssumeRole", "AssumeRoleWithOIDC"):
                return 400, {"Code": "InvalidAction.NotFound", "Message": "Specified api is not found."}
            if action == "AssumeRole":
                secret = self._known_secret(query.get("AccessKeyId", ""))
                if secret is None:
                    return 404, {"Code": "InvalidAccessKeyId.NotFound", "Message": "Specified access key is not found."}
                if not hmac.compare_digest(rpc_signature(secret, "GET", query), query.get("Signature", "")):
                    return 400, {"Code": "SignatureDoesNotMatch", "Message": "Specified signature is not matched."}
            elif query.get("OIDCToken") not in self.oidc_tokens or not query.get("OIDCProviderArn"):
                return 400, {"Code": "AuthenticationFail.OIDCToken.Invalid", "Message": "The OIDC token is invalid."}
            if role not in self.roles:
                return 404, {"Code": "EntityNotExist.Role", "Message": "The role not exists."}
            if len(self.issued) == len(self.sessions):
                return 400, {"Code": "Throttling", "Message": "No session left in this fake."}
            session = self.sessions[len(self.issued)]
            self.issued.append(session)
        expiration = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + self.lifetime))
        return 200, {"AssumedRoleUser": {"Arn": f"{role}/{query.get('RoleSessionName')}", "AssumedRoleId": "1:x"},
                     "Credentials": {"AccessKeyId": session.access_key_id, "AccessKeySecret": session.access_key_secret,
                                     "SecurityToken": session.security_token, "Expiration": expiration}}


class Signer(NamedTuple):
    action: str
    access_key_id: str
    security_token: Optional[str]  # x-acs-security-token (ACS3) or SecurityToken (v2 signing)


class SignedEmulator(Emulator):
    """The cloud emulator, also keeping who signed each authenticated request: `signers`."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.signers: list[Signer] = []
        super().__init__(*args, **kwargs)

    def _authenticate(self, handler, path, query, params, body):  # noqa: ANN001 - the emulator's own hook
        key_id = super()._authenticate(handler, path, query, params, body)
        action = handler.headers.get("x-acs-action") or params.get("Action") or ""
        token = handler.headers.get("x-acs-security-token") or params.get("SecurityToken")
        with self.lock:
            self.signers.append(Signer(action, key_id, token))
        return key_id
