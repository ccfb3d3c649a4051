"""Fixtures: the program's plans of the example stacks and of small variants, recorded once per session;
the pack's policies loaded from `__main__.py`; the pack served over gRPC as the Pulumi CLI runs it."""

from __future__ import annotations

import os
import runpy
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional

import grpc
import pytest
import yaml
from google.protobuf import empty_pb2, struct_pb2
from pulumi.runtime.proto import analyzer_pb2, analyzer_pb2_grpc
from pulumi_policy import ResourceValidationPolicy, StackValidationPolicy

from tests.recorded import POLICY_DIR, REPO, Recorded, plan

NS = "ack-edge-lb"


def _stack_file(name: str) -> dict[str, Any]:
    return yaml.safe_load((REPO / f"Pulumi.{name}.yaml").read_text(encoding="utf-8"))


def _variants(directory: Path) -> dict[str, tuple[str, Path]]:
    """Small stacks derived from the examples, each valid for the program's own rules."""
    files: dict[str, tuple[str, Path]] = {}

    def write(key: str, stack: str, config: dict[str, Any]) -> None:
        path = directory / f"Pulumi.{key}.yaml"
        path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
        files[key] = (stack, path)

    # A prod stack that turns protection off: the program allows it, the pack must not.
    unprotected = _stack_file("edge")
    unprotected["config"][f"{NS}:protect"] = False
    write("prod-unprotected", "prod", unprotected)

    # EIPs of 500 Mbit/s: inside the API's 5-10000 (the program accepts it), above the default ceiling.
    wide = _stack_file("edge")
    for service in wide["config"][f"{NS}:services"]:
        service["loadBalancer"]["eip"]["bandwidth"] = 500
    write("wide-eip", "ci", wide)

    # Two Services sharing the self-managed ELB of each pool (`shared: true`, Cluster, distinct ports).
    shared = _stack_file("edge")
    elb_ids = {"np-hefei": "lb-5s7crik3yo3bp03gqrbp5hefei", "np-chengdu": "lb-5s7crik3yo3bp03gqrbp5chengdu"}
    shared["config"][f"{NS}:services"] = [
        {"name": name, "selector": {"app": name}, "ports": [{"name": "http", "port": port, "targetPort": 8080}],
         "externalTrafficPolicy": "Cluster", "nodePoolSelector": {"k8s-svc": "cube"},
         "loadBalancer": {"type": "elb", "management": "user", "elbIds": dict(elb_ids), "shared": True}}
        for name, port in (("cube-web", 80), ("cube-api", 8080))]
    write("shared", "ci", shared)
    return files


@pytest.fixture(scope="session")
def plans(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Recorded]:
    """Every recorded plan, by key. Planned in parallel: about a second each."""
    jobs: dict[str, tuple[str, Optional[Path]]] = {
        "dev": ("dev", None), "edge": ("edge", None), "hybrid": ("hybrid", None),
        "prod-edge": ("prod", REPO / "Pulumi.edge.yaml"), "prod-hybrid": ("prod", REPO / "Pulumi.hybrid.yaml"),
        **_variants(tmp_path_factory.mktemp("stacks")),
    }
    with ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2)) as pool:
        futures = {key: pool.submit(plan, stack, file) for key, (stack, file) in jobs.items()}
        return {key: Recorded(future.result()) for key, future in futures.items()}


@pytest.fixture(scope="session")
def policies() -> dict[str, Any]:
    """The pack's policies by name, loaded from `__main__.py` without serving them."""
    namespace = runpy.run_path(str(POLICY_DIR / "__main__.py"), run_name="ack_edge_lb_policy_pack")
    return {p.name: p for p in namespace["POLICIES"]}


@dataclass(frozen=True)
class Finding:
    policy: str
    message: str
    urn: Optional[str]


Run = Callable[..., list[Finding]]


@pytest.fixture(scope="session")
def run_pack(policies: dict[str, Any]) -> Run:
    """Every policy's validate callback over a recorded plan, as the analyzer calls them: resource
    policies once per resource, stack policies once. An UnknownValueError is not caught: a policy must
    skip what a preview cannot know instead of failing on it."""

    def run(recorded: Recorded, config: Optional[dict[str, dict[str, Any]]] = None) -> list[Finding]:
        config = config or {}
        found: list[Finding] = []
        for name, policy in policies.items():
            def report(message: str, urn: Optional[str] = None, _name: str = name) -> None:
                found.append(Finding(_name, message, urn))

            if isinstance(policy, ResourceValidationPolicy):
                for r in recorded.resources:
                    args = recorded.resource_args(r, config.get(name))
                    before = len(found)
                    assert policy.validate(args, report) is None
                    # The runtime ignores a resource policy's urn and reports the resource's own.
                    found[before:] = [Finding(f.policy, f.message, args.urn) for f in found[before:]]
            elif isinstance(policy, StackValidationPolicy):
                assert policy.validate(recorded.stack_args(config.get(name)), report) is None
        return found

    return run


class PackServer:
    """The pack as the Pulumi CLI runs it (`python -u -m pulumi.policy <engine> <pack dir>` in the pack's
    venv), driven over the Analyzer gRPC protocol."""

    def __init__(self, stack_env: str):
        env = {**os.environ, "PULUMI_PROJECT": NS, "PULUMI_STACK": stack_env, "PULUMI_DRY_RUN": "true"}
        self.process = subprocess.Popen([sys.executable, "-u", "-m", "pulumi.policy", "127.0.0.1:1", "."],
                                        cwd=POLICY_DIR, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                        text=True)
        port = self.process.stdout.readline().strip()
        if not port.isdigit():
            self.close()
            raise RuntimeError(f"the pack did not start: {port!r} {self.process.stderr.read()}")
        self.channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        self.stub = analyzer_pb2_grpc.AnalyzerStub(self.channel)

    def info(self) -> analyzer_pb2.AnalyzerInfo:
        return self.stub.GetAnalyzerInfo(empty_pb2.Empty(), timeout=30)

    def configure(self, config: Optional[dict[str, dict[str, Any]]] = None) -> None:
        request = analyzer_pb2.ConfigureAnalyzerRequest()
        for policy, properties in (config or {}).items():
            struct = struct_pb2.Struct()
            struct.update(properties)
            request.policyConfig[policy].CopyFrom(
                analyzer_pb2.PolicyConfig(enforcementLevel=analyzer_pb2.MANDATORY, properties=struct))
        self.stub.Configure(request, timeout=30)

    def analyze(self, recorded: Recorded, config: Optional[dict[str, dict[str, Any]]] = None
                ) -> list[analyzer_pb2.AnalyzeDiagnostic]:
        """A preview's worth of analysis: every resource, then the stack."""
        self.configure(config)
        diagnostics = []
        for r in recorded.resources:
            diagnostics += self.stub.Analyze(recorded.analyze_request(r), timeout=30).diagnostics
        diagnostics += self.stub.AnalyzeStack(recorded.analyze_stack_request(), timeout=30).diagnostics
        return list(diagnostics)

    def close(self) -> None:
        if getattr(self, "channel", None) is not None:
            self.channel.close()
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        for stream in (self.process.stdout, self.process.stderr):
            stream.close()


@pytest.fixture(scope="session")
def pack_server() -> PackServer:
    # PULUMI_STACK names a stack none of the analyzed resources belong to: the pack must go by the URN.
    server = PackServer(stack_env="dev")
    yield server
    server.close()
