"""Explicit provider resources the program declares: `pulumi:providers:alicloud`, one per region.

terraform-provider-alicloud alicloud/provider.go:56-61: `region` falls back to ALICLOUD_REGION, then
ALIBABA_CLOUD_REGION, then the profile's region, then `cn-beijing` (alicloud/common.go:282): an NLB or CLB
whose zones are elsewhere would be created in the wrong region, so the program names it explicitly.
"""

from __future__ import annotations

from contracts import Contract, Input

ALICLOUD = Contract(
    type="pulumi:providers:alicloud",
    inputs=(
        Input("region", required=True, source="alicloud/provider.go:56-61 (required by the program, not by the provider)"),
        Input("protocol", values=("HTTP", "HTTPS"), source="alicloud/provider.go:124-130"),
    ),
    source="alicloud/provider.go",
)

CONTRACTS = (ALICLOUD,)
