"""Rules about the shape of each service: modes, fields, ports, identity."""

from __future__ import annotations

from typing import Iterator

from stacks.model import MANAGEMENT_BY_TYPE, StackConfig
from stacks.naming import cloud_names, elb_name
from stacks.problems import Problem
from stacks.rules._registry import lb_path, matched, rule, svc_path


@rule
def management_fits_type(cfg: StackConfig) -> Iterator[Problem]:
    for i, svc in enumerate(cfg.services):
        lb = svc.load_balancer
        allowed = MANAGEMENT_BY_TYPE[lb.type]
        if lb.management not in allowed:
            yield Problem(f"{lb_path(i)}.management", lb.management,
                          f"`{lb.management}` management does not exist for `type: {lb.type}`",
                          f"use one of: {', '.join(allowed)}")


# Listener protocols each kind of load balancer offers when Pulumi creates the listeners.
LISTENER_PROTOCOLS = {"elb": ("tcp", "udp", "http", "https"), "clb": ("tcp", "udp", "http", "https"),
                      "nlb": ("tcp", "udp")}
# Schedulers per kind (ENS ELB annotations and listeners; NLB server groups; CLB listeners).
SCHEDULERS = {"elb": ("rr", "wrr", "wlc", "sch", "tch", "qch", "iqch"), "nlb": ("rr", "wrr", "wlc", "sch", "tch", "qch"),
              "clb": ("rr", "wrr", "wlc", "sch", "tch")}


@rule
def scheduler_fits_type(cfg: StackConfig) -> Iterator[Problem]:
    for i, svc in enumerate(cfg.services):
        lb = svc.load_balancer
        if lb.scheduler is not None and lb.scheduler not in SCHEDULERS[lb.type]:
            yield Problem(f"{lb_path(i)}.scheduler", lb.scheduler, f"{lb.type.upper()} has no `{lb.scheduler}` scheduler",
                          f"use one of: {', '.join(SCHEDULERS[lb.type])}")


@rule
def listeners_fit_mode(cfg: StackConfig) -> Iterator[Problem]:
    """Listener protocols and certificates are for the listeners Pulumi creates itself."""
    for i, svc in enumerate(cfg.services):
        lb_type = svc.load_balancer.type
        owned = svc.load_balancer.pulumi_listeners
        for j, port in enumerate(svc.ports):
            at = f"{svc_path(i)}.ports[{j}]"
            if not owned and (port.listener is not None or port.certificate_id is not None):
                key = "listener" if port.listener is not None else "certificateId"
                yield Problem(f"{at}.{key}", getattr(port, "listener" if key == "listener" else "certificate_id"),
                              "the controller creates listeners from `protocol` alone; this setting is read only "
                              "when Pulumi creates the listeners",
                              f"remove `{key}`, or set `loadBalancer.management: pulumi` (for NLB and CLB also "
                              "`user`)")
                continue
            wanted = port.listener_protocol
            if wanted not in LISTENER_PROTOCOLS[lb_type]:
                yield Problem(f"{at}.listener", wanted, f"{lb_type.upper()} has no {wanted.upper()} listener",
                              f"use one of: {', '.join(LISTENER_PROTOCOLS[lb_type])}")
            if (wanted == "udp") != (port.protocol == "UDP"):
                yield Problem(f"{at}.listener", wanted, f"a {wanted.upper()} listener cannot forward to "
                              f"{port.protocol} port {port.port}", "use `udp` for UDP ports, and `tcp`, `http` or "
                              "`https` for TCP ports")
            if wanted == "https" and port.certificate_id is None:
                yield Problem(f"{at}.certificateId", None, "an HTTPS listener needs a server certificate",
                              "add `certificateId:` with the id of the certificate uploaded to the load balancer service")
            if wanted != "https" and port.certificate_id is not None:
                yield Problem(f"{at}.certificateId", port.certificate_id,
                              f"only HTTPS listeners take a certificate, this one is `{wanted}`",
                              "remove `certificateId`, or set `listener: https`")


@rule
def fields_fit_type(cfg: StackConfig) -> Iterator[Problem]:
    """Settings that only one kind of load balancer or one management mode reads."""
    only = {
        "spec": ("elb",), "eip": ("elb",), "elb_ids": ("elb",), "shared": ("elb",),
        "server_group_type": ("nlb",),
        "address_type": ("nlb", "clb"),
    }
    for i, svc in enumerate(cfg.services):
        lb = svc.load_balancer
        for field, types in only.items():
            if field in lb.model_fields_set and lb.type not in types:
                alias = type(lb).model_fields[field].alias
                value = getattr(lb, field)
                if hasattr(value, "model_dump"):
                    value = value.model_dump(by_alias=True)
                yield Problem(f"{lb_path(i)}.{alias}", value,
                              f"`{alias}` applies to {', '.join(types)} load balancers only, this one is `{lb.type}`",
                              f"remove `{alias}`")
        if lb.elb_ids and lb.management != "user":
            yield Problem(f"{lb_path(i)}.elbIds", dict(lb.elb_ids),
                          f"ELB ids are read only with `management: user`, this service uses `{lb.management}`",
                          "set `management: user` to bind existing ELBs, or remove `elbIds`")
        hc = lb.health_check
        if hc is not None and hc.type == "http" and lb.type == "elb" and lb.management in ("ecm", "user"):
            yield Problem(f"{lb_path(i)}.healthCheck.type", "http",
                          "ECM configures ELB listeners with TCP health checks only (no annotation for HTTP)",
                          "use `type: tcp`")
        if hc is not None and hc.uri is not None and hc.type != "http":
            yield Problem(f"{lb_path(i)}.healthCheck.uri", hc.uri, "only HTTP health checks request a URI",
                          "set `healthCheck.type: http`, or remove `uri`")


@rule
def ports_are_consistent(cfg: StackConfig) -> Iterator[Problem]:
    for i, svc in enumerate(cfg.services):
        seen: dict[tuple[int, str], int] = {}
        names: dict[str, int] = {}
        for j, port in enumerate(svc.ports):
            at = f"{svc_path(i)}.ports[{j}]"
            key = (port.port, port.protocol)
            if key in seen:
                yield Problem(f"{at}.port", port.port, f"{port.protocol} port {port.port} is already declared "
                              f"by ports[{seen[key]}]", "give each listener its own port, or remove the duplicate")
            seen.setdefault(key, j)
            if port.name is None and len(svc.ports) > 1:
                yield Problem(f"{at}.name", None, "Kubernetes needs a name on every port of a multi-port Service",
                              "add `name:` (a DNS label such as `http`)")
            if port.name is not None:
                if port.name in names:
                    yield Problem(f"{at}.name", port.name, f"the name is already used by ports[{names[port.name]}]",
                                  "give every port its own name")
                names.setdefault(port.name, j)


@rule
def node_ports_are_unique(cfg: StackConfig) -> Iterator[Problem]:
    first: dict[int, str] = {}
    for i, svc in enumerate(cfg.services):
        for j, port in enumerate(svc.ports):
            if port.node_port is None:
                continue
            at = f"{svc_path(i)}.ports[{j}].nodePort"
            if port.node_port in first:
                yield Problem(at, port.node_port, f"NodePort {port.node_port} is already taken by {first[port.node_port]}",
                              "pick another NodePort in 30000-32767, or leave `nodePort` out to let Kubernetes choose")
            first.setdefault(port.node_port, at)


@rule
def services_are_unique(cfg: StackConfig) -> Iterator[Problem]:
    """Same name and namespace = one Kubernetes object, and for ELB the same ELB/EIP names."""
    first: dict[tuple[str, str], int] = {}
    for i, svc in enumerate(cfg.services):
        key = (svc.namespace, svc.name)
        if key in first:
            other = cfg.services[first[key]]
            names = ""
            if "elb" in (svc.load_balancer.type, other.load_balancer.type):
                pools = matched(cfg, svc) or cfg.node_pools
                names = f"; their ELB and EIP names collide (`{elb_name(svc.name, svc.namespace, pools[0].id, cfg.cluster.id)}`)," \
                        " and ECM could delete the other's ELB"
            yield Problem(f"{svc_path(i)}.name", svc.name,
                          f"services[{first[key]}] is already `{svc.namespace}/{svc.name}`{names}",
                          "rename one of the services or put it in another namespace")
        first.setdefault(key, i)


@rule
def cloud_names_fit(cfg: StackConfig) -> Iterator[Problem]:
    """Names are made from the Service's name and namespace and the cluster id; the APIs limit their
    length and characters (contracts/names.py), and a name they refuse fails `pulumi up` half-way."""
    for i, svc in enumerate(cfg.services):
        seen = set()
        for name_rule, value in cloud_names(svc, matched(cfg, svc), cfg.cluster.id):
            problem = name_rule.problem(value)
            if problem is None or (name_rule.what, value) in seen:
                continue
            seen.add((name_rule.what, value))
            yield Problem(f"{svc_path(i)}.name", svc.name, f"{problem} (the name is made from the service name, "
                          "its namespace, the node pool and the cluster id)",
                          f"shorten the service name, namespace or pool id (by {len(value) - name_rule.max_len} "
                          "characters or more)" if len(value) > name_rule.max_len else
                          "use names of lower-case letters, digits and `-`")
