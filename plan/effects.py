"""What a diff makes ECM and CCM do in the cloud, in the controller modes; and every address change.

Pure, from the two sides of a `PlanDiff`. In the controller modes nothing cloud-side is in the plan:
what ECM or CCM does follows from the Service's and the NodePool/PoolService patches' changes and the
ACK Edge update policy (reference/FACTS.md section 1; README "What each mode does"). The addresses of
Pulumi-owned load balancers are plan/addresses.py's.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Optional

from components import annotations as ann
from plan.addresses import AddressChange, owned_addresses
from plan.diff import ABSENT, PlanDiff, ResourceDiff, leaf_changes
from plan.offline import UNKNOWN, Registration

SERVICE = "kubernetes:core/v1:Service"
PATCH = "pulumi-python:dynamic/cluster:ExistingObjectPatch"

FACTS = "FACTS.md §1"
LISTENERS_FOLLOW = f"{FACTS} update policy: listeners follow spec.ports (added, updated, deleted)"
ELB_REPLACED = f"{FACTS} update policy: ELB attributes cannot be updated (replace)"
BANDWIDTH_IN_PLACE = f"{FACTS} update policy: EIP bandwidth can be changed in place (auto-managed)"
ECM_DELETES = (f"{FACTS} auto-managed: deleting the Service, or a pool that stops matching the selector, "
               "deletes that pool's ELB and EIP")
ECM_CREATES = f"{FACTS}: ECM creates a PoolService per matched pool and an ELB with its EIP per region"
SELF_MANAGED = f"{FACTS} self-managed: EIPs are never created or deleted; ELBs, listeners, backend groups retained"
BACKENDS = f"{FACTS} externalTrafficPolicy: Local registers nodes with pods, Cluster every node"
EIP_FORCE_NEW = (f"{FACTS} names only the bandwidth as changeable in place; ENS EIP isp and internetChargeType "
                 "are force-new (contracts/alicloud_ens.py)")
CCM_BUILDS = "README 'What each mode does': CCM builds the NLB or CLB from the Service's ports and annotations"
CCM_BINDS = ("README 'What each mode does': under `user` CCM fills the server groups the Service binds "
             "(`vgroup-port`), and never deletes the load balancer, its listeners or the groups")
NAMES = {"ecm": "ECM", "user": "ECM", "nlb": "CCM", "clb": "CCM", "nlb-user": "CCM", "clb-user": "CCM"}
LB_KIND = {"nlb": "NLB", "clb": "CLB", "nlb-user": "NLB", "clb-user": "CLB"}
# NLB and CLB that Pulumi builds and the Service binds for CCM (`management: user`): CCM keeps the backends only.
BOUND = ("nlb-user", "clb-user")
# What ECM does without the annotation (FACTS.md §1, documented ELB annotation defaults).
ECM_DEFAULTS = {ann.LB + "spec": "elb.s2.small"}
LISTENER_KEYS = ("scheduler", "persistence-timeout", "established-timeout", "healthy-threshold",
                 "unhealthy-threshold", "health-check-")


@dataclass(frozen=True)
class Effect:
    """One thing a cluster controller does in the cloud because of the change."""

    controller: str  # ECM | CCM
    service: str
    action: str
    message: str
    pools: tuple[str, ...] = ()
    source: str = ""


def _js(value: Any) -> str:
    if value is ABSENT:
        return "(absent)"
    return UNKNOWN if value == UNKNOWN else json.dumps(value, sort_keys=True)


def _pools(names: list[str] | tuple[str, ...]) -> str:
    return ", ".join(sorted(names))


# --- controller modes ---------------------------------------------------------------------------------

@dataclass
class _Side:
    """One side (before or after) of an exposed Service, as the controllers read it."""

    key: str
    mode: Optional[str]  # ecm | user | nlb | clb | nlb-user | clb-user, None when no controller serves it
    annotations: dict[str, Any]
    ports: list[dict[str, Any]]
    policy: Optional[str]
    pools: dict[str, Optional[str]]  # pool -> its ENS region (NodePool patches)
    bindings: dict[str, Any]         # pool -> ELB id (PoolService patches)


def _mode(service: Registration) -> Optional[str]:
    spec = service.inputs.get("spec") or {}
    annotations = (service.inputs.get("metadata") or {}).get("annotations") or {}
    if spec.get("type") != "LoadBalancer":
        return None
    cls = spec.get("loadBalancerClass")
    if cls == ann.ELB_CLASS:
        return "user" if annotations.get(ann.MANAGED_BY_USER) == "true" else "ecm"
    bound = "-user" if annotations.get(ann.LOADBALANCER_ID) else ""
    if cls == ann.NLB_CLASS:
        return "nlb" + bound
    return "clb" + bound if not cls else None


def _side(service: Registration, regs: dict[str, Registration]) -> _Side:
    key = service.parent or service.name.rsplit("/", 1)[0]
    pools, bindings = {}, {}
    for r in regs.values():
        if r.type != PATCH or r.parent != key:
            continue
        pool = r.name.rsplit("/", 1)[-1]
        if r.inputs.get("kind") == "NodePool":
            pools[pool] = (r.inputs.get("annotations") or {}).get(ann.ENS_REGION_ID)
        elif r.inputs.get("kind") == "PoolService":
            bindings[pool] = (r.inputs.get("annotations") or {}).get(ann.LOADBALANCER_ID)
    spec = service.inputs.get("spec") or {}
    return _Side(key, _mode(service), dict((service.inputs.get("metadata") or {}).get("annotations") or {}),
                 list(spec.get("ports") or []), spec.get("externalTrafficPolicy"), pools, bindings)


def _patch_annotations(regs: dict[str, Registration], name: str) -> dict[str, Any]:
    reg = regs.get(name)
    return dict((reg.inputs.get("annotations") or {}) if reg else {})


def _where(side: _Side, pools: list[str]) -> str:
    if side.mode in LB_KIND:
        return f"on the {LB_KIND[side.mode]}"
    return f"on {len(pools)} ELB{'s' if len(pools) != 1 else ''} (pools {_pools(pools)})"


def _port(p: dict[str, Any]) -> str:
    return f"{p.get('port')}/{p.get('protocol') or 'TCP'}"


def _listener_effects(old: _Side, new: _Side, pools: list[str]) -> list[Effect]:
    ctl, where, out = NAMES[new.mode], _where(new, pools), []
    def key(i: int, p: dict[str, Any]) -> str:
        return p.get("name") or str(i)
    before = {key(i, p): p for i, p in enumerate(old.ports)}
    after = {key(i, p): p for i, p in enumerate(new.ports)}
    for name in sorted(set(before) | set(after)):
        a, b = before.get(name), after.get(name)
        if a and b and (a.get("port"), a.get("protocol")) != (b.get("port"), b.get("protocol")):
            shown = (f"{a.get('port')} -> {b.get('port')} ({b.get('protocol') or 'TCP'})"
                     if a.get("protocol") == b.get("protocol") else f"{_port(a)} -> {_port(b)}")
            out.append(Effect(ctl, new.key, "rebuild-listener", f"{ctl} rebuilds the listener {shown} {where}",
                              tuple(pools), LISTENERS_FOLLOW))
        elif a and b and a.get("nodePort") != b.get("nodePort"):
            out.append(Effect(ctl, new.key, "update-listener", f"{ctl} points the listener {_port(b)} at NodePort "
                              f"{_js(b.get('nodePort'))} (was {_js(a.get('nodePort'))}) {where}", tuple(pools),
                              LISTENERS_FOLLOW))
        elif b and not a:
            out.append(Effect(ctl, new.key, "add-listener", f"{ctl} adds the listener {_port(b)} {where}",
                              tuple(pools), LISTENERS_FOLLOW))
        elif a and not b:
            out.append(Effect(ctl, new.key, "delete-listener", f"{ctl} deletes the listener {_port(a)} {where}",
                              tuple(pools), LISTENERS_FOLLOW))
    return out


def _annotation_effects(old: _Side, new: _Side, pools: list[str]) -> tuple[list[Effect], list[AddressChange]]:
    ctl, where, effects, addresses = NAMES[new.mode], _where(new, pools), [], []
    defaults = ECM_DEFAULTS if new.mode == "ecm" else {}
    for change in leaf_changes({**defaults, **old.annotations}, {**defaults, **new.annotations}):
        key = str(change.segments[0])
        before, after = change.old, change.new
        short = key[len(ann.LB):] if key.startswith(ann.LB) else None
        said = f"{key} {_js(before)} -> {_js(after)}"
        if key in (ann.SKIP_AWAIT, ann.TOPOLOGY_KEYS, ann.NODEPOOL_SELECTOR):
            continue  # not a cloud change; a new selector shows as pools leaving or joining
        if new.mode == "ecm" and short == "eip-bandwidth":
            effects.append(Effect(ctl, new.key, "eip-bandwidth", f"ECM changes the EIP bandwidth in place, "
                                  f"{before} -> {after} Mbit/s, on {len(pools)} EIPs (pools "
                                  f"{_pools(pools)}); the addresses stay", tuple(pools), BANDWIDTH_IN_PLACE))
        elif new.mode == "ecm" and short == "spec":
            effects.append(Effect(ctl, new.key, "replace-elb", f"ECM replaces each ELB ({_js(before)} -> "
                                  f"{_js(after)}) in {len(pools)} pools ({_pools(pools)})", tuple(pools),
                                  ELB_REPLACED))
            addresses += [AddressChange("ELB", f"ECM replaces the ELB of {p}: its id and private address change",
                                        {"elbId": "changes", "private": "changes"}, "ECM", service=new.key, pool=p,
                                        region=new.pools.get(p)) for p in pools]
        elif new.mode == "ecm" and short in ("eip-isp", "eip-internet-charge-type"):
            effects.append(Effect(ctl, new.key, "replace-eip", f"ECM cannot change {said} in place: the EIP of "
                                  f"each pool ({_pools(pools)}) must be re-created, with a new public address",
                                  tuple(pools), EIP_FORCE_NEW))
            addresses += [AddressChange("EIP", f"the public address of {p} changes (a new EIP: {said})",
                                        {"public": "changes"}, "ECM", service=new.key, pool=p,
                                        region=new.pools.get(p)) for p in pools]
        elif new.mode == "nlb" and key == ann.ZONE_MAPS:
            zones = {z.split(":")[0]: z for z in str(after if after is not ABSENT else "").split(",") if z}
            gone = {z.split(":")[0]: z for z in str(before if before is not ABSENT else "").split(",") if z}
            moved = [f"+ {zones[z]}" for z in sorted(set(zones) - set(gone))] + \
                    [f"- {gone[z]}" for z in sorted(set(gone) - set(zones))] + \
                    [f"~ {zones[z]}" for z in sorted(set(zones) & set(gone)) if zones[z] != gone[z]]
            effects.append(Effect(ctl, new.key, "zones", f"CCM changes the NLB's zone mappings: {', '.join(moved)}",
                                  (), CCM_BUILDS))
        elif short is not None and short.startswith(LISTENER_KEYS):
            effects.append(Effect(ctl, new.key, "update-listeners", f"{ctl} updates the listeners {where}: {said}",
                                  tuple(pools), LISTENERS_FOLLOW if ctl == "ECM" else CCM_BUILDS))
        else:
            effects.append(Effect(ctl, new.key, "annotation", f"{ctl} applies {said} {where}", tuple(pools),
                                  CCM_BUILDS if ctl == "CCM" else LISTENERS_FOLLOW))
    return effects, addresses


def _built(side: _Side) -> Effect:
    pools = sorted(side.pools)
    ports = ", ".join(_port(p) for p in side.ports)
    if side.mode == "ecm":
        where = ", ".join(f"{p} in {side.pools[p]}" if side.pools[p] else p for p in pools)
        return Effect("ECM", side.key, "create-lb", f"ECM creates an ELB and EIP in each of {len(pools)} pools "
                      f"({where}), with listeners {ports}", tuple(pools), ECM_CREATES)
    if side.mode == "user":
        bound = ", ".join(f"{p} -> {_js(side.bindings.get(p))}" for p in sorted(side.bindings))
        return Effect("ECM", side.key, "keep-listeners", f"ECM keeps the listeners {ports} and the backends of the "
                      f"self-managed ELBs ({bound})", tuple(pools), SELF_MANAGED)
    kind = LB_KIND[side.mode or "clb"]
    if side.mode in BOUND:
        return Effect("CCM", side.key, "keep-backends", f"CCM keeps the backends of the {kind}'s server groups "
                      f"(ports {ports}); the {kind}, its listeners and groups are Pulumi's", (), CCM_BINDS)
    return Effect("CCM", side.key, "create-lb", f"CCM creates a{'n' if kind == 'NLB' else ''} {kind} with "
                  f"listeners {ports}", (), CCM_BUILDS)


def _dropped(side: _Side, why: str) -> tuple[list[Effect], list[AddressChange]]:
    pools = sorted(side.pools)
    if side.mode == "ecm":
        return ([Effect("ECM", side.key, "delete-lb", f"{why}: ECM deletes the ELB and EIP of every pool "
                        f"({_pools(pools)}): their addresses are lost", tuple(pools), ECM_DELETES)],
                [_released(side, p) for p in pools])
    if side.mode == "user":
        return [Effect("ECM", side.key, "release-binding", f"{why}: ECM stops keeping listeners and backends; the "
                       "self-managed ELBs and EIPs stay", tuple(pools), SELF_MANAGED)], []
    kind = LB_KIND[side.mode or "clb"]
    if side.mode in BOUND:
        return [Effect("CCM", side.key, "release-binding", f"{why}: CCM removes its backends from the {kind}'s "
                       f"server groups and deletes nothing (the {kind}, its listeners and groups are Pulumi's)",
                       (), CCM_BINDS)], []
    return ([Effect("CCM", side.key, "delete-lb", f"{why}: CCM deletes the {kind} it built: its address is lost",
                    (), CCM_BUILDS)],
            [AddressChange(kind, f"CCM deletes the {kind} of {side.key}: its address is released",
                           {"dns" if kind == "NLB" else "ip": "released"}, "CCM", service=side.key)])


def _released(side: _Side, pool: str) -> AddressChange:
    region = side.pools.get(pool)
    return AddressChange("ELB", f"ECM releases the public address of {pool}{f' ({region})' if region else ''}: it "
                         "deletes that pool's ELB and EIP", {"elbId": "released", "private": "released",
                                                            "public": "released"},
                         "ECM", service=side.key, pool=pool, region=region)


def _switched(old: _Side, new: _Side) -> tuple[list[Effect], list[AddressChange]]:
    """ELB management between `ecm` and `user`: the class stays, the owner of the ELBs changes."""
    pools = sorted(set(old.pools) | set(new.pools))
    if new.mode == "user":
        bound = ", ".join(f"{p} -> {_js(new.bindings.get(p))}" for p in sorted(new.bindings))
        effect = Effect("ECM", new.key, "management", f"management changes from ecm to user: the pools are bound to "
                        f"self-managed ELBs ({bound}). The documentation does not say what ECM does with the ELBs "
                        f"and EIPs it created for {_pools(list(old.pools))}: check for them and release them",
                        tuple(pools), SELF_MANAGED)
    else:
        effect = Effect("ECM", new.key, "management", f"management changes from user to ecm: ECM creates its own ELB "
                        f"and EIP in each pool ({_pools(list(new.pools))}); the self-managed ELBs and EIPs stay "
                        "(ECM never deletes them)", tuple(pools), ECM_CREATES)
    return [effect], [AddressChange("ELB", f"the public address of {p} changes: it is served by another ELB and EIP",
                                    {"public": "changes"}, "ECM", service=new.key, pool=p, region=new.pools.get(p))
                      for p in sorted(new.pools)]


def _service_effects(d: ResourceDiff, old_regs: dict, new_regs: dict) -> tuple[list[Effect], list[AddressChange]]:
    old = _side(d.old, old_regs) if d.old else None
    new = _side(d.new, new_regs) if d.new else None
    if new is not None and new.mode and (old is None or not old.mode):
        return [_built(new)], []
    if old is not None and old.mode and (new is None or not new.mode):
        return _dropped(old, "the Service is deleted" if new is None else "no controller builds it any more")
    if old is None or new is None or not new.mode:
        return [], []
    if d.op == "replace" or old.mode != new.mode:
        if d.op != "replace" and {old.mode, new.mode} == {"ecm", "user"}:
            return _switched(old, new)
        effects, addresses = _dropped(old, "the Service is replaced (deleted first)" if d.op == "replace"
                                      else f"management changes ({old.mode} -> {new.mode})")
        return effects + [_built(new)], addresses
    effects, addresses = [], []
    left, joined = sorted(set(old.pools) - set(new.pools)), sorted(set(new.pools) - set(old.pools))
    stayed = sorted(set(old.pools) & set(new.pools)) if new.mode in ("ecm", "user") else []
    for pool in left:
        if new.mode == "ecm":
            region = old.pools[pool]
            effects.append(Effect("ECM", new.key, "delete-lb", f"ECM deletes the ELB and EIP of {pool} (address "
                                  f"{region or 'of the pool'} lost): the pool leaves the selection",
                                  (pool,), ECM_DELETES))
            addresses.append(_released(old, pool))
        else:
            effects.append(Effect("ECM", new.key, "release-binding", f"ECM stops serving {pool} (its PoolService "
                                  "binding goes); a self-managed ELB and its EIP stay", (pool,), SELF_MANAGED))
    for pool in joined:
        effects.append(Effect("ECM", new.key, "create-lb" if new.mode == "ecm" else "bind",
                              f"ECM creates an ELB and EIP for {pool} (a new address in {new.pools[pool] or pool})"
                              if new.mode == "ecm" else f"ECM binds {pool} to ELB {_js(new.bindings.get(pool))}",
                              (pool,), ECM_CREATES if new.mode == "ecm" else SELF_MANAGED))
    for pool in stayed:
        if pool in old.bindings and pool in new.bindings and old.bindings[pool] != new.bindings[pool]:
            effects.append(Effect("ECM", new.key, "rebind", f"ECM binds {pool} to another ELB, "
                                  f"{_js(old.bindings[pool])} -> {_js(new.bindings[pool])}", (pool,), SELF_MANAGED))
            addresses.append(AddressChange("ELB", f"the address of {pool} becomes that of ELB "
                                           f"{_js(new.bindings[pool])}", {"public": "changes"}, "ECM",
                                           service=new.key, pool=pool, region=new.pools.get(pool)))
        placement = leaf_changes(_patch_annotations(old_regs, f"{new.key}/nodepool/{pool}"),
                                 _patch_annotations(new_regs, f"{new.key}/nodepool/{pool}"))
        if new.mode == "ecm" and placement:
            said = ", ".join(f"{c.segments[0]} {_js(c.old)} -> {_js(c.new)}" for c in placement)
            effects.append(Effect("ECM", new.key, "replace-elb", f"ECM replaces the ELB of {pool}: its ENS placement "
                                  f"changes ({said})", (pool,), ELB_REPLACED))
    target = stayed if new.mode in ("ecm", "user") else []
    if new.mode in BOUND:  # Pulumi's listeners and groups are in the plan itself: CCM only fills the groups
        groups = leaf_changes(old.annotations.get(ann.VGROUP_PORT, ABSENT), new.annotations.get(ann.VGROUP_PORT, ABSENT))
        if groups:
            effects.append(Effect("CCM", new.key, "rebind", f"CCM fills the server groups the Service now binds "
                                  f"({_js(groups[0].new)}); a group no longer bound keeps CCM's backends until "
                                  "it is deleted", (), CCM_BINDS))
        if old.policy != new.policy:
            effects.append(Effect("CCM", new.key, "backends", f"CCM re-registers the backends {_where(new, [])}: "
                                  f"externalTrafficPolicy {_js(old.policy)} -> {_js(new.policy)}", (), BACKENDS))
    elif new.mode in ("nlb", "clb") or target:
        effects += _listener_effects(old, new, target)
        more, found = _annotation_effects(old, new, target)
        effects, addresses = effects + more, addresses + found
        if old.policy != new.policy:
            effects.append(Effect(NAMES[new.mode], new.key, "backends", f"{NAMES[new.mode]} re-registers the backends "
                                  f"{_where(new, target)}: externalTrafficPolicy {_js(old.policy)} -> "
                                  f"{_js(new.policy)}", tuple(target), BACKENDS))
    return effects, addresses


def effects_of(diff: PlanDiff) -> tuple[list[Effect], list[AddressChange]]:
    """The controllers' effects, and every address change (Pulumi-owned resources first)."""
    old_regs = {d.name: d.old for d in diff.resources.values() if d.old}
    new_regs = {d.name: d.new for d in diff.resources.values() if d.new}
    effects, addresses = [], owned_addresses(diff)
    for d in diff.resources.values():
        if d.type == SERVICE:
            more, found = _service_effects(d, old_regs, new_regs)
            effects += more
            addresses += found
    return effects, addresses
