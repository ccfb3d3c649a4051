"""The provider plugins the harness's engine calls: dynamic resources through the real host, bridged ones by contract.

Both answer the engine's calls (Check, Diff, Create, Update, Read, Delete) with the same shapes:
- `DynamicPlugin`: Pulumi's own dynamic-provider host (`python -m pulumi.dynamic`) over gRPC, so the
  serialized provider, the wire encoding of unknowns and numbers, and the host's own handling of
  each call are the real ones. The host does not accept secrets, so the engine strips them first.
- `BridgedPlugin`: a pulumi-alicloud or pulumi-kubernetes resource, which cannot run offline, checked
  against its `contracts` entry (a violation is a Check failure, a changed force-new input a replace,
  a changed immutable input an update the API refuses), with its cloud or cluster side played by a
  `Double` (tests/engine/doubles.py): what the real provider would create, change and delete.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Optional, Protocol

from pulumi.runtime import rpc

import contracts
from contracts.registry import contract_for
from tests.dynhost import DynamicHost, ProviderError
from tests.engine.state import ResourceState

PROVIDER_KEY = "__provider"
# terraform-provider-alicloud's region when neither `alicloud:region` nor ALICLOUD_REGION / ALIBABA_CLOUD_REGION
# is set (alicloud/common.go:282).
DEFAULT_REGION = "cn-beijing"


class EngineError(Exception):
    """What the CLI would print as the error of the operation."""


@dataclass
class Diff:
    changes: Optional[bool]                # None: the provider could not tell (DIFF_UNKNOWN)
    replaces: list[str] = field(default_factory=list)
    delete_before_replace: bool = False
    paths: list[str] = field(default_factory=list)  # the detailed diff, where the provider gives one


def unwrap_secrets(value: Any) -> Any:
    """The engine strips secrets before calling a provider that does not accept them."""
    if rpc.is_rpc_secret(value):
        return unwrap_secrets(rpc.unwrap_rpc_secret(value))
    if isinstance(value, dict):
        return {k: unwrap_secrets(v) for k, v in value.items()}
    if isinstance(value, list):
        return [unwrap_secrets(v) for v in value]
    return value


def as_wire(value: Any) -> Any:
    """Unknown objects as the engine's wire sentinel (what contracts and doubles compare against)."""
    if contracts.is_unknown(value):
        return contracts.UNKNOWN
    if isinstance(value, dict):
        return {k: as_wire(v) for k, v in value.items()}
    if isinstance(value, list):
        return [as_wire(v) for v in value]
    return value


class Plugin(Protocol):
    def check(self, urn: str, type_: str, olds: dict[str, Any], news: dict[str, Any]) -> tuple[dict, list]: ...
    def diff(self, urn: str, old: ResourceState, news: dict[str, Any]) -> Diff: ...
    def create(self, urn: str, type_: str, inputs: dict[str, Any], provider: str = "") -> tuple[str, dict[str, Any]]: ...
    def update(self, urn: str, old: ResourceState, news: dict[str, Any]) -> dict[str, Any]: ...
    def read(self, urn: str, old: ResourceState) -> Optional[tuple[str, dict[str, Any], Optional[dict]]]: ...
    def delete(self, urn: str, old: ResourceState) -> None: ...


class DynamicPlugin:
    """The project's dynamic resources (`pulumi-python:dynamic/...`) through one host process (the engine starts one per operation)."""

    def __init__(self, host: DynamicHost):
        self.host = host
        self.calls: list[tuple[str, str]] = []  # (method, urn)

    def _call(self, method: str, urn: str, fn, *args, **kwargs):
        self.calls.append((method, urn))
        try:
            return fn(*args, **kwargs)
        except ProviderError as exc:
            raise EngineError(f"{urn}: {method} failed: {exc.summary}") from exc

    def check(self, urn, type_, olds, news):
        return self._call("Check", urn, self.host.check, None, unwrap_secrets(olds), unwrap_secrets(news), name=urn)

    def diff(self, urn, old, news):
        outcome = self._call("Diff", urn, self.host.diff, None, old.id, unwrap_secrets(old.outputs),
                             unwrap_secrets(news), old_inputs=unwrap_secrets(old.inputs),
                             ignore_changes=old.ignore_changes, name=urn)
        return Diff(outcome.changes, outcome.replaces, outcome.delete_before_replace,
                    list(outcome.raw.diffs) if outcome.raw is not None else [])

    def create(self, urn, type_, inputs, provider=""):
        return self._call("Create", urn, self.host.create, None, unwrap_secrets(inputs), name=urn)

    def update(self, urn, old, news):
        return self._call("Update", urn, self.host.update, None, old.id, unwrap_secrets(old.outputs),
                          unwrap_secrets(news), old_inputs=unwrap_secrets(old.inputs), name=urn)

    def read(self, urn, old):
        id_, outs, inputs = self._call("Read", urn, self.host.read, None, old.id, unwrap_secrets(old.outputs),
                                       unwrap_secrets(old.inputs), name=urn)
        return (id_, outs, inputs) if id_ else None

    def delete(self, urn, old):
        self._call("Delete", urn, self.host.delete, None, old.id, unwrap_secrets(old.outputs),
                   old_inputs=unwrap_secrets(old.inputs), name=urn)


class Double(Protocol):
    """The cloud or cluster side of a bridged resource type: what its real provider would do there.

    `region`: the region of the provider the resource uses (explicit, else the default provider's)."""

    def create(self, type_: str, inputs: dict[str, Any], region: str) -> tuple[str, dict[str, Any]]: ...
    def update(self, type_: str, id_: str, old: dict[str, Any], inputs: dict[str, Any], region: str
               ) -> dict[str, Any]: ...
    def read(self, type_: str, id_: str, old: dict[str, Any], region: str) -> Optional[dict[str, Any]]: ...
    def delete(self, type_: str, id_: str, old: dict[str, Any], region: str) -> None: ...


class BridgedPlugin:
    """A pulumi-alicloud / pulumi-kubernetes resource type: its contract, and a double for its effects."""

    def __init__(self, doubles: dict[str, Double], region_of: Callable[[str], str] = lambda ref: DEFAULT_REGION):
        self.doubles = doubles
        self.region_of = region_of  # provider reference -> the region that provider works in
        self.calls: list[tuple[str, str]] = []

    def _double(self, type_: str) -> Double:
        package = type_.split(":")[0] if not type_.startswith("pulumi:providers:") else "pulumi"
        return self.doubles.get(type_) or self.doubles[package]

    def check(self, urn, type_, olds, news):
        self.calls.append(("Check", urn))
        news = as_wire(unwrap_secrets(news))
        return news, contract_for(type_).check(news)

    def diff(self, urn, old, news):
        self.calls.append(("Diff", urn))
        contract = contract_for(old.type)
        paths = [p for p in contracts.changed_paths(as_wire(unwrap_secrets(old.inputs)), as_wire(unwrap_secrets(news)))
                 if not any(contracts.covers(ignored, p) for ignored in old.ignore_changes)]
        replaces = contract.replaces(paths)
        return Diff(bool(paths), replaces, contract.delete_before_replace and bool(replaces), paths)

    def refuse_immutable(self, urn: str, type_: str, paths: list[str]) -> None:
        frozen = contract_for(type_).immutable_changes(paths)
        if frozen:
            raise EngineError(f"{urn}: update failed: {', '.join(frozen)}: field is immutable")

    def create(self, urn, type_, inputs, provider=""):
        self.calls.append(("Create", urn))
        id_, computed = self._double(type_).create(type_, unwrap_secrets(inputs), region=self.region_of(provider))
        return id_, {**inputs, **computed}

    def update(self, urn, old, news):
        self.calls.append(("Update", urn))
        computed = self._double(old.type).update(old.type, old.id, unwrap_secrets(old.outputs), unwrap_secrets(news),
                                                 region=self.region_of(old.provider))
        return {**old.outputs, **news, **computed}

    def read(self, urn, old):
        self.calls.append(("Read", urn))
        live = self._double(old.type).read(old.type, old.id, unwrap_secrets(old.outputs),
                                           region=self.region_of(old.provider))
        return None if live is None else (old.id, {**old.outputs, **live}, None)

    def delete(self, urn, old):
        self.calls.append(("Delete", urn))
        self._double(old.type).delete(old.type, old.id, unwrap_secrets(old.outputs), region=self.region_of(old.provider))
