"""The controller's Prometheus metrics (prometheus_client), served on `--metrics-port` at /metrics.

Cloud calls are counted where they are sent (cloud/api.py CALL_OBSERVERS) and client-side waits where they
happen (reconciler/ratelimit.py WAIT_OBSERVERS), so every host of the reconciler could export the same figures.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

from cloud import api as cloud_api
from cloud.retry import THROTTLING
from reconciler import ratelimit

# Sync latencies are short (a list and a few writes, or an NLB job): buckets down to 10 ms, up to ten minutes.
BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0)

SYNC_SECONDS = Histogram("ack_edge_lb_sync_duration_seconds", "One group's sync, from its start to its status write.",
                         ["kind", "result"], buckets=BUCKETS)
READY_TO_SYNCED = Histogram("ack_edge_lb_ready_to_synced_seconds",
                            "From the first event that made a group due to the end of the sync that applied it.",
                            ["kind"], buckets=BUCKETS)
SYNCS = Counter("ack_edge_lb_syncs_total", "Group syncs by result: ok (cloud writes made or needed a read), "
                "unchanged (nothing to do, no cloud call), error.", ["kind", "result"])
CLOUD_CALLS = Counter("ack_edge_lb_cloud_api_calls_total", "Cloud API requests sent, retries included, by result "
                      "(ok or the error code).", ["product", "action", "result"])
THROTTLED = Counter("ack_edge_lb_throttled_total", "Calls held back: by the client's window (client) or refused "
                    "by the cloud with a throttling code (server).", ["product", "family", "source"])
QUEUE_DEPTH = Gauge("ack_edge_lb_queue_depth", "Groups waiting to be synced.")
BACKENDS = Gauge("ack_edge_lb_backends", "Owned backends per group record.", ["namespace", "record", "state"])
LEADER = Gauge("ack_edge_lb_leader", "1 while this replica leads.")

# The API family of each write action, as reconciler/groups.py limits them.
FAMILIES = {"AddBackendServers": "backends", "RemoveBackendServers": "backends", "SetBackendServers": "backends",
            "AddServersToServerGroup": "servers", "RemoveServersFromServerGroup": "servers",
            "UpdateServerGroupServersAttribute": "servers", "AddVServerGroupBackendServers": "write",
            "RemoveVServerGroupBackendServers": "write", "SetVServerGroupAttribute": "write"}


def _on_call(product: str, action: str, result: str, _seconds: float) -> None:
    CLOUD_CALLS.labels(product, action, result).inc()
    if result in THROTTLING:
        THROTTLED.labels(product, FAMILIES.get(action, "other"), "server").inc()


def _on_wait(window: str, _seconds: float) -> None:
    product, _, family = window.removeprefix("rate limit ").partition(".")
    THROTTLED.labels(product, family, "client").inc()


def install() -> None:
    """Hook the counters into the cloud adapter and the rate limits (idempotent)."""
    if _on_call not in cloud_api.CALL_OBSERVERS:
        cloud_api.CALL_OBSERVERS.append(_on_call)
    if _on_wait not in ratelimit.WAIT_OBSERVERS:
        ratelimit.WAIT_OBSERVERS.append(_on_wait)


def set_backends(namespace: str, record: str, serving: int, draining: int) -> None:
    BACKENDS.labels(namespace, record, "serving").set(serving)
    BACKENDS.labels(namespace, record, "draining").set(draining)


def forget(namespace: str, record: str) -> None:
    for state in ("serving", "draining"):
        try:
            BACKENDS.remove(namespace, record, state)
        except KeyError:
            pass
