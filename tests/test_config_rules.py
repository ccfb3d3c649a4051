"""The stack configuration's rules: every field range/format of `stacks.model` that matters and every
cross-field rule of `stacks.rules`, each from the valid `config` fixture with one change.

Each case asserts the whole contract of a problem: `ConfigError` is raised, the problem sits at the exact
config path, reports the offending value, and its fix says something useful.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest

from stacks import rules
from stacks.load import Loaded
from stacks.model import StackConfig
from stacks.naming import elb_name
from stacks.problems import ConfigError, Problem
from tests.conftest import cloud_pool, elb_service, ens_pool

CLUSTER_ID = "c0123456789abcdef"
RULE_BY_NAME = {fn.__name__: fn for fn in rules.RULES + rules.WARNINGS}

# --- helpers -------------------------------------------------------------------------------------

_PART = re.compile(r"\[(\d+)\]|([^.\[\]]+)")


def _parts(path: str) -> list[Any]:
    return [int(index) if index else key for index, key in _PART.findall(path)]


def set_path(raw: dict[str, Any], path: str, value: Any) -> None:
    """Set `services[0].loadBalancer.eip.bandwidth`-style paths, creating missing mappings on the way."""
    *head, last = _parts(path)
    node: Any = raw
    for part in head:
        if isinstance(part, str) and part not in node:
            node[part] = {}
        node = node[part]
    node[last] = value


def del_path(raw: dict[str, Any], path: str) -> None:
    *head, last = _parts(path)
    node: Any = raw
    for part in head:
        node = node[part]
    del node[last]


def svc(raw: dict[str, Any], i: int = 0) -> dict[str, Any]:
    return raw["services"][i]


def lb(raw: dict[str, Any], i: int = 0) -> dict[str, Any]:
    return raw["services"][i]["loadBalancer"]


def errors_of(load: Callable[[dict[str, Any]], Loaded], raw: dict[str, Any]) -> list[Problem]:
    with pytest.raises(ConfigError) as info:
        load(raw)
    problems = info.value.problems
    assert problems, "a ConfigError must list at least one problem"
    assert all(p.severity == "error" for p in problems)
    return problems


def problem_at(problems: list[Problem], path: str, message_word: str | None = None) -> Problem:
    """The one problem at `path` (whose message contains `message_word`, if given)."""
    found = [p for p in problems if p.path == path and (message_word is None or message_word in p.message)]
    assert len(found) == 1, f"expected one problem at {path!r} ({message_word!r}), got:\n" + \
        "\n".join(map(str, problems))
    return found[0]


def assert_problem(problem: Problem, value: Any, fix_word: str) -> None:
    assert problem.value == value, f"{problem.path}: reported value {problem.value!r}, expected {value!r}"
    assert type(problem.value) is type(value), problem
    assert problem.message.strip(), problem
    assert problem.fix.strip(), problem
    assert fix_word.lower() in problem.fix.lower(), f"fix {problem.fix!r} does not mention {fix_word!r}"


# --- the valid fixture -----------------------------------------------------------------------------


def test_valid_fixture_passes(config, load):
    loaded = load(config)
    assert isinstance(loaded.config, StackConfig)
    assert [s.name for s in loaded.config.services] == ["cube-svc"]
    assert all(w.severity == "warning" for w in loaded.warnings)


def test_valid_fixture_meets_every_rule(config):
    cfg = StackConfig.model_validate(config)
    for fn in rules.RULES:
        assert list(fn(cfg)) == [], fn.__name__


# --- field ranges ----------------------------------------------------------------------------------

# (path, bad value, a word the fix must contain)
RANGES = [
    ("services[0].ports[0].port", 0, "65535"),
    ("services[0].ports[0].port", 65536, "65535"),
    ("services[0].ports[0].port", -80, "1"),
    ("services[0].ports[0].nodePort", 29999, "30000"),
    ("services[0].ports[0].nodePort", 32768, "32767"),
    ("services[0].loadBalancer.eip.bandwidth", 4, "5"),
    ("services[0].loadBalancer.eip.bandwidth", 0, "5"),
    ("services[0].loadBalancer.eip.bandwidth", 10001, "10000"),
    ("services[0].loadBalancer.persistenceTimeout", -1, "0"),
    ("services[0].loadBalancer.persistenceTimeout", 3601, "3600"),
    ("services[0].loadBalancer.establishedTimeout", 9, "10"),
    ("services[0].loadBalancer.establishedTimeout", 901, "900"),
    ("services[0].loadBalancer.healthCheck.healthyThreshold", 1, "2"),
    ("services[0].loadBalancer.healthCheck.healthyThreshold", 11, "10"),
    ("services[0].loadBalancer.healthCheck.unhealthyThreshold", 1, "2"),
    ("services[0].loadBalancer.healthCheck.unhealthyThreshold", 11, "10"),
    ("services[0].loadBalancer.healthCheck.interval", 0, "1"),
    ("services[0].loadBalancer.healthCheck.interval", 51, "50"),
    ("services[0].loadBalancer.healthCheck.connectTimeout", 0, "1"),
    ("services[0].loadBalancer.healthCheck.connectTimeout", 301, "300"),
    ("nodePools[0].nodeCount", -1, "0"),
]


@pytest.mark.parametrize("path, value, fix_word", RANGES, ids=[f"{p}={v}" for p, v, _ in RANGES])
def test_out_of_range(config, load, path, value, fix_word):
    set_path(config, path, value)
    problems = errors_of(load, config)
    assert_problem(problem_at(problems, path), value, fix_word)
    assert len(problems) == 1
    assert "than or equal" in problems[0].message


def test_port_range_fix_names_both_bounds(config, load):
    config["services"][0]["ports"][0]["port"] = 70000
    problem = problem_at(errors_of(load, config), "services[0].ports[0].port")
    assert "1" in problem.fix and "65535" in problem.fix


BOUNDS = [
    ("services[0].ports[0].port", 1), ("services[0].ports[0].port", 65535),
    ("services[0].ports[0].nodePort", 30000), ("services[0].ports[0].nodePort", 32767),
    ("services[0].loadBalancer.eip.bandwidth", 5), ("services[0].loadBalancer.eip.bandwidth", 10000),
    ("services[0].loadBalancer.persistenceTimeout", 0), ("services[0].loadBalancer.persistenceTimeout", 3600),
    ("services[0].loadBalancer.establishedTimeout", 10), ("services[0].loadBalancer.establishedTimeout", 900),
    ("services[0].loadBalancer.healthCheck.healthyThreshold", 2),
    ("services[0].loadBalancer.healthCheck.healthyThreshold", 10),
    ("services[0].loadBalancer.healthCheck.unhealthyThreshold", 2),
    ("services[0].loadBalancer.healthCheck.unhealthyThreshold", 10),
    ("services[0].loadBalancer.healthCheck.interval", 1), ("services[0].loadBalancer.healthCheck.interval", 50),
    ("services[0].loadBalancer.healthCheck.connectTimeout", 1),
    ("services[0].loadBalancer.healthCheck.connectTimeout", 300),
    ("nodePools[0].nodeCount", 0),
]


@pytest.mark.parametrize("path, value", BOUNDS, ids=[f"{p}={v}" for p, v in BOUNDS])
def test_range_bounds_are_inclusive(config, load, path, value):
    set_path(config, path, value)
    load(config)


# --- Literal choices -------------------------------------------------------------------------------

LITERALS = [
    ("cluster.network", "calico", "terway-edge"),
    ("nodePools[0].type", "ecs", "ens"),
    ("services[0].ports[0].protocol", "SCTP", "TCP"),
    ("services[0].ports[0].protocol", "tcp", "TCP"),
    ("services[0].externalTrafficPolicy", "local", "Local"),
    ("services[0].loadBalancer.type", "alb", "nlb"),
    ("services[0].loadBalancer.management", "ECM", "ecm"),
    ("services[0].loadBalancer.management", "manual", "user"),
    ("services[0].loadBalancer.scheduler", "lc", "wrr"),
    ("services[0].loadBalancer.serverGroupType", "IP", "Ip"),
    ("services[0].loadBalancer.healthCheck.type", "udp", "http"),
    ("services[0].loadBalancer.eip.chargeType", "PayByTraffic", "95BandwidthByMonth"),
    ("services[0].loadBalancer.eip.isp", "ctcc", "telecom"),
    ("services[0].loadBalancer.spec", "elb.s9.huge", "elb.s2.small"),  # the specs the ENS API documents
    ("nodePools[0].ens.isp", "bgp", "cmcc"),
]


@pytest.mark.parametrize("path, value, fix_word", LITERALS, ids=[f"{p}={v}" for p, v, _ in LITERALS])
def test_literal_choices(config, load, path, value, fix_word):
    set_path(config, path, value)
    problems = errors_of(load, config)
    problem = problem_at(problems, path)
    assert_problem(problem, value, fix_word)
    assert "one of" in problem.fix
    assert len(problems) == 1


# --- formats ---------------------------------------------------------------------------------------

FORMATS = [
    ("cluster.id", "k8s-prod", "cluster id"),
    ("cluster.vpcId", "vpc_bp1", "vpc-"),
    ("cluster.ecmVersion", "latest", "2.1.0"),
    ("cluster.ecmVersion", "2.1.0.1", "2.1.0"),
    ("nodePools[0].id", "NP_Hefei", "DNS label"),
    ("nodePools[0].ens.regionId", "Hefei", "cn-hefei"),
    ("nodePools[0].ens.networkId", "net-1", "n-"),
    ("nodePools[0].ens.vswitchIds[0]", "vs-1", "vsw-"),
    ("nodePools[2].zones[0].zoneId", "hangzhou", "zone id"),
    ("nodePools[2].zones[0].vswitchId", "vsw_1", "vsw-"),
    ("nodePools[0].labels.k8s-svc", "cube svc", "label value"),
    ("services[0].name", "1cube", "starting with a letter"),
    ("services[0].name", "Cube-Svc", "DNS label"),
    ("services[0].name", "cube.svc", "DNS label"),
    ("services[0].name", "c" * 64, "63"),
    ("services[0].namespace", "Default", "DNS label"),
    ("services[0].ports[0].name", "HTTP", "DNS label"),
    ("services[0].selector.app", "-cube", "label value"),
    ("services[0].loadBalancer.spec", "s2.small", "elb.s2.small"),
    ("services[0].loadBalancer.healthCheck.uri", "healthz", "/healthz"),
    ("services[0].loadBalancer.elbIds.np-hefei", "elb-123", "lb-"),
    ("services[0].workload.name", "Cube", "DNS label"),
]


@pytest.mark.parametrize("path, value, fix_word", FORMATS, ids=[f"{p}={v[:12]}" for p, v, _ in FORMATS])
def test_formats(config, load, path, value, fix_word):
    if path.startswith("services[0].workload"):
        config["services"][0]["workload"] = {"name": "cube", "image": "nginx:1.27"}
    set_path(config, path, value)
    problems = errors_of(load, config)
    assert_problem(problem_at(problems, path), value, fix_word)
    assert len(problems) == 1


def test_bad_label_key_is_reported_under_the_labels(config, load):
    config["nodePools"][0]["labels"] = {"Not A Key!": "cube"}
    problems = errors_of(load, config)
    assert len(problems) == 1
    assert problems[0].path == "nodePools[0].labels"
    assert_problem(problems[0], "Not A Key!", "label key")


def test_label_keys_with_dots_are_quoted_in_the_path(config, load):
    config["nodePools"][0]["labels"] = {"example.com/role": "Not a value!"}
    problem = problem_at(errors_of(load, config), 'nodePools[0].labels["example.com/role"]')
    assert_problem(problem, "Not a value!", "label value")


def test_target_port_is_one_problem_at_its_own_path(config, load):
    config["services"][0]["ports"][0]["targetPort"] = 0
    problems = errors_of(load, config)
    assert [p.path for p in problems] == ["services[0].ports[0].targetPort"]
    assert_problem(problems[0], 0, "container port")


@pytest.mark.parametrize("path, value, fix_words", [
    ("services[0].loadBalancer.eip.bandwidth", 4, "from 5 to 10000"),
    ("services[0].loadBalancer.establishedTimeout", 5, "from 10 to 900"),
    ("services[0].ports[0].nodePort", 80, "from 30000 to 32767"),
    ("nodePools[0].nodeCount", -1, "from 0 to 100000"),
])
def test_optional_ranges_name_both_bounds(config, load, path, value, fix_words):
    set_path(config, path, value)
    assert_problem(problem_at(errors_of(load, config), path), value, fix_words)


def test_unknown_key_inside_an_optional_block_lists_the_known_keys(config, load):
    config["services"][0]["loadBalancer"]["eip"] = {"bandwith": 20}
    problem = problem_at(errors_of(load, config), "services[0].loadBalancer.eip.bandwith")
    assert "keys here: bandwidth, chargeType, isp" in problem.fix


def test_null_block_on_the_wrong_type_is_a_problem_not_a_crash(config, load):
    config["services"][0] |= {"externalTrafficPolicy": "Cluster", "nodePoolSelector": {},
                              "loadBalancer": {"type": "nlb", "management": "ccm", "eip": None}}
    problem = problem_at(errors_of(load, config), "services[0].loadBalancer.eip")
    assert_problem(problem, None, "remove")


def test_huge_numbers_are_reported_not_raised(config, load):
    config["services"][0]["ports"][0]["port"] = 10 ** 5000
    problem = problem_at(errors_of(load, config), "services[0].ports[0].port")
    assert "1 to 65535" in problem.fix
    assert str(ConfigError("test", [problem]))


def test_workload_image_without_spaces(config, load):
    config["services"][0]["workload"] = {"name": "cube", "image": "my image"}
    problem = problem_at(errors_of(load, config), "services[0].workload.image")
    assert_problem(problem, "my image", "without spaces")


# --- types, missing keys, sizes --------------------------------------------------------------------

TYPES = [
    ("services[0].ports[0].port", "eighty", "whole number"),
    ("services[0].ports[0].port", 80.5, "whole number"),
    ("cluster.expressConnect", "maybe", "true or false"),
    ("services[0].topology", [], "true or false"),
    ("services", "cube-svc", "list"),
    ("nodePools[0].labels", ["k8s-svc=cube"], "mapping"),
    ("services[0].loadBalancer", "elb", "mapping"),
    ("cluster.ecmVersion", 2.1, "quote"),
]


@pytest.mark.parametrize("path, value, fix_word", TYPES, ids=[f"{p}={v!r}" for p, v, _ in TYPES])
def test_wrong_types(config, load, path, value, fix_word):
    set_path(config, path, value)
    problems = errors_of(load, config)
    assert_problem(problem_at(problems, path), value, fix_word)


MISSING = ["cluster", "nodePools", "cluster.id", "cluster.vpcId", "nodePools[0].id", "nodePools[0].type",
           "nodePools[0].ens.regionId", "nodePools[2].zones[0].vswitchId", "services[0].name",
           "services[0].selector", "services[0].ports", "services[0].ports[0].port"]


@pytest.mark.parametrize("path", MISSING)
def test_missing_required_key(config, load, path):
    del_path(config, path)
    problem = problem_at(errors_of(load, config), path)
    assert_problem(problem, None, f"add `{_parts(path)[-1]}`")
    assert "required" in problem.message.lower()


SIZES = [
    ("nodePools", [], "at least 1"),
    ("services[0].selector", {}, "at least 1"),
    ("services[0].ports", [], "at least 1"),
    ("nodePools[0].ens.vswitchIds", [], "at least 1"),
]


@pytest.mark.parametrize("path, value, fix_word", SIZES, ids=[p for p, _, _ in SIZES])
def test_empty_collections(config, load, path, value, fix_word):
    set_path(config, path, value)
    assert_problem(problem_at(errors_of(load, config), path), value, fix_word)


def test_at_most_50_ports(config, load):
    ports = [{"name": f"p{n}", "port": 1000 + n} for n in range(51)]
    config["services"][0]["ports"] = ports
    problem = problem_at(errors_of(load, config), "services[0].ports")
    assert problem.value == ports
    assert "50" in problem.fix


# --- extra keys ------------------------------------------------------------------------------------

# (path of the unknown key, a word the fix must contain: the key's correct spelling where it is listed)
EXTRA = [
    ("service", "services"),
    ("cluster.vpcID", "vpcId"),
    ("cluster.ecm_version", "ecmVersion"),
    ("nodePools[0].label", "labels"),
    ("nodePools[0].ens.vswitchId", "vswitchId"),
    ("nodePools[2].zones[0].zone", "zoneId"),
    ("services[0].externalTrafficPolicies", "externalTrafficPolicy"),
    ("services[0].ports[0].targetport", "targetPort"),
    ("services[0].loadBalancer.managment", "management"),
    ("services[0].loadBalancer.eip.bandwith", "bandwith"),
    ("services[0].loadBalancer.healthCheck.timeout", "timeout"),
]


@pytest.mark.parametrize("path, fix_word", EXTRA, ids=[p for p, _ in EXTRA])
def test_unknown_keys(config, load, path, fix_word):
    set_path(config, path, 1)
    problems = errors_of(load, config)
    problem = problem_at(problems, path)
    assert_problem(problem, 1, fix_word)
    assert f"remove `{_parts(path)[-1]}`" in problem.fix
    assert len(problems) == 1


# --- cross-field rules -----------------------------------------------------------------------------

RULE_CASES: list[Any] = []


def case(rule: str, path: str, value: Any, fix_word: str, *, message_word: str | None = None,
         also: tuple[str, ...] = ()):
    """Register a mutation of the valid fixture that `rule` must report at `path` (and at `also` paths)."""
    assert rule in RULE_BY_NAME, rule

    def register(mutate: Callable[[dict[str, Any]], None]) -> Callable[[dict[str, Any]], None]:
        RULE_CASES.append(pytest.param(rule, mutate, path, value, fix_word, message_word, also, id=mutate.__name__))
        return mutate

    return register


# node pools

@case("pool_ids_are_unique", "nodePools[1].id", "np-hefei", "own id", message_word="nodePools[0]")
def duplicate_pool_id(raw):
    raw["nodePools"][1]["id"] = "np-hefei"


@case("pool_placement_fits_type", "nodePools[0].ens", None, "regionId")
def ens_pool_without_placement(raw):
    del raw["nodePools"][0]["ens"]


@case("pool_placement_fits_type", "nodePools[2].ens",
      {"regionId": "cn-hefei-cmcc-2", "networkId": "n-x", "vswitchIds": ["vsw-x"]}, "remove `ens`")
def cloud_pool_with_ens_placement(raw):
    raw["nodePools"][2]["ens"] = {"regionId": "cn-hefei-cmcc-2", "networkId": "n-x", "vswitchIds": ["vsw-x"]}


@case("pool_placement_fits_type", "nodePools[2].zones", [], "zoneId")
def cloud_pool_without_zones(raw):
    raw["nodePools"][2]["zones"] = []


@case("pool_placement_fits_type", "nodePools[0].zones", [{"zoneId": "cn-hefei-a", "vswitchId": "vsw-a"}],
      "remove `zones`")
def ens_pool_with_zones(raw):
    raw["nodePools"][0]["zones"] = [{"zoneId": "cn-hefei-a", "vswitchId": "vsw-a"}]


@case("pool_placement_fits_type", "nodePools[3].ens",
      {"regionId": "cn-wuhan-telecom", "networkId": "n-npedge", "vswitchIds": ["vsw-npedge"]}, "type: ens")
def edge_pool_with_ens_placement(raw):
    pool = ens_pool("np-edge", "cn-wuhan-telecom", role="edge")
    pool["type"] = "edge"
    raw["nodePools"].append(pool)


# management

@case("management_fits_type", "services[0].loadBalancer.management", "ecm", "ccm", message_word="does not exist")
def nlb_with_ecm(raw):
    lb(raw)["type"] = "nlb"


@case("management_fits_type", "services[0].loadBalancer.management", "ecm", "user", message_word="does not exist")
def clb_with_ecm(raw):
    svc(raw)["externalTrafficPolicy"] = "Cluster"
    lb(raw).update(type="clb", management="ecm")


@case("management_fits_type", "services[0].loadBalancer.management", "ccm", "ecm", message_word="does not exist")
def elb_with_ccm(raw):
    lb(raw)["management"] = "ccm"


# NLB and CLB under `management: user`: CCM fills the server groups Pulumi created (stacks/rules/binding.py)

@case("bound_ports_have_their_own_numbers", "services[0].ports[1].port", 80, "own number", message_word="UDP")
def nlb_user_tcp_and_udp_on_one_number(raw):
    raw["cluster"]["ccmVersion"] = "v2.14.0"
    svc(raw)["ports"].append({"name": "quic", "port": 80, "protocol": "UDP"})
    lb(raw).update(type="nlb", management="user")


@case("bound_ports_have_their_own_numbers", "services[0].ports[1].port", 53, "management: pulumi",
      message_word="vgroup-port")
def clb_user_tcp_and_udp_on_one_number(raw):
    svc(raw).update(externalTrafficPolicy="Cluster", ports=[{"name": "dns-tcp", "port": 53},
                                                            {"name": "dns", "port": 53, "protocol": "UDP"}])
    lb(raw).update(type="clb", management="user")


@case("ccm_version_binds_nlb_groups", "cluster.ccmVersion", None, "ccmVersion", message_word="not given")
def nlb_user_without_ccm_version(raw):
    lb(raw).update(type="nlb", management="user")


@case("ccm_version_binds_nlb_groups", "cluster.ccmVersion", "v2.8.0", "upgrade", message_word="v2.9.1")
def nlb_user_with_ccm_before_nlb_binding(raw):
    raw["cluster"]["ccmVersion"] = "v2.8.0"
    lb(raw).update(type="nlb", management="user")


@case("adoption_fits_mode", "services[0].loadBalancer.adopt", ["lb"], "management: user", message_word="imported")
def adopted_nlb_under_ccm(raw):
    lb(raw).update(type="nlb", management="ccm", adopt={"lb": {"loadBalancerId": "nlb-live1"}})


@case("adoption_fits_mode", "services[0].loadBalancer.adopt.np-hefei.eipId", None, "eipId", message_word="address")
def adopted_elb_without_its_eip(raw):
    lb(raw).update(management="pulumi", adopt={"np-hefei": {"loadBalancerId": "lb-live1"}})


@case("clb_needs_cloud_nodes", "services[0].loadBalancer.type", "clb", "cloud", message_word="ECS")
def clb_without_cloud_pools(raw):
    raw["nodePools"] = raw["nodePools"][:2]
    svc(raw)["externalTrafficPolicy"] = "Cluster"
    lb(raw).update(type="clb", management="ccm")


@case("scheduler_fits_type", "services[0].loadBalancer.scheduler", "iqch", "wrr")
def nlb_without_iqch(raw):
    lb(raw).update(type="nlb", management="ccm", scheduler="iqch")


@case("scheduler_fits_type", "services[0].loadBalancer.scheduler", "qch", "tch")
def clb_without_qch(raw):
    svc(raw).update(externalTrafficPolicy="Cluster", nodePoolSelector={})
    raw["nodePools"][2]["labels"] = {}
    lb(raw).update(type="clb", management="ccm", scheduler="qch")


# settings that only one type or mode reads

@case("fields_fit_type", "services[0].loadBalancer.spec", "elb.s2.small", "remove `spec`")
def spec_on_nlb(raw):
    lb(raw).update(type="nlb", management="ccm", spec="elb.s2.small")


@case("fields_fit_type", "services[0].loadBalancer.eip", {"bandwidth": 20, "chargeType": "95BandwidthByMonth",
                                                          "isp": None}, "remove `eip`")
def eip_on_clb(raw):
    svc(raw)["externalTrafficPolicy"] = "Cluster"
    lb(raw).update(type="clb", management="ccm", eip={"bandwidth": 20})


@case("fields_fit_type", "services[0].loadBalancer.shared", True, "remove `shared`",
      also=("services[0].loadBalancer.management",))
def shared_on_nlb(raw):
    svc(raw)["externalTrafficPolicy"] = "Cluster"
    lb(raw).update(type="nlb", management="ccm", shared=True)


@case("fields_fit_type", "services[0].loadBalancer.serverGroupType", "Instance", "remove `serverGroupType`")
def server_group_type_on_elb(raw):
    lb(raw)["serverGroupType"] = "Instance"


@case("fields_fit_type", "services[0].loadBalancer.elbIds", {"np-hefei": "lb-a"}, "remove `elbIds`",
      message_word="applies to elb")
def elb_ids_on_nlb(raw):
    lb(raw).update(type="nlb", management="ccm", elbIds={"np-hefei": "lb-a"})


@case("fields_fit_type", "services[0].loadBalancer.elbIds", {"np-hefei": "lb-a", "np-chengdu": "lb-b"},
      "management: user")
def elb_ids_with_ecm(raw):
    lb(raw)["elbIds"] = {"np-hefei": "lb-a", "np-chengdu": "lb-b"}


@case("fields_fit_type", "services[0].loadBalancer.healthCheck.type", "http", "tcp")
def http_health_check_with_ecm(raw):
    lb(raw)["healthCheck"] = {"type": "http", "uri": "/healthz"}


@case("fields_fit_type", "services[0].loadBalancer.healthCheck.uri", "/healthz", "http")
def uri_on_tcp_health_check(raw):
    lb(raw)["healthCheck"] = {"type": "tcp", "uri": "/healthz"}


# ports

@case("ports_are_consistent", "services[0].ports[1].port", 80, "own port")
def duplicate_listener_port(raw):
    svc(raw)["ports"].append({"name": "http-alt", "port": 80, "targetPort": 8080})


@case("ports_are_consistent", "services[0].ports[1].name", None, "add `name:`", also=("services[0].ports[0].name",))
def unnamed_ports_of_multi_port_service(raw):
    svc(raw)["ports"] = [{"port": 80}, {"port": 443}]


@case("ports_are_consistent", "services[0].ports[1].name", "http", "own name")
def duplicate_port_name(raw):
    svc(raw)["ports"].append({"name": "http", "port": 443})


@case("node_ports_are_unique", "services[1].ports[0].nodePort", 30080, "30000-32767",
      message_word="services[0].ports[0].nodePort")
def node_port_taken_by_another_service(raw):
    svc(raw)["ports"][0]["nodePort"] = 30080
    raw["services"].append(elb_service("other-svc", ports=[{"name": "web", "port": 8080, "nodePort": 30080}]))


# carriers: an edge EIP has one, and an ENS region id names its own (defect: one `isp` for every region)

@case("pool_carrier_fits_region", "nodePools[1].ens.isp", "cmcc", "telecom", message_word="cn-chengdu-telecom-4")
def pool_carrier_not_in_region(raw):
    raw["nodePools"][1]["ens"]["isp"] = "cmcc"


@case("eip_carrier_fits_every_pool", "services[0].loadBalancer.eip.isp", "cmcc", "leave `isp` out",
      message_word="np-chengdu")
def one_carrier_for_two_regions(raw):
    lb(raw)["eip"] = {"bandwidth": 10, "isp": "cmcc"}


@case("eip_carrier_fits_every_pool", "services[0].loadBalancer.eip.isp", "unicom", "leave `isp` out",
      message_word="served by telecom")
def carrier_against_the_pool_setting(raw):
    raw["nodePools"][0]["ens"] = {**raw["nodePools"][0]["ens"], "regionId": "cn-beijing-15", "isp": "telecom"}
    raw["nodePools"][1]["labels"] = {"k8s-svc": "api"}
    lb(raw)["eip"] = {"bandwidth": 10, "isp": "unicom"}


@case("cloud_zones_share_a_region", "nodePools[3].zones[0].zoneId", "cn-shanghai-b", "cn-hangzhou",
      message_word="nodePools[2].zones[0].zoneId")
def cloud_zones_in_two_regions(raw):
    raw["nodePools"].append(cloud_pool("np-sh", zones=("cn-shanghai-b",)))


# cloud names: length and characters as the APIs take them (defect: NLB and CLB names with `/`)

@case("cloud_names_fit", "services[0].name", "a" * 40, "shorten", message_word="np-chengdu")
def elb_name_longer_than_80(raw):
    svc(raw)["name"] = "a" * 40  # 79 characters in np-hefei, 81 in np-chengdu


@case("cloud_names_fit", "services[0].name", "a" * 52, "shorten", message_word="CLB name")
def clb_name_longer_than_80(raw):
    svc(raw)["name"] = "a" * 52
    svc(raw)["externalTrafficPolicy"] = "Cluster"
    svc(raw)["nodePoolSelector"] = {}
    svc(raw)["loadBalancer"] = {"type": "clb", "management": "pulumi"}


# services

DUPLICATE_ELB_NAME = elb_name("cube-svc", "default", "np-chengdu", CLUSTER_ID)


@case("services_are_unique", "services[1].name", "cube-svc", "namespace", message_word=DUPLICATE_ELB_NAME)
def duplicate_elb_service(raw):
    raw["services"].append(elb_service(ports=[{"name": "web", "port": 8080}]))


@case("services_are_unique", "services[1].name", "cube-svc", "rename", message_word="default/cube-svc")
def duplicate_service_elb_and_nlb(raw):
    raw["services"].append(elb_service(ports=[{"name": "web", "port": 8080}], externalTrafficPolicy="Cluster",
                                       loadBalancer={"type": "nlb", "management": "ccm"}))


@case("selector_matches_pools", "services[0].nodePoolSelector", {}, "nodePoolSelector")
def elb_without_selector(raw):
    svc(raw)["nodePoolSelector"] = {}


@case("selector_matches_pools", "services[0].nodePoolSelector", "k8s-svc=nope", "k8s-svc=cube",
      message_word="matches no node pool")
def selector_matching_no_pool(raw):
    svc(raw)["nodePoolSelector"] = {"k8s-svc": "nope"}


@case("selector_matches_pools", "services[0].nodePoolSelector", "k8s-svc=cube", "type: nlb",
      message_word="np-cloud")
def elb_selector_matching_cloud_pool(raw):
    raw["nodePools"][2]["labels"] = {"k8s-svc": "cube"}


@case("ecm_version_supports_elb", "cluster.ecmVersion", None, "ecmVersion")
def ecm_version_missing(raw):
    del raw["cluster"]["ecmVersion"]


@case("ecm_version_supports_elb", "cluster.ecmVersion", "2.0.9", "upgrade", message_word="2.1.0")
def ecm_version_too_old(raw):
    raw["cluster"]["ecmVersion"] = "2.0.9"


@case("ecm_version_supports_elb", "cluster.ecmVersion", "v2.0", "upgrade")
def ecm_version_too_old_with_v(raw):
    raw["cluster"]["ecmVersion"] = "v2.0"


@case("ecm_version_supports_elb", "cluster.ecmVersion", "1.9.9", "upgrade")
def ecm_version_too_old_for_user_management(raw):
    raw["cluster"]["ecmVersion"] = "1.9.9"
    lb(raw).update(management="user", elbIds={"np-hefei": "lb-a", "np-chengdu": "lb-b"})


@case("edge_pods_behind_clb_need_cluster", "services[0].externalTrafficPolicy", "Local", "Cluster",
      message_word="np-chengdu, np-hefei")
def clb_local_with_ens_pods(raw):
    lb(raw).update(type="clb", management="ccm")


@case("edge_pods_behind_clb_need_cluster", "services[0].externalTrafficPolicy", "Local", "Cluster",
      message_word="np-edge")
def clb_local_with_edge_pods(raw):
    raw["nodePools"][2]["labels"] = {"tier": "web"}
    raw["nodePools"].append({"id": "np-edge", "type": "edge", "labels": {"tier": "web"}})
    svc(raw)["nodePoolSelector"] = {"tier": "web"}
    lb(raw).update(type="clb", management="ccm")


@case("nlb_backends_fit_network", "cluster.network", "flannel-vxlan", "terway-edge")
def nlb_ip_backends_without_terway(raw):
    raw["cluster"]["network"] = "flannel-vxlan"
    lb(raw).update(type="nlb", management="ccm")


@case("nlb_backends_fit_network", "cluster.expressConnect", False, "Express Connect")
def nlb_ip_backends_without_express_connect(raw):
    raw["cluster"]["expressConnect"] = False
    lb(raw).update(type="nlb", management="ccm")


@case("nlb_backends_fit_network", "services[0].loadBalancer.serverGroupType", "Instance", "serverGroupType: Ip")
def nlb_instance_backends_with_edge_pods(raw):
    lb(raw).update(type="nlb", management="ccm", serverGroupType="Instance")


@case("nlb_has_zone_mappings", "nodePools", ["cn-hangzhou-k"], "two zones")
def nlb_in_one_zone(raw):
    raw["nodePools"][2] = cloud_pool("np-cloud", zones=("cn-hangzhou-k",))
    lb(raw).update(type="nlb", management="ccm")


@case("nlb_has_zone_mappings", "nodePools", sorted(f"cn-hangzhou-{z}" for z in "abcdefghijk"), "zone")
def nlb_in_eleven_zones(raw):
    raw["nodePools"][2] = cloud_pool("np-cloud", zones=tuple(f"cn-hangzhou-{z}" for z in "abcdefghijk"))
    lb(raw).update(type="nlb", management="ccm")


@case("local_only_features", "services[0].loadBalancer.persistenceTimeout", 300, "Local")
def session_persistence_with_cluster(raw):
    svc(raw)["externalTrafficPolicy"] = "Cluster"
    lb(raw)["persistenceTimeout"] = 300


@case("local_only_features", "services[0].loadBalancer.preserveClientIp", True, "Local")
def preserve_client_ip_with_cluster(raw):
    svc(raw)["externalTrafficPolicy"] = "Cluster"
    lb(raw)["preserveClientIp"] = True


@case("pod_level_balancing_uses_wrr", "services[0].loadBalancer.scheduler", "rr", "wrr")
def pod_level_balancing_with_rr(raw):
    lb(raw).update(podLevelBalancing=True, scheduler="rr")


# self-managed and shared ELBs

@case("user_managed_elbs_are_bound", "services[0].loadBalancer.elbIds.np-cloud", "lb-c", "remove")
def user_management_id_for_unmatched_pool(raw):
    lb(raw).update(management="user", elbIds={"np-hefei": "lb-a", "np-chengdu": "lb-b", "np-cloud": "lb-c"})


@case("user_managed_elbs_are_bound", "services[0].loadBalancer.elbIds.np-nowhere", "lb-x", "pool id")
def user_management_id_for_unknown_pool(raw):
    lb(raw).update(management="user", elbIds={"np-hefei": "lb-a", "np-chengdu": "lb-b", "np-nowhere": "lb-x"})


@case("user_managed_elbs_are_bound", "services[0].loadBalancer.eip",
      {"bandwidth": 50, "chargeType": "95BandwidthByMonth", "isp": None}, "remove `eip`")
def user_management_with_eip(raw):
    lb(raw).update(management="user", elbIds={"np-hefei": "lb-a", "np-chengdu": "lb-b"}, eip={"bandwidth": 50})


@case("listeners_fit_mode", "services[0].ports[0].listener", "http", "management: pulumi")
def listener_protocol_under_ecm(raw):
    svc(raw)["ports"][0]["listener"] = "http"


@case("listeners_fit_mode", "services[0].ports[0].certificateId", "cert-1", "remove `certificateId`")
def certificate_under_ecm(raw):
    svc(raw)["ports"][0]["certificateId"] = "cert-1"


@case("listeners_fit_mode", "services[0].ports[0].listener", "udp", "TCP ports")
def udp_listener_on_tcp_port(raw):
    lb(raw)["management"] = "pulumi"
    svc(raw)["ports"][0]["listener"] = "udp"


@case("listeners_fit_mode", "services[0].ports[0].certificateId", None, "certificateId")
def https_listener_without_certificate(raw):
    lb(raw)["management"] = "pulumi"
    svc(raw)["ports"][0]["listener"] = "https"


@case("listeners_fit_mode", "services[0].ports[0].certificateId", "cert-1", "listener: https")
def certificate_on_http_listener(raw):
    lb(raw)["management"] = "pulumi"
    svc(raw)["ports"][0].update(listener="http", certificateId="cert-1")


def _shared(raw: dict[str, Any], name: str, port: int, **lb_overrides: Any) -> dict[str, Any]:
    service = elb_service(name, externalTrafficPolicy="Cluster", ports=[{"name": "http", "port": port}],
                          loadBalancer={"type": "elb", "management": "user", "shared": True,
                                        "elbIds": {"np-hefei": "lb-hefei", "np-chengdu": "lb-chengdu"},
                                        **lb_overrides})
    raw["services"].append(service)
    return service


@case("shared_elbs", "services[0].loadBalancer.management", "ecm", "management: user",
      message_word="shared")
def shared_elb_with_ecm(raw):
    svc(raw)["externalTrafficPolicy"] = "Cluster"
    lb(raw)["shared"] = True


@case("shared_elbs", "services[0].externalTrafficPolicy", "Local", "Cluster", message_word="shared")
def shared_elb_with_local(raw):
    lb(raw).update(management="user", shared=True, elbIds={"np-hefei": "lb-a", "np-chengdu": "lb-b"})


@case("shared_elbs", "services[1].loadBalancer.shared", False, "shared: true", message_word="lb-hefei",
      also=("services[1].loadBalancer.shared",))
def elb_bound_twice_without_shared(raw):
    raw["services"] = []
    _shared(raw, "web-a", 80)
    _shared(raw, "web-b", 81, shared=False)


@case("shared_elbs", "services[1].ports[0].port", 80, "different listener ports", message_word="lb-hefei",
      also=("services[1].ports[0].port",))
def shared_elb_listener_collision(raw):
    raw["services"] = []
    _shared(raw, "web-a", 80)
    _shared(raw, "web-b", 80)


# the in-cluster controller (stacks/rules/controller.py; more in tests/test_controller_config.py)

def _controller(raw, **overrides):
    raw["controller"] = {"enabled": True, "image": "registry.example.com/ack-edge-lb/controller:1.4.0",
                         "credentials": {"rrsa": {"roleName": "ack-edge-lb-controller"}}, **overrides}
    return raw["controller"]


@case("controller_is_complete", "controller.image", None, "image workflow")
def controller_without_image(raw):
    del _controller(raw)["image"]


@case("controller_is_complete", "controller.image", "registry.example.com/ack-edge-lb/controller:latest",
      "commit SHA", message_word="latest")
def controller_image_latest(raw):
    _controller(raw, image="registry.example.com/ack-edge-lb/controller:latest")


@case("controller_is_complete", "controller.image", "registry.example.com/ack-edge-lb/controller", "tag",
      message_word="no tag")
def controller_image_untagged(raw):
    _controller(raw, image="registry.example.com/ack-edge-lb/controller")


@case("controller_is_complete", "controller.image", "registry.example.com/ACK/Controller:1.0", "reference",
      message_word="not an image reference")
def controller_image_not_a_reference(raw):
    _controller(raw, image="registry.example.com/ACK/Controller:1.0")


@case("controller_is_complete", "controller.credentials", None, "rrsa")
def controller_without_credentials(raw):
    del _controller(raw)["credentials"]


@case("controller_is_complete", "controller.credentials",
      {"rrsa": {"roleName": "ack-edge-lb-controller"}, "secret": True}, "keep one")
def controller_with_both_credentials(raw):
    _controller(raw)["credentials"]["secret"] = True


@case("controller_is_complete", "controller.credentials.rrsa.roleName", "acs:ram::1234567890:role/ack-edge-lb",
      "not its ARN")
def controller_role_arn_for_name(raw):
    _controller(raw)["credentials"]["rrsa"]["roleName"] = "acs:ram::1234567890:role/ack-edge-lb"


@case("rate_limits_fit_the_quotas", 'controller.rateLimits["nlb.server"]', 100, "nlb.servers")
def controller_rate_limit_unknown_family(raw):
    _controller(raw, rateLimits={"nlb.server": 100})


@case("rate_limits_fit_the_quotas", 'controller.rateLimits["nlb.servers"]', 500, "at most 200",
      message_word="quota")
def controller_rate_limit_over_quota(raw):
    _controller(raw, rateLimits={"nlb.servers": 500})


@case("rate_limits_fit_the_quotas", 'rateLimits["ens.backends"]', 11, "at most 10", message_word="quota")
def stack_rate_limit_over_quota(raw):
    raw["rateLimits"] = {"ens.backends": 11}


@case("rate_limits_fit_the_quotas", 'rateLimits["ens.backend"]', 5, "ens.backends")
def stack_rate_limit_unknown_family(raw):
    raw["rateLimits"] = {"ens.backend": 5}


@case("controller_resources_are_quantities", "controller.resources.requests.cpu", "lots", "50m")
def controller_cpu_not_a_quantity(raw):
    _controller(raw, resources={"requests": {"cpu": "lots"}})


@case("controller_resources_are_quantities", "controller.resources.requests.memory", "512Mi", "lower",
      message_word="above the limit")
def controller_request_above_limit(raw):
    _controller(raw, resources={"requests": {"memory": "512Mi"}, "limits": {"memory": "256Mi"}})


@pytest.mark.parametrize("rule, mutate, path, value, fix_word, message_word, also", RULE_CASES)
def test_rule(config, load, rule, mutate, path, value, fix_word, message_word, also):
    mutate(config)
    problems = errors_of(load, config)
    problem = problem_at(problems, path, message_word)
    assert_problem(problem, value, fix_word)
    # The change trips only the rule under test, at the expected paths.
    assert {p.path for p in problems} == {path, *also}, "\n".join(map(str, problems))
    # ... and it is that rule that reports it.
    assert problem in list(RULE_BY_NAME[rule](StackConfig.model_validate(config)))


def test_every_rule_has_cases():
    covered = {p.values[0] for p in RULE_CASES}
    assert covered == {fn.__name__ for fn in rules.RULES}
    # The warnings have their own tests below.
    assert {fn.__name__ for fn in rules.WARNINGS} == {"cluster_policy_fills_backend_quota",
                                                     "ecm_deletes_on_selection_change",
                                                     "controller_single_replica_blocks_drains",
                                                     "controller_has_work"}


# --- the documented rules, spelled out ------------------------------------------------------------


def test_clb_with_cluster_policy_serves_edge_pods(config, load):
    config["services"][0]["externalTrafficPolicy"] = "Cluster"
    lb(config).update(type="clb", management="ccm")
    load(config)


def test_clb_with_local_policy_is_fine_for_cloud_pools_only(config, load):
    config["nodePools"][2]["labels"] = {"tier": "web"}
    config["services"][0]["nodePoolSelector"] = {"tier": "web"}
    lb(config).update(type="clb", management="ccm")
    load(config)


def test_shared_elb_with_user_management_and_cluster_is_valid(config, load):
    config["services"] = []
    _shared(config, "web-a", 80)
    _shared(config, "web-b", 443)
    loaded = load(config)
    assert [s.load_balancer.shared for s in loaded.config.services] == [True, True]


def test_shared_elb_same_port_other_protocol_is_valid(config, load):
    config["services"] = []
    _shared(config, "dns-tcp", 53)
    _shared(config, "dns-udp", 53)["ports"][0]["protocol"] = "UDP"
    load(config)


def test_shared_elb_needs_user_and_cluster_both_reported(config, load):
    lb(config)["shared"] = True
    problems = errors_of(load, config)
    assert_problem(problem_at(problems, "services[0].loadBalancer.management", "shared"), "ecm", "user")
    assert_problem(problem_at(problems, "services[0].externalTrafficPolicy", "shared"), "Local", "Cluster")


def test_every_service_binding_a_shared_elb_must_say_so(config, load):
    config["services"] = []
    _shared(config, "web-a", 80, shared=False, elbIds={"np-hefei": "lb-one", "np-chengdu": "lb-two"})
    _shared(config, "web-b", 81, shared=False, elbIds={"np-hefei": "lb-one", "np-chengdu": "lb-three"})
    problems = errors_of(load, config)
    # lb-one is bound twice, lb-two and lb-three once: both services are told, about lb-one only.
    assert sorted(p.path for p in problems) == ["services[0].loadBalancer.shared", "services[1].loadBalancer.shared"]
    assert all("lb-one" in p.message and p.value is False for p in problems)


def test_nlb_with_ip_backends_needs_terway_edge_and_express_connect(config, load):
    config["cluster"].update(network="flannel-vxlan", expressConnect=False)
    lb(config).update(type="nlb", management="ccm")
    problems = errors_of(load, config)
    assert_problem(problem_at(problems, "cluster.network"), "flannel-vxlan", "terway-edge")
    assert_problem(problem_at(problems, "cluster.expressConnect"), False, "expressConnect: true")
    assert len(problems) == 2


def test_nlb_with_instance_backends_for_cloud_pools_needs_neither(config, load):
    config["cluster"].update(network="flannel-vxlan", expressConnect=False)
    config["nodePools"][2]["labels"] = {"tier": "web"}
    config["services"][0]["nodePoolSelector"] = {"tier": "web"}
    lb(config).update(type="nlb", management="ccm", serverGroupType="Instance")
    load(config)


def test_nlb_and_clb_may_select_every_pool(config, load):
    config["services"][0]["nodePoolSelector"] = {}
    config["services"][0]["externalTrafficPolicy"] = "Cluster"
    lb(config).update(type="nlb", management="ccm")
    load(config)
    lb(config).update(type="clb", management="ccm")
    load(config)


def test_session_persistence_and_client_ip_with_local_are_valid(config, load):
    assert config["services"][0]["externalTrafficPolicy"] == "Local"
    lb(config).update(persistenceTimeout=3600, preserveClientIp=True)
    load(config)


def test_session_persistence_and_client_ip_with_cluster_both_reported(config, load):
    config["services"][0]["externalTrafficPolicy"] = "Cluster"
    lb(config).update(persistenceTimeout=60, preserveClientIp=True)
    problems = errors_of(load, config)
    assert {p.path for p in problems} == {"services[0].loadBalancer.persistenceTimeout",
                                          "services[0].loadBalancer.preserveClientIp"}


def test_persistence_timeout_zero_is_fine_with_cluster(config, load):
    config["services"][0]["externalTrafficPolicy"] = "Cluster"
    lb(config)["persistenceTimeout"] = 0
    load(config)


@pytest.mark.parametrize("version", ["2.1.0", "v2.1.0", "2.1", "2.10", "2.10.3", "3", "v10.0.0"])
def test_ecm_versions_that_support_multi_region_elb(config, load, version):
    config["cluster"]["ecmVersion"] = version
    load(config)


@pytest.mark.parametrize("version", ["2.0.9", "v2.0.9", "2.0", "2", "1.12.4", "0.0.1"])
def test_ecm_versions_that_are_too_old(config, load, version):
    config["cluster"]["ecmVersion"] = version
    problem = problem_at(errors_of(load, config), "cluster.ecmVersion")
    assert_problem(problem, version, "ecmVersion")
    assert "2.1.0" in problem.message


def test_ecm_version_may_be_missing_without_ecm(config, load):
    del config["cluster"]["ecmVersion"]
    config["services"][0]["externalTrafficPolicy"] = "Cluster"
    lb(config).update(type="nlb", management="ccm")
    load(config)


def test_ecm_version_missing_names_the_service_relying_on_it(config, load):
    del config["cluster"]["ecmVersion"]
    problem = problem_at(errors_of(load, config), "cluster.ecmVersion")
    assert "services[0].loadBalancer.management" in problem.message


def test_user_management_with_an_elb_per_matched_pool_is_valid(config, load):
    lb(config).update(management="user", elbIds={"np-hefei": "lb-a", "np-chengdu": "lb-b"})
    loaded = load(config)
    assert dict(loaded.config.services[0].load_balancer.elb_ids) == {"np-hefei": "lb-a", "np-chengdu": "lb-b"}


def test_user_management_creates_what_elb_ids_leave_out(config, load):
    # Pools without an id get a Pulumi-created ELB and EIP: valid, with or without `eip` settings.
    lb(config).update(management="user", elbIds={"np-hefei": "lb-a"}, eip={"bandwidth": 20})
    assert load(config).config.services[0].load_balancer.elb_ids == {"np-hefei": "lb-a"}
    lb(config).pop("elbIds")
    load(config)


def test_shared_elb_must_name_the_elb_of_every_pool(config, load):
    config["services"] = []
    _shared(config, "web-a", 80)
    _shared(config, "web-b", 81, elbIds={"np-hefei": "lb-hefei"})
    problem = problem_at(errors_of(load, config), "services[1].loadBalancer.elbIds.np-chengdu")
    assert_problem(problem, None, "elbIds")


def test_duplicate_services_name_the_colliding_elb(config, load):
    config["services"].append(elb_service(ports=[{"name": "web", "port": 8080}]))
    problem = problem_at(errors_of(load, config), "services[1].name")
    assert f"`k8s/cube-svc/default/np-chengdu/{CLUSTER_ID}`" in problem.message
    assert "services[0]" in problem.message


def test_duplicate_services_in_another_namespace_name_their_elb(config, load):
    config["services"][0]["namespace"] = "shop"
    config["services"].append(elb_service(namespace="shop", ports=[{"name": "web", "port": 8080}]))
    problem = problem_at(errors_of(load, config), "services[1].name")
    assert f"k8s/cube-svc/shop/np-chengdu/{CLUSTER_ID}" in problem.message


def test_duplicate_nlb_services_do_not_mention_elb_names(config, load):
    nlb = {"type": "nlb", "management": "ccm"}
    config["services"] = [elb_service(externalTrafficPolicy="Cluster", loadBalancer=nlb,
                                      ports=[{"name": "http", "port": p}]) for p in (80, 81)]
    problem = problem_at(errors_of(load, config), "services[1].name")
    assert "k8s/" not in problem.message
    assert "default/cube-svc" in problem.message


def test_same_service_name_in_another_namespace_is_valid(config, load):
    config["services"].append(elb_service(namespace="shop"))
    load(config)


def test_same_port_with_other_protocol_is_valid(config, load):
    config["services"][0]["ports"].append({"name": "quic", "port": 80, "protocol": "UDP"})
    load(config)


@pytest.mark.parametrize("lb_type, management", [("nlb", "ecm"), ("clb", "ecm"), ("elb", "ccm")])
def test_management_not_valid_for_type(config, load, lb_type, management):
    config["services"][0]["externalTrafficPolicy"] = "Cluster"
    lb(config).update(type=lb_type, management=management)
    problem = problem_at(errors_of(load, config), "services[0].loadBalancer.management", "does not exist")
    assert_problem(problem, management, "use one of")
    assert lb_type in problem.message


def test_pulumi_owned_elb_is_supported(config, load):
    lb(config)["management"] = "pulumi"
    assert load(config).config.services[0].load_balancer.management == "pulumi"


@pytest.mark.parametrize("lb_type", ["nlb", "clb"])
def test_pulumi_owned_nlb_and_clb_are_supported(config, load, lb_type):
    config["services"][0].update(externalTrafficPolicy="Cluster",
                                 nodePoolSelector={} if lb_type == "nlb" else {"tier": "web"})
    config["nodePools"][2]["labels"] = {"tier": "web"}
    lb(config).update(type=lb_type, management="pulumi")
    assert load(config).config.services[0].load_balancer.management == "pulumi"


@pytest.mark.parametrize("lb_type", ["nlb", "clb"])
def test_user_managed_nlb_and_clb_take_listeners_and_adoption(config, load, lb_type):
    """Pulumi builds the load balancer and its listeners under `user` too: listener settings and `adopt` apply."""
    config["services"][0].update(externalTrafficPolicy="Cluster", nodePoolSelector={"tier": "web"})
    config["nodePools"][2]["labels"] = {"tier": "web"}
    listener = "tcp" if lb_type == "nlb" else "https"
    config["services"][0]["ports"][0] |= {"listener": listener, **({"certificateId": "cert-1"} if lb_type == "clb" else {})}
    config["cluster"]["ccmVersion"] = "v2.14.0"
    lb(config).update(type=lb_type, management="user",
                      adopt={"lb": {"loadBalancerId": "nlb-live1" if lb_type == "nlb" else "lb-live1"}})
    lb_config = load(config).config.services[0].load_balancer
    assert lb_config.ccm_binds and lb_config.pulumi_listeners


@pytest.mark.parametrize("lb_type", ["nlb", "clb"])
def test_user_managed_ports_may_share_a_number_only_under_pulumi(config, load, lb_type):
    config["services"][0].update(externalTrafficPolicy="Cluster", nodePoolSelector={"tier": "web"},
                                 ports=[{"name": "dns-tcp", "port": 53}, {"name": "dns", "port": 53, "protocol": "UDP"}])
    config["nodePools"][2]["labels"] = {"tier": "web"}
    config["cluster"]["ccmVersion"] = "2.9.1"
    lb(config).update(type=lb_type, management="pulumi")
    load(config)  # one group per port, each filled by its own BackendSync
    lb(config)["management"] = "user"
    problem = problem_at(errors_of(load, config), "services[0].ports[1].port")
    assert_problem(problem, 53, "own number")


@pytest.mark.parametrize("mutate, path", [
    # The rules of every NLB and CLB mode hold when CCM fills Pulumi's groups.
    (lambda c: c["cluster"].update(network="flannel-vxlan"), "cluster.network"),
    (lambda c: c["cluster"].update(expressConnect=False), "cluster.expressConnect"),
    (lambda c: lb(c).update(serverGroupType="Instance"), "services[0].loadBalancer.serverGroupType"),
])
def test_user_managed_nlb_keeps_the_backend_rules(config, load, mutate, path):
    config["cluster"]["ccmVersion"] = "v2.14.0"
    lb(config).update(type="nlb", management="user")
    load(config)  # IP backends of the ENS pools' pods: Terway Edge and Express Connect are there
    mutate(config)
    assert [p.path for p in errors_of(load, config)] == [path]


@pytest.mark.parametrize("version", ["2.9.1", "v2.9.1", "2.10", "v2.14.0", "3"])
def test_ccm_versions_that_bind_nlb_groups(config, load, version):
    config["cluster"]["ccmVersion"] = version
    lb(config).update(type="nlb", management="user")
    load(config)


def test_clb_binding_and_other_nlb_modes_need_no_ccm_version(config, load):
    config["services"][0]["externalTrafficPolicy"] = "Cluster"
    for lb_type, management in (("clb", "user"), ("nlb", "ccm"), ("nlb", "pulumi")):
        lb(config).update(type=lb_type, management=management)
        load(config)


def test_user_managed_clb_serves_edge_pods_through_cloud_nodes_only_under_cluster(config, load):
    lb(config).update(type="clb", management="user")
    problem = problem_at(errors_of(load, config), "services[0].externalTrafficPolicy")
    assert_problem(problem, "Local", "Cluster")
    config["services"][0]["externalTrafficPolicy"] = "Cluster"
    load(config)


def test_nlb_has_no_http_listener(config, load):
    config["services"][0].update(externalTrafficPolicy="Cluster", nodePoolSelector={})
    config["services"][0]["ports"][0]["listener"] = "http"
    lb(config).update(type="nlb", management="pulumi")
    problem = problem_at(errors_of(load, config), "services[0].ports[0].listener")
    assert_problem(problem, "http", "tcp, udp")


# --- warnings ----------------------------------------------------------------------------------------


def _cloud_service(config: dict[str, Any], lb_type: str, nodes: int, policy: str = "Cluster") -> None:
    config["nodePools"][2].update(labels={"tier": "web"}, nodeCount=nodes)
    config["services"] = [elb_service("web", externalTrafficPolicy=policy, nodePoolSelector={"tier": "web"},
                                      loadBalancer={"type": lb_type, "management": "ccm"})]


@pytest.mark.parametrize("lb_type, quota", [("clb", 200), ("nlb", 400)])
def test_cluster_policy_near_backend_quota_warns(config, load, lb_type, quota):
    _cloud_service(config, lb_type, int(quota * 0.8))
    loaded = load(config)
    assert len(loaded.warnings) == 1
    warning = loaded.warnings[0]
    assert warning.severity == "warning"
    assert warning.path == "services[0].externalTrafficPolicy"
    assert warning.value == "Cluster"
    assert str(quota) in warning.message and lb_type.upper() in warning.message
    assert "Local" in warning.fix
    assert "Consider:" in str(warning) and "Fix:" not in str(warning)


@pytest.mark.parametrize("lb_type, quota", [("clb", 200), ("nlb", 400)])
def test_cluster_policy_below_quota_share_does_not_warn(config, load, lb_type, quota):
    _cloud_service(config, lb_type, int(quota * 0.8) - 1)
    assert load(config).warnings == []


def test_cluster_policy_quota_counts_every_matched_pool(config, load):
    _cloud_service(config, "clb", 100)
    config["nodePools"].append({**cloud_pool("np-cloud-2", ("cn-hangzhou-h", "cn-hangzhou-i"), tier="web"),
                                "nodeCount": 60})
    warnings = load(config).warnings
    assert len(warnings) == 1 and "160 nodes" in warnings[0].message


def test_local_policy_never_warns_about_the_quota(config, load):
    _cloud_service(config, "clb", 100000, policy="Local")
    assert load(config).warnings == []


def test_cluster_policy_quota_warning_does_not_apply_to_elb(config, load):
    config["services"] = []
    _shared(config, "web-a", 80)
    for pool in config["nodePools"]:
        pool["nodeCount"] = 1000
    assert load(config).warnings == []


def test_ecm_management_warns_about_selector_changes(config, load):
    loaded = load(config)
    assert len(loaded.warnings) == 1
    warning = loaded.warnings[0]
    assert warning.severity == "warning"
    assert warning.path == "services[0].nodePoolSelector"
    assert warning.value == "k8s-svc=cube"
    assert "np-chengdu, np-hefei" in warning.message and "deletes" in warning.message
    assert "management: user" in warning.fix


def test_user_management_does_not_warn_about_selector_changes(config, load):
    lb(config).update(management="user", elbIds={"np-hefei": "lb-a", "np-chengdu": "lb-b"})
    assert load(config).warnings == []


def test_warnings_and_errors_are_separate(config, load):
    """A configuration that would warn but has an error raises with errors only."""
    config["cluster"]["ecmVersion"] = "2.0.9"
    problems = errors_of(load, config)
    assert [p.path for p in problems] == ["cluster.ecmVersion"]


# --- several problems, and how they read ---------------------------------------------------------


def test_every_field_problem_is_reported_at_once(config, load):
    set_path(config, "services[0].loadBalancer.eip.bandwidth", 4)
    config["services"][0]["ports"][0]["port"] = 0
    config["cluster"]["vpcId"] = "vpc_bad"
    config["nodePools"][1]["colour"] = "blue"
    del config["nodePools"][2]["type"]
    problems = errors_of(load, config)
    assert {p.path: p.value for p in problems} == {
        "services[0].loadBalancer.eip.bandwidth": 4,
        "services[0].ports[0].port": 0,
        "cluster.vpcId": "vpc_bad",
        "nodePools[1].colour": "blue",
        "nodePools[2].type": None,
    }


def test_every_rule_problem_is_reported_at_once(config, load):
    config["cluster"]["ecmVersion"] = "2.0.9"
    lb(config).update(podLevelBalancing=True, scheduler="rr")
    config["services"][0]["ports"].append({"name": "http-2", "port": 80})
    config["nodePools"][2]["zones"] = []
    problems = errors_of(load, config)
    assert sorted(p.path for p in problems) == sorted([
        "cluster.ecmVersion",
        "services[0].loadBalancer.scheduler",
        "services[0].ports[1].port",
        "nodePools[2].zones",
    ])


def test_problems_of_several_services_are_all_reported(config, load):
    config["services"] = [elb_service(f"svc-{n}", ports=[{"name": "http", "port": 80, "nodePort": 30001}])
                          for n in range(3)]
    problems = errors_of(load, config)
    assert [p.path for p in problems] == ["services[1].ports[0].nodePort", "services[2].ports[0].nodePort"]


def test_str_of_config_error_shows_path_value_and_fix(config, load):
    set_path(config, "services[0].loadBalancer.eip.bandwidth", 4)
    config["cluster"]["network"] = "calico"
    with pytest.raises(ConfigError) as info:
        load(config)
    text = str(info.value)
    assert "stack `test`" in text and "2 configuration problem(s)" in text
    assert "services[0].loadBalancer.eip.bandwidth = 4:" in text
    assert "cluster.network = calico:" in text
    assert text.count("Fix:") == 2
    for problem in info.value.problems:
        assert f"Fix: {problem.fix}" in text


def test_str_of_rule_error_shows_path_value_and_fix(config, load):
    config["cluster"]["ecmVersion"] = "2.0.9"
    with pytest.raises(ConfigError) as info:
        load(config)
    text = str(info.value)
    assert "cluster.ecmVersion = 2.0.9" in text
    assert "Fix: upgrade the edge-controller-manager" in text


def test_long_values_are_shortened_in_messages(config, load):
    config["cluster"]["vpcId"] = "x" * 500
    with pytest.raises(ConfigError) as info:
        load(config)
    assert "x" * 500 not in str(info.value)
    assert info.value.problems[0].value == "x" * 500


def test_problem_as_dict(config, load):
    config["services"][0]["ports"][0]["port"] = 0
    problem = errors_of(load, config)[0]
    assert problem.as_dict() == {"severity": "error", "path": "services[0].ports[0].port", "value": 0,
                                 "message": problem.message, "fix": problem.fix}


def test_non_mapping_configuration(load):
    for raw in ([], "cluster: x", None, 3):
        with pytest.raises(ConfigError) as info:
            load(raw)
        (problem,) = info.value.problems
        assert problem.path == "(stack)"
        assert problem.value == raw
        assert "config:" in problem.fix


def test_helpers_round_trip(config):
    """The path helpers used above address the same places as the paths the loader reports."""
    set_path(config, "nodePools[0].ens.vswitchIds[0]", "vsw-new")
    assert config["nodePools"][0]["ens"]["vswitchIds"] == ["vsw-new"]
    set_path(config, "nodePools[0].labels.k8s-svc", "v")
    assert config["nodePools"][0]["labels"] == {"k8s-svc": "v"}
    del_path(config, "services[0].ports[0].port")
    assert "port" not in config["services"][0]["ports"][0]
