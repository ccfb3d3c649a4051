"""The key properties of each declared resource, as the plan's text shows them; pure.

Values are JSON (`true`, `"10"`, `{"a": 1}`), unknown ones `(known after apply)`; annotation and
label keys are printed in full. An item is a line, or a (heading, lines) pair for a nested map.
"""

from __future__ import annotations

import json
from typing import Any, Callable, Sequence, Union

from components.annotations import LOADBALANCER_ID
from plan.document import notes
from plan.offline import UNKNOWN, Registration

Item = Union[str, tuple[str, list[str]]]


def value(v: Any) -> str:
    if v == UNKNOWN:
        return UNKNOWN
    return json.dumps(v, sort_keys=True, ensure_ascii=False)


def is_object_patch(r: Registration) -> bool:
    """An ExistingObjectPatch (components/cluster_patch.py): labels and annotations on a NodePool or PoolService."""
    return r.type == "pulumi-python:dynamic/cluster:ExistingObjectPatch"


def _map(heading: str, mapping: dict[str, Any] | None) -> list[Item]:
    if not mapping:
        return []
    return [(heading, [f"{k}: {value(v)}" for k, v in sorted(mapping.items())])]


def _pairs(r: Registration, keys: Sequence[str]) -> str:
    return ", ".join(f"{k}={value(r.inputs[k])}" for k in keys if r.inputs.get(k) is not None)


def flags(r: Registration) -> list[str]:
    out = []
    if r.options.get("protect"):
        out.append("protected")
    if r.options.get("replaceOnChanges"):
        out.append(f"replaced when {', '.join(r.options['replaceOnChanges'])} changes")
    if r.options.get("import"):
        out.append(f"imported from {value(r.options['import'])}")
    return [", ".join(out)] if out else []


def _service(r: Registration) -> list[Item]:
    spec, meta = r.inputs.get("spec") or {}, r.inputs.get("metadata") or {}
    ports = ", ".join(f"{p.get('name') or '-'} {p.get('port')}/{p.get('protocol') or 'TCP'}->{p.get('targetPort')}"
                      + (f" (nodePort {p['nodePort']})" if p.get("nodePort") else "") for p in spec.get("ports") or [])
    cls = spec.get("loadBalancerClass")
    # Bound to a CLB Pulumi builds (`management: user`), the class-less Service only has CCM fill its groups.
    ccm = ("fills the groups of the bound CLB" if (meta.get("annotations") or {}).get(LOADBALANCER_ID)
           else "builds a CLB")
    head = (f"type={value(spec.get('type'))}, loadBalancerClass="
            f"{value(cls) if cls else f'null (the cloud-controller-manager {ccm})'}, "
            f"externalTrafficPolicy={value(spec.get('externalTrafficPolicy'))}")
    return [head, f"ports: {ports}", *_map("annotations", meta.get("annotations")), *flags(r)]


def _patch(r: Registration) -> list[Item]:
    wait = r.inputs.get("waitSeconds")
    return [*_map("labels", r.inputs.get("labels")), *_map("annotations", r.inputs.get("annotations")),
            f"waits up to {wait:g} s for the {r.inputs.get('kind')}; never creates it" if isinstance(wait, (int, float))
            else f"waits for the {r.inputs.get('kind')}; never creates it"]


def _daemonset(r: Registration) -> list[Item]:
    pod = (((r.inputs.get("spec") or {}).get("template") or {}).get("spec")) or {}
    return [f"image: {value(c.get('image'))}" for c in pod.get("containers") or []]


def _cloud(*keys: str, nested: Sequence[str] = ()) -> Callable[[Registration], list[Item]]:
    """Key properties of a cloud resource, in the order given, nested maps apart, with its options and notes."""
    def describe(r: Registration) -> list[Item]:
        out: list[Item] = [line for line in (_pairs(r, keys),) if line]
        for key in nested:
            if isinstance(r.inputs.get(key), dict):
                out += _map(key, r.inputs[key])
        return out + flags(r) + notes(r)
    return describe


def _nlb(r: Registration) -> list[Item]:
    zones = [f"{z.get('zoneId')}: vswitchId={value(z.get('vswitchId'))}" for z in r.inputs.get("zoneMappings") or []]
    out = _cloud("loadBalancerName", "loadBalancerType", "addressType", "addressIpVersion", "vpcId",
                 "deletionProtectionEnabled")(r)
    return out[:1] + ([("zone mappings", zones)] if zones else []) + out[1:]


def _dynamic(r: Registration) -> list[Item]:
    shown = {k: v for k, v in sorted(r.inputs.items()) if k not in ("__provider", "attributes") and v is not None}
    return [", ".join(f"{k}={value(v)}" for k, v in shown.items()), *_map("attributes", r.inputs.get("attributes"))]


def _generic(r: Registration) -> list[Item]:
    return [f"{k}: {value(v)}" for k, v in sorted(r.inputs.items()) if k not in ("kind", "apiVersion", "__provider")]


DESCRIBE: dict[str, Callable[[Registration], list[Item]]] = {
    "kubernetes:core/v1:Service": _service,
    "kubernetes:apps/v1:DaemonSet": _daemonset,
    "alicloud:ens/loadBalancer:LoadBalancer": _cloud("loadBalancerName", "ensRegionId", "loadBalancerSpec",
                                                     "networkId", "vswitchId"),
    "alicloud:ens/eip:Eip": _cloud("eipName", "bandwidth", "internetChargeType", "isp"),
    "alicloud:ens/eipInstanceAttachment:EipInstanceAttachment": _cloud("instanceType", "allocationId", "instanceId"),
    "alicloud:ens/loadBalancerUdpListener:LoadBalancerUdpListener": _cloud("listenerPort", "backendServerPort",
                                                                           "scheduler", "status"),
    "alicloud:ens/loadBalancerHttpListener:LoadBalancerHttpListener": _cloud("listenerPort", "backendServerPort",
                                                                             "scheduler", "healthCheckUri", "status"),
    "alicloud:nlb/loadBalancer:LoadBalancer": _nlb,
    "alicloud:nlb/serverGroup:ServerGroup": _cloud("serverGroupName", "serverGroupType", "protocol", "scheduler",
                                                   "preserveClientIpEnabled", "connectionDrainEnabled",
                                                   "connectionDrainTimeout", nested=("healthCheck",)),
    "alicloud:nlb/listener:Listener": _cloud("listenerPort", "listenerProtocol", "listenerDescription",
                                             "serverGroupId"),
    "alicloud:slb/applicationLoadBalancer:ApplicationLoadBalancer": _cloud(
        "loadBalancerName", "addressType", "vswitchId", "instanceChargeType", "paymentType", "deleteProtection"),
    "alicloud:slb/serverGroup:ServerGroup": _cloud("name", "loadBalancerId"),
    "alicloud:slb/listener:Listener": _cloud("frontendPort", "protocol", "backendPort", "bandwidth", "scheduler",
                                             "healthCheck", "healthCheckType", "healthCheckUri",
                                             "healthCheckConnectPort", "serverCertificateId", "description"),
    "pulumi-python:dynamic/cluster:ExistingObjectPatch": _patch,
    "pulumi-python:dynamic/backends:BackendSync": _dynamic,
    "pulumi-python:dynamic/ens:Listener": _dynamic,
    "pulumi-python:dynamic/ens:EipAddress": _dynamic,
}


def describe(r: Registration) -> list[Item]:
    return DESCRIBE.get(r.type, _generic)(r) if r.custom else []
