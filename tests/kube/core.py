"""Nodes and EndpointSlices of the fake API server (GET, LIST, WATCH), as kubelet and the controllers write them.

- A Service without endpoints has one placeholder EndpointSlice whose `endpoints` and `ports` are null
  (FACTS section 4); `set_endpoints(..., [])` makes it, as the EndpointSlice controller does.
- Endpoint conditions are pointers in the API: a condition given as None is left out of the JSON.
- `set_endpoints` reuses the Service's slices as the EndpointSlice controller's reconciler does: it updates
  them in place (MODIFIED, generation + 1; an unchanged slice is not written), creates the ones it needs
  more (ADDED) and deletes the rest (DELETED).
- `update_node` changes what kubelet and the node lifecycle controller report (Ready, labels, cordon, address);
  `remove_node` deletes the Node. Both are writes that watches see.
- Field selectors: `spec.unschedulable` on Nodes besides metadata.name (the Node field label set).
"""

from __future__ import annotations

import uuid
from typing import Any, Optional

from tests.kube.base import Call, now_time
from tests.kube.watch import Scope
from tests.kube.wire import CREATED, Json, copy, not_found

_UNCHANGED: Any = object()
NODES = Scope("v1", "Node", fields=("spec.unschedulable",))

POOL_LABEL = "apps.openyurt.io/nodepool"
ENS_INSTANCE_LABEL = "alibabacloud.com/ens-instance-id"
SERVICE_NAME_LABEL = "kubernetes.io/service-name"


class CoreObjects:
    """Mixin of KubeServer: `nodes` and `slices` in plain dicts."""

    lock: Any
    services: dict[tuple[str, str], Json]
    _meta: Any
    _list: Any

    store: Any

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.nodes: dict[str, Json] = self.store()
        self.slices: dict[tuple[str, str], Json] = self.store()  # (namespace, slice name) -> EndpointSlice

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
        conditions = [{"type": kind, "status": "False", "reason": f"KubeletHas{why}"}
                      for kind, why in (("MemoryPressure", "SufficientMemory"), ("DiskPressure", "NoDiskPressure"),
                                        ("PIDPressure", "SufficientPID"))]
        conditions.append(_ready_condition(ready))
        for condition in conditions:
            condition.update(lastHeartbeatTime=CREATED, lastTransitionTime=CREATED, message=condition["reason"])
        spec: Json = {"podCIDR": "10.244.0.0/24", "podCIDRs": ["10.244.0.0/24"]}
        if provider_id is not None:
            spec["providerID"] = provider_id
        _cordon(spec, unschedulable)
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

    def update_node(self, name: str, *, ready: Any = _UNCHANGED, labels: Optional[dict[str, Optional[str]]] = None,
                    pool: Any = _UNCHANGED, unschedulable: Optional[bool] = None,
                    internal_ip: Any = _UNCHANGED) -> Json:
        """Change a Node as kubelet or the node controller would: `ready` True/False/None (Unknown), labels
        merged (a None value removes one), `pool` the node pool label (None removes it), cordon, InternalIP."""
        with self.lock:
            node = copy(self.nodes[name])
            meta, status = node["metadata"], node["status"]
            merged = {**meta.get("labels", {}), **(labels or {})}
            if pool is not _UNCHANGED:
                merged[POOL_LABEL] = pool
            meta["labels"] = {k: v for k, v in merged.items() if v is not None}
            if ready is not _UNCHANGED:
                old = next(c for c in status["conditions"] if c["type"] == "Ready")
                new = {**old, **_ready_condition(ready), "lastHeartbeatTime": now_time()}
                new["message"] = new["reason"]
                if new["status"] != old["status"]:
                    new["lastTransitionTime"] = new["lastHeartbeatTime"]
                status["conditions"] = [new if c is old else c for c in status["conditions"]]
            if unschedulable is not None:
                _cordon(node["spec"], unschedulable)
            if internal_ip is not _UNCHANGED:
                others = [a for a in status["addresses"] if a["type"] != "InternalIP"]
                status["addresses"] = ([{"type": "InternalIP", "address": internal_ip}] if internal_ip else []) + others
            if node != self.nodes[name]:
                self.nodes[name] = node
            return self.nodes[name]

    def remove_node(self, name: str) -> None:
        with self.lock:
            del self.nodes[name]

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
            pod = e.get("pod") or f"{service}-{i}"  # one pod keeps its uid: an unchanged slice is not rewritten
            endpoint = {"addresses": e.get("addresses") or [e["ip"]], "nodeName": e.get("node"), "zone": e.get("zone"),
                        "conditions": {k: v for k, v in conditions.items() if v is not None},
                        "targetRef": {"kind": "Pod", "namespace": namespace, "name": pod,
                                      "uid": str(uuid.uuid5(uuid.NAMESPACE_URL, f"pod/{namespace}/{pod}"))}}
            wire.append({k: v for k, v in endpoint.items() if v is not None})
        count = max(1, min(slices, len(wire)))
        size = -(-len(wire) // count)
        return self._reconcile_slices(namespace, service, address_type,
                                      [(wire[i * size:(i + 1) * size], list(wire_ports)) for i in range(count)])

    def set_placeholder(self, namespace: str, service: str, address_type: str = "IPv4") -> Json:
        """The one slice kept for a Service without endpoints: `endpoints` and `ports` null."""
        return self._reconcile_slices(namespace, service, address_type, [(None, None)])[0]

    def _reconcile_slices(self, namespace: str, service: str, address_type: str,
                          wanted: list[tuple[Optional[list[Json]], Optional[list[Json]]]]) -> list[Json]:
        with self.lock:
            existing = [k for k, s in self.slices.items() if k[0] == namespace  # oldest first: reused first
                        and s["addressType"] == address_type
                        and s["metadata"]["labels"].get(SERVICE_NAME_LABEL) == service]
            result = []
            for i, (endpoints, ports) in enumerate(wanted):
                if i >= len(existing):
                    result.append(self._add_slice(namespace, service, endpoints, ports, address_type))
                    continue
                current = self.slices[existing[i]]
                if (current["endpoints"], current["ports"]) != (endpoints, ports):
                    updated = {**copy(current), "endpoints": copy(endpoints), "ports": copy(ports)}
                    updated["metadata"]["generation"] = current["metadata"].get("generation", 1) + 1
                    self.slices[existing[i]] = updated
                result.append(self.slices[existing[i]])
            for key in existing[len(wanted):]:
                del self.slices[key]
            return result

    def _add_slice(self, namespace: str, service: str, endpoints: Optional[list[Json]], ports: Optional[list[Json]],
                   address_type: str) -> Json:
        meta = self._meta(f"{service}-{uuid.uuid4().hex[:5]}", namespace, generateName=f"{service}-",
                          labels={"endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io",
                                  SERVICE_NAME_LABEL: service},
                          annotations={"endpoints.kubernetes.io/last-change-trigger-time": CREATED}, generation=1)
        owner = self.services.get((namespace, service))
        if owner is not None:
            meta["ownerReferences"] = [{"apiVersion": "v1", "kind": "Service", "name": service, "controller": True,
                                        "uid": owner["metadata"]["uid"], "blockOwnerDeletion": True}]
        # `endpoints` and `ports` are written even when None: JSON null, as in the placeholder slice.
        endpoint_slice = {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "metadata": meta,
                          "addressType": address_type, "endpoints": endpoints, "ports": ports}
        self.slices[(namespace, meta["name"])] = endpoint_slice
        return endpoint_slice

    def _route_core(self, call: Call) -> Optional[tuple[int, Json]]:
        parts = call.parts
        if call.method != "GET":
            return None
        if parts == ["api", "v1", "nodes"]:
            return 200, self._list(NODES, list(self.nodes.values()), call.query)
        if parts[:3] == ["api", "v1", "nodes"] and len(parts) == 4:
            node = self.nodes.get(parts[3])
            if node is None:
                raise not_found("nodes", parts[3])
            return 200, copy(node)
        if parts == ["apis", "discovery.k8s.io", "v1", "endpointslices"]:
            return 200, self._list(Scope("discovery.k8s.io/v1", "EndpointSlice"), list(self.slices.values()),
                                   call.query)
        if len(parts) == 6 and parts[:4] == ["apis", "discovery.k8s.io", "v1", "namespaces"] \
                and parts[5] == "endpointslices":
            items = [s for (ns, _), s in self.slices.items() if ns == parts[4]]
            return 200, self._list(Scope("discovery.k8s.io/v1", "EndpointSlice", parts[4]), items, call.query)
        if len(parts) == 7 and parts[:4] == ["apis", "discovery.k8s.io", "v1", "namespaces"] \
                and parts[5] == "endpointslices":
            found = self.slices.get((parts[4], parts[6]))
            if found is None:
                raise not_found("endpointslices", parts[6], "discovery.k8s.io")
            return 200, copy(found)
        return None


def _ready_condition(ready: Optional[bool]) -> Json:
    status, reason = {True: ("True", "KubeletReady"), False: ("False", "KubeletNotReady"),
                      None: ("Unknown", "NodeStatusUnknown")}[ready]
    return {"type": "Ready", "status": status, "reason": reason}


def _cordon(spec: Json, unschedulable: bool) -> None:
    """`kubectl cordon`: the field, and the taint the node lifecycle controller adds (uncordon: both go)."""
    taints = [t for t in spec.get("taints", []) if t["key"] != "node.kubernetes.io/unschedulable"]
    if unschedulable:
        spec["unschedulable"] = True
        taints.append({"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule", "timeAdded": CREATED})
    else:
        spec.pop("unschedulable", None)
    if taints:
        spec["taints"] = taints
    else:
        spec.pop("taints", None)
