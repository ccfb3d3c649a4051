"""The cluster side of the pulumi-kubernetes resources the program declares, against the fake API server.

A Service is applied as pulumi-kubernetes 4 applies it (server-side apply, field manager
`pulumi-kubernetes`), so the API server's defaulting and rules answer: NodePorts and the
healthCheckNodePort it allocates come back as outputs, an immutable `spec.loadBalancerClass` is
refused. When a Service exists, the world's EndpointSlice controller publishes its pods (`on_service`).
Kinds the fake API does not serve (DaemonSets, and the controller's Namespace, ServiceAccount, RBAC, Secret,
Deployment, PodDisruptionBudget) are kept here, as the API server would keep them: ids as pulumi-kubernetes
gives them (`<namespace>/<name>`, `<name>` for cluster-scoped kinds), a `metadata.uid` per object, a namespaced
object refused while its namespace does not exist, a second object of one name refused (a patch resource is
server-side applied, so it creates or takes over). The CRD patch also registers the CRD with the fake API
where it serves CRDs (an existing one stays: the program never deletes it, `retainOnDelete`). `on_kept` hears
of each kept object once it exists (its inputs) and once it is gone (None): what the world's kubelet runs.
"""

from __future__ import annotations

import itertools
import uuid
from typing import Any, Callable, Optional

import yaml
from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes.client.exceptions import ApiException

from components.wire import normalized
from tests.engine.plugins import EngineError

APPLY = "application/apply-patch+yaml"
FIELD_MANAGER = "pulumi-kubernetes"
CRD_PATCH = "kubernetes:apiextensions.k8s.io/v1:CustomResourceDefinitionPatch"
CLUSTER_SCOPED = ("kubernetes:core/v1:Namespace", "kubernetes:rbac.authorization.k8s.io/v1:ClusterRole",
                  "kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding",
                  "kubernetes:apiextensions.k8s.io/v1:CustomResourceDefinition", CRD_PATCH)
NAMESPACE = "kubernetes:core/v1:Namespace"
# The namespaces an API server creates itself.
BUILTIN_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")


class KubernetesDouble:
    def __init__(self, kubeconfig: str, on_service: Optional[Callable[[dict[str, Any]], None]] = None,
                 on_kept: Optional[Callable[[str, str, Optional[dict[str, Any]]], None]] = None):
        self.api = k8s_config.new_client_from_config_dict(yaml.safe_load(kubeconfig), persist_config=False)
        self.core = k8s.CoreV1Api(self.api)
        self.on_service = on_service
        self.on_kept = on_kept
        self._kept: dict[tuple[str, str], dict[str, Any]] = {}  # (type, id) -> the object's metadata
        self._serial = itertools.count(1)

    def close(self) -> None:
        self.api.close()

    # --- the Double protocol -----------------------------------------------------------------------

    def create(self, type_: str, inputs: dict[str, Any], region: str = "") -> tuple[str, dict[str, Any]]:
        if type_ == "kubernetes:core/v1:Service":
            live = self._apply_service(inputs)
            return self._id(live), self._outputs(live)
        if type_ == CRD_PATCH:
            self._register_crd(inputs)
        id_, outputs = self._keep(type_, inputs)
        if self.on_kept is not None:
            self.on_kept(type_, id_, inputs)
        return id_, outputs

    def update(self, type_: str, id_: str, old: dict[str, Any], inputs: dict[str, Any], region: str = ""
               ) -> dict[str, Any]:
        if type_ == "kubernetes:core/v1:Service":
            return self._outputs(self._apply_service(inputs))
        uid = self._kept[(type_, id_)]["uid"]
        self._kept[(type_, id_)] = {**(inputs.get("metadata") or {}), "uid": uid}
        return {"metadata": self._kept[(type_, id_)]}

    def read(self, type_: str, id_: str, old: dict[str, Any], region: str = "") -> Optional[dict[str, Any]]:
        if type_ == "kubernetes:core/v1:Service":
            namespace, name = id_.split("/")
            try:
                live = self._call(self.core.read_namespaced_service, name, namespace)
            except EngineError as exc:
                if "(404)" in str(exc):
                    return None
                raise
            return self._outputs(live)
        kept = self._kept.get((type_, id_))
        return None if kept is None else {"metadata": kept}

    def delete(self, type_: str, id_: str, old: dict[str, Any], region: str = "") -> None:
        if type_ == "kubernetes:core/v1:Service":
            namespace, name = id_.split("/")
            try:
                self._call(self.core.delete_namespaced_service, name, namespace)
            except EngineError as exc:
                if "(404)" not in str(exc):
                    raise
            return
        if self._kept.pop((type_, id_), None) is not None and self.on_kept is not None:
            self.on_kept(type_, id_, None)

    # --- helpers -------------------------------------------------------------------------------------

    def _apply_service(self, inputs: dict[str, Any]) -> dict[str, Any]:
        inputs = normalized(inputs)  # the wire carries numbers as doubles; Kubernetes wants integers
        meta = inputs["metadata"]
        body = {"apiVersion": "v1", "kind": "Service", "metadata": meta, "spec": inputs.get("spec") or {}}
        live = self._call(self.core.patch_namespaced_service, meta["name"], meta.get("namespace", "default"), body,
                          field_manager=FIELD_MANAGER, force=True, _content_type=APPLY)
        if self.on_service is not None:
            self.on_service(live)
        return live

    def _call(self, method, *args, **kwargs) -> dict[str, Any]:
        try:
            return self.api.sanitize_for_serialization(method(*args, **kwargs))
        except ApiException as exc:
            # What pulumi-kubernetes reports when the API server refuses an update (provider.go:2497-2505).
            raise EngineError(f"the Kubernetes API server reported an error ({exc.status}): {exc.body}") from None

    @staticmethod
    def _id(live: dict[str, Any]) -> str:
        return f"{live['metadata']['namespace']}/{live['metadata']['name']}"

    @staticmethod
    def _outputs(live: dict[str, Any]) -> dict[str, Any]:
        return {"spec": live.get("spec") or {}, "status": live.get("status") or {}}

    def _keep(self, type_: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        meta = dict(inputs.get("metadata") or {})
        name = meta.get("name") or f"object-{next(self._serial)}"
        if type_ in CLUSTER_SCOPED:
            id_ = name
        else:
            namespace = meta.setdefault("namespace", "default")
            if namespace not in BUILTIN_NAMESPACES and (NAMESPACE, namespace) not in self._kept:
                raise EngineError(f"the Kubernetes API server reported an error (404): namespaces \"{namespace}\" "
                                  "not found")
            id_ = f"{namespace}/{name}"
        if (type_, id_) in self._kept and not type_.endswith("Patch"):
            raise EngineError(f"the Kubernetes API server reported an error (409): {id_} already exists")
        self._kept[(type_, id_)] = {**meta, "uid": str(uuid.uuid4())}
        return id_, {"metadata": self._kept[(type_, id_)]}

    def _register_crd(self, inputs: dict[str, Any]) -> None:
        body = normalized({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
                           "metadata": inputs["metadata"], "spec": inputs["spec"]})
        try:
            k8s.ApiextensionsV1Api(self.api).create_custom_resource_definition(body)
        except ApiException as exc:
            if exc.status not in (404, 405, 409):  # not served by the fake, or already there
                raise EngineError(f"the Kubernetes API server reported an error ({exc.status}): {exc.body}") from None
