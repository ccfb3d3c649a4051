"""Rules for `management: user` on NLB and CLB: Pulumi builds the load balancer, its listeners and one server group
per Service port; the Service names them (`loadbalancer-id`, `vgroup-port`) and CCM keeps the groups' backends.

What CCM does with a reused load balancer and bound groups is read from kubernetes/cloud-provider-alibaba-cloud
v2.14.0 (the fact sheet ccm.md; C = pkg/controller/service/clbv1/, N = .../nlbv2/). The combinations it supports:

| LB  | group    | Service annotations                      | eTP            | CCM registers                         |
|-----|----------|------------------------------------------|----------------|---------------------------------------|
| NLB | Ip       | backend-type: eni, server-group-type: Ip | (ignored)      | every ready pod IP, target port       |
| NLB | Instance | server-group-type: Instance              | Cluster, Local | ECS nodes on the NodePort (Local: pods as weight) |
| CLB | VServer  | none                                     | Cluster, Local | ECS nodes on the NodePort (Local: pods as weight) |

The program writes the annotations from `serverGroupType` (components/annotations.py), names the groups so that
CCM does not take them for its own (stacks/naming.py), and binds every port, so most refusals cannot arise from
any configuration. The rules of every mode hold here too (stacks/rules/exposure.py): pod IPs need Terway Edge and
Express Connect, and `Instance` groups take ECS instances, so cloud pools only (`nlb_backends_fit_network`; CCM reads
each node's instance id from its providerID `<region>.<instance id>`, N/server_groups.go:945-1018); CLB backends are
ECS nodes (its ENI mode skips pods outside the VPC, C/vgroups.go:124-165), so edge pods are reached through ECS
forwarding, `Cluster` only (`edge_pods_behind_clb_need_cluster`). What is left to refuse is below: a CCM too old to
bind NLB groups, and two ports on one number.

Not checkable here, and stated in the README: CCM refuses to reuse a load balancer tagged `kubernetes.do.not.delete`
or `ack.aliyun.com` (one CCM created, or the API server's CLB; C/model_applier.go:497-526, N/model_applier.go:598-621),
so `adopt` takes only load balancers CCM did not create.
"""

from __future__ import annotations

from typing import Iterator

from packaging.version import InvalidVersion, Version

from stacks.model import StackConfig
from stacks.problems import Problem
from stacks.rules._registry import lb_path, rule, svc_path

# CCM reads `vgroup-port` on NLB Services since commit 14c9d208f ("support nlb vgroup-port", 2023-12-18); v2.9.1 is
# the first tag of the repository that has it (v2.8.0 has not: `git tag --contains 14c9d208f`). CLB has read it
# since before v2.1.0.
CCM_NLB_BINDING = Version("2.9.1")


@rule
def ccm_version_binds_nlb_groups(cfg: StackConfig) -> Iterator[Problem]:
    """An older CCM does not read `vgroup-port` on an NLB Service: it builds server groups of its own for the ports,
    which no listener uses (listeners are left alone on a reused NLB), and Pulumi's groups stay empty."""
    bound = [i for i, s in enumerate(cfg.services) if s.load_balancer.ccm_binds and s.load_balancer.type == "nlb"]
    if not bound:
        return
    raw, first = cfg.cluster.ccm_version, f"{lb_path(bound[0])}.management"
    if raw is None:
        yield Problem("cluster.ccmVersion", None, f"{first} binds NLB server groups for cloud-controller-manager, "
                      "whose version is not given", f"set `cluster.ccmVersion` (NLB binding needs v{CCM_NLB_BINDING} "
                      "or later)")
        return
    try:
        version = Version(raw)
    except InvalidVersion:
        version = Version("0")
    if version < CCM_NLB_BINDING:
        yield Problem("cluster.ccmVersion", raw, f"cloud-controller-manager reads `vgroup-port` on NLB Services from "
                      f"v{CCM_NLB_BINDING} on ({first}); an older one builds server groups of its own that no "
                      "listener uses, and Pulumi's stay empty",
                      "upgrade the cloud-controller-manager add-on, then raise `cluster.ccmVersion`; or use "
                      "`management: pulumi`")


@rule
def bound_ports_have_their_own_numbers(cfg: StackConfig) -> Iterator[Problem]:
    """`vgroup-port` names a group per Service port *number*: CCM gives each port the first entry with its number,
    whatever the protocol (C/listeners.go:740-753, N/listeners.go:62-75), and of two ports bound to one group it
    fills only the first (C/model_applier.go:389-415, N/model_applier.go:282-308). TCP and UDP on one number would
    share the TCP group, and the UDP group would stay empty, with no error."""
    for i, svc in enumerate(cfg.services):
        if not svc.load_balancer.ccm_binds:
            continue
        first: dict[int, int] = {}
        for j, port in enumerate(svc.ports):
            if port.port in first:
                other = svc.ports[first[port.port]]
                yield Problem(f"{svc_path(i)}.ports[{j}].port", port.port,
                              f"ports[{first[port.port]}] ({other.protocol}) has the same number, and CCM binds "
                              "server groups by port number alone (`vgroup-port: <group>:<port>`): this "
                              f"{port.protocol} port would share that group and its own would get no backends",
                              "give each port of a `management: user` Service its own number, or use "
                              "`management: pulumi`")
            first.setdefault(port.port, j)
