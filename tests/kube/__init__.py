"""A local fake Kubernetes API server for the tests, in real API JSON, on 127.0.0.1:<ephemeral port>.

    with KubeServer(token="t") as kube:
        kube.add_node("ens-1", pool="np-hefei", instance_id="i-5abc", internal_ip="10.0.0.11")
        kube.add_service("default", "cube-svc", ports=[{"name": "http", "port": 80, "targetPort": 8080}])
        kube.set_endpoints("default", "cube-svc", [{"ip": "172.16.0.5", "node": "ens-1"}],
                           ports=[{"name": "http", "port": 8080}], slices=2)
        kube.add_node_pool("np-hefei", labels={"k8s-svc": "cube"})
        kube.add_pool_service("default", "cube-svc", "np-hefei", after_reads=2)  # as the controller would
        kube.register_crd(Path("reconciler/crd/backendgroups.yaml"))
        kube.fail("/api/v1/nodes", status=429, times=2, retry_after=0)
        api = kubernetes.config.new_client_from_config_dict(yaml.safe_load(kube.kubeconfig("t")))

What each part mirrors (each module's docstring says more):
- `base`: the request path (authentication before injected errors, as the filter chain), GET and LIST
  (etcd key order, labelSelector, fieldSelector, limit/continue, remainingItemCount, the current
  resourceVersion).
- `watch`: the watch cache: one resourceVersion counter across kinds (etcd's revision), a bounded window of
  changes (older resourceVersions: an ERROR event with 410 Expired), chunked JSON-line streams of
  ADDED/MODIFIED/DELETED, BOOKMARK with allowWatchBookmarks, timeoutSeconds, selectors with the cacher's
  ADDED/DELETED on (un)matching. Every write through a `Store` (all of the dicts below) is a change.
- `faults`: injected Status errors, API outages (503, or connections refused) and slow paths.
- `core`: Nodes as kubelet reports them (`add_node`, `update_node`, `remove_node`) and EndpointSlices as the
  EndpointSlice controller writes them (`set_endpoints`, in place).
- `services`: Service create/update/patch/delete with the registry's defaulting, allocation and
  immutability rules; the `/status` subresource with ValidateLoadBalancerStatus.
- `crd`, `custom`: custom resources from CRDs as the apiextensions-apiserver serves them (create, get, list,
  watch, update, merge/JSON/apply patch, delete with finalizers, generation, status subresource, pruning,
  defaulting, schema validation with its 422 messages).
- `openyurt`: NodePools and PoolServices, and the load-balancer-set controller that creates PoolServices.
- `plain`, `leases`, `events`: built-in kinds served by the generic registry: Leases (what
  kubernetes.leaderelection's LeaseLock uses), core/v1 and events.k8s.io/v1 Events (one storage).
- `wire`: Status errors, selectors, merge and JSON patches.

`requests` records (method, path, query, has_bearer_token, content_type); the token is never recorded.
Objects changed in place by a test (not through a write) are not watch events.
"""

from __future__ import annotations

from typing import Any, Optional

from tests.kube.base import Call, ServerBase
from tests.kube.core import ENS_INSTANCE_LABEL, POOL_LABEL, SERVICE_NAME_LABEL, CoreObjects
from tests.kube.crd import CustomResource
from tests.kube.custom import CustomObjects
from tests.kube.events import Events
from tests.kube.faults import Outage
from tests.kube.leases import Leases
from tests.kube.openyurt import NODE_POOLS, POOL_SERVICES, OpenYurtObjects
from tests.kube.plain import PlainObjects
from tests.kube.services import ServiceObjects
from tests.kube.wire import ApiError, Fault, Request

__all__ = ["ENS_INSTANCE_LABEL", "NODE_POOLS", "POOL_LABEL", "POOL_SERVICES", "SERVICE_NAME_LABEL", "ApiError",
           "CustomResource", "Fault", "KubeServer", "Outage", "Request"]


class KubeServer(Events, Leases, PlainObjects, OpenYurtObjects, CustomObjects, ServiceObjects, CoreObjects,
                 ServerBase):
    """Nodes, Services, EndpointSlices, custom objects, Leases and Events in plain dicts."""

    def route(self, call: Call) -> Optional[tuple[int, Any]]:
        return (self._route_plain(call) or self._route_custom(call) or self._route_services(call)
                or self._route_core(call))

