"""The cloud APIs' rules for the names and descriptions the program gives load balancers and their parts.

Quoted from the API references (and the official SDKs' request models, which carry the same text).
The configuration rules check every name the program would declare against these, before anything
is declared; the provider contracts check them again on the resource inputs.
"""

from __future__ import annotations

from contracts import NameRule

_NOT_A_URL = r"(?!https?://).+"

# ENS CreateLoadBalancer (2017-11-10): "The name must be 1 to 80 characters in length ... The value
# cannot start with http:// or https://." No character set is given (ECM's `k8s/<svc>/<ns>/<pool>/<cluster>`).
ENS_ELB_NAME = NameRule(
    "ELB name", 1, 80, _NOT_A_URL, "1-80 characters, not starting with http:// or https://",
    "https://www.alibabacloud.com/help/en/ens/developer-reference/api-ens-2017-11-10-createloadbalancer")

# ENS listener Description (SetLoadBalancerUDPListenerAttribute, ...HTTPListenerAttribute): "1 to 80
# characters in length ... cannot start with http:// or https://."
ENS_LISTENER_DESCRIPTION = NameRule(
    "ENS listener description", 1, 80, _NOT_A_URL, "1-80 characters, not starting with http:// or https://",
    "https://www.alibabacloud.com/help/en/ens/developer-reference/api-ens-2017-11-10-setloadbalancerudplistenerattribute")

# NLB CreateLoadBalancer (2022-04-30): "2 to 128 characters in length, and can contain letters, digits,
# periods (.), underscores (_), and hyphens (-). The value must start with a letter."
NLB_NAME = NameRule(
    "NLB name", 2, 128, r"[A-Za-z][A-Za-z0-9._-]*",
    "2-128 letters, digits, '.', '_' or '-', starting with a letter",
    "https://www.alibabacloud.com/help/en/slb/network-load-balancer/developer-reference/api-nlb-2022-04-30-createloadbalancer")

# NLB CreateServerGroup: "2 to 128 characters in length and can contain letters, digits, periods (.),
# underscores (_), and hyphens (-). The name must start with a letter."
NLB_SERVER_GROUP_NAME = NameRule(
    "NLB server group name", 2, 128, r"[A-Za-z][A-Za-z0-9._-]*",
    "2-128 letters, digits, '.', '_' or '-', starting with a letter",
    "https://www.alibabacloud.com/help/en/slb/network-load-balancer/developer-reference/api-nlb-2022-04-30-createservergroup")

# NLB CreateListener ListenerDescription: "2 to 256 characters in length, and can contain letters, digits,
# commas (,), periods (.), semicolons (;), forward slashes (/), at signs (@), underscores (_), and hyphens (-)."
NLB_LISTENER_DESCRIPTION = NameRule(
    "NLB listener description", 2, 256, r"[A-Za-z0-9,.;/@_-]+",
    "2-256 letters, digits, ',', '.', ';', '/', '@', '_' or '-'",
    "https://www.alibabacloud.com/help/en/server-load-balancer/latest/api-nlb-2022-04-30-createlistener")

# CLB CreateLoadBalancer (2014-05-15) / SetLoadBalancerName: "1 to 80 characters in length, and can contain
# letters, digits, periods (.), underscores (_), and hyphens (-). It must start with a letter."
CLB_NAME = NameRule(
    "CLB name", 1, 80, r"[A-Za-z][A-Za-z0-9._-]*",
    "1-80 letters, digits, '.', '_' or '-', starting with a letter",
    "https://www.alibabacloud.com/help/en/slb/classic-load-balancer/developer-reference/api-slb-2014-05-15-createloadbalancer")

# CLB CreateVServerGroup: "1 to 80 characters in length, and can contain letters, digits, hyphens (-),
# forward slashes (/), periods (.), and underscores (_)."
CLB_VSERVER_GROUP_NAME = NameRule(
    "CLB VServerGroup name", 1, 80, r"[A-Za-z0-9/._-]+",
    "1-80 letters, digits, '-', '/', '.' or '_'",
    "https://www.alibabacloud.com/help/en/slb/classic-load-balancer/developer-reference/api-slb-2014-05-15-createvservergroup")

# CLB CreateLoadBalancerTCPListener Description: "1 to 256 characters in length, and can contain letters,
# digits, hyphens (-), forward slashes (/), periods (.), and underscores (_)."
CLB_LISTENER_DESCRIPTION = NameRule(
    "CLB listener description", 1, 256, r"[A-Za-z0-9/._-]+",
    "1-256 letters, digits, '-', '/', '.' or '_'",
    "https://www.alibabacloud.com/help/en/slb/classic-load-balancer/developer-reference/api-slb-2014-05-15-createloadbalancertcplistener")
