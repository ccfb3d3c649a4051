"""The policy pack against resources recorded from the program under mocks.

Clean recorded stacks pass; each violation is made by the program itself (a stack variant) where its
own rules allow it, otherwise by mutating a recorded resource, and the pack must catch it: through the
pure rules, through the policies' validate callbacks with pulumi-policy's argument objects, and
end to end through the pack served over the Analyzer gRPC protocol.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import rules
from pulumi.runtime.proto import analyzer_pb2
from pulumi_policy import EnforcementLevel, PolicyResource

from tests.recorded import POLICY_DIR, RECORDED_UNKNOWN, Recorded

CLEAN = ["dev", "edge", "hybrid", "prod-edge", "prod-hybrid", "shared"]
ALL_POLICIES = {"elb-eip-name-format", "elb-eip-name-unique", "eip-bandwidth", "prod-load-balancers-protected",
                "shared-elb-cluster-traffic-policy", "nlb-ip-sync-server-group-type"}

CUBE_SVC_HEFEI = "default/cube-svc/elb/np-hefei"
CUBE_SVC_CHENGDU = "default/cube-svc/elb/np-chengdu"
CUBE_API_CHENGDU = "default/cube-api/elb/np-chengdu"
SHOP_WEB = "shop/shop-web/nlb"


def policies_of(findings) -> list[str]:
    return sorted(f.policy for f in findings)


# --- the recorded stacks -------------------------------------------------------------------------


def test_the_recorded_stacks_hold_what_the_policies_check(plans: dict[str, Recorded]) -> None:
    """Guards against passing vacuously: each policy has something to look at in the clean stacks."""
    edge, hybrid, prod = plans["edge"], plans["hybrid"], plans["prod-edge"]
    assert len(edge.of_type(rules.ELB)) == 3 and len(edge.of_type(rules.EIP)) == 3
    assert {r["inputs"]["bandwidth"] for r in edge.of_type(rules.EIP)} == {10, 20}
    assert all(r["options"].get("protect") for r in prod.of_type(rules.ELB) + prod.of_type(rules.EIP))
    assert not any(r["options"].get("protect") for r in edge.of_type(rules.ELB))
    prod_hybrid = plans["prod-hybrid"]
    assert [r["options"].get("protect") for r in prod_hybrid.of_type(rules.NLB) + prod_hybrid.of_type(rules.CLB)] \
        == [True, True, True]
    syncs = [r for r in hybrid.of_type(rules.BACKEND_SYNC) if r["inputs"].get("mode") == "ip"]
    assert [s["name"] for s in syncs] == [f"{SHOP_WEB}/backends/tcp-443"]
    assert syncs[0]["inputs"]["groupId"] == RECORDED_UNKNOWN  # unknown in preview: the policy must not read it
    shared = plans["shared"].of_type(rules.SERVICE)
    assert len(shared) == 2
    assert all(s["inputs"]["metadata"]["annotations"][rules.SHARED_ELB_ANNOTATION] == "true" for s in shared)


@pytest.mark.parametrize("key", CLEAN)
def test_clean_stacks_pass_every_policy(plans: dict[str, Recorded], run_pack, key: str) -> None:
    assert run_pack(plans[key]) == []


@pytest.mark.parametrize("key", CLEAN)
def test_clean_stacks_pass_every_cloud_name(plans: dict[str, Recorded], key: str) -> None:
    names = [r["inputs"][rules.CLOUD_NAME_PROPS[r["type"]]] for r in plans[key].resources
             if r["type"] in rules.CLOUD_NAME_PROPS]
    assert all(rules.cloud_name_problems(name) == [] for name in names)


# --- 1. ELB and EIP names ------------------------------------------------------------------------


@pytest.mark.parametrize("name, problem", [
    ("k8s/cube-svc/default/np-hefei", "4 '/'-separated parts instead of 5"),
    ("k8s/cube-svc/default/np-hefei/c5f7/extra", "6 '/'-separated parts"),
    ("elb/cube-svc/default/np-hefei/c5f7a1b2", 'the first part is "elb"'),
    ("k8s/Cube_Svc/default/np-hefei/c5f7a1b2", '<svc> "Cube_Svc" is not a DNS label'),
    ("k8s/cube-svc//np-hefei/c5f7a1b2", '<ns> "" is not a DNS label'),
    ("k8s/cube-svc/default/-np-hefei/c5f7a1b2", '<pool> "-np-hefei"'),
    (f"k8s/cube-svc/default/np-hefei/{'c' * 64}", "<cluster>"),
])
def test_malformed_elb_name_is_caught(plans: dict[str, Recorded], run_pack, name: str, problem: str) -> None:
    recorded = plans["edge"].copy()
    recorded.by_name(f"{CUBE_SVC_HEFEI}/loadbalancer")["inputs"]["loadBalancerName"] = name
    [finding] = run_pack(recorded)
    assert finding.policy == "elb-eip-name-format"
    assert f'ELB "{CUBE_SVC_HEFEI}/loadbalancer"' in finding.message and problem in finding.message
    assert finding.urn == recorded.urn(f"{CUBE_SVC_HEFEI}/loadbalancer")


def test_eip_without_a_name_is_caught(plans: dict[str, Recorded], run_pack) -> None:
    recorded = plans["edge"].copy()
    del recorded.by_name(f"{CUBE_API_CHENGDU}/eip")["inputs"]["eipName"]
    [finding] = run_pack(recorded)
    assert finding.policy == "elb-eip-name-format" and f'EIP "{CUBE_API_CHENGDU}/eip" has no eipName' in finding.message


def test_duplicate_elb_name_is_caught_on_both(plans: dict[str, Recorded], run_pack) -> None:
    recorded = plans["edge"].copy()
    taken = recorded.by_name(f"{CUBE_SVC_CHENGDU}/loadbalancer")["inputs"]["loadBalancerName"]
    recorded.by_name(f"{CUBE_API_CHENGDU}/loadbalancer")["inputs"]["loadBalancerName"] = taken
    findings = run_pack(recorded)
    assert policies_of(findings) == ["elb-eip-name-unique"] * 2
    assert {f.urn for f in findings} == {recorded.urn(f"{CUBE_SVC_CHENGDU}/loadbalancer"),
                                         recorded.urn(f"{CUBE_API_CHENGDU}/loadbalancer")}
    assert all(taken in f.message and "unique in the stack" in f.message for f in findings)
    by_urn = {f.urn: f.message for f in findings}
    assert f'"{CUBE_API_CHENGDU}/loadbalancer"' in by_urn[recorded.urn(f"{CUBE_SVC_CHENGDU}/loadbalancer")]


def test_duplicate_eip_name_is_caught(plans: dict[str, Recorded], run_pack) -> None:
    recorded = plans["prod-edge"].copy()
    taken = recorded.by_name(f"{CUBE_SVC_HEFEI}/eip")["inputs"]["eipName"]
    recorded.by_name(f"{CUBE_SVC_CHENGDU}/eip")["inputs"]["eipName"] = taken
    assert policies_of(run_pack(recorded)) == ["elb-eip-name-unique"] * 2


def test_an_elb_and_its_eip_may_share_a_name(plans: dict[str, Recorded]) -> None:
    stack = plans["edge"].stack_args()
    elb = next(r for r in stack.resources if r.name == f"{CUBE_SVC_HEFEI}/loadbalancer")
    eip = next(r for r in stack.resources if r.name == f"{CUBE_SVC_HEFEI}/eip")
    assert elb.props["loadBalancerName"] == eip.props["eipName"]
    assert rules.duplicate_cloud_names(stack.resources) == []


# --- 2. EIP bandwidth ----------------------------------------------------------------------------


@pytest.mark.parametrize("bandwidth, expected", [
    (20000, "bandwidth 20000 Mbit/s is outside 5-10000 Mbit/s"),
    (4, "bandwidth 4 Mbit/s is outside 5-10000 Mbit/s"),
    (201, "bandwidth 201 Mbit/s is above the ceiling of 200 Mbit/s for stack \"edge\""),
    ("20", "bandwidth '20' is not a number"),
])
def test_eip_bandwidth_out_of_bounds_is_caught(plans: dict[str, Recorded], run_pack, bandwidth: Any,
                                               expected: str) -> None:
    recorded = plans["edge"].copy()
    recorded.by_name(f"{CUBE_SVC_HEFEI}/eip")["inputs"]["bandwidth"] = bandwidth
    [finding] = run_pack(recorded)
    assert finding.policy == "eip-bandwidth"
    assert f'EIP "{CUBE_SVC_HEFEI}/eip"' in finding.message and expected in finding.message


def test_the_program_accepts_what_the_ceiling_refuses(plans: dict[str, Recorded], run_pack) -> None:
    """500 Mbit/s is valid for the program (5-10000) but above the default ceiling of 200."""
    findings = run_pack(plans["wide-eip"])
    assert policies_of(findings) == ["eip-bandwidth"] * 3
    assert all("500 Mbit/s is above the ceiling of 200 Mbit/s" in f.message for f in findings)


@pytest.mark.parametrize("config, caught", [
    ({"maxEipBandwidth": 1000}, False),
    ({"maxEipBandwidth": 400}, True),
    ({"maxEipBandwidth": 100, "maxEipBandwidthByStack": {"ci": 500}}, False),
    ({"maxEipBandwidth": 1000, "maxEipBandwidthByStack": {"c*": 300}}, True),
    ({"maxEipBandwidthByStack": {"prod*": 1000}}, True),  # not this stack: the default 200
    ({"maxEipBandwidth": 500.0}, False),  # numbers arrive from the CLI as floats
])
def test_the_ceiling_is_policy_config(plans: dict[str, Recorded], run_pack, config: dict, caught: bool) -> None:
    findings = run_pack(plans["wide-eip"], {"eip-bandwidth": config})
    assert policies_of(findings) == (["eip-bandwidth"] * 3 if caught else [])


def test_ceiling_precedence() -> None:
    config = {"maxEipBandwidth": 300, "maxEipBandwidthByStack": {"prod": 50, "prod*": 1000, "p*": 700}}
    assert rules.eip_bandwidth_ceiling("prod", config) == 50
    assert rules.eip_bandwidth_ceiling("prod-eu", config) == 1000  # the longest matching pattern
    assert rules.eip_bandwidth_ceiling("preview", config) == 700
    assert rules.eip_bandwidth_ceiling("dev", config) == 300
    assert rules.eip_bandwidth_ceiling("dev", {}) == rules.DEFAULT_MAX_EIP_BANDWIDTH == 200
    assert rules.eip_bandwidth_ceiling(None, config) == 300


def test_unknown_bandwidth_waits_for_up(plans: dict[str, Recorded], run_pack) -> None:
    recorded = plans["edge"].copy()
    recorded.by_name(f"{CUBE_SVC_HEFEI}/eip")["inputs"]["bandwidth"] = RECORDED_UNKNOWN
    assert run_pack(recorded) == []


# --- 3. protection in prod* stacks ---------------------------------------------------------------


def test_the_program_unprotected_in_prod_is_caught(plans: dict[str, Recorded], run_pack) -> None:
    """`ack-edge-lb:protect: false` in a prod stack: every ELB and EIP is reported."""
    recorded = plans["prod-unprotected"]
    findings = run_pack(recorded)
    assert policies_of(findings) == ["prod-load-balancers-protected"] * 6
    expected = {recorded.urn(r["name"]) for r in recorded.of_type(rules.ELB) + recorded.of_type(rules.EIP)}
    assert {f.urn for f in findings} == expected
    assert all('in stack "prod" is not protected' in f.message for f in findings)


def test_one_unprotected_elb_in_prod_is_caught(plans: dict[str, Recorded], run_pack) -> None:
    recorded = plans["prod-edge"].copy()
    recorded.by_name(f"{CUBE_SVC_HEFEI}/loadbalancer")["options"]["protect"] = False
    [finding] = run_pack(recorded)
    assert finding.policy == "prod-load-balancers-protected"
    assert finding.message.startswith(f'ELB "{CUBE_SVC_HEFEI}/loadbalancer" in stack "prod" is not protected')


@pytest.mark.parametrize("name, kind", [(f"{SHOP_WEB}/loadbalancer", "NLB"),
                                        ("shop/edge-cache/clb/loadbalancer", "CLB")])
def test_unprotected_nlb_and_clb_in_prod_are_caught(plans: dict[str, Recorded], run_pack, name: str,
                                                    kind: str) -> None:
    recorded = plans["prod-hybrid"].copy()
    del recorded.by_name(name)["options"]["protect"]
    [finding] = run_pack(recorded)
    assert finding.policy == "prod-load-balancers-protected" and finding.message.startswith(f'{kind} "{name}"')


def test_only_prod_stacks_need_protection(plans: dict[str, Recorded], run_pack) -> None:
    assert run_pack(plans["edge"]) == []
    assert policies_of(run_pack(plans["edge"].copy(stack="prod-eu"))) == ["prod-load-balancers-protected"] * 6
    assert run_pack(plans["edge"].copy(stack="preprod")) == []


def test_protected_stacks_are_policy_config(plans: dict[str, Recorded], run_pack) -> None:
    config = {"prod-load-balancers-protected": {"protectedStacks": ["staging", "prod*"]}}
    assert policies_of(run_pack(plans["edge"].copy(stack="staging"), config)) == ["prod-load-balancers-protected"] * 6
    assert run_pack(plans["edge"].copy(stack="dev"), config) == []


def test_stack_of_urn() -> None:
    assert rules.stack_of_urn("urn:pulumi:prod::ack-edge-lb::alicloud:ens/eip:Eip::x") == "prod"
    assert rules.stack_of_urn("urn:pulumi:prod-eu::p::a$b::c/d") == "prod-eu"
    assert rules.stack_of_urn("") is None and rules.stack_of_urn("not-a-urn") is None


# --- 4. a shared ELB needs Cluster ---------------------------------------------------------------


def test_shared_elb_with_local_is_caught(plans: dict[str, Recorded], run_pack) -> None:
    recorded = plans["shared"].copy()
    recorded.by_name("default/cube-api/service")["inputs"]["spec"]["externalTrafficPolicy"] = "Local"
    [finding] = run_pack(recorded)
    assert finding.policy == "shared-elb-cluster-traffic-policy"
    assert finding.message.startswith('Service "default/cube-api/service" (default/cube-api) shares an ELB')
    assert 'externalTrafficPolicy "Local"' in finding.message
    assert finding.urn == recorded.urn("default/cube-api/service")


def test_local_without_a_shared_elb_is_fine(plans: dict[str, Recorded], run_pack) -> None:
    recorded = plans["shared"].copy()
    service = recorded.by_name("default/cube-api/service")["inputs"]
    service["spec"]["externalTrafficPolicy"] = "Local"
    service["metadata"]["annotations"][rules.SHARED_ELB_ANNOTATION] = "false"
    assert run_pack(recorded) == []


def test_shared_elb_without_a_policy_defaults_to_cluster(plans: dict[str, Recorded], run_pack) -> None:
    recorded = plans["shared"].copy()
    del recorded.by_name("default/cube-web/service")["inputs"]["spec"]["externalTrafficPolicy"]
    assert run_pack(recorded) == []


# --- 5. NLB IP-mode BackendSync targets an Ip server group ---------------------------------------


@pytest.mark.parametrize("group_type, shown", [("Instance", '"Instance"'), (None, "unset (Instance)")])
def test_ip_sync_into_an_instance_group_is_caught(plans: dict[str, Recorded], run_pack, group_type, shown) -> None:
    recorded = plans["hybrid"].copy()
    group = recorded.by_name(f"{SHOP_WEB}/server-group/tcp-443")["inputs"]
    if group_type is None:
        del group["serverGroupType"]
    else:
        group["serverGroupType"] = group_type
    [finding] = run_pack(recorded)
    assert finding.policy == "nlb-ip-sync-server-group-type"
    assert finding.urn == recorded.urn(f"{SHOP_WEB}/server-group/tcp-443")
    assert f'NLB server group "{SHOP_WEB}/server-group/tcp-443" has serverGroupType {shown}' in finding.message
    assert f'BackendSync "{SHOP_WEB}/backends/tcp-443"' in finding.message


def test_a_node_mode_sync_may_fill_an_instance_group(plans: dict[str, Recorded], run_pack) -> None:
    recorded = plans["hybrid"].copy()
    recorded.by_name(f"{SHOP_WEB}/server-group/tcp-443")["inputs"]["serverGroupType"] = "Instance"
    recorded.by_name(f"{SHOP_WEB}/backends/tcp-443")["inputs"]["mode"] = "local"
    assert run_pack(recorded) == []


def test_the_group_is_matched_under_the_same_parent(plans: dict[str, Recorded]) -> None:
    """A same-named group under another parent is not the sync's group."""
    recorded = plans["hybrid"].copy()
    recorded.by_name(f"{SHOP_WEB}/server-group/tcp-443")["inputs"]["serverGroupType"] = "Instance"
    stack = recorded.stack_args()
    group = next(r for r in stack.resources if r.name == f"{SHOP_WEB}/server-group/tcp-443")
    group.parent = next(r for r in stack.resources if r.name == "shop/shop-api/clb")
    assert rules.ip_sync_server_group_types(stack.resources) == []


def test_the_group_id_dependency_links_sync_and_group(plans: dict[str, Recorded]) -> None:
    """Where the engine reports property dependencies, `groupId`'s dependency is the group, whatever its name."""
    recorded = plans["hybrid"].copy()
    recorded.by_name(f"{SHOP_WEB}/server-group/tcp-443")["inputs"]["serverGroupType"] = "Instance"
    stack = recorded.stack_args()
    group = next(r for r in stack.resources if r.name == f"{SHOP_WEB}/server-group/tcp-443")
    sync = next(r for r in stack.resources if r.name == f"{SHOP_WEB}/backends/tcp-443")
    renamed = PolicyResource(group.resource_type, group.props, group.urn + "-renamed", "elsewhere/group",
                             group.opts, None, None, [], {})
    stack.resources.remove(group)
    stack.resources.append(renamed)
    assert rules.ip_sync_server_group_types(stack.resources) == []  # no sibling by name
    sync.property_dependencies["groupId"] = [renamed]
    [violation] = rules.ip_sync_server_group_types(stack.resources)
    assert violation.urn == renamed.urn and '"elsewhere/group"' in violation.message


def test_unknown_group_type_waits_for_up(plans: dict[str, Recorded], run_pack) -> None:
    recorded = plans["hybrid"].copy()
    recorded.by_name(f"{SHOP_WEB}/server-group/tcp-443")["inputs"]["serverGroupType"] = RECORDED_UNKNOWN
    assert run_pack(recorded) == []


# --- the pack as the Pulumi CLI runs it ----------------------------------------------------------


def _every_violation(plans: dict[str, Recorded]) -> Recorded:
    """One prod stack with one violation of each policy (edge's ELBs + hybrid's NLB)."""
    edge, hybrid = plans["prod-edge"].copy(), plans["prod-hybrid"].copy()
    recorded = Recorded({"stack": "prod", "resources": edge.resources + hybrid.resources})
    elb = recorded.by_name(f"{CUBE_API_CHENGDU}/loadbalancer")
    elb["inputs"]["loadBalancerName"] = recorded.by_name(f"{CUBE_SVC_CHENGDU}/loadbalancer")["inputs"][
        "loadBalancerName"]
    recorded.by_name(f"{CUBE_SVC_HEFEI}/eip")["inputs"]["bandwidth"] = 20000
    recorded.by_name(f"{CUBE_SVC_HEFEI}/loadbalancer")["inputs"]["loadBalancerName"] = "k8s/cube-svc/default"
    recorded.by_name(f"{CUBE_SVC_HEFEI}/loadbalancer")["options"]["protect"] = False
    service = recorded.by_name("default/cube-svc/service")["inputs"]
    service["metadata"]["annotations"][rules.SHARED_ELB_ANNOTATION] = "true"
    recorded.by_name(f"{SHOP_WEB}/server-group/tcp-443")["inputs"]["serverGroupType"] = "Instance"
    return recorded


EXPECTED_EVERY_VIOLATION = sorted([
    "elb-eip-name-format", "elb-eip-name-unique", "elb-eip-name-unique", "eip-bandwidth",
    "prod-load-balancers-protected", "shared-elb-cluster-traffic-policy", "nlb-ip-sync-server-group-type"])


def test_every_policy_catches_its_violation_in_one_stack(plans: dict[str, Recorded], run_pack) -> None:
    assert policies_of(run_pack(_every_violation(plans))) == EXPECTED_EVERY_VIOLATION


def test_served_pack_describes_mandatory_policies_with_config(pack_server) -> None:
    info = pack_server.info()
    assert info.name == "ack-edge-lb-guardrails" and info.supportsConfig
    assert {p.name for p in info.policies} == ALL_POLICIES
    assert {p.enforcementLevel for p in info.policies} == {analyzer_pb2.MANDATORY}
    schema = {p.name: p.configSchema for p in info.policies}
    assert schema["eip-bandwidth"].properties["maxEipBandwidth"]["default"] == 200
    assert list(schema["prod-load-balancers-protected"].properties["protectedStacks"]["default"]) == ["prod*"]


@pytest.mark.parametrize("key", CLEAN)
def test_served_pack_passes_clean_stacks(plans: dict[str, Recorded], pack_server, key: str) -> None:
    """No violation, and no "can't run policy during preview" either: unknowns are never read."""
    assert [d.message for d in pack_server.analyze(plans[key])] == []


def test_served_pack_catches_every_violation(plans: dict[str, Recorded], pack_server) -> None:
    recorded = _every_violation(plans)
    diagnostics = pack_server.analyze(recorded)
    assert sorted(d.policyName for d in diagnostics) == EXPECTED_EVERY_VIOLATION
    assert {d.enforcementLevel for d in diagnostics} == {analyzer_pb2.MANDATORY}
    assert {d.policyPackName for d in diagnostics} == {"ack-edge-lb-guardrails"}
    by_policy = {d.policyName: d for d in diagnostics}
    # The stack is "prod" by the URNs although the pack's PULUMI_STACK says "dev".
    protected = by_policy["prod-load-balancers-protected"]
    assert f'ELB "{CUBE_SVC_HEFEI}/loadbalancer" in stack "prod"' in protected.message
    assert by_policy["nlb-ip-sync-server-group-type"].urn == recorded.urn(f"{SHOP_WEB}/server-group/tcp-443")


def test_served_pack_reads_the_ceiling_from_config(plans: dict[str, Recorded], pack_server) -> None:
    assert sorted(d.policyName for d in pack_server.analyze(plans["wide-eip"])) == ["eip-bandwidth"] * 3
    assert pack_server.analyze(plans["wide-eip"], {"eip-bandwidth": {"maxEipBandwidth": 1000}}) == []
    ci = {"eip-bandwidth": {"maxEipBandwidthByStack": {"ci": 600}}}
    assert pack_server.analyze(plans["wide-eip"], ci) == []


def test_pack_enforcement_is_mandatory_by_default(policies: dict[str, Any]) -> None:
    # No policy overrides the pack's level, so PolicyPack(enforcement_level=MANDATORY) applies to all.
    assert set(policies) == ALL_POLICIES
    assert all(p.enforcement_level in (None, EnforcementLevel.MANDATORY) for p in policies.values())


def test_the_example_config_fits_the_schemas(plans: dict[str, Recorded], policies: dict[str, Any], run_pack,
                                             pack_server) -> None:
    config = json.loads((POLICY_DIR / "policy-config.example.json").read_text(encoding="utf-8"))
    for policy, properties in config.items():
        assert set(properties) <= set(policies[policy].config_schema.properties)
    assert rules.eip_bandwidth_ceiling("prod-eu", config["eip-bandwidth"]) == 1000
    assert rules.eip_bandwidth_ceiling("ci", config["eip-bandwidth"]) == 200
    assert policies_of(run_pack(plans["wide-eip"], config)) == ["eip-bandwidth"] * 3
    assert sorted(d.policyName for d in pack_server.analyze(plans["wide-eip"], config)) == ["eip-bandwidth"] * 3
    assert run_pack(plans["prod-edge"], config) == []
