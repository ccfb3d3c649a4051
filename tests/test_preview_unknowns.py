"""A first `pulumi preview`: inputs that depend on resources not created yet arrive as unknowns.

The engine sends them as the wire sentinel (`tests.dynhost.UNKNOWN`); the real dynamic-provider host
deserializes Check's and Diff's properties with keep_unknowns=True, so the providers see
`pulumi.output.Unknown` objects, also nested inside `attributes`. The engine stops the whole preview on
any Check failure, so Check validates only what is known and hands unknowns back unchanged (the
host serializes an `Unknown` back to the sentinel); Diff reports what an unknown may change.
No cloud call is made here: check and diff never call the cloud.
"""

from __future__ import annotations

import pytest
from pulumi.output import Unknown

from components.eip_address import EipAddressProvider
from components.ens_listener import EnsListenerProvider
from components.wire import fully_known, is_known
from tests.dynhost import UNKNOWN, DynamicHost, public

LB = "lb-5snthcyu1x10g7tywj7iu0001"
TCP = {"Scheduler": "rr", "EstablishedTimeout": 500, "HealthCheckType": "tcp", "HealthCheckConnectPort": 32100}


@pytest.fixture(scope="module")
def host():
    with DynamicHost() as running:
        running.configure({})
        yield running


def listener(**changes):
    props = {"loadBalancerId": LB, "protocol": "tcp", "listenerPort": 80, "backendServerPort": 30080,
             "attributes": dict(TCP)}
    props.update(changes)
    return props


def outputs(**changes):
    """What create stored for `listener()`: the inputs and the listener's status."""
    return {**listener(**changes), "status": "Running"}


def test_is_known_sees_unknown_objects_and_the_wire_sentinel():
    assert not is_known(Unknown()) and not is_known(UNKNOWN)
    assert all(is_known(value) for value in (None, 0, "", "lb-1", {}, [], {"a": 1}))
    assert fully_known({"a": [1, {"b": "x"}]}) and fully_known(None)
    assert not fully_known({"a": [1, {"b": Unknown()}]}) and not fully_known([UNKNOWN])


def test_check_passes_unknown_ids_ports_and_attributes_through_unchanged(host):
    news = listener(loadBalancerId=UNKNOWN, backendServerPort=UNKNOWN,
                    attributes={**TCP, "HealthCheckConnectPort": UNKNOWN})
    checked, failures = host.check(EnsListenerProvider(), {}, news)
    assert failures == []
    assert isinstance(checked["loadBalancerId"], Unknown) and isinstance(checked["backendServerPort"], Unknown)
    attributes = checked["attributes"]
    assert isinstance(attributes["HealthCheckConnectPort"], Unknown)
    assert {k: v for k, v in attributes.items() if k != "HealthCheckConnectPort"} == {
        k: v for k, v in TCP.items() if k != "HealthCheckConnectPort"}
    assert (checked["protocol"], checked["listenerPort"]) == ("tcp", 80)


def test_check_passes_wholly_unknown_attributes_and_ports(host):
    checked, failures = host.check(EnsListenerProvider(), {}, listener(attributes=UNKNOWN, listenerPort=UNKNOWN))
    assert failures == []
    assert isinstance(checked["attributes"], Unknown) and isinstance(checked["listenerPort"], Unknown)


@pytest.mark.parametrize("changes, prop, says", [
    ({"loadBalancerId": "elb-1"}, "loadBalancerId", "is not an ELB id"),
    ({"loadBalancerId": 7}, "loadBalancerId", "is not an ELB id"),
    ({"backendServerPort": 0}, "backendServerPort", "is not a port number"),
    ({"listenerPort": 65536}, "listenerPort", "is not a port number"),
    ({"protocol": "quic"}, "protocol", "is not one of tcp, https"),
    ({"attributes": {**TCP, "HealthCheckConnectPort": 0}}, "attributes.HealthCheckConnectPort",
     "is not a port number"),
    ({"attributes": {**TCP, "Colour": "blue"}}, "attributes", "not TCP listener attributes"),
    ({"attributes": ["Scheduler"]}, "attributes", "is not a map"),
])
def test_check_still_rejects_known_bad_values_beside_unknowns(host, changes, prop, says):
    # Another input being unknown does not hide a known mistake.
    news = listener(**{"backendServerPort": UNKNOWN, **changes})
    _, failures = host.check(EnsListenerProvider(), {}, news)
    assert [p for p, _ in failures] == [prop]
    assert says in failures[0][1]


def test_check_with_an_unknown_protocol_skips_the_protocol_rules(host):
    _, failures = host.check(EnsListenerProvider(), {}, listener(protocol=UNKNOWN, attributes={"Colour": "blue"}))
    assert failures == []


@pytest.mark.parametrize("key", ["loadBalancerId", "listenerPort", "backendServerPort"])
def test_diff_an_unknown_replace_on_input_is_a_replacement(host, key):
    diff = host.diff(EnsListenerProvider(), f"{LB}/tcp/80", outputs(), listener(**{key: UNKNOWN}))
    assert diff.changes is True and diff.replaces == [key] and diff.delete_before_replace is True


@pytest.mark.parametrize("attributes", [UNKNOWN, {**TCP, "HealthCheckConnectPort": UNKNOWN}])
def test_diff_an_unknown_attribute_is_an_in_place_change(host, attributes):
    diff = host.diff(EnsListenerProvider(), f"{LB}/tcp/80", outputs(), listener(attributes=attributes))
    assert diff.changes is True and diff.replaces == []


def test_diff_without_unknowns_is_unchanged(host):
    assert host.diff(EnsListenerProvider(), f"{LB}/tcp/80", outputs(), listener()).changes is False


def test_eip_address_check_passes_an_unknown_allocation_id(host):
    checked, failures = host.check(EipAddressProvider(), {}, {"allocationId": UNKNOWN})
    assert failures == [] and isinstance(checked["allocationId"], Unknown)
    _, failures = host.check(EipAddressProvider(), {}, {"allocationId": "lb-1"})
    assert [p for p, _ in failures] == ["allocationId"] and "is not an EIP id" in failures[0][1]
    checked, failures = host.check(EipAddressProvider(), {}, {"allocationId": "eip-1"})
    assert failures == [] and public(checked) == {"allocationId": "eip-1"}


def test_eip_address_diff_with_an_unknown_allocation_id_replaces(host):
    olds = {"allocationId": "eip-1", "ipAddress": "47.100.0.1", "status": "InUse", "instanceId": LB}
    diff = host.diff(EipAddressProvider(), "eip-1", olds, {"allocationId": UNKNOWN})
    assert diff.changes is True and diff.replaces == ["allocationId"]
    assert host.diff(EipAddressProvider(), "eip-1", olds, {"allocationId": "eip-1"}).changes is False
