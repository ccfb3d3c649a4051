"""`Engine`: preview, up, refresh and destroy of the real program, with a checkpoint kept between them.

    engine = Engine(world, config)          # world: cloud emulator, fake Kubernetes API, doubles
    engine.preview()                        # a new stack: unknown ids and outputs, Check through the host
    engine.up()                             # Check, Create in dependency order, outputs into dependents
    engine.up(); assert engine.last.changes == []   # nothing but same steps, and no cloud write
    engine.refresh(); engine.preview()      # refresh reads every resource back; the preview is empty
    engine.destroy()                        # Delete in reverse dependency order

Every operation starts its own dynamic-provider host, as each CLI run starts its plugins, configures
it with the whole stack configuration (secrets as secrets), and runs `__main__.py` unchanged.
"""

from __future__ import annotations

import gc
import json
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from pulumi.runtime import mocks as pulumi_mocks

from components.dynamic import is_dynamic
from plan.offline import Run, run_main, run_under
from stacks.load import PROJECT
from tests.dynhost import DynamicHost
from tests.engine.monitor import EngineMonitor
from tests.engine.plugins import DEFAULT_REGION, BridgedPlugin, Double, DynamicPlugin, EngineError
from tests.engine.state import Checkpoint, Step


class _NoMocks(pulumi_mocks.Mocks):
    """The monitor does the work; nothing reaches these."""

    def new_resource(self, args):
        raise AssertionError("EngineMonitor handles every registration")

    def call(self, args):
        return {}


@dataclass
class Result:
    operation: str
    steps: list[Step]
    run: Optional[Run] = None
    error: Optional[BaseException] = None
    outputs: dict[str, Any] = field(default_factory=dict)
    dynamic_calls: list[tuple[str, str]] = field(default_factory=list)
    bridged_calls: list[tuple[str, str]] = field(default_factory=list)

    @property
    def changes(self) -> list[Step]:
        return [s for s in self.steps if s.op != "same"]

    def ops(self, op: str) -> list[str]:
        return [s.name for s in self.steps if s.op == op]

    def step(self, name: str) -> Step:
        """The step of a resource; of a replaced one, the replace (its old copy's delete is another step)."""
        found = [s for s in self.steps if s.name == name and s.op != "delete-replaced"]
        if len(found) != 1:
            raise KeyError(f"{len(found)} steps for {name!r}: {[s.op for s in found]}")
        return found[0]

    def raise_error(self) -> "Result":
        if self.error is not None:
            raise self.error
        return self


@dataclass
class World:
    """What the providers act on: environment for the dynamic host, doubles for bridged types."""

    env: dict[str, str] = field(default_factory=dict)
    # `alicloud:` / `kubernetes:` stack settings, sent to the dynamic host's Configure.
    provider_config: dict[str, Any] = field(default_factory=dict)
    secret_keys: tuple[str, ...] = ()
    doubles: dict[str, Double] = field(default_factory=dict)


class Engine:
    def __init__(self, world: World, config: dict[str, Any], stack: str = "test",
                 program: Callable[[], None] = run_main, host_timeout: float = 120.0):
        self.world, self.config, self.stack, self.program = world, config, stack, program
        self.host_timeout = host_timeout
        self.state = Checkpoint()
        self.history: list[Result] = []

    @property
    def last(self) -> Result:
        return self.history[-1]

    # --- operations ---------------------------------------------------------------------------------

    def preview(self, check: bool = True) -> Result:
        return self._deploy("preview", preview=True, check=check)

    def up(self, check: bool = True) -> Result:
        return self._deploy("up", preview=False, check=check)

    def refresh(self, check: bool = True) -> Result:
        with self._host() as host:
            dynamic, bridged = DynamicPlugin(host), BridgedPlugin(self.world.doubles, self._region_of(self.state))
            steps, new, error = [], self.state.copy(), None
            try:
                for resource in list(new):
                    if not resource.custom or resource.is_provider:
                        continue
                    plugin = dynamic if is_dynamic(resource.type) else bridged
                    found = plugin.read(resource.urn, resource)
                    if found is None:
                        new.remove(resource.urn)
                        steps.append(Step("read-gone", resource.urn, resource.type))
                        continue
                    _, outputs, inputs = found
                    changed = outputs != resource.outputs
                    resource.outputs = outputs
                    if inputs is not None:
                        resource.inputs = inputs
                    steps.append(Step("refresh" if changed else "same", resource.urn, resource.type))
            except EngineError as exc:
                error = exc
            self.state = new
            result = Result("refresh", steps, error=error, dynamic_calls=dynamic.calls, bridged_calls=bridged.calls)
        return self._done(result, check)

    def destroy(self, check: bool = True) -> Result:
        """What `pulumi destroy` does: every resource deleted, dependents first."""
        with self._host() as host:
            monitor = EngineMonitor(_NoMocks(), Run(self.stack, False), old=self.state, preview=False,
                                    dynamic=DynamicPlugin(host),
                                    bridged=BridgedPlugin(self.world.doubles, self._region_of(self.state)))
            error = None
            try:
                monitor.finish()
            except EngineError as exc:
                error = exc
            self.state = monitor.merged()
            result = Result("destroy", monitor.steps, error=error, dynamic_calls=monitor.dynamic.calls,
                            bridged_calls=monitor.bridged.calls)
        return self._done(result, check)

    # --- the program under the monitor ---------------------------------------------------------------

    def _host(self) -> DynamicHost:
        host = DynamicHost(env=self.world.env, stack=self.stack, call_timeout=self.host_timeout)
        return _Configured(host, self._stack_config(), self.world.secret_keys)

    def _region_of(self, *checkpoints: Checkpoint) -> Callable[[str], str]:
        """The region a provider reference works in: an explicit provider's `region`, else the default
        provider's (`alicloud:region`, ALICLOUD_REGION, ALIBABA_CLOUD_REGION, else cn-beijing)."""
        default = (self.world.provider_config.get("alicloud:region") or self.world.env.get("ALICLOUD_REGION")
                   or self.world.env.get("ALIBABA_CLOUD_REGION") or DEFAULT_REGION)

        def region_of(reference: str) -> str:
            urn = reference.rsplit("::", 1)[0]
            for checkpoint in checkpoints:
                provider = checkpoint.get(urn) if urn else None
                if provider is not None:
                    return str(provider.inputs.get("region") or default)
            return default
        return region_of

    def _stack_config(self) -> dict[str, Any]:
        project = {f"{PROJECT}:{k}": v if isinstance(v, str) else json.dumps(v) for k, v in self.config.items()}
        return {**project, **self.world.provider_config}

    def _deploy(self, operation: str, preview: bool, check: bool) -> Result:
        with self._host() as host:
            run = Run(self.stack, preview)
            new = Checkpoint()
            monitor = EngineMonitor(_NoMocks(), run, old=self.state, preview=preview, dynamic=DynamicPlugin(host),
                                    bridged=BridgedPlugin(self.world.doubles, self._region_of(new, self.state)),
                                    new=new)
            error = self._run_program(monitor, run, preview)
            if error is None:
                try:
                    monitor.finish()
                except EngineError as exc:
                    error = exc
            if not preview:
                self.state = monitor.merged()
            result = Result(operation, monitor.steps, run, error, run.outputs, monitor.dynamic.calls,
                            monitor.bridged.calls)
        return self._done(result, check)

    def _run_program(self, monitor: EngineMonitor, run: Run, preview: bool) -> Optional[BaseException]:
        config = {k: v if isinstance(v, str) else json.dumps(v) for k, v in self._stack_config().items()}
        error: Optional[BaseException] = None
        try:
            run_under(monitor, run, config, self.world.secret_keys, self.program)
        except Exception as exc:  # noqa: BLE001 - the program's failure is the operation's failure
            error = exc
        if error is not None or monitor.failure is not None:
            # A failed registration leaves the SDK's futures holding exceptions nobody retrieves; collect
            # them now, while nothing else runs, rather than in the middle of some later compile().
            gc.collect()
        return monitor.failure or error

    def _done(self, result: Result, check: bool) -> Result:
        self.history.append(result)
        return result.raise_error() if check else result


class _Configured:
    """A started, configured host for the duration of one operation."""

    def __init__(self, host: DynamicHost, config: dict[str, Any], secret_keys: tuple[str, ...]):
        self.host, self.config, self.secret_keys = host, config, secret_keys

    def __enter__(self) -> DynamicHost:
        self.host.start()
        self.host.configure(self.config, self.secret_keys, namespace=False)
        return self.host

    def __exit__(self, *exc: object) -> None:
        self.host.close()
