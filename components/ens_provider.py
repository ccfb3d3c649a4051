"""The common base class of the ENS dynamic providers (TCP/HTTPS listeners, the EIP address)."""

from __future__ import annotations

from pulumi.dynamic import ConfigureRequest, ResourceProvider

from cloud import credentials
from cloud.ens import EnsApi
from cloud.retry import DEFAULT, RetryPolicy


class EnsProvider(ResourceProvider):
    """Base of the ENS dynamic providers.

    Stateless until `configure`: what dill serializes into the state holds no credentials, only the
    wait bounds. Credentials are resolved on the first cloud call, so `pulumi preview` (check and
    diff) works without them.
    """

    def __init__(self, wait_timeout: float = 300.0, poll_interval: float = 2.0, policy: RetryPolicy = DEFAULT,
                 read_timeout: float = 15.0):
        self.wait_timeout = wait_timeout
        self.poll_interval = poll_interval
        self.policy = policy
        self.read_timeout = read_timeout

    def configure(self, req: ConfigureRequest) -> None:
        # Every `alicloud:` setting pulumi-alicloud reads; held in memory only, never serialized into the state.
        self._config = credentials.provider_config(req.config)

    def api(self) -> EnsApi:
        """A client signed as pulumi-alicloud would sign (`alicloud:` settings, environment, profiles, roles)."""
        return EnsApi.from_environment(getattr(self, "_config", None), self.policy, self.read_timeout)
