"""Nodes and EndpointSlices of the fake API server (GET and LIST), as kubelet and the controllers write them.

- A Service without endpoints has one placeholder EndpointSlice whose `endpoints` and `ports` are null
  (FACTS section 4); `set_endpoints(..., [])` makes it, as the EndpointSlice controller does.
- Endpoint conditions are pointers in the API: a condition given as None is left out of the JSON.
"""

from __future__ import annotations

import uuid
from typing import Any, Optional

from tests.kube.base import Call
from tests.kube.wire import CREATED, Json, copy, not_found

POOL_LABEL = "apps.openyurt.io/nodepool"
ENS_INSTANCE_LABEL = "alibabacloud.com/ens-instance-id"
SERVICE_NAME_LABEL = "kubernetes.io/service-name"


class CoreObjects:
    """Mixin of KubeServer: `nodes` and `slices` in plain dicts."""

    lock: Any
    services: dict[tuple[str, str], Json]
    _meta: Any
    _list: Any

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.nodes: dict[str, Json] = {}
        self.slices: dict[tuple[str, str], Json] = {}  # (namespace, slice name) -> EndpointSlice
        super().__init__(*args, **kwargs)

    def add_node(self, name: str, pool: Optional[str] = None, ready: Optional[bool] = True,
                 instance_id: Optional[str] = None, provider_id: Optional[str] = None,
                 internal_ip: Optional[str] = None, unschedulable: bool = False,
                 labels: Optional[dict[str, str]] = None) -> Json:
        """A Node as kubelet and node controller report it; `ready=None` is Ready Unknown (node lost)."""
        all_labels = {"kubernetes.io/arch": "amd64", "kubernetes.io/hostname": name, "kubernetes.io/os": "linux"}
        if pool is not None:
            all_labels[POOL_LABEL] = pool
        if instance_id is not None:  # what ACK Edge puts on ENS nodes
            all_labels.update({ENS_INSTANCE_LABEL: instance_id, "alibabacloud.com/is-edge-worker": "true"})
        all_labels.update(labels or {})
        status, reason = {True: ("True", "KubeletReady"), False: ("False", "KubeletNotReady"),
                          None: ("Unknown", "NodeStatusUnknown")}[ready]
        conditions = [{"type": kind, "status": "False", "reason": f"KubeletHas{why}"}
                      for kind, why in (("MemoryPressure", "SufficientMemory"), ("DiskPressure", "NoDiskPressure"),
                                        ("PIDPressure", "SufficientPID"))]
        conditions.append({"type": "Ready", "status": status, "reason": reason})
        for condition in conditions:
            condition.update(lastHeartbeatTime=CREATED, lastTransitionTime=CREATED, message=condition["reason"])
        spec: Json = {"podCIDR": "10.244.0.0/24", "podCIDRs": ["10.244.0.0/24"]}
        if provider_id is not None:
            spec["providerID"] = provider_id
        if unschedulable:  # `kubectl cordon`: the field, and the taint the node lifecycle controller adds
            spec.update(unschedulable=True, taints=[{"key": "node.kubernetes.io/unschedulable",
                                                     "effect": "NoSchedule", "timeAdded": CREATED}])
        resources = {"cpu": "4", "memory": "8008852Ki", "pods": "110", "ephemeral-storage": "41152736Ki"}
        version = "v1.31.1-aliyun.1"
        node_info = {"machineID": uuid.uuid4().hex, "systemUUID": str(uuid.uuid4()).upper(),
                     "bootID": str(uuid.uuid4()), "kernelVersion": "5.10.134-16.al8.x86_64",
                     "osImage": "Alibaba Cloud Linux 3.2104 U10 (OpenAnolis Edition)",
                     "containerRuntimeVersion": "containerd://1.6.28", "kubeletVersion": version,
                     "kubeProxyVersion": version, "operatingSystem": "linux", "architecture": "amd64"}
        addresses = [{"type": "InternalIP", "address": internal_ip}] if internal_ip else []
        node = {"apiVersion": "v1", "kind": "Node",
                "metadata": self._meta(name, labels=all_labels, annotations={"node.alpha.kubernetes.io/ttl": "0"}),
                "spec": spec,
                "status": {"capacity": resources, "allocatable": resources, "conditions": conditions,
                           "addresses": addresses + [{"type": "Hostname", "address": name}],
                           "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}}, "nodeInfo": node_info}}
        with self.lock:
            self.nodes[name] = node
        return node

    def set_endpoints(self, namespace: str, service: str, endpoints: list[Json], ports: Optional[list[Json]] = None,
                      slices: int = 1, address_type: str = "IPv4") -> list[Json]:
        """Replace the Service's `address_type` slices with `slices` slices sharing `endpoints`.

        An endpoint: {ip or addresses, node, ready, serving, terminating, zone, pod}. Left out, conditions
        are what the controller writes (ready; serving = ready; terminating false); given as None, they are
        left out of the JSON. A port: {name, port, protocol}, name "" for the unnamed port.
        """
        if not endpoints:
            return [self.set_placeholder(namespace, service, address_type)]
        wire_ports = [{"name": p.get("name", ""), "port": p["port"], "protocol": p.get("protocol", "TCP")}
                      for p in ports or [{"name": "", "port": 80}]]
        wire = []
        for i, e in enumerate(endpoints):
            ready = e.get("ready", True)
            conditions = {"ready": ready, "serving": e.get("serving", ready),
                          "terminating": e.get("terminating", False)}
            endpoint = {"addresses": e.get("addresses") or [e["ip"]], "nodeName": e.get("node"), "zone": e.get("zone"),
                        "conditions": {k: v for k, v in conditions.items() if v is not None},
                        "targetRef": {"kind": "Pod", "namespace": namespace, "uid": str(uuid.uuid4()),
                                      "name": e.get("pod") or f"{service}-{i}"}}
            wire.append({k: v for k, v in endpoint.items() if v is not None})
        count = max(1, min(slices, len(wire)))
        size = -(-len(wire) // count)
        with self.lock:
            self._drop_slices(namespace, service, address_type)
            return [self._add_slice(namespace, service, wire[i * size:(i + 1) * size], list(wire_ports), address_type)
                    for i in range(count)]

    def set_placeholder(self, namespace: str, service: str, address_type: str = "IPv4") -> Json:
        """The one slice kept for a Service without endpoints: `endpoints` and `ports` null."""
        with self.lock:
            self._drop_slices(namespace, service, address_type)
            return self._add_slice(namespace, service, None, None, address_type)

    def _add_slice(self, namespace: str, service: str, endpoints: Optional[list[Json]], ports: Optional[list[Json]],
                   address_type: str) -> Json:
        meta = self._meta(f"{service}-{uuid.uuid4().hex[:5]}", namespace, generateName=f"{service}-",
                          labels={"endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io",
                                  SERVICE_NAME_LABEL: service},
                          annotations={"endpoints.kubernetes.io/last-change-trigger-time": CREATED})
        owner = self.services.get((namespace, service))
        if owner is not None:
            meta["ownerReferences"] = [{"apiVersion": "v1", "kind": "Service", "name": service, "controller": True,
                                        "uid": owner["metadata"]["uid"], "blockOwnerDeletion": True}]
        # `endpoints` and `ports` are written even when None: JSON null, as in the placeholder slice.
        endpoint_slice = {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "metadata": meta,
                          "addressType": address_type, "endpoints": endpoints, "ports": ports}
        self.slices[(namespace, meta["name"])] = endpoint_slice
        return endpoint_slice

    def _drop_slices(self, namespace: str, service: str, address_type: str) -> None:
        for key in [k for k, s in self.slices.items() if k[0] == namespace and s["addressType"] == address_type
                    and s["metadata"]["labels"].get(SERVICE_NAME_LABEL) == service]:
            del self.slices[key]

    def _route_core(self, call: Call) -> Optional[tuple[int, Json]]:
        parts = call.parts
        if call.method != "GET":
            return None
        if parts == ["api", "v1", "nodes"]:
            return 200, self._list("v1", "NodeList", list(self.nodes.values()), call.query)
        if parts[:3] == ["api", "v1", "nodes"] and len(parts) == 4:
            node = self.nodes.get(parts[3])
            if node is None:
                raise not_found("nodes", parts[3])
            return 200, copy(node)
        if len(parts) == 6 and parts[:4] == ["apis", "discovery.k8s.io", "v1", "namespaces"] \
                and parts[5] == "endpointslices":
            items = [s for (ns, _), s in self.slices.items() if ns == parts[4]]
            return 200, self._list("discovery.k8s.io/v1", "EndpointSliceList", items, call.query)
        return None
