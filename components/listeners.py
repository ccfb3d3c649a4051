"""The listeners of a Pulumi-owned ELB, one per Service port: pure, no I/O.

Attributes use the ENS API's field names. Defaults are the ones the ACK Edge documentation gives
for ELB (scheduler rr, established timeout 500 s, health check 3/3, 2 s interval, 5 s timeout).
The backend port is the Service's NodePort, known only once Kubernetes allocated it, so it is
filled in by the component; so is the health-check port of `Local` Services.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from stacks.model import HealthCheck, Service
from stacks.naming import listener_name

SCHEDULER_DEFAULT = "rr"
ESTABLISHED_TIMEOUT_DEFAULT = 500
# kube-proxy answers on the healthCheckNodePort of a `Local` Service: 200 with local endpoints, 503 without.
LOCAL_HEALTH_PATH = "/healthz"


@dataclass(frozen=True)
class ListenerSpec:
    protocol: str          # tcp | udp | http | https
    port: int              # the listener (Service) port
    port_index: int        # which Service port: its NodePort is the backend port
    attributes: dict[str, Any] = field(default_factory=dict)
    # Point the health check at the Service's healthCheckNodePort (`Local`): a node without a local
    # pod then fails its check at once instead of black-holing traffic.
    health_check_node_port: bool = False

    @property
    def key(self) -> str:
        return f"{self.protocol}-{self.port}"


def listener_specs(service: Service, cluster_id: str) -> list[ListenerSpec]:
    lb = service.load_balancer
    hc = lb.health_check or HealthCheck()
    local = service.external_traffic_policy == "Local"
    scheduler = lb.scheduler or ("wrr" if lb.pod_level_balancing else SCHEDULER_DEFAULT)
    specs = []
    for index, port in enumerate(service.ports):
        protocol = port.listener_protocol
        common = {"Description": listener_name(port.port, service.name, service.namespace, cluster_id),
                  "Scheduler": scheduler,
                  "HealthyThreshold": hc.healthy_threshold, "UnhealthyThreshold": hc.unhealthy_threshold,
                  "HealthCheckInterval": hc.interval}
        http_check = local or hc.type == "http"
        uri = LOCAL_HEALTH_PATH if local else (hc.uri or "/")
        if protocol == "tcp":
            attributes = {**common, "PersistenceTimeout": lb.persistence_timeout,
                          "EstablishedTimeout": lb.established_timeout or ESTABLISHED_TIMEOUT_DEFAULT,
                          "HealthCheckConnectTimeout": hc.connect_timeout,
                          "HealthCheckType": "http" if http_check else "tcp"}
            if http_check:
                attributes["HealthCheckURI"] = uri
        elif protocol == "udp":
            attributes = {**common, "EstablishedTimeout": lb.established_timeout or ESTABLISHED_TIMEOUT_DEFAULT,
                          "HealthCheckConnectTimeout": hc.connect_timeout}
        else:  # http, https: layer-7 listeners always check over HTTP
            attributes = {**common, "HealthCheck": "on", "HealthCheckURI": uri, "HealthCheckTimeout": hc.connect_timeout}
            if protocol == "https":
                attributes["ServerCertificateId"] = port.certificate_id
        specs.append(ListenerSpec(protocol, port.port, index, attributes,
                                  health_check_node_port=local and protocol != "udp"))
    return specs
