"""The guard around pulumi 3.272's `serialize_provider` (components/dynamic.py), and a stack big enough to need it."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from components.dynamic import is_dynamic, serialize_provider
from plan.offline import run_program
from reconciler.provider import BackendSyncProvider
from tests.dynhost import PROJECT_ROOT, load_in_fresh_interpreter


def test_the_sdk_alone_fails_after_some_hundred_providers():
    """The upstream defect, in a process where the guard is not installed (pulumi/pulumi#17803)."""
    code = textwrap.dedent("""
        from pulumi.dynamic.dynamic import serialize_provider
        from reconciler.provider import BackendSyncProvider
        for i in range(2000):
            try:
                serialize_provider(BackendSyncProvider())
            except RecursionError:
                print(i)
                break
    """)
    done = subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() and int(done.stdout) < 2000  # it broke, after a few hundred calls


def test_the_guarded_serializer_is_deterministic_and_never_deepens():
    provider = BackendSyncProvider()
    first = serialize_provider(provider)
    assert all(serialize_provider(provider) == first for _ in range(3000))
    assert load_in_fresh_interpreter(first) == "reconciler.provider.BackendSyncProvider"


def test_a_300_pool_pulumi_owned_stack_plans(config):
    config["nodePools"] = [{"id": f"np-{i:03d}", "type": "ens", "labels": {"k8s-svc": "cube"},
                            "ens": {"regionId": f"cn-city{i:03d}-cmcc", "networkId": f"n-{i:03d}",
                                    "vswitchIds": [f"vsw-{i:03d}"]}} for i in range(300)]
    config["services"][0]["loadBalancer"] = {"type": "elb", "management": "pulumi"}
    run = run_program(config, "test", preview=True)
    dynamic = [r for r in run.resources if is_dynamic(r.type)]
    assert len(dynamic) == 300 * 3  # per pool: the TCP listener, the EIP address, the backends
    assert len(run.resources) > 2000
