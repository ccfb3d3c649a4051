"""Where the dynamic providers find credentials: the environment or the provider configuration.

Never resource inputs: inputs and outputs are stored in the Pulumi state. The secret is kept out of
`repr` so it cannot reach a log line or an exception message by accident.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Mapping, Optional
from urllib.parse import urlsplit

ACCESS_KEY_ENV = ("ALIBABA_CLOUD_ACCESS_KEY_ID", "ALIBABA_CLOUD_ACCESS_KEY_SECRET")
# The pulumi-alicloud provider's configuration, which a stack already has when it uses the provider.
ACCESS_KEY_CONFIG = ("alicloud:accessKey", "alicloud:secretKey")
REGION_ENV, REGION_CONFIG = "ALIBABA_CLOUD_REGION_ID", "alicloud:region"
# Test-only override, e.g. `http://127.0.0.1:8080`: where the emulator listens.
ENDPOINT_ENV = "ACK_EDGE_LB_{product}_ENDPOINT"


class MissingCredentials(Exception):
    pass


@dataclass(frozen=True)
class Credentials:
    access_key_id: str
    access_key_secret: str = field(repr=False)
    region_id: str = "cn-hangzhou"

    def __str__(self) -> str:
        return f"AccessKey {self.access_key_id[:4]}*** in {self.region_id}"


def resolve(config: Optional[Mapping[str, Any]] = None, env: Optional[Mapping[str, str]] = None) -> Credentials:
    """Credentials from the environment first, then from `alicloud:` provider configuration."""
    env = os.environ if env is None else env
    config = config or {}
    key_id = env.get(ACCESS_KEY_ENV[0]) or config.get(ACCESS_KEY_CONFIG[0])
    secret = env.get(ACCESS_KEY_ENV[1]) or config.get(ACCESS_KEY_CONFIG[1])
    if not key_id or not secret:
        raise MissingCredentials(
            f"no Alibaba Cloud AccessKey: set {ACCESS_KEY_ENV[0]} and {ACCESS_KEY_ENV[1]}, or "
            f"`pulumi config set {ACCESS_KEY_CONFIG[0]} <id>` and `pulumi config set --secret {ACCESS_KEY_CONFIG[1]} <secret>`")
    region = env.get(REGION_ENV) or config.get(REGION_CONFIG) or "cn-hangzhou"
    return Credentials(str(key_id), str(secret), str(region))


def endpoint_override(product: str, env: Optional[Mapping[str, str]] = None) -> Optional[tuple[str, str]]:
    """(host:port, protocol) when `ACK_EDGE_LB_<PRODUCT>_ENDPOINT` points the SDK elsewhere."""
    env = os.environ if env is None else env
    raw = env.get(ENDPOINT_ENV.format(product=product.upper()))
    if not raw:
        return None
    parts = urlsplit(raw if "://" in raw else f"http://{raw}")
    return parts.netloc, parts.scheme
