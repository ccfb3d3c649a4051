"""`python -m stacks validate` and `python -m plan`: what a user sees, and the exit codes."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from tests.conftest import base_config

ROOT = Path(__file__).resolve().parents[1]


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
    assert set(plan) == {"stack", "resources", "outputs", "warnings"}
    assert plan["stack"] == "dev"
    by_name = {r["name"]: r for r in plan["resources"]}
    assert by_name["default/cube-svc/service"]["parent"] == "default/cube-svc"
    assert by_name["default/cube-svc/service"]["type"] == "kubernetes:core/v1:Service"
    assert plan["outputs"]["externalIp"] == {"default/cube-svc": "(known after apply)"}
    assert any("ELB and EIP" in w for w in plan["warnings"])


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
    assert "isp=cmcc" in out and "isp=telecom" in out  # each region's EIP takes its own carrier


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
