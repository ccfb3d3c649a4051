"""The typed stack configuration: one pydantic model per block of `Pulumi.<stack>.yaml`.

Field-level rules (types, ranges, formats) live here; rules that relate several fields or several
services live in `stacks.rules`, so each can be read and tested on its own. Keys are camelCase in
YAML, as Pulumi stack files usually are, and snake_case in Python.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal, Optional, Union

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints
from pydantic.alias_generators import to_camel
from pydantic_core import PydanticCustomError

from contracts.alicloud_ens import ELB_SPECS

# Kubernetes name formats (DNS-1123 label / DNS-1035 label for Service names).
DNS_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
DNS_1035_LABEL = r"^[a-z]([-a-z0-9]*[a-z0-9])?$"
# A label key is an optional DNS subdomain prefix and a name of at most 63 characters.
LABEL_KEY = r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$"
LABEL_VALUE = r"^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$"

Name = Annotated[str, StringConstraints(pattern=DNS_LABEL, max_length=63)]
ServiceName = Annotated[str, StringConstraints(pattern=DNS_1035_LABEL, max_length=63)]
LabelKey = Annotated[str, StringConstraints(pattern=LABEL_KEY, max_length=253)]
LabelValue = Annotated[str, StringConstraints(pattern=LABEL_VALUE, max_length=63)]
Labels = dict[LabelKey, LabelValue]
PortNumber = Annotated[int, Field(ge=1, le=65535)]
ElbId = Annotated[str, StringConstraints(pattern=r"^lb-[a-z0-9]+$")]


def _target_port(value: Union[int, str]) -> Union[int, str]:
    """A port number or the name of a container port (one check, so one error at one path)."""
    if isinstance(value, int) and 1 <= value <= 65535:
        return value
    if isinstance(value, str) and len(value) <= 15 and re.match(DNS_LABEL, value):
        return value
    raise PydanticCustomError("target_port", "a target port is a number from 1 to 65535 or a container port name")


TargetPort = Annotated[Union[int, str], AfterValidator(_target_port)]

ELB_SPEC_DEFAULT = "elb.s2.small"


class Model(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        frozen=True,
        strict=False,
    )


# --- cluster -------------------------------------------------------------------------------------


class Cluster(Model):
    id: Annotated[str, StringConstraints(pattern=r"^c[a-z0-9]{6,40}$")]
    vpc_id: Annotated[str, StringConstraints(pattern=r"^vpc-[a-z0-9]+$")]
    network: Literal["terway-edge", "flannel-vxlan"] = "flannel-vxlan"
    express_connect: bool = False
    # edge-controller-manager version, as `kubectl -n kube-system get deploy edge-controller-manager` shows it.
    ecm_version: Optional[Annotated[str, StringConstraints(pattern=r"^v?\d+(\.\d+){0,2}$")]] = None


# --- node pools ----------------------------------------------------------------------------------


def _sorted_unique(ids: list[str]) -> list[str]:
    """A set written as a list: its order means nothing, so it must not change what is declared."""
    if len(set(ids)) != len(ids):
        raise PydanticCustomError("unique", "each id may be listed once")
    return sorted(ids)


Carrier = Literal["cmcc", "unicom", "telecom"]


class EnsPlacement(Model):
    """Where an ENS node pool lives: the values ACK Edge puts on the NodePool as annotations."""

    region_id: Annotated[str, StringConstraints(pattern=r"^[a-z]{2}-[a-z0-9-]+$")]
    network_id: Annotated[str, StringConstraints(pattern=r"^n-[a-z0-9]+$")]
    # The ELB is placed in the first vSwitch by id.
    vswitch_ids: Annotated[
        list[Annotated[str, StringConstraints(pattern=r"^vsw-[a-z0-9]+$")]], Field(min_length=1),
        AfterValidator(_sorted_unique),
    ]
    # The carrier of the pool's EIPs, where the region id does not name exactly one (`cn-beijing-15`,
    # `cn-wuxi-telecom_unicom_cmcc-2`); an edge EIP has one carrier (CreateEipInstance `Isp`).
    isp: Optional[Carrier] = None


class CloudZone(Model):
    zone_id: Annotated[str, StringConstraints(pattern=r"^[a-z]{2}-[a-z0-9-]+$")]
    vswitch_id: Annotated[str, StringConstraints(pattern=r"^vsw-[a-z0-9]+$")]


class NodePool(Model):
    id: Name
    type: Literal["ens", "cloud", "edge"]
    # Labels of the NodePool object itself: what `service.openyurt.io/nodepool-labelselector` matches.
    labels: Labels = {}
    ens: Optional[EnsPlacement] = None
    zones: list[CloudZone] = []
    # Expected number of nodes; only used to warn about the backend quota under `Cluster`.
    node_count: Optional[Annotated[int, Field(ge=0, le=100000)]] = None



# --- services ------------------------------------------------------------------------------------


class ServicePort(Model):
    name: Optional[Name] = None
    port: PortNumber
    # A number, or the name of a container port.
    target_port: Optional[TargetPort] = None
    protocol: Literal["TCP", "UDP"] = "TCP"
    node_port: Optional[Annotated[int, Field(ge=30000, le=32767)]] = None
    # The listener Pulumi creates for this port (`management: pulumi`); default: the port's protocol.
    listener: Optional[Literal["tcp", "udp", "http", "https"]] = None
    # HTTPS listeners: the ENS server certificate id.
    certificate_id: Optional[Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=r"^\S+$")]] = None

    @property
    def listener_protocol(self) -> str:
        return self.listener or self.protocol.lower()


class HealthCheck(Model):
    """Listener health check; the defaults are the ones the ACK Edge documentation gives for ELB."""

    type: Literal["tcp", "http"] = "tcp"
    healthy_threshold: Annotated[int, Field(ge=2, le=10)] = 3
    unhealthy_threshold: Annotated[int, Field(ge=2, le=10)] = 3
    interval: Annotated[int, Field(ge=1, le=50)] = 2
    connect_timeout: Annotated[int, Field(ge=1, le=300)] = 5
    uri: Optional[Annotated[str, StringConstraints(pattern=r"^/[\x21-\x7e]{0,79}$")]] = None



class Eip(Model):
    """Edge EIP of a region's ELB; the defaults are the ELB annotation defaults of ACK Edge."""

    bandwidth: Annotated[int, Field(ge=5, le=10000)] = 10
    # ENS EIPs are billed on the monthly 95th percentile only (CreateEipInstance.InternetChargeType).
    charge_type: Literal["95BandwidthByMonth"] = "95BandwidthByMonth"
    # One carrier for the EIPs of every pool (ECM's `eip-isp` annotation is per Service); leave it out and
    # each EIP takes its own pool's carrier (`nodePools[].ens.isp`, or the one its region id names).
    isp: Optional[Carrier] = None


class Adopt(Model):
    """An existing load balancer (and, for ELB, its EIP) to bring under Pulumi without changing its address."""

    load_balancer_id: Annotated[str, StringConstraints(pattern=r"^(lb|nlb)-[a-z0-9]+$")]
    eip_id: Optional[Annotated[str, StringConstraints(pattern=r"^eip-[a-z0-9]+$")]] = None


LbType = Literal["elb", "nlb", "clb"]
Management = Literal["ecm", "user", "pulumi", "ccm"]
MANAGEMENT_BY_TYPE: dict[str, tuple[str, ...]] = {
    "elb": ("ecm", "user", "pulumi"),
    "nlb": ("ccm", "pulumi"),
    "clb": ("ccm", "pulumi"),
}


class LoadBalancer(Model):
    type: LbType = "elb"
    management: Management = "ecm"
    scheduler: Optional[Literal["rr", "wrr", "wlc", "sch", "tch", "qch", "iqch"]] = None
    # Turns on pod-level (weighted round robin) balancing under `Local`; always on under `Cluster`.
    pod_level_balancing: bool = False
    # Session persistence: seconds a client sticks to one backend, 0 = off.
    persistence_timeout: Annotated[int, Field(ge=0, le=3600)] = 0
    established_timeout: Optional[Annotated[int, Field(ge=10, le=900)]] = None
    preserve_client_ip: bool = False
    health_check: Optional[HealthCheck] = None
    # The ELB specs the API documents (contracts/alicloud_ens.py); ECM takes the same (annotation `spec`).
    spec: Literal[ELB_SPECS] = ELB_SPEC_DEFAULT  # type: ignore[valid-type]
    eip: Optional[Eip] = None
    # `management: user`: node pool id -> an existing ELB (`lb-...`) to bind; pools without one get a
    # Pulumi-created ELB and EIP.
    elb_ids: dict[Name, ElbId] = {}
    # One ELB serves several Services (self-managed ELB and EIP only).
    shared: bool = False
    # `management: pulumi`: existing load balancers to import (`pulumi import`) instead of creating them;
    # keyed by node pool id for ELB, `lb` for NLB and CLB.
    adopt: dict[str, Adopt] = {}
    # `management: pulumi`: seconds a leaving backend keeps weight 0 before it is removed (NLB: connection drain).
    drain_seconds: Annotated[int, Field(ge=0, le=3600)] = 10
    # NLB and CLB: a public or a VPC-internal address.
    address_type: Literal["internet", "intranet"] = "internet"
    # NLB only: how pods are registered. `Ip` registers pod IPs (hybrid cloud/edge pods).
    server_group_type: Literal["Ip", "Instance"] = "Ip"



class Workload(Model):
    """An optional demo workload: the `cube` DaemonSet of the ACK Edge documentation."""

    name: Name
    image: Annotated[str, StringConstraints(min_length=1, max_length=512, pattern=r"^\S+$")]


class Service(Model):
    name: ServiceName
    namespace: Name = "default"
    selector: Annotated[Labels, Field(min_length=1)]
    ports: Annotated[list[ServicePort], Field(min_length=1, max_length=50)]
    external_traffic_policy: Literal["Local", "Cluster"] = "Cluster"
    # matchLabels against NodePool labels; empty = every pool (only allowed for nlb and clb).
    node_pool_selector: Labels = {}
    topology: bool = True
    load_balancer: LoadBalancer = LoadBalancer()
    workload: Optional[Workload] = None


# --- the stack -----------------------------------------------------------------------------------


class StackConfig(Model):
    cluster: Cluster
    node_pools: Annotated[list[NodePool], Field(min_length=1)]
    services: list[Service] = []
    # Protect Pulumi-created ELBs and EIPs against deletion; unset = on for stacks named `prod*`.
    protect: Optional[bool] = None

    def protected(self, stack: str) -> bool:
        return self.protect if self.protect is not None else stack.startswith("prod")


# The configuration keys under the project namespace, in the order a stack file usually lists them.
# `Pulumi.yaml` declares the ones without a stack-independent default (Pulumi requires declared
# keys that have no default).
CONFIG_KEYS: tuple[str, ...] = tuple(
    (field.alias or name) for name, field in StackConfig.model_fields.items()
)
