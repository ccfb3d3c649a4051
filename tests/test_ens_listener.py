"""The ENS TCP/HTTPS listener and EIP-address dynamic providers, through Pulumi's own dynamic-provider
host (`python -m pulumi.dynamic`, driven over gRPC as the engine does), against the ENS emulator
that the official SDK client talks to."""

from __future__ import annotations

import time

import pytest
from alibabacloud_ens20171110 import models
from alibabacloud_ens20171110.client import Client
from alibabacloud_tea_openapi.models import Config

from cloud.retry import RetryPolicy
from components.eip_address import EipAddressProvider
from components.ens_listener import EnsListenerProvider
from tests.dynhost import DynamicHost, ProviderError, load_in_fresh_interpreter, public, serialize
from tests.emulator import Emulator, Ens

FAST = RetryPolicy(attempts=5, base=0.01, cap=0.05, deadline=10)
ATTRIBUTES = {"Scheduler": "rr", "EstablishedTimeout": 500, "PersistenceTimeout": 0, "HealthCheckType": "tcp",
              "HealthyThreshold": 3, "UnhealthyThreshold": 3, "HealthCheckInterval": 2,
              "HealthCheckConnectTimeout": 5, "Description": "k8s/80/cube-svc/default/c0123456789abcdef"}


def provider(**overrides):
    return EnsListenerProvider(**{"wait_timeout": 5.0, "poll_interval": 0.01, "policy": FAST, **overrides})


@pytest.fixture
def emulator():
    with Emulator([Ens(create_polls=2, start_polls=2, associate_polls=2)], secrets={"ak-test": "sk-test-secret"}) as emu:
        yield emu


@pytest.fixture
def client(emulator):
    return Client(Config(access_key_id="ak-test", access_key_secret="sk-test-secret", region_id="cn-hangzhou",
                         endpoint=emulator.endpoint, protocol="http"))


@pytest.fixture
def elb(client):
    """An ELB as pulumi-alicloud would have created it; still `Creating` for two describes."""
    return client.create_load_balancer(models.CreateLoadBalancerRequest(
        ens_region_id="cn-hefei-cmcc-2", load_balancer_spec="elb.s2.small", network_id="n-hefei",
        v_switch_id="vsw-hefei", pay_type="PostPaid", load_balancer_name="k8s/cube-svc/default/np-hefei/c1")).body.load_balancer_id


def env_for(emulator, **extra):
    return {"ALIBABA_CLOUD_ACCESS_KEY_ID": "ak-test", "ALIBABA_CLOUD_ACCESS_KEY_SECRET": "sk-test-secret",
            "ACK_EDGE_LB_ENS_ENDPOINT": f"http://{emulator.endpoint}", **extra}


@pytest.fixture
def host(emulator):
    with DynamicHost(env=env_for(emulator)) as running:
        running.configure({})
        yield running


def inputs(lb_id, **changes):
    props = {"loadBalancerId": lb_id, "protocol": "tcp", "listenerPort": 80, "backendServerPort": 30080,
             "attributes": dict(ATTRIBUTES)}
    props.update(changes)
    return props


def live(emulator, lb_id, protocol="tcp", port=80):
    return emulator.ens.load_balancers[lb_id]["_listeners"][(protocol, port)]


def test_create_waits_for_the_elb_then_starts_the_listener(host, emulator, elb):
    p = provider()
    checked, failures = host.check(p, {}, inputs(elb))
    assert failures == []
    id_, outs = host.create(p, checked)
    assert id_ == f"{elb}/tcp/80"
    assert outs["status"] == "Running"
    listener = live(emulator, elb)
    assert listener["Status"] == "Running"
    assert listener["BackendServerPort"] == 30080 and listener["Scheduler"] == "rr"
    # The ELB was still Creating: the provider polled it before creating the listener.
    assert emulator.calls["DescribeLoadBalancerAttribute"] >= 2
    assert emulator.calls["StartLoadBalancerListener"] == 1


def test_check_rejects_bad_inputs_with_the_property_named(host, elb):
    _, failures = host.check(provider(), {}, inputs("elb-1", protocol="quic", listenerPort=0,
                                                    attributes={"Colour": "blue"}))
    failed = dict(failures)
    assert set(failed) == {"protocol", "listenerPort", "loadBalancerId"}
    _, failures = host.check(provider(), {}, inputs(elb, protocol="https"))
    assert any("ServerCertificateId" in reason for _, reason in failures)


def test_update_changes_attributes_in_place(host, emulator, elb):
    p = provider()
    id_, outs = host.create(p, inputs(elb))
    news = inputs(elb, attributes={**ATTRIBUTES, "Scheduler": "wrr", "PersistenceTimeout": 300})
    diff = host.diff(p, id_, outs, news)
    assert diff.changes is True and diff.replaces == []
    host.update(p, id_, outs, news)
    listener = live(emulator, elb)
    assert listener["Scheduler"] == "wrr" and listener["PersistenceTimeout"] == 300
    assert emulator.calls["SetLoadBalancerTCPListenerAttribute"] == 1
    assert emulator.calls["CreateLoadBalancerTCPListener"] == 1  # no second create
    assert emulator.calls["DeleteLoadBalancerListener"] == 0
    assert emulator.calls["StopLoadBalancerListener"] == 0  # ENS changes a running TCP listener: no outage


def test_diff_is_quiet_when_nothing_changed_and_replaces_on_port_changes(host, elb):
    p = provider()
    id_, outs = host.create(p, inputs(elb))
    assert host.diff(p, id_, outs, inputs(elb)).changes is False
    moved = host.diff(p, id_, outs, inputs(elb, listenerPort=8080, backendServerPort=30081))
    assert moved.changes is True and sorted(moved.replaces) == ["backendServerPort", "listenerPort"]
    assert moved.delete_before_replace is True


def test_refresh_detects_out_of_band_changes_and_up_repairs_them(host, emulator, client, elb):
    p = provider()
    id_, outs = host.create(p, inputs(elb))
    # Someone changes the scheduler and stops the listener in the console.
    client.set_load_balancer_tcplistener_attribute(models.SetLoadBalancerTCPListenerAttributeRequest(
        load_balancer_id=elb, listener_port=80, scheduler="wlc"))
    client.stop_load_balancer_listener(models.StopLoadBalancerListenerRequest(
        load_balancer_id=elb, listener_port=80, listener_protocol="tcp"))
    read_id, refreshed, _ = host.read(p, id_, outs)
    assert read_id == id_
    assert refreshed["attributes"]["Scheduler"] == "wlc" and refreshed["status"] == "Stopped"
    assert host.diff(p, id_, refreshed, inputs(elb)).changes is True
    host.update(p, id_, refreshed, inputs(elb))
    assert live(emulator, elb)["Scheduler"] == "rr" and live(emulator, elb)["Status"] == "Running"


def test_delete_removes_it_and_refresh_then_finds_nothing(host, emulator, elb):
    p = provider()
    id_, outs = host.create(p, inputs(elb))
    host.delete(p, id_, outs)
    assert ("tcp", 80) not in emulator.ens.load_balancers[elb]["_listeners"]
    read_id, _, _ = host.read(p, id_, outs)
    assert read_id == ""
    host.delete(p, id_, outs)  # already gone: not an error


def test_https_listener(host, emulator, elb):
    attributes = {"Scheduler": "wrr", "ServerCertificateId": "cert-123", "HealthCheck": "on",
                  "HealthCheckURI": "/healthz", "HealthCheckConnectPort": 32100}
    id_, outs = host.create(provider(), inputs(elb, protocol="https", listenerPort=443, attributes=attributes))
    assert id_ == f"{elb}/https/443" and outs["status"] == "Running"
    assert live(emulator, elb, "https", 443)["ServerCertificateId"] == "cert-123"


HTTPS = {"Scheduler": "wrr", "ServerCertificateId": "cert-123", "HealthCheck": "on", "HealthCheckURI": "/healthz"}
WRITES = ("StopLoadBalancerListener", "StartLoadBalancerListener", "DeleteLoadBalancerListener",
          "SetLoadBalancerHTTPSListenerAttribute", "SetLoadBalancerTCPListenerAttribute")


def writes(emulator):
    """The listener calls that change something, in the order the emulator received them."""
    return [call.action for call in emulator.log if call.action in WRITES]


@pytest.fixture
def running_https(host, emulator, elb):
    """A running HTTPS listener created by the provider; stopping takes two describes from here on."""
    id_, outs = host.create(provider(), inputs(elb, protocol="https", listenerPort=443, attributes=HTTPS))
    assert live(emulator, elb, "https", 443)["Status"] == "Running"
    emulator.ens.stop_polls = 2
    emulator.reset_counts()
    return id_, outs


def test_https_update_stops_sets_and_starts_a_running_listener(host, emulator, elb, running_https):
    id_, outs = running_https
    news = inputs(elb, protocol="https", listenerPort=443, attributes={**HTTPS, "Scheduler": "rr"})
    updated = host.update(provider(), id_, outs, news)
    assert writes(emulator) == ["StopLoadBalancerListener", "SetLoadBalancerHTTPSListenerAttribute",
                                "StartLoadBalancerListener"]
    assert ("SetLoadBalancerHTTPSListenerAttribute", "IncorrectListenerStatus") not in emulator.outcomes  # waited
    assert updated["status"] == "Running"
    listener = live(emulator, elb, "https", 443)
    assert listener["Status"] == "Running" and listener["Scheduler"] == "rr"


def test_https_delete_stops_then_deletes_a_running_listener(host, emulator, elb, running_https):
    id_, outs = running_https
    host.delete(provider(), id_, outs)
    assert writes(emulator) == ["StopLoadBalancerListener", "DeleteLoadBalancerListener"]
    assert emulator.ens.load_balancers[elb]["_listeners"] == {}
    host.delete(provider(), id_, outs)  # gone already: done, nothing stopped
    assert writes(emulator) == ["StopLoadBalancerListener", "DeleteLoadBalancerListener"]


def test_a_failed_change_after_the_stop_starts_the_old_listener_again(host, emulator, elb, running_https):
    id_, outs = running_https
    emulator.inject("SetLoadBalancerHTTPSListenerAttribute", "InvalidParameter.ServerCertificateId", status=400)
    news = inputs(elb, protocol="https", listenerPort=443, attributes={**HTTPS, "ServerCertificateId": "cert-gone"})
    with pytest.raises(ProviderError) as caught:
        host.update(provider(), id_, outs, news)
    assert "InvalidParameter.ServerCertificateId" in caught.value.summary
    assert writes(emulator) == ["StopLoadBalancerListener", "SetLoadBalancerHTTPSListenerAttribute",
                                "StartLoadBalancerListener"]
    listener = live(emulator, elb, "https", 443)
    assert listener["ServerCertificateId"] == "cert-123" and listener["Status"] in ("Starting", "Running")


def test_a_listener_the_cloud_refuses_to_change_while_running_is_stopped_and_retried(host, emulator, elb):
    id_, outs = host.create(provider(), inputs(elb))
    emulator.ens.stop_to_change = frozenset({"tcp"})  # as if ENS held TCP listeners to the HTTP rule
    emulator.reset_counts()
    host.update(provider(), id_, outs, inputs(elb, attributes={**ATTRIBUTES, "Scheduler": "wrr"}))
    assert writes(emulator) == ["SetLoadBalancerTCPListenerAttribute", "StopLoadBalancerListener",
                                "SetLoadBalancerTCPListenerAttribute", "StartLoadBalancerListener"]
    assert emulator.outcomes[("SetLoadBalancerTCPListenerAttribute", "IncorrectListenerStatus")] == 1
    assert live(emulator, elb)["Scheduler"] == "wrr" and live(emulator, elb)["Status"] == "Running"
    emulator.reset_counts()
    host.delete(provider(), id_, outs)
    assert writes(emulator) == ["DeleteLoadBalancerListener", "StopLoadBalancerListener",
                                "DeleteLoadBalancerListener"]
    assert emulator.ens.load_balancers[elb]["_listeners"] == {}


@pytest.mark.parametrize("code", ["Throttling.User", "ServiceUnavailable", "InternalError", "IncorrectLoadBalancerStatus"])
def test_throttling_busy_and_5xx_are_retried(host, emulator, elb, code):
    fault = emulator.inject("CreateLoadBalancerTCPListener", code, times=2)
    _, outs = host.create(provider(), inputs(elb))
    assert outs["status"] == "Running"
    assert fault.fired == 2 and emulator.calls["CreateLoadBalancerTCPListener"] == 3


def test_a_timed_out_create_that_went_through_is_adopted(host, emulator, elb):
    # The listener is created, but the answer comes after the client gave up waiting.
    emulator.inject("CreateLoadBalancerTCPListener", "timeout", times=1, delay=1.0, applied=True)
    _, outs = host.create(provider(read_timeout=0.3), inputs(elb))
    assert outs["status"] == "Running"
    assert emulator.outcomes[("CreateLoadBalancerTCPListener", "ListenerAlreadyExists")] == 1
    assert emulator.calls["SetLoadBalancerTCPListenerAttribute"] == 1  # adopted, not duplicated
    assert len(emulator.ens.load_balancers[elb]["_listeners"]) == 1


def test_an_error_that_will_not_pass_is_not_retried(host, emulator, elb):
    with pytest.raises(ProviderError) as caught:
        host.create(provider(), inputs(elb, attributes={**ATTRIBUTES, "EstablishedTimeout": 5}))
    assert "InvalidParameter.EstablishedTimeout" in caught.value.summary
    assert emulator.calls["CreateLoadBalancerTCPListener"] == 1


def test_waiting_is_bounded_with_a_clear_message(emulator, elb):
    _stuck(emulator, elb)
    with DynamicHost(env=env_for(emulator)) as host:
        host.configure({})
        started = time.monotonic()
        with pytest.raises(ProviderError) as caught:
            host.create(provider(wait_timeout=0.3), inputs(elb))
    assert time.monotonic() - started < 5
    assert f"ELB {elb} to become Active: still Creating after 0.3 s" in caught.value.summary


def _stuck(emulator, elb):
    """Keep the ELB in Creating whatever the describe count."""
    lb = emulator.ens.load_balancers[elb]
    for key in [k for k in lb if k.startswith("_") and k not in ("_listeners", "_backends")]:
        lb.pop(key)
    lb["LoadBalancerStatus"] = "Creating"


def test_credentials_from_provider_configuration_and_never_in_outputs(emulator, elb):
    env = {"ACK_EDGE_LB_ENS_ENDPOINT": f"http://{emulator.endpoint}", "ALIBABA_CLOUD_ACCESS_KEY_ID": "",
           "ALIBABA_CLOUD_ACCESS_KEY_SECRET": ""}
    with DynamicHost(env=env) as host:
        host.configure({"alicloud:accessKey": "ak-test", "alicloud:secretKey": "sk-test-secret"}, namespace=False)
        id_, outs = host.create(provider(), inputs(elb))
    assert outs["status"] == "Running"
    assert "sk-test-secret" not in repr(outs) and "sk-test-secret" not in serialize(provider())


def test_missing_credentials_say_how_to_set_them_without_leaking(emulator, elb):
    env = {"ACK_EDGE_LB_ENS_ENDPOINT": f"http://{emulator.endpoint}", "ALIBABA_CLOUD_ACCESS_KEY_ID": "",
           "ALIBABA_CLOUD_ACCESS_KEY_SECRET": ""}
    with DynamicHost(env=env) as host:
        host.configure({})
        # Preview works without credentials: check and diff never call the cloud.
        _, failures = host.check(provider(), {}, inputs(elb))
        assert failures == []
        with pytest.raises(ProviderError) as caught:
            host.create(provider(), inputs(elb))
    assert "ALIBABA_CLOUD_ACCESS_KEY_ID" in caught.value.summary
    assert emulator.calls["CreateLoadBalancerTCPListener"] == 0


def test_wrong_secret_is_reported_without_echoing_it(emulator, elb):
    with DynamicHost(env=env_for(emulator, ALIBABA_CLOUD_ACCESS_KEY_SECRET="not-the-secret")) as host:
        host.configure({})
        with pytest.raises(ProviderError) as caught:
            host.create(provider(), inputs(elb))
    assert "SignatureDoesNotMatch" in caught.value.summary
    assert "not-the-secret" not in caught.value.message


def test_the_serialized_provider_is_deterministic_and_loads_fresh():
    blob = serialize(provider())
    assert blob == serialize(provider())
    assert load_in_fresh_interpreter(blob) == "components.ens_listener.EnsListenerProvider"


def test_eip_address_waits_until_the_eip_is_bound(host, emulator, client, elb):
    eip = client.create_eip_instance(models.CreateEipInstanceRequest(
        ens_region_id="cn-hefei-cmcc-2", bandwidth=10, internet_charge_type="95BandwidthByMonth",
        instance_charge_type="PostPaid", isp="cmcc")).body.allocation_id
    _stuck(emulator, elb)
    emulator.ens.load_balancers[elb]["LoadBalancerStatus"] = "Active"
    client.associate_ens_eip_address(models.AssociateEnsEipAddressRequest(
        allocation_id=eip, instance_id=elb, instance_type="SlbInstance"))
    lookup = EipAddressProvider(wait_timeout=5.0, poll_interval=0.01, policy=FAST)
    id_, outs = host.create(lookup, {"allocationId": eip})
    assert id_ == eip and outs["status"] == "InUse" and outs["instanceId"] == elb
    assert outs["ipAddress"] == emulator.ens.eips[eip]["IpAddress"]
    assert public(host.read(lookup, id_, outs)[1])["ipAddress"] == outs["ipAddress"]
