"""The NLB emulator, driven only through the official SDK client (alibabacloud-nlb20220430).

Requests are signed by the SDK and checked against the secret; answers are parsed by the SDK's models. Jobs
advance per GetJobStatus poll (or per fake-clock second with `job_seconds`), and the token buckets run on the
same fake clock, so nothing here sleeps.
"""

from __future__ import annotations

import time
from typing import Any, Iterable

import pytest
from alibabacloud_nlb20220430 import models as m
from alibabacloud_nlb20220430.client import Client
from alibabacloud_tea_openapi.exceptions import ClientException, ServerException
from alibabacloud_tea_openapi.models import Config
from alibabacloud_tea_util.models import RuntimeOptions
from darabonba.exceptions import UnretryableException

from tests.emulator import Emulator, FakeClock, Nlb

SECRET = "sk-nlb-test"


@pytest.fixture
def emulator(clock: FakeClock):
    with Emulator([Nlb(clock=clock)], clock=clock, secrets={"ak": SECRET, "ak2": SECRET}) as emu:
        yield emu
        assert not emu.bugs, emu.bugs


def make_client(emu: Emulator, key_id: str = "ak") -> Client:
    return Client(Config(access_key_id=key_id, access_key_secret=SECRET, region_id="cn-hangzhou",
                         endpoint=emu.endpoint, protocol="http"))


@pytest.fixture
def client(emulator: Emulator) -> Client:
    return make_client(emulator)


def failure(call, *args: Any, **kwargs: Any) -> ClientException | ServerException:
    with pytest.raises((ClientException, ServerException)) as info:
        call(*args, **kwargs)
    return info.value


def new_lb(client: Client, zones: int = 2, **overrides: Any) -> str:
    fields = dict(address_type="Intranet", vpc_id="vpc-1", load_balancer_name="k8s-nlb", zone_mappings=[
        m.CreateLoadBalancerRequestZoneMappings(zone_id=f"cn-hangzhou-{chr(106 + i)}", v_switch_id=f"vsw-{i}")
        for i in range(zones)])
    fields.update(overrides)
    return client.create_load_balancer(m.CreateLoadBalancerRequest(**fields)).body.loadbalancer_id


def new_group(client: Client, kind: str = "Ip", settle: bool = True, **overrides: Any) -> str:
    fields = dict(server_group_name="k8s.80.cube-svc.default", vpc_id="vpc-1", server_group_type=kind)
    fields.update(overrides)
    body = client.create_server_group(m.CreateServerGroupRequest(**fields)).body
    if settle:
        wait_job(client, body.job_id)
    return body.server_group_id


def job_status(client: Client, job_id: str) -> str:
    return client.get_job_status(m.GetJobStatusRequest(job_id=job_id)).body.status


def wait_job(client: Client, job_id: str) -> int:
    """Polls until the job succeeded (compared case-insensitively, as FACTS says); answers the polls it took."""
    for polls in range(1, 50):
        if job_status(client, job_id).lower() == "succeeded":
            return polls
    raise AssertionError("job never finished")


def servers(kind: str, ids: Iterable[str], port: int = 80, **fields: Any) -> list:
    cls = {"add": m.AddServersToServerGroupRequestServers, "remove": m.RemoveServersFromServerGroupRequestServers,
           "update": m.UpdateServerGroupServersAttributeRequestServers}[kind]
    return [cls(server_id=i, server_type="Ip" if i[0].isdigit() else "Ecs", port=port, **fields) for i in ids]


def write(client: Client, kind: str, group_id: str, ids: Iterable[str], **fields: Any):
    request = {"add": m.AddServersToServerGroupRequest, "remove": m.RemoveServersFromServerGroupRequest,
               "update": m.UpdateServerGroupServersAttributeRequest}[kind]
    method = {"add": client.add_servers_to_server_group, "remove": client.remove_servers_from_server_group,
              "update": client.update_server_group_servers_attribute}[kind]
    return method(request(server_group_id=group_id, servers=servers(kind, ids, **fields))).body


def ips(n: int, start: int = 0) -> list[str]:
    return [f"10.0.{(i >> 8) & 255}.{i & 255}" for i in range(start, start + n)]


def listed(client: Client, group_id: str, **fields: Any):
    return client.list_server_group_servers(m.ListServerGroupServersRequest(server_group_id=group_id, **fields)).body


# --- load balancers ------------------------------------------------------------------------------

def test_load_balancer_is_provisioned_read_and_deleted(emulator, client):
    lb_id = new_lb(client, zones=3)
    assert lb_id.startswith("nlb-")
    assert emulator.log[-1].params["ZoneMappings.3.VSwitchId"] == "vsw-2" and "RegionId" not in emulator.log[-1].params
    get = lambda: client.get_load_balancer_attribute(  # noqa: E731
        m.GetLoadBalancerAttributeRequest(load_balancer_id=lb_id)).body
    assert [get().load_balancer_status for _ in range(2)] == ["Provisioning", "Active"]
    body = get()
    assert (body.address_type, body.vpc_id, body.region_id, body.load_balancer_name) == (
        "Intranet", "vpc-1", "cn-hangzhou", "k8s-nlb")
    assert [(z.zone_id, z.v_switch_id) for z in body.zone_mappings] == [
        ("cn-hangzhou-j", "vsw-0"), ("cn-hangzhou-k", "vsw-1"), ("cn-hangzhou-l", "vsw-2")]
    assert body.zone_mappings[0].load_balancer_addresses[0].private_ipv_4address

    job = client.delete_load_balancer(m.DeleteLoadBalancerRequest(load_balancer_id=lb_id)).body.job_id
    assert wait_job(client, job) == 2  # one `processing` answer, then Succeeded
    gone = failure(get)
    assert (gone.code, gone.status_code) == ("ResourceNotFound.loadBalancer", 404)


def test_create_load_balancer_answers_lower_case_b_and_checks_zones(emulator, client):
    raw = client.create_load_balancer(m.CreateLoadBalancerRequest(
        address_type="Internet", vpc_id="vpc-1", zone_mappings=[
            m.CreateLoadBalancerRequestZoneMappings(zone_id=f"z{i}", v_switch_id=f"vsw-{i}") for i in range(2)]))
    assert set(raw.body.to_map()) == {"LoadbalancerId", "RequestId"}  # sic, as the SDK model names it
    for zones in (1, 11):
        bad = failure(new_lb, client, zones=zones)
        assert (bad.code, bad.status_code) == ("IllegalParam.ZoneMappings", 400)
        assert bad.data["Message"].startswith("The param of ZoneMappings is illegal.")
    assert failure(new_lb, client, address_type=None).code == "MissingAddressType"
    assert failure(new_lb, client, address_type="Public").code == "IllegalParam.AddressType"
    assert len(emulator.nlb.load_balancers) == 1


# --- server groups -------------------------------------------------------------------------------

def test_server_group_is_created_asynchronously_listed_and_deleted(emulator, client):
    body = client.create_server_group(m.CreateServerGroupRequest(
        server_group_name="k8s.443.cube-svc.default", vpc_id="vpc-1", server_group_type="Ip", protocol="TCP",
        scheduler="Wrr", connection_drain_enabled=True, connection_drain_timeout=30, preserve_client_ip_enabled=False,
        health_check_config=m.CreateServerGroupRequestHealthCheckConfig(
            health_check_enabled=True, health_check_type="HTTP", health_check_http_code=["http_2xx", "http_3xx"],
            healthy_threshold=3, health_check_interval=10),
        tag=[m.CreateServerGroupRequestTag(key="kubernetes.do.not.delete", value="cube-svc")])).body
    assert emulator.log[-1].params["HealthCheckConfig.HealthCheckHttpCode.2"] == "http_3xx"
    assert emulator.log[-1].params["ConnectionDrainEnabled"] == "True"  # booleans travel capitalised
    group_id = body.server_group_id

    def group():
        found = client.list_server_groups(m.ListServerGroupsRequest(server_group_ids=[group_id])).body
        assert found.total_count == 1
        return found.server_groups[0]

    assert group().server_group_status == "Creating"
    assert job_status(client, body.job_id) == "processing"
    assert job_status(client, body.job_id) == "Succeeded"
    listed_group = group()
    assert listed_group.server_group_status == "Available" and listed_group.server_count == 0
    assert (listed_group.server_group_type, listed_group.connection_drain_timeout,
            listed_group.preserve_client_ip_enabled) == ("Ip", 30, False)
    check = listed_group.health_check
    assert (check.health_check_type, check.healthy_threshold, check.unhealthy_threshold, check.health_check_interval,
            check.health_check_http_code) == ("HTTP", 3, 2, 10, ["http_2xx", "http_3xx"])
    assert listed_group.to_map()["Tags"] == [{"Key": "kubernetes.do.not.delete", "Value": "cube-svc"}]

    new_group(client, kind="Instance", server_group_name="other")
    by_type = client.list_server_groups(m.ListServerGroupsRequest(server_group_type="Instance")).body
    assert [g.server_group_name for g in by_type.server_groups] == ["other"]

    wait_job(client, client.delete_server_group(m.DeleteServerGroupRequest(server_group_id=group_id)).body.job_id)
    gone = failure(client.delete_server_group, m.DeleteServerGroupRequest(server_group_id=group_id))
    assert (gone.code, gone.status_code) == ("ResourceNotFound.serverGroup", 404)


def test_server_group_parameters_are_checked(client):
    assert failure(new_group, client, server_group_name="k8s/80/svc").code == "IllegalParam.ServerGroupName"
    assert failure(new_group, client, scheduler="fastest").code == "IllegalParam.Scheduler"
    assert failure(new_group, client, server_group_type="Fargate").code == "IllegalParam.ServerGroupType"
    assert failure(new_group, client, vpc_id=None).code == "MissingVpcId"
    bad = failure(new_group, client, health_check_config=m.CreateServerGroupRequestHealthCheckConfig(
        healthy_threshold=11))
    assert (bad.code, bad.status_code) == ("IllegalParam.HealthyThreshold", 400)
    assert "2 to 10" in bad.data["Message"]


# --- servers and jobs ----------------------------------------------------------------------------

def test_add_update_remove_run_as_jobs_and_lock_the_group(emulator, client):
    emulator.nlb.instances.update({"i-a": "Running", "i-b": "Running", "i-c": "Running"})
    group_id = new_group(client, kind="Instance")
    added = write(client, "add", group_id, ["i-a", "i-b", "i-c"], port=30080, weight=50, description="k8s/80/cube")
    assert added.server_group_id == group_id and added.job_id
    assert emulator.log[-1].params["Servers.3.ServerId"] == "i-c"
    assert [s.status for s in listed(client, group_id).servers] == ["Adding"] * 3

    busy = failure(write, client, "remove", group_id, ["i-a"], port=30080)
    assert (busy.code, busy.status_code) == ("IncorrectStatus.serverGroup", 400)
    assert busy.data["Message"] == f"The status of servergroup [{group_id}] is incorrect."
    group = client.list_server_groups(m.ListServerGroupsRequest(server_group_ids=[group_id])).body.server_groups[0]
    assert (group.server_group_status, group.server_count) == ("Configuring", 3)

    assert wait_job(client, added.job_id) == 2
    first = listed(client, group_id).servers[0]
    assert (first.server_id, first.server_type, first.port, first.weight, first.status, first.description) == (
        "i-a", "Ecs", 30080, 50, "Available", "k8s/80/cube")

    updated = write(client, "update", group_id, ["i-b"], port=30080, weight=0)
    assert {s.server_id: (s.weight, s.status) for s in listed(client, group_id).servers}["i-b"] == (0, "Configuring")
    wait_job(client, updated.job_id)
    removed = write(client, "remove", group_id, ["i-a", "i-c"], port=30080)
    assert [s.status for s in listed(client, group_id).servers] == ["Removing", "Available", "Removing"]
    wait_job(client, removed.job_id)
    survivors = listed(client, group_id).servers
    assert [(s.server_id, s.weight, s.status) for s in survivors] == [("i-b", 0, "Available")]


def test_job_polls_statuses_and_clock_are_configurable(emulator, client, clock):
    emulator.nlb.job_polls = 3
    group_id = new_group(client)
    job = write(client, "add", group_id, ips(1)).job_id
    assert [job_status(client, job) for _ in range(4)] == ["processing"] * 3 + ["Succeeded"]

    emulator.nlb.processing_status = "Processing"  # the casing some documentation pages use
    emulator.nlb.job_seconds, emulator.nlb.job_polls = 2.0, 100
    job = write(client, "add", group_id, ips(1, start=1)).job_id
    assert job_status(client, job) == "Processing"
    clock.now += 2.0
    assert job_status(client, job) == "Succeeded"
    assert {s.status for s in listed(client, group_id).servers} == {"Available"}

    emulator.nlb.job_polls, emulator.nlb.job_seconds = 0, None  # synchronous: over before the answer
    assert job_status(client, write(client, "add", group_id, ips(1, start=2)).job_id) == "Succeeded"
    missing_job = failure(job_status, client, "no-such-job")
    assert (missing_job.code, missing_job.status_code) == ("ResourceNotFound.job", 404)


def test_busy_code_can_be_conflict_lock_or_off(emulator, client):
    group_id = new_group(client)
    emulator.nlb.busy_code = "Conflict.Lock"
    job = write(client, "add", group_id, ips(1)).job_id
    busy = failure(write, client, "add", group_id, ips(1, start=1))
    assert busy.code == "Conflict.Lock" and busy.data["Message"] == f"The Lock [{group_id}] is conflict."
    delete = failure(client.delete_server_group, m.DeleteServerGroupRequest(server_group_id=group_id))
    assert delete.code == "Conflict.Lock"
    emulator.nlb.busy_code = None
    second = write(client, "add", group_id, ips(1, start=1)).job_id
    emulator.nlb.finish_jobs()
    assert [job_status(client, j) for j in (job, second)] == ["Succeeded", "Succeeded"]
    assert len(listed(client, group_id).servers) == 2


def test_at_most_200_servers_per_call(emulator, client):
    emulator.nlb.job_polls = 0
    group_id = new_group(client)
    for kind in ("add", "remove", "update"):
        too_many = failure(write, client, kind, group_id, ips(201))
        assert (too_many.code, too_many.status_code) == ("IllegalParam.Servers", 400)
        assert "At most 200 servers per call, got 201" in too_many.data["Message"]
    assert emulator.nlb.server_groups[group_id]["_servers"] == []
    write(client, "add", group_id, ips(200))
    write(client, "update", group_id, ips(200), weight=10)
    write(client, "remove", group_id, ips(200))
    assert listed(client, group_id).total_count == 0


def test_at_most_400_servers_per_group(emulator, client):
    emulator.nlb.job_polls = 0
    group_id = new_group(client)
    write(client, "add", group_id, ips(200))
    write(client, "add", group_id, ips(200, start=200))
    full = failure(write, client, "add", group_id, ips(1, start=400))
    assert (full.code, full.status_code) == ("QuotaExceeded.QuotaInsufficient", 400)
    assert full.data["Message"].endswith("usage 401/400.")
    assert listed(client, group_id).total_count == 400


def test_server_list_pages_with_next_token(emulator, client):
    emulator.nlb.job_polls = 0
    group_id = new_group(client)
    write(client, "add", group_id, ips(200))
    write(client, "add", group_id, ips(50, start=200))
    too_big = failure(listed, client, group_id, max_results=101)
    assert (too_big.code, too_big.status_code) == ("IllegalParam.MaxResults", 400)

    seen, token, pages = [], None, []
    while True:
        body = listed(client, group_id, max_results=100, next_token=token)
        assert body.total_count == 250 and body.max_results == 100
        seen += [s.server_id for s in body.servers]
        pages.append(len(body.servers))
        token = body.next_token
        if not token:
            break
    assert pages == [100, 100, 50] and seen == ips(250)
    assert len(listed(client, group_id).servers) == 20  # MaxResults defaults to 20

    other = new_group(client, server_group_name="other")
    stray = listed(client, group_id, max_results=10).next_token
    bad = failure(listed, client, other, next_token=stray)
    assert bad.code == "IllegalParam.NextToken"
    assert failure(listed, client, group_id, next_token="forged").code == "IllegalParam.NextToken"


def test_servers_are_checked_before_anything_changes(emulator, client):
    emulator.nlb.job_polls = 0
    emulator.nlb.instances.update({"i-run": "Running", "i-stopped": "Stopped", "eni-1": "InUse"})
    instance_group, ip_group = new_group(client, kind="Instance"), new_group(client, server_group_name="ips")

    unknown = failure(write, client, "add", instance_group, ["i-run", "i-unknown"])
    assert (unknown.code, unknown.status_code) == ("ResourceNotFound.Ecs", 404)
    assert failure(write, client, "add", instance_group, ["i-stopped"]).code == "IncorrectStatus.Ecs"
    assert emulator.nlb.server_groups[instance_group]["_servers"] == []
    assert failure(write, client, "add", instance_group, ["10.0.0.1"]).code == "Mismatch.ServerType"
    assert failure(write, client, "add", ip_group, ["i-run"]).code == "Mismatch.ServerType"
    bad_ip = client.add_servers_to_server_group
    not_ip = failure(bad_ip, m.AddServersToServerGroupRequest(server_group_id=ip_group, servers=[
        m.AddServersToServerGroupRequestServers(server_id="pod-a", server_type="Ip", port=80)]))
    assert not_ip.code == "IllegalParam.IP"
    assert failure(write, client, "add", ip_group, ips(1), weight=101).code == "IllegalParam.Weight"
    assert failure(write, client, "add", ip_group, ips(1) * 2).code == "DuplicatedParam.Server"

    client.add_servers_to_server_group(m.AddServersToServerGroupRequest(server_group_id=instance_group, servers=[
        m.AddServersToServerGroupRequestServers(server_id="eni-1", server_type="Eni", server_ip="172.16.0.9", port=80),
        m.AddServersToServerGroupRequestServers(server_id="i-run", server_type="Ecs", port=80)]))
    assert failure(write, client, "add", instance_group, ["i-run"]).code == "ResourceInUse.BackendServer"
    write(client, "add", ip_group, ips(1))
    assert failure(write, client, "add", ip_group, ips(1)).code == "ResourceInUse.IP"
    write(client, "add", ip_group, ips(1), port=443)  # another port is another backend
    absent = failure(write, client, "remove", ip_group, ips(1, start=9))
    assert (absent.code, absent.status_code) == ("ResourceNotFound.BackendServer", 404)
    assert failure(write, client, "update", instance_group, ["i-stopped"], weight=1).code == \
        "ResourceNotFound.BackendServer"
    assert [s.server_ip for s in listed(client, instance_group).servers] == ["172.16.0.9", None]


# --- rate limits and faults ----------------------------------------------------------------------

def test_add_servers_is_limited_to_200_calls_per_60_seconds(emulator, client, clock):
    emulator.nlb.job_polls = 0
    group_id = new_group(client)
    for address in ips(200):
        write(client, "add", group_id, [address])
    throttled = failure(write, client, "add", group_id, ips(1, start=200))
    assert (throttled.code, throttled.status_code) == ("Throttling.User", 400)
    assert throttled.data["Message"] == "Request was denied due to api flow control."
    write(client, "remove", group_id, ips(1))  # each action has its own bucket
    write(make_client(emulator, key_id="ak2"), "add", group_id, ips(1, start=200))  # and each account
    clock.now += 0.31  # 200 per 60 s: one token back after 0.3 s
    write(client, "add", group_id, ips(1, start=201))
    assert failure(write, client, "add", group_id, ips(1, start=202)).code == "Throttling.User"
    emulator.nlb.rate_limits["AddServersToServerGroup"] = None
    write(client, "add", group_id, ips(1, start=202))
    assert emulator.outcomes[("AddServersToServerGroup", "Throttling.User")] == 2
    assert emulator.calls["AddServersToServerGroup"] == 205


@pytest.mark.parametrize("code, status", [("Conflict.Lock", 400), ("SystemBusy", 400),
                                          ("OperationFailed.ResourceIsConfiguring", 400),
                                          ("ServiceUnavailable", 503)])
def test_injected_faults_reach_the_sdk(emulator, client, code, status):
    group_id = new_group(client)
    emulator.inject("AddServersToServerGroup", code, after=1)
    write(client, "add", group_id, ips(1))
    emulator.nlb.finish_jobs()
    fault = failure(write, client, "add", group_id, ips(1, start=1))
    assert (fault.code, fault.status_code) == (code, status)
    assert fault.data["HostId"] == "nlb.cn-hangzhou.aliyuncs.com"
    write(client, "add", group_id, ips(1, start=1))
    assert emulator.outcomes[("AddServersToServerGroup", code)] == 1


def test_timeout_fault_can_apply_the_write_the_client_never_hears_about(emulator, client):
    group_id = new_group(client)
    emulator.inject("AddServersToServerGroup", "timeout", delay=5, applied=True)
    started = time.monotonic()
    with pytest.raises(UnretryableException):
        client.add_servers_to_server_group_with_options(m.AddServersToServerGroupRequest(
            server_group_id=group_id, servers=servers("add", ips(1))), RuntimeOptions(read_timeout=100))
    assert time.monotonic() - started < 2
    assert [s.status for s in listed(client, group_id).servers] == ["Adding"]  # it happened, and it holds the lock
    assert failure(write, client, "add", group_id, ips(1)).code == "IncorrectStatus.serverGroup"
