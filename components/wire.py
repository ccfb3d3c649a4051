"""What the Pulumi engine hands a dynamic provider, and what the cloud answers when a thing is gone."""

from __future__ import annotations

from typing import Any

from pulumi.output import Unknown
from pulumi.runtime.rpc import UNKNOWN as UNKNOWN_SENTINEL

from cloud.retry import GONE_CODES, gone  # noqa: F401 - re-exported: the dynamic providers' "gone"

# Error codes (or parts of them) meaning the resource no longer exists: `read` answers "gone", `delete` is done.


def normalized(value: Any) -> Any:
    """Numbers come back from the engine as floats: 80.0 and 80 are the same port. Unknowns pass through."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: normalized(v) for k, v in value.items()}
    if isinstance(value, list):
        return [normalized(v) for v in value]
    return value


def is_known(value: Any) -> bool:
    """False for a value the engine does not know yet, as during a first preview for outputs of resources
    not created yet: the dynamic-provider host hands Check and Diff `pulumi.output.Unknown` objects (it
    deserializes them with keep_unknowns=True), and the bare wire sentinel means the same.

    A known dict or list may still hold unknowns inside: see `fully_known`. Check must return unknowns as
    it got them (the host serializes an `Unknown` back to the sentinel), so the engine still sees them."""
    return not isinstance(value, Unknown) and not (isinstance(value, str) and value == UNKNOWN_SENTINEL)


def fully_known(value: Any) -> bool:
    """Known, and so is everything inside it (dict values, list items)."""
    if not is_known(value):
        return False
    if isinstance(value, dict):
        return all(fully_known(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return all(fully_known(v) for v in value)
    return True


