"""ack-edge-lb guardrails: a Pulumi CrossGuard policy pack.

    pulumi preview --policy-pack policy [--policy-pack-config policy/policy-config.example.json]

The Pulumi CLI runs this file from the pack's own virtualenv (`policy/venv`, see PulumiPolicy.yaml):
pulumi-policy 1.21 needs protobuf 5, the program's venv has protobuf 6. The checks themselves are the
pure functions of `rules.py`; this file adapts them to pulumi-policy's callbacks. `PolicyPack(...)`
serves the policies over gRPC and never returns, so it only runs when this file is the program
(`__name__ == "__main__"`, as `python -m pulumi.policy` runs it); tests load the policies by path.
"""

from __future__ import annotations

from typing import Any, Optional

import pulumi
import rules
from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    PolicyPack,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

PACK_NAME = "ack-edge-lb-guardrails"


def _stack(urn: Optional[str]) -> Optional[str]:
    """The stack a resource belongs to: from its URN; `pulumi.get_stack()` only as a fallback (it
    answers "stack" when the CLI did not pass PULUMI_STACK to the pack)."""
    return rules.stack_of_urn(urn) or pulumi.get_stack()


def _config(args: Any) -> dict[str, Any]:
    return dict(args.get_config() or {})


def _report_all(messages: list[str], report_violation: ReportViolation) -> None:
    for message in messages:
        report_violation(message, None)


# --- 1. ELB and EIP names ----------------------------------------------------------------------


def validate_cloud_name(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    _report_all(rules.check_cloud_name(args.resource_type, args.name, args.props), report_violation)


def validate_unique_cloud_names(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    for violation in rules.duplicate_cloud_names(args.resources):
        report_violation(violation.message, violation.urn)


# --- 2. EIP bandwidth --------------------------------------------------------------------------


def validate_eip_bandwidth(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    stack = _stack(args.urn)
    ceiling = rules.eip_bandwidth_ceiling(stack, _config(args))
    _report_all(rules.check_eip_bandwidth(args.resource_type, args.name, args.props, ceiling, stack),
                report_violation)


# --- 3. protection in prod* stacks -------------------------------------------------------------


def validate_protected(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    patterns = _config(args).get("protectedStacks") or rules.DEFAULT_PROTECTED_STACKS
    protect = getattr(args.opts, "protect", None)  # pulumi-policy >= 1.4: the resource options
    _report_all(rules.check_protected(args.resource_type, args.name, protect, _stack(args.urn), patterns),
                report_violation)


# --- 4. a shared ELB needs Cluster -------------------------------------------------------------


def validate_shared_elb_service(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    _report_all(rules.check_shared_elb_service(args.resource_type, args.name, args.props), report_violation)


# --- 5. NLB IP-mode BackendSync targets an Ip server group --------------------------------------


def validate_ip_sync_server_groups(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    for violation in rules.ip_sync_server_group_types(args.resources):
        report_violation(violation.message, violation.urn)


BANDWIDTH = {"type": "integer", "minimum": rules.EIP_BANDWIDTH_RANGE[0], "maximum": rules.EIP_BANDWIDTH_RANGE[1]}

POLICIES = [
    ResourceValidationPolicy(
        name="elb-eip-name-format",
        description=f"ELB and EIP names follow `{rules.NAME_FORMAT}`, the names ECM gives and looks up.",
        validate=validate_cloud_name,
    ),
    StackValidationPolicy(
        name="elb-eip-name-unique",
        description="No two ELBs, and no two EIPs, of a stack share a name.",
        validate=validate_unique_cloud_names,
    ),
    ResourceValidationPolicy(
        name="eip-bandwidth",
        description=(f"EIP bandwidth is {rules.EIP_BANDWIDTH_RANGE[0]}-{rules.EIP_BANDWIDTH_RANGE[1]} Mbit/s and at "
                     f"most the stack's ceiling (default {rules.DEFAULT_MAX_EIP_BANDWIDTH} Mbit/s)."),
        validate=validate_eip_bandwidth,
        config_schema=PolicyConfigSchema(properties={
            "maxEipBandwidth": {**BANDWIDTH, "default": rules.DEFAULT_MAX_EIP_BANDWIDTH,
                                "description": "Ceiling in Mbit/s for every stack without its own entry."},
            "maxEipBandwidthByStack": {
                "type": "object", "additionalProperties": BANDWIDTH, "default": {},
                "description": "Ceiling in Mbit/s per stack name or glob pattern, e.g. {\"prod*\": 1000}."},
        }),
    ),
    ResourceValidationPolicy(
        name="prod-load-balancers-protected",
        description="ELBs, EIPs, NLBs and CLBs of prod* stacks carry the resource option protect.",
        validate=validate_protected,
        config_schema=PolicyConfigSchema(properties={
            "protectedStacks": {"type": "array", "items": {"type": "string"},
                                "default": list(rules.DEFAULT_PROTECTED_STACKS),
                                "description": "Glob patterns of the stacks whose load balancers must be protected."},
        }),
    ),
    ResourceValidationPolicy(
        name="shared-elb-cluster-traffic-policy",
        description="A Service on a shared ELB (elb-force-override-listeners) uses externalTrafficPolicy Cluster.",
        validate=validate_shared_elb_service,
    ),
    StackValidationPolicy(
        name="nlb-ip-sync-server-group-type",
        description="An NLB server group that BackendSync fills with pod IPs is of type Ip.",
        validate=validate_ip_sync_server_groups,
    ),
]


if __name__ == "__main__":
    PolicyPack(
        name=PACK_NAME,
        policies=POLICIES,
        enforcement_level=EnforcementLevel.MANDATORY,
        description="Guardrails for ack-edge-lb: ELB/EIP names, EIP bandwidth, protection in prod, shared ELBs, "
                    "NLB IP backends.",
    )
