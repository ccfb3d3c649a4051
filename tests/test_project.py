"""The project files: Pulumi.yaml against Pulumi's own schema, and its config declarations."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml

from stacks.load import PROJECT, REQUIRED_KEYS
from stacks.model import CONFIG_KEYS

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = ROOT / "tests" / "schemas" / "pulumi-project.schema.json"


@pytest.fixture(scope="module")
def project() -> dict:
    return yaml.safe_load((ROOT / "Pulumi.yaml").read_text())


def test_pulumi_yaml_matches_the_pulumi_project_schema(project):
    schema = json.loads(SCHEMA.read_text())
    jsonschema.validate(project, schema, cls=jsonschema.validators.validator_for(schema))


def test_the_schema_check_does_catch_a_bad_project(project):
    schema = json.loads(SCHEMA.read_text())
    broken = dict(project, runtime={"name": "python", "options": {"toolchain": "pip"}}, name=42)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, schema, cls=jsonschema.validators.validator_for(schema))


def test_project_runs_python_with_pip_in_venv(project):
    assert project["name"] == "ack-edge-lb"
    assert project["runtime"] == {"name": "python", "options": {"toolchain": "pip", "virtualenv": "venv"}}
    assert project["description"]


def test_every_configuration_key_is_declared(project):
    # `protect` has no stack-independent default (on for prod*), and Pulumi would require a declared
    # key without default in every stack: it is documented in the README instead. `controller` and `rateLimits`
    # are optional blocks (absent = no controller, the documented quotas), documented in docs/configuration.md.
    declared = set(project["config"])
    assert declared == set(CONFIG_KEYS) - {"protect", "controller", "rateLimits"}
    for key in ("cluster",):
        assert project["config"][key]["type"] == "object"
    assert project["config"]["nodePools"]["type"] == "array"


def test_the_main_keys_are_required(project):
    # A declared key without `default` is required: the Pulumi CLI refuses a stack that lacks it
    # ("Stack 'dev' is missing configuration value ..."), so a forgotten `services` cannot plan zero
    # Services and delete every load balancer. The offline loader requires the same keys.
    required = {key for key, declared in project["config"].items() if "default" not in declared}
    assert required == {"cluster", "nodePools", "services"} == set(REQUIRED_KEYS)
    # so every stack of the repository must set them
    for path in ROOT.glob("Pulumi.*.yaml"):
        config = yaml.safe_load(path.read_text())["config"]
        assert {f"{PROJECT}:{key}" for key in REQUIRED_KEYS} <= set(config), path.name


def test_every_stack_file_belongs_to_the_project(project):
    for path in ROOT.glob("Pulumi.*.yaml"):
        document = yaml.safe_load(path.read_text())
        keys = [k for k in document.get("config", {}) if k.split(":")[0] == project["name"]]
        assert keys, f"{path.name} configures the project"
        assert {k.split(":", 1)[1] for k in keys} <= set(CONFIG_KEYS), path.name
