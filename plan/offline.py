"""Run the Pulumi program offline under the Pulumi SDK's mocks and record what it declares.

This is the engine of `python -m plan` and of the component tests: `__main__.py` runs
unchanged, every resource registration is recorded with its type, name, parent and inputs, and
the stack outputs are collected. In preview mode values only known after apply stay unknown.
"""

from __future__ import annotations

import functools
import gc
import json
import logging
from dataclasses import dataclass, field
from types import CodeType
from typing import Any, Callable, Optional, Sequence

import pulumi
from pulumi.output import Unknown
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import rpc, settings
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

from stacks.load import PROJECT, PROJECT_DIR

UNKNOWN = "(known after apply)"


DYNAMIC_PROVIDER = "(serialized dynamic provider)"


@dataclass(frozen=True)
class Registration:
    type: str
    name: str
    parent: Optional[str]  # the parent's name, None for children of the stack
    inputs: dict[str, Any]
    custom: bool
    # Resource options the engine acts on: protect, replaceOnChanges, ignoreChanges, deleteBeforeReplace.
    options: dict[str, Any] = field(default_factory=dict)
    # Names of the resources it waits for (dependsOn and every input's sources), sorted.
    dependencies: tuple[str, ...] = ()
    # Input key -> names of the resources its value comes from (only keys that come from some).
    property_dependencies: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"type": self.type, "name": self.name, "parent": self.parent, "inputs": self.inputs,
                "options": self.options, "dependencies": list(self.dependencies),
                "propertyDependencies": {k: list(v) for k, v in sorted(self.property_dependencies.items())}}


@dataclass
class Run:
    stack: str
    preview: bool
    resources: list[Registration] = field(default_factory=list)
    outputs: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def of_type(self, type_: str) -> list[Registration]:
        return [r for r in self.resources if r.type == type_]

    def named(self, name: str) -> Registration:
        matches = [r for r in self.resources if r.name == name]
        if len(matches) != 1:
            raise KeyError(f"{len(matches)} resources named {name!r}")
        return matches[0]

    def children(self, parent: str) -> list[Registration]:
        return [r for r in self.resources if r.parent == parent]

    def as_dict(self) -> dict[str, Any]:
        # Registrations arrive from several threads; their order carries no meaning.
        resources = sorted(self.resources, key=lambda r: r.name)
        return {"stack": self.stack, "resources": [r.as_dict() for r in resources],
                "outputs": self.outputs, "warnings": self.warnings}


def plain(value: Any) -> Any:
    """Deserialized Pulumi values as JSON-able data; unknowns become `(known after apply)`."""
    if isinstance(value, Unknown) or value == rpc.UNKNOWN:
        return UNKNOWN
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)  # the wire format carries every number as a double
    if isinstance(value, pulumi.Resource):
        return f"(resource {value._name})"  # noqa: SLF001 - the SDK offers no public accessor
    return value


# What the cloud or cluster would add to a resource's state after apply (tests use it to play a controller).
StateHook = Callable[[pulumi_mocks.MockResourceArgs], dict[str, Any]]


class _Mocks(pulumi_mocks.Mocks):
    """What the engine would answer: in preview nothing beyond the inputs is known yet."""

    def __init__(self, preview: bool, after_apply: Optional[StateHook] = None):
        self.preview = preview
        self.after_apply = after_apply

    def new_resource(self, args: pulumi_mocks.MockResourceArgs):
        if self.preview:
            return None, dict(args.inputs)
        state = dict(args.inputs)
        if self.after_apply is not None:
            state |= self.after_apply(args)
        return f"{args.name}-id", state

    def call(self, args: pulumi_mocks.MockCallArgs):
        return {}


class RecordingMonitor(pulumi_mocks.MockMonitor):
    """The SDK's mock monitor, also recording each registration with its parent."""

    def __init__(self, mocks: pulumi_mocks.Mocks, run: Run):
        super().__init__(mocks)
        self.run = run
        self._names: dict[str, str] = {}

    def RegisterResource(self, request):  # noqa: N802 - gRPC method name
        response = super().RegisterResource(request)
        self.record(request, response.urn)
        return response

    def record(self, request, urn: str) -> None:
        """Keep one registration: type, name, parent, inputs (unknowns shown as such) and options."""
        if request.type == "pulumi:pulumi:Stack":
            return
        self._names[urn] = request.name
        inputs = rpc.deserialize_properties(request.object, keep_unknowns=True)
        if "__provider" in inputs:  # a dill blob: meaningless to read, and large
            inputs["__provider"] = DYNAMIC_PROVIDER
        options = {"protect": request.protect, "replaceOnChanges": list(request.replaceOnChanges),
                   "ignoreChanges": list(request.ignoreChanges),
                   "deleteBeforeReplace": request.deleteBeforeReplace, "import": request.importId}
        # The SDK gathers dependencies from several futures: their order on the wire varies from run to run.
        by_input = {key: tuple(sorted({self._name(u) for u in deps.urns}))
                    for key, deps in request.propertyDependencies.items() if deps.urns}
        dependencies = {self._name(u) for u in request.dependencies} | {n for ns in by_input.values() for n in ns}
        self.run.resources.append(Registration(
            type=request.type,
            name=request.name,
            parent=self._names.get(request.parent),
            inputs=plain(inputs),
            custom=bool(request.custom),
            options={k: v for k, v in options.items() if v},
            dependencies=tuple(sorted(dependencies)),
            property_dependencies=dict(sorted(by_input.items())),
        ))

    def _name(self, urn: str) -> str:
        # A URN ends in `::<name>`; every dependency registered before its dependent, so it is known.
        return self._names.get(urn) or urn.rsplit("::", 1)[-1]


class _WarningLog(logging.Handler):
    def __init__(self, run: Run):
        super().__init__(logging.WARNING)
        self.run = run

    def emit(self, record: logging.LogRecord) -> None:
        self.run.warnings.append(record.getMessage())


MAIN = PROJECT_DIR / "__main__.py"


@functools.cache
def _compiled_main() -> CodeType:
    return compile(MAIN.read_text(encoding="utf-8"), str(MAIN), "exec")


def run_main() -> None:
    """`__main__.py`, executed as the Pulumi language host does: as the `__main__` module."""
    exec(_compiled_main(), {"__name__": "__main__", "__file__": str(MAIN)})  # noqa: S102


def run_program(raw_config: dict[str, Any], stack: str, preview: bool = True,
                after_apply: Optional[StateHook] = None, run: Optional[Run] = None,
                program: Callable[[], None] = run_main, secret_keys: Sequence[str] = ()) -> Run:
    """Run `program` (the project's `__main__.py`) with `raw_config` as the `ack-edge-lb:` settings.

    `run` may be passed in to keep what was recorded when the program fails. `secret_keys`: the full
    keys the engine marks secret (`ack-edge-lb:services`), as `pulumi up` passes them to the program.
    """
    run = run or Run(stack=stack, preview=preview)
    mocks = _Mocks(preview, after_apply)
    config = {f"{PROJECT}:{k}": json.dumps(v) for k, v in raw_config.items()}
    return run_under(RecordingMonitor(mocks, run), run, config, secret_keys, program)


def run_under(monitor: RecordingMonitor, run: Run, config: dict[str, str], secret_keys: Sequence[str] = (),
              program: Callable[[], None] = run_main) -> Run:
    """Run `program` against `monitor` (the SDK's mock runtime) with the whole stack configuration
    (`<namespace>:<key>` -> text), then collect the stack outputs into `run`."""
    # Not registered with `logging`: it goes away with the run. WARNING: the SDK's debug chatter is
    # not even formatted.
    logger = logging.Logger(f"ack-edge-lb.offline.{run.stack}", logging.WARNING)
    logger.addHandler(_WarningLog(run))

    settings.reset_options(project=PROJECT, stack=run.stack, preview=run.preview)
    # Always given, so that one run's secret keys never leak into the next.
    pulumi.runtime.set_all_config(dict(config), secret_keys=list(secret_keys))
    pulumi_mocks.set_mocks(monitor.mocks, project=PROJECT, stack=run.stack, preview=run.preview, logger=logger,
                           monitor=monitor)

    # The SDK keeps every pending registration's futures and tasks alive until the program ends; the
    # cyclic collector rescans them again and again, which made planning superlinear in the stack's
    # size (bench/plan_scale.py). A plan is a short, bounded batch: collect once afterwards instead.
    collecting = gc.isenabled()
    gc.disable()
    try:
        _sync_await(run_pulumi_func(program))
    finally:
        if collecting:
            gc.enable()

    root = settings.get_root_resource()
    for name, value in root.outputs.items():
        resolved = _sync_await(pulumi.Output.from_input(value).future(with_unknowns=True))
        run.outputs[name] = plain(resolved)
    return run
