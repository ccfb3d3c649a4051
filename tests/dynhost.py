"""Drive Pulumi's real dynamic-provider host (`python -m pulumi.dynamic`) over gRPC, offline.

The engine starts the host as a plugin, reads the port it prints, and calls the ResourceProvider
gRPC service with `struct_pb2.Struct` payloads that carry the dill-serialized provider in the
`__provider` property. This harness does the same, so a dynamic provider can be tested end to end
(serialization, import in another process, configure, protobuf round-trip of every value) without
the Pulumi CLI or a cloud account:

    with DynamicHost(env={"MY_TOKEN": "x"}) as host:
        host.configure({"endpoint": "https://example"})        # stack config, as the engine sends it
        inputs, failures = host.check(provider, {}, {"name": "a"})
        id_, outs = host.create(provider, inputs)
        d = host.diff(provider, id_, outs, {**inputs, "name": "b"})
        outs = host.update(provider, id_, outs, inputs)
        id_, outs, ins = host.read(provider, id_, outs)
        host.delete(provider, id_, outs)

What the engine does and the harness mirrors:
- `olds` given to Diff/Update and `properties` given to Read/Delete are the stored *outputs* (as
  returned by create/update/read, which include `__provider`); if the caller's dict lacks
  `__provider` the harness adds the serialized provider, as the engine's state always has it.
- `news` are the checked inputs, which carry `__provider`; the harness adds it when missing. An
  explicit `{"__provider": UNKNOWN}` is sent as is; note that in pulumi 3.272 the host's intended
  fallback to the olds' provider does not work (Check/Diff compare an `Unknown` object with the
  UNKNOWN string) and the call fails with a TypeError. Other UNKNOWN values reach Check/Diff as
  `pulumi.output.Unknown` objects and are silently dropped by Create/Update/Read/Delete.
- Numbers travel as protobuf doubles: an int input reaches the provider (and comes back) as float.
- Values that are `None` are dropped on the wire (both directions).
- The host answers Configure with acceptSecrets=False, so the engine strips secrets before Check/
  Diff/Create/...; the harness sends plain values. Secret *config* values are wrapped in the secret
  envelope and unwrapped by the host's Configure (top level only).

Errors raised by a provider method come back as grpc.StatusCode.UNKNOWN with the host's traceback
as details; the harness raises `ProviderError(method, message)` carrying them.
"""

from __future__ import annotations

import asyncio
import json
import os
import selectors
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

import grpc
from google.protobuf import struct_pb2
from pulumi.dynamic.dynamic import PROVIDER_KEY, ResourceProvider
from pulumi.runtime import rpc
from pulumi.runtime._serialization import _serialize
from pulumi.runtime.proto import provider_pb2, provider_pb2_grpc

from components.dynamic import serialize_provider

PROJECT_ROOT = Path(__file__).resolve().parent.parent
RESOURCE_TYPE = "pulumi-python:dynamic:Resource"
DYNAMIC_PACKAGE = "pulumi-python"
UNKNOWN = rpc.UNKNOWN
"""The wire sentinel for an unknown (computed) value, as the engine sends it during a preview."""

__all__ = [
    "PROVIDER_KEY",
    "UNKNOWN",
    "DiffOutcome",
    "DynamicHost",
    "ProviderError",
    "load_in_fresh_interpreter",
    "public",
    "serialize",
    "serialize_in_fresh_interpreter",
]


def _project_name(root: Path = PROJECT_ROOT) -> str:
    """`name:` from Pulumi.yaml (no YAML dependency needed for one top-level scalar)."""
    try:
        for line in (root / "Pulumi.yaml").read_text().splitlines():
            if line.startswith("name:"):
                return line.split(":", 1)[1].strip().strip("'\"")
    except OSError:
        pass
    return "project"


class ProviderError(Exception):
    """A gRPC call to the host failed. `message` is the host's details: for a provider exception,
    the full Python traceback formatted in the host process (so it contains the provider's own
    error message); `summary` is its last line, e.g. "ValueError: boom"."""

    def __init__(self, method: str, message: str, code: grpc.StatusCode | None = None,
                 stderr: str = "") -> None:
        self.method = method
        self.message = message
        self.code = code
        self.stderr = stderr
        text = f"{method} failed"
        if code is not None:
            text += f" ({code.name})"
        text += f": {self.summary}\n--- host details ---\n{message}"
        if stderr.strip():
            text += f"\n--- host stderr ---\n{stderr[-4000:]}"
        super().__init__(text)

    @property
    def summary(self) -> str:
        lines = [ln for ln in self.message.strip().splitlines() if ln.strip()]
        return lines[-1].strip() if lines else ""


@dataclass
class DiffOutcome:
    """The engine's view of a Diff: changes is True (DIFF_SOME), False (DIFF_NONE) or None (DIFF_UNKNOWN)."""

    changes: bool | None
    replaces: list[str] = field(default_factory=list)
    delete_before_replace: bool = False
    raw: provider_pb2.DiffResponse | None = None


def serialize(provider: ResourceProvider | None) -> str | None:
    """The `__provider` string, produced exactly as `pulumi.dynamic.Resource` does
    (`serialize_provider` inside a serialization-enabled context). None when the properties
    already carry it (the engine harness passes what the program registered)."""
    if provider is None:
        return None
    serialized, _contains_secrets = _serialize(True, serialize_provider, provider)
    return serialized


def public(props: Mapping[str, Any] | None) -> dict[str, Any]:
    """`props` without the `__provider` entry (handy for assertions)."""
    return {k: v for k, v in (props or {}).items() if k != PROVIDER_KEY}


def _child_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env.update({k: str(v) for k, v in (extra or {}).items()})
    paths = [str(PROJECT_ROOT)] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
    return env


_LOAD_SNIPPET = (
    "import base64, sys, dill\n"
    "from pulumi.runtime._serialization import _deserialize\n"
    "data = sys.stdin.read().strip()\n"
    "obj = _deserialize(lambda: dill.loads(base64.b64decode(data)))\n"
    "cls = type(obj)\n"
    "print(f'{cls.__module__}.{cls.__qualname__}')\n"
)

_SERIALIZE_SNIPPET = (
    "import importlib, sys\n"
    "from tests.dynhost import serialize\n"
    "mod, _, fn = sys.argv[1].partition(':')\n"
    "sys.stdout.write(serialize(getattr(importlib.import_module(mod), fn)()))\n"
)


def _run_python(code: str, args: Iterable[str] = (), stdin: str = "", timeout: float = 30.0) -> str:
    proc = subprocess.run([sys.executable, "-c", code, *args], input=stdin, capture_output=True, check=False,
                          text=True, cwd=PROJECT_ROOT, env=_child_env(), timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"python -c exited {proc.returncode}:\n{proc.stderr}")
    return proc.stdout.strip()


def load_in_fresh_interpreter(serialized: str, timeout: float = 30.0) -> str:
    """Base64-decode and dill-load `serialized` in a new interpreter (cwd = project root), the way
    the host does, and return the loaded object's class path, e.g. "tests.fixtures_dynprovider.X"."""
    return _run_python(_LOAD_SNIPPET, stdin=serialized, timeout=timeout)


def serialize_in_fresh_interpreter(factory: str, timeout: float = 30.0) -> str:
    """`serialize(module.factory())` computed in a new interpreter; `factory` is "module:callable"."""
    return _run_python(_SERIALIZE_SNIPPET, args=[factory], timeout=timeout)


class DynamicHost:
    """Context manager around one `python -m pulumi.dynamic` process and a gRPC channel to it.

    env: variables merged over os.environ for the host (plus PYTHONPATH with the project root,
    PYTHONUNBUFFERED=1 so the port line is not stuck in a pipe buffer, and PULUMI_PROJECT, which
    the engine sets and which the host uses to resolve un-namespaced config keys).
    """

    def __init__(self, env: Mapping[str, str] | None = None, *, project: str | None = None,
                 stack: str = "test", resource_type: str = RESOURCE_TYPE,
                 start_timeout: float = 15.0, call_timeout: float = 15.0,
                 stop_timeout: float = 5.0) -> None:
        self.project = project or _project_name()
        self.stack = stack
        self.resource_type = resource_type
        self.start_timeout = start_timeout
        self.call_timeout = call_timeout
        self.stop_timeout = stop_timeout
        self.env = _child_env({"PYTHONUNBUFFERED": "1", "PULUMI_PROJECT": self.project, **(env or {})})
        self.port: int | None = None
        self.process: subprocess.Popen | None = None
        self.channel: grpc.Channel | None = None
        self.stub: provider_pb2_grpc.ResourceProviderStub | None = None
        self.startup_seconds: float | None = None
        self.returncode: int | None = None
        self._stderr = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_lock = threading.Lock()

    # ---------------------------------------------------------------- lifecycle

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start(self) -> None:
        started = time.perf_counter()
        self._loop = asyncio.new_event_loop()
        self._stderr = tempfile.TemporaryFile(prefix="dynhost-stderr-")  # noqa: SIM115 (closed in close())
        self.process = subprocess.Popen([sys.executable, "-m", "pulumi.dynamic"], cwd=PROJECT_ROOT,
                                        env=self.env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                        stderr=self._stderr)
        try:
            self.port = self._read_port()
            # The host listens before it prints the port, so no readiness wait is needed (and
            # grpc.channel_ready_future would add a 0.2 s connectivity-poll delay to channel.close()).
            self.channel = grpc.insecure_channel(f"127.0.0.1:{self.port}")
            self.stub = provider_pb2_grpc.ResourceProviderStub(self.channel)
        except BaseException:
            self.close()
            raise
        self.startup_seconds = time.perf_counter() - started

    def _read_port(self) -> int:
        assert self.process is not None and self.process.stdout is not None
        deadline = time.monotonic() + self.start_timeout
        buf = b""
        fd = self.process.stdout.fileno()
        with selectors.DefaultSelector() as sel:
            sel.register(fd, selectors.EVENT_READ)
            while b"\n" not in buf:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"dynamic-provider host printed no port within {self.start_timeout:.1f}s"
                                       f" (stdout so far: {buf!r})\n--- host stderr ---\n{self.stderr_text()}")
                if sel.select(timeout=min(remaining, 0.1)):
                    chunk = os.read(fd, 4096)
                    if not chunk:  # EOF: the host exited
                        self.process.wait(timeout=self.stop_timeout)
                        raise RuntimeError(f"dynamic-provider host exited with {self.process.returncode} before"
                                           f" printing its port (stdout: {buf!r})\n--- host stderr ---\n"
                                           f"{self.stderr_text()}")
                    buf += chunk
        line = buf.split(b"\n", 1)[0].strip()
        try:
            return int(line)
        except ValueError:
            raise RuntimeError(f"unexpected first line from the host: {line!r}\n--- host stderr ---\n"
                               f"{self.stderr_text()}") from None

    def close(self) -> None:
        if self.channel is not None:
            self.channel.close()
            self.channel = None
            self.stub = None
        proc, self.process = self.process, None
        if proc is not None:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=self.stop_timeout)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=self.stop_timeout)
            if proc.stdout is not None:
                proc.stdout.close()
            self.returncode = proc.returncode
        if self._loop is not None:
            self._loop.close()
            self._loop = None
        if self._stderr is not None:
            self._last_stderr = self.stderr_text()
            self._stderr.close()
            self._stderr = None

    def stderr_text(self) -> str:
        """Everything the host wrote to stderr so far (kept in a temp file)."""
        f = self._stderr
        if f is None:
            return getattr(self, "_last_stderr", "")
        pos = f.tell()
        try:
            f.seek(0)
            return f.read().decode("utf-8", "replace")
        finally:
            f.seek(pos)

    # ---------------------------------------------------------------- helpers

    def urn(self, name: str) -> str:
        return f"urn:pulumi:{self.stack}::{self.project}::{self.resource_type}::{name}"

    def _struct(self, props: Mapping[str, Any] | None) -> struct_pb2.Struct:
        assert self._loop is not None, "DynamicHost is not started"
        with self._loop_lock:  # calls come from several threads (the engine harness), the loop is one
            return self._loop.run_until_complete(rpc.serialize_properties(dict(props or {}), {}))

    @staticmethod
    def _with_provider(props: Mapping[str, Any] | None, serialized: str | None) -> dict[str, Any]:
        out = dict(props or {})
        if serialized is not None:
            out.setdefault(PROVIDER_KEY, serialized)
        return out

    def _call(self, method: str, request: Any) -> Any:
        if self.stub is None:
            raise RuntimeError("DynamicHost is not started (use it as a context manager)")
        try:
            return getattr(self.stub, method)(request, timeout=self.call_timeout)
        except grpc.RpcError as err:
            code = err.code() if hasattr(err, "code") else None
            details = (err.details() if hasattr(err, "details") else None) or str(err)
            stderr = "" if code == grpc.StatusCode.UNKNOWN else self.stderr_text()
            raise ProviderError(method, details, code, stderr) from None

    def _ids(self, name: str) -> dict[str, str]:
        """`name` is a resource name, or a whole URN (the engine harness sends the program's URNs)."""
        if name.startswith("urn:pulumi:"):
            qualified, short = name.split("::")[2:4]
            return {"urn": name, "name": short, "type": qualified.split("$")[-1]}
        return {"urn": self.urn(name), "name": name, "type": self.resource_type}

    # ---------------------------------------------------------------- engine calls

    def get_plugin_info(self) -> str:
        from google.protobuf import empty_pb2
        return self._call("GetPluginInfo", empty_pb2.Empty()).version

    def configure(self, config: Mapping[str, Any] | None = None, secret_keys: Iterable[str] = (),
                  *, namespace: bool = True) -> provider_pb2.ConfigureResponse:
        """Send Configure as the engine does for the dynamic provider: `args` hold the *whole*
        stack configuration with namespaced keys ("<project>:<key>", "alicloud:region").

        Keys without ":" are prefixed with the project name (what `pulumi config set key v` stores)
        unless namespace=False. Keys in `secret_keys` (bare or namespaced) are sent as secrets.
        The host only stores the config: each provider's `configure()` runs later, on the first
        call that deserializes it, and only once per serialized provider per host process."""
        secret = set(secret_keys)
        args: dict[str, Any] = {}
        variables: dict[str, str] = {}
        for key, value in (config or {}).items():
            full = f"{self.project}:{key}" if namespace and ":" not in key else key
            args[full] = rpc.wrap_rpc_secret(value) if (key in secret or full in secret) else value
            variables[f"{DYNAMIC_PACKAGE}:config:{full}"] = value if isinstance(value, str) else json.dumps(value)
        request = provider_pb2.ConfigureRequest(
            variables=variables, args=self._struct(args), acceptSecrets=True, acceptResources=True,
            sends_old_inputs=True, sends_old_inputs_to_delete=True)
        return self._call("Configure", request)

    def check(self, provider: ResourceProvider | None, olds: Mapping[str, Any] | None,
              news: Mapping[str, Any], *, name: str = "example") -> tuple[dict[str, Any], list[tuple[str, str]]]:
        """Check(olds = previous inputs, {} on create; news = program inputs) -> (inputs, failures)."""
        serialized = serialize(provider)
        olds_ = self._with_provider(olds, serialized) if olds else {}
        request = provider_pb2.CheckRequest(**self._ids(name), olds=self._struct(olds_),
                                            news=self._struct(self._with_provider(news, serialized)))
        resp = self._call("Check", request)
        inputs = rpc.deserialize_properties(resp.inputs, True)
        return inputs, [(f.property, f.reason) for f in resp.failures]

    def diff(self, provider: ResourceProvider | None, id_: str, olds: Mapping[str, Any], news: Mapping[str, Any],
             *, old_inputs: Mapping[str, Any] | None = None, ignore_changes: Iterable[str] = (),
             name: str = "example") -> DiffOutcome:
        """Diff(olds = stored OUTPUTS, e.g. the outs of create/update; news = checked inputs)."""
        serialized = serialize(provider)
        request = provider_pb2.DiffRequest(
            id=id_, **self._ids(name), olds=self._struct(self._with_provider(olds, serialized)),
            news=self._struct(self._with_provider(news, serialized)),
            old_inputs=self._struct(self._with_provider(old_inputs, serialized) if old_inputs else {}),
            ignoreChanges=list(ignore_changes))
        resp = self._call("Diff", request)
        changes = {provider_pb2.DiffResponse.DIFF_SOME: True,
                   provider_pb2.DiffResponse.DIFF_NONE: False}.get(resp.changes)
        return DiffOutcome(changes, list(resp.replaces), bool(resp.deleteBeforeReplace), resp)

    def create(self, provider: ResourceProvider | None, props: Mapping[str, Any], *,
               name: str = "example", timeout: float = 0.0) -> tuple[str, dict[str, Any]]:
        """Create(properties = checked inputs) -> (id, outs); outs include `__provider`."""
        request = provider_pb2.CreateRequest(**self._ids(name), timeout=timeout,
                                             properties=self._struct(self._with_provider(props, serialize(provider))))
        resp = self._call("Create", request)
        return resp.id, rpc.deserialize_properties(resp.properties)

    def read(self, provider: ResourceProvider | None, id_: str, props: Mapping[str, Any] | None,
             inputs: Mapping[str, Any] | None = None, *,
             name: str = "example") -> tuple[str, dict[str, Any], dict[str, Any] | None]:
        """Read(properties = stored outputs on refresh, or None/{} for a `get`; inputs = stored inputs)
        -> (id, outs, inputs or None when the provider returned none)."""
        serialized = serialize(provider)
        request = provider_pb2.ReadRequest(
            id=id_, **self._ids(name),
            properties=self._struct(self._with_provider(props, serialized) if props else {}),
            inputs=self._struct(self._with_provider(inputs, serialized) if inputs is not None else {}))
        resp = self._call("Read", request)
        new_inputs = rpc.deserialize_properties(resp.inputs) if resp.HasField("inputs") else None
        return resp.id, rpc.deserialize_properties(resp.properties), new_inputs

    def update(self, provider: ResourceProvider | None, id_: str, olds: Mapping[str, Any], news: Mapping[str, Any],
               *, old_inputs: Mapping[str, Any] | None = None, name: str = "example",
               timeout: float = 0.0) -> dict[str, Any]:
        """Update(olds = stored OUTPUTS, news = checked inputs) -> outs (with `__provider` of news)."""
        serialized = serialize(provider)
        request = provider_pb2.UpdateRequest(
            id=id_, **self._ids(name), timeout=timeout,
            olds=self._struct(self._with_provider(olds, serialized)),
            news=self._struct(self._with_provider(news, serialized)),
            old_inputs=self._struct(self._with_provider(old_inputs, serialized) if old_inputs else {}))
        return rpc.deserialize_properties(self._call("Update", request).properties)

    def delete(self, provider: ResourceProvider | None, id_: str, props: Mapping[str, Any], *,
               old_inputs: Mapping[str, Any] | None = None, name: str = "example",
               timeout: float = 0.0) -> None:
        """Delete(properties = stored outputs)."""
        serialized = serialize(provider)
        request = provider_pb2.DeleteRequest(
            id=id_, **self._ids(name), timeout=timeout,
            properties=self._struct(self._with_provider(props, serialized)),
            old_inputs=self._struct(self._with_provider(old_inputs, serialized) if old_inputs else {}))
        self._call("Delete", request)
