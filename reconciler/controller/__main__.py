"""`python -m reconciler.controller`: the controller process (in the image, or on a laptop with a kubeconfig).

    python -m reconciler.controller --kubeconfig ~/.kube/config --no-leader-election

Leader election is the official client's (kubernetes.leaderelection, a LeaseLock on the Lease `--lease-name` in
`--namespace`): every replica waits as a follower; the leader syncs. Losing the lease ends the process at once
(exit 1; the Deployment restarts it as a follower), so two replicas never write one group. SIGTERM stops
taking work, lets the batch in flight finish, releases the Lease (a follower takes over within --retry-period)
and exits 0.
"""

from __future__ import annotations

import argparse
import functools
import logging
import os
import signal
import socket
import sys
import threading
from typing import Any, Optional, Sequence

import urllib3
from prometheus_client import start_http_server

from reconciler import ratelimit
from reconciler.cluster import KubeconfigError, load_api_client
from reconciler.controller import logs, metrics
from reconciler.controller.manager import Controller, Options

log = logging.getLogger("reconciler.controller")


def parse(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    env = os.environ
    parser = argparse.ArgumentParser(prog="python -m reconciler.controller", description=(
        "Keep the backends of Pulumi-owned load balancers (BackendGroup records) in step with pods and nodes."))
    add = parser.add_argument
    add("--kubeconfig", help="kubeconfig file (default: $KUBECONFIG, ~/.kube/config, else the in-cluster account)")
    add("--context", help="kubeconfig context (default: its current-context)")
    add("--namespace", default=env.get("POD_NAMESPACE") or "ack-edge-lb-system",
        help="the controller's namespace, where its Lease is (default: $POD_NAMESPACE or ack-edge-lb-system)")
    add("--watch-namespace", help="only records, Services and EndpointSlices of this namespace (default: all)")
    add("--lease-name", default="ack-edge-lb-controller", help="the Lease of the leader election")
    add("--identity", default=env.get("POD_NAME") or f"{socket.gethostname()}-{os.getpid()}",
        help="this replica's name in the Lease (default: $POD_NAME, else <hostname>-<pid>)")
    add("--lease-duration", type=int, default=15, help="whole seconds a lease is valid without renewal (15)")
    add("--renew-deadline", type=float, default=10.0, help="seconds the leader retries renewing before it quits (10)")
    add("--retry-period", type=float, default=2.0, help="seconds between lease attempts (2)")
    add("--no-leader-election", action="store_true", help="lead at once: one replica only")
    add("--metrics-port", type=int, default=9102, help="Prometheus /metrics port (9102; 0 = none)")
    add("--metrics-address", default="0.0.0.0", help="address the metrics server binds (0.0.0.0)")
    add("--workers", type=int, default=4, help="groups synced in parallel (4)")
    add("--coalesce-seconds", type=float, default=0.05,
        help="wait after a group's first event before syncing it, so a burst makes one sync (0.05)")
    add("--drift-seconds", type=float, default=600.0,
        help="read every group from the cloud this often, for changes made elsewhere (600; 0 = never)")
    add("--job-poll-seconds", type=float, default=0.2, help="seconds between NLB job status polls (0.2)")
    add("--rate-limits", help="client-side limits as JSON, like ACK_EDGE_LB_RATE_LIMITS, which is read too")
    add("--log-level", default="info", choices=("debug", "info", "warning", "error"))
    args = parser.parse_args(argv)
    # What kubernetes.leaderelection's Config requires (it would sys.exit with less to say).
    if not args.lease_duration > args.renew_deadline > 1.2 * args.retry_period or args.retry_period < 1:
        parser.error("leader election needs --lease-duration > --renew-deadline > 1.2 x --retry-period and "
                     "--retry-period >= 1 (for example 15, 10, 2, the defaults; or 3, 2, 1)")
    if args.workers < 1 or args.coalesce_seconds < 0 or args.drift_seconds < 0 or args.job_poll_seconds <= 0:
        parser.error("--workers must be at least 1; --coalesce-seconds and --drift-seconds not negative; "
                     "--job-poll-seconds positive")
    return args


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse(argv)
    logs.setup(args.log_level)
    try:
        limits = ratelimit.configure(ratelimit.limits_from_text(args.rate_limits, "--rate-limits")
                                     if args.rate_limits else None, "--rate-limits")
        config = {"kubernetes:kubeconfig": args.kubeconfig, "kubernetes:context": args.context}
        api = load_api_client({k: v for k, v in config.items() if v})
    except (ratelimit.RateLimitError, KubeconfigError) as exc:
        log.error(str(exc))
        return 2
    log.info("starting", extra={"identity": args.identity, "namespace": args.namespace,
                                "rate_limits": {k: str(v) for k, v in sorted(limits.items())}})
    if args.metrics_port:
        start_http_server(args.metrics_port, args.metrics_address)
    controller = Controller(api, Options(workers=args.workers, coalesce_seconds=args.coalesce_seconds,
                                         drift_seconds=args.drift_seconds, job_poll_seconds=args.job_poll_seconds,
                                         watch_namespace=args.watch_namespace, identity=args.identity))
    stopped = threading.Event()

    def terminate(signum: int, _frame: object) -> None:
        log.info("stopping", extra={"signal": signal.Signals(signum).name})
        stopped.set()
    signal.signal(signal.SIGTERM, terminate)
    signal.signal(signal.SIGINT, terminate)

    leading = threading.Event()

    def lead() -> None:
        metrics.LEADER.set(1)
        leading.set()
        log.info("leading", extra={"identity": args.identity})
        controller.start()

    if args.no_leader_election:
        lead()
    else:
        _elect(api, args, lead)
    stopped.wait()
    controller.stop()
    if leading.is_set() and not args.no_leader_election:
        _release(api, args)
    log.info("stopped")
    return 0


def _release(api, args: argparse.Namespace) -> None:
    """Hand the Lease over as we stop (what controller-runtime's ReleaseOnCancel does): the holder cleared, a
    follower takes it at its next attempt (within --retry-period) instead of after --lease-duration. Only once the
    workers have stopped, and only a Lease this replica still holds (the update carries its resourceVersion)."""
    from kubernetes import client as k8s

    coordination = k8s.CoordinationV1Api(api)
    try:
        lease = coordination.read_namespaced_lease(args.lease_name, args.namespace, _request_timeout=(5.0, 10.0))
        if lease.spec is None or lease.spec.holder_identity != args.identity:
            return
        lease.spec.holder_identity = None
        lease.spec.lease_duration_seconds = 1
        coordination.replace_namespaced_lease(args.lease_name, args.namespace, lease, _request_timeout=(5.0, 10.0))
        log.info("lease released", extra={"identity": args.identity})
    except Exception as exc:  # noqa: BLE001 - it then expires after --lease-duration, as if we had been killed
        log.warning("lease not released", extra={"error": f"{type(exc).__name__}: {exc}"[:300]})


def _elect(api, args: argparse.Namespace, lead) -> None:
    """Run the election in a thread; the main thread stays free for signals."""
    from kubernetes import client as k8s
    from kubernetes.leaderelection import electionconfig, leaderelection
    from kubernetes.leaderelection.resourcelock.leaselock import LeaseLock

    class Lease(LeaseLock):
        """The library's lock catches only ApiException: a refused or reset connection would end the election
        thread silently (and a leader would go on without renewing). Such a failure is a failed attempt."""

        def get(self, name, namespace):
            try:
                return super().get(name, namespace)
            except urllib3.exceptions.HTTPError as exc:
                return False, exc

        def create(self, name, namespace, election_record):
            try:
                return super().create(name, namespace, election_record)
            except urllib3.exceptions.HTTPError:
                return False

        def update(self, name, namespace, updated_record):
            try:
                return super().update(name, namespace, updated_record)
            except urllib3.exceptions.HTTPError:
                return False

    class Timed:
        """The library calls the Lease API without a timeout: an API server that accepts and never answers would
        hold a renewal past the renew deadline while this replica still acts as the leader. Each call gets one."""

        def __init__(self, coordination: Any, timeout: tuple[float, float]):
            self.coordination, self.timeout = coordination, timeout

        def __getattr__(self, name: str) -> Any:
            return functools.partial(getattr(self.coordination, name), _request_timeout=self.timeout)

    # LeaseLock builds CoordinationV1Api() on the default client: make ours the default first.
    k8s.Configuration.set_default(api.configuration)
    lock = Lease(args.lease_name, args.namespace, args.identity)
    lock.api_instance = Timed(lock.api_instance, (min(5.0, args.renew_deadline / 2), args.renew_deadline / 2))

    def lost() -> None:
        metrics.LEADER.set(0)
        log.error("lost the lease: exiting so that only the new leader writes", extra={"identity": args.identity})
        logging.shutdown()
        os._exit(1)

    def campaign() -> None:
        try:
            leaderelection.LeaderElection(config).run()  # returns (after calling `lost`) only when leading ended
        finally:
            lost()  # whatever ended it: never lead without a lease

    config = electionconfig.Config(lock, args.lease_duration, args.renew_deadline, args.retry_period, lead, lost)
    threading.Thread(target=campaign, name="leader-election", daemon=True).start()


if __name__ == "__main__":
    sys.exit(main())
