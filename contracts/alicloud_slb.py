"""pulumi-alicloud 4.0.0 CLB (SLB) resources: the Terraform schemas they bridge, and the SLB API's rules.

Sources: terraform-provider-alicloud master 81c43b67 (`alicloud/resource_alicloud_slb_*.go`, lines below);
SLB API 2014-05-15 references for names (contracts/names.py). pulumi-alicloud autonames `slb.ServerGroup`'s
`name` (provider/resources.go SetAutonaming); the program always sets it. Case matters: lower case here.
"""

from __future__ import annotations

from contracts import Contract, Input
from contracts.names import CLB_LISTENER_DESCRIPTION, CLB_NAME, CLB_VSERVER_GROUP_NAME

LB = "resource_alicloud_slb_load_balancer.go"
SG = "resource_alicloud_slb_server_group.go"
LSN = "resource_alicloud_slb_listener.go"


def _https_needs_certificate(inputs: dict) -> tuple[str, str] | None:
    # The provider refuses at apply time (resource_alicloud_slb_listener.go:410-419, 719-726).
    if inputs.get("protocol") == "https" and not inputs.get("serverCertificateId"):
        return ("serverCertificateId", "an https listener needs `serverCertificateId`")
    return None


APPLICATION_LOAD_BALANCER = Contract(
    type="alicloud:slb/applicationLoadBalancer:ApplicationLoadBalancer",
    inputs=(
        Input("addressType", force_new=True, values=("internet", "intranet"), source=f"{LB}:60-66"),
        Input("loadBalancerSpec", values=("slb.s1.small", "slb.s2.medium", "slb.s2.small", "slb.s3.large",
                                          "slb.s3.medium", "slb.s3.small", "slb.s4.large", "slb.lcu.elastic"),
              source=f"{LB}:116-128 (in place: ModifyLoadBalancerInstanceSpec)"),
        Input("paymentType", values=("PayAsYouGo", "Subscription"), source=f"{LB}:171-176 (in place)"),
        Input("vswitchId", force_new=True, source=f"{LB}:208-218"),
        Input("deleteProtection", values=("off", "on"), source=f"{LB}:79-90 (in place; destroy fails while on)"),
        Input("loadBalancerName", name=CLB_NAME, source=f"{LB}:103-108 (in place: SetLoadBalancerName)"),
        Input("addressIpVersion", force_new=True, values=("ipv4", "ipv6"), source=f"{LB}:47-59"),
        Input("instanceChargeType", values=("PayBySpec", "PayByCLCU"), source=f"{LB}:177-188"),
    ),
    outputs=("address", "status"),
    source=LB,
)

SERVER_GROUP = Contract(
    type="alicloud:slb/serverGroup:ServerGroup",
    inputs=(
        Input("loadBalancerId", required=True, force_new=True, source=f"{SG}:25-29"),
        Input("name", name=CLB_VSERVER_GROUP_NAME, source=f"{SG}:30-34 (in place: SetVServerGroupAttribute)"),
    ),
    source=SG,
)

LISTENER = Contract(
    type="alicloud:slb/listener:Listener",
    inputs=(
        Input("loadBalancerId", required=True, force_new=True, source=f"{LSN}:29-33"),
        Input("frontendPort", required=True, force_new=True, range=(1, 65535), source=f"{LSN}:38-43"),
        Input("protocol", required=True, force_new=True, values=("http", "https", "tcp", "udp"), source=f"{LSN}:69-74"),
        # ForceNew while the frontend port stays: the replacement needs the old listener gone first.
        Input("backendPort", force_new=True, range=(1, 65535), source=f"{LSN}:50-55"),
        Input("bandwidth", values=(-1,), range=(1, 1000), source=f"{LSN}:76-83 (-1 = no limit)"),
        Input("scheduler", values=("wrr", "wlc", "rr", "sch", "tch", "qch"), source=f"{LSN}:84-89"),
        Input("description", name=CLB_LISTENER_DESCRIPTION, source=f"{LSN}:34-37"),
        Input("persistenceTimeout", range=(0, 3600), source=f"{LSN}:156-162"),
        Input("establishedTimeout", range=(10, 900), source=f"{LSN}:308-314"),
        Input("healthCheck", values=("on", "off"), source=f"{LSN}:164-170"),
        Input("healthCheckType", values=("tcp", "http"), source=f"{LSN}:179-187"),
        Input("healthCheckConnectPort", values=(-520,), range=(0, 65535), source=f"{LSN}:203-211"),
        Input("healthyThreshold", range=(1, 10), source=f"{LSN}:212-218"),
        Input("unhealthyThreshold", range=(1, 10), source=f"{LSN}:219-225"),
        Input("healthCheckInterval", range=(1, 50), source=f"{LSN}:234-240"),
        Input("healthCheckTimeout", range=(1, 300), source=f"{LSN}:227-233"),
        Input("listenerForward", force_new=True, values=("on", "off"), source=f"{LSN}:98-365"),
        Input("forwardPort", force_new=True, source=f"{LSN}:98-365"),
    ),
    rules=(_https_needs_certificate,),
    source=LSN,
)

CONTRACTS = (APPLICATION_LOAD_BALANCER, SERVER_GROUP, LISTENER)
