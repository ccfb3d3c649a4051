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
    """The ACK Edge cluster whose Services are exposed."""

    id: Annotated[str, StringConstraints(pattern=r"^c[a-z0-9]{6,40}$")] = Field(
        description="The ACK cluster id; every cloud name the program gives ends in it.")
    vpc_id: Annotated[str, StringConstraints(pattern=r"^vpc-[a-z0-9]+$")] = Field(
        description="The VPC of the cluster; an NLB is created in it.")
    network: Literal["terway-edge", "flannel-vxlan"] = Field(
        "flannel-vxlan", description="The cluster's network plug-in; NLB `Ip` backends need `terway-edge`.")
    express_connect: bool = Field(
        False, description="Cloud and edge are connected by Express Connect (needed for NLB `Ip` backends).")
    ecm_version: Optional[Annotated[str, StringConstraints(pattern=r"^v?\d+(\.\d+){0,2}$")]] = Field(
        None, description="The edge-controller-manager version, as `kubectl -n kube-system get deploy "
                          "edge-controller-manager` shows it; the ECM and user ELB modes need 2.1.0 or later.")
    ccm_version: Optional[Annotated[str, StringConstraints(pattern=r"^v?\d+(\.\d+){0,2}$")]] = Field(
        None, description="The cloud-controller-manager add-on version, as the cluster's add-on list shows it "
                          "(`v2.14.0`); NLB `management: user` needs v2.9.1 or later.")


# --- node pools ----------------------------------------------------------------------------------


def _sorted_unique(ids: list[str]) -> list[str]:
    """A set written as a list: its order means nothing, so it must not change what is declared."""
    if len(set(ids)) != len(ids):
        raise PydanticCustomError("unique", "each id may be listed once")
    return sorted(ids)


Carrier = Literal["cmcc", "unicom", "telecom"]


class EnsPlacement(Model):
    """Where an ENS node pool lives: the values ACK Edge puts on the NodePool as annotations."""

    region_id: Annotated[str, StringConstraints(pattern=r"^[a-z]{2}-[a-z0-9-]+$")] = Field(
        description="The ENS region of the pool; its ELB and EIP are created there.")
    network_id: Annotated[str, StringConstraints(pattern=r"^n-[a-z0-9]+$")] = Field(
        description="The ENS network of the pool.")
    vswitch_ids: Annotated[
        list[Annotated[str, StringConstraints(pattern=r"^vsw-[a-z0-9]+$")]], Field(min_length=1),
        AfterValidator(_sorted_unique),
    ] = Field(description="The pool's vSwitches, a set (each once, order ignored); the ELB is placed in the "
                          "first vSwitch by id.")
    # An edge EIP has one carrier (CreateEipInstance `Isp`).
    isp: Optional[Carrier] = Field(
        None, description="The carrier of the pool's EIPs, where the region id does not name exactly one "
                          "(`cn-beijing-15`, `cn-wuxi-telecom_unicom_cmcc-2`).")


class CloudZone(Model):
    """A zone of a cloud node pool, with the vSwitch an NLB or CLB uses there."""

    zone_id: Annotated[str, StringConstraints(pattern=r"^[a-z]{2}-[a-z0-9-]+$")] = Field(
        description="The zone id.", examples=["cn-hangzhou-k"])
    vswitch_id: Annotated[str, StringConstraints(pattern=r"^vsw-[a-z0-9]+$")] = Field(
        description="The vSwitch of the zone.")


class NodePool(Model):
    """A node pool of the cluster, as ACK Edge created it (the program never creates node pools)."""

    id: Name = Field(description="The node pool id: the name of its NodePool object.")
    type: Literal["ens", "cloud", "edge"] = Field(
        description="`ens` (ENS nodes, served by ELBs), `cloud` (ECS nodes) or `edge` (other edge nodes).")
    labels: Labels = Field(
        {}, description="Labels of the NodePool object itself: what `service.openyurt.io/nodepool-labelselector` "
                        "(a Service's `nodePoolSelector`) matches.")
    ens: Optional[EnsPlacement] = Field(None, description="Where an ENS pool lives.")
    zones: list[CloudZone] = Field([], description="The zones of a cloud pool.")
    node_count: Optional[Annotated[int, Field(ge=0, le=100000)]] = Field(
        None, description="Expected number of nodes; only used to warn about the backend quota under `Cluster`.")


# --- services ------------------------------------------------------------------------------------


class ServicePort(Model):
    """A port of the Kubernetes Service; each becomes a listener of the load balancer."""

    name: Optional[Name] = Field(None, description="The port's name (needed when a Service has several ports).",
                                 examples=["http"])
    port: PortNumber = Field(description="The port the load balancer and the Service listen on.")
    target_port: Optional[TargetPort] = Field(
        None, description="A port number (1-65535), or the name of a container port (a DNS label of at most 15 "
                          "characters); unset: the same as `port`.")
    protocol: Literal["TCP", "UDP"] = Field("TCP", description="The port's protocol.")
    node_port: Optional[Annotated[int, Field(ge=30000, le=32767)]] = Field(
        None, description="A fixed NodePort; unset: Kubernetes picks one.")
    listener: Optional[Literal["tcp", "udp", "http", "https"]] = Field(
        None, description="The listener Pulumi creates for this port (`management: pulumi`, and `user` for NLB and "
                          "CLB); default: the port's protocol.")
    certificate_id: Optional[Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=r"^\S+$")]] = Field(
        None, description="HTTPS listeners: the server certificate id (for an ELB, the ENS one).", examples=["cert-cube-example"])

    @property
    def listener_protocol(self) -> str:
        return self.listener or self.protocol.lower()


class HealthCheck(Model):
    """Listener health check; the defaults are the ones the ACK Edge documentation gives for ELB."""

    type: Literal["tcp", "http"] = Field(
        "tcp", description="How backends are checked; `http` only where the controller supports it.")
    healthy_threshold: Annotated[int, Field(ge=2, le=10)] = Field(
        3, description="Successful checks in a row before a backend counts as healthy.")
    unhealthy_threshold: Annotated[int, Field(ge=2, le=10)] = Field(
        3, description="Failed checks in a row before a backend counts as unhealthy.")
    interval: Annotated[int, Field(ge=1, le=50)] = Field(2, description="Seconds between two checks.")
    connect_timeout: Annotated[int, Field(ge=1, le=300)] = Field(
        5, description="Seconds a check waits for an answer.")
    uri: Optional[Annotated[str, StringConstraints(pattern=r"^/[\x21-\x7e]{0,79}$")]] = Field(
        None, description="The path HTTP checks request; unset: `/`. Listeners Pulumi creates under `Local` check "
                          "`/healthz` on the healthCheckNodePort instead.")


class Eip(Model):
    """Edge EIP of a region's ELB; the defaults are the ELB annotation defaults of ACK Edge."""

    bandwidth: Annotated[int, Field(ge=5, le=10000)] = Field(10, description="Bandwidth in Mbit/s.")
    # CreateEipInstance.InternetChargeType.
    charge_type: Literal["95BandwidthByMonth"] = Field(
        "95BandwidthByMonth", description="ENS EIPs are billed on the monthly 95th percentile only.")
    # ECM's `eip-isp` annotation is per Service.
    isp: Optional[Carrier] = Field(
        None, description="One carrier for the EIPs of every pool; leave it out and each EIP takes its own "
                          "pool's carrier (`nodePools[].ens.isp`, or the one its region id names).")


class Adopt(Model):
    """An existing load balancer (and, for ELB, its EIP) to bring under Pulumi without changing its address."""

    load_balancer_id: Annotated[str, StringConstraints(pattern=r"^(lb|nlb)-[a-z0-9]+$")] = Field(
        description="The id of the ELB, NLB or CLB to import.")
    eip_id: Optional[Annotated[str, StringConstraints(pattern=r"^eip-[a-z0-9]+$")]] = Field(
        None, description="ELB only: the id of its EIP, imported with it.")


LbType = Literal["elb", "nlb", "clb"]
Management = Literal["ecm", "user", "pulumi", "ccm"]
# `user` is the self-managed mode of each kind: Pulumi owns the load balancer (ELB: you or Pulumi), the cluster's
# controller keeps it serving the Service (ECM: listeners and backends; CCM: the backends of the server groups the
# Service binds with `loadbalancer-id` and `vgroup-port`, listeners left to Pulumi).
MANAGEMENT_BY_TYPE: dict[str, tuple[str, ...]] = {
    "elb": ("ecm", "user", "pulumi"),
    "nlb": ("ccm", "user", "pulumi"),
    "clb": ("ccm", "user", "pulumi"),
}


class LoadBalancer(Model):
    """Which load balancer exposes the Service, who builds it, and its listener settings."""

    type: LbType = Field("elb", description="`elb` (one per ENS region), `nlb` or `clb`.")
    management: Management = Field(
        "ecm", description="Who builds the load balancer: `ecm`, `user` or `pulumi` for ELB; `ccm`, `user` or "
                           "`pulumi` for NLB and CLB (`user`: Pulumi builds it, its listeners and server groups, "
                           "and CCM keeps the groups' backends).")
    scheduler: Optional[Literal["rr", "wrr", "wlc", "sch", "tch", "qch", "iqch"]] = Field(
        None, description="The listeners' scheduling algorithm (each kind offers some); unset: `rr`, or `wrr` "
                          "with `podLevelBalancing`.")
    pod_level_balancing: bool = Field(
        False, description="Turns on pod-level (weighted round robin) balancing under `Local`; always on under "
                           "`Cluster`.")
    persistence_timeout: Annotated[int, Field(ge=0, le=3600)] = Field(
        0, description="Session persistence: seconds a client sticks to one backend, 0 = off (needs `Local`).")
    established_timeout: Optional[Annotated[int, Field(ge=10, le=900)]] = Field(
        None, description="Seconds an idle TCP connection is kept; unset: 500 on the listeners Pulumi creates.")
    preserve_client_ip: bool = Field(False, description="Keep the client's source IP (needs `Local`).")
    health_check: Optional[HealthCheck] = Field(None, description="The listeners' health check.")
    # ECM takes the same specs (annotation `spec`).
    spec: Literal[ELB_SPECS] = Field(  # type: ignore[valid-type]
        ELB_SPEC_DEFAULT, description="The ELB spec, one of those the ENS API documents (contracts/alicloud_ens.py).")
    eip: Optional[Eip] = Field(None, description="The EIP of each region's ELB.")
    elb_ids: dict[Name, ElbId] = Field(
        {}, description="`management: user`: node pool id -> an existing ELB (`lb-...`) to bind; pools without "
                        "one get a Pulumi-created ELB and EIP.")
    shared: bool = Field(False, description="One ELB serves several Services (self-managed ELB and EIP only).")
    adopt: dict[str, Adopt] = Field(
        {}, description="`management: pulumi` (and `user` for NLB and CLB): existing load balancers to import "
                        "(`pulumi import`) instead of creating them; keyed by node pool id for ELB, `lb` for NLB "
                        "and CLB.")
    drain_seconds: Annotated[int, Field(ge=0, le=3600)] = Field(
        10, description="`management: pulumi`: seconds a leaving backend keeps weight 0 before it is removed "
                        "(NLB, also under `user`: the server groups' connection drain).")
    address_type: Literal["internet", "intranet"] = Field(
        "internet", description="NLB and CLB: a public or a VPC-internal address.")
    server_group_type: Literal["Ip", "Instance"] = Field(
        "Ip", description="NLB only: how pods are registered. `Ip` registers pod IPs (hybrid cloud/edge pods).")

    @property
    def ccm_binds(self) -> bool:
        """An NLB or CLB Pulumi builds whose server groups CCM fills (`management: user`)."""
        return self.type in ("nlb", "clb") and self.management == "user"

    @property
    def pulumi_listeners(self) -> bool:
        """Pulumi creates the listeners (from `ports[].listener`), not a controller from `spec.ports`."""
        return self.management == "pulumi" or self.ccm_binds


class Workload(Model):
    """An optional demo workload: the `cube` DaemonSet of the ACK Edge documentation."""

    name: Name = Field(description="The DaemonSet's name.", examples=["cube"])
    image: Annotated[str, StringConstraints(min_length=1, max_length=512, pattern=r"^\S+$")] = Field(
        description="The container image.", examples=["registry.example.com/cube:1.0"])


class Service(Model):
    """A Kubernetes Service to expose, and how."""

    name: ServiceName = Field(description="The Service's name.")
    namespace: Name = Field("default", description="The Service's namespace.", examples=["default"])
    selector: Annotated[Labels, Field(min_length=1)] = Field(description="The labels of the pods it serves.")
    ports: Annotated[list[ServicePort], Field(min_length=1, max_length=50)] = Field(description="The Service's ports.")
    external_traffic_policy: Literal["Local", "Cluster"] = Field(
        "Cluster", description="`Local`: only nodes running a pod serve; `Cluster`: every node of the matched pools.")
    node_pool_selector: Labels = Field(
        {}, description="matchLabels against NodePool labels; empty = every pool (only allowed for nlb and clb).")
    topology: bool = Field(
        True, description="Keep traffic in the node pool it arrives in (`openyurt.io/topologyKeys`).")
    load_balancer: LoadBalancer = Field(LoadBalancer(), description="The load balancer that exposes it.")
    workload: Optional[Workload] = Field(None, description="An optional demo workload.")


# --- the in-cluster controller --------------------------------------------------------------------


class RrsaCredentials(Model):
    """RRSA: the controller's pods assume a RAM role through the cluster's OIDC provider, set up by the
    ack-pod-identity-webhook add-on from the role name on their ServiceAccount."""

    role_name: Annotated[str, StringConstraints(min_length=1, max_length=64)] = Field(
        description="The RAM role the controller assumes (1-64 letters, digits, `.` and `-`); its trust policy "
                    "names the cluster's OIDC provider and `system:serviceaccount:<namespace>:ack-edge-lb-controller`.",
        examples=["ack-edge-lb-controller"])


class ControllerCredentials(Model):
    """How the controller signs its cloud calls: exactly one of `rrsa` and `secret`."""

    rrsa: Optional[RrsaCredentials] = Field(
        None, description="Assume a RAM role through RRSA (no long-lived key in the cluster; recommended).")
    secret: Optional[bool] = Field(
        None, description="`true`: the AccessKey of the secret stack settings `alicloud:accessKey` and "
                          "`alicloud:secretKey`, in a Kubernetes Secret the controller reads as "
                          "ALIBABA_CLOUD_ACCESS_KEY_ID and ALIBABA_CLOUD_ACCESS_KEY_SECRET.")


Quantity = Annotated[str, StringConstraints(min_length=1, max_length=32, pattern=r"^\S+$")]


class ResourceList(Model):
    """CPU and memory of the controller's container, as Kubernetes quantities."""

    cpu: Optional[Quantity] = Field(None, description="CPU, such as `50m` or `1`.", examples=["50m"])
    memory: Optional[Quantity] = Field(None, description="Memory, such as `128Mi`.", examples=["128Mi"])


class ControllerResources(Model):
    """Requests and limits of the controller's container."""

    requests: ResourceList = Field(ResourceList(cpu="50m", memory="128Mi"),
                                   description="What the scheduler reserves; default 50m CPU and 128Mi memory.")
    limits: ResourceList = Field(ResourceList(memory="256Mi"),
                                 description="The most the container may use; default 256Mi memory, no CPU limit.")


class Controller(Model):
    """The in-cluster controller (`python -m reconciler.controller`) that keeps the backends of Pulumi-owned load
    balancers in step with pods and nodes between deployments."""

    enabled: bool = Field(False, description="Deploy the controller into the cluster.")
    image: Optional[Annotated[str, StringConstraints(min_length=1, max_length=512, pattern=r"^\S+$")]] = Field(
        None, description="The controller image (required when enabled): a registry reference with a version tag "
                          "or a digest, as the image workflow pushes it; `:latest` and untagged are refused.",
        examples=["registry.example.com/ack-edge-lb/controller:1.4.0"])
    replicas: Annotated[int, Field(ge=1, le=5)] = Field(
        2, description="Pods; one leads (a Lease), the others wait to take over.")
    namespace: Name = Field("ack-edge-lb-system", description="The namespace of the controller; created unless it "
                                                               "is one every cluster has (such as `kube-system`).",
                            examples=["ack-edge-lb-system"])
    credentials: Optional[ControllerCredentials] = Field(
        None, description="How the controller authenticates to the cloud (required when enabled).")
    rate_limits: dict[str, Annotated[int, Field(ge=1)]] = Field(
        {}, description="API family (`ens.backends`, `nlb.servers`, `clb.write`) -> calls per the quota's period, "
                        "at most the documented quota; passed as ACK_EDGE_LB_RATE_LIMITS; unset: the stack's "
                        "`rateLimits`. Lower `nlb.servers` when CCM shares the account's NLB quota.")
    resources: ControllerResources = Field(ControllerResources(), description="CPU and memory of the container.")


# --- the stack -----------------------------------------------------------------------------------


class StackConfig(Model):
    """Everything under the project's namespace in `Pulumi.<stack>.yaml`."""

    cluster: Cluster = Field(description="The ACK Edge cluster.")
    node_pools: Annotated[list[NodePool], Field(min_length=1)] = Field(description="The cluster's node pools.")
    services: list[Service] = Field(
        [], description="The Services to expose; `Pulumi.yaml` requires the key, `[]` for none yet.")
    protect: Optional[bool] = Field(
        None, description="Protect Pulumi-created ELBs and EIPs against deletion; unset = on for stacks named "
                          "`prod*`.")
    controller: Optional[Controller] = Field(
        None, description="The in-cluster controller for `management: pulumi` backends; absent = none (the "
                          "backends then follow pods on every `pulumi up` only).")
    rate_limits: dict[str, Annotated[int, Field(ge=1)]] = Field(
        {}, description="Client-side limits of every backend writer of the stack (BackendSync during `pulumi up`, and "
                        "the controller unless `controller.rateLimits` sets its own): API family (`ens.backends`, "
                        "`nlb.servers`, `clb.write`) -> calls per the quota's period, at most the documented quota. "
                        "Lower one when other tools (CCM, the console, other stacks) share the account's quota.")

    def protected(self, stack: str) -> bool:
        return self.protect if self.protect is not None else stack.startswith("prod")


# The configuration keys under the project namespace, in the order a stack file usually lists them.
# `Pulumi.yaml` declares the ones without a stack-independent default (Pulumi requires declared
# keys that have no default).
CONFIG_KEYS: tuple[str, ...] = tuple(
    (field.alias or name) for name, field in StackConfig.model_fields.items()
)
