"""The harness's resource monitor: the engine's step generator and step executor for one operation.

The program runs unchanged under the Pulumi SDK's mock runtime; each RegisterResource reaches this
monitor, which does with it what the engine does (pulumi/pulumi pkg/resource/deploy/step_generator.go
and step.go):
- ignoreChanges resets the new inputs at those paths to the old ones, then the provider's Check runs
  (olds = the stored inputs); any failure stops the operation;
- no stored state: create (or import, when `import` is set: read by id, then diff like any other);
- else the provider's Diff (olds = the stored outputs). DIFF_UNKNOWN makes the engine diff the old and
  new inputs itself. replaceOnChanges widens the replacement to detailed-diff paths it covers;
- a replacement re-checks the program's inputs with no olds, then either deletes first (the
  `deleteBeforeReplace` option, else the provider's flag), with the dependents whose inputs come from
  the old resource and would be replaced too, or creates first and deletes the old one at the end;
- a protected resource is never replaced (refused when the step is planned: a preview reports it, an
  up stops before any step) and never deleted (refused when the delete executes, in a preview too;
  the other deletes go on, but nothing that resource depends on is deleted);
- in a preview nothing is executed: a create or update answers the checked inputs, and a created
  resource has an unknown id and unknown computed outputs;
- after the program, what it no longer declares and what was replaced are deleted in antichains,
  dependents first (ScheduleDeletes).
Register calls arrive on several threads, as the engine's do; the state has a lock.
"""

from __future__ import annotations

import copy
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any, Optional

from pulumi.runtime import rpc
from pulumi.runtime.mocks import _ensure_event_loop
from pulumi.runtime.proto import resource_pb2
from pulumi.runtime.sync_await import _sync_await

import contracts
from components.dynamic import is_dynamic
from plan.offline import RecordingMonitor, Run
from tests.engine.plugins import PROVIDER_KEY, BridgedPlugin, Diff, DynamicPlugin, EngineError, as_wire
from tests.engine.state import Checkpoint, ResourceState, Step


def _segments(path: str) -> list[str]:
    return [s for s in path.replace("[", ".").replace("]", "").split(".") if s]


def reset_path(new: dict[str, Any], old: dict[str, Any], path: str) -> None:
    """PropertyPath.Reset: the new value at `path` becomes the old one, or goes when the old has none."""
    segments = _segments(path)
    src, dst = old, new
    for segment in segments[:-1]:
        if not isinstance(src, dict) or not isinstance(dst, dict) or segment not in src or segment not in dst:
            return
        src, dst = src[segment], dst[segment]
    if not isinstance(dst, dict):
        return
    last = segments[-1]
    if isinstance(src, dict) and last in src:
        dst[last] = copy.deepcopy(src[last])
    else:
        dst.pop(last, None)


def _secret_keys(props: dict[str, Any]) -> list[str]:
    return sorted(k for k, v in props.items() if rpc.is_rpc_secret(v))


class EngineMonitor(RecordingMonitor):
    def __init__(self, mocks, run: Run, *, old: Checkpoint, preview: bool, dynamic: DynamicPlugin,
                 bridged: BridgedPlugin, new: Optional[Checkpoint] = None):
        super().__init__(mocks, run)
        self.old, self.preview = old, preview
        self.dynamic, self.bridged = dynamic, bridged
        self.new = new if new is not None else Checkpoint()
        self.steps: list[Step] = []
        # Replaced with create-before-replace, deleted at the end; a failed operation leaves them for the next.
        self.pending_deletes: list[ResourceState] = list(old.pending)
        self.deleted: set[str] = set()
        # Dependents deleted ahead of a delete-before-replace, re-created when the program registers them.
        self.recreating: set[str] = set()
        self.failure: Optional[BaseException] = None
        self.errors: list[str] = []  # reported, the operation fails at its end (preview)
        self._lock = threading.RLock()

    def plugin(self, type_: str):
        return self.dynamic if is_dynamic(type_) else self.bridged

    def step(self, op: str, urn: str, type_: str, keys=(), delete_before_replace: bool = False) -> None:
        with self._lock:
            self.steps.append(Step(op, urn, type_, tuple(keys), delete_before_replace))

    # --- RegisterResource ------------------------------------------------------------------------

    def RegisterResource(self, request):  # noqa: N802 - gRPC method name
        urn = self.make_urn(request.parent, request.type, request.name)
        if request.type == "pulumi:pulumi:Stack":
            return resource_pb2.RegisterResourceResponse(urn=urn)
        _ensure_event_loop()  # as MockMonitor: this thread deserializes resource references and serializes
        self.record(request, urn)
        try:
            state = self._register(request, urn)
        except BaseException as exc:  # the operation fails; the SDK reports it as the program's error
            with self._lock:
                self.failure = self.failure or exc
            raise
        with self._lock:
            self.new.put(state)
        outputs = dict(state.outputs)
        for key in state.secret_keys:  # the engine marks an output secret when its input was
            if key in outputs and not rpc.is_rpc_secret(outputs[key]):
                outputs[key] = rpc.wrap_rpc_secret(outputs[key])
        obj = _sync_await(rpc.serialize_properties(outputs, {}))
        return resource_pb2.RegisterResourceResponse(urn=urn, id=state.id, object=obj)

    def _register(self, request, urn: str) -> ResourceState:
        news = rpc.deserialize_properties(request.object, keep_unknowns=True)
        old = self.old.get(urn)
        property_dependencies = {key: sorted(deps.urns) for key, deps in request.propertyDependencies.items()}
        state = ResourceState(
            urn=urn, type=request.type, name=request.name, custom=bool(request.custom),
            parent=request.parent or None, id="", inputs=news, outputs={},
            dependencies=sorted(set(request.dependencies) | {d for deps in property_dependencies.values()
                                                              for d in deps}),
            property_dependencies=property_dependencies,
            provider=request.provider, protect=bool(request.protect),
            delete_before_replace=bool(request.deleteBeforeReplace) if request.deleteBeforeReplaceDefined
            else None,
            replace_on_changes=list(request.replaceOnChanges), ignore_changes=list(request.ignoreChanges),
            secret_keys=_secret_keys(news))
        if not state.custom:  # a component: the engine only records it
            self.step("same" if old else "create", urn, state.type)
            return state
        if old is None or urn in self.recreating:
            return self._create(state, request.importId, "replace" if old is not None else "create")
        goal = copy.deepcopy(news)
        for path in state.ignore_changes:
            reset_path(news, old.inputs, path)
        state.inputs = self._check(state, old.inputs, news)
        return self._change(old, state, goal)

    def _check(self, state: ResourceState, olds: dict[str, Any], news: dict[str, Any]) -> dict[str, Any]:
        checked, failures = self.plugin(state.type).check(state.urn, state.type, olds, news)
        if failures:
            raise EngineError(f"{state.urn}: Check failed: " + "; ".join(f"{p}: {r}" for p, r in failures))
        if not self.preview and any(contracts.is_unknown(v) for v in _leaves(checked)):
            raise EngineError(f"{state.urn}: unexpected unknown property value in the inputs Check returned")
        if PROVIDER_KEY in news:  # the host hands `__provider` back; the program's secret wrapping stays
            checked[PROVIDER_KEY] = news[PROVIDER_KEY]
        return checked

    def _create(self, state: ResourceState, import_id: str, op: str = "create", keys=(),
                dbr: bool = False) -> ResourceState:
        if import_id:
            return self._import(state, import_id)
        state.inputs = self._check(state, {}, state.inputs)
        if self.preview:
            state.outputs = dict(state.inputs)  # an unknown id; computed outputs stay unknown (absent)
        elif state.is_provider:
            state.id, state.outputs = f"provider-{abs(hash(state.urn)) % 10**8}", dict(state.inputs)
        else:
            state.id, state.outputs = self.plugin(state.type).create(state.urn, state.type, state.inputs,
                                                                     provider=state.provider)
        self.step(op, state.urn, state.type, keys, dbr)
        return state

    def _import(self, state: ResourceState, import_id: str) -> ResourceState:
        """ImportStep: Read by id; the imported state is then diffed like any stored one (an update may follow)."""
        plugin = self.plugin(state.type)
        probe = replace(state, id=import_id, inputs={}, outputs={})
        found = plugin.read(state.urn, probe)
        if found is None:
            raise EngineError(f"{state.urn}: resource '{import_id}' does not exist")
        _, outputs, inputs = found
        imported = replace(state, id=import_id, inputs=inputs if inputs is not None else dict(outputs),
                           outputs=outputs)
        self.step("import", state.urn, state.type)
        goal = copy.deepcopy(state.inputs)
        state.inputs = self._check(state, imported.inputs, state.inputs)
        diff = self._diff(imported, state)
        if self._replaces(diff, state):
            message = (f"{state.urn}: previously-imported resources that still specify an ID may not be replaced; "
                       f"please remove the `import` declaration from your program ({', '.join(diff.replaces)})")
            if not self.preview:
                raise EngineError(message)
            self.errors.append(message)
        if diff.changes:
            return self._update(imported, state, diff)
        del goal
        state.id, state.outputs = import_id, outputs
        return state

    def _diff(self, old: ResourceState, state: ResourceState) -> Diff:
        diff = self.plugin(state.type).diff(state.urn, old, state.inputs)
        if diff.changes is None:  # DIFF_UNKNOWN: the engine diffs the inputs itself
            paths = [p for p in contracts.changed_paths(as_wire(old.inputs), as_wire(state.inputs))
                     if not any(contracts.covers(i, p) for i in state.ignore_changes)]
            diff = Diff(bool(paths), diff.replaces, diff.delete_before_replace, paths)
        return diff

    @staticmethod
    def _replaces(diff: Diff, state: ResourceState) -> list[str]:
        keys = list(diff.replaces)
        if diff.changes and state.replace_on_changes:
            keys += [p for p in diff.paths if p not in keys
                     and any(contracts.covers(pattern, p) for pattern in state.replace_on_changes)]
        return keys

    def _change(self, old: ResourceState, state: ResourceState, goal: dict[str, Any]) -> ResourceState:
        if state.is_provider:
            diff = self.plugin(state.type).diff(state.urn, old, state.inputs)
            state.id, state.outputs = old.id, (dict(state.inputs) if diff.changes else old.outputs)
            self.step("update" if diff.changes else "same", state.urn, state.type, diff.paths)
            return state
        diff = self._diff(old, state)
        keys = self._replaces(diff, state)
        if state.provider != old.provider:
            keys.append("provider")
        if keys:
            return self._replace(old, state, goal, keys, diff.delete_before_replace)
        if not diff.changes:  # SameStep: the stored outputs, the new checked inputs
            state.id, state.outputs = old.id, old.outputs
            self.step("same", state.urn, state.type)
            return state
        return self._update(old, state, diff)

    def _update(self, old: ResourceState, state: ResourceState, diff: Diff) -> ResourceState:
        plugin = self.plugin(state.type)
        if isinstance(plugin, BridgedPlugin):
            plugin.refuse_immutable(state.urn, state.type, diff.paths)
        state.id = old.id
        if self.preview:
            # No supportsPreview (the dynamic host): the new inputs. A bridged provider's plan keeps the
            # computed outputs it already knows.
            state.outputs = dict(state.inputs) if plugin is self.dynamic else {**old.outputs, **state.inputs}
        else:
            state.outputs = plugin.update(state.urn, old, state.inputs)
        self.step("update", state.urn, state.type, diff.paths)
        return state

    def _replace(self, old: ResourceState, state: ResourceState, goal: dict[str, Any], keys: list[str],
                 provider_dbr: bool) -> ResourceState:
        if old.protect and state.protect:
            message = (f"unable to replace resource {old.urn!r} as it is currently marked for protection "
                       f"({', '.join(keys)} changed). To unprotect the resource, remove the `protect` flag from "
                       "the resource in your Pulumi program and run `pulumi up`")
            if not self.preview:
                raise EngineError(message)
            self.errors.append(message)
        dbr = state.delete_before_replace if state.delete_before_replace is not None else provider_dbr
        state.inputs = goal  # a replacement is checked afresh, without olds and without ignoreChanges
        if dbr:
            for dependent in self._dependent_replacements(old):
                self.recreating.add(dependent.urn)
                self.delete(dependent, replaced=True)
            with self._lock:
                self.pending_deletes.append(old)
            self.delete(old, replaced=True)
        created = self._create(state, "", "replace", keys, dbr)
        if not dbr:
            with self._lock:
                self.pending_deletes.append(old)
        return created

    def _dependent_replacements(self, root: ResourceState) -> list[ResourceState]:
        """calculateDependentReplacements: dependents whose inputs come from a replaced resource and whose
        provider says they would be replaced with those inputs unknown; dependents first."""
        replaced, found = {root.urn}, []
        for candidate in self.old:  # the checkpoint is in dependency order
            if candidate.urn in self.new or not candidate.custom or candidate.urn == root.urn:
                continue
            keys = [k for k, deps in candidate.property_dependencies.items() if replaced & set(deps)]
            if not keys:
                continue
            news = {**candidate.inputs, **{k: contracts.UNKNOWN for k in keys}}
            diff = self.plugin(candidate.type).diff(candidate.urn, candidate, news)
            if self._replaces(diff, candidate):
                replaced.add(candidate.urn)
                found.append(candidate)
        return list(reversed(found))

    # --- deletes -----------------------------------------------------------------------------------

    def delete(self, old: ResourceState, replaced: bool = False) -> None:
        """DeleteStep.Apply. `replaced`: the old copy of a resource that is re-created under its URN
        (replacement deletes skip the protect check, which was made when the replace was planned)."""
        if old.protect and not replaced:
            raise EngineError(f"resource {old.urn!r} cannot be deleted because it is protected. To unprotect "
                              "the resource, either remove the `protect` flag from the resource in your Pulumi "
                              f"program and run `pulumi up`, or use the command: `pulumi state unprotect '{old.urn}'`")
        if old.custom and not self.preview and not old.is_provider:
            self.plugin(old.type).delete(old.urn, old)
        with self._lock:
            self.step("delete-replaced" if replaced else "delete", old.urn, old.type)
            if replaced:
                self.pending_deletes = [p for p in self.pending_deletes if p is not old]
            else:
                self.new.remove(old.urn)
                self.deleted.add(old.urn)

    def finish(self) -> None:
        """GenerateDeletes + ScheduleDeletes: antichains, dependents first; a refused delete (protect)
        is reported, the rest go on except what the refused resource depends on."""
        condemned = [(r, False) for r in self.old if r.urn not in self.new and r.urn not in self.recreating]
        condemned += [(r, True) for r in self.pending_deletes]
        errored: set[str] = set()
        for antichain in _antichains(condemned):
            keep = _depended_on(errored, self.old)
            todo = [(old, replaced) for old, replaced in antichain if old.urn not in keep]
            # The steps of one antichain run in parallel (deployment_executor.go ExecuteParallel).
            with ThreadPoolExecutor(max_workers=max(1, min(8, len(todo)))) as pool:
                outcomes = list(pool.map(lambda item: self._try_delete(*item), todo))
            for (old, _), error in zip(todo, outcomes, strict=True):
                if error is not None:
                    self.errors.append(error)
                    errored.add(old.urn)
        if self.errors:
            raise EngineError("\n".join(self.errors))

    def _try_delete(self, old: ResourceState, replaced: bool) -> Optional[str]:
        try:
            self.delete(old, replaced=replaced)
        except EngineError as exc:
            return str(exc)
        return None

    def merged(self) -> Checkpoint:
        """The state the engine writes: what this operation produced, the old entries it did not reach,
        and the replaced resources still waiting for their delete."""
        out = self.new.copy()
        for old in self.old:
            if old.urn not in out and old.urn not in self.deleted:
                out.put(old)
        out.pending = list(self.pending_deletes)
        return out


def _edges(r: ResourceState) -> set[str]:
    """What a resource depends on for ordering: its parent, dependencies and provider."""
    out = set(r.dependencies)
    if r.parent:
        out.add(r.parent)
    if r.provider:
        out.add(r.provider.rsplit("::", 1)[0])
    return out


def _antichains(condemned: list[tuple[ResourceState, bool]]) -> list[list[tuple[ResourceState, bool]]]:
    """Rounds of resources none of whose dependencies is still condemned, reversed: dependents first."""
    left = list(condemned)
    rounds = []
    while left:
        urns = {r.urn for r, _ in left}
        ready = [(r, rep) for r, rep in left if not (_edges(r) - {r.urn}) & urns]
        if not ready:  # a cycle cannot happen in a checkpoint; guard the loop anyway
            ready = left
        rounds.append(ready)
        left = [item for item in left if item not in ready]
    return list(reversed(rounds))


def _depended_on(urns: set[str], state: Checkpoint) -> set[str]:
    """Everything the given resources depend on, transitively (must outlive them)."""
    by_urn = {r.urn: r for r in state}
    out, todo = set(), list(urns)
    while todo:
        r = by_urn.get(todo.pop())
        if r is None:
            continue
        for dep in _edges(r) - out:
            out.add(dep)
            todo.append(dep)
    return out


def _leaves(value: Any):
    if isinstance(value, dict):
        for v in value.values():
            yield from _leaves(v)
    elif isinstance(value, list):
        for v in value:
            yield from _leaves(v)
    else:
        yield value
