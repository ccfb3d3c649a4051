"""A local fake Kubernetes API server that answers the reads BackendSync makes, in real API JSON.

    with KubeServer(token="t") as kube:
        kube.add_node("ens-1", pool="np-hefei", instance_id="i-5abc", internal_ip="10.0.0.11")
        kube.add_service("default", "cube-svc", ports=[{"name": "http", "port": 80, "targetPort": 8080}])
        kube.set_endpoints("default", "cube-svc", [{"ip": "172.16.0.5", "node": "ens-1"}],
                           ports=[{"name": "http", "port": 8080}], slices=2)
        kube.fail("/api/v1/nodes", status=429, times=2, retry_after=0)
        api = kubernetes.config.new_client_from_config_dict(yaml.safe_load(kube.kubeconfig("t")))

Served (GET): /api/v1/nodes and /api/v1/nodes/{name}; /api/v1/namespaces/{ns}/services/{name};
/apis/discovery.k8s.io/v1/namespaces/{ns}/endpointslices. Lists take `labelSelector` (`k=v`, `k==v`, `k!=v`,
`k`, `!k`, comma-joined; set-based forms answer 400), `limit` and `continue`; items are sorted by name, as
etcd returns keys.

What mirrors the real API server, so the client sees what it would see in a cluster:
- Objects carry apiVersion, kind, metadata.uid/resourceVersion/creationTimestamp; lists carry
  metadata.resourceVersion and, when cut short, an opaque metadata.continue and (without a selector)
  metadata.remainingItemCount. `max_page` makes pages smaller than the client's limit, which the API allows
  (ListOptions.limit: a list "may return fewer than the requested amount of items", clients go by the
  presence of `continue`).
- Errors are `Status` objects (kind Status, status Failure, reason, code, details). Authentication comes
  before faults, as in the server's filter chain: without the token a request is 401 even when a 429 is
  armed. A 429/503 fault may carry `Retry-After` (and details.retryAfterSeconds).
- A Service without endpoints has one placeholder EndpointSlice whose `endpoints` and `ports` are null
  (FACTS section 4); `set_endpoints(..., [])` makes it, as the EndpointSlice controller does.
- Endpoint conditions are pointers in the API: a condition given as None is left out of the JSON.

`requests` records (method, path, query, has_bearer_token); the token is never recorded or logged.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import itertools
import json
import threading
import uuid
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, NamedTuple, Optional
from urllib.parse import parse_qsl, urlsplit

import yaml

from tests.loopback import LoopbackServer, TrackedHandler

POOL_LABEL = "apps.openyurt.io/nodepool"
ENS_INSTANCE_LABEL = "alibabacloud.com/ens-instance-id"
SERVICE_NAME_LABEL = "kubernetes.io/service-name"
CREATED = "2025-01-02T03:04:05Z"
REASONS = {400: "BadRequest", 401: "Unauthorized", 404: "NotFound", 429: "TooManyRequests", 500: "InternalError",
           503: "ServiceUnavailable"}
FAULT_MESSAGES = {429: "Too many requests, please try again later.", 500: "Internal error occurred: injected fault",
                  503: "The server is currently unable to handle the request"}
Json = dict[str, Any]


class Request(NamedTuple):
    method: str
    path: str
    query: dict[str, str]
    has_bearer_token: bool


@dataclass
class Fault:
    path_prefix: str
    status: int
    times: int
    retry_after: Optional[int]
    fired: int = 0


class ApiError(Exception):
    def __init__(self, code: int, message: str, details: Optional[Json] = None):
        super().__init__(message)
        self.code = code
        self.body: Json = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                           "message": message, "reason": REASONS.get(code, HTTPStatus(code).phrase), "code": code}
        if details:
            self.body["details"] = details


def _selector(text: str) -> list[tuple[str, str, Optional[str]]]:
    requirements: list[tuple[str, str, Optional[str]]] = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        if " in " in part or " notin " in part or "(" in part:
            raise ApiError(400, f"unable to parse requirement: set-based {part!r} is not supported here")
        if "!=" in part:
            key, _, value = part.partition("!=")
            requirements.append((key.strip(), "!=", value.strip()))
        elif "=" in part:
            key, _, value = part.partition("==") if "==" in part else part.partition("=")
            requirements.append((key.strip(), "=", value.strip()))
        else:
            requirements.append((part.lstrip("!").strip(), "absent" if part.startswith("!") else "exists", None))
    return requirements


def _matches(labels: dict[str, str], requirements: list[tuple[str, str, Optional[str]]]) -> bool:
    tests = {"=": lambda k, v: labels.get(k) == v, "!=": lambda k, v: labels.get(k) != v,  # absent passes `!=`
             "exists": lambda k, v: k in labels, "absent": lambda k, v: k not in labels}
    return all(tests[op](key, value) for key, op, value in requirements)


def _copy(obj: Json) -> Json:
    return json.loads(json.dumps(obj))  # handlers serialise outside the lock


class _Handler(TrackedHandler):
    timeout = 10  # an idle keep-alive connection ends on its own
    server_version = "FakeKubeAPIServer"

    def do_GET(self) -> None:
        self.server.owner._serve(self)

    def reply(self, status: int, payload: Json, headers: dict[str, str]) -> None:
        body = json.dumps(payload, separators=(",", ":")).encode()
        extra = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        head = (f"HTTP/1.1 {status} {HTTPStatus(status).phrase}\r\nDate: {self.date_time_string()}\r\n"
                f"Content-Type: application/json\r\nCache-Control: no-cache, private\r\n"
                f"Content-Length: {len(body)}\r\n{extra}\r\n")
        try:
            self.wfile.write(head.encode() + body)
        except OSError:
            self.close_connection = True


class KubeServer(LoopbackServer):
    """Nodes, Services and EndpointSlices in plain dicts, served on 127.0.0.1:<ephemeral port>."""

    handler = _Handler
    thread_name = "fake-kube-apiserver"

    def __init__(self, token: Optional[str] = None, *, max_page: Optional[int] = None):
        self._token = token  # compared, never recorded
        self.max_page = max_page
        self.nodes: dict[str, Json] = {}
        self.services: dict[tuple[str, str], Json] = {}
        self.slices: dict[tuple[str, str], Json] = {}  # (namespace, slice name) -> EndpointSlice
        self.requests: list[Request] = []
        self.faults: list[Fault] = []
        self.lock = threading.RLock()
        self._rv = itertools.count(1000)
        self._node_ports = itertools.count(30080)
        super().__init__()

    # --- lifecycle ------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def kubeconfig(self, token: str = "t") -> str:
        """Kubeconfig YAML text: this server (plain http), a user with `token`, a current context."""
        return yaml.safe_dump({
            "apiVersion": "v1", "kind": "Config", "preferences": {},
            "clusters": [{"name": "fake", "cluster": {"server": self.url}}],
            "users": [{"name": "fake-admin", "user": {"token": token}}],
            "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "fake-admin"}}],
            "current-context": "fake"}, sort_keys=False)

    # --- state ----------------------------------------------------------------------------------

    def _meta(self, name: str, namespace: Optional[str] = None, **extra: Any) -> Json:
        meta: Json = {"name": name, **({"namespace": namespace} if namespace else {}), "uid": str(uuid.uuid4()),
                      "resourceVersion": str(next(self._rv)), "creationTimestamp": CREATED}
        return {**meta, **{k: v for k, v in extra.items() if v}}

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

    def add_service(self, namespace: str, name: str, ports: Optional[list[Json]] = None, *,
                    type: str = "LoadBalancer", external_traffic_policy: str = "Cluster",
                    selector: Optional[dict[str, str]] = None, cluster_ip: str = "192.168.10.20",
                    labels: Optional[dict[str, str]] = None, annotations: Optional[dict[str, str]] = None) -> Json:
        """A Service as stored after defaulting; node ports are allocated for NodePort and LoadBalancer."""
        spec_ports = []
        for p in ports or [{"name": "http", "port": 80}]:
            port = {"name": p.get("name"), "protocol": p.get("protocol", "TCP"), "port": p["port"],
                    "targetPort": p.get("targetPort", p["port"])}
            if type in ("NodePort", "LoadBalancer"):
                port["nodePort"] = p.get("nodePort") or next(self._node_ports)
            spec_ports.append({k: v for k, v in port.items() if v})  # an unnamed port has no `name` at all
        spec: Json = {"ports": spec_ports, "selector": selector or {"app": name}, "clusterIP": cluster_ip,
                      "clusterIPs": [cluster_ip], "type": type, "sessionAffinity": "None", "ipFamilies": ["IPv4"],
                      "ipFamilyPolicy": "SingleStack", "internalTrafficPolicy": "Cluster"}
        if type in ("NodePort", "LoadBalancer"):
            spec["externalTrafficPolicy"] = external_traffic_policy
        if type == "LoadBalancer":
            spec["allocateLoadBalancerNodePorts"] = True
        service = {"apiVersion": "v1", "kind": "Service", "spec": spec, "status": {"loadBalancer": {}},
                   "metadata": self._meta(name, namespace, labels=labels, annotations=annotations)}
        with self.lock:
            self.services[(namespace, name)] = service
        return service

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

    def fail(self, path_prefix: str, status: int = 500, times: int = 1, retry_after: Optional[int] = None) -> Fault:
        """Answer the next `times` requests whose path starts with `path_prefix` with a Status error."""
        if status not in FAULT_MESSAGES or times < 1:
            raise ValueError("status must be 429, 500 or 503 and times >= 1")
        fault = Fault(path_prefix, status, times, retry_after)
        with self.lock:
            self.faults.append(fault)
        return fault

    def paths(self, prefix: str = "") -> list[str]:
        with self.lock:
            return [r.path for r in self.requests if r.path.startswith(prefix)]

    # --- request path ---------------------------------------------------------------------------

    def _serve(self, handler: _Handler) -> None:
        url = urlsplit(handler.path)
        query = dict(parse_qsl(url.query, keep_blank_values=True))
        auth = handler.headers.get("Authorization") or ""
        with self.lock:
            self.requests.append(Request(handler.command, url.path, query, auth.startswith("Bearer ")))
        headers: dict[str, str] = {}
        try:
            if self._token is not None and not hmac.compare_digest(auth.encode(), f"Bearer {self._token}".encode()):
                raise ApiError(401, "Unauthorized")
            fault = self._take_fault(url.path)
            if fault is not None:
                details = None
                if fault.retry_after is not None:
                    headers["Retry-After"] = str(fault.retry_after)
                    details = {"retryAfterSeconds": fault.retry_after}
                raise ApiError(fault.status, FAULT_MESSAGES[fault.status], details)
            status, payload = 200, self._route(url.path, query)
        except ApiError as exc:
            status, payload = exc.code, exc.body
        handler.reply(status, payload, headers)

    def _take_fault(self, path: str) -> Optional[Fault]:
        with self.lock:
            for fault in self.faults:
                if path.startswith(fault.path_prefix) and fault.fired < fault.times:
                    fault.fired += 1
                    return fault
        return None

    def _route(self, path: str, query: dict[str, str]) -> Json:
        parts = [p for p in path.split("/") if p]
        with self.lock:
            if parts == ["api", "v1", "nodes"]:
                return self._list("v1", "NodeList", list(self.nodes.values()), query)
            if parts[:3] == ["api", "v1", "nodes"] and len(parts) == 4:
                return self._get(self.nodes.get(parts[3]), "nodes", parts[3])
            if len(parts) == 6 and parts[:3] == ["api", "v1", "namespaces"] and parts[4] == "services":
                return self._get(self.services.get((parts[3], parts[5])), "services", parts[5])
            if len(parts) == 6 and parts[:4] == ["apis", "discovery.k8s.io", "v1", "namespaces"] \
                    and parts[5] == "endpointslices":
                items = [s for (ns, _), s in self.slices.items() if ns == parts[4]]
                return self._list("discovery.k8s.io/v1", "EndpointSliceList", items, query)
        raise ApiError(404, "the server could not find the requested resource", {})

    @staticmethod
    def _get(obj: Optional[Json], plural: str, name: str) -> Json:
        if obj is None:
            raise ApiError(404, f'{plural} "{name}" not found', {"name": name, "kind": plural})
        return _copy(obj)

    def _list(self, api_version: str, kind: str, items: list[Json], query: dict[str, str]) -> Json:
        list_rv = str(next(self._rv))
        requirements = _selector(query.get("labelSelector", ""))
        chosen = sorted((i for i in items if _matches(i["metadata"].get("labels") or {}, requirements)),
                        key=lambda i: i["metadata"]["name"])
        if query.get("continue"):
            try:
                token = json.loads(base64.urlsafe_b64decode(query["continue"].encode()))
                start, list_rv = str(token["start"]), str(token["rv"])
            except (binascii.Error, ValueError, KeyError, TypeError):
                raise ApiError(400, "continue key is not valid: incorrect encoded start resourceVersion") from None
            chosen = [i for i in chosen if i["metadata"]["name"] >= start]
        try:
            limit = int(query.get("limit") or 0)
        except ValueError:
            raise ApiError(400, f"invalid limit {query['limit']!r}") from None
        size = min([x for x in (limit, self.max_page) if x and x > 0] or [len(chosen)])
        page, rest = chosen[:size], chosen[size:]
        meta: Json = {"resourceVersion": list_rv}
        if rest:
            token = {"v": "meta.k8s.io/v1", "rv": int(list_rv), "start": rest[0]["metadata"]["name"]}
            meta["continue"] = base64.urlsafe_b64encode(json.dumps(token).encode()).decode()
            if not requirements:  # the real server only knows the remainder when it does not filter
                meta["remainingItemCount"] = len(rest)
        return {"kind": kind, "apiVersion": api_version, "metadata": meta, "items": _copy({"i": page})["i"]}
