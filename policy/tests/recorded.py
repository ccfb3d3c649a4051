"""Resources recorded from the program under mocks, as the policy runtime would hand them to the pack.

`plan()` runs `venv/bin/python -m plan <stack> --format json` with the program's own virtualenv (the
policy venv cannot import the program: protobuf 5 vs 6) and returns the JSON. The converters build
what the engine sends: URNs with the parent type chain, unknown values as the engine's sentinels,
and pulumi-policy's own argument classes (`ResourceValidationArgs`, `PolicyResource`,
`StackValidationArgs`), or the gRPC messages of the Analyzer protocol for the end-to-end test.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
from pathlib import Path
from typing import Any, Optional

from google.protobuf import struct_pb2
from pulumi.runtime.proto import analyzer_pb2
from pulumi_policy import (
    PolicyCustomTimeouts,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    StackValidationArgs,
)
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE, unknown_checking_proxy

POLICY_DIR = Path(__file__).resolve().parents[1]
REPO = POLICY_DIR.parent
MAIN_PYTHON = Path(os.environ.get("ACK_EDGE_LB_PYTHON", REPO / "venv" / "bin" / "python"))
PROJECT = "ack-edge-lb"
RECORDED_UNKNOWN = "(known after apply)"  # what stacks/offline.py writes for an unknown value
STACK_TYPE = "pulumi:pulumi:Stack"


def plan(stack: str, file: Optional[Path] = None) -> dict[str, Any]:
    """The program's offline plan of `stack` (from Pulumi.<stack>.yaml, or `file`)."""
    if not MAIN_PYTHON.exists():
        raise RuntimeError(f"{MAIN_PYTHON} is missing: run `make test` (or `make plan`) once to create venv/")
    command = [str(MAIN_PYTHON), "-m", "plan", stack, "--format", "json"]
    if file is not None:
        command += ["--file", str(file)]
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=300, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} exited with {done.returncode}:\n{done.stdout}\n{done.stderr}")
    return json.loads(done.stdout)


def sentinels(value: Any) -> Any:
    """Recorded unknowns back to the engine's sentinel, as a preview sends them to the pack."""
    if value == RECORDED_UNKNOWN:
        return UNKNOWN_STRING_VALUE
    if isinstance(value, dict):
        return {k: sentinels(v) for k, v in value.items()}
    if isinstance(value, list):
        return [sentinels(v) for v in value]
    return value


class Recorded:
    """One recorded plan: its resources by name, their URNs, ready to mutate (`copy()`) and convert."""

    def __init__(self, plan_json: dict[str, Any], stack: Optional[str] = None):
        self.stack = stack or plan_json["stack"]
        self.resources: list[dict[str, Any]] = plan_json["resources"]

    def copy(self, stack: Optional[str] = None) -> "Recorded":
        return Recorded({"stack": stack or self.stack, "resources": copy.deepcopy(self.resources)})

    def by_name(self, name: str) -> dict[str, Any]:
        matches = [r for r in self.resources if r["name"] == name]
        assert len(matches) == 1, f"{len(matches)} resources named {name!r}"
        return matches[0]

    def of_type(self, type_: str) -> list[dict[str, Any]]:
        return [r for r in self.resources if r["type"] == type_]

    def urn(self, name: str) -> str:
        chain, resource = [], self.by_name(name)
        while resource is not None:
            chain.append(resource["type"])
            resource = self.by_name(resource["parent"]) if resource["parent"] else None
        return f"urn:pulumi:{self.stack}::{PROJECT}::{'$'.join(reversed(chain))}::{name}"

    def stack_urn(self) -> str:
        return f"urn:pulumi:{self.stack}::{PROJECT}::{STACK_TYPE}::{PROJECT}-{self.stack}"

    def parent_urn(self, r: dict[str, Any]) -> str:
        return self.urn(r["parent"]) if r["parent"] else self.stack_urn()

    # --- pulumi-policy's argument objects (what the validate callbacks receive) -----------------

    def options(self, r: dict[str, Any]) -> PolicyResourceOptions:
        opts = r.get("options") or {}
        return PolicyResourceOptions(
            protect=bool(opts.get("protect", False)), ignore_changes=list(opts.get("ignoreChanges", [])),
            delete_before_replace=opts.get("deleteBeforeReplace"), aliases=[],
            custom_timeouts=PolicyCustomTimeouts(0, 0, 0), additional_secret_outputs=[],
            parent=self.parent_urn(r))

    def resource_args(self, r: dict[str, Any], config: Optional[dict[str, Any]] = None) -> ResourceValidationArgs:
        return ResourceValidationArgs(r["type"], unknown_checking_proxy(sentinels(r["inputs"])), self.urn(r["name"]),
                                      r["name"], self.options(r), None, config)

    def stack_args(self, config: Optional[dict[str, Any]] = None) -> StackValidationArgs:
        policy_resources: dict[str, PolicyResource] = {}
        for r in self.resources:
            policy_resources[r["name"]] = PolicyResource(
                r["type"], unknown_checking_proxy(sentinels(r["inputs"])), self.urn(r["name"]), r["name"],
                self.options(r), None, None, [], {})
        for r in self.resources:  # as AnalyzeStack links them: parent objects
            if r["parent"]:
                policy_resources[r["name"]].parent = policy_resources[r["parent"]]
        return StackValidationArgs(list(policy_resources.values()), config)

    # --- Analyzer gRPC messages (what the engine sends the pack) ---------------------------------

    def _struct(self, r: dict[str, Any]) -> struct_pb2.Struct:
        struct = struct_pb2.Struct()
        struct.update(sentinels(r["inputs"]))
        return struct

    def _grpc_options(self, r: dict[str, Any]) -> analyzer_pb2.AnalyzerResourceOptions:
        opts = r.get("options") or {}
        return analyzer_pb2.AnalyzerResourceOptions(
            protect=bool(opts.get("protect", False)), ignoreChanges=list(opts.get("ignoreChanges", [])),
            deleteBeforeReplace=bool(opts.get("deleteBeforeReplace", False)),
            deleteBeforeReplaceDefined="deleteBeforeReplace" in opts, parent=self.parent_urn(r))

    def analyze_request(self, r: dict[str, Any]) -> analyzer_pb2.AnalyzeRequest:
        return analyzer_pb2.AnalyzeRequest(type=r["type"], properties=self._struct(r), urn=self.urn(r["name"]),
                                           name=r["name"], options=self._grpc_options(r))

    def analyze_stack_request(self) -> analyzer_pb2.AnalyzeStackRequest:
        return analyzer_pb2.AnalyzeStackRequest(resources=[
            analyzer_pb2.AnalyzerResource(type=r["type"], properties=self._struct(r), urn=self.urn(r["name"]),
                                          name=r["name"], options=self._grpc_options(r), parent=self.parent_urn(r))
            for r in self.resources])
