"""A trivial dynamic provider used by tests/test_dynhost.py to exercise tests/dynhost.py.

It lives in an importable module (not a test file's `__main__`) so that dill pickles the class by
reference and the dynamic-provider host can import it, as a real project provider would be.

Behaviour:
- configure: reads the project config key `endpoint`, the namespaced key `alicloud:region`, and
  the environment variable `DYNPROVIDER_TOKEN`.
- check: requires a non-empty `name`.
- create: outs = inputs + `counter` (1) + what configure saw + a few probes (pid, type of `size`).
- diff: compares only the keys present in the new inputs (the olds are the stored *outputs*);
  any change -> changes; a change of `name` -> replace (delete before replace).
- update: outs = new inputs + `counter` incremented from the stored outs.
- read: echoes the stored outs plus `refreshed: True`, and hands back explicit inputs.
- delete: nothing (or fails when asked to).
Any method named in `fail_in` raises ValueError("boom ...") instead.
"""

from __future__ import annotations

import os
from typing import Any

from pulumi.dynamic import (
    CheckFailure,
    CheckResult,
    ConfigureRequest,
    CreateResult,
    DiffResult,
    ReadResult,
    ResourceProvider,
    UpdateResult,
)

PROVIDER_KEY = "__provider"
OUTPUT_ONLY = ("counter", "endpoint", "region", "token", "pid", "size_type", "refreshed")


def _inputs(props: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in props.items() if k != PROVIDER_KEY and k not in OUTPUT_ONLY}


class CounterProvider(ResourceProvider):
    """Stores its inputs plus a counter; `tag` only exists to make two instances serialize differently."""

    serialize_as_secret_always = False

    def __init__(self, tag: str = "v1", fail_in: tuple[str, ...] = ()) -> None:
        super().__init__()
        self.tag = tag
        self.fail_in = tuple(fail_in)
        self.endpoint: Any = None
        self.region: Any = None
        self.token: Any = None

    def _maybe_fail(self, method: str) -> None:
        if method in self.fail_in:
            raise ValueError(f"boom in {method}")

    def configure(self, req: ConfigureRequest) -> None:
        self._maybe_fail("configure")
        self.endpoint = req.config.get("endpoint")  # -> "<PULUMI_PROJECT>:endpoint"
        self.region = req.config.get("alicloud:region")
        self.token = os.environ.get("DYNPROVIDER_TOKEN")

    def check(self, olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        self._maybe_fail("check")
        failures = [] if news.get("name") else [CheckFailure("name", "name is required")]
        return CheckResult(dict(news), failures)

    def _outs(self, props: dict[str, Any], counter: int) -> dict[str, Any]:
        outs = _inputs(props)
        outs.update(counter=counter, endpoint=self.endpoint, region=self.region, token=self.token,
                    pid=os.getpid(), size_type=type(props.get("size")).__name__)
        return outs

    def create(self, props: dict[str, Any]) -> CreateResult:
        self._maybe_fail("create")
        return CreateResult(f"res-{props['name']}", self._outs(props, 1))

    def diff(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        self._maybe_fail("diff")
        changed = sorted(k for k in _inputs(news) if olds.get(k) != news.get(k))
        replaces = [k for k in changed if k == "name"]
        return DiffResult(changes=bool(changed), replaces=replaces, delete_before_replace=bool(replaces))

    def update(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        self._maybe_fail("update")
        return UpdateResult(self._outs(news, int(olds.get("counter", 0)) + 1))

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        self._maybe_fail("read")
        outs = {k: v for k, v in props.items() if k != PROVIDER_KEY}
        outs["refreshed"] = True
        return ReadResult(id_, outs, inputs=_inputs(props))

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        self._maybe_fail("delete")


def make_provider() -> CounterProvider:
    """Factory used to serialize the provider in a second interpreter."""
    return CounterProvider()
