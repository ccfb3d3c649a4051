"""A local fake Kubernetes API server for the tests, in real API JSON, on 127.0.0.1:<ephemeral port>.

    with KubeServer(token="t") as kube:
        kube.add_node("ens-1", pool="np-hefei", instance_id="i-5abc", internal_ip="10.0.0.11")
        kube.add_service("default", "cube-svc", ports=[{"name": "http", "port": 80, "targetPort": 8080}])
        kube.set_endpoints("default", "cube-svc", [{"ip": "172.16.0.5", "node": "ens-1"}],
                           ports=[{"name": "http", "port": 8080}], slices=2)
        kube.add_node_pool("np-hefei", labels={"k8s-svc": "cube"})
        kube.add_pool_service("default", "cube-svc", "np-hefei", after_reads=2)  # as the controller would
        kube.fail("/api/v1/nodes", status=429, times=2, retry_after=0)
        api = kubernetes.config.new_client_from_config_dict(yaml.safe_load(kube.kubeconfig("t")))

Parts: `base` (request path, auth, faults, lists), `core` (Nodes, EndpointSlices), `services` (Service
create/update/delete with the API server's defaulting and immutability rules), `custom` (NodePools and
PoolServices: merge patch, server-side apply, preconditions, objects that appear later), `wire` (Status
errors, selectors, merge patches). Each module's docstring says which real behaviour it mirrors.

`requests` records (method, path, query, has_bearer_token, content_type); the token is never recorded.
"""

from __future__ import annotations

from typing import Optional

from tests.kube.base import Call, ServerBase
from tests.kube.core import ENS_INSTANCE_LABEL, POOL_LABEL, SERVICE_NAME_LABEL, CoreObjects
from tests.kube.custom import NODE_POOLS, POOL_SERVICES, CustomObjects, CustomResource
from tests.kube.services import ServiceObjects
from tests.kube.wire import ApiError, Fault, Json, Request

__all__ = ["ENS_INSTANCE_LABEL", "NODE_POOLS", "POOL_LABEL", "POOL_SERVICES", "SERVICE_NAME_LABEL", "ApiError",
           "CustomResource", "Fault", "KubeServer", "Request"]


class KubeServer(CustomObjects, ServiceObjects, CoreObjects, ServerBase):
    """Nodes, Services, EndpointSlices, NodePools and PoolServices in plain dicts."""

    def route(self, call: Call) -> Optional[tuple[int, Json]]:
        return self._route_custom(call) or self._route_services(call) or self._route_core(call)
