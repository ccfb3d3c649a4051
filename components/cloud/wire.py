"""What the Pulumi engine hands a dynamic provider, and what the cloud answers when a thing is gone."""

from __future__ import annotations

from typing import Any

# Error codes (or parts of them) meaning the resource no longer exists: `read` answers "gone", `delete` is done.
GONE_CODES = ("NotFound", "NotExist")


def normalized(value: Any) -> Any:
    """Numbers come back from the engine as floats: 80.0 and 80 are the same port."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: normalized(v) for k, v in value.items()}
    if isinstance(value, list):
        return [normalized(v) for v in value]
    return value


def gone(exc: BaseException) -> bool:
    code = getattr(exc, "code", None) or ""
    return any(marker in code for marker in GONE_CODES)
