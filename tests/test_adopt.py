"""Bringing existing load balancers and EIPs under management without changing their address."""

from __future__ import annotations

import pytest

from stacks.problems import ConfigError
from tests.conftest import cloud_pool


def test_pulumi_mode_imports_an_existing_elb_its_eip_and_their_binding(config, plan):
    config["services"][0]["loadBalancer"] = {
        "type": "elb", "management": "pulumi",
        "adopt": {"np-hefei": {"loadBalancerId": "lb-hefei0live", "eipId": "eip-hefei0live"}}}
    run = plan(config)
    base = "default/cube-svc/elb/np-hefei"
    assert run.named(f"{base}/loadbalancer").options["import"] == "lb-hefei0live"
    assert run.named(f"{base}/eip").options["import"] == "eip-hefei0live"
    assert run.named(f"{base}/eip-attachment").options["import"] == "eip-hefei0live:lb-hefei0live:SlbInstance"
    # Chengdu was not adopted: it is created.
    assert "import" not in run.named("default/cube-svc/elb/np-chengdu/loadbalancer").options


@pytest.mark.parametrize("kind, resource", [("nlb", "nlb/loadbalancer"), ("clb", "clb/loadbalancer")])
def test_nlb_and_clb_are_imported_by_id(config, plan, kind, resource):
    config["nodePools"].append(cloud_pool("np-web", zones=("cn-hangzhou-i",), site="cloud"))
    existing = "nlb-live0001" if kind == "nlb" else "lb-live0001"
    config["services"][0] |= {"externalTrafficPolicy": "Cluster", "nodePoolSelector": {"site": "cloud"},
                              "loadBalancer": {"type": kind, "management": "pulumi",
                                               "adopt": {"lb": {"loadBalancerId": existing}}}}
    assert plan(config).named(f"default/cube-svc/{resource}").options["import"] == existing


@pytest.mark.parametrize("lb, path, fix", [
    ({"type": "elb", "management": "ecm", "adopt": {"np-hefei": {"loadBalancerId": "lb-1", "eipId": "eip-1"}}},
     "services[0].loadBalancer.adopt", "elbIds"),
    ({"type": "elb", "management": "pulumi", "adopt": {"np-cloud": {"loadBalancerId": "lb-1", "eipId": "eip-1"}}},
     "services[0].loadBalancer.adopt.np-cloud", "np-chengdu, np-hefei"),
    ({"type": "elb", "management": "pulumi", "adopt": {"np-hefei": {"loadBalancerId": "lb-1"}}},
     "services[0].loadBalancer.adopt.np-hefei.eipId", "eipId"),
])
def test_adoption_mistakes_are_named(config, load, lb, path, fix):
    config["services"][0]["loadBalancer"] = lb
    with pytest.raises(ConfigError) as caught:
        load(config)
    problem = next(p for p in caught.value.problems if p.path == path)
    assert fix in problem.fix
