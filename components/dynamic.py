"""What every dynamic resource of the project shares: a guard around the SDK's provider serializer.

`pulumi.dynamic.Resource` serializes its provider with `pulumi.dynamic.dynamic.serialize_provider`.
In the pinned SDK (pulumi 3.272.0) that function swaps `pickle.Pickler` for `pickle._Pickler` and
replaces `pickle._Pickler._batch_setitems` with a sorting wrapper of the *current* method, but only
restores `pickle.Pickler`: every call wraps the previous wrapper once more. After a few hundred
dynamic resources in one program, pickling a dict goes through hundreds of nested wrappers and
fails with `RecursionError` (a 100-pool, 3-service stack failed after about 470 dynamic resources).
Upstream: pulumi/pulumi#17803, closed for lack of a reproduction.

The guard runs the SDK's serializer unchanged and afterwards puts `_batch_setitems` and `save_dict`
of `pickle._Pickler` back as they were before the first call, so each call wraps exactly once and
the output (sorted, deterministic) is the SDK's own.
"""

from __future__ import annotations

import pickle
import threading
from typing import Any, Callable, Optional

import pulumi
from pulumi.dynamic import dynamic as _sdk

_PATCHED = ("_batch_setitems", "save_dict")
_lock = threading.Lock()
_original: Optional[Callable[[Any], str]] = None
_saved = {name: pickle._Pickler.__dict__[name] for name in _PATCHED}  # noqa: SLF001 - what the SDK patches


def _serialize_provider(provider: Any) -> str:
    assert _original is not None
    with _lock:
        try:
            return _original(provider)
        finally:
            for name, method in _saved.items():
                setattr(pickle._Pickler, name, method)  # noqa: SLF001


def guard_serializer() -> None:
    """Install the guard once (idempotent); the SDK's Resource looks the serializer up at call time."""
    global _original
    with _lock:
        if _original is None:
            _original = _sdk.serialize_provider
            _sdk.serialize_provider = _serialize_provider


def serialize_provider(provider: Any) -> str:
    """The `__provider` string exactly as the SDK makes it, without the SDK's leak."""
    guard_serializer()
    return _sdk.serialize_provider(provider)


# Every dynamic resource type is `pulumi-python:dynamic[/<module>]:<Name>` (the SDK's Resource.__init_subclass__);
# the project's name theirs (`pulumi-python:dynamic/backends:BackendSync`), so a plan says what each one is.
DYNAMIC_PACKAGE = "pulumi-python"


def is_dynamic(type_: str) -> bool:
    return type_.startswith(f"{DYNAMIC_PACKAGE}:dynamic")


class DynamicResource(pulumi.dynamic.Resource):
    """Base of the project's dynamic resources: the serializer guard is in place before the first one.

    Subclasses name their type: `class BackendSync(DynamicResource, module="backends", name="BackendSync")`."""

    def __init__(self, provider: pulumi.dynamic.ResourceProvider, name: str, props: dict[str, Any],
                 opts: Optional[pulumi.ResourceOptions] = None) -> None:
        guard_serializer()
        super().__init__(provider, name, props, opts)
