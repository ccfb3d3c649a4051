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
        "pulumi:tags": {"team": "edge"},
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


@pytest.mark.parametrize("text, path, says", [
    ("", "file", "the stack file is empty"),
    ("# nothing yet\n", "file", "the stack file is empty"),
    ("config:\n", "config", "`config:` is empty"),
    ("config: {}\n", "config", "`config:` is empty"),
    ("encryptionsalt: v1:x\n", "config", "no `config:` section"),
    ("- a\n- b\n", "file", "not a mapping with a `config:` section"),
])
def test_file_without_settings_says_so(tmp_path, text, path, says):
    file = stack_file("ci", tmp_path)
    file.write_text(text, encoding="utf-8")
    (problem,) = load_error(file).problems
    assert problem.path == (str(file) if path == "file" else "config")
    assert says in problem.message
    assert "config:" in problem.fix
    assert all(f"{PROJECT}:{key}" in problem.fix for key in ("cluster", "nodePools", "services"))
    with pytest.raises(ConfigError):
        raw_from_stack_file(file, "ci")


def test_settings_without_the_config_wrapper_are_named(tmp_path):
    path = stack_file("ci", tmp_path)
    path.write_text(yaml.safe_dump({"encryptionsalt": "v1:x", **project_keys(base_config())}), encoding="utf-8")
    problems = load_error(path).problems
    assert sorted(p.value for p in problems) == [f"{PROJECT}:cluster", f"{PROJECT}:nodePools", f"{PROJECT}:services"]
    assert all("outside `config:`" in p.message and "under a `config:` line" in p.fix for p in problems)


def test_settings_under_a_misspelt_config_section_are_named(tmp_path):
    path = stack_file("ci", tmp_path)
    path.write_text(yaml.safe_dump({"confg": project_keys(base_config())}), encoding="utf-8")
    (problem,) = load_error(path).problems
    assert problem.value == "confg" and "rename `confg:` to `config:`" in problem.fix


def test_a_setting_left_outside_config_is_named_beside_the_others(tmp_path):
    config = project_keys(base_config())
    services = config.pop(f"{PROJECT}:services")
    path = write_stack(tmp_path, config, **{f"{PROJECT}:services": services})
    (problem,) = load_error(path).problems
    assert problem.value == f"{PROJECT}:services" and "outside `config:`" in problem.message


# --- namespaces ------------------------------------------------------------------------------------

NEAR_MISSES = ["ack-edge-lab", "ack_edge_lb", "ackedgelb", "ack-edge-lb ", "ACK-Edge-LB", "ack-edge-b", "ack.edge.lb",
               "ack-edge-lbs", ""]


@pytest.mark.parametrize("namespace", NEAR_MISSES)
@pytest.mark.parametrize("key", ["cluster", "nodePools", "services"])
def test_a_misspelt_namespace_is_refused_with_the_right_key(tmp_path, namespace, key):
    config = project_keys(base_config())
    config[f"{namespace}:{key}"] = config.pop(f"{PROJECT}:{key}")
    error = load_error(write_stack(tmp_path, config))
    (problem,) = error.problems  # the typo, not also "missing `{key}`"
    assert problem.value == f"{namespace}:{key}"
    assert f"`{namespace}`" in problem.message
    assert problem.fix == f"rename the key to `{PROJECT}:{key}`"
    assert f"{namespace}:{key}" in str(error)


def test_a_misspelt_namespace_is_refused_even_beside_the_right_one(tmp_path):
    config = project_keys(base_config())
    config["ack-edge-lab:protect"] = True
    (problem,) = load_error(write_stack(tmp_path, config)).problems
    assert problem.value == "ack-edge-lab:protect" and problem.fix == f"rename the key to `{PROJECT}:protect`"


def test_only_the_near_miss_is_refused_other_namespaces_stay_allowed(tmp_path):
    config = project_keys(base_config())
    for namespace in ("kubernetes", "alicloud", "pulumi", "aws", "random", "tls", "command", "other-project", "edge"):
        config |= {f"{namespace}:services": "theirs", f"{namespace}:cluster": {"secure": CIPHERTEXT}}
    config["ack-edge-lb-prod:services"] = []
    (problem,) = load_error(write_stack(tmp_path, config)).problems
    assert problem.value == "ack-edge-lb-prod:services"


def test_a_key_without_namespace_is_the_project_s_as_pulumi_reads_it(tmp_path):
    # Pulumi puts a stack file's key without namespace in the project's (workspace TestLoadingStackConfigWithoutNamespacingTheProject).
    config = project_keys(base_config())
    config["services"] = config.pop(f"{PROJECT}:services")
    loaded = load_stack_file("ci", write_stack(tmp_path, config))
    assert [s.name for s in loaded.config.services] == ["cube-svc"]


def test_the_old_config_spelling_is_read_as_pulumi_reads_it(tmp_path):
    # config.ParseKey reads `<namespace>:config:<name>` as `<namespace>:<name>`.
    config = project_keys(base_config())
    config[f"{PROJECT}:config:services"] = config.pop(f"{PROJECT}:services")
    assert [s.name for s in load_stack_file("ci", write_stack(tmp_path, config)).config.services] == ["cube-svc"]


def test_a_key_set_twice_is_refused(tmp_path):
    config = {**project_keys(base_config()), "services": []}
    (problem,) = load_error(write_stack(tmp_path, config)).problems
    assert problem.value == "services" and f"`{PROJECT}:services`" in problem.message
    assert problem.fix == "keep one of them"


def test_settings_nested_under_the_project_name_are_refused(tmp_path):
    (problem,) = load_error(write_stack(tmp_path, {PROJECT: base_config()})).problems
    assert problem.value == PROJECT and "one block" in problem.message
    assert f"`{PROJECT}:cluster`" in problem.fix and f"`{PROJECT}:services`" in problem.fix


# --- required keys ---------------------------------------------------------------------------------


@pytest.mark.parametrize("key", ["cluster", "nodePools", "services"])
def test_a_missing_required_key_is_refused_as_the_pulumi_cli_does(tmp_path, key):
    config = project_keys(base_config())
    del config[f"{PROJECT}:{key}"]
    error = load_error(write_stack(tmp_path, config))
    (problem,) = error.problems
    assert problem.path == key
    assert problem.message == f"Stack 'ci' is missing configuration value '{PROJECT}:{key}'"
    assert problem.fix.startswith(f"add `{PROJECT}:{key}:` under `config:`")
    with pytest.raises(ConfigError):
        raw_from_stack_file(write_stack(tmp_path, config), "ci")


def test_a_stack_without_services_says_so(tmp_path):
    config = project_keys(base_config())
    config.pop(f"{PROJECT}:services")
    assert f"`{PROJECT}:services: []`" in load_error(write_stack(tmp_path, config)).problems[0].fix
    config[f"{PROJECT}:services"] = []
    assert load_stack_file("ci", write_stack(tmp_path, config)).config.services == []


def test_key_problems_come_with_the_value_problems(tmp_path):
    raw = base_config()
    raw["cluster"]["id"] = "not-a-cluster"
    config = project_keys(raw)
    config["ack-edge-lab:services"] = config.pop(f"{PROJECT}:services")
    problems = load_error(write_stack(tmp_path, config)).problems
    assert [(p.path, p.value) for p in problems] == [("config", "ack-edge-lab:services"),
                                                    ("cluster.id", "not-a-cluster")]


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


def test_a_secret_and_other_problems_are_reported_together_without_the_ciphertext(tmp_path):
    raw = base_config()
    raw["services"][0]["ports"][0]["name"] = {"secure": CIPHERTEXT}
    raw["cluster"]["id"] = "not-a-cluster"
    error = load_error(write_stack(tmp_path, project_keys(raw)))
    assert [(p.path, p.value) for p in error.problems] == [("services[0].ports[0].name", "[secret]"),
                                                          ("cluster.id", "not-a-cluster")]
    assert CIPHERTEXT[3:20] not in str(error) and CIPHERTEXT[3:20] not in repr(error.problems)


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
