"""The ENS emulator, driven only through the official SDK client (alibabacloud-ens20171110).

Every request here is signed by the SDK and checked by the emulator against the secret; every
response is parsed by the SDK's own models. The token buckets run on a fake clock, so rate limits
are exact and no test sleeps for them.
"""

from __future__ import annotations

import http.client
import json
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from alibabacloud_ens20171110 import models as m
from alibabacloud_ens20171110.client import Client
from alibabacloud_nlb20220430 import models as nlb_models
from alibabacloud_nlb20220430.client import Client as NlbClient
from alibabacloud_tea_openapi import utils_models
from alibabacloud_tea_openapi.exceptions import ClientException, ServerException, ThrottlingException
from alibabacloud_tea_openapi.models import Config
from alibabacloud_tea_util.models import RuntimeOptions
from darabonba.exceptions import UnretryableException

from tests.emulator import Emulator, Ens, FakeClock, Params, Product

SECRET = "sk-not-for-logs"
REGION = "cn-hefei-cmcc-2"
LB_NAME = "k8s/cube-svc/default/np-hefei/c01"


@pytest.fixture
def emulator(clock: FakeClock):
    with Emulator([Ens()], clock=clock, secrets={"ak": SECRET, "ak2": SECRET}) as emu:
        yield emu
        assert not emu.bugs, emu.bugs


def make_client(emu: Emulator, key_id: str = "ak", secret: str = SECRET, **config: Any) -> Client:
    return Client(Config(access_key_id=key_id, access_key_secret=secret, region_id="cn-hangzhou",
                         endpoint=emu.endpoint, protocol="http", **config))


@pytest.fixture
def client(emulator: Emulator) -> Client:
    return make_client(emulator)


def failure(call, *args: Any, **kwargs: Any) -> ClientException | ServerException:
    with pytest.raises((ClientException, ServerException)) as info:
        call(*args, **kwargs)
    return info.value


def new_lb(client: Client, **overrides: Any) -> str:
    fields = dict(ens_region_id=REGION, load_balancer_spec="elb.s2.small", network_id="n-hefei",
                  v_switch_id="vsw-hefei", pay_type="PostPaid", load_balancer_name=LB_NAME)
    fields.update(overrides)
    return client.create_load_balancer(m.CreateLoadBalancerRequest(**fields)).body.load_balancer_id


def lb_status(client: Client, lb_id: str) -> str:
    return client.describe_load_balancer_attribute(
        m.DescribeLoadBalancerAttributeRequest(load_balancer_id=lb_id)).body.load_balancer_status


def active_lb(client: Client) -> str:
    lb_id = new_lb(client)
    for _ in range(10):
        if lb_status(client, lb_id) == "Active":
            return lb_id
    raise AssertionError("ELB never became Active")


# --- ELB -----------------------------------------------------------------------------------------

def test_elb_is_created_asynchronously_listed_and_released(emulator, client):
    emulator.ens.create_polls = 2
    lb_id = new_lb(client)
    assert lb_id.startswith("lb-")
    tcp = m.CreateLoadBalancerTCPListenerRequest(load_balancer_id=lb_id, listener_port=80, backend_server_port=30080)
    assert failure(client.create_load_balancer_tcplistener, tcp).code == "IncorrectLoadBalancerStatus"
    assert [lb_status(client, lb_id) for _ in range(3)] == ["Creating", "Creating", "Active"]

    listed = client.describe_load_balancers(m.DescribeLoadBalancersRequest(ens_region_ids=[REGION])).body
    assert listed.total_count == 1
    assert listed.to_map()["LoadBalancers"]["LoadBalancer"][0]["LoadBalancerName"] == LB_NAME
    attribute = client.describe_load_balancer_attribute(m.DescribeLoadBalancerAttributeRequest(load_balancer_id=lb_id))
    assert attribute.body.to_map()["NetworkId"] == "n-hefei" and attribute.body.load_balancer_spec == "elb.s2.small"

    assert client.release_instance(m.ReleaseInstanceRequest(instance_id=lb_id)).body.resource_type == "elb"
    gone = failure(lb_status, client, lb_id)
    assert (gone.code, gone.status_code) == ("InvalidLoadBalancerId.NotFound", 404)


def test_create_load_balancer_honours_client_token(emulator, client):
    first = new_lb(client, client_token="token-1")
    assert new_lb(client, client_token="token-1") == first
    assert len(emulator.ens.load_balancers) == 1
    other = failure(new_lb, client, client_token="token-1", load_balancer_spec="elb.s2.medium")
    assert other.code == "IdempotentParameterMismatch"


def test_create_load_balancer_checks_its_parameters(client):
    assert failure(new_lb, client, v_switch_id=None).code == "MissingVSwitchId"
    assert failure(new_lb, client, load_balancer_spec="huge").code == "InvalidParameter.LoadBalancerSpec"
    assert failure(new_lb, client, pay_type="PrePaid").code == "InvalidParameter.PayType"


# --- listeners -----------------------------------------------------------------------------------

PROTOCOL_EXTRA = {"tcp": {"scheduler": "wrr"}, "udp": {"scheduler": "rr"}, "http": {"xforwarded_for": "on"},
                  "https": {"server_certificate_id": "cert-1"}}


def listener_call(client: Client, verb: str, protocol: str, **fields: Any):
    name = protocol.upper()
    action = {"create": f"CreateLoadBalancer{name}Listener", "describe": f"DescribeLoadBalancer{name}ListenerAttribute",
              "set": f"SetLoadBalancer{name}ListenerAttribute"}[verb]
    method = {"create": f"create_load_balancer_{protocol}listener",
              "describe": f"describe_load_balancer_{protocol}listener_attribute",
              "set": f"set_load_balancer_{protocol}listener_attribute"}[verb]
    return getattr(client, method)(getattr(m, f"{action}Request")(**fields)).body


@pytest.mark.parametrize("protocol", ["tcp", "udp", "http", "https"])
def test_listener_starts_stopped_then_runs(emulator, client, protocol):
    lb_id = active_lb(client)
    listener_call(client, "create", protocol, load_balancer_id=lb_id, listener_port=443, backend_server_port=30443,
                  description="k8s/443/cube-svc/default/c01", **PROTOCOL_EXTRA[protocol])
    key = dict(load_balancer_id=lb_id, listener_port=443)
    assert listener_call(client, "describe", protocol, **key).status == "Stopped"

    client.start_load_balancer_listener(m.StartLoadBalancerListenerRequest(listener_protocol=protocol, **key))
    seen = [listener_call(client, "describe", protocol, **key).status for _ in range(2)]
    assert seen == ["Starting", "Running"]
    body = listener_call(client, "describe", protocol, **key).to_map()
    assert body["BackendServerPort"] == 30443 and body["Description"] == "k8s/443/cube-svc/default/c01"
    listed = client.describe_load_balancer_listeners(m.DescribeLoadBalancerListenersRequest(load_balancer_id=lb_id))
    assert [(item.protocol, item.listener_port, item.status) for item in listed.body.listeners.listener] == [
        (protocol, "443", "Running")]

    client.stop_load_balancer_listener(m.StopLoadBalancerListenerRequest(listener_protocol=protocol, **key))
    assert listener_call(client, "describe", protocol, **key).status == "Stopped"
    client.delete_load_balancer_listener(m.DeleteLoadBalancerListenerRequest(listener_protocol=protocol, **key))
    assert failure(listener_call, client, "describe", protocol).code == "MissingLoadBalancerId"
    missing = failure(lambda: listener_call(client, "describe", protocol, **key))
    assert (missing.code, missing.status_code) == ("InvalidListener.NotFound", 404)


def running_listener(client: Client, protocol: str, port: int = 443) -> dict[str, Any]:
    key = dict(load_balancer_id=active_lb(client), listener_port=port)
    listener_call(client, "create", protocol, backend_server_port=30443, description="before", **key,
                  **PROTOCOL_EXTRA[protocol])
    client.start_load_balancer_listener(m.StartLoadBalancerListenerRequest(listener_protocol=protocol, **key))
    for _ in range(10):  # Starting for start_polls describes
        if listener_call(client, "describe", protocol, **key).status == "Running":
            return key
    raise AssertionError(f"{protocol} listener never ran")


def test_running_http_and_https_listeners_must_be_stopped_to_change_or_delete(emulator, client):
    """terraform-provider-alicloud stops an ENS HTTP listener before Set and Delete (tests/emulator/ens.py)."""
    emulator.ens.stop_polls = 1
    refused = {}
    for protocol in ("tcp", "udp", "http", "https"):
        key = running_listener(client, protocol)
        delete = m.DeleteLoadBalancerListenerRequest(listener_protocol=protocol, **key)
        try:
            listener_call(client, "set", protocol, description="after", **key)
        except ClientException as exc:
            refused[protocol] = (exc.code, exc.status_code, exc.data["Message"])
            assert listener_call(client, "describe", protocol, **key).description == "before"  # nothing changed
            assert failure(client.delete_load_balancer_listener, delete).code == "IncorrectListenerStatus"
            client.stop_load_balancer_listener(m.StopLoadBalancerListenerRequest(listener_protocol=protocol, **key))
            # Stopping is not stopped yet: still refused, until a describe has seen it Stopping.
            assert failure(client.delete_load_balancer_listener, delete).code == "IncorrectListenerStatus"
            assert [listener_call(client, "describe", protocol, **key).status for _ in range(2)] == [
                "Stopping", "Stopped"]
            listener_call(client, "set", protocol, description="after", **key)
        assert listener_call(client, "describe", protocol, **key).description == "after"
        client.delete_load_balancer_listener(delete)
        assert emulator.ens.load_balancers[key["load_balancer_id"]]["_listeners"] == {}
    message = "The current status of the listener does not support this operation."
    assert refused == {"http": ("IncorrectListenerStatus", 400, message),
                       "https": ("IncorrectListenerStatus", 400, message)}


def test_which_listeners_must_be_stopped_can_be_chosen(emulator, client):
    emulator.ens.stop_to_change = frozenset({"tcp"})
    key = running_listener(client, "tcp", port=80)
    assert failure(lambda: listener_call(client, "set", "tcp", scheduler="rr", **key)).code == "IncorrectListenerStatus"
    key = running_listener(client, "https")
    listener_call(client, "set", "https", description="after", **key)


def test_tcp_listener_attributes_update_in_place(client):
    lb_id = active_lb(client)
    key = dict(load_balancer_id=lb_id, listener_port=80)
    listener_call(client, "create", "tcp", backend_server_port=30080, scheduler="wrr", **key)
    client.start_load_balancer_listener(m.StartLoadBalancerListenerRequest(listener_protocol="tcp", **key))
    listener_call(client, "set", "tcp", scheduler="sch", persistence_timeout=3600, established_timeout=10,
                  description="sticky", **key)
    body = listener_call(client, "describe", "tcp", **key)
    assert (body.scheduler, body.persistence_timeout, body.established_timeout, body.description) == (
        "sch", 3600, 10, "sticky")
    assert body.backend_server_port == 30080 and body.status == "Starting"


@pytest.mark.parametrize("field, value, code", [
    ("scheduler", "lc", "InvalidParameter.Scheduler"),
    ("persistence_timeout", 3601, "InvalidParameter.PersistenceTimeout"),
    ("persistence_timeout", -1, "InvalidParameter.PersistenceTimeout"),
    ("established_timeout", 9, "InvalidParameter.EstablishedTimeout"),
    ("established_timeout", 901, "InvalidParameter.EstablishedTimeout"),
])
def test_tcp_listener_ranges_are_enforced(emulator, client, field, value, code):
    lb_id = active_lb(client)
    key = dict(load_balancer_id=lb_id, listener_port=80)
    bad = failure(lambda: listener_call(client, "create", "tcp", **key, **{field: value}))
    assert (bad.code, bad.status_code) == (code, 400)
    assert emulator.ens.load_balancers[lb_id]["_listeners"] == {}
    listener_call(client, "create", "tcp", **key)
    bad = failure(lambda: listener_call(client, "set", "tcp", **key, **{field: value}))
    assert bad.code == code


def test_listener_on_a_taken_port_conflicts(client):
    lb_id = active_lb(client)
    listener_call(client, "create", "tcp", load_balancer_id=lb_id, listener_port=80)
    for protocol, extra in (("tcp", {}), ("http", {}), ("https", {"server_certificate_id": "cert-1"})):
        conflict = failure(lambda protocol=protocol, extra=extra: listener_call(
            client, "create", protocol, load_balancer_id=lb_id, listener_port=80, **extra))
        assert (conflict.code, conflict.status_code) == ("ListenerAlreadyExists", 400)
    listener_call(client, "create", "udp", load_balancer_id=lb_id, listener_port=80)  # another transport


# --- backend servers -----------------------------------------------------------------------------

def servers(kind, ids, port: int | None = 30080, weight: int = 100) -> list:
    extra = {} if port is None else {"port": port}
    return [kind(server_id=i, ip=f"192.168.0.{n}", type="ens", weight=weight, **extra) for n, i in enumerate(ids, 1)]


def backends(client: Client, verb: str, lb_id: str, ids, **item: Any):
    """Add, Set or Remove `ids` with one call; Set items carry no Port, as in the SDK's model."""
    action = {"add": "AddBackendServers", "set": "SetBackendServers", "remove": "RemoveBackendServers"}[verb]
    kind = getattr(m, f"{action}RequestBackendServers")
    if verb == "set":
        item["port"] = None
    request = getattr(m, f"{action}Request")(load_balancer_id=lb_id, backend_servers=servers(kind, ids, **item))
    return getattr(client, f"{verb}_backend_servers")(request).body


def test_backends_add_set_remove_with_the_20_limit(emulator, client):
    lb_id = active_lb(client)
    ids = [f"i-node{n:02d}" for n in range(25)]
    emulator.ens.instances.update({i: "Running" for i in ids})

    too_many = failure(backends, client, "add", lb_id, ids[:21])
    assert (too_many.code, too_many.status_code) == ("InvalidParameter.BackendServers", 400)
    assert "At most 20" in too_many.data["Message"]
    assert len(backends(client, "add", lb_id, ids[:20]).backend_servers.backend_server) == 20
    backends(client, "add", lb_id, ids[20:])
    on_wire = emulator.log[-1].params["BackendServers"]
    assert json.loads(on_wire)[0] == {"Ip": "192.168.0.1", "Port": 30080, "ServerId": "i-node20", "Type": "ens",
                                      "Weight": 100}

    backends(client, "set", lb_id, ids[:3], weight=0)
    assert "Port" not in json.loads(emulator.log[-1].params["BackendServers"])[0]
    attribute = client.describe_load_balancer_attribute(m.DescribeLoadBalancerAttributeRequest(load_balancer_id=lb_id))
    weights = {b.server_id: (b.weight, b.port) for b in attribute.body.backend_servers}
    assert len(weights) == 25 and weights["i-node00"] == (0, "30080") and weights["i-node03"] == (100, "30080")

    backends(client, "remove", lb_id, ids[:20])
    backends(client, "remove", lb_id, ids[:2])  # no longer there: nothing to do
    left = [b["ServerId"] for b in emulator.ens.load_balancers[lb_id]["_backends"]]
    assert left == ids[20:]


def test_backends_must_be_known_running_and_new(emulator, client):
    lb_id = active_lb(client)
    emulator.ens.instances.update({"i-run": "Running", "i-stopped": "Stopped"})

    def add_ids(*ids: str, weight: int = 100):
        return backends(client, "add", lb_id, ids, weight=weight)

    assert failure(add_ids, "i-unknown").code == "InvalidInstanceId.NotFound"
    assert failure(add_ids, "i-run", "i-stopped").code == "IncorrectInstanceStatus"
    assert emulator.ens.load_balancers[lb_id]["_backends"] == []  # a failed call changes nothing
    assert failure(lambda: add_ids("i-run", weight=101)).code == "InvalidParameter.Weight"
    assert len(add_ids("i-run", "i-run").backend_servers.backend_server) == 1  # the first of duplicates wins
    assert failure(add_ids, "i-run").code == "InvalidBackendServers.AlreadyExists"
    absent = failure(backends, client, "set", lb_id, ["i-stopped"], weight=5)
    assert absent.code == "InvalidBackendServers.NotFound"


# --- rate limits ---------------------------------------------------------------------------------

def remove_nothing(client: Client, lb_id: str):
    return backends(client, "remove", lb_id, ["i-none"])


def test_backend_calls_are_limited_to_10_per_second_per_account(emulator, client, clock):
    lb_id = active_lb(client)
    for _ in range(10):
        remove_nothing(client, lb_id)
    throttled = failure(remove_nothing, client, lb_id)
    assert type(throttled) is ClientException and not isinstance(throttled, ThrottlingException)
    assert (throttled.code, throttled.status_code, throttled.retry_after) == ("Throttling.User", 400, None)
    assert throttled.data["Message"] == "Request was denied due to user flow control."

    remove_nothing(make_client(emulator, key_id="ak2"), lb_id)  # another account has its own bucket
    clock.now += 0.1  # one token back
    remove_nothing(client, lb_id)
    assert failure(remove_nothing, client, lb_id).code == "Throttling.User"
    assert emulator.outcomes[("RemoveBackendServers", "Throttling.User")] == 2


def test_create_load_balancer_is_limited_to_5_per_second(client):
    ids = {new_lb(client) for _ in range(5)}
    assert len(ids) == 5
    assert failure(new_lb, client).code == "Throttling.User"


def test_rate_limits_can_be_changed_or_disabled(emulator, client):
    emulator.ens.rate_limits["DescribeLoadBalancers"] = (1, 2)  # 1 call/s, burst of 2
    describe = lambda: client.describe_load_balancers(m.DescribeLoadBalancersRequest())  # noqa: E731
    describe(), describe()
    assert failure(describe).code == "Throttling.User"
    emulator.rate_limits = False
    for _ in range(5):
        describe()


# --- faults --------------------------------------------------------------------------------------

@pytest.mark.parametrize("code, status, kind", [
    ("Throttling", 400, ClientException),
    ("Throttling.User", 400, ClientException),
    ("ServiceUnavailable", 503, ServerException),
    ("InternalError", 500, ServerException),
    ("IncorrectEipStatus", 400, ClientException),
])
def test_injected_faults_reach_the_sdk_as_its_exceptions(emulator, client, code, status, kind):
    fault = emulator.inject("DescribeLoadBalancers", code, times=2)
    describe = lambda: client.describe_load_balancers(m.DescribeLoadBalancersRequest())  # noqa: E731
    for _ in range(2):
        exc = failure(describe)
        assert type(exc) is kind
        assert (exc.code, exc.status_code, exc.statusCode) == (code, status, status)
        assert set(exc.data) == {"RequestId", "HostId", "Code", "Message", "statusCode"}
        assert exc.data["HostId"] == "ens.aliyuncs.com" and exc.request_id == exc.data["RequestId"]
        assert exc.message == f"code: {status}, {exc.data['Message']} request id: {exc.request_id}"
    assert describe().body.total_count == 0
    assert fault.fired == 2 and emulator.calls["DescribeLoadBalancers"] == 3


def test_fault_after_successful_calls(emulator, client):
    describe = lambda: client.describe_load_balancers(m.DescribeLoadBalancersRequest())  # noqa: E731
    emulator.inject("DescribeLoadBalancers", "InternalError")
    emulator.inject("DescribeLoadBalancers", "ServiceUnavailable", after=2)
    assert failure(describe).code == "InternalError"  # a failure is not a success: does not count for after=
    describe(), describe()
    assert failure(describe).code == "ServiceUnavailable"
    describe()
    assert emulator.outcomes == {("DescribeLoadBalancers", "OK"): 3, ("DescribeLoadBalancers", "InternalError"): 1,
                                 ("DescribeLoadBalancers", "ServiceUnavailable"): 1}


def test_timeout_fault_outlasts_a_short_read_timeout(emulator, client):
    emulator.inject("DescribeLoadBalancers", "timeout", delay=5)
    started = time.monotonic()
    with pytest.raises(UnretryableException) as info:
        client.describe_load_balancers_with_options(m.DescribeLoadBalancersRequest(), RuntimeOptions(read_timeout=100))
    assert time.monotonic() - started < 2
    assert "Read timed out" in str(info.value.inner_exception)
    assert client.describe_load_balancers(m.DescribeLoadBalancersRequest()).body.total_count == 0


def test_timeout_fault_can_apply_the_call_the_client_never_hears_about(emulator, client):
    emulator.inject("CreateLoadBalancer", "timeout", delay=5, applied=True)
    with pytest.raises(UnretryableException):
        client.create_load_balancer_with_options(m.CreateLoadBalancerRequest(
            ens_region_id=REGION, load_balancer_spec="elb.s2.small", network_id="n-1", v_switch_id="vsw-1",
            pay_type="PostPaid", client_token="retry-me"), RuntimeOptions(read_timeout=100))
    assert len(emulator.ens.load_balancers) == 1
    again = new_lb(client, network_id="n-1", v_switch_id="vsw-1", load_balancer_name=None, client_token="retry-me")
    assert list(emulator.ens.load_balancers) == [again]


def test_inject_rejects_what_it_cannot_do(emulator):
    with pytest.raises(ValueError):
        emulator.inject("DescribeNothing", "Throttling")
    with pytest.raises(ValueError):
        emulator.inject("DescribeLoadBalancers", "Made.Up")
    emulator.inject("*", "Made.Up", status=409)


def test_latency_option_and_fast_default(emulator, client):
    describe = lambda: client.describe_load_balancers(m.DescribeLoadBalancersRequest())  # noqa: E731
    describe()  # connection set up
    started = time.perf_counter()
    for _ in range(20):
        describe()
    assert (time.perf_counter() - started) / 20 < 0.02  # no Nagle / delayed-ACK stall (about 45 ms otherwise)
    emulator.latency = 0.05
    started = time.perf_counter()
    describe()
    assert time.perf_counter() - started >= 0.05


def test_concurrent_clients_are_all_served_and_counted(emulator):
    emulator.rate_limits = False
    lb_id = active_lb(make_client(emulator))
    ids = [f"i-{n:03d}" for n in range(80)]
    emulator.ens.instances.update({i: "Running" for i in ids})
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda i: backends(make_client(emulator), "add", lb_id, [i]), ids))
    assert emulator.calls["AddBackendServers"] == 80 == len(emulator.ens.load_balancers[lb_id]["_backends"])


# --- EIP -----------------------------------------------------------------------------------------

def eip_record(client: Client, allocation_id: str):
    found = client.describe_ens_eip_addresses(m.DescribeEnsEipAddressesRequest(allocation_id=allocation_id))
    return found.body.eip_addresses.eip_address[0]


def test_eip_create_associate_modify_release(emulator, client):
    lb_id = active_lb(client)
    created = client.create_eip_instance(m.CreateEipInstanceRequest(
        ens_region_id=REGION, bandwidth=10, internet_charge_type="95BandwidthByMonth", instance_charge_type="PostPaid",
        isp="cmcc", name="k8s/cube-svc/default/np-hefei/c01"))
    eip_id = created.body.allocation_id
    assert eip_id.startswith("eip-")
    record = eip_record(client, eip_id)
    assert (record.status, record.bandwidth, record.isp) == ("Available", 10, "cmcc") and record.ip_address

    client.associate_ens_eip_address(m.AssociateEnsEipAddressRequest(allocation_id=eip_id, instance_id=lb_id,
                                                                      instance_type="SlbInstance"))
    busy = failure(client.modify_ens_eip_address_attribute,
                   m.ModifyEnsEipAddressAttributeRequest(allocation_id=eip_id, bandwidth=50))
    assert busy.code == "IncorrectEipStatus"
    assert [eip_record(client, eip_id).status for _ in range(2)] == ["Associating", "InUse"]
    assert eip_record(client, eip_id).to_map()["InstanceId"] == lb_id

    client.modify_ens_eip_address_attribute(m.ModifyEnsEipAddressAttributeRequest(allocation_id=eip_id, bandwidth=50))
    assert eip_record(client, eip_id).bandwidth == 50
    too_wide = failure(client.modify_ens_eip_address_attribute,
                       m.ModifyEnsEipAddressAttributeRequest(allocation_id=eip_id, bandwidth=10001))
    assert too_wide.code == "InvalidParameter.Bandwidth"

    def release(instance_id: str) -> str:
        return client.release_instance(m.ReleaseInstanceRequest(instance_id=instance_id)).body.resource_type

    assert failure(release, lb_id).code == "DependencyViolation.Eip"
    assert failure(release, eip_id).code == "IncorrectEipStatus"
    client.un_associate_ens_eip_address(m.UnAssociateEnsEipAddressRequest(allocation_id=eip_id))
    assert eip_record(client, eip_id).status == "Available"
    assert (release(eip_id), release(lb_id)) == ("eip", "elb")
    assert emulator.ens.eips == {} and emulator.ens.load_balancers == {}


def test_eip_bandwidth_is_5_to_10000(client):
    for bandwidth in (4, 10001):
        bad = failure(client.create_eip_instance, m.CreateEipInstanceRequest(ens_region_id=REGION, bandwidth=bandwidth))
        assert bad.code == "InvalidParameter.Bandwidth"


# --- credentials, signing, dispatch --------------------------------------------------------------

def raw_call(emu: Emulator, action: str, version: str = "2017-11-10", auth_type: str = "AK", client=None) -> dict:
    client = client or make_client(emu)
    params = utils_models.Params(action=action, version=version, protocol="HTTP", pathname="/", method="POST",
                                 auth_type=auth_type, style="RPC", req_body_type="formData", body_type="json")
    return client.call_api(params, utils_models.OpenApiRequest(query={}), RuntimeOptions())


def test_missing_credentials_are_refused(emulator):
    anonymous = failure(raw_call, emulator, "DescribeLoadBalancers", "2017-11-10", "Anonymous")
    assert (anonymous.code, anonymous.status_code) == ("MissingAccessKeyId", 400)
    conn = http.client.HTTPConnection(emulator.endpoint, timeout=5)
    conn.request("POST", "/?Action=DescribeLoadBalancers&Version=2017-11-10")
    response = conn.getresponse()
    body = json.loads(response.read())
    conn.close()
    assert response.status == 400 and set(body) == {"RequestId", "HostId", "Code", "Message"}
    assert body["Code"] == "MissingAccessKeyId"


def test_signatures_are_checked_and_secrets_never_logged(emulator):
    wrong = failure(make_client(emulator, secret="guess").describe_load_balancers, m.DescribeLoadBalancersRequest())
    assert wrong.code == "SignatureDoesNotMatch"
    unknown = failure(make_client(emulator, key_id="nobody").describe_load_balancers, m.DescribeLoadBalancersRequest())
    assert (unknown.code, unknown.status_code) == ("InvalidAccessKeyId.NotFound", 404)

    legacy = make_client(emulator, signature_algorithm="v2")
    lb_id = new_lb(legacy)
    guessing = make_client(emulator, secret="guess", signature_algorithm="v2")
    assert failure(new_lb, guessing).code == "SignatureDoesNotMatch"
    assert emulator.log[-2] == ("CreateLoadBalancer", {
        "EnsRegionId": REGION, "LoadBalancerName": LB_NAME,
        "LoadBalancerSpec": "elb.s2.small", "NetworkId": "n-hefei", "PayType": "PostPaid", "VSwitchId": "vsw-hefei"})
    assert lb_id in emulator.ens.load_balancers and SECRET not in repr(emulator.log)


def test_unknown_action_and_version(emulator):
    assert failure(raw_call, emulator, "DescribeNothing").code == "InvalidAction.NotFound"
    assert failure(raw_call, emulator, "DescribeLoadBalancers", "2099-01-01").code == "InvalidVersion"
    assert emulator.calls["DescribeNothing"] == 1


class ToyNlb(Product):
    """Enough of NLB (2022-04-30) to show a second product beside ENS, reached with a form body."""

    name, version, host = "nlb", "2022-04-30", "nlb.cn-hangzhou.aliyuncs.com"

    def DeleteServerGroup(self, p: Params) -> dict:
        return {"JobId": f"job-{p.get_str('ServerGroupId', required=True)}-{p.get_bool('DryRun')}"}


def test_second_product_is_dispatched_by_version_and_reads_form_bodies():
    with Emulator([Ens(), ToyNlb()], rate_limits=False) as emu:
        nlb = NlbClient(Config(access_key_id="ak", access_key_secret="sk", region_id="cn-hangzhou",
                               endpoint=emu.endpoint, protocol="http"))
        body = nlb.delete_server_group(nlb_models.DeleteServerGroupRequest(
            server_group_id="sgp-1", region_id="cn-hangzhou", dry_run=True)).body
        assert body.job_id == "job-sgp-1-True"
        assert emu.nlb.calls["DeleteServerGroup"] == 1 and emu.log[-1].params["RegionId"] == "cn-hangzhou"
        ens = make_client(emu, secret="sk")
        assert ens.describe_load_balancers(m.DescribeLoadBalancersRequest()).body.total_count == 0
        assert not emu.bugs
