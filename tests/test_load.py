"""Loading a stack's configuration from `Pulumi.<stack>.yaml`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from stacks.load import (
    PROJECT,
    PROJECT_DIR,
    Loaded,
    load_stack_file,
    raw_from_stack_file,
    stack_file,
)
from stacks.model import StackConfig
from stacks.problems import ConfigError
from tests.conftest import base_config

CIPHERTEXT = "v1:Qm9ndXNDaXBoZXJ0ZXh0VGhhdE11c3ROb3RMZWFr"


def write_stack(directory: Path, config: Any, stack: str = "ci", **top: Any) -> Path:
    """A stack file whose `config:` is `config` (a mapping of full keys, or anything else)."""
    path = stack_file(stack, directory)
    path.write_text(yaml.safe_dump({**top, "config": config}, sort_keys=False), encoding="utf-8")
    return path


def project_keys(raw: dict[str, Any]) -> dict[str, Any]:
    return {f"{PROJECT}:{key}": value for key, value in raw.items()}


def load_error(path: Path, stack: str = "ci") -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load_stack_file(stack, path)
    assert info.value.stack == stack
    return info.value


def test_stack_file_name(tmp_path):
    assert stack_file("prod", tmp_path) == tmp_path / "Pulumi.prod.yaml"
    assert stack_file("dev") == PROJECT_DIR / "Pulumi.dev.yaml"


def test_valid_stack_file_loads(tmp_path):
    raw = base_config()
    path = write_stack(tmp_path, project_keys(raw))
    loaded = load_stack_file("ci", path)
    assert isinstance(loaded, Loaded)
    assert loaded.config == StackConfig.model_validate(raw)
    assert loaded.config.cluster.id == raw["cluster"]["id"]
    assert [p.id for p in loaded.config.node_pools] == ["np-hefei", "np-chengdu", "np-cloud"]
    assert all(w.severity == "warning" for w in loaded.warnings)


def test_raw_keys_lose_the_project_namespace(tmp_path):
    raw = base_config()
    path = write_stack(tmp_path, project_keys(raw))
    assert raw_from_stack_file(path, "ci") == raw


def test_other_namespaces_are_ignored(tmp_path):
    config = {
        "kubernetes:context": "ack-edge-prod",
        "alicloud:region": "cn-hangzhou",
        "alicloud:accessKey": {"secure": CIPHERTEXT},  # a provider's secret is the provider's business
        "other-project:cluster": "not ours",
        **project_keys(base_config()),
        "aws:region": ["not", "a", "string"],
    }
    path = write_stack(tmp_path, config, encryptionsalt="v1:salt", secretsprovider="passphrase")
    assert set(raw_from_stack_file(path, "ci")) == {"cluster", "nodePools", "services"}
    load_stack_file("ci", path)


def test_unknown_project_key_is_reported_with_the_known_ones(tmp_path):
    config = project_keys(base_config())
    config[f"{PROJECT}:servics"] = []
    problems = load_error(write_stack(tmp_path, config)).problems
    assert [p.path for p in problems] == ["servics"]
    assert "services" in problems[0].fix


def test_invalid_values_in_the_file_are_reported_by_path(tmp_path):
    raw = base_config()
    raw["services"][0]["ports"][0]["port"] = 70000
    problems = load_error(write_stack(tmp_path, project_keys(raw))).problems
    assert [(p.path, p.value) for p in problems] == [("services[0].ports[0].port", 70000)]


@pytest.mark.parametrize("text, line", [
    # a key indented less than its siblings
    ("config:\n  ack-edge-lb:cluster:\n    id: c0123456789abcdef\n   vpcId: vpc-x\n", 4),
    # an unclosed flow sequence
    ("config:\n  ack-edge-lb:services: [1, 2\n  ack-edge-lb:cluster: {}\n", 3),
    # a tab as indentation
    ("config:\n\tack-edge-lb:cluster: {}\n", 2),
    # an unclosed quote
    ("# the dev stack\nconfig:\n  ack-edge-lb:cluster:\n    id: \"c0123\n", 5),
])
def test_invalid_yaml_names_the_file_and_line(tmp_path, text, line):
    path = stack_file("ci", tmp_path)
    path.write_text(text, encoding="utf-8")
    error = load_error(path)
    (problem,) = error.problems
    assert problem.path == str(path)
    assert f"line {line}" in problem.message
    assert "YAML" in problem.message and "YAML" in problem.fix
    text_of_error = str(error)
    assert str(path) in text_of_error and f"line {line}" in text_of_error and "Fix:" in text_of_error


def test_missing_file(tmp_path):
    path = tmp_path / "Pulumi.nope.yaml"
    error = load_error(path, "nope")
    (problem,) = error.problems
    assert problem.path == str(path)
    assert "cannot read" in problem.message
    assert "Pulumi.nope.yaml" in problem.fix
    assert str(path) in str(error)


def test_missing_file_of_the_project_directory():
    error = load_error(None, "no-such-stack-here")
    assert error.problems[0].path == str(PROJECT_DIR / "Pulumi.no-such-stack-here.yaml")


def test_directory_instead_of_file(tmp_path):
    (problem,) = load_error(tmp_path).problems
    assert problem.path == str(tmp_path)
    assert "cannot read" in problem.message


@pytest.mark.parametrize("config", [["ack-edge-lb:cluster"], "ack-edge-lb:cluster", 42, True])
def test_config_not_a_mapping(tmp_path, config):
    (problem,) = load_error(write_stack(tmp_path, config)).problems
    assert problem.path == "config"
    assert problem.value == config
    assert "not a mapping" in problem.message
    assert "config:" in problem.fix and f"{PROJECT}:" in problem.fix


@pytest.mark.parametrize("text", ["", "# nothing yet\n", "config:\n", "encryptionsalt: v1:x\n", "- a\n- b\n"])
def test_file_without_settings_reports_the_required_keys(tmp_path, text):
    path = stack_file("ci", tmp_path)
    path.write_text(text, encoding="utf-8")
    assert raw_from_stack_file(path, "ci") == {}
    problems = load_error(path).problems
    assert {p.path for p in problems} == {"cluster", "nodePools"}
    assert all(p.fix.startswith("add `") for p in problems)


def test_secure_value_is_rejected_without_its_ciphertext(tmp_path):
    config = project_keys(base_config())
    config[f"{PROJECT}:cluster"] = {"secure": CIPHERTEXT}
    error = load_error(write_stack(tmp_path, config))
    (problem,) = error.problems
    assert problem.path == "cluster"
    assert problem.value == "[secret]"
    assert "pulumi config set" in problem.fix
    assert CIPHERTEXT not in str(error)
    assert CIPHERTEXT[3:20] not in str(error)
    assert CIPHERTEXT not in repr(problem)


def test_mapping_with_a_secure_key_and_others_is_plain_config(tmp_path):
    """Only a value that is exactly `{secure: ...}` is a Pulumi secret."""
    config = project_keys(base_config())
    config[f"{PROJECT}:cluster"] = {**base_config()["cluster"], "secure": "yes"}
    (problem,) = load_error(write_stack(tmp_path, config)).problems
    assert problem.path == "cluster.secure"


def test_repository_dev_stack_is_valid():
    loaded = load_stack_file("dev")
    assert isinstance(loaded, Loaded)
    assert [s.name for s in loaded.config.services] == ["cube-svc"]
    assert all(w.severity == "warning" for w in loaded.warnings)


def test_repository_dev_stack_by_explicit_path():
    path = PROJECT_DIR / "Pulumi.dev.yaml"
    assert path.is_file()
    raw = raw_from_stack_file(path, "dev")
    assert set(raw) == {"cluster", "nodePools", "services"}
    assert load_stack_file("dev", path).config == load_stack_file("dev").config


def test_a_file_that_is_not_utf8_is_a_clear_error(tmp_path):
    path = tmp_path / "Pulumi.ci.yaml"
    path.write_bytes("config:\n  ack-edge-lb:cluster:\n    id: c0123456789abcdef # \u96c6\u7fa4\n".encode("gbk"))
    with pytest.raises(ConfigError) as caught:
        load_stack_file("ci", path)
    assert "not UTF-8" in str(caught.value)


def test_a_nested_secret_is_reported_without_its_ciphertext(tmp_path):
    raw = base_config()
    raw["cluster"]["id"] = {"secure": "v1:AAAAciphertextAAAA"}
    with pytest.raises(ConfigError) as caught:
        load_stack_file("ci", write_stack(tmp_path, project_keys(raw)))
    (problem,) = caught.value.problems
    assert problem.path == "cluster.id"
    assert "ciphertext" not in str(caught.value) and "v1:" not in str(caught.value)


def test_a_number_too_large_for_python_is_a_clear_error(tmp_path):
    path = tmp_path / "Pulumi.ci.yaml"
    path.write_text("config:\n  ack-edge-lb:services:\n    - port: " + "9" * 5000 + "\n")
    with pytest.raises(ConfigError) as caught:
        load_stack_file("ci", path)
    assert "too large" in str(caught.value)
