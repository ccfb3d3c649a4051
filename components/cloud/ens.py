"""The ENS calls of the dynamic providers (`alibabacloud-ens20171110`), and their common base class."""

from __future__ import annotations

from typing import Any, Mapping, Optional

from pulumi.dynamic import ConfigureRequest, ResourceProvider

from components.cloud import credentials
from components.cloud.api import CloudApi
from components.cloud.retry import DEFAULT, RetryPolicy

PRODUCT = "ens"
PROTOCOL_NAMES = {"tcp": "TCP", "https": "HTTPS", "udp": "UDP", "http": "HTTP"}
# Codes the API answers when a listener already exists on the port.
CONFLICT_CODES = ("ListenerAlreadyExists", "Exist", "Duplicate")
# Listeners ENS changes (SetLoadBalancer<Protocol>ListenerAttribute) and deletes only while Stopped.
# HTTP: terraform-provider-alicloud `resource_alicloud_ens_load_balancer_http_listener.go` (f783645) stops a
# running listener and retries both calls ("The Set API requires the listener to be in the stopped state",
# "A running listener must be stopped before it can be deleted"). HTTPS: taken to be the same (the other L7
# listener, same parameters; Terraform has no HTTPS resource to show it). UDP: the same provider's UDP listener
# sets and deletes a running listener without stopping it. TCP: no source asks for it.
STOP_TO_CHANGE = frozenset({"http", "https"})
# What ENS answers a Set or Delete that needs a stopped listener (the Terraform provider stops on either).
NEEDS_STOP_CODES = ("IncorrectListenerStatus", "IncorrectInstanceStatus")


class EnsApi(CloudApi):
    PRODUCT = PRODUCT

    # --- listeners ----------------------------------------------------------------------------

    def create_listener(self, protocol: str, lb_id: str, port: int, backend_port: int,
                        attributes: Mapping[str, Any]) -> None:
        name = PROTOCOL_NAMES[protocol]
        self.request(f"CreateLoadBalancer{name}Listener", f"create_load_balancer_{protocol}listener",
                     {**attributes, "LoadBalancerId": lb_id, "ListenerPort": port, "BackendServerPort": backend_port})

    def set_listener(self, protocol: str, lb_id: str, port: int, attributes: Mapping[str, Any]) -> None:
        name = PROTOCOL_NAMES[protocol]
        self.request(f"SetLoadBalancer{name}ListenerAttribute", f"set_load_balancer_{protocol}listener_attribute",
                     {**attributes, "LoadBalancerId": lb_id, "ListenerPort": port})

    def describe_listener(self, protocol: str, lb_id: str, port: int) -> dict[str, Any]:
        name = PROTOCOL_NAMES[protocol]
        return self.request(f"DescribeLoadBalancer{name}ListenerAttribute",
                            f"describe_load_balancer_{protocol}listener_attribute",
                            {"LoadBalancerId": lb_id, "ListenerPort": port})

    def start_listener(self, protocol: str, lb_id: str, port: int) -> None:
        self.request("StartLoadBalancerListener", "start_load_balancer_listener",
                     {"LoadBalancerId": lb_id, "ListenerPort": port, "ListenerProtocol": protocol})

    def stop_listener(self, protocol: str, lb_id: str, port: int) -> None:
        self.request("StopLoadBalancerListener", "stop_load_balancer_listener",
                     {"LoadBalancerId": lb_id, "ListenerPort": port, "ListenerProtocol": protocol})

    def delete_listener(self, protocol: str, lb_id: str, port: int) -> None:
        self.request("DeleteLoadBalancerListener", "delete_load_balancer_listener",
                     {"LoadBalancerId": lb_id, "ListenerPort": port, "ListenerProtocol": protocol})

    @staticmethod
    def stops_to_change(protocol: str) -> bool:
        return protocol in STOP_TO_CHANGE

    @staticmethod
    def needs_stop(exc: BaseException) -> bool:
        """The cloud refused a Set or Delete because the listener is not stopped."""
        return (getattr(exc, "code", None) or "") in NEEDS_STOP_CODES

    @staticmethod
    def is_conflict(exc: BaseException) -> bool:
        code = getattr(exc, "code", None) or ""
        return any(marker in code for marker in CONFLICT_CODES)

    # --- load balancers and EIPs (read-only: pulumi-alicloud owns their lifecycle) -------------

    def describe_load_balancer(self, lb_id: str) -> dict[str, Any]:
        return self.request("DescribeLoadBalancerAttribute", "describe_load_balancer_attribute",
                            {"LoadBalancerId": lb_id})

    def describe_eip(self, allocation_id: str) -> Optional[dict[str, Any]]:
        """The EIP's record (IpAddress, Status, InstanceId, ...), or None when it does not exist."""
        body = self.request("DescribeEnsEipAddresses", "describe_ens_eip_addresses", {"AllocationId": allocation_id})
        found = (body.get("EipAddresses") or {}).get("EipAddress") or []
        return next((e for e in found if e.get("AllocationId") == allocation_id), None)


class EnsProvider(ResourceProvider):
    """Base of the ENS dynamic providers.

    Stateless until `configure`: what dill serializes into the state holds no credentials, only the
    wait bounds. Credentials are resolved on the first cloud call, so `pulumi preview` (check and
    diff) works without them.
    """

    def __init__(self, wait_timeout: float = 300.0, poll_interval: float = 2.0, policy: RetryPolicy = DEFAULT,
                 read_timeout: float = 15.0):
        self.wait_timeout = wait_timeout
        self.poll_interval = poll_interval
        self.policy = policy
        self.read_timeout = read_timeout

    def configure(self, req: ConfigureRequest) -> None:
        # Every `alicloud:` setting pulumi-alicloud reads; held in memory only, never serialized into the state.
        self._config = credentials.provider_config(req.config)

    def api(self) -> EnsApi:
        """A client signed as pulumi-alicloud would sign (`alicloud:` settings, environment, profiles, roles)."""
        return EnsApi.from_environment(getattr(self, "_config", None), self.policy, self.read_timeout)
