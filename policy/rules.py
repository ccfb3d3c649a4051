"""The guardrails of the ack-edge-lb policy pack as pure functions: no gRPC, no engine, no I/O.

Every check takes the values the policy runtime hands a validation (resource type, name, URN, props,
resource options) and returns the problems it found, so it can be tested with resources recorded
from the program under mocks (`python -m plan <stack> --format json`).

Props come from pulumi-policy as read-only mappings that raise `UnknownValueError` on a value that
is unknown during preview (an id, say). The checks read a value through `_get`, which turns such a
value into `UNKNOWN`, and skip what they cannot know yet: the same check runs again at `pulumi up`,
on the known value, before the resource is created or updated.
"""

from __future__ import annotations

import fnmatch
import re
from collections import defaultdict
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Optional, Sequence

try:
    from pulumi_policy.proxy import UnknownValueError
except ImportError:  # pragma: no cover - only where pulumi-policy is not installed (e.g. ruff's venv)
    class UnknownValueError(Exception):  # type: ignore[no-redef]
        """Stand-in: nothing raises it without pulumi-policy."""

# Resource types the pack looks at.
ELB = "alicloud:ens/loadBalancer:LoadBalancer"
EIP = "alicloud:ens/eip:Eip"
NLB = "alicloud:nlb/loadBalancer:LoadBalancer"
CLB = "alicloud:slb/applicationLoadBalancer:ApplicationLoadBalancer"
NLB_SERVER_GROUP = "alicloud:nlb/serverGroup:ServerGroup"
SERVICE = "kubernetes:core/v1:Service"
BACKEND_SYNC = "pulumi-python:dynamic/backends:BackendSync"  # reconciler/provider.py

# The property that carries the cloud-side name of ELBs and EIPs, and what to call them in messages.
CLOUD_NAME_PROPS = {ELB: "loadBalancerName", EIP: "eipName"}
KIND = {ELB: "ELB", EIP: "EIP", NLB: "NLB", CLB: "CLB"}
PROTECTED_TYPES = (ELB, EIP, NLB, CLB)

SHARED_ELB_ANNOTATION = "service.openyurt.io/elb-force-override-listeners"

EIP_BANDWIDTH_RANGE = (5, 10000)  # Mbit/s, the ENS API's range
DEFAULT_MAX_EIP_BANDWIDTH = 200
DEFAULT_PROTECTED_STACKS = ("prod*",)

NAME_FORMAT = "k8s/<svc>/<ns>/<pool>/<cluster>"
NAME_PARTS = ("k8s", "<svc>", "<ns>", "<pool>", "<cluster>")
# A DNS label (RFC 1123), as Kubernetes names, namespaces, node pool and cluster ids are.
DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")


class _Unknown:
    def __repr__(self) -> str:
        return "UNKNOWN"


UNKNOWN: Any = _Unknown()


@dataclass(frozen=True)
class Violation:
    """A problem found by a stack-wide check, on the resource with `urn` (None: the stack)."""

    message: str
    urn: Optional[str] = None


def _get(props: Any, *path: Any) -> Any:
    """props[path[0]][path[1]]...: None when absent, UNKNOWN when not known during preview."""
    value = props
    for key in path:
        try:
            if isinstance(value, Mapping):
                if key not in value:
                    return None
                value = value[key]
            elif isinstance(value, Sequence) and not isinstance(value, str) and isinstance(key, int):
                value = value[key] if -len(value) <= key < len(value) else None
            else:
                return None
        except UnknownValueError:
            return UNKNOWN
        if value is None:
            return None
    return value


def describe(resource_type: str, name: str) -> str:
    """How messages name a resource: its kind and its Pulumi name, as `pulumi preview` lists it."""
    return f'{KIND.get(resource_type, resource_type)} "{name}"'


# --- stack names -------------------------------------------------------------------------------


def stack_of_urn(urn: Optional[str]) -> Optional[str]:
    """`urn:pulumi:<stack>::<project>::<type>::<name>` -> `<stack>`; None for anything else."""
    if not urn or not urn.startswith("urn:pulumi:"):
        return None
    stack = urn[len("urn:pulumi:"):].split("::", 1)[0]
    return stack or None


def _matches(stack: str, patterns: Iterable[str]) -> bool:
    return any(fnmatch.fnmatchcase(stack, pattern) for pattern in patterns)


def is_protected_stack(stack: Optional[str], patterns: Iterable[str] = DEFAULT_PROTECTED_STACKS) -> bool:
    return stack is not None and _matches(stack, patterns)


# --- 1. ELB and EIP names ----------------------------------------------------------------------


def cloud_name_problems(value: Any) -> list[str]:
    """Why `value` is not a `k8s/<svc>/<ns>/<pool>/<cluster>` name (empty: it is one)."""
    if not isinstance(value, str):
        return [f"the name is {value!r}, not a string"]
    parts = value.split("/")
    if len(parts) != len(NAME_PARTS):
        return [f"{len(parts)} '/'-separated parts instead of {len(NAME_PARTS)}"]
    problems = []
    if parts[0] != "k8s":
        problems.append(f'the first part is "{parts[0]}", not "k8s"')
    for label, part in zip(NAME_PARTS[1:], parts[1:], strict=True):
        if not DNS_LABEL.match(part):
            problems.append(f'{label} "{part}" is not a DNS label (1-63 lowercase letters, digits or '
                            f"'-', starting and ending with a letter or digit)")
    return problems


def check_cloud_name(resource_type: str, name: str, props: Mapping[str, Any]) -> list[str]:
    """ELB `loadBalancerName` / EIP `eipName` follow `k8s/<svc>/<ns>/<pool>/<cluster>`."""
    prop = CLOUD_NAME_PROPS.get(resource_type)
    if prop is None:
        return []
    value = _get(props, prop)
    if value is UNKNOWN:
        return []
    if value is None:
        return [f"{describe(resource_type, name)} has no {prop}: ECM and BackendSync find the {KIND[resource_type]} "
                f"of a Service and node pool by its name `{NAME_FORMAT}`. Fix: set {prop}"]
    problems = cloud_name_problems(value)
    if not problems:
        return []
    return [f'{describe(resource_type, name)}: {prop} "{value}" does not follow `{NAME_FORMAT}`: '
            f"{'; '.join(problems)}"]


def duplicate_cloud_names(resources: Iterable[Any]) -> list[Violation]:
    """No two ELBs (or two EIPs) of the stack carry the same cloud name.

    An ELB and its own EIP share a name by design, so names are compared per type.
    """
    seen: dict[tuple[str, str], list[Any]] = defaultdict(list)
    for r in resources:
        prop = CLOUD_NAME_PROPS.get(r.resource_type)
        if prop is None:
            continue
        value = _get(r.props, prop)
        if isinstance(value, str):
            seen[(r.resource_type, value)].append(r)
    violations = []
    for (resource_type, value), owners in seen.items():
        if len(owners) < 2:
            continue
        for r in owners:
            others = ", ".join(f'"{o.name}"' for o in owners if o is not r)
            violations.append(Violation(
                f'{describe(resource_type, r.name)}: {CLOUD_NAME_PROPS[resource_type]} "{value}" is also the name '
                f"of {others}; each {KIND[resource_type]} name must be unique in the stack (ECM and the "
                f"console tell them apart by name). Fix: give each Service and node pool its own "
                f"namespace/name/pool combination", r.urn))
    return violations


# --- 2. EIP bandwidth --------------------------------------------------------------------------


def _number(value: Any) -> Optional[float]:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def eip_bandwidth_ceiling(stack: Optional[str], config: Optional[Mapping[str, Any]] = None) -> int:
    """The ceiling for `stack`: `maxEipBandwidthByStack` (exact name first, then the longest matching
    pattern), else `maxEipBandwidth`, else 200 Mbit/s. Config numbers arrive as floats."""
    config = config or {}
    by_stack = config.get("maxEipBandwidthByStack") or {}
    if stack is not None and by_stack:
        if stack in by_stack:
            return int(by_stack[stack])
        matching = [p for p in by_stack if fnmatch.fnmatchcase(stack, p)]
        if matching:
            return int(by_stack[max(matching, key=len)])
    ceiling = config.get("maxEipBandwidth")
    return int(ceiling) if ceiling is not None else DEFAULT_MAX_EIP_BANDWIDTH


def check_eip_bandwidth(resource_type: str, name: str, props: Mapping[str, Any], ceiling: int,
                        stack: Optional[str] = None) -> list[str]:
    """EIP bandwidth within the API's 5-10000 Mbit/s and at most the stack's ceiling."""
    if resource_type != EIP:
        return []
    value = _get(props, "bandwidth")
    if value is UNKNOWN or value is None:  # None: the provider's default, 5 Mbit/s
        return []
    bandwidth = _number(value)
    low, high = EIP_BANDWIDTH_RANGE
    if bandwidth is None:
        return [f"{describe(resource_type, name)}: bandwidth {value!r} is not a number of Mbit/s"]
    shown = f"{bandwidth:g}"
    if not low <= bandwidth <= high:
        return [f"{describe(resource_type, name)}: bandwidth {shown} Mbit/s is outside {low}-{high} Mbit/s. "
                f"Fix: loadBalancer.eip.bandwidth"]
    if bandwidth > ceiling:
        where = f'stack "{stack}"' if stack else "this stack"
        return [f"{describe(resource_type, name)}: bandwidth {shown} Mbit/s is above the ceiling of {ceiling} "
                f"Mbit/s for {where}. Fix: lower loadBalancer.eip.bandwidth, or raise the ceiling "
                f"(policy config maxEipBandwidth / maxEipBandwidthByStack)"]
    return []


# --- 3. protection in prod* stacks -------------------------------------------------------------


def check_protected(resource_type: str, name: str, protect: Any, stack: Optional[str],
                    patterns: Iterable[str] = DEFAULT_PROTECTED_STACKS) -> list[str]:
    """ELBs, EIPs, NLBs and CLBs of protected stacks (`prod*`) carry the resource option protect."""
    patterns = tuple(patterns)
    if resource_type not in PROTECTED_TYPES or not is_protected_stack(stack, patterns):
        return []
    if protect is True:
        return []
    return [f'{describe(resource_type, name)} in stack "{stack}" is not protected: `pulumi destroy` or a '
            f"replacement would release it and its address. Fix: remove `ack-edge-lb:protect: false` "
            f"(protect is the default in stacks matching {', '.join(patterns)})"]


# --- 4. a shared ELB needs Cluster -------------------------------------------------------------


def check_shared_elb_service(resource_type: str, name: str, props: Mapping[str, Any]) -> list[str]:
    """A Service on a shared ELB (elb-force-override-listeners: "true") uses externalTrafficPolicy Cluster."""
    if resource_type != SERVICE:
        return []
    shared = _get(props, "metadata", "annotations", SHARED_ELB_ANNOTATION)
    if shared is UNKNOWN or str(shared).lower() != "true":
        return []
    policy = _get(props, "spec", "externalTrafficPolicy")
    if policy is UNKNOWN or policy in (None, "Cluster"):  # Kubernetes' default is Cluster
        return []
    service = f"{_get(props, 'metadata', 'namespace') or 'default'}/{_get(props, 'metadata', 'name')}"
    return [f'Service "{name}" ({service}) shares an ELB ({SHARED_ELB_ANNOTATION}: "true") but has '
            f'externalTrafficPolicy "{policy}": the Services on one ELB share its backends, and ACK Edge '
            f"supports only Cluster there. Fix: externalTrafficPolicy: Cluster, or stop sharing the ELB"]


# --- 5. NLB IP-mode BackendSync targets an Ip server group --------------------------------------


def _parent_urn(r: Any) -> Optional[str]:
    parent = getattr(r, "parent", None)
    if parent is not None:
        return getattr(parent, "urn", None)
    opts = getattr(r, "opts", None)
    return getattr(opts, "parent", None) or None


def _server_group_of(sync: Any, groups: Sequence[Any]) -> Optional[Any]:
    """The NLB server group a BackendSync fills: the one its `groupId` depends on, else its sibling
    `<parent>/server-group/<key>` for `<parent>/backends/<key>`."""
    dependencies = getattr(sync, "property_dependencies", None) or {}
    for dependency in dependencies.get("groupId", ()):
        if getattr(dependency, "resource_type", None) == NLB_SERVER_GROUP:
            return dependency
    prefix, sep, key = sync.name.rpartition("/backends/")
    if not sep:
        return None
    wanted, parent = f"{prefix}/server-group/{key}", _parent_urn(sync)
    for group in groups:
        if group.name == wanted and _parent_urn(group) == parent:
            return group
    return None


def ip_sync_server_group_types(resources: Iterable[Any]) -> list[Violation]:
    """Each BackendSync with kind nlb and mode ip registers pod IPs into a server group of type Ip."""
    resources = list(resources)
    groups = [r for r in resources if r.resource_type == NLB_SERVER_GROUP]
    violations = []
    for sync in resources:
        if sync.resource_type != BACKEND_SYNC:
            continue
        if _get(sync.props, "kind") != "nlb" or _get(sync.props, "mode") != "ip":
            continue
        group = _server_group_of(sync, groups)
        if group is None:
            continue  # a group this stack does not declare: nothing to compare with
        group_type = _get(group.props, "serverGroupType")
        if group_type is UNKNOWN or group_type == "Ip":
            continue
        shown = "unset (Instance)" if group_type is None else f'"{group_type}"'
        violations.append(Violation(
            f'NLB server group "{group.name}" has serverGroupType {shown}, but BackendSync "{sync.name}" '
            f"registers pod IPs into it (mode ip): an Instance server group takes ECS instances, not pod "
            f"IPs. Fix: loadBalancer.serverGroupType: Ip", group.urn))
    return violations
