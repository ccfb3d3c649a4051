"""pulumi-alicloud 4.0.0 ENS resources: the Terraform schemas they bridge, and the ENS API's rules.

Sources: terraform-provider-alicloud (aliyun/terraform-provider-alicloud) master 81c43b67, 2026-08-21
(`alicloud/resource_alicloud_ens_*.go`, line numbers below); the ENS listener resources only exist in
the newer upstream commits f783645d (HTTP) and e4b2c7a0 (UDP), "Available since v1.291.0" in the 4.0.0
SDK. pulumi-alicloud overrides none of these schemas (provider/resources.go has only their tokens).
`StringInSlice(..., false)` is case-sensitive (alicloud/validators.go:512-533).
"""

from __future__ import annotations

from contracts import Contract, Input
from contracts.names import ENS_ELB_NAME, ENS_LISTENER_DESCRIPTION

LB = "resource_alicloud_ens_load_balancer.go"
EIP = "resource_alicloud_ens_eip.go"
ATTACH = "resource_alicloud_ens_eip_instance_attachment.go"
HTTP = "resource_alicloud_ens_load_balancer_http_listener.go@f783645d"
UDP = "resource_alicloud_ens_load_balancer_udp_listener.go@e4b2c7a0"
CREATE_EIP = "https://www.alibabacloud.com/help/en/ens/developer-reference/api-createeipinstance"
SCHEDULERS_L7 = ("wrr", "wlc", "rr", "sch", "qch", "iqch")
# No TF validation; the specs the SDK documents ("Optional values: ...", pulumi_alicloud/ens/load_balancer.py:35).
ELB_SPECS = ("elb.s1.small", "elb.s2.small", "elb.s2.medium", "elb.s3.small", "elb.s3.medium")

LOAD_BALANCER = Contract(
    type="alicloud:ens/loadBalancer:LoadBalancer",
    inputs=(
        Input("ensRegionId", required=True, force_new=True, source=f"{LB}:68-72"),
        Input("loadBalancerSpec", required=True, force_new=True, values=ELB_SPECS,
              source=f"{LB}:77-81; pulumi_alicloud/ens/load_balancer.py:35"),
        Input("networkId", required=True, force_new=True, source=f"{LB}:82-86"),
        Input("vswitchId", required=True, force_new=True, source=f"{LB}:97-101"),
        Input("paymentType", required=True, force_new=True, values=("PayAsYouGo",), source=f"{LB}:87-92"),
        # Renamed in place (ModifyLoadBalancerAttribute, :209-235).
        Input("loadBalancerName", name=ENS_ELB_NAME, source=f"{LB}:73-76"),
    ),
    outputs=("status", "createTime"),
    source=LB,
)

EIP_CONTRACT = Contract(
    type="alicloud:ens/eip:Eip",
    inputs=(
        Input("ensRegionId", required=True, force_new=True, source=f"{EIP}:46-50"),
        Input("internetChargeType", required=True, force_new=True, values=("95BandwidthByMonth",),
              source=f"{EIP}:51-56"),
        Input("paymentType", required=True, force_new=True, values=("PayAsYouGo",), source=f"{EIP}:63-68"),
        # Optional + Computed + ForceNew; the API's values (CreateEipInstance `Isp`).
        Input("isp", force_new=True, values=("cmcc", "unicom", "telecom"), source=f"{EIP}:57-62; {CREATE_EIP}"),
        # No TF range; "Valid values: 5 to 10000. Unit: Mbit/s" (CreateEipInstance). In place.
        Input("bandwidth", range=(5, 10000), source=f"{EIP}:29-33; {CREATE_EIP}"),
        Input("eipName", source=f"{EIP}:42-45 (no documented rule)"),
    ),
    outputs=("status", "createTime"),
    source=EIP,
)

EIP_ATTACHMENT = Contract(
    type="alicloud:ens/eipInstanceAttachment:EipInstanceAttachment",
    inputs=(  # no Update function: every input forces a new attachment
        Input("allocationId", required=True, force_new=True, source=f"{ATTACH}:28-32"),
        Input("instanceId", required=True, force_new=True, source=f"{ATTACH}:33-37"),
        Input("instanceType", force_new=True, values=("Nat", "SlbInstance", "NetworkInterface", "EnsInstance"),
              source=f"{ATTACH}:38-44"),
        Input("standby", force_new=True, source=f"{ATTACH}:45-49"),
    ),
    outputs=("status",),
    source=ATTACH,
)

HTTP_LISTENER = Contract(
    type="alicloud:ens/loadBalancerHttpListener:LoadBalancerHttpListener",
    inputs=(
        Input("loadBalancerId", required=True, force_new=True, source=f"{HTTP}:30-34"),
        Input("listenerPort", required=True, force_new=True, range=(1, 65535), source=f"{HTTP}:35-40"),
        # ForceNew while the port stays: a replacement collides on the port unless the old one goes first.
        Input("backendServerPort", force_new=True, range=(1, 65535), source=f"{HTTP}:41-47"),
        Input("description", name=ENS_LISTENER_DESCRIPTION, source=f"{HTTP}:48-51"),
        Input("scheduler", values=SCHEDULERS_L7, source=f"{HTTP}:52-57"),
        Input("healthCheck", values=("on", "off"), source=f"{HTTP}:58-63"),
        Input("healthyThreshold", range=(2, 10), source=f"{HTTP}:74-80"),
        Input("unhealthyThreshold", range=(2, 10), source=f"{HTTP}:81-87"),
        Input("healthCheckTimeout", range=(1, 300), source=f"{HTTP}:88-94"),
        Input("healthCheckConnectPort", range=(1, 65535), source=f"{HTTP}:95-101"),
        Input("healthCheckInterval", range=(1, 50), source=f"{HTTP}:102-108"),
        Input("healthCheckHttpCode", values=("http_2xx", "http_3xx", "http_4xx", "http_5xx"), source=f"{HTTP}:109-115"),
        Input("healthCheckMethod", values=("head", "get"), source=f"{HTTP}:116-122"),
        Input("idleTimeout", range=(1, 60), source=f"{HTTP}:123-128"),
        Input("requestTimeout", range=(1, 180), source=f"{HTTP}:129-134"),
        Input("xForwardedFor", values=("on", "off"), source=f"{HTTP}:135-140"),
        Input("listenerForward", force_new=True, values=("on", "off"), source=f"{HTTP}:141-147"),
        Input("forwardPort", force_new=True, source=f"{HTTP}:148-153"),
        # Lower case, validated: "Running" is refused.
        Input("status", values=("running", "stopped"), source=f"{HTTP}:154-159"),
    ),
    outputs=("status",),
    source=HTTP,
)

UDP_LISTENER = Contract(
    type="alicloud:ens/loadBalancerUdpListener:LoadBalancerUdpListener",
    inputs=(
        Input("loadBalancerId", required=True, force_new=True, source=f"{UDP}:83-87"),
        Input("listenerPort", required=True, force_new=True, range=(1, 65535),
              source=f"{UDP}:78-82 (no TF check; the SDK documents 1-65535)"),
        Input("backendServerPort", force_new=True, range=(0, 65535), source=f"{UDP}:31-36"),
        Input("description", name=ENS_LISTENER_DESCRIPTION, source=f"{UDP}:37-40"),
        Input("establishedTimeout", range=(10, 900), source=f"{UDP}:45-49"),
        Input("healthCheckConnectPort", range=(0, 65535), source=f"{UDP}:50-54"),
        Input("healthCheckConnectTimeout", range=(0, 300), source=f"{UDP}:55-59"),
        Input("healthCheckInterval", range=(0, 50), source=f"{UDP}:64-68"),
        Input("healthyThreshold", range=(2, 10), source=f"{UDP}:73-77"),
        Input("unhealthyThreshold", range=(2, 10), source=f"{UDP}:98-102"),
        Input("scheduler", values=(*SCHEDULERS_L7, "tch"), source=f"{UDP}:88-92"),
        # Not validated, but the provider starts or stops the listener only on these exact values: any
        # other (`running`) leaves a new listener Stopped, which serves nothing.
        Input("status", values=("Running", "Stopped"), source=f"{UDP}:93-97 and its Update status branch"),
    ),
    outputs=("status",),
    source=UDP,
)

CONTRACTS = (LOAD_BALANCER, EIP_CONTRACT, EIP_ATTACHMENT, HTTP_LISTENER, UDP_LISTENER)
