"""Two replicas and a Lease: the leader killed (kill -9) in the middle of a batch, on NLB and on ENS (where servers
carry no owner mark, so only the record's intent tells the new leader which servers it may remove); SIGTERM
during a batch; and a restart with nothing changed, which must cost no cloud call at all.

The batch in flight is made slow with the emulator's `timeout` fault in its applied form: the call takes effect,
then its answer is held for a few seconds, so the leader dies after the cloud changed and before it heard.
"""

from __future__ import annotations

import time

import pytest

from tests.controller import ENS_WRITES, WRITES, Pod, World, hold_for, wait_until

NS, SVC = "shop", "web"
PORT = 8080
LEASE_SECONDS = 3
TAKEOVER_SLACK = 4.0  # an expired lease is taken at the follower's next attempt (retry period 1 s, jittered)


@pytest.fixture
def world(tmp_path):
    with World(tmp_path) as running:
        yield running


def ips(prefix: str, count: int) -> list[str]:
    return [f"{prefix}.{n + 1}" for n in range(count)]


def in_flight(world: World, group, op: str, action: str, before: int):
    """The record announces a batch (intent) and the cloud has received its call (`before` calls came earlier)."""
    def check():
        intent = ((world.record_obj(group) or {}).get("status") or {}).get("intent") or {}
        return intent.get("op") == op and world.cloud.calls[action] > before and intent
    return wait_until(check, 10, f"an {op} batch in flight ({action} sent, intent recorded)", world.explain)


def the_other(world: World, leader):
    return next(c for c in world.controllers if c is not leader)


def test_leader_killed_mid_batch_on_nlb_the_follower_takes_over_and_nothing_leaks(world):
    world.nodes("np-cloud", ["cloud-1", "cloud-2"])
    web = world.nlb_ip(NS, SVC, drain_seconds=1)
    foreign = world.foreign(web, "10.9.9.9", 9000)
    old, new = ips("172.16.1", 20), ips("172.16.2", 20)
    world.endpoints(web, {"a": [Pod(ip, "cloud-1") for ip in old]})
    world.start("a")
    world.start("b")
    world.wait_servers(web, {**{(ip, PORT): 100 for ip in old}, foreign: 100}, timeout=20)
    world.wait_synced(web)
    leader = world.leader()
    follower = the_other(world, leader)
    waiting = world.wait_metrics(follower)
    assert waiting.value("ack_edge_lb_leader") == 0
    assert waiting.value("ack_edge_lb_cloud_api_calls_total") == 0, "a follower called the cloud"

    adds = world.cloud.calls["AddServersToServerGroup"]
    world.cloud.inject("AddServersToServerGroup", "timeout", times=1, applied=True, delay=4)
    world.endpoints(web, {"a": [Pod(ip, "cloud-2") for ip in new]})  # a rollout in one step: old pods gone
    intent = in_flight(world, web, "add", "AddServersToServerGroup", adds)
    assert sorted(b["serverId"] for b in intent["backends"]) == sorted(new)
    killed_at = time.monotonic()
    leader.kill()

    wait_until(lambda: world.lease_holder() == follower.identity, LEASE_SECONDS + TAKEOVER_SLACK,
               f"{follower.identity} holds the Lease after {leader.identity} was killed", world.explain)
    took_over = time.monotonic() - killed_at
    want = {**{(ip, PORT): 100 for ip in new}, foreign: 100}
    world.wait_servers(web, want, timeout=15)
    record = world.wait_synced(web)
    assert world.owned(web) == {(ip, PORT): 100 for ip in new}  # the foreign server is not owned
    assert not record["status"].get("intent")
    # The killed leader's add went through: the follower adopted those servers instead of adding them again.
    assert world.cloud.calls["AddServersToServerGroup"] == adds + 1, world.explain()
    assert not [k for k in world.cloud.outcomes if k[1].startswith("ResourceInUse")]
    assert took_over <= LEASE_SECONDS + TAKEOVER_SLACK
    assert follower.alive()


def test_leader_killed_mid_batch_on_ens_the_intent_tells_the_follower_what_to_remove(world):
    """ENS servers carry no description: servers the dead leader added for nodes that are gone since are
    known only from the record's intent. Without it they would stay in the ELB forever."""
    world.nodes("np-hefei", ["ens-1", "ens-2"], ens=True)
    elb = world.ens_cluster(NS, SVC, "np-hefei", drain_seconds=1)
    foreign = world.foreign(elb, "i-manual")
    world.start("a")
    world.start("b")
    base = {("i-ens-1", 0): 100, ("i-ens-2", 0): 100, foreign: 100}
    world.wait_servers(elb, base, timeout=20)
    world.wait_synced(elb)
    leader = world.leader()

    adds = world.cloud.calls["AddBackendServers"]
    world.cloud.inject("AddBackendServers", "timeout", times=1, applied=True, delay=4)
    added = world.nodes("np-hefei", [f"ens-{n}" for n in range(3, 7)], ens=True)
    in_flight(world, elb, "add", "AddBackendServers", adds)
    leader.kill()
    for name in added:  # the scale-up is undone before anyone heard of the add's result
        world.kube.remove_node(name)
    # The dead leader's add is in the ELB (the emulator counts a call when it arrives and applies it just after),
    # recorded nowhere but the intent.
    wait_until(lambda: len(world.servers(elb)) == 7, 5, "the dead leader's add applied", world.explain)

    world.wait_servers(elb, base, timeout=LEASE_SECONDS + TAKEOVER_SLACK + 10)
    record = world.wait_synced(elb)
    assert world.owned(elb) == {("i-ens-1", 0): 100, ("i-ens-2", 0): 100}
    assert not record["status"].get("intent")
    assert world.lease_holder() == the_other(world, leader).identity


def test_sigterm_finishes_the_batch_in_flight_records_it_and_exits_0(world):
    world.nodes("np-cloud", ["cloud-1"])
    web = world.nlb_ip(NS, SVC, drain_seconds=1)
    world.endpoints(web, {"a": [Pod(ip, "cloud-1") for ip in ips("172.16.1", 3)]})
    controller = world.start("a")
    world.wait_synced(web, timeout=20)

    adds = world.cloud.calls["AddServersToServerGroup"]
    world.cloud.inject("AddServersToServerGroup", "timeout", times=1, applied=True, delay=2)
    pods = ips("172.16.1", 6)
    world.endpoints(web, {"a": [Pod(ip, "cloud-1") for ip in pods]})
    in_flight(world, web, "add", "AddServersToServerGroup", adds)
    code = controller.terminate(timeout=15)
    assert code == 0, f"exit {code}\n{controller.tail()}"
    record = world.record_obj(web)
    assert not record["status"].get("intent"), "the batch in flight was not recorded before the exit"
    assert world.owned(web) == {(ip, PORT): 100 for ip in pods}
    assert world.servers(web) == {(ip, PORT): 100 for ip in pods}


def test_a_restart_with_nothing_changed_makes_no_cloud_call(world):
    world.nodes("np-cloud", ["cloud-1"])
    world.nodes("np-hefei", ["ens-1", "ens-2"], ens=True)
    web = world.nlb_ip(NS, SVC, drain_seconds=1)
    world.endpoints(web, {"a": [Pod(ip, "cloud-1") for ip in ips("172.16.1", 10)]})
    elb = world.ens_cluster(NS, "edge", "np-hefei", drain_seconds=1)
    first = world.start("a")
    world.wait_synced(web, timeout=20)
    world.wait_synced(elb)
    wait_until(lambda: world.service_ingress(web) and world.service_ingress(elb), 5, "ingress published",
               world.explain)
    assert first.terminate() == 0
    versions = {g.record: world.record_obj(g)["metadata"]["resourceVersion"] for g in (web, elb)}
    services = {g.service: world.kube.services[(NS, g.service)]["metadata"]["resourceVersion"] for g in (web, elb)}
    world.cloud.reset_counts()

    second = world.start("a2")
    world.leader(timeout=LEASE_SECONDS + TAKEOVER_SLACK + 5)
    wait_until(lambda: (second.metrics_or_none() or _NoMetrics()).value("ack_edge_lb_syncs_total",
                                                                        result="unchanged") >= 2,
               10, "the new replica looked at both groups and found them unchanged", world.explain)
    hold_for(lambda: world.calls() == 0, 3, "no cloud call after the restart", world.explain)
    assert world.writes() == 0 and not any(world.cloud.calls[a] for a in WRITES + ENS_WRITES)
    assert world.synced(web) and world.synced(elb)
    assert {g.record: world.record_obj(g)["metadata"]["resourceVersion"] for g in (web, elb)} == versions
    assert {g.service: world.kube.services[(NS, g.service)]["metadata"]["resourceVersion"]
            for g in (web, elb)} == services


class _NoMetrics:
    @staticmethod
    def value(*_args, **_kwargs) -> float:
        return 0.0


def test_a_leader_that_cannot_renew_its_lease_exits_1_and_writes_nothing_after(world):
    """An API outage longer than the renew deadline: the leader must stop at once (exit 1, the Deployment restarts
    it), so that it never writes next to a new leader; started again, it converges."""
    world.nodes("np-cloud", ["cloud-1"])
    web = world.nlb_ip(NS, SVC, drain_seconds=1)
    world.endpoints(web, {"a": [Pod(ip, "cloud-1") for ip in ips("172.16.1", 4)]})
    first = world.start("a")
    world.wait_synced(web, timeout=20)
    world.leader()

    outage_started = time.monotonic()
    with world.kube.outage(6):
        world.endpoints(web, {"a": [Pod(ip, "cloud-1") for ip in ips("172.16.2", 4)]})
        writes = world.writes()
        wait_until(lambda: not first.alive(), 2 + 3, "the leader exits once it cannot renew (deadline 2 s)",
                   world.explain)
        gave_up = time.monotonic() - outage_started
        assert first.process.returncode == 1, first.tail()
        assert world.writes() == writes
    assert gave_up <= 5
    world.start("a-restarted")
    world.wait_servers(web, {(ip, PORT): 100 for ip in ips("172.16.2", 4)}, timeout=LEASE_SECONDS + 15)
    world.wait_synced(web)


def test_a_lease_api_that_never_answers_stops_the_leader_within_its_deadline(world):
    """The election library sends its Lease calls without a timeout: against an API server that accepts and then
    hangs, a leader would act without a valid lease for as long as the hang lasts. Each call has one."""
    world.nodes("np-cloud", ["cloud-1"])
    web = world.nlb_ip(NS, SVC)
    world.endpoints(web, {"a": [Pod(ip, "cloud-1") for ip in ips("172.16.1", 2)]})
    first = world.start("a")
    world.wait_synced(web, timeout=20)
    world.leader()
    hung_at = time.monotonic()
    with world.kube.slow("/apis/coordination.k8s.io/", 20):
        wait_until(lambda: not first.alive(), 12, "the leader exits although its renewal hangs", world.explain)
        assert time.monotonic() - hung_at < 12  # not the 20 s the hang lasts (renew deadline 2 s)
        assert first.process.returncode == 1, first.tail()


def test_a_stopping_leader_hands_the_lease_over_at_once(world):
    """SIGTERM (a rollout of the Deployment, a drain): the Lease is released after the workers stopped, so the
    follower leads within its retry period, not after the lease duration."""
    world.nodes("np-cloud", ["cloud-1"])
    web = world.nlb_ip(NS, SVC)
    world.endpoints(web, {"a": [Pod(ip, "cloud-1") for ip in ips("172.16.1", 2)]})
    lease = {"--lease-duration": "10", "--renew-deadline": "8", "--retry-period": "1"}
    world.start("a", flags=lease)
    world.start("b", flags=lease)
    world.wait_synced(web, timeout=20)
    leader = world.leader()
    follower = the_other(world, leader)
    stopped_at = time.monotonic()
    assert leader.terminate(timeout=15) == 0, leader.tail()
    wait_until(lambda: world.lease_holder() == follower.identity, 10, "the follower leads", world.explain)
    assert time.monotonic() - stopped_at < 5.0  # well under the 10 s lease
    world.endpoints(web, {"a": [Pod(ip, "cloud-1") for ip in ips("172.16.1", 3)]})
    world.wait_servers(web, {(ip, PORT): 100 for ip in ips("172.16.1", 3)}, timeout=10)
