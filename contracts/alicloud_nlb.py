"""pulumi-alicloud 4.0.0 NLB resources: the Terraform schemas they bridge, and the NLB API's rules.

Sources: terraform-provider-alicloud master 81c43b67 (`alicloud/resource_alicloud_nlb_*.go`, lines below);
NLB API 2022-04-30 references for names (contracts/names.py). No pulumi-alicloud overrides.
Case matters: schedulers are capitalised (`Wrr`), protocols upper case.
"""

from __future__ import annotations

from contracts import Contract, Input
from contracts.names import NLB_LISTENER_DESCRIPTION, NLB_NAME, NLB_SERVER_GROUP_NAME

LB = "resource_alicloud_nlb_load_balancer.go"
SG = "resource_alicloud_nlb_server_group.go"
LSN = "resource_alicloud_nlb_listener.go"
CREATE_LB = "https://www.alibabacloud.com/help/en/slb/network-load-balancer/developer-reference/api-nlb-2022-04-30-createloadbalancer"


def _two_to_ten_zones(inputs: dict) -> tuple[str, str] | None:
    zones = inputs.get("zoneMappings")
    if isinstance(zones, list) and not 2 <= len(zones) <= 10:
        return ("zoneMappings", f"an NLB takes 2 to 10 zone mappings, got {len(zones)} "
                                f"(\"You must add at least two zones. You can add a maximum of 10 zones.\", {CREATE_LB})")
    return None


LOAD_BALANCER = Contract(
    type="alicloud:nlb/loadBalancer:LoadBalancer",
    inputs=(
        # In place (UpdateLoadBalancerAddressTypeConfig); no TF enum, the API's values.
        Input("addressType", required=True, values=("Internet", "Intranet"), source=f"{LB}:36-39; {CREATE_LB}"),
        Input("vpcId", required=True, force_new=True, source=f"{LB}:159-163"),
        Input("zoneMappings", required=True, source=f"{LB}:164-221 (updated in place: UpdateLoadBalancerZones)"),
        Input("zoneMappings[*].zoneId", required=True, source=f"{LB}:164-221"),
        Input("zoneMappings[*].vswitchId", required=True, source=f"{LB}:164-221"),
        Input("loadBalancerType", force_new=True, values=("Network", "Gateway", "Inner"), source=f"{LB}:101-107"),
        Input("addressIpVersion", force_new=True, values=("ipv4", "DualStack"), source=f"{LB}:30-35; {CREATE_LB}"),
        Input("paymentType", force_new=True, values=("Subscription", "PayAsYouGo"), source=f"{LB}:132-138"),
        Input("loadBalancerName", name=NLB_NAME, source=f"{LB}:97-100 (in place)"),
        Input("deletionProtectionEnabled", source=f"{LB}:222-226 (in place; destroy fails while it is on)"),
    ),
    outputs=("dnsName", "status", "createTime", "regionId"),
    rules=(_two_to_ten_zones,),
    source=LB,
)

SERVER_GROUP = Contract(
    type="alicloud:nlb/serverGroup:ServerGroup",
    inputs=(
        Input("serverGroupName", required=True, name=NLB_SERVER_GROUP_NAME, source=f"{SG}:168-171 (in place)"),
        Input("vpcId", required=True, force_new=True, source=f"{SG}:184-188"),
        Input("serverGroupType", force_new=True, values=("Instance", "Ip"), source=f"{SG}:172-178"),
        Input("protocol", force_new=True, values=("TCP", "UDP", "TCPSSL"), source=f"{SG}:146-152"),
        Input("scheduler", values=("Wrr", "Rr", "Qch", "Tch", "Sch", "Wlc"), source=f"{SG}:162-167"),
        Input("connectionDrainTimeout", range=(10, 900), source=f"{SG}:48-53"),
        Input("addressIpVersion", force_new=True, values=("DualStack", "Ipv4"), source=f"{SG}:29-35"),
        Input("anyPortEnabled", force_new=True, source=f"{SG}:36-41"),
        Input("healthCheck.healthCheckType", values=("TCP", "HTTP", "UDP"), source=f"{SG}:126-131"),
        Input("healthCheck.healthyThreshold", range=(2, 10), source=f"{SG}:99-104"),
        Input("healthCheck.unhealthyThreshold", range=(2, 10), source=f"{SG}:72-77"),
        Input("healthCheck.healthCheckInterval", range=(0, 50), source=f"{SG}:61-66"),
        Input("healthCheck.healthCheckConnectTimeout", range=(0, 300), source=f"{SG}:78-83"),
        Input("healthCheck.healthCheckConnectPort", range=(0, 65535), source=f"{SG}:89-94"),
    ),
    outputs=("status", "regionId"),
    source=SG,
)

LISTENER = Contract(
    type="alicloud:nlb/listener:Listener",
    inputs=(
        Input("loadBalancerId", required=True, force_new=True, source=f"{LSN}:88-92"),
        Input("listenerPort", required=True, force_new=True, range=(0, 65535), source=f"{LSN}:76-81"),
        Input("listenerProtocol", required=True, force_new=True, values=("TCP", "UDP", "TCPSSL"), source=f"{LSN}:82-87"),
        Input("serverGroupId", required=True, source=f"{LSN}:140-143 (in place)"),
        Input("listenerDescription", name=NLB_LISTENER_DESCRIPTION, source=f"{LSN}:72-75 (in place)"),
        Input("idleTimeout", range=(0, 900), source=f"{LSN}:66-71"),
        Input("status", values=("Stopped", "Running"), source=f"{LSN}:150-155"),
    ),
    outputs=("status", "regionId"),
    source=LSN,
)

CONTRACTS = (LOAD_BALANCER, SERVER_GROUP, LISTENER)
