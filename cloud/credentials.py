"""Where the dynamic providers find credentials: the settings pulumi-alicloud reads, in its order.

The rules are the Terraform provider's inside pulumi-alicloud (terraform-provider-alicloud 81c43b6,
alicloud/provider.go `providerConfigure` lines 2155-2544; alicloud/connectivity/config.go
`RefreshAuthCredential` 460-468), under pulumi-alicloud's key names (pulumi_alicloud/config/vars.py). A setting
is its stack value, else the first environment variable set, else the field of the named Aliyun CLI profile
(`getProviderConfig`, provider.go:2157-2167). The credentials are then, first match wins:

1. no AccessKey, and a profile in a mode the provider hands to the credentials library (provider.go:2186-2203:
   ChainableRamRoleArn, CloudSSO, External, OAuth; OIDC as well here): that profile;
2. no AccessKey, and a credentials URI (provider.go:2205-2215);
3. an AccessKey, with the security token when there is one (STS; provider.go:2241-2262);
4. an ECS RAM role name (config.go:303-322);
5. `assumeRoleWithOidc`, RRSA in a pod (config.go:325-...; provider.go:4321-4385);
6. none of these: the library's default credential chain (its environment variables, RRSA variables, the CLI's
   current profile, ~/.alibabacloud/credentials, ECS metadata), where pulumi-alicloud stops with "no valid
   credential sources" (provider.go:2530-2534).
`assumeRole`, or a RamRoleArn profile, then assumes a RAM role with them (config.go:259-300).

Each becomes an `alibabacloud_credentials` client (from its `Config` where it has one) that the SDK clients
take as `credential=`, so STS tokens are sent and refreshed by the library. Never resource inputs (they reach
the state); secrets stay out of repr, str, exceptions and the library's log lines.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import re
from dataclasses import dataclass, field
from typing import Any, Mapping, Optional
from urllib.parse import urlsplit

DEFAULT_REGION = "cn-beijing"  # alicloud/common.go:282 DEFAULT_REGION (provider.go:2172-2174)
DEFAULT_PROFILE_FILE = "~/.aliyun/config.json"  # provider.go:4234-4240 defaultConfigPath
# Test-only override, e.g. `http://127.0.0.1:8080`: where the emulator listens (ACK_EDGE_LB_STS_ENDPOINT too).
ENDPOINT_ENV = "ACK_EDGE_LB_{product}_ENDPOINT"
KUBECONFIG_CONFIG, KUBE_CONTEXT_CONFIG = "kubernetes:kubeconfig", "kubernetes:context"  # what pulumi-kubernetes reads

# setting: (pulumi-alicloud key, environment variables in the provider's order, Aliyun CLI profile field)
SETTINGS: dict[str, tuple[str, tuple[str, ...], Optional[str]]] = {
    # vars.py:29; provider.go:32-37 (schema), 2169 (profile field)
    "access_key": ("alicloud:accessKey",
                   ("ALICLOUD_ACCESS_KEY", "ALIBABA_CLOUD_ACCESS_KEY_ID", "ALIBABACLOUD_ACCESS_KEY_ID"), "access_key_id"),
    # vars.py:142; provider.go:38-43, 2170
    "secret_key": ("alicloud:secretKey",
                   ("ALICLOUD_SECRET_KEY", "ALIBABA_CLOUD_ACCESS_KEY_SECRET", "ALIBABACLOUD_ACCESS_KEY_SECRET"),
                   "access_key_secret"),
    # vars.py:156; provider.go:44-49, 2175
    "security_token": ("alicloud:securityToken",
                       ("ALICLOUD_SECURITY_TOKEN", "ALIBABA_CLOUD_SECURITY_TOKEN", "ALIBABACLOUD_SECURITY_TOKEN"),
                       "sts_token"),
    # vars.py:83; provider.go:50-55, 2177
    "ecs_role_name": ("alicloud:ecsRoleName", ("ALICLOUD_ECS_ROLE_NAME", "ALIBABA_CLOUD_ECS_METADATA"), "ram_role_name"),
    # vars.py:135; provider.go:56-61, 2171. ALIBABA_CLOUD_REGION_ID: read by earlier versions of this program.
    "region": ("alicloud:region", ("ALICLOUD_REGION", "ALIBABA_CLOUD_REGION", "ALIBABA_CLOUD_REGION_ID"), "region_id"),
    # vars.py:36; provider.go:77-82, 2262-2264: the account, when known, keys the rate limits
    "account_id": ("alicloud:accountId", ("ALICLOUD_ACCOUNT_ID", "ALIBABA_CLOUD_ACCOUNT_ID"), None),
    # vars.py:124; provider.go:104-109
    "profile": ("alicloud:profile", ("ALICLOUD_PROFILE", "ALIBABA_CLOUD_PROFILE"), None),
    # vars.py:167; provider.go:98-103
    "shared_credentials_file": ("alicloud:sharedCredentialsFile",
                                ("ALICLOUD_SHARED_CREDENTIALS_FILE", "ALIBABA_CLOUD_CREDENTIALS_FILE"), None),
    # vars.py:76; provider.go:161-166
    "credentials_uri": ("alicloud:credentialsUri", ("ALICLOUD_CREDENTIALS_URI", "ALIBABA_CLOUD_CREDENTIALS_URI"), None),
}
ASSUME_ROLE = "alicloud:assumeRole"  # vars.py:44; provider.go:2853-2891 (schema), 2272-2303 (use)
ASSUME_ROLE_ENV = {"roleArn": ("ALICLOUD_ASSUME_ROLE_ARN", "ALIBABA_CLOUD_ROLE_ARN"),  # provider.go:2864
                   "sessionName": ("ALICLOUD_ASSUME_ROLE_SESSION_NAME", "ALIBABA_CLOUD_ROLE_SESSION_NAME")}  # :2870
SESSION_EXPIRATION_ENV = "ALICLOUD_ASSUME_ROLE_SESSION_EXPIRATION"  # provider.go:2293
OIDC = "alicloud:assumeRoleWithOidc"  # vars.py:48; provider.go:2893-2946 (schema), 4321-4385 (use)
OIDC_ENV = {"oidcProviderArn": ("ALIBABA_CLOUD_OIDC_PROVIDER_ARN",), "oidcTokenFile": ("ALIBABA_CLOUD_OIDC_TOKEN_FILE",),
            "oidcToken": ("ALIBABA_CLOUD_OIDC_TOKEN",), "roleArn": ("ALIBABA_CLOUD_ROLE_ARN",),
            "roleSessionName": ("ALIBABA_CLOUD_ROLE_SESSION_NAME",)}  # provider.go:2904-2930
ENDPOINTS, PROTOCOL = "alicloud:endpoints", "alicloud:protocol"  # vars.py:87, 128; provider.go:2320-2353, 124-130
ALICLOUD_KEYS = (*(s[0] for s in SETTINGS.values()), ASSUME_ROLE, OIDC, ENDPOINTS, PROTOCOL)
# Profile modes the provider reads field by field (getConfigFromProfile, provider.go:4242-4319).
FIELD_MODES = ("AK", "StsToken", "RamRoleArn", "EcsRamRole")


class CredentialsError(Exception):
    """Credentials could not be set up or fetched; the message names their source, never a secret."""


class MissingCredentials(CredentialsError):
    """No setting names credentials, and the library's default chain found none."""


# --- secrets out of every text ----------------------------------------------------------------------

_SECRETS: set[str] = set()  # secret values met while resolving, masked wherever text is shown
_SECRET_FIELD = re.compile(r"(?i)((?:access_?key_?secret|secret_?key|security_?token|sts_?token|oidc_?token"
                           r"|signature)[\"']?\s*[:=]\s*[\"']?)[^\"'&,;\s}]+")


def _secret(value: str) -> str:
    if len(value) >= 8:  # shorter values would mask ordinary words; real secrets are 30 characters and more
        _SECRETS.add(value)
    return value


def redact(text: str) -> str:
    """`text` with every known secret, and whatever follows a secret's field name, replaced by ***."""
    for secret in _SECRETS:
        text = text.replace(secret, "***")
    return _SECRET_FIELD.sub(r"\1***", text)


class _RedactedLog(logging.Filter):
    """The library logs refresh failures with the exception (and an STS answer) to its own stderr handler."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg, record.args = redact(record.getMessage()), ()
        record.exc_info = record.exc_text = None  # a traceback would repeat the message unmasked
        return True


logging.getLogger("credentials").addFilter(_RedactedLog())  # the logger of alibabacloud_credentials


# --- reading settings -------------------------------------------------------------------------------

def provider_config(config: Any, kubernetes: bool = False) -> dict[str, Any]:
    """What a dynamic provider's `configure()` keeps of the stack configuration (`ConfigureRequest.config`):
    every `alicloud:` key above, and with `kubernetes` the kubeconfig and context. Kept in memory only."""
    keys = ALICLOUD_KEYS + ((KUBECONFIG_CONFIG, KUBE_CONTEXT_CONFIG) if kubernetes else ())
    return {key: value for key in keys if (value := config.get(key)) not in (None, "")}


def _text(config: Mapping[str, Any], env: Mapping[str, str], key: str, names: tuple[str, ...]) -> tuple[str, str]:
    """(value, where from): the stack value, else the first variable set (the schema's MultiEnvDefaultFunc)."""
    value = config.get(key)
    if value not in (None, ""):
        return str(value).strip(), key
    return next(((env[n].strip(), n) for n in names if (env.get(n) or "").strip()), ("", ""))


def _object(config: Mapping[str, Any], key: str) -> Optional[dict[str, Any]]:
    """A block setting: an object, its JSON text, or a list of one (Terraform blocks are lists)."""
    raw = config.get(key)
    if isinstance(raw, str) and raw.strip():
        try:
            raw = json.loads(raw)
        except ValueError:
            raise CredentialsError(f"{key} is not a JSON object") from None
    if isinstance(raw, list):
        raw = raw[0] if raw else None
    if raw is None or raw == "":
        return None  # an empty object is a block whose fields all come from the environment
    if not isinstance(raw, dict):
        raise CredentialsError(f"{key} is not an object but a {type(raw).__name__}")
    return raw


def _field(block: Mapping[str, Any], name: str, env: Mapping[str, str], names: tuple[str, ...] = ()) -> str:
    """A block field by its Pulumi name (or the Terraform one), else its variables (provider.go DefaultFunc)."""
    value = block.get(name, block.get(re.sub(r"([A-Z])", r"_\1", name).lower()))
    if value in (None, ""):
        value = next((env[n] for n in names if env.get(n)), "")
    return str(value).strip()


def _seconds(text: str, key: str) -> int:
    try:
        return int(float(text or 0))
    except ValueError:
        raise CredentialsError(f"{key}: the session expiration {text!r} is not a number of seconds") from None


def _split(raw: str, scheme: str = "http") -> tuple[str, str]:
    parts = urlsplit(raw if "://" in raw else f"{scheme}://{raw}")
    return parts.netloc, parts.scheme


def endpoint_override(product: str, env: Optional[Mapping[str, str]] = None) -> Optional[tuple[str, str]]:
    """(host:port, protocol) when `ACK_EDGE_LB_<PRODUCT>_ENDPOINT` points the SDK elsewhere."""
    env = os.environ if env is None else env
    raw = env.get(ENDPOINT_ENV.format(product=product.upper()))
    return _split(raw) if raw else None


def configured_endpoint(key: str, config: Optional[Mapping[str, Any]]) -> Optional[tuple[str, str]]:
    """(host, protocol) of `alicloud:endpoints` entry `key` (ens, nlb, slb, sts), with `alicloud:protocol`."""
    raw = (config or {}).get(ENDPOINTS)
    entries = json.loads(raw) if isinstance(raw, str) and raw.strip() else raw
    entries = [entries] if isinstance(entries, dict) else entries or []
    host = next((str(e[key]).strip() for e in entries if isinstance(e, dict) and e.get(key)), "")
    return _split(host, str((config or {}).get(PROTOCOL) or "HTTPS").lower()) if host else None


def _profile(name: str, path: str) -> tuple[dict[str, Any], str]:
    """The CLI profile `name` of `path`, {} when either is missing (provider.go:4244-4275 reads it so)."""
    path = os.path.abspath(os.path.expanduser(path or DEFAULT_PROFILE_FILE))
    if not os.path.isfile(path):
        return {}, path
    try:
        with open(path, encoding="utf-8") as f:
            document = json.load(f)
    except (OSError, ValueError) as exc:
        raise CredentialsError(f"cannot read the Aliyun CLI profiles in {path}: {type(exc).__name__}") from None
    profiles = document.get("profiles") if isinstance(document, dict) else None
    return next((p for p in profiles or [] if isinstance(p, dict) and p.get("name") == name), {}), path


def _profile_field(profile: Mapping[str, Any], key: str) -> Any:
    """getConfigFromProfile (provider.go:4277-4318): a field only where the profile's mode uses it."""
    mode = profile.get("mode")
    if not mode or (mode not in FIELD_MODES and key != "region_id"):
        return None
    used = {"access_key_id": mode != "EcsRamRole", "access_key_secret": mode != "EcsRamRole",
            "ram_role_name": mode == "EcsRamRole", "sts_token": mode == "StsToken", "ram_role_arn": mode == "RamRoleArn",
            "ram_session_name": mode == "RamRoleArn", "expired_seconds": mode == "RamRoleArn"}
    return profile.get(key) if used.get(key, True) else None


# --- what the library builds ------------------------------------------------------------------------

@dataclass(frozen=True)
class Recipe:
    """One library client: `kind` is its Config type (or cli_profile, default); `base`, when set, the credentials
    a RAM role is assumed with, if they are not an AccessKey. Hashable, so one client serves a whole process."""

    kind: str
    options: tuple[tuple[str, Any], ...] = field(default=(), repr=False)  # Config fields, secrets among them
    base: Optional["Recipe"] = None

    def option(self, name: str) -> Any:
        return dict(self.options).get(name)


def resolve(config: Optional[Mapping[str, Any]] = None, env: Optional[Mapping[str, str]] = None,
            region: Optional[str] = None) -> "Credentials":
    """Credentials as pulumi-alicloud finds them (see the module), in `region` or the configured one."""
    env, config = (os.environ if env is None else env), config or {}
    profile_name, _ = _text(config, env, *SETTINGS["profile"][:2])
    profile, profile_file = {}, ""
    if profile_name:
        profile, profile_file = _profile(profile_name, _text(config, env, *SETTINGS["shared_credentials_file"][:2])[0])
    in_profile = f"profile {profile_name!r} in {profile_file}"

    def setting(name: str) -> tuple[str, str]:
        key, names, profile_key = SETTINGS[name]
        value, origin = _text(config, env, key, names)
        if not value and profile_key and profile:
            value, origin = str(_profile_field(profile, profile_key) or "").strip(), in_profile
        return value, origin

    (ak, ak_from), (sk, _), (token, token_from) = setting("access_key"), setting("secret_key"), setting("security_token")
    configured_region = setting("region")[0] or DEFAULT_REGION
    sts = _sts_endpoint(config, env, configured_region)
    uri, uri_from = setting("credentials_uri")
    ecs_role, ecs_from = setting("ecs_role_name")
    if not (ak and sk) and profile.get("mode") and profile["mode"] not in FIELD_MODES:
        recipe = Recipe("cli_profile", (("profile_name", profile_name), ("profile_file", profile_file)))
        source, account = f"{in_profile} (mode {profile.get('mode')})", f"profile:{profile_name}"
    elif not (ak and sk) and uri:
        recipe, source = Recipe("credentials_uri", (("credentials_uri", uri),)), f"the credentials URI of {uri_from}"
        parts = urlsplit(uri)
        account = f"uri:{parts.netloc}{parts.path}"
    elif ak and sk:
        options = (("access_key_id", ak), ("access_key_secret", _secret(sk)))
        recipe = Recipe("sts", (*options, ("security_token", _secret(token)))) if token else Recipe("access_key", options)
        source = f"AccessKey {ak[:4]}*** of {ak_from}" + (f" with the STS token of {token_from}" if token else "")
        account = ak
    elif ecs_role:
        recipe, source, account = Recipe("ecs_ram_role", (("role_name", ecs_role),)), \
            f"ECS RAM role {ecs_role!r} of {ecs_from}", f"ecs-role:{ecs_role}"
    else:
        recipe, source, account = _oidc(config, env, sts) or (
            Recipe("default"), "the default credential chain of alibabacloud-credentials", "default")
    role = _assume_role(config, env, profile, in_profile)
    if role is not None:
        options, role_from, role_arn = role
        options += (("sts_endpoint", sts),)
        recipe = (Recipe("ram_role_arn", recipe.options + options) if recipe.kind in ("access_key", "sts")
                  else Recipe("ram_role_arn", options, recipe))
        source, account = f"RAM role {role_arn} of {role_from}, assumed with {source}", role_arn
    hint = f"{in_profile} does not exist" if profile_name and not profile else ""
    return Credentials(region_id=region or configured_region, recipe=recipe, source=source,
                       account=setting("account_id")[0] or account, hint=hint)


def _sts_endpoint(config: Mapping[str, Any], env: Mapping[str, str], region: str) -> str:
    found = endpoint_override("sts", env) or configured_endpoint("sts", config)
    if not found:
        return f"sts.{region}.aliyuncs.com"  # provider.go:2487-2489 (connectivity.LoadRegionalEndpoint)
    host, scheme = found
    # The library sends https to a bare host; TeaCore keeps an explicit http:// (tests reach a local STS so).
    return f"http://{host}" if scheme == "http" else host


def _assume_role(config: Mapping[str, Any], env: Mapping[str, str], profile: Mapping[str, Any],
                 in_profile: str) -> Optional[tuple[tuple[tuple[str, Any], ...], str, str]]:
    """(Config fields, where from, role ARN) of the RAM role to assume: a RamRoleArn profile's
    (provider.go:2272-2277), overridden by `assumeRole` (2279-2303)."""
    arn, session = (str(_profile_field(profile, k) or "") for k in ("ram_role_arn", "ram_session_name"))
    expiration, policy, external_id, origin = int(_profile_field(profile, "expired_seconds") or 0), "", "", in_profile
    block = _object(config, ASSUME_ROLE)
    if block is not None:
        arn = _field(block, "roleArn", env, ASSUME_ROLE_ENV["roleArn"]) or arn
        session = _field(block, "sessionName", env, ASSUME_ROLE_ENV["sessionName"]) or session or "terraform"
        policy, external_id = _field(block, "policy", env), _field(block, "externalId", env)
        seconds = _seconds(_field(block, "sessionExpiration", env), ASSUME_ROLE)
        if not seconds and (env.get(SESSION_EXPIRATION_ENV) or "").isdigit():
            expiration = int(env[SESSION_EXPIRATION_ENV])
        expiration, origin = seconds or expiration or 3600, ASSUME_ROLE
    if not arn:
        return None
    options = (("role_arn", arn), ("role_session_name", session), ("role_session_expiration", expiration),
               ("policy", policy), ("external_id", external_id))
    return tuple((k, v) for k, v in options if v), origin, arn


def _oidc(config: Mapping[str, Any], env: Mapping[str, str], sts: str) -> Optional[tuple[Recipe, str, str]]:
    block = _object(config, OIDC)
    if block is None:
        return None
    value = {name: _field(block, name, env, OIDC_ENV.get(name, ())) for name in
             ("roleArn", "oidcProviderArn", "oidcTokenFile", "oidcToken", "roleSessionName", "policy",
              "sessionExpiration")}
    if not value["roleArn"] or not value["oidcProviderArn"]:
        raise CredentialsError(f"{OIDC} needs roleArn and oidcProviderArn (or ALIBABA_CLOUD_ROLE_ARN and "
                               "ALIBABA_CLOUD_OIDC_PROVIDER_ARN)")
    if not value["oidcToken"] and not value["oidcTokenFile"]:  # provider.go:4368-4370
        raise CredentialsError(f"{OIDC} needs oidcTokenFile (or ALIBABA_CLOUD_OIDC_TOKEN_FILE) or oidcToken")
    # An inline token wins over the file (provider.go:4351-4366); the library reads a file, so it gets one.
    token = (("oidc_token", _secret(value["oidcToken"])) if value["oidcToken"]
             else ("oidc_token_file_path", value["oidcTokenFile"]))
    options = (("role_arn", value["roleArn"]), ("oidc_provider_arn", value["oidcProviderArn"]), token,
               ("role_session_name", value["roleSessionName"] or "terraform"),  # provider.go:4343-4345
               ("role_session_expiration", _seconds(value["sessionExpiration"], OIDC)), ("policy", value["policy"]),
               ("sts_endpoint", sts))
    role = value["roleArn"]
    return Recipe("oidc_role_arn", tuple((k, v) for k, v in options if v)), f"OIDC role {role} of {OIDC}", role


@functools.lru_cache(maxsize=32)
def _client(recipe: Recipe) -> Any:
    """One library client per recipe and process: role sessions are reused until the library refreshes them,
    and the ECS metadata provider (which starts a refresh thread per instance) is made once."""
    from alibabacloud_credentials import provider as providers
    from alibabacloud_credentials.client import Client
    from alibabacloud_credentials.models import Config

    options = dict(recipe.options)
    if recipe.kind == "default":
        return Client()
    if recipe.kind == "cli_profile":
        return Client(provider=providers.CLIProfileCredentialsProvider(**options))
    if "oidc_token" in options:
        options["oidc_token_file_path"] = _in_memory_file(options.pop("oidc_token"))
    if recipe.base is not None:  # the library's Config assumes roles with an AccessKey only
        base = _client(recipe.base).cloud_credential.provider
        return Client(provider=providers.RamRoleArnCredentialsProvider(
            credentials_provider=base, role_arn=options["role_arn"], role_session_name=options.get("role_session_name"),
            duration_seconds=options.get("role_session_expiration"), policy=options.get("policy"),
            external_id=options.get("external_id"), sts_endpoint=options.get("sts_endpoint")))
    return Client(Config(type=recipe.kind, **options))


def _in_memory_file(text: str) -> str:
    """A path the library can read an inline OIDC token from without the token touching a disk."""
    if not hasattr(os, "memfd_create"):
        raise CredentialsError(f"{OIDC}.oidcToken needs Linux here: set oidcTokenFile (ALIBABA_CLOUD_OIDC_TOKEN_FILE)")
    fd = os.memfd_create("oidc-token", getattr(os, "MFD_CLOEXEC", 0))
    os.write(fd, text.encode())
    return f"/proc/self/fd/{fd}"


def missing_message(hint: str = "", chain: str = "") -> str:
    """Every way to give the dynamic providers credentials, on one line."""
    def key(name: str) -> str:
        return SETTINGS[name][0]

    def env(name: str) -> str:
        return " or ".join(SETTINGS[name][1])

    ways = [f"an AccessKey: `pulumi config set {key('access_key')} <id>` and `pulumi config set --secret "
            f"{key('secret_key')} <secret>` (an STS token also in {key('security_token')}), or {env('access_key')} "
            f"and {env('secret_key')} (and {env('security_token')})",
            f"an Aliyun CLI profile: {key('profile')} or {env('profile')}, in {key('shared_credentials_file')} or "
            f"{env('shared_credentials_file')} (default {DEFAULT_PROFILE_FILE})",
            f"an ECS RAM role: {key('ecs_role_name')} or {env('ecs_role_name')}",
            f"RRSA: {OIDC} {{roleArn, oidcProviderArn, oidcTokenFile}}, or ALIBABA_CLOUD_ROLE_ARN, "
            "ALIBABA_CLOUD_OIDC_PROVIDER_ARN and ALIBABA_CLOUD_OIDC_TOKEN_FILE",
            f"a credentials URI: {key('credentials_uri')} or {env('credentials_uri')}"]
    text = (f"no Alibaba Cloud credentials: set {'; or '.join(ways)} ({ASSUME_ROLE} {{roleArn}} then assumes a RAM "
            "role with them)")
    text += f". Note: {hint}" if hint else ""
    return text + (f". The library's default chain found none: {' '.join(redact(chain).split())}" if chain else "")


class Credentials:
    """Credentials for the SDK clients: the library client of one recipe, and what may be shown of it.

    The SDK takes it as `Config(credential=...)` and calls `get_credential()` for every request, so the
    library refreshes role, OIDC and ECS sessions. `account` stays the same across sessions (`alicloud:accountId`,
    else the AccessKey id, role ARN, profile or ECS role): rate limits are kept per account.
    """

    def __init__(self, access_key_id: str = "", access_key_secret: str = "", region_id: str = DEFAULT_REGION, *,
                 recipe: Optional[Recipe] = None, source: str = "", account: str = "", hint: str = ""):
        if recipe is None:  # the positional form: a static AccessKey, as benchmarks and tests build one
            recipe = Recipe("access_key", (("access_key_id", access_key_id),
                                           ("access_key_secret", _secret(access_key_secret))))
            source, account = source or f"AccessKey {access_key_id[:4]}***", account or access_key_id
        self.recipe, self.region_id, self.source, self.account, self.hint = recipe, region_id, source, account, hint
        self._checked = False

    @property
    def kind(self) -> str:
        return self.recipe.kind

    def in_region(self, region_id: str) -> "Credentials":
        return Credentials(region_id=region_id, recipe=self.recipe, source=self.source, account=self.account,
                           hint=self.hint)

    def get_credential(self) -> Any:
        """The library's CredentialModel now (refreshed when stale); CredentialsError when it cannot."""
        try:
            return _client(self.recipe).get_credential()
        except CredentialsError:
            raise
        except Exception as exc:  # noqa: BLE001 - the library raises ValueError, CredentialException, I/O errors
            raise self._failure(exc) from None

    async def get_credential_async(self) -> Any:
        try:
            return await _client(self.recipe).get_credential_async()
        except CredentialsError:
            raise
        except Exception as exc:  # noqa: BLE001
            raise self._failure(exc) from None

    def check(self) -> None:
        """Fetch once before the first call, so missing credentials fail before anything is sent."""
        if not self._checked:
            self.get_credential()
            self._checked = True

    def _failure(self, exc: Exception) -> CredentialsError:
        if self.kind == "default":
            return MissingCredentials(missing_message(self.hint, str(exc)))
        return CredentialsError(f"cannot get Alibaba Cloud credentials from {self.source}: "
                                f"{type(exc).__name__}: {' '.join(redact(str(exc)).split())}")

    def __repr__(self) -> str:
        return f"Credentials({self.kind}: {self.source}, region {self.region_id})"

    def __str__(self) -> str:
        return f"{self.source} in {self.region_id}"
