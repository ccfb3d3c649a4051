"""Rules from the ACK Edge documentation that relate several fields, pools or services.

Each rule is a pure function of a field-valid `StackConfig` that yields `Problem`s, registered with
`@rule` (an error) or `@warning`; `check` runs them all, so one run reports every problem at once.
The README's "Rules" table lists them.
"""

from __future__ import annotations

from stacks.model import StackConfig
from stacks.problems import Problem

# Importing the rule modules registers their rules, in this order of reporting.
from stacks.rules import advice, binding, controller, exposure, pools, services  # noqa: F401, I001
from stacks.rules._registry import RULES, WARNINGS
from stacks.rules.advice import BACKEND_QUOTA, QUOTA_WARN_SHARE
from stacks.rules.exposure import ECM_MIN_VERSION, NLB_ZONES

__all__ = ["RULES", "WARNINGS", "BACKEND_QUOTA", "QUOTA_WARN_SHARE", "ECM_MIN_VERSION", "NLB_ZONES", "check"]


def check(cfg: StackConfig) -> tuple[list[Problem], list[Problem]]:
    """Every error and every warning of a field-valid configuration."""
    errors = [p for fn in RULES for p in fn(cfg)]
    warnings = [p for fn in WARNINGS for p in fn(cfg)]
    return errors, warnings
