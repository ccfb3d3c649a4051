"""Property tests of the loader: whatever a stack file holds, `validate` answers with a `Loaded` or a
`ConfigError` whose every problem has a path, a message and a fix, never with another exception.
"""

from __future__ import annotations

import copy
import datetime
import decimal
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stacks import model
from stacks.load import Loaded, validate
from stacks.model import CONFIG_KEYS
from stacks.problems import ConfigError, Problem, show
from tests.conftest import base_config

FUZZ = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# --- strategies ----------------------------------------------------------------------------------

scalars = (st.none() | st.booleans() | st.integers() | st.floats()
           | st.text(max_size=20))
json_data = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=12,
)

_MODELS = [model.Cluster, model.EnsPlacement, model.CloudZone, model.NodePool, model.ServicePort,
           model.HealthCheck, model.Eip, model.LoadBalancer, model.Workload, model.Service, model.StackConfig]
ALIASES = sorted({field.alias or name for m in _MODELS for name, field in m.model_fields.items()})

# Values that mean something to the model, so mutations also reach the cross-field rules.
VOCABULARY = [
    "elb", "nlb", "clb", "ecm", "user", "ccm", "pulumi", "Local", "Cluster", "Ip", "Instance",
    "terway-edge", "flannel-vxlan", "ens", "cloud", "edge", "tcp", "http", "TCP", "UDP", "wrr", "rr",
    "2.1.0", "2.0.9", "v2.1.0", "2.10", "lb-abc", "np-hefei", "np-chengdu", "np-cloud", "k8s-svc", "cube",
    "cube-svc", "default", "/healthz", "elb.s2.small", "telecom",
    0, 1, 2, 5, 10, 53, 80, 443, 900, 3600, 30080, 32767, 65535, 65536, -1, 10**6, True, False, None,
    [], {}, {"k8s-svc": "cube"}, {"np-hefei": "lb-a"}, {"secure": "v1:abc"},
]
# Copied, so that a mutation never aliases (or grows) a shared VOCABULARY list or mapping.
values = (st.sampled_from(VOCABULARY) | json_data).map(copy.deepcopy)
keys = st.sampled_from(ALIASES) | st.text(max_size=12)


# --- the property --------------------------------------------------------------------------------


def check_answer(raw: Any) -> None:
    """`validate` returns a Loaded, or raises ConfigError with complete problems; never anything else."""
    try:
        loaded = validate(raw, "fuzz")
    except ConfigError as exc:
        assert exc.problems, "a ConfigError must list its problems"
        for problem in exc.problems:
            assert isinstance(problem, Problem)
            assert problem.severity == "error"
            # A path may be an odd key itself (whitespace), so it need only be non-empty.
            assert isinstance(problem.path, str) and problem.path, problem
            for part in (problem.message, problem.fix):
                assert isinstance(part, str) and part.strip(), problem
        text = str(exc)
        assert text.startswith("stack `fuzz`")
        assert all(p.path in text for p in exc.problems)
        assert text.count("Fix: ") >= len(exc.problems)
    else:
        assert isinstance(loaded, Loaded)
        assert isinstance(loaded.config, model.StackConfig)
        for warning in loaded.warnings:
            assert warning.severity == "warning"
            assert warning.path and warning.message.strip() and warning.fix.strip()
            assert "Consider: " in str(warning)


# (a) arbitrary JSON-like data


@FUZZ
@given(json_data)
def test_arbitrary_data_gives_loaded_or_config_error(raw):
    check_answer(raw)


@FUZZ
@given(st.dictionaries(st.sampled_from(CONFIG_KEYS) | st.text(max_size=12), json_data, max_size=4))
def test_arbitrary_mappings_give_loaded_or_config_error(raw):
    check_answer(raw)


@FUZZ
@given(cluster=json_data, node_pools=st.lists(st.dictionaries(keys, values, max_size=6), max_size=3),
       services=st.lists(st.dictionaries(keys, values, max_size=8), max_size=3))
def test_arbitrary_blocks_give_loaded_or_config_error(cluster, node_pools, services):
    check_answer({"cluster": cluster, "nodePools": node_pools, "services": services})


# (b) mutations of the valid base configuration

Path = tuple[Any, ...]


def node_paths(node: Any, at: Path = ()) -> list[Path]:
    """The path of every node below `node` (containers and leaves), depth first."""
    out: list[Path] = []
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for key, child in items:
        out.append(at + (key,))
        out.extend(node_paths(child, at + (key,)))
    return out


def get(node: Any, path: Path) -> Any:
    for part in path:
        node = node[part]
    return node


def mutate(data: st.DataObject, raw: dict[str, Any]) -> None:
    op = data.draw(st.sampled_from(["replace", "replace", "delete", "add"]), label="op")
    paths = node_paths(raw)
    if op in ("replace", "delete") and paths:
        path = data.draw(st.sampled_from(paths), label="path")
        parent = get(raw, path[:-1])
        if op == "replace":
            parent[path[-1]] = data.draw(values, label="value")
        else:
            del parent[path[-1]]
    elif op == "add":
        containers = [p for p in [(), *paths] if isinstance(get(raw, p), (dict, list))]
        node = get(raw, data.draw(st.sampled_from(containers), label="container"))
        if isinstance(node, dict):
            node[data.draw(keys, label="key")] = data.draw(values, label="value")
        else:
            # A copy of a sibling (a second service or pool, to reach the uniqueness rules) or a new value.
            if node and data.draw(st.booleans(), label="copy sibling"):
                item = copy.deepcopy(data.draw(st.sampled_from(node), label="sibling"))
            else:
                item = data.draw(values, label="value")
            node.insert(data.draw(st.integers(0, len(node)), label="index"), item)


@FUZZ
@given(st.data())
def test_mutated_base_config_gives_loaded_or_config_error(data):
    raw = base_config()
    for _ in range(data.draw(st.integers(1, 4), label="mutations")):
        mutate(data, raw)
    check_answer(raw)


@FUZZ
@given(st.data())
def test_one_leaf_replaced_gives_loaded_or_config_error(data):
    raw = base_config()
    leaves = [p for p in node_paths(raw) if not isinstance(get(raw, p), (dict, list))]
    path = data.draw(st.sampled_from(leaves), label="leaf")
    get(raw, path[:-1])[path[-1]] = data.draw(values, label="value")
    check_answer(raw)


# (c) str(ConfigError) never raises

odd_values = st.recursive(
    scalars | st.binary(max_size=8) | st.decimals() | st.datetimes()
    | st.sets(st.integers(), max_size=3) | st.frozensets(st.text(max_size=3), max_size=3)
    | st.just(datetime.date(2024, 1, 1)) | st.just(decimal.Decimal("NaN")) | st.just(object()),
    lambda children: (st.lists(children, max_size=3) | st.tuples(children, children)
                      | st.dictionaries(st.none() | st.integers() | st.text(max_size=5) | st.booleans(),
                                        children, max_size=3)),
    max_leaves=10,
)
problems = st.builds(Problem, path=st.text(min_size=1, max_size=40), value=odd_values,
                     message=st.text(max_size=60), fix=st.text(max_size=60),
                     severity=st.sampled_from(["error", "warning"]))


@FUZZ
@given(st.text(max_size=20), st.lists(problems, max_size=5))
def test_str_of_config_error_never_raises(stack, items):
    error = ConfigError(stack, items)
    text = str(error)
    assert text.startswith(f"stack `{stack}`: {len(items)} configuration problem(s)")
    assert all(p.path in text for p in items)
    assert all(len(show(p.value)) <= 80 for p in items)
    for p in items:
        assert p.as_dict()["path"] == p.path


@FUZZ
@given(json_data)
def test_str_of_validation_errors_never_raises(raw):
    try:
        validate({"cluster": raw, "nodePools": [raw], "services": [raw, {"name": raw}]}, "fuzz")
    except ConfigError as exc:
        assert str(exc)
        assert all(str(p) for p in exc.problems)
