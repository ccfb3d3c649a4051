"""The configuration as `pulumi up` hands it to the program, under the SDK's mocks: it must be refused
for the same reasons, and with the same paths, as the stack file offline (`python -m plan`).

The engine passes the decrypted config map and the keys it marks secret (`PULUMI_CONFIG_SECRET_KEYS`,
read by the language host into `pulumi.runtime.set_all_config(config, secret_keys)`); a key is secret
when any value inside it is `secure:`.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any, Optional

import pulumi
import pytest
import yaml

from plan.offline import run_main, run_program
from stacks import load
from stacks.load import PROJECT, Loaded, load_pulumi_config, load_stack_file, stack_file
from stacks.problems import ConfigError
from tests.conftest import base_config

CIPHERTEXT = "v1:Qm9ndXNDaXBoZXJ0ZXh0VGhhdE11c3ROb3RMZWFr"
PLAINTEXT = "decrypted-by-the-engine"


def engine_config(stack_config: dict[str, Any]) -> tuple[dict[str, str], list[str]]:
    """What the engine sends for a stack file's `config:`: every value as text (objects as JSON, secure
    values decrypted in place) and the keys that held a secure value."""
    secret: list[str] = []

    def decrypt(value: Any) -> tuple[Any, bool]:
        if isinstance(value, dict) and set(value) == {"secure"}:
            return PLAINTEXT, True
        if isinstance(value, dict):
            pairs = {k: decrypt(v) for k, v in value.items()}
            return {k: v for k, (v, _) in pairs.items()}, any(s for _, s in pairs.values())
        if isinstance(value, list):
            items = [decrypt(v) for v in value]
            return [v for v, _ in items], any(s for _, s in items)
        return value, False

    out = {}
    for key, value in stack_config.items():
        plain, is_secret = decrypt(value)
        out[key] = plain if isinstance(plain, str) else json.dumps(plain)
        if is_secret:
            secret.append(key)
    return out, secret


def real_path(stack_config: dict[str, Any], stack: str = "test") -> tuple[Optional[Loaded], Optional[ConfigError]]:
    """`load_pulumi_config` inside a mocked Pulumi run, with the config map `pulumi up` would pass."""
    config, secret = engine_config(stack_config)
    outcome: dict[str, Any] = {}

    def program() -> None:
        pulumi.runtime.set_all_config(config, secret_keys=secret)
        try:
            outcome["loaded"] = load_pulumi_config()
        except ConfigError as exc:
            outcome["error"] = exc

    run_program({}, stack, program=program)
    return outcome.get("loaded"), outcome.get("error")


def project_keys(raw: dict[str, Any]) -> dict[str, Any]:
    return {f"{PROJECT}:{key}": value for key, value in raw.items()}


@pytest.fixture
def stack_dir(tmp_path, monkeypatch) -> Path:
    """The project directory of the run, where `pulumi up` finds `Pulumi.<stack>.yaml`."""
    monkeypatch.setattr(load, "PROJECT_DIR", tmp_path)
    return tmp_path


# --- secrets ---------------------------------------------------------------------------------------


def test_a_secret_key_stops_the_program_before_any_resource(config):
    run = None
    with pytest.raises(pulumi.RunError) as caught:
        run = run_program(config, "test", secret_keys=[f"{PROJECT}:services"])
    assert run is None
    text = str(caught.value)
    assert "services = [secret]: this setting holds no secret" in text
    assert "pulumi config set --path" in text
    # Nothing of the decrypted value reaches the message.
    assert "cube-svc" not in text and "k8s-svc" not in text


def test_nothing_is_declared_when_a_key_is_secret(config):
    from plan.offline import Run

    run = Run(stack="test", preview=True)
    with pytest.raises(pulumi.RunError):
        run_program(config, "test", run=run, secret_keys=[f"{PROJECT}:services"])
    assert run.resources == []


def test_the_secret_keys_of_the_environment_count_too(config, monkeypatch):
    # A language host that sets values one by one still exports PULUMI_CONFIG_SECRET_KEYS.
    monkeypatch.setenv("PULUMI_CONFIG_SECRET_KEYS", json.dumps([f"{PROJECT}:cluster"]))
    with pytest.raises(pulumi.RunError) as caught:
        run_program(config, "test")
    assert "cluster = [secret]" in str(caught.value)
    assert "missing configuration value" not in str(caught.value)


def test_secret_keys_do_not_outlive_their_run(config):
    with pytest.raises(pulumi.RunError):
        run_program(config, "test", secret_keys=[f"{PROJECT}:services"])
    assert len(run_program(config, "test").resources) > 0


def test_the_stack_file_shows_where_the_secure_value_sits(stack_dir):
    raw = base_config()
    raw["services"][0]["ports"][0]["name"] = {"secure": CIPHERTEXT}
    stack_config = project_keys(raw)
    stack_file("test", stack_dir).write_text(yaml.safe_dump({"config": stack_config}), encoding="utf-8")
    _, error = real_path(stack_config)
    (problem,) = error.problems
    assert problem.path == "services[0].ports[0].name" and problem.value == "[secret]"
    assert PLAINTEXT not in str(error) and CIPHERTEXT not in str(error)


# --- namespaces and required keys ------------------------------------------------------------------


PROVIDER_KEYS = {"kubernetes:context": "ack-edge", "alicloud:region": "cn-hangzhou", "pulumi:tags": json.dumps({"a": "b"})}


@pytest.mark.parametrize("namespace", ["ack-edge-lab", "ack_edge_lb", "ackedgelb", "ack-edge-lb "])
def test_a_misspelt_namespace_stops_the_program_and_providers_keys_do_not(config, namespace):
    services = config.pop("services")

    def program() -> None:
        for key, value in {**PROVIDER_KEYS, f"{namespace}:services": json.dumps(services)}.items():
            pulumi.runtime.set_config(key, value)
        run_main()

    with pytest.raises(pulumi.RunError) as caught:
        run_program(config, "test", program=program)
    text = str(caught.value)
    assert "1 configuration problem(s)" in text  # the typo only: neither provider keys nor "missing services"
    assert f"`{namespace}:services` is never read" in text
    assert f"rename the key to `{PROJECT}:services`" in text


def test_a_missing_required_key_stops_the_program(config):
    del config["services"]
    with pytest.raises(pulumi.RunError) as caught:
        run_program(config, "test")
    assert f"Stack 'test' is missing configuration value '{PROJECT}:services'" in str(caught.value)


# --- both paths agree ------------------------------------------------------------------------------


# Every case also carries provider keys, a provider secret among them: the provider's business, never refused.
PROVIDERS = {"kubernetes:context": "edge", "alicloud:accessKey": {"secure": CIPHERTEXT}}

# case: (change to the stack file's `config:`, the (path, value) of each problem both paths must report)
SAME_ANSWER = {
    "misspelt namespace": (lambda c: c.update({"ack-edge-lab:services": c.pop(f"{PROJECT}:services")}),
                           [("config", "ack-edge-lab:services")]),
    "underscores": (lambda c: c.update({"ack_edge_lb:cluster": c.pop(f"{PROJECT}:cluster")}),
                    [("config", "ack_edge_lb:cluster")]),
    "missing services": (lambda c: c.pop(f"{PROJECT}:services"), [("services", None)]),
    "no separator": (lambda c: c.update({"ackedgelb:nodePools": c.pop(f"{PROJECT}:nodePools")}),
                     [("config", "ackedgelb:nodePools")]),
    "misspelt key": (lambda c: c.update({f"{PROJECT}:servics": c.pop(f"{PROJECT}:services")}),
                     [("services", None), ("servics", [base_config()["services"][0]])]),
    "secure in services": (lambda c: c[f"{PROJECT}:services"][0]["selector"].update(app={"secure": CIPHERTEXT}),
                           [("services[0].selector.app", "[secret]")]),
    "secure cluster": (lambda c: c.update({f"{PROJECT}:cluster": {"secure": CIPHERTEXT}}), [("cluster", "[secret]")]),
    "secure and invalid": (lambda c: (c[f"{PROJECT}:services"][0].update(name={"secure": CIPHERTEXT}),
                                      c[f"{PROJECT}:cluster"].update(id="bad")),
                           [("services[0].name", "[secret]"), ("cluster.id", "bad")]),
}


@pytest.mark.parametrize("case", SAME_ANSWER)
def test_the_stack_file_and_the_pulumi_run_give_the_same_answer(stack_dir, case):
    change, expected = SAME_ANSWER[case]
    stack_config = {**copy.deepcopy(project_keys(base_config())), **copy.deepcopy(PROVIDERS)}
    change(stack_config)
    path = stack_file("test", stack_dir)
    path.write_text(yaml.safe_dump({"config": stack_config}), encoding="utf-8")
    with pytest.raises(ConfigError) as offline:
        load_stack_file("test", path)
    loaded, real = real_path(stack_config)
    assert real is not None, f"the Pulumi run accepts what the stack file refuses: {offline.value}"
    assert [(p.path, p.value) for p in offline.value.problems] == expected
    assert [(p.path, p.value) for p in real.problems] == expected
    for real_problem, offline_problem in zip(real.problems, offline.value.problems, strict=True):
        assert real_problem.message.startswith(offline_problem.message)
    assert PLAINTEXT not in str(real) and CIPHERTEXT[3:] not in str(offline.value)
