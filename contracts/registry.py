"""Every contract by resource type: `contract_for("alicloud:ens/eip:Eip")`."""

from __future__ import annotations

from contracts import Contract
from contracts.alicloud_ens import CONTRACTS as ENS
from contracts.alicloud_nlb import CONTRACTS as NLB
from contracts.alicloud_slb import CONTRACTS as SLB
from contracts.kubernetes import CONTRACTS as KUBERNETES
from contracts.providers import CONTRACTS as PROVIDERS

CONTRACTS: dict[str, Contract] = {c.type: c for c in (*ENS, *NLB, *SLB, *KUBERNETES, *PROVIDERS)}


class NoContract(KeyError):
    pass


def contract_for(type_: str) -> Contract:
    try:
        return CONTRACTS[type_]
    except KeyError:
        raise NoContract(f"no contract for {type_}: the program declares a bridged resource type that "
                         "contracts/ does not describe; add its required inputs, allowed values and "
                         "force-new inputs from the provider's source") from None
