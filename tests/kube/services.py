"""Services of the fake API server: create, read, update, patch, delete, with the API server's defaulting,
allocation and update rules (kubernetes pkg/registry/core/service/storage, pkg/apis/core/validation):

- Create defaults type ClusterIP, protocol TCP, targetPort = port, externalTrafficPolicy Cluster (NodePort and
  LoadBalancer), allocates a clusterIP, a nodePort in 30000-32767 for every port without one (NodePort, and
  LoadBalancer unless allocateLoadBalancerNodePorts is false) and a healthCheckNodePort for a LoadBalancer
  with externalTrafficPolicy Local. A taken or out-of-range nodePort is 422 Invalid. Allocation here is
  deterministic (lowest free port from 30080); the real allocator picks at random.
- Update (PUT, merge patch, strategic merge patch, server-side apply) keeps what was allocated when the new
  object leaves it out (patchAllocatedValues: clusterIP, nodePorts by port name, healthCheckNodePort), honours
  a metadata.resourceVersion precondition (409), refuses a changed clusterIP and a changed loadBalancerClass
  between two LoadBalancer types (422 "may not change once set"), and ignores status. A write that changes
  nothing keeps the resourceVersion, as the real server does not persist no-op updates.
- Strategic merge and apply merge `spec.ports` by `port` (their patchMergeKey); other lists are replaced.
  Apply creates the Service when it is missing. No field ownership is tracked; no garbage collector runs
  (deleting a Service leaves its EndpointSlices and PoolServices).
- `/status` (GET, PUT, merge / strategic / apply PATCH) changes only `status`: spec and metadata stay, as
  serviceStatusStrategy.PrepareForUpdate keeps them. ValidateLoadBalancerStatus: ingress only on a
  LoadBalancer Service, `ip` a valid IP, `hostname` a DNS-1123 subdomain and not an IP, `ipMode` VIP or Proxy
  and only with `ip`; an ingress with `ip` and no `ipMode` is defaulted to VIP (LoadBalancerIPMode, GA in
  1.32), so a controller reads back `{"ip": ..., "ipMode": "VIP"}`.
- LIST and WATCH per namespace and across namespaces (`/api/v1/services`).
"""

from __future__ import annotations

import ipaddress
from typing import Any, Optional

from tests.kube.base import Call
from tests.kube.watch import Scope
from tests.kube.wire import (
    APPLY_PATCH,
    DNS_SUBDOMAIN,
    MERGE_PATCH,
    STRATEGIC_PATCH,
    ApiError,
    FieldError,
    Json,
    already_exists,
    apply_merge,
    copy,
    field_forbidden,
    field_invalid,
    field_unsupported,
    invalid,
    merge_patch,
    not_found,
    preconditions,
)

NODE_PORTS = range(30000, 32768)
FIRST_NODE_PORT = 30080
SERVICE_CIDR = ipaddress.ip_network("192.168.0.0/16")
FIRST_CLUSTER_IP = ipaddress.ip_address("192.168.10.20")
PATCH_TYPES = (MERGE_PATCH, STRATEGIC_PATCH, APPLY_PATCH)
KEPT_META = ("labels", "annotations", "finalizers", "ownerReferences")  # what a write may change in metadata


def _needs_node_ports(spec: Json) -> bool:
    return spec.get("type") == "NodePort" or (
        spec.get("type") == "LoadBalancer" and spec.get("allocateLoadBalancerNodePorts") is not False)


def _needs_health_port(spec: Json) -> bool:
    return spec.get("type") == "LoadBalancer" and spec.get("externalTrafficPolicy") == "Local"


def _strategic(target: Any, patch: Any, key: str = "", apply: bool = False) -> Any:
    """Maps merge (null removes, except under apply), `ports` merge by `port`, other lists are replaced."""
    if isinstance(patch, dict) and any(k.startswith("$") for k in patch):
        raise ApiError(400, "strategic merge directives ($patch, $retainKeys, ...) are not implemented by this fake")
    if key == "ports" and isinstance(patch, list) and isinstance(target, list):
        merged = {p.get("port"): p for p in copy(target)}
        for item in patch:
            merged[item.get("port")] = _strategic(merged.get(item.get("port")), item, apply=apply)
        return [merged[port] for port in dict.fromkeys([p.get("port") for p in target + patch])]
    if not isinstance(patch, dict) or not isinstance(target, dict):
        return copy(patch)
    result = copy(target)
    for k, v in patch.items():
        if v is None:
            if not apply:
                result.pop(k, None)
        else:
            result[k] = _strategic(result.get(k), v, k, apply)
    return result


class ServiceObjects:
    """Mixin of KubeServer: `services` keyed by (namespace, name)."""

    lock: Any
    _meta: Any
    _list: Any
    next_rv: Any
    store: Any

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.services: dict[tuple[str, str], Json] = self.store()

    def add_service(self, namespace: str, name: str, ports: Optional[list[Json]] = None, *,
                    type: str = "LoadBalancer", external_traffic_policy: str = "Cluster",
                    selector: Optional[dict[str, str]] = None, cluster_ip: str = "192.168.10.20",
                    labels: Optional[dict[str, str]] = None, annotations: Optional[dict[str, str]] = None,
                    load_balancer_class: Optional[str] = None) -> Json:
        """A Service as stored after defaulting (without create's checks: tests may set up any state)."""
        spec_ports = [{k: v for k, v in p.items() if k in ("name", "protocol", "port", "targetPort", "nodePort")}
                      for p in ports or [{"name": "http", "port": 80}]]
        spec: Json = {"ports": spec_ports, "selector": selector or {"app": name}, "clusterIP": cluster_ip,
                      "type": type, "loadBalancerClass": load_balancer_class}
        if type in ("NodePort", "LoadBalancer"):
            spec["externalTrafficPolicy"] = external_traffic_policy
        with self.lock:
            service = {"apiVersion": "v1", "kind": "Service", "spec": self._defaulted(spec, name, check=False),
                       "status": {"loadBalancer": {}},
                       "metadata": self._meta(name, namespace, labels=labels, annotations=annotations)}
            self.services[(namespace, name)] = service
        return service

    # --- defaulting and allocation --------------------------------------------------------------

    def _taken(self, but: Optional[tuple[str, str]] = None) -> tuple[set[int], set[str]]:
        ports: set[int] = set()
        ips: set[str] = set()
        for key, svc in self.services.items():
            if key == but:
                continue
            spec = svc["spec"]
            ports.update(p["nodePort"] for p in spec.get("ports") or [] if p.get("nodePort"))
            if spec.get("healthCheckNodePort"):
                ports.add(spec["healthCheckNodePort"])
            ips.update(spec.get("clusterIPs") or [])
        return ports, ips

    def _defaulted(self, spec: Json, name: str, check: bool = True, key: Optional[tuple[str, str]] = None) -> Json:
        spec = {k: v for k, v in copy(spec).items() if v is not None}
        spec.setdefault("type", "ClusterIP")
        errors: list[FieldError] = []
        taken, ips = self._taken(but=key)
        if spec.get("loadBalancerClass") is not None and spec["type"] != "LoadBalancer":
            errors.append(field_forbidden("spec.loadBalancerClass", "may only be used when `type` is 'LoadBalancer'"))
        if spec["type"] in ("NodePort", "LoadBalancer"):
            spec.setdefault("externalTrafficPolicy", "Cluster")
        if spec["type"] == "LoadBalancer":
            spec.setdefault("allocateLoadBalancerNodePorts", True)
        spec.update({k: v for k, v in {"sessionAffinity": "None", "ipFamilies": ["IPv4"],
                                       "ipFamilyPolicy": "SingleStack", "internalTrafficPolicy": "Cluster"}.items()
                     if k not in spec})
        ports = []
        for i, p in enumerate(spec.get("ports") or []):
            port = {"name": p.get("name"), "protocol": p.get("protocol") or "TCP", "port": p["port"],
                    "targetPort": p.get("targetPort", p["port"]), "nodePort": p.get("nodePort")}
            given = port["nodePort"]
            if given and spec["type"] == "ClusterIP":
                if check:
                    errors.append(field_forbidden(f"spec.ports[{i}].nodePort",
                                                  "may not be used when `type` is 'ClusterIP'"))
                given = port["nodePort"] = None
            if given and check and (given not in NODE_PORTS or given in taken):
                why = ("provided port is already allocated" if given in NODE_PORTS else
                       "provided port is not in the valid range. The range of valid ports is 30000-32767")
                errors.append(field_invalid(f"spec.ports[{i}].nodePort", given, why))
            if not given and _needs_node_ports(spec):
                port["nodePort"] = self._free_port(taken)
            taken.add(port["nodePort"] or 0)
            ports.append({k: v for k, v in port.items() if v})  # an unnamed port has no `name` at all
        spec["ports"] = ports
        if _needs_health_port(spec) and not spec.get("healthCheckNodePort"):
            spec["healthCheckNodePort"] = self._free_port(taken)
        if not spec.get("clusterIP"):
            spec["clusterIP"] = next(str(ip) for ip in SERVICE_CIDR.hosts() if ip >= FIRST_CLUSTER_IP
                                     and str(ip) not in ips)
        spec["clusterIPs"] = [spec["clusterIP"]]
        if errors:
            raise invalid("Service", name, errors)
        return {k: v for k, v in spec.items() if v is not None}

    @staticmethod
    def _free_port(taken: set[int]) -> int:
        for port in [*range(FIRST_NODE_PORT, NODE_PORTS.stop), *range(NODE_PORTS.start, FIRST_NODE_PORT)]:
            if port not in taken:
                taken.add(port)
                return port
        raise ApiError(500, "Internal error occurred: failed to allocate a nodePort: range is full")

    # --- writes ---------------------------------------------------------------------------------

    def _create_service(self, namespace: str, body: Any) -> Json:
        if not isinstance(body, dict) or not (body.get("metadata") or {}).get("name"):
            raise invalid("Service", "", [("metadata.name", "FieldValueRequired",
                                           "Required value: name or generateName is required")])
        meta = body["metadata"]
        if meta.get("namespace", namespace) != namespace:
            raise ApiError(400, "the namespace of the provided object does not match the namespace sent on the "
                           "request")
        name = meta["name"]
        if (namespace, name) in self.services:
            raise already_exists("services", name)
        service = {"apiVersion": "v1", "kind": "Service",
                   "metadata": self._meta(name, namespace, labels=meta.get("labels"),
                                          annotations=meta.get("annotations")),
                   "spec": self._defaulted(body.get("spec") or {}, name), "status": {"loadBalancer": {}}}
        self.services[(namespace, name)] = service
        return service

    def _update_service(self, current: Json, new: Any) -> Json:
        if not isinstance(new, dict):
            raise ApiError(400, "the body of the request is not a Service object")
        meta, old_meta = new.get("metadata") or {}, current["metadata"]
        name, key = old_meta["name"], (old_meta["namespace"], old_meta["name"])
        if meta.get("name", name) != name:
            raise ApiError(400, f"the name of the object ({meta.get('name')}) does not match the name on the URL "
                           f"({name})")
        preconditions("services", name, "", meta, old_meta)
        spec, old = copy(new.get("spec") or {}), current["spec"]
        spec.setdefault("type", "ClusterIP")
        # patchAllocatedValues: what the caller leaves out keeps the value allocated before.
        if not spec.get("clusterIP"):
            spec["clusterIP"] = old.get("clusterIP")
        spec.pop("clusterIPs", None)
        if _needs_node_ports(old) and _needs_node_ports(spec):
            by_name = {p.get("name"): p.get("nodePort") for p in old.get("ports") or []}
            used = {p.get("nodePort") for p in spec.get("ports") or []}
            for p in spec.get("ports") or []:
                if not p.get("nodePort") and by_name.get(p.get("name")) not in used:
                    p["nodePort"] = by_name.get(p.get("name"))
        if _needs_health_port(old) and _needs_health_port({"externalTrafficPolicy": "Cluster", **spec}):
            spec.setdefault("healthCheckNodePort", old.get("healthCheckNodePort"))
        errors: list[FieldError] = []
        if spec["clusterIP"] != old.get("clusterIP"):
            errors.append(field_invalid("spec.clusterIPs[0]", [spec["clusterIP"]], "may not change once set"))
        if old.get("type") == spec["type"] == "LoadBalancer" and \
                spec.get("loadBalancerClass") != old.get("loadBalancerClass"):
            errors.append(field_invalid("spec.loadBalancerClass", spec.get("loadBalancerClass"),
                                        "may not change once set"))
        if errors:
            raise invalid("Service", name, errors)
        updated = {"apiVersion": "v1", "kind": "Service", "status": current.get("status"),
                   "spec": self._defaulted(spec, name, key=key),
                   "metadata": {**{k: v for k, v in meta.items() if k in KEPT_META and v},
                                **{k: old_meta[k] for k in ("name", "namespace", "uid", "resourceVersion",
                                                            "creationTimestamp")}}}
        if updated != current:  # a no-op write is not persisted: the resourceVersion stays
            self.services[key] = updated
        return self.services[key]

    def _update_service_status(self, current: Json, new: Any) -> Json:
        if not isinstance(new, dict):
            raise ApiError(400, "the body of the request is not a Service object")
        meta, old_meta = new.get("metadata") or {}, current["metadata"]
        name, key = old_meta["name"], (old_meta["namespace"], old_meta["name"])
        preconditions("services", name, "", meta, old_meta)
        status = copy(new.get("status") or {})
        balancer = status.setdefault("loadBalancer", {})
        errors: list[FieldError] = []
        ingress = balancer.get("ingress") or []
        if ingress and current["spec"].get("type") != "LoadBalancer":
            errors.append(field_forbidden("status.loadBalancer.ingress",
                                          "may only be used when `spec.type` is 'LoadBalancer'"))
        for i, entry in enumerate(ingress):
            errors += _ingress_errors(f"status.loadBalancer.ingress[{i}]", entry)
        if errors:
            raise invalid("Service", name, errors)
        if not ingress:
            balancer.pop("ingress", None)
        updated = {**current, "status": status}
        if updated != current:
            self.services[key] = updated
        return self.services[key]

    # --- routes ---------------------------------------------------------------------------------

    def _route_services(self, call: Call) -> Optional[tuple[int, Json]]:
        parts = call.parts
        if parts == ["api", "v1", "services"] and call.method == "GET":
            return 200, self._list(Scope("v1", "Service"), list(self.services.values()), call.query)
        if not (len(parts) in (5, 6, 7) and parts[:3] == ["api", "v1", "namespaces"] and parts[4] == "services"):
            return None
        namespace = parts[3]
        if len(parts) == 7:
            return self._route_service_status(call, namespace) if parts[6] == "status" else None
        if len(parts) == 5:
            if call.method == "GET":
                items = [s for (ns, _), s in self.services.items() if ns == namespace]
                return 200, self._list(Scope("v1", "Service", namespace), items, call.query)
            if call.method == "POST":
                return 201, copy(self._create_service(namespace, call.body))
            raise ApiError(405, f"the server does not allow this method on the requested resource ({call.method})")
        name = parts[5]
        current = self.services.get((namespace, name))
        if call.method == "PATCH" and call.content_type == APPLY_PATCH and current is None:
            body = apply_merge({"metadata": {"name": name, "namespace": namespace}}, call.body or {})
            return 201, copy(self._create_service(namespace, body))
        if current is None:
            raise not_found("services", name)
        if call.method == "GET":
            return 200, copy(current)
        if call.method == "DELETE":
            del self.services[(namespace, name)]
            return 200, copy(current)
        if call.method == "PUT":
            return 200, copy(self._update_service(current, call.body))
        if call.method == "PATCH":
            return 200, copy(self._update_service(current, _patched(current, call)))
        return None

    def _route_service_status(self, call: Call, namespace: str) -> Optional[tuple[int, Json]]:
        name = call.parts[5]
        current = self.services.get((namespace, name))
        if current is None:
            raise not_found("services", name)
        if call.method == "GET":
            return 200, copy(current)
        if call.method == "PUT":
            return 200, copy(self._update_service_status(current, call.body))
        if call.method == "PATCH":
            return 200, copy(self._update_service_status(current, _patched(current, call)))
        raise ApiError(405, f"the server does not allow this method on the requested resource ({call.method})")


def _patched(current: Json, call: Call) -> Json:
    if call.content_type not in PATCH_TYPES:
        raise ApiError(415, f"the body of the request was in an unknown format - accepted media types "
                            f"include: {', '.join(PATCH_TYPES)}")
    if call.content_type == MERGE_PATCH:
        return merge_patch(current, call.body)
    return _strategic(current, call.body, apply=call.content_type == APPLY_PATCH)


def _ingress_errors(path: str, entry: Json) -> list[FieldError]:
    errors: list[FieldError] = []
    ip, hostname, mode = entry.get("ip"), entry.get("hostname"), entry.get("ipMode")
    if ip:
        try:
            ipaddress.ip_address(ip)
        except ValueError:
            errors.append(field_invalid(f"{path}.ip", ip, "must be a valid IP address, (e.g. 10.9.8.7 or "
                                                          "2001:db8::ffff)"))
        if mode is None:
            entry["ipMode"] = "VIP"
    if mode is not None and not ip:
        errors.append(field_forbidden(f"{path}.ipMode", "may not be specified when `ip` is not set"))
    elif mode is not None and mode not in ("Proxy", "VIP"):
        errors.append(field_unsupported(f"{path}.ipMode", mode, ["Proxy", "VIP"]))
    if hostname:
        if not DNS_SUBDOMAIN.fullmatch(hostname) or len(hostname) > 253:
            errors.append(field_invalid(f"{path}.hostname", hostname, "a lowercase RFC 1123 subdomain must consist "
                                        "of lower case alphanumeric characters, '-' or '.', and must start and end "
                                        "with an alphanumeric character"))
        try:
            ipaddress.ip_address(hostname)
            errors.append(field_invalid(f"{path}.hostname", hostname, "must be a DNS name, not an IP address"))
        except ValueError:
            pass
    return errors
