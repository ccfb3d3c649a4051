"""The SLB (CLB) emulator, driven only through the official SDK client (alibabacloud-slb20140515).

Requests are signed by the SDK and checked against the secret; answers are parsed by the SDK's models. The
token buckets run on a fake clock. Every request sets RegionId: the SDK does not send Config.region_id.
"""

from __future__ import annotations

import json
from typing import Any, Iterable

import pytest
from alibabacloud_ens20171110 import models as ens_models
from alibabacloud_ens20171110.client import Client as EnsClient
from alibabacloud_nlb20220430 import models as nlb_models
from alibabacloud_nlb20220430.client import Client as NlbClient
from alibabacloud_slb20140515 import models as m
from alibabacloud_slb20140515.client import Client
from alibabacloud_tea_openapi.exceptions import ClientException, ServerException
from alibabacloud_tea_openapi.models import Config

from tests.emulator import Emulator, Ens, FakeClock, Nlb, Slb

SECRET = "sk-slb-test"
REGION = "cn-hangzhou"


@pytest.fixture
def emulator(clock: FakeClock):
    with Emulator([Slb()], clock=clock, secrets={"ak": SECRET, "ak2": SECRET}) as emu:
        yield emu
        assert not emu.bugs, emu.bugs


def config(emu: Emulator, key_id: str = "ak") -> Config:
    return Config(access_key_id=key_id, access_key_secret=SECRET, region_id=REGION, endpoint=emu.endpoint,
                  protocol="http")


@pytest.fixture
def client(emulator: Emulator) -> Client:
    return Client(config(emulator))


def failure(call, *args: Any, **kwargs: Any) -> ClientException | ServerException:
    with pytest.raises((ClientException, ServerException)) as info:
        call(*args, **kwargs)
    return info.value


def new_lb(client: Client, **overrides: Any) -> str:
    fields = dict(region_id=REGION, address_type="intranet", vpc_id="vpc-1", v_switch_id="vsw-1",
                  load_balancer_name="k8s-clb", load_balancer_spec="slb.s2.small")
    fields.update(overrides)
    return client.create_load_balancer(m.CreateLoadBalancerRequest(**fields)).body.load_balancer_id


def backends(ids: Iterable[str], port: int = 30080, **fields: Any) -> str:
    return json.dumps([{"ServerId": i, "Port": port, "Weight": 100, "Type": "ecs", **fields} for i in ids])


def new_group(client: Client, lb_id: str, servers: str | None = None, name: str = "k8s/80/cube-svc") -> str:
    return client.create_vserver_group(m.CreateVServerGroupRequest(
        region_id=REGION, load_balancer_id=lb_id, vserver_group_name=name,
        backend_servers=servers)).body.vserver_group_id


def change(client: Client, verb: str, group_id: str, servers: str):
    request = {"add": m.AddVServerGroupBackendServersRequest, "remove": m.RemoveVServerGroupBackendServersRequest,
               "set": m.SetVServerGroupAttributeRequest}[verb]
    method = {"add": client.add_vserver_group_backend_servers, "remove": client.remove_vserver_group_backend_servers,
              "set": client.set_vserver_group_attribute}[verb]
    return method(request(region_id=REGION, vserver_group_id=group_id, backend_servers=servers)).body


def members(client: Client, group_id: str) -> list[tuple[str, int, int]]:
    body = client.describe_vserver_group_attribute(
        m.DescribeVServerGroupAttributeRequest(region_id=REGION, vserver_group_id=group_id)).body
    return [(b.server_id, b.port, b.weight) for b in body.backend_servers.backend_server]


def nodes(emu: Emulator, n: int, start: int = 0) -> list[str]:
    ids = [f"i-node{i:03d}" for i in range(start, start + n)]
    emu.slb.instances.update({i: "Running" for i in ids})
    return ids


# --- load balancers ------------------------------------------------------------------------------

def test_load_balancer_lifecycle_needs_region_id(emulator, client):
    no_region = failure(new_lb, client, region_id=None)
    assert (no_region.code, no_region.status_code) == ("MissingRegionId", 400)
    created = client.create_load_balancer(m.CreateLoadBalancerRequest(
        region_id=REGION, address_type="intranet", vpc_id="vpc-1", v_switch_id="vsw-1", load_balancer_name="k8s-clb",
        tag=[m.CreateLoadBalancerRequestTag(key="ack.aliyun.com", value="c01")])).body
    lb_id = created.load_balancer_id
    assert lb_id.startswith("lb-") and created.address.startswith("192.168.") and created.network_type == "vpc"

    describe = lambda region=REGION: client.describe_load_balancer_attribute(  # noqa: E731
        m.DescribeLoadBalancerAttributeRequest(region_id=region, load_balancer_id=lb_id)).body
    body = describe()
    assert (body.load_balancer_status, body.address_type, body.load_balancer_name, body.v_switch_id) == (
        "active", "intranet", "k8s-clb", "vsw-1")
    assert body.tags.tag[0].tag_value == "c01" and body.listener_ports.listener_port == []
    elsewhere = failure(describe, "cn-beijing")
    assert (elsewhere.code, elsewhere.status_code) == ("InvalidLoadBalancerId.NotFound", 404)
    listed = client.describe_load_balancers(m.DescribeLoadBalancersRequest(region_id=REGION,
                                                                           load_balancer_name="k8s-clb")).body
    assert listed.total_count == 1 and listed.load_balancers.load_balancer[0].load_balancer_id == lb_id

    group_id = new_group(client, lb_id)
    client.delete_load_balancer(m.DeleteLoadBalancerRequest(region_id=REGION, load_balancer_id=lb_id))
    assert failure(describe).code == "InvalidLoadBalancerId.NotFound"
    assert failure(members, client, group_id).data["Message"] == "The specified VServerGroupId does not exist."


def test_create_load_balancer_checks_its_parameters(client):
    assert failure(new_lb, client, v_switch_id=None).code == "MissingVSwitchId"  # intranet needs a vSwitch
    assert failure(new_lb, client, address_type="public").code == "InvalidParameter.AddressType"
    assert failure(new_lb, client, load_balancer_spec="slb.huge").code == "InvalidParameter.LoadBalancerSpec"
    assert new_lb(client, address_type="internet", v_switch_id=None, vpc_id=None)


# --- VServer groups and backend servers ----------------------------------------------------------

def test_vserver_group_lifecycle(emulator, client):
    lb_id = new_lb(client)
    ids = nodes(emulator, 3)
    group_id = new_group(client, lb_id, backends(ids[:2]))
    assert group_id.startswith("rsp-")
    assert json.loads(emulator.log[-1].params["BackendServers"])[0]["ServerId"] == ids[0]  # one JSON string
    assert members(client, group_id) == [(ids[0], 30080, 100), (ids[1], 30080, 100)]
    empty = new_group(client, lb_id, name="empty")
    groups = client.describe_vserver_groups(m.DescribeVServerGroupsRequest(region_id=REGION, load_balancer_id=lb_id))
    assert [(g.vserver_group_name, g.server_count) for g in groups.body.vserver_groups.vserver_group] == [
        ("k8s/80/cube-svc", 2), ("empty", 0)]
    client.delete_vserver_group(m.DeleteVServerGroupRequest(region_id=REGION, vserver_group_id=empty))
    assert set(emulator.slb.vserver_groups) == {group_id}


def test_add_and_remove_take_at_most_20_servers_per_call(emulator, client):
    group_id = new_group(client, new_lb(client))
    ids = nodes(emulator, 25)
    for verb in ("add", "remove", "set"):
        too_many = failure(change, client, verb, group_id, backends(ids[:21]))
        assert (too_many.code, too_many.status_code) == ("InvalidParameter.BackendServers", 400)
        assert "At most 20 backend servers per call, got 21" in too_many.data["Message"]
    too_many = failure(new_group, client, new_lb(client), backends(ids[:21]))
    assert too_many.code == "InvalidParameter.BackendServers"

    assert len(change(client, "add", group_id, backends(ids[:20])).backend_servers.backend_server) == 20
    after = change(client, "add", group_id, backends(ids[20:]))
    assert len(after.backend_servers.backend_server) == 25  # the group's whole list after the change
    left = change(client, "remove", group_id, backends(ids[:20]))
    assert [b.server_id for b in left.backend_servers.backend_server] == ids[20:]
    change(client, "remove", group_id, backends(["i-never-added", ids[20]]))  # absent ones are ignored
    assert [s for s, _, _ in members(client, group_id)] == ids[21:]


def test_set_changes_weights_and_name_of_existing_servers_only(emulator, client):
    ids = nodes(emulator, 3)
    group_id = new_group(client, new_lb(client), backends(ids))
    body = client.set_vserver_group_attribute(m.SetVServerGroupAttributeRequest(
        region_id=REGION, vserver_group_id=group_id, vserver_group_name="renamed",
        backend_servers=backends(ids[:2], Weight=0))).body
    assert body.vserver_group_name == "renamed" and len(body.backend_servers.backend_server) == 3
    assert members(client, group_id) == [(ids[0], 30080, 0), (ids[1], 30080, 0), (ids[2], 30080, 100)]
    absent = failure(change, client, "set", group_id, backends([ids[0]], port=8080, Weight=5))
    assert absent.code == "InvalidBackendServers.NotFound"
    assert members(client, group_id)[0] == (ids[0], 30080, 0)


def test_backend_servers_must_be_known_running_typed_and_new(emulator, client):
    group_id = new_group(client, new_lb(client))
    emulator.slb.instances.update({"i-run": "Running", "i-stopped": "Stopped", "eni-1": "InUse"})
    unknown = failure(change, client, "add", group_id, backends(["i-run", "i-unknown"]))
    assert (unknown.code, unknown.data["Message"]) == ("InvalidServerId.NotExist",
                                                       "The specified ServerId i-unknown is not exist.")
    assert failure(change, client, "add", group_id, backends(["i-stopped"])).code == "IncorrectInstanceStatus"
    assert members(client, group_id) == []  # a failed call changes nothing
    bad_type = json.dumps([{"ServerId": "i-run", "Port": 80, "Type": "vm"}])
    assert failure(change, client, "add", group_id, bad_type).code == "BackendServer.InvalidType"
    no_ip = json.dumps([{"ServerId": "eni-1", "Port": 80, "Type": "eni"}])
    assert failure(change, client, "add", group_id, no_ip).code == "InvalidParameter.BackendServers"
    assert failure(change, client, "add", group_id, "not json").code == "InvalidParameter.BackendServers"
    assert failure(change, client, "add", group_id, backends(["i-run"], Weight=101)).code == "InvalidParameter.Weight"

    pods = json.dumps([{"ServerId": "eni-1", "Type": "eni", "ServerIp": ip, "Port": 8080, "Weight": "50"}
                       for ip in ("172.16.0.5", "172.16.0.6")])
    assert len(change(client, "add", group_id, pods).backend_servers.backend_server) == 2  # one ENI, two pods
    assert len(change(client, "add", group_id, backends(["i-run", "i-run"])).backend_servers.backend_server) == 3
    again = failure(change, client, "add", group_id, backends(["i-run"]))
    assert again.code == "InvalidBackendServers.AlreadyExists"


def test_at_most_200_backend_servers_per_load_balancer(emulator, client):
    lb_id = new_lb(client)
    first, second = new_group(client, lb_id), new_group(client, lb_id, name="second")
    ids = nodes(emulator, 201)
    for start in range(0, 200, 20):
        change(client, "add", first, backends(ids[start:start + 20]))
    change(client, "add", second, backends(ids[:20], port=30443))  # the same servers again do not count twice
    full = failure(change, client, "add", second, backends(ids[200:]))
    assert (full.code, full.status_code) == ("InstanceBackendServerNumberOverLimit", 400)
    change(client, "remove", first, backends(ids[:1]))  # still in the second group: still counted
    assert failure(change, client, "add", second, backends(ids[200:])).code == "InstanceBackendServerNumberOverLimit"
    change(client, "remove", first, backends(ids[199:200]))
    change(client, "add", second, backends(ids[200:]))
    other = new_group(client, new_lb(client))  # another CLB has its own quota
    change(client, "add", other, backends(ids[:20]))


# --- listeners -----------------------------------------------------------------------------------

def test_listeners_tcp_udp_http(emulator, client):
    lb_id = new_lb(client)
    group_id = new_group(client, lb_id)
    key = dict(region_id=REGION, load_balancer_id=lb_id)
    client.create_load_balancer_tcplistener(m.CreateLoadBalancerTCPListenerRequest(
        listener_port=80, bandwidth=-1, vserver_group_id=group_id, scheduler="wrr", persistence_timeout=60,
        health_check_interval=5, health_check_switch="on", description="k8s/80/cube-svc/default/c01", **key))
    assert emulator.log[-1].params["healthCheckInterval"] == "5"  # the SDK's lower-case first letter
    client.create_load_balancer_udplistener(m.CreateLoadBalancerUDPListenerRequest(
        listener_port=80, bandwidth=-1, vserver_group_id=group_id, health_check_req="ping", health_check_exp="pong",
        health_check_interval=7, **key))
    assert {"healthCheckReq", "healthCheckExp", "healthCheckInterval"} <= set(emulator.log[-1].params)
    client.create_load_balancer_httplistener(m.CreateLoadBalancerHTTPListenerRequest(
        listener_port=8080, backend_server_port=30080, health_check="on", health_check_interval=3,
        sticky_session="off", **key))

    tcp = client.describe_load_balancer_tcplistener_attribute(
        m.DescribeLoadBalancerTCPListenerAttributeRequest(listener_port=80, **key)).body
    assert (tcp.status, tcp.health_check_interval, tcp.persistence_timeout, tcp.vserver_group_id, tcp.bandwidth,
            tcp.health_check, tcp.description) == ("stopped", 5, 60, group_id, -1, "on", "k8s/80/cube-svc/default/c01")
    udp = client.describe_load_balancer_udplistener_attribute(
        m.DescribeLoadBalancerUDPListenerAttributeRequest(listener_port=80, **key)).body
    assert (udp.health_check_req, udp.health_check_exp, udp.health_check_interval) == ("ping", "pong", 7)
    http = client.describe_load_balancer_httplistener_attribute(
        m.DescribeLoadBalancerHTTPListenerAttributeRequest(listener_port=8080, **key)).body
    assert (http.backend_server_port, http.health_check_interval, http.sticky_session) == (30080, 3, "off")

    client.start_load_balancer_listener(m.StartLoadBalancerListenerRequest(listener_port=80, **key))
    assert client.describe_load_balancer_tcplistener_attribute(  # no protocol given: the TCP one on that port
        m.DescribeLoadBalancerTCPListenerAttributeRequest(listener_port=80, **key)).body.status == "running"
    attribute = client.describe_load_balancer_attribute(m.DescribeLoadBalancerAttributeRequest(**key)).body
    assert attribute.listener_ports.listener_port == [80, 80, 8080]
    assert [(p.listener_port, p.listener_protocol) for p in
            attribute.listener_ports_and_protocol.listener_port_and_protocol] == [(80, "tcp"), (80, "udp"),
                                                                                  (8080, "http")]
    used = client.describe_vserver_groups(m.DescribeVServerGroupsRequest(include_listener=True, **key)).body
    users = used.vserver_groups.vserver_group[0].associated_objects.listeners.listener
    assert sorted((u.port, u.protocol) for u in users) == [(80, "tcp"), (80, "udp")]
    in_use = failure(client.delete_vserver_group,
                     m.DeleteVServerGroupRequest(region_id=REGION, vserver_group_id=group_id))
    assert in_use.code == "ResourceInUse.VServerGroup"

    for protocol in ("tcp", "udp"):
        client.delete_load_balancer_listener(m.DeleteLoadBalancerListenerRequest(
            listener_port=80, listener_protocol=protocol, **key))
    client.delete_vserver_group(m.DeleteVServerGroupRequest(region_id=REGION, vserver_group_id=group_id))
    gone = failure(client.describe_load_balancer_tcplistener_attribute,
                   m.DescribeLoadBalancerTCPListenerAttributeRequest(listener_port=80, **key))
    assert (gone.code, gone.data["Message"]) == ("InvalidParameter", "The specified resource does not exist.")


def test_listener_parameters_are_checked(emulator, client):
    lb_id, other_lb = new_lb(client), new_lb(client)
    key = dict(region_id=REGION, load_balancer_id=lb_id)
    create = client.create_load_balancer_tcplistener
    assert failure(create, m.CreateLoadBalancerTCPListenerRequest(listener_port=80, backend_server_port=30080,
                                                                  **key)).code == "MissingBandwidth"
    assert failure(create, m.CreateLoadBalancerTCPListenerRequest(listener_port=80, bandwidth=-1,
                                                                  **key)).code == "MissingBackendServerPort"
    foreign = failure(create, m.CreateLoadBalancerTCPListenerRequest(
        listener_port=80, bandwidth=-1, vserver_group_id=new_group(client, other_lb), **key))
    assert (foreign.code, foreign.data["Message"]) == ("InvalidParameter",
                                                       "The specified VServerGroupId does not exist.")
    assert failure(create, m.CreateLoadBalancerTCPListenerRequest(
        listener_port=80, bandwidth=-1, backend_server_port=1, persistence_timeout=3601, **key)).code == \
        "InvalidParameter.PersistenceTimeout"
    http = failure(client.create_load_balancer_httplistener, m.CreateLoadBalancerHTTPListenerRequest(
        listener_port=80, backend_server_port=30080, **key))
    assert http.code == "MissingHealthCheck"
    client.create_load_balancer_tcplistener(m.CreateLoadBalancerTCPListenerRequest(
        listener_port=80, bandwidth=-1, backend_server_port=30080, **key))
    taken = failure(client.create_load_balancer_httplistener, m.CreateLoadBalancerHTTPListenerRequest(
        listener_port=80, backend_server_port=30080, health_check="off", **key))
    assert taken.code == "ListenerAlreadyExists"


def test_at_most_50_listeners(emulator, client):
    lb_id = new_lb(client)
    key = dict(region_id=REGION, load_balancer_id=lb_id, bandwidth=-1, backend_server_port=30080)
    for port in range(1000, 1050):
        client.create_load_balancer_tcplistener(m.CreateLoadBalancerTCPListenerRequest(listener_port=port, **key))
    full = failure(client.create_load_balancer_tcplistener,
                   m.CreateLoadBalancerTCPListenerRequest(listener_port=2000, **key))
    assert (full.code, full.status_code) == ("ListenerNumberOverLimit", 400)


# --- rate limits, faults, several products ----------------------------------------------------------

def test_write_apis_are_limited_to_90_calls_per_60_seconds(emulator, client, clock):
    group_id = new_group(client, new_lb(client))
    rename = lambda c=client: c.set_vserver_group_attribute(m.SetVServerGroupAttributeRequest(  # noqa: E731
        region_id=REGION, vserver_group_id=group_id, vserver_group_name="n"))
    for _ in range(90):
        rename()
    throttled = failure(rename)
    assert (throttled.code, throttled.status_code) == ("Throttling.User", 400)
    rename(Client(config(emulator, key_id="ak2")))  # another account has its own bucket
    for _ in range(100):  # reads are not limited
        members(client, group_id)
    clock.now += 0.7  # 90 per 60 s: a token every 0.67 s
    rename()
    assert failure(rename).code == "Throttling.User"
    emulator.slb.rate_limits["SetVServerGroupAttribute"] = None  # lifted (a changed limit keeps the bucket's level)
    rename()


@pytest.mark.parametrize("code, status", [("BackendServer.configuring", 400), ("OperationBusy", 400),
                                          ("SystemBusy", 400), ("ServiceUnavailable", 503), ("InternalError", 500)])
def test_injected_faults_reach_the_sdk(emulator, client, code, status):
    ids = nodes(emulator, 2)
    group_id = new_group(client, new_lb(client))
    emulator.inject("AddVServerGroupBackendServers", code, times=1)
    fault = failure(change, client, "add", group_id, backends(ids))
    assert (fault.code, fault.status_code, fault.data["HostId"]) == (code, status, "slb.aliyuncs.com")
    assert fault.data["Message"] == {**emulator.slb.ERRORS, "ServiceUnavailable": (0, fault.data["Message"]),
                                     "InternalError": (0, fault.data["Message"])}[code][1]
    assert members(client, group_id) == []
    change(client, "add", group_id, backends(ids))
    assert len(members(client, group_id)) == 2


def test_three_products_share_one_emulator(clock):
    with Emulator([Ens(), Nlb(job_polls=0), Slb()], clock=clock) as emu:
        cfg = Config(access_key_id="ak", access_key_secret="sk", region_id=REGION, endpoint=emu.endpoint,
                     protocol="http")
        slb, nlb, ens = Client(cfg), NlbClient(cfg), EnsClient(cfg)
        assert new_lb(slb).startswith("lb-")
        group = nlb.create_server_group(nlb_models.CreateServerGroupRequest(
            server_group_name="sg", vpc_id="vpc-1")).body
        assert nlb.get_job_status(nlb_models.GetJobStatusRequest(job_id=group.job_id)).body.status == "Succeeded"
        assert ens.describe_load_balancers(ens_models.DescribeLoadBalancersRequest()).body.total_count == 0
        assert (emu.slb.calls["CreateLoadBalancer"], emu.nlb.calls["CreateServerGroup"], emu.calls["GetJobStatus"]) \
            == (1, 1, 1)
        assert not emu.bugs
