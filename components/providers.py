"""Explicit pulumi-alicloud providers, one per region, for the regional resources (NLB, CLB).

The default provider takes its region from `alicloud:region`, else ALICLOUD_REGION / ALIBABA_CLOUD_REGION,
else `cn-beijing` (terraform-provider-alicloud alicloud/provider.go:56-61, common.go:282), while an NLB's
zones and a CLB's vSwitch are in the cluster's region: left to the default, they would be created in the
wrong region. So each region gets its own provider, named for it.

An explicit provider does not read the stack's `alicloud:` settings (only the default provider does),
so every one of them (credentials, profile, assumeRole, endpoints, ...) is passed on, secrets as
secrets, and the provider authenticates exactly as the default one would. ENS resources keep the
default provider: ENS has one global endpoint and every resource names its ENS region itself.
"""

from __future__ import annotations

import inspect
import json
from typing import Any, Optional

import pulumi
import pulumi_alicloud as alicloud
from pulumi.runtime.config import CONFIG, get_config, get_config_env, get_config_secret_keys_env, is_config_secret

NAMESPACE = "alicloud"
# The settings an `alicloud.Provider` takes, in the SDK's snake case.
ACCEPTED = frozenset(inspect.signature(alicloud.ProviderArgs.__init__).parameters) - {"__self__"}


def _snake(key: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in key)


def stack_settings() -> dict[str, Any]:
    """The stack's `alicloud:` settings as provider arguments (objects parsed, secrets kept secret)."""
    out: dict[str, Any] = {}
    secret = set(get_config_secret_keys_env())
    for full in sorted({*CONFIG.get(), *get_config_env()}):
        namespace, _, key = full.partition(":")
        arg = _snake(key)
        if namespace != NAMESPACE or arg not in ACCEPTED or arg == "region":
            continue
        text = get_config(full)
        value: Any = text
        if isinstance(text, str) and text[:1] in "{[":
            try:
                value = json.loads(text)
            except json.JSONDecodeError:
                pass
        out[arg] = pulumi.Output.secret(value) if (is_config_secret(full) or full in secret) else value
    return out


class RegionalProviders:
    """One `alicloud.Provider` per region, declared on first use and shared by every service."""

    def __init__(self, opts: Optional[pulumi.ResourceOptions] = None):
        self._opts = opts
        self._by_region: dict[str, alicloud.Provider] = {}
        self._settings: Optional[dict[str, Any]] = None

    def alicloud(self, region: str) -> alicloud.Provider:
        if region not in self._by_region:
            if self._settings is None:
                self._settings = stack_settings()
            self._by_region[region] = alicloud.Provider(f"alicloud-{region}", region=region, **self._settings,
                                                        opts=self._opts)
        return self._by_region[region]
