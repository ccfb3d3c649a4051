"""Leases (coordination.k8s.io/v1, namespaced) in the fake API server: what `kubernetes.leaderelection` with
`resourcelock.leaselock.LeaseLock` calls (read_namespaced_lease, create_namespaced_lease, and
replace_namespaced_lease with the Lease it last read, so its resourceVersion makes the update conditional:
two electors cannot both win a renewal), plus patch, list, watch and delete (see `plain`).

- spec.acquireTime and spec.renewTime are MicroTime: answered as RFC 3339 in UTC with microseconds
  (`2006-01-02T15:04:05.000000Z`), as metav1.MicroTime marshals them; an unparsable one is 400.
- ValidateLeaseSpec: leaseDurationSeconds must be greater than 0, leaseTransitions greater than or equal
  to 0 (422). The server does not judge expiry: electors compare renewTime with their own clocks.
"""

from __future__ import annotations

from typing import Any, Optional

from tests.kube.plain import PlainResource
from tests.kube.wire import FieldError, Json, api_time, copy, field_invalid

MICRO_TIMES = ("acquireTime", "renewTime")


def _prepare(lease: Json) -> Json:
    spec = {k: v for k, v in (lease.get("spec") or {}).items() if v is not None}
    for key in MICRO_TIMES:
        if key in spec:
            spec[key] = api_time(spec[key], micro=True, kind="Lease")
    return {**lease, "spec": spec}


def _validate(lease: Json, old: Optional[Json]) -> list[FieldError]:
    spec, errors = lease.get("spec") or {}, []
    if spec.get("leaseDurationSeconds") is not None and spec["leaseDurationSeconds"] <= 0:
        errors.append(field_invalid("spec.leaseDurationSeconds", spec["leaseDurationSeconds"],
                                    "must be greater than 0"))
    if spec.get("leaseTransitions") is not None and spec["leaseTransitions"] < 0:
        errors.append(field_invalid("spec.leaseTransitions", spec["leaseTransitions"],
                                    "must be greater than or equal to 0"))
    return errors


LEASES = PlainResource("coordination.k8s.io", "v1", "leases", "Lease", fields=("spec.holderIdentity",),
                       prepare=_prepare, validate=_validate)


class Leases:
    """Mixin of KubeServer, over PlainObjects."""

    lock: Any
    plain: dict[Any, Json]
    plain_resources: list[PlainResource]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.plain_resources.append(LEASES)

    def lease(self, namespace: str, name: str) -> Optional[Json]:
        """The stored Lease (a copy), or None."""
        with self.lock:
            found = self.plain.get((*LEASES.storage, namespace, name))
            return copy(found) if found is not None else None
