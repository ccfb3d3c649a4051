"""What the reconciler tells Kubernetes besides the records' status: Events on the records (the controller), and the
addresses of Pulumi-owned Services in their `status.loadBalancer.ingress` (the controller, and the dynamic resource
after each sync it makes itself), so that `kubectl get svc`, external-dns and the stack outputs agree.

- Events are core/v1 Events (what `kubectl describe bg` lists) with the record as involvedObject; only for
  something that happened (writes made, a failure, a release, drift repaired), never for "nothing to do".
  An Event that cannot be written is logged and dropped: it must never stop a sync.
- The ingress is written only to Services of the class `ack-edge-lb/pulumi` (no cluster controller owns their
  status; CCM and ECM write their own classes' status), as the union of the addresses the Service's records
  carry in spec.ingress (one EIP per ELB region, or the NLB/CLB address), and only when it differs.
"""

from __future__ import annotations

import json
import logging
import socket
from typing import Any, Iterable, Optional

from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException

from reconciler.model import now
from reconciler.record import API_VERSION, KIND

PULUMI_CLASS = "ack-edge-lb/pulumi"  # components/annotations.py PULUMI_CLASS, the class no cluster controller runs
COMPONENT = "ack-edge-lb-controller"
REQUEST_TIMEOUT = (10.0, 30.0)

log = logging.getLogger("reconciler.controller")


class Publisher:
    def __init__(self, api: k8s.ApiClient, identity: str):
        self.core = k8s.CoreV1Api(api)
        self.identity = identity
        self.host = socket.gethostname()

    def event(self, record: dict[str, Any], kind: str, reason: str, message: str) -> None:
        """`kind`: Normal or Warning."""
        meta = record.get("metadata") or {}
        stamp = now()
        body = {
            "apiVersion": "v1", "kind": "Event",
            "metadata": {"generateName": f"{meta.get('name')}.", "namespace": meta.get("namespace")},
            "involvedObject": {"apiVersion": API_VERSION, "kind": KIND, "name": meta.get("name"),
                               "namespace": meta.get("namespace"), "uid": meta.get("uid"),
                               "resourceVersion": meta.get("resourceVersion")},
            "reason": reason, "message": message[:1024], "type": kind,
            "source": {"component": COMPONENT, "host": self.host},
            "reportingComponent": COMPONENT, "reportingInstance": self.identity,
            "firstTimestamp": stamp, "lastTimestamp": stamp, "count": 1,
        }
        try:
            self.core.create_namespaced_event(meta.get("namespace"), body, _request_timeout=REQUEST_TIMEOUT)
        except Exception as exc:  # noqa: BLE001 - an Event is information, not part of the sync
            log.warning("event not written", extra={"record": _name(record), "reason": reason,
                                                    "error": f"{type(exc).__name__}: {exc}"[:300]})

    def ingress(self, service: Optional[dict[str, Any]], records: Iterable[dict[str, Any]]) -> bool:
        """Bring a Pulumi-owned Service's ingress to its records' addresses; True when it wrote."""
        if service is None or (service.get("spec") or {}).get("loadBalancerClass") != PULUMI_CLASS:
            return False
        wanted = addresses(records)
        current = ((service.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
        if [{k: v for k, v in point.items() if k in ("ip", "hostname")} for point in current] == wanted:
            return False
        meta = service.get("metadata") or {}
        # A merge patch replaces the list whole; the resourceVersion makes a concurrent change a 409, retried
        # by the next sync from the fresher cache.
        patch = {"metadata": {"resourceVersion": meta.get("resourceVersion")},
                 "status": {"loadBalancer": {"ingress": wanted or None}}}
        try:
            self.core.patch_namespaced_service_status(meta.get("name"), meta.get("namespace"), patch,
                                                      _content_type="application/merge-patch+json",
                                                      _request_timeout=REQUEST_TIMEOUT)
        except ApiException as exc:
            if exc.status not in (404, 409):
                raise
            return False
        return True


def publish_ingress(api: k8s.ApiClient, namespace: str, service: str) -> bool:
    """The same ingress, read fresh (the Pulumi dynamic resource's path, without watch caches): the Service and
    its records (by their label). Best effort: an address that cannot be written is no reason to fail a sync."""
    from reconciler.record import GROUP, PLURAL, SERVICE_LABEL, VERSION

    try:
        svc = k8s.CoreV1Api(api).read_namespaced_service(service, namespace, _preload_content=False,
                                                         _request_timeout=REQUEST_TIMEOUT)
        records = k8s.CustomObjectsApi(api).list_namespaced_custom_object(
            GROUP, VERSION, namespace, PLURAL, label_selector=f"{SERVICE_LABEL}={service}",
            _request_timeout=REQUEST_TIMEOUT)
        return Publisher(api, "pulumi").ingress(json.loads(svc.data), records.get("items") or [])
    except Exception as exc:  # noqa: BLE001
        log.warning("service ingress not written", extra={"service": f"{namespace}/{service}",
                                                          "error": f"{type(exc).__name__}: {exc}"[:300]})
        return False


def addresses(records: Iterable[dict[str, Any]]) -> list[dict[str, str]]:
    """The distinct addresses of the records, sorted by kind and value: a stable order, so no needless write."""
    seen: dict[tuple[str, str], dict[str, str]] = {}
    for record in records:
        if (record.get("metadata") or {}).get("deletionTimestamp"):
            continue
        for point in (record.get("spec") or {}).get("ingress") or []:
            for kind in ("ip", "hostname"):
                if point.get(kind):
                    seen[(kind, point[kind])] = {kind: point[kind]}
    return [seen[k] for k in sorted(seen)]


def _name(record: dict[str, Any]) -> str:
    meta = record.get("metadata") or {}
    return f"{meta.get('namespace')}/{meta.get('name')}"
