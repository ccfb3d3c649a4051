"""The harness's checkpoint: what a Pulumi state file keeps of each resource, in dependency order."""

from __future__ import annotations

import copy
import json
from dataclasses import asdict, dataclass, field
from typing import Any, Iterator, Literal, Optional

Op = Literal["same", "create", "update", "replace", "delete", "delete-replaced", "import", "refresh", "read-gone"]


@dataclass
class ResourceState:
    urn: str
    type: str
    name: str
    custom: bool
    parent: Optional[str]
    id: str
    inputs: dict[str, Any]
    outputs: dict[str, Any]
    dependencies: list[str] = field(default_factory=list)
    # Input key -> the resources whose outputs it was made from (what dependent replacement looks at).
    property_dependencies: dict[str, list[str]] = field(default_factory=dict)
    provider: str = ""  # "<provider urn>::<provider id>", "" for the default provider
    protect: bool = False
    delete_before_replace: Optional[bool] = None  # the option, when the program set it
    replace_on_changes: list[str] = field(default_factory=list)
    ignore_changes: list[str] = field(default_factory=list)
    # Top-level keys stored as secrets (the engine keeps them encrypted in the state).
    secret_keys: list[str] = field(default_factory=list)

    @property
    def is_provider(self) -> bool:
        return self.type.startswith("pulumi:providers:")

    def reference(self) -> str:
        return f"{self.urn}::{self.id}"


@dataclass(frozen=True)
class Step:
    op: Op
    urn: str
    type: str
    # The properties that changed (update), or that forced the replacement (replace).
    keys: tuple[str, ...] = ()
    delete_before_replace: bool = False

    @property
    def name(self) -> str:
        return self.urn.split("::")[-1]


class Checkpoint:
    """Resources by URN, kept in the order their steps completed: dependencies before dependents."""

    def __init__(self, resources: Optional[list[ResourceState]] = None):
        self._by_urn: dict[str, ResourceState] = {}
        # Old copies of replaced resources whose delete has not run yet (the engine's `delete: true` entries).
        self.pending: list[ResourceState] = []
        for r in resources or []:
            self.put(r)

    def put(self, resource: ResourceState) -> None:
        self._by_urn.pop(resource.urn, None)
        self._by_urn[resource.urn] = resource

    def remove(self, urn: str) -> None:
        self._by_urn.pop(urn, None)

    def get(self, urn: str) -> Optional[ResourceState]:
        return self._by_urn.get(urn)

    def __iter__(self) -> Iterator[ResourceState]:
        return iter(list(self._by_urn.values()))

    def __len__(self) -> int:
        return len(self._by_urn)

    def __contains__(self, urn: str) -> bool:
        return urn in self._by_urn

    def copy(self) -> "Checkpoint":
        out = Checkpoint([copy.deepcopy(r) for r in self])
        out.pending = [copy.deepcopy(r) for r in self.pending]
        return out

    def named(self, name: str) -> ResourceState:
        found = [r for r in self if r.name == name]
        if len(found) != 1:
            raise KeyError(f"{len(found)} resources named {name!r} in the checkpoint")
        return found[0]

    def of_type(self, type_: str) -> list[ResourceState]:
        return [r for r in self if r.type == type_]

    def dumps(self) -> str:
        """The checkpoint as JSON text, secrets as the engine stores them (ciphertext, here a marker)."""
        def stored(r: ResourceState) -> dict[str, Any]:
            data = asdict(r)
            for key in r.secret_keys:
                for part in ("inputs", "outputs"):
                    if key in data[part]:
                        data[part][key] = {"4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270",
                                           "ciphertext": "(encrypted)"}
            return data
        return json.dumps([stored(r) for r in self], sort_keys=True, default=str)
