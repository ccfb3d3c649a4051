"""`ack-edge-lb:controller`: what the loader accepts and says, beyond the one-change cases of test_config_rules.py."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from components.controller import rate_limits_json
from reconciler import ratelimit
from stacks.problems import ConfigError
from stacks.rules.controller import image_problem, quantity

IMAGE = "registry.example.com/ack-edge-lb/controller:1.4.0"


def controller(config, **overrides):
    config["controller"] = {"enabled": True, "image": IMAGE,
                            "credentials": {"rrsa": {"roleName": "ack-edge-lb-controller"}}, **overrides}
    return config


@pytest.mark.parametrize("image", [
    IMAGE,
    "registry.cn-hangzhou.aliyuncs.com/team/ack-edge-lb-controller:0123456789abcdef0123456789abcdef01234567",
    "localhost:5000/controller:v1.4.0-rc.1",
    "team/controller:1.4",                                           # Docker Hub
    f"registry.example.com/controller@sha256:{'a' * 64}",              # a digest pins it
    f"registry.example.com/controller:latest@sha256:{'b' * 64}",       # so does a digest after `latest`
])
def test_pinned_image_references_are_accepted(image):
    assert image_problem(image) is None


@pytest.mark.parametrize("image, word", [
    ("registry.example.com/controller", "no tag"),
    ("registry.example.com/controller:latest", "latest"),
    ("Registry.example.com/Team/controller:1.0", "not an image reference"),
    ("registry.example.com/controller:", "not an image reference"),
    ("registry.example.com/controller@sha256:abc", "not an image reference"),
])
def test_unpinned_or_malformed_images_are_refused(image, word):
    problem = image_problem(image)
    assert problem is not None and word in problem[0]


def test_a_disabled_controller_needs_nothing_but_a_bad_image_is_still_reported(config, load):
    config["controller"] = {"enabled": False}
    assert load(config).config.controller.enabled is False
    config["controller"] = {"enabled": False, "image": "registry.example.com/controller:latest"}
    with pytest.raises(ConfigError) as caught:
        load(config)
    assert [p.path for p in caught.value.problems] == ["controller.image"]


def test_secret_false_chooses_no_credentials(config, load):
    controller(config, credentials={"secret": False})
    with pytest.raises(ConfigError) as caught:
        load(config)
    (problem,) = caught.value.problems
    assert problem.path == "controller.credentials" and "no credentials" in problem.message


def test_the_defaults(config, load):
    loaded = load(controller(config)).config.controller
    assert (loaded.replicas, loaded.namespace, loaded.rate_limits) == (2, "ack-edge-lb-system", {})
    assert loaded.resources.requests.model_dump() == {"cpu": "50m", "memory": "128Mi"}
    assert loaded.resources.limits.model_dump() == {"cpu": None, "memory": "256Mi"}
    assert rate_limits_json(loaded) is None


@pytest.mark.parametrize("replicas", [0, 6])
def test_replicas_are_one_to_five(config, load, replicas):
    with pytest.raises(ConfigError) as caught:
        load(controller(config, replicas=replicas))
    (problem,) = caught.value.problems
    assert problem.path == "controller.replicas" and "1 to 5" in problem.fix


def test_rate_limits_up_to_each_quota_are_passed_on(config, load):
    limits = {key: quota.calls for key, quota in ratelimit.QUOTAS.items()}
    loaded = load(controller(config, rateLimits=limits)).config.controller
    assert json.loads(rate_limits_json(loaded)) == limits
    assert ratelimit.limits_from_text(rate_limits_json(loaded)) == {k: ratelimit.QUOTAS[k] for k in limits}


def test_the_stacks_rate_limits_apply_to_the_controller_unless_it_sets_its_own(config, load):
    config["rateLimits"] = {"nlb.servers": 120}
    loaded = load(controller(config)).config
    assert json.loads(rate_limits_json(loaded.controller, loaded.rate_limits)) == {"nlb.servers": 120}
    loaded = load(controller(config, rateLimits={"nlb.servers": 80})).config
    assert json.loads(rate_limits_json(loaded.controller, loaded.rate_limits)) == {"nlb.servers": 80}


def test_backend_sync_takes_the_stacks_rate_limits_from_its_configuration():
    from pulumi.dynamic import ConfigureRequest

    from reconciler.provider import BackendSyncProvider

    ratelimit.reset()
    try:
        # As the dynamic-provider host hands over the stack's configuration: objects as JSON text.
        BackendSyncProvider().configure(ConfigureRequest({ratelimit.SETTING: '{"ens.backends": 4}'}))
        assert ratelimit.limits()["ens.backends"].calls == 4
        assert ratelimit.limits()["nlb.servers"] == ratelimit.QUOTAS["nlb.servers"]
    finally:
        ratelimit.reset()


def test_a_rate_limit_must_be_a_whole_positive_number(config, load):
    with pytest.raises(ConfigError) as caught:
        load(controller(config, rateLimits={"nlb.servers": 0}))
    (problem,) = caught.value.problems
    assert problem.path == 'controller.rateLimits["nlb.servers"]'


def test_one_replica_warns_that_drains_wait(config, load):
    config["services"][0]["loadBalancer"] = {"type": "elb", "management": "pulumi"}
    warnings = load(controller(config, replicas=1)).warnings
    (warning,) = [w for w in warnings if w.path.startswith("controller")]
    assert warning.path == "controller.replicas" and "kubectl drain" in warning.message
    assert "2 replicas" in warning.fix


def test_a_controller_without_pulumi_owned_backends_warns(config, load):
    warnings = load(controller(config)).warnings  # the fixture's Service is ECM's
    (warning,) = [w for w in warnings if w.path.startswith("controller")]
    assert warning.path == "controller.enabled" and "management: pulumi" in warning.fix


@pytest.mark.parametrize("text, value", [
    ("50m", Decimal("0.05")), ("1", Decimal(1)), ("0.5", Decimal("0.5")), ("128Mi", Decimal(128 * 2**20)),
    ("1Gi", Decimal(2**30)), ("1G", Decimal(10**9)), ("1e3", Decimal(1000)), ("500k", Decimal(500_000)),
])
def test_quantities_are_read_as_kubernetes_does(text, value):
    assert quantity(text) == value


@pytest.mark.parametrize("text", ["lots", "1 Gi", "1gb", "Mi", "--1"])
def test_what_is_not_a_quantity(text):
    assert quantity(text) is None


def test_a_cpu_limit_below_the_request_is_refused(config, load):
    with pytest.raises(ConfigError) as caught:
        load(controller(config, resources={"requests": {"cpu": "2"}, "limits": {"cpu": "500m"}}))
    (problem,) = caught.value.problems
    assert problem.path == "controller.resources.requests.cpu" and "raise `limits.cpu`" in problem.fix
