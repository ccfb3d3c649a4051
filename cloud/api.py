"""A thin adapter over an official Alibaba Cloud SDK client, shared by every dynamic provider.

Every call goes through `retry.call` (backoff with jitter on throttling, busy and 5xx codes) and the
SDK's own retry is switched off, so there is exactly one retry policy. Requests are built with the
SDK models' `from_map`, from the API's own field names, and answered as plain dicts. The SDK signs with
`credentials.Credentials` (`Config(credential=...)`), so STS tokens go out and are refreshed by the library.
"""

from __future__ import annotations

import functools
import importlib
import time
from dataclasses import dataclass
from typing import Any, Callable, ClassVar, Mapping, Optional

from cloud import credentials
from cloud.retry import DEFAULT, RetryPolicy, call

# Told of every request sent, retries included (the controller's metrics): fn(product, action, result, seconds),
# `result` "ok" or the error's code. An observer must not raise.
CALL_OBSERVERS: list[Callable[[str, str, str, float], None]] = []


@dataclass(frozen=True)
class Product:
    name: str      # as in ACK_EDGE_LB_<NAME>_ENDPOINT
    package: str   # the official SDK package
    endpoint: str  # {region} is the credentials' region
    label: str     # how errors name it
    setting: str   # its entry in `alicloud:endpoints`, as pulumi-alicloud names it


PRODUCTS = {
    "ens": Product("ens", "alibabacloud_ens20171110", "ens.aliyuncs.com", "ENS", "ens"),
    "nlb": Product("nlb", "alibabacloud_nlb20220430", "nlb.{region}.aliyuncs.com", "NLB", "nlb"),
    "clb": Product("clb", "alibabacloud_slb20140515", "slb.{region}.aliyuncs.com", "CLB", "slb"),
}


@dataclass
class CloudApi:
    creds: credentials.Credentials
    endpoint: str
    protocol: str = "https"
    policy: RetryPolicy = DEFAULT
    read_timeout_ms: int = 15000
    PRODUCT: ClassVar[str] = ""

    @property
    def account(self) -> str:
        """Stable per account, whatever session signs: what the rate-limit buckets are keyed by."""
        return self.creds.account

    @property
    def region_id(self) -> str:
        return self.creds.region_id

    @classmethod
    def from_environment(cls, config: Optional[Mapping[str, Any]] = None, policy: RetryPolicy = DEFAULT,
                         read_timeout: float = 15.0, region: Optional[str] = None) -> "CloudApi":
        """Credentials as pulumi-alicloud finds them (`credentials.resolve`) from `alicloud:` settings, the
        environment and profiles; the endpoint from ACK_EDGE_LB_<PRODUCT>_ENDPOINT, `alicloud:endpoints`, or the
        region. No network call: credentials are fetched on the first request."""
        product = PRODUCTS[cls.PRODUCT]
        creds = credentials.resolve(config, region=region)
        endpoint, protocol = (credentials.endpoint_override(product.name)
                              or credentials.configured_endpoint(product.setting, config)
                              or (product.endpoint.format(region=creds.region_id), "https"))
        return cls(creds, endpoint, protocol, policy, int(read_timeout * 1000))

    @functools.cached_property
    def _sdk(self):
        return importlib.import_module(PRODUCTS[self.PRODUCT].package)

    @functools.cached_property
    def client(self):
        from alibabacloud_tea_openapi.models import Config

        client_class = importlib.import_module(f"{PRODUCTS[self.PRODUCT].package}.client").Client
        return client_class(Config(credential=self.creds, region_id=self.creds.region_id, endpoint=self.endpoint,
                                   protocol=self.protocol))

    def runtime(self):
        from alibabacloud_tea_util.models import RuntimeOptions

        return RuntimeOptions(autoretry=False, read_timeout=self.read_timeout_ms, connect_timeout=5000)

    def request(self, action: str, method: str, params: Mapping[str, Any],
                before_each: Optional[Callable[[], None]] = None) -> dict[str, Any]:
        """Call `<Action>` with API-named `params`; the response body as a dict.

        `before_each` runs before every attempt, retries included: a rate limit's token is taken per call sent.
        Credentials that cannot be had raise `credentials.CredentialsError` (MissingCredentials when there are
        none) before anything is sent; a session that cannot be refreshed later fails the call, without retries.
        """
        models = importlib.import_module(f"{PRODUCTS[self.PRODUCT].package}.models")
        request = getattr(models, f"{action}Request")().from_map(dict(params))
        self.creds.check()
        client, runtime = self.client, self.runtime()

        def attempt():
            if before_each is not None:
                before_each()
            started, result = time.monotonic(), "ok"
            try:
                return getattr(client, f"{method}_with_options")(request, runtime)
            except Exception as exc:
                result = str(getattr(exc, "code", None) or type(exc).__name__)
                # A session refresh that failed inside the SDK arrives wrapped as a transport error.
                inner = getattr(exc, "inner_exception", None)
                if isinstance(inner, credentials.CredentialsError):
                    raise inner from None
                raise
            finally:
                for observe in CALL_OBSERVERS:
                    observe(self.PRODUCT, action, result, time.monotonic() - started)

        response = call(attempt, what=f"{PRODUCTS[self.PRODUCT].label} {action}", policy=self.policy)
        return response.body.to_map() if response.body is not None else {}


class NlbApi(CloudApi):
    PRODUCT = "nlb"


class ClbApi(CloudApi):
    PRODUCT = "clb"
