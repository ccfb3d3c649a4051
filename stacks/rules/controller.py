"""Rules about the in-cluster controller (`controller`): its image, its credentials, its limits and resources."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Iterator, Optional

from reconciler import ratelimit
from stacks.model import Controller, ResourceList, StackConfig
from stacks.problems import Problem, config_path
from stacks.rules._registry import rule, warning

AT = "controller"
IMAGE_EXAMPLE = "registry.example.com/ack-edge-lb/controller:<commit sha>"

# The grammar of an image reference (distribution/reference, reference.go): [domain[:port]/]path[:tag][@digest].
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_DOMAIN = r"(?:localhost|[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*)"
IMAGE = re.compile(rf"^(?:(?P<domain>{_DOMAIN}(?::\d+)?)/)?(?P<path>{_COMPONENT}(?:/{_COMPONENT})*)"
                   r"(?::(?P<tag>[\w][\w.-]{0,127}))?(?:@(?P<digest>[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*"
                   r":[0-9a-fA-F]{32,}))?$")

# CreateRole RoleName: 1-64 characters, letters, digits, `.` and `-`.
ROLE_NAME = re.compile(r"^[A-Za-z0-9.-]{1,64}$")

# Kubernetes resource.Quantity: a decimal number and a suffix (binary Ki..Ei, decimal m..E, or an exponent).
_QUANTITY = re.compile(r"^(?P<number>[+-]?(?:\d+(?:\.\d*)?|\.\d+))(?P<suffix>Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]|"
                       r"[eE][+-]?\d+)?$")
_SUFFIX = {"": 1, "n": Decimal("1e-9"), "u": Decimal("1e-6"), "m": Decimal("1e-3"), "k": 10**3, "M": 10**6,
           "G": 10**9, "T": 10**12, "P": 10**15, "E": 10**18,
           **{s: 1024 ** (i + 1) for i, s in enumerate(("Ki", "Mi", "Gi", "Ti", "Pi", "Ei"))}}


def quantity(text: str) -> Optional[Decimal]:
    """The value of a Kubernetes quantity (`50m` = 0.05, `128Mi` = 134217728); None if it is not one."""
    match = _QUANTITY.match(text)
    if not match:
        return None
    suffix = match["suffix"] or ""
    try:
        number = Decimal(match["number"])
    except InvalidOperation:
        return None
    if suffix[:1] in ("e", "E") and len(suffix) > 1:
        return number * Decimal(10) ** int(suffix[1:])
    return number * Decimal(_SUFFIX[suffix])


def image_problem(image: str) -> Optional[tuple[str, str]]:
    """(what is wrong, fix) with an image reference the controller may run, or None."""
    match = IMAGE.match(image)
    if match is None:
        return ("is not an image reference ([registry/]repository[:tag][@digest], lower-case repository)",
                f"use a reference such as `{IMAGE_EXAMPLE}`")
    if match["digest"]:
        return None
    if match["tag"] is None:
        return ("has no tag and no digest, so every node may pull a different image (`latest`)",
                f"add the tag the image workflow pushed (the commit SHA or a release), such as `{IMAGE_EXAMPLE}`")
    if match["tag"] == "latest":
        return ("`latest` names whatever was pushed last: nodes pull different controllers, and `pulumi up` "
                "cannot tell a new one from the old",
                "use the commit SHA or release tag the image workflow pushed, or a digest (`@sha256:...`)")
    return None


def _resources(controller: Controller) -> Iterator[Problem]:
    at = f"{AT}.resources"
    values: dict[str, dict[str, Decimal]] = {}
    for part in ("requests", "limits"):
        found: ResourceList = getattr(controller.resources, part)
        values[part] = {}
        for name in ("cpu", "memory"):
            text = getattr(found, name)
            if text is None:
                continue
            parsed = quantity(text)
            if parsed is None or parsed <= 0:
                example = "`50m` or `0.5`" if name == "cpu" else "`128Mi` or `1Gi`"
                yield Problem(f"{at}.{part}.{name}", text, "is not a positive Kubernetes quantity",
                              f"use a number with an optional suffix, such as {example}")
            else:
                values[part][name] = parsed
    for name, request in values["requests"].items():
        limit = values["limits"].get(name)
        if limit is not None and request > limit:
            yield Problem(f"{at}.requests.{name}", getattr(controller.resources.requests, name),
                          f"the request is above the limit ({getattr(controller.resources.limits, name)}); "
                          "Kubernetes refuses such a pod", f"lower `requests.{name}` or raise `limits.{name}`")


@rule
def controller_is_complete(cfg: StackConfig) -> Iterator[Problem]:
    """An enabled controller needs its image and exactly one way to authenticate."""
    controller = cfg.controller
    if controller is None:
        return
    if controller.enabled and controller.image is None:
        yield Problem(f"{AT}.image", None, "the controller is enabled, but its image is not given",
                      f"set `image` to what the image workflow pushed, such as `{IMAGE_EXAMPLE}`")
    if controller.image is not None:
        problem = image_problem(controller.image)
        if problem is not None:
            yield Problem(f"{AT}.image", controller.image, f"the image {problem[0]}", problem[1])
    creds = controller.credentials
    chosen = [] if creds is None else [k for k, on in (("rrsa", creds.rrsa is not None), ("secret", creds.secret))
                                       if on]
    both = "`credentials: {rrsa: {roleName: <RAM role>}}` (RRSA, recommended) or `credentials: {secret: true}`"
    if len(chosen) > 1:
        yield Problem(f"{AT}.credentials", creds.model_dump(by_alias=True, exclude_none=True),
                      "gives both `rrsa` and `secret`; the controller uses one identity", f"keep one: {both}")
    elif controller.enabled and not chosen:
        value = None if creds is None else creds.model_dump(by_alias=True, exclude_none=True)
        yield Problem(f"{AT}.credentials", value, "the controller is enabled, but no credentials are chosen",
                      f"add {both} (with the secret settings `alicloud:accessKey` and `alicloud:secretKey`)")
    if creds is not None and creds.rrsa is not None and not ROLE_NAME.match(creds.rrsa.role_name):
        yield Problem(f"{AT}.credentials.rrsa.roleName", creds.rrsa.role_name,
                      "a RAM role name has 1 to 64 letters, digits, `.` and `-`",
                      "use the role's name as the RAM console shows it (not its ARN)")


@rule
def rate_limits_fit_the_quotas(cfg: StackConfig) -> Iterator[Problem]:
    """Each limit (`rateLimits`, `controller.rateLimits`) names an API family and stays within its documented quota
    (reconciler/ratelimit.py)."""
    settings = [(("rateLimits",), cfg.rate_limits)]
    if cfg.controller is not None:
        settings.append(((AT, "rateLimits"), cfg.controller.rate_limits))
    for at, limits in settings:
        for key, value in limits.items():
            path = config_path((*at, key))
            if key not in ratelimit.QUOTAS:
                yield Problem(path, value, f"`{key}` is not an API family with a quota",
                              f"use one of: {', '.join(sorted(ratelimit.QUOTAS))}")
                continue
            try:
                ratelimit.parse_limit(key, value, source=".".join(at))
            except ratelimit.RateLimitError as exc:
                # The message is "<where>: <what>; <fix>": the path is already ours.
                what, _, fix = str(exc).partition(": ")[2].partition("; ")
                yield Problem(path, value, what, fix or f"use at most {ratelimit.QUOTAS[key].calls} calls")


@rule
def controller_resources_are_quantities(cfg: StackConfig) -> Iterator[Problem]:
    if cfg.controller is not None:
        yield from _resources(cfg.controller)


@warning
def controller_single_replica_blocks_drains(cfg: StackConfig) -> Iterator[Problem]:
    controller = cfg.controller
    if controller is not None and controller.enabled and controller.replicas == 1:
        yield Problem(f"{AT}.replicas", 1, "its PodDisruptionBudget keeps 1 pod available, so with one replica "
                      "`kubectl drain` of that node waits forever, and a restart leaves no leader to take over",
                      "use 2 replicas (one leads, the other takes over within seconds)", "warning")


@warning
def controller_has_work(cfg: StackConfig) -> Iterator[Problem]:
    controller = cfg.controller
    if controller is None or not controller.enabled:
        return
    if not any(s.load_balancer.management == "pulumi" for s in cfg.services):
        yield Problem(f"{AT}.enabled", True, "no service has `management: pulumi`, so the controller has no "
                      "backend group to keep in step", "set `enabled: false`, or give a service "
                      "`loadBalancer.management: pulumi`", "warning")
