"""ExistingObjectPatch: labels and annotations on a Kubernetes object that someone else creates; never creates it.

Why not pulumi-kubernetes' `CustomResourcePatch`: Patch resources apply with server-side apply, which creates
the object when it does not exist yet (pulumi/pulumi-kubernetes#2194). A PoolService created that way is not
the controller's: OpenYurt's load-balancer-set controller (pkg/yurtmanager/controller/loadbalancerset/
loadbalancerset/load_balancer_set_controller.go) builds `<service>-<pool>` with the labels
`openyurt.io/service-name`, `openyurt.io/pool-name` and `poolservice.openyurt.io/managed-by:
load-balancer-set-controller` and ownerReferences to the Service and the NodePool (buildPoolService); it works
only with PoolServices carrying that managed-by label (currentPoolServices), and for one of the same name
without it, it records a `ManagedConflict` event and leaves it alone (compareAndUpdatePoolService). So a
PoolService made by us first never reaches the Service's status and outlives the Service. A NodePool is ACK's.

- create / update: wait, at most `waitSeconds`, polling every `poll_interval`, until the object exists, then
  one JSON merge patch (`application/merge-patch+json`, which answers 404 for a missing object instead of
  creating it) with only our keys; a 404 on the patch means it vanished: wait again within the same bound.
  Never PUT, POST or apply. Keys dropped from the inputs are removed only when we wrote them and they still
  hold our value, under a resourceVersion precondition (409 -> read again).
- `owned` records the keys this resource wrote; a key that already had our value was someone else's and stays.
- diff reads the object: a change when our keys' desired values differ from what was stored or what is live,
  so every `pulumi up` repairs drift. read (refresh) returns the live values of our keys in `live`; a gone
  object reads as gone (empty id). delete removes only owned keys whose live value is still ours.
- The kubeconfig comes from the provider configuration (`kubernetes:kubeconfig`, `kubernetes:context`), else
  the environment: never from inputs, never in outputs.
"""

from __future__ import annotations

import json
import re
import time
from typing import Any, Callable, Optional

import pulumi
from pulumi.dynamic import (
    CheckFailure,
    CheckResult,
    ConfigureRequest,
    CreateResult,
    DiffResult,
    ReadResult,
    ResourceProvider,
    UpdateResult,
)

from components.dynamic import DynamicResource
from components.wire import fully_known, is_known, normalized

KUBECONFIG_CONFIG, CONTEXT_CONFIG = "kubernetes:kubeconfig", "kubernetes:context"  # what pulumi-kubernetes reads
POOL_SERVICE_API, NODE_POOL_API = "network.openyurt.io/v1alpha1", "apps.openyurt.io/v1beta2"
POOL_SERVICE_WAIT = 300.0  # the edge controller creates it seconds after the Service; allow a slow controller
NODE_POOL_WAIT = 30.0  # the NodePool exists before the program runs: a missing one is a wrong pool id
MAX_WAIT = 3600
SECTIONS = ("labels", "annotations")
IDENTITY = ("apiVersion", "plural", "namespace", "name")  # another object: a replacement (apiVersion: its group)
INPUTS = ("apiVersion", "kind", "plural", "namespace", "name", "labels", "annotations", "waitSeconds")
FIELD_MANAGER = "ack-edge-lb"
MERGE_PATCH = "application/merge-patch+json"
MAX_CONFLICTS = 5
TRANSIENT = (429, 500, 502, 503, 504)
ANNOTATIONS_MAX = 256 * 1024  # TotalAnnotationSizeLimitB

_DNS_LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_DNS_SUBDOMAIN = re.compile(rf"^{_DNS_LABEL}(\.{_DNS_LABEL})*$")
_NAME_PART = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_VERSION = re.compile(r"^v[1-9][0-9]*((alpha|beta)[1-9][0-9]*)?$")


# Who creates the object, and when; how to look for it.
CREATORS = {
    ("network.openyurt.io", "poolservices"): (
        "the edge controller (ECM) creates once the Service exists and the node pool matches its "
        "service.openyurt.io/nodepool-labelselector", "kubectl get ps -n {namespace}"),
    ("apps.openyurt.io", "nodepools"): ("ACK creates when the node pool exists (named by its node pool id)",
                                        "kubectl get np"),
}
NAMESPACED = {("network.openyurt.io", "poolservices"): True, ("apps.openyurt.io", "nodepools"): False}


class ObjectPatchError(Exception):
    """A clear failure; the message names the object, never credentials."""


# --- pure logic -----------------------------------------------------------------------------------

def _group(api_version: Any) -> Any:
    return api_version.rpartition("/")[0] if isinstance(api_version, str) else api_version


def describe(props: dict[str, Any]) -> str:
    where = f"{props['namespace']}/{props['name']}" if props.get("namespace") else props["name"]
    return f"{props['kind']} {where} ({props['apiVersion']})"


def object_id(props: dict[str, Any]) -> str:
    """The object's API path below /apis/: unambiguous and readable."""
    scope = f"namespaces/{props['namespace']}/" if props.get("namespace") else ""
    return f"{props['apiVersion']}/{scope}{props['plural']}/{props['name']}"


def plan_patch(meta: dict[str, Any], desired: dict[str, dict[str, str]], stored: dict[str, dict[str, str]],
               owned: dict[str, list[str]]) -> tuple[Optional[dict[str, Any]], dict[str, list[str]]]:
    """The metadata merge patch that makes our keys desired (None: nothing to write), and the keys then owned.

    A key is removed only when we wrote it and it still holds the value we wrote."""
    patch: dict[str, Any] = {}
    owned_after: dict[str, list[str]] = {}
    for section in SECTIONS:
        live, want, mine = meta.get(section) or {}, desired.get(section) or {}, set(owned.get(section) or ())
        writes: dict[str, Optional[str]] = {k: v for k, v in want.items() if live.get(k) != v}
        writes.update({k: None for k, v in (stored.get(section) or {}).items()
                       if k not in want and k in mine and live.get(k) == v})
        if writes:
            patch[section] = writes
        owned_after[section] = sorted((mine & want.keys()) | {k for k, v in writes.items() if v is not None})
    return patch or None, owned_after


def release_patch(meta: dict[str, Any], stored: dict[str, dict[str, str]],
                  owned: dict[str, list[str]]) -> Optional[dict[str, Any]]:
    """Nulls for the owned keys whose live value is still the one we wrote."""
    live = live_values(meta, stored)
    patch = {s: {k: None for k in owned.get(s) or () if k in live[s] and live[s][k] == stored[s][k]} for s in live}
    return {s: keys for s, keys in patch.items() if keys} or None


def live_values(meta: dict[str, Any], keys: dict[str, dict[str, str]]) -> dict[str, dict[str, str]]:
    """The live values of the keys in `keys` (absent keys left out), per section."""
    return {s: {k: (meta.get(s) or {})[k] for k in keys.get(s) or {} if k in (meta.get(s) or {})} for s in SECTIONS}


def _is_api_version(value: Any) -> bool:
    group, _, version = value.rpartition("/") if isinstance(value, str) else ("", "", "")
    return "." in group and bool(_DNS_SUBDOMAIN.match(group)) and bool(_VERSION.match(version))


SCALARS: tuple[tuple[str, Callable[[Any], Any], str], ...] = (
    ("apiVersion", _is_api_version, f"is not a custom resource's group/version such as {NODE_POOL_API}"),
    ("kind", lambda v: isinstance(v, str) and re.match(r"^[A-Z][A-Za-z0-9]*$", v), "is not a kind such as NodePool"),
    ("plural", lambda v: isinstance(v, str) and re.match(r"^[a-z][a-z0-9]{0,62}$", v),
     "is not a resource's plural such as nodepools"),
    ("name", lambda v: isinstance(v, str) and len(v) <= 253 and _DNS_SUBDOMAIN.match(v),
     "is not an object name (a DNS subdomain: lower case, digits, `-`, `.`)"),
    ("namespace", lambda v: v is None or isinstance(v, str) and len(v) <= 63 and re.match(rf"^{_DNS_LABEL}$", v),
     "is not a namespace name"),
    ("waitSeconds", lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and 0 <= v <= MAX_WAIT,
     f"is not 0-{MAX_WAIT} seconds"),
)


def _key_problem(key: str) -> Optional[str]:
    """What makes `key` no qualified name (`prefix/name`, as label and annotation keys must be)."""
    prefix, _, name = key.rpartition("/")
    if "/" in prefix or (key.count("/") == 1 and not prefix):
        return "has more than one `/` or an empty prefix"
    if prefix and (len(prefix) > 253 or not _DNS_SUBDOMAIN.match(prefix)):
        return "has a prefix that is not a DNS subdomain (lower case, digits, `-`, `.`)"
    if len(name) > 63 or not _NAME_PART.match(name):
        return "must be at most 63 letters, digits, `-`, `_` or `.`, starting and ending with a letter or digit"
    return None


def _section_failures(section: str, values: Any) -> list[CheckFailure]:
    if not isinstance(values, dict):
        return [CheckFailure(section, f"`{section}` must be a mapping of strings, not {type(values).__name__}")]
    failures = [CheckFailure(section, f"key {k!r} {_key_problem(k)}") for k in values if _key_problem(k)]
    for key, value in values.items():
        if not is_known(value):
            continue
        if not isinstance(value, str):
            failures.append(CheckFailure(section, f"the value of {key!r} must be a string, not {type(value).__name__}"))
        elif section == "labels" and (len(value) > 63 or not _LABEL_VALUE.match(value)):
            failures.append(CheckFailure(section, f"the value {value!r} of {key!r} is not a label value (at most 63 "
                                                  "letters, digits, `-`, `_`, `.`, starting and ending with a letter "
                                                  "or digit)"))
    size = sum(len(k) + len(v) for k, v in values.items() if isinstance(v, str))
    if section == "annotations" and size > ANNOTATIONS_MAX:
        failures.append(CheckFailure(section, f"the annotations take {size} bytes; the limit is {ANNOTATIONS_MAX}"))
    return failures


def check_inputs(news: dict[str, Any]) -> list[CheckFailure]:
    """Failures of the known inputs; unknown ones (a preview) are left for later."""
    failures = [CheckFailure(key, f"{news.get(key)!r} {why}") for key, valid, why in SCALARS
                if is_known(news.get(key)) and not valid(news.get(key))]
    api_version, plural, namespace = news.get("apiVersion"), news.get("plural"), news.get("namespace")
    scope = NAMESPACED.get((_group(api_version), plural)) if fully_known([api_version, plural]) else None
    if scope is not None and is_known(namespace) and bool(namespace) != scope:
        failures.append(CheckFailure("namespace", f"{plural} are " + (
            "namespaced: give the namespace" if scope else "cluster-scoped: give no namespace")))
    for section in SECTIONS:
        if is_known(news.get(section)) and news.get(section) is not None:
            failures += _section_failures(section, news[section])
    if all(is_known(news.get(s)) and not news.get(s) for s in SECTIONS):
        failures.append(CheckFailure("labels", "nothing to set: give labels or annotations"))
    return failures


# --- the provider ---------------------------------------------------------------------------------

class ExistingObjectPatchProvider(ResourceProvider):
    """Stateless until `configure`; the serialized provider holds only its poll interval."""

    def __init__(self, poll_interval: float = 3.0):
        self.poll_interval = poll_interval

    def configure(self, req: ConfigureRequest) -> None:
        self._config = {key: req.config.get(key) for key in (KUBECONFIG_CONFIG, CONTEXT_CONFIG)
                        if req.config.get(key)}

    def _objects(self, props: dict[str, Any]) -> "_ObjectApi":
        from reconciler.cluster import load_api_client

        # The provider configuration mapping: `kubernetes:kubeconfig` (path or content) and `kubernetes:context`.
        return _ObjectApi(load_api_client(getattr(self, "_config", None)), props)

    @staticmethod
    def _outputs(props: dict[str, Any], live: dict[str, Any], owned: dict[str, list[str]]) -> dict[str, Any]:
        meta = live.get("metadata") or {}
        desired = {s: props.get(s) or {} for s in SECTIONS}
        return {**{k: props.get(k) for k in INPUTS}, **desired, "owned": owned,
                "live": live_values(meta, desired), "resourceVersion": meta.get("resourceVersion") or "",
                "uid": meta.get("uid") or ""}

    def _converge(self, props: dict[str, Any], stored: dict[str, dict[str, str]],
                  owned: dict[str, list[str]]) -> dict[str, Any]:
        wait = float(props.get("waitSeconds") or 0)
        desired = {s: props.get(s) or {} for s in SECTIONS}
        with self._objects(props) as objects:
            deadline, conflicts = time.monotonic() + wait, 0  # from the first look, not from the client's loading
            while True:
                live = objects.get(waiting=True)
                last = objects.trouble
                if live is not None:
                    patch, owned_after = plan_patch(live.get("metadata") or {}, desired, stored, owned)
                    if patch is None:
                        return self._outputs(props, live, owned_after)
                    if any(None in section.values() for section in patch.values()):  # a removal: only if unchanged
                        patch["resourceVersion"] = live["metadata"]["resourceVersion"]
                    status, result = objects.patch({"metadata": patch})
                    if status == 200:
                        return self._outputs(props, result, owned_after)
                    if status == 409 and conflicts < MAX_CONFLICTS:
                        conflicts += 1
                        continue
                    if status == 409:
                        raise ObjectPatchError(f"{describe(props)} kept changing: {MAX_CONFLICTS} conflicts in a row")
                    last = "it was there, then gone before the patch"
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise ObjectPatchError(_timeout_message(props, wait, last))
                time.sleep(min(self.poll_interval, remaining))

    # --- Pulumi protocol ------------------------------------------------------------------------

    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        inputs = normalized({k: news.get(k) for k in INPUTS})
        if inputs.get("waitSeconds") is None:
            inputs["waitSeconds"] = POOL_SERVICE_WAIT
        for section in SECTIONS:
            if inputs.get(section) is None:
                inputs[section] = {}
        return CheckResult(inputs, check_inputs(inputs))

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        before, after = normalized(olds), normalized(news)
        replaces = [k for k in IDENTITY if not is_known(after.get(k)) or (
            _group(before.get(k)) != _group(after.get(k)) if k == "apiVersion" else before.get(k) != after.get(k))]
        if replaces:
            return DiffResult(changes=True, replaces=replaces, delete_before_replace=False)
        desired = {s: after.get(s) or {} for s in SECTIONS}
        if not fully_known(desired) or not fully_known([after.get("apiVersion"), after.get("kind")]):
            return DiffResult(changes=True, replaces=[])
        if desired != {s: before.get(s) or {} for s in SECTIONS} or \
                (before.get("apiVersion"), before.get("kind")) != (after.get("apiVersion"), after.get("kind")):
            return DiffResult(changes=True, replaces=[])
        with self._objects(after) as objects:
            live = objects.get()
        drifted = live is None or live_values(live.get("metadata") or {}, desired) != desired
        return DiffResult(changes=drifted, replaces=[])

    def create(self, props: dict[str, Any]) -> CreateResult:
        props = normalized(props)
        return CreateResult(object_id(props), self._converge(props, {}, {}))

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        olds = normalized(olds)
        return UpdateResult(self._converge(normalized(news), {s: olds.get(s) or {} for s in SECTIONS},
                                           olds.get("owned") or {}))

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        props = normalized(props)
        with self._objects(props) as objects:
            live = objects.get()
        if live is None:
            return ReadResult("", {})
        return ReadResult(id_, self._outputs(props, live, props.get("owned") or {}))

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        props = normalized(props)
        stored = {s: props.get(s) or {} for s in SECTIONS}
        with self._objects(props) as objects:
            for _ in range(MAX_CONFLICTS + 1):
                live = objects.get()
                if live is None:
                    return  # the object is gone, and our keys with it
                patch = release_patch(live.get("metadata") or {}, stored, props.get("owned") or {})
                if patch is None:
                    return
                status, _ = objects.patch({"metadata": {**patch,
                                                        "resourceVersion": live["metadata"]["resourceVersion"]}})
                if status in (200, 404):
                    return
        raise ObjectPatchError(f"{describe(props)} kept changing: {MAX_CONFLICTS} conflicts in a row")


def _timeout_message(props: dict[str, Any], wait: float, last: str) -> str:
    group, namespace = _group(props["apiVersion"]), props.get("namespace")
    who, check = CREATORS.get((group, props["plural"]), (
        "another party creates", f"kubectl get {props['plural']}.{group}" + (f" -n {namespace}" if namespace else "")))
    return (f"{describe(props)} does not exist after waiting {wait:g} s; it is not created here: it is an object "
            f"that {who}. Check with `{check.format(namespace=namespace)}`" + (f"; {last}" if last else "") + ".")


class _ObjectApi:
    """One object through CustomObjectsApi: get (None when missing) and merge patch; the client closes on exit."""

    def __init__(self, api_client: Any, props: dict[str, Any]):
        from kubernetes import client as k8s

        self.api_client, self.props = api_client, props
        group, _, version = props["apiVersion"].rpartition("/")
        api = k8s.CustomObjectsApi(api_client)
        namespace = props.get("namespace")
        self._args = (group, version, *([namespace] if namespace else []), props["plural"], props["name"])
        self._get = api.get_namespaced_custom_object if namespace else api.get_cluster_custom_object
        self._patch = api.patch_namespaced_custom_object if namespace else api.patch_cluster_custom_object

    def __enter__(self) -> "_ObjectApi":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.api_client.close()

    def _call(self, action: str, method: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[int, Any]:
        import urllib3
        from kubernetes.client.exceptions import ApiException

        from reconciler.cluster import REQUEST_TIMEOUT

        try:
            return 200, method(*self._args, *args, _request_timeout=REQUEST_TIMEOUT, **kwargs)
        except ApiException as exc:
            if exc.status in (404, 409) or exc.status in TRANSIENT:
                return exc.status or 0, _status_message(exc)
            resource = f"{self.props['plural']}.{_group(self.props['apiVersion'])}"
            hint = {401: "the kubeconfig's credentials were refused",
                    403: f"the identity needs get and patch on {resource}"}
            raise ObjectPatchError(f"cannot {action} {describe(self.props)}: HTTP {exc.status} {exc.reason}: "
                                   f"{_status_message(exc)}" + (f" ({hint[exc.status]})" if exc.status in hint else
                                                                "")) from None
        except urllib3.exceptions.HTTPError as exc:  # refused, reset, timed out (after urllib3's own retries)
            return 0, f"{type(exc).__name__}: {exc}"

    def get(self, waiting: bool = False) -> Optional[dict[str, Any]]:
        """The object, or None when it is not there; `waiting`, a transient failure (429, 5xx, connection) is
        "not there yet" too, and `trouble` says what it was."""
        status, body = self._call("read", self._get)
        self.trouble = "" if status in (200, 404) else f"the last read failed: {body}"
        if status == 200:
            return body
        if status == 404 or waiting:
            return None
        raise ObjectPatchError(f"cannot read {describe(self.props)}: {body}")

    def patch(self, body: dict[str, Any]) -> tuple[int, Any]:
        """(200, object), (404, why) when it is gone, (409, why) on a resourceVersion conflict."""
        status, result = self._call("patch", self._patch, body, field_manager=FIELD_MANAGER, _content_type=MERGE_PATCH)
        if status in (200, 404, 409):
            return status, result
        raise ObjectPatchError(f"cannot patch {describe(self.props)}: {result}")


def _status_message(exc: Any) -> str:
    """The message of the API's Status answer, else the HTTP phrase."""
    try:
        message = json.loads(exc.body or "{}").get("message")
    except (ValueError, AttributeError):
        message = None
    return message or str(exc.reason or "")


# --- the resource ---------------------------------------------------------------------------------

class ExistingObjectPatch(DynamicResource, module="cluster", name="ExistingObjectPatch"):
    """Labels and annotations on an object that another party creates (PoolService, NodePool); never creates it."""

    live: pulumi.Output[dict[str, dict[str, str]]]
    owned: pulumi.Output[dict[str, list[str]]]
    resource_version: pulumi.Output[str]
    uid: pulumi.Output[str]

    def translate_output_property(self, prop: str) -> str:
        return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", prop).lower()  # resourceVersion -> resource_version

    def __init__(self, name: str, *, api_version: str, kind: str, plural: str, object_name: pulumi.Input[str],
                 namespace: Optional[str] = None, labels: Optional[pulumi.Input[dict[str, pulumi.Input[str]]]] = None,
                 annotations: Optional[pulumi.Input[dict[str, pulumi.Input[str]]]] = None,
                 wait_seconds: float = POOL_SERVICE_WAIT, opts: Optional[pulumi.ResourceOptions] = None,
                 provider: Optional[ExistingObjectPatchProvider] = None):
        super().__init__(provider or ExistingObjectPatchProvider(), name, {
            "apiVersion": api_version, "kind": kind, "plural": plural, "namespace": namespace, "name": object_name,
            "labels": labels or {}, "annotations": annotations or {}, "waitSeconds": wait_seconds,
            "live": None, "owned": None, "resourceVersion": None, "uid": None,
        }, opts)

    @classmethod
    def pool_service(cls, name: str, *, namespace: str, pool_service: str,
                     annotations: pulumi.Input[dict[str, pulumi.Input[str]]], wait_seconds: float = POOL_SERVICE_WAIT,
                     opts: Optional[pulumi.ResourceOptions] = None) -> "ExistingObjectPatch":
        """Annotations on the PoolService `<service>-<pool>` the edge controller creates."""
        return cls(name, api_version=POOL_SERVICE_API, kind="PoolService", plural="poolservices",
                   namespace=namespace, object_name=pool_service, annotations=annotations,
                   wait_seconds=wait_seconds, opts=opts)

    @classmethod
    def node_pool(cls, name: str, *, node_pool: str, labels: Optional[dict[str, str]] = None,
                  annotations: Optional[dict[str, str]] = None, wait_seconds: float = NODE_POOL_WAIT,
                  opts: Optional[pulumi.ResourceOptions] = None) -> "ExistingObjectPatch":
        """Labels and annotations on the NodePool ACK keeps for node pool `node_pool`."""
        return cls(name, api_version=NODE_POOL_API, kind="NodePool", plural="nodepools", object_name=node_pool,
                   labels=labels, annotations=annotations, wait_seconds=wait_seconds, opts=opts)
