"""`python -m stacks validate` and `python -m plan`: what a user sees, and the exit codes."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
import yaml

from tests.conftest import base_config

ROOT = Path(__file__).resolve().parents[1]
SCHEMA_FILE = ROOT / "docs" / "plan.schema.json"


def stacks(*args: str) -> subprocess.CompletedProcess:
    """`python -m stacks validate ...`, or `python -m plan ...` for ("plan", ...)."""
    command = ["-m", "plan", *args[1:]] if args[:1] == ("plan",) else ["-m", "stacks", *args]
    return subprocess.run([sys.executable, *command], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)


def write_stack(tmp_path: Path, raw: dict) -> Path:
    path = tmp_path / "Pulumi.ci.yaml"
    path.write_text(yaml.safe_dump({"config": {f"ack-edge-lb:{k}": v for k, v in raw.items()}}))
    return path


def test_plan_of_the_dev_stack_prints_a_tree_per_service_and_region():
    done = stacks("plan", "dev")
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "default/cube-svc" in out and "elb · ecm · Local" in out
    assert "region cn-hefei-cmcc-2" in out and "region cn-chengdu-telecom-4" in out
    assert "NodePoolPatch np-hefei" in out
    assert "Traceback" not in done.stderr and "Exception ignored" not in done.stderr


def test_plan_json_lists_resources_outputs_and_warnings():
    done = stacks("plan", "dev", "--json")
    assert done.returncode == 0, done.stderr
    plan = json.loads(done.stdout)
    assert set(plan) == {"schema", "kind", "stack", "against", "summary", "resources", "addressChanges",
                         "controllerEffects", "outputs", "outputChanges", "warnings"}
    assert (plan["schema"], plan["kind"], plan["stack"], plan["against"]) == ("ack-edge-lb/plan/v1", "plan", "dev", None)
    by_name = {r["name"]: r for r in plan["resources"]}
    assert by_name["default/cube-svc/service"]["parent"] == "default/cube-svc"
    assert by_name["default/cube-svc/service"]["type"] == "kubernetes:core/v1:Service"
    assert {r["op"] for r in plan["resources"]} == {"create"}
    assert plan["summary"]["create"] == len(plan["resources"]) == 5
    assert plan["outputs"]["externalIp"] == {"default/cube-svc": "(known after apply)"}
    assert any("ELB and EIP" in w for w in plan["warnings"])
    assert [e["action"] for e in plan["controllerEffects"]] == ["create-lb"]


@pytest.mark.parametrize("stack", ["dev", "edge", "hybrid"])
def test_plan_json_follows_the_schema_and_three_runs_are_byte_identical(stack):
    runs = [stacks("plan", stack, "--format", "json") for _ in range(3)]
    assert all(done.returncode == 0 for done in runs), runs[0].stderr
    assert len({done.stdout for done in runs}) == 1
    jsonschema.validate(json.loads(runs[0].stdout), json.loads(SCHEMA_FILE.read_text()))


def test_plan_text_of_the_hybrid_stack_explains_clb_bandwidth_and_shows_nlb_zones():
    done = stacks("plan", "hybrid")
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "bandwidth=-1" in out and "bandwidth -1: no bandwidth cap, pay-by-LCU" in out
    assert 'cn-hangzhou-j: vswitchId="vsw-bp1hybridj"' in out and 'cn-hangzhou-k: vswitchId="vsw-bp1hybridk"' in out
    assert "Resources: + 22 to create" in out
    assert "True" not in out and "False" not in out and "{'" not in out and "['" not in out
    assert stacks("plan", "hybrid").stdout == out  # stable


def test_detailed_exitcode_of_a_plan_is_4():
    assert stacks("plan", "dev", "--detailed-exitcode").returncode == 4
    assert stacks("plan", "dev").returncode == 0


def test_invalid_stack_prints_every_problem_and_exits_2(tmp_path):
    raw = base_config()
    raw["services"][0]["loadBalancer"]["eip"] = {"bandwidth": 20000}
    raw["services"][0]["ports"][0]["port"] = 0
    done = stacks("plan", "ci", "--file", str(write_stack(tmp_path, raw)))
    assert done.returncode == 2
    assert "services[0].loadBalancer.eip.bandwidth = 20000" in done.stderr
    assert "services[0].ports[0].port = 0" in done.stderr
    assert "Traceback" not in done.stderr


def test_invalid_stack_as_json(tmp_path):
    raw = base_config()
    raw["cluster"]["ecmVersion"] = "2.0.3"
    done = stacks("validate", "ci", "--file", str(write_stack(tmp_path, raw)), "--json")
    assert done.returncode == 2
    (problem,) = json.loads(done.stdout)["errors"]
    assert problem["path"] == "cluster.ecmVersion" and problem["value"] == "2.0.3" and problem["fix"]
    # `python -m plan` says the same in its own format.
    done = stacks("plan", "ci", "--file", str(write_stack(tmp_path, raw)), "--format", "json")
    assert done.returncode == 2
    errors = json.loads(done.stdout)
    jsonschema.validate(errors, json.loads(SCHEMA_FILE.read_text()))
    assert errors["kind"] == "errors" and errors["errors"][0]["path"] == "cluster.ecmVersion"


def test_validate_of_a_valid_stack(tmp_path):
    done = stacks("validate", "ci", "--file", str(write_stack(tmp_path, base_config())))
    assert done.returncode == 0, done.stderr
    assert "is valid: 1 service(s), 3 node pool(s)" in done.stdout


def test_unknown_stack_file_is_a_clear_error():
    done = stacks("validate", "no-such-stack")
    assert done.returncode == 2
    assert "Pulumi.no-such-stack.yaml" in done.stderr


def test_make_preview_without_the_pulumi_cli_says_how_to_get_it(tmp_path):
    # A PATH with make and the shell tools but no `pulumi`.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("make", "sh", "echo"):
        found = shutil.which(tool)
        assert found, tool
        (bin_dir / tool).symlink_to(found)
    done = subprocess.run(["make", "-s", "preview", "STACK=dev"], cwd=ROOT, capture_output=True, text=True,
                          env={"PATH": str(bin_dir)}, timeout=60)
    assert done.returncode != 0
    assert "Pulumi CLI is not installed" in done.stdout
    assert "pulumi stack select dev" in done.stdout


def test_plan_of_the_edge_stack_shows_each_region_s_elb():
    done = stacks("plan", "edge")
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "default/cube-svc  elb · pulumi · Local" in out and "default/cube-api  elb · user · Cluster" in out
    assert out.count("RegionalElb elb/") == 3  # two for cube-svc, one for cube-api's Chengdu pool
    assert "listener/tcp-80" in out and "listener/https-443" in out
    assert "replaced when spec.loadBalancerClass changes" in out  # the Service: its class is immutable
    assert 'isp="cmcc"' in out and 'isp="telecom"' in out  # each region's EIP takes its own carrier
    # Annotation keys in full, values as JSON, no Python reprs.
    assert 'service.beta.kubernetes.io/alibaba-cloud-loadbalancer-id: "lb-5s7crik3yo3bp03gqrbp5hefei"' in out
    assert "lb/id" not in out and "True" not in out and "{'" not in out
    assert '"cn-hefei-cmcc-2": {"adopted": true, "elbId": "lb-5s7crik3yo3bp03gqrbp5hefei"}' in out  # outputs, JSON


def test_plan_of_the_hybrid_stack_shows_nlb_and_clb():
    done = stacks("plan", "hybrid", "--json")
    assert done.returncode == 0, done.stderr
    types = {r["type"] for r in json.loads(done.stdout)["resources"]}
    assert {"ack-edge-lb:nlb:NlbExposure", "ack-edge-lb:clb:ClbExposure", "alicloud:nlb/serverGroup:ServerGroup",
            "alicloud:slb/listener:Listener"} <= types


def test_errors_keep_their_brackets(tmp_path):
    raw = base_config()
    raw["services"][0]["selector"] = {"app[v2]": "cube"}  # rich would read `[v2]` as markup and drop it
    done = stacks("validate", "ci", "--file", str(write_stack(tmp_path, raw)))
    assert done.returncode == 2
    assert "`app[v2]` is not a valid key here" in " ".join(done.stderr.split())


def test_a_misspelt_namespace_is_refused_not_planned_as_zero_services(tmp_path):
    path = tmp_path / "Pulumi.ci.yaml"
    raw = base_config()
    config = {f"ack-edge-lb:{k}": v for k, v in raw.items() if k != "services"}
    path.write_text(yaml.safe_dump({"config": {**config, "ack-edge-lab:services": raw["services"]}}))
    for command in ("validate", "plan"):
        done = stacks(command, "ci", "--file", str(path))
        assert done.returncode == 2, done.stdout
        err = " ".join(done.stderr.split())
        assert "`ack-edge-lab:services` is never read" in err
        assert "rename the key to `ack-edge-lb:services`" in err
        assert "Traceback" not in done.stderr


def test_a_stack_without_services_is_refused_as_pulumi_would(tmp_path):
    raw = base_config()
    del raw["services"]
    done = stacks("plan", "ci", "--file", str(write_stack(tmp_path, raw)), "--json")
    assert done.returncode == 2
    (problem,) = json.loads(done.stdout)["errors"]
    assert problem["path"] == "services" and problem["value"] is None
    assert problem["message"] == "Stack 'ci' is missing configuration value 'ack-edge-lb:services'"
    raw["services"] = []
    done = stacks("validate", "ci", "--file", str(write_stack(tmp_path, raw)))
    assert done.returncode == 0 and "is valid: 0 service(s)" in done.stdout


def test_settings_without_the_config_wrapper_are_named(tmp_path):
    path = tmp_path / "Pulumi.ci.yaml"
    path.write_text(yaml.safe_dump({f"ack-edge-lb:{k}": v for k, v in base_config().items()}))
    done = stacks("validate", "ci", "--file", str(path))
    assert done.returncode == 2
    err = " ".join(done.stderr.split())
    assert "`ack-edge-lb:services` is outside `config:`" in err and "add `cluster`" not in err


def test_an_unknown_stack_lists_the_stacks_there_are():
    for command in ("validate", "plan"):
        done = stacks(command, "nope")
        assert done.returncode == 2, done.stdout
        err = " ".join(done.stderr.split())
        assert "there is no stack file for stack `nope`" in err
        assert "use one of the stacks here (dev, edge, hybrid)" in err and "Traceback" not in done.stderr


def test_a_stack_file_path_is_taken_by_validate_and_plan(tmp_path):
    done = stacks("validate", "Pulumi.dev.yaml")
    assert done.returncode == 0, done.stderr
    assert "stack `dev` is valid: 1 service(s), 3 node pool(s)" in done.stdout
    done = stacks("plan", "Pulumi.dev.yaml", "--format", "json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["stack"] == "dev"
    path = write_stack(tmp_path, base_config())  # Pulumi.ci.yaml elsewhere: the stack is `ci`
    done = stacks("validate", str(path), "--json")
    assert done.returncode == 0 and json.loads(done.stdout)["stack"] == "ci"


def test_a_yaml_file_that_is_not_a_stack_file_is_named_so(tmp_path):
    other = tmp_path / "dev.yaml"
    other.write_text("config: {}\n")
    for target, says in ((str(other), "neither a stack name nor the path of a `Pulumi.<stack>.yaml` file"),
                         ("Pulumi.yaml", "this is the project file")):
        done = stacks("validate", target)
        assert done.returncode == 2
        err = " ".join(done.stderr.split())
        assert says in err and "dev, edge, hybrid" in err


def test_a_key_given_twice_and_a_yaml_error_are_clear_on_the_command_line(tmp_path):
    path = write_stack(tmp_path, base_config())
    path.write_text(path.read_text() + "  ack-edge-lb:services: []\n")
    for command in ("validate", "plan"):
        done = stacks(command, "ci", "--file", str(path))
        assert done.returncode == 2, done.stdout
        err = " ".join(done.stderr.split())
        assert "`ack-edge-lb:services` is given twice in this mapping, at lines" in err
        assert "Fix: keep one `ack-edge-lb:services:`" in err
    path.write_text("config:\n  ack-edge-lb:cluster: {id: c0123456789abcdef\n")
    done = stacks("validate", "ci", "--file", str(path), "--json")
    assert done.returncode == 2
    (problem,) = json.loads(done.stdout)["errors"]
    assert problem["message"].startswith("not valid YAML: expected ',' or '}', but got '<stream end>' at line 3, column 1")
