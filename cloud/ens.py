"""The ENS calls (`alibabacloud-ens20171110`) of the dynamic providers and the backend reconciler."""

from __future__ import annotations

from typing import Any, Mapping, Optional

from cloud.api import CloudApi

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
