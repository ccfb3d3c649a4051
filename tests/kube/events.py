"""Events in the fake API server: core/v1 `events` and events.k8s.io/v1 `events`, one storage as in the API
server (an events.k8s.io Event is a core Event with fields renamed: regarding = involvedObject, note =
message, reportingController = reportingComponent, deprecatedSource/FirstTimestamp/LastTimestamp/Count =
source/firstTimestamp/lastTimestamp/count). Create, get, list, watch, update, patch (client-go's recorder
patches `count`, `lastTimestamp` and `message` of a repeated Event with a strategic merge patch), delete.

Validation (pkg/apis/core/validation/events.go): a core Event without eventTime must name an involvedObject
in its own namespace (`involvedObject.namespace: Invalid value: ...: does not match event.namespace`); one with
eventTime, and every events.k8s.io Event, needs reportingController (reportingComponent in core/v1),
reportingInstance, action and reason (`Required value`), and an events.k8s.io Event's type is Normal or
Warning. Field selectors: involvedObject.{kind,namespace,name,uid,apiVersion,fieldPath}, reason,
reportingComponent, type (on the core form, also through events.k8s.io).
"""

from __future__ import annotations

from typing import Any, Optional

from tests.kube.plain import PlainResource
from tests.kube.wire import FieldError, Json, api_time, copy, field_invalid, field_required

RENAMED = {"regarding": "involvedObject", "note": "message", "reportingController": "reportingComponent",
           "deprecatedSource": "source", "deprecatedFirstTimestamp": "firstTimestamp",
           "deprecatedLastTimestamp": "lastTimestamp", "deprecatedCount": "count"}
FIELDS = tuple(f"involvedObject.{f}" for f in ("kind", "namespace", "name", "uid", "apiVersion", "fieldPath")) + (
    "reason", "reportingComponent", "type")


def _core_form(event: Json) -> Json:
    """What the core Event marshals to: times in UTC (eventTime a MicroTime, null when zero), the reporting
    strings as ""."""
    event = {"eventTime": None, "reportingComponent": "", "reportingInstance": "", **event}
    for key in ("firstTimestamp", "lastTimestamp"):
        if event.get(key):
            event[key] = api_time(event[key], micro=False, kind="Event")
    if event["eventTime"]:
        event["eventTime"] = api_time(event["eventTime"], micro=True, kind="Event")
    series = event.get("series") or {}
    if series.get("lastObservedTime"):
        event["series"] = {**series, "lastObservedTime": api_time(series["lastObservedTime"], micro=True,
                                                                 kind="Event")}
    return event


def _to_core(event: Json) -> Json:
    return _core_form({**{RENAMED.get(k, k): v for k, v in event.items()}, "apiVersion": "v1", "kind": "Event"})


def _to_events_v1(event: Json) -> Json:
    """events.k8s.io/v1 of a core Event; a legacy Event's eventTime stays null (kubernetes 37.0.2's
    EventsV1Event model requires it, so EventsV1Api cannot list legacy Events: read them with CoreV1Api)."""
    back = {v: k for k, v in RENAMED.items()}
    return {**{back.get(k, k): v for k, v in event.items()}, "apiVersion": "events.k8s.io/v1", "kind": "Event"}


def _required(event: Json, controller_field: str) -> list[FieldError]:
    return [field_required(f) for f in (controller_field, "reportingInstance", "action", "reason")
            if not event.get(f)]


def _validate_core(event: Json, old: Optional[Json]) -> list[FieldError]:
    namespace = event["metadata"]["namespace"]
    involved = (event.get("involvedObject") or {}).get("namespace") or ""
    if event.get("eventTime"):
        return _required(event, "reportingComponent")
    if (involved and involved != namespace) or (not involved and namespace != "default"):
        return [field_invalid("involvedObject.namespace", involved, "does not match event.namespace")]
    return []


def _validate_v1(event: Json, old: Optional[Json]) -> list[FieldError]:
    errors = [] if event.get("eventTime") else [field_required("eventTime")]
    errors += _required(event, "reportingController")
    if event.get("type") not in ("Normal", "Warning"):
        errors.append(field_invalid("type", "", f"has invalid value: {event.get('type') or ''}"))
    return errors


CORE_EVENTS = PlainResource("", "v1", "events", "Event", fields=FIELDS, prepare=_core_form, validate=_validate_core)
EVENTS_V1 = PlainResource("events.k8s.io", "v1", "events", "Event", stored=("v1", "Event"), fields=FIELDS,
                          to_storage=_to_core, to_served=_to_events_v1, validate=_validate_v1)


class Events:
    """Mixin of KubeServer, over PlainObjects."""

    lock: Any
    plain_objects: Any
    plain_resources: list[PlainResource]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.plain_resources.extend([CORE_EVENTS, EVENTS_V1])

    def recorded_events(self, namespace: Optional[str] = None, *, name: Optional[str] = None,
                        kind: Optional[str] = None, reason: Optional[str] = None) -> list[Json]:
        """Events recorded through either API (core/v1 form, oldest first), about `kind`/`name` if given."""
        events = self.plain_objects("v1", "Event", namespace)
        return copy([e for e in events if name in (None, (e.get("involvedObject") or {}).get("name"))
                     and kind in (None, (e.get("involvedObject") or {}).get("kind"))
                     and reason in (None, e.get("reason"))])
