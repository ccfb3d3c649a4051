"""The registry of configuration rules, and the helpers every rule module shares."""

from __future__ import annotations

from typing import Callable, Iterator

from stacks.model import NodePool, Service, StackConfig
from stacks.naming import matched_pools
from stacks.problems import Problem

Rule = Callable[[StackConfig], Iterator[Problem]]

RULES: list[Rule] = []
WARNINGS: list[Rule] = []


def rule(fn: Rule) -> Rule:
    """Register an error rule."""
    RULES.append(fn)
    return fn


def warning(fn: Rule) -> Rule:
    """Register a warning: reported, never blocking."""
    WARNINGS.append(fn)
    return fn


def svc_path(i: int) -> str:
    return f"services[{i}]"


def lb_path(i: int) -> str:
    return f"services[{i}].loadBalancer"


def matched(cfg: StackConfig, svc: Service) -> list[NodePool]:
    return matched_pools(svc, cfg.node_pools)
