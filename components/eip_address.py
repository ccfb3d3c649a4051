"""The public address of an ENS EIP, which pulumi-alicloud 4.0.0's `ens.Eip` does not output.

A read-only dynamic resource: it looks the EIP up by allocation id through the official ENS
client and waits (bounded) until the EIP is bound to its ELB (`InUse`), so the stack's outputs only
show an address that already serves traffic. Deleting it deletes nothing in the cloud.
"""

from __future__ import annotations

from typing import Any, Optional

import pulumi
from pulumi.dynamic import (
    CheckFailure,
    CheckResult,
    CreateResult,
    DiffResult,
    ReadResult,
    UpdateResult,
)

from cloud.retry import wait_for
from components.dynamic import DynamicResource
from components.ens_provider import EnsProvider
from components.wire import is_known

IN_USE = "InUse"


class EipAddressProvider(EnsProvider):
    """Looks the EIP up; owns nothing."""

    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        """An allocation id not known yet (the EIP is created in the same preview) passes, and stays unknown."""
        failures = []
        allocation_id = news.get("allocationId")
        if is_known(allocation_id) and not (isinstance(allocation_id, str) and allocation_id.startswith("eip-")):
            failures.append(CheckFailure("allocationId", f"{allocation_id!r} is not an EIP id (eip-...)"))
        return CheckResult(news, failures)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        """Another EIP, or one not known yet, is another address: a replacement."""
        allocation_id = news.get("allocationId")
        replaces = ["allocationId"] if not is_known(allocation_id) or olds.get("allocationId") != allocation_id else []
        return DiffResult(changes=bool(replaces) or olds.get("status") != IN_USE, replaces=replaces)

    def _lookup(self, allocation_id: str) -> dict[str, Any]:
        api = self.api()
        eip = wait_for(lambda: api.describe_eip(allocation_id) or {}, lambda e: e.get("Status") == IN_USE,
                       what=f"EIP {allocation_id} to be bound (InUse)", timeout=self.wait_timeout,
                       interval=self.poll_interval, describe=lambda e: e.get("Status") or "missing")
        return {"allocationId": allocation_id, "ipAddress": eip.get("IpAddress"), "status": eip.get("Status"),
                "instanceId": eip.get("InstanceId")}

    def create(self, props: dict[str, Any]) -> CreateResult:
        return CreateResult(props["allocationId"], self._lookup(props["allocationId"]))

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        return UpdateResult(self._lookup(news["allocationId"]))

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        eip = self.api().describe_eip(id_)
        if eip is None:
            return ReadResult("", {})
        return ReadResult(id_, {**props, "allocationId": id_, "ipAddress": eip.get("IpAddress"),
                                "status": eip.get("Status"), "instanceId": eip.get("InstanceId")})

    def delete(self, _id: str, _props: dict[str, Any]) -> None:
        return None  # the EIP belongs to `alicloud.ens.Eip`


class EipAddress(DynamicResource, module="ens", name="EipAddress"):
    ipAddress: pulumi.Output[str]  # noqa: N815 - the output keeps the input's camelCase name
    status: pulumi.Output[str]

    def __init__(self, name: str, allocation_id: pulumi.Input[str], opts: Optional[pulumi.ResourceOptions] = None,
                 provider: Optional[EipAddressProvider] = None):
        super().__init__(provider or EipAddressProvider(), name,
                         {"allocationId": allocation_id, "ipAddress": None, "status": None, "instanceId": None}, opts)
