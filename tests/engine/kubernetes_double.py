"""The cluster side of the pulumi-kubernetes resources the program declares, against the fake API server.

A Service is applied as pulumi-kubernetes 4 applies it (server-side apply, field manager
`pulumi-kubernetes`), so the API server's defaulting and rules answer: NodePorts and the
healthCheckNodePort it allocates come back as outputs, an immutable `spec.loadBalancerClass` is
refused. When a Service exists, the world's EndpointSlice controller publishes its pods (`on_service`).
DaemonSets (apps/v1 is not served by the fake API) are kept here.
"""

from __future__ import annotations

import itertools
from typing import Any, Callable, Optional

import yaml
from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes.client.exceptions import ApiException

from components.wire import normalized
from tests.engine.plugins import EngineError

APPLY = "application/apply-patch+yaml"
FIELD_MANAGER = "pulumi-kubernetes"


class KubernetesDouble:
    def __init__(self, kubeconfig: str, on_service: Optional[Callable[[dict[str, Any]], None]] = None):
        self.api = k8s_config.new_client_from_config_dict(yaml.safe_load(kubeconfig), persist_config=False)
        self.core = k8s.CoreV1Api(self.api)
        self.on_service = on_service
        self._kept: dict[str, dict[str, Any]] = {}
        self._serial = itertools.count(1)

    def close(self) -> None:
        self.api.close()

    # --- the Double protocol -----------------------------------------------------------------------

    def create(self, type_: str, inputs: dict[str, Any], region: str = "") -> tuple[str, dict[str, Any]]:
        if type_ == "kubernetes:core/v1:Service":
            live = self._apply_service(inputs)
            return self._id(live), self._outputs(live)
        return self._keep(type_, inputs)

    def update(self, type_: str, id_: str, old: dict[str, Any], inputs: dict[str, Any], region: str = ""
               ) -> dict[str, Any]:
        if type_ == "kubernetes:core/v1:Service":
            return self._outputs(self._apply_service(inputs))
        self._kept[id_] = dict(inputs)
        return {}

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
        return {} if id_ in self._kept else None

    def delete(self, type_: str, id_: str, old: dict[str, Any], region: str = "") -> None:
        if type_ == "kubernetes:core/v1:Service":
            namespace, name = id_.split("/")
            try:
                self._call(self.core.delete_namespaced_service, name, namespace)
            except EngineError as exc:
                if "(404)" not in str(exc):
                    raise
            return
        self._kept.pop(id_, None)

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
        meta = inputs.get("metadata") or {}
        id_ = f"{meta.get('namespace', 'default')}/{meta.get('name') or next(self._serial)}"
        self._kept[id_] = dict(inputs)
        return id_, {}
