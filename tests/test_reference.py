"""docs/configuration.md is the generator's output, and it names every field of every model."""

from __future__ import annotations

import re
import subprocess
import sys
import typing
from pathlib import Path
from typing import Any, Iterator

from pydantic import BaseModel

from stacks import model
from stacks.reference import COMMAND, markdown, rows

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "configuration.md"


def models() -> Iterator[type[BaseModel]]:
    """Every model of stacks/model.py, found from the module (not from the generator's walk)."""
    for value in vars(model).values():
        if isinstance(value, type) and issubclass(value, model.Model) and value is not model.Model:
            yield value


def nested_models(tp: Any) -> Iterator[type[BaseModel]]:
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        yield tp
    for arg in typing.get_args(tp):
        yield from nested_models(arg)


def test_the_committed_reference_is_the_generated_one():
    assert DOC.read_text(encoding="utf-8") == markdown(), f"docs/configuration.md is out of date: run `{COMMAND}`"


def test_the_reference_says_how_to_regenerate_it():
    first = DOC.read_text(encoding="utf-8").splitlines()[0]
    assert first.startswith("<!--") and COMMAND in first and "stacks/model.py" in first


def test_every_field_of_every_model_is_in_the_reference_with_its_description():
    text = DOC.read_text(encoding="utf-8")
    by_path = {row.path: row for row in rows()}
    for cls in models():
        for name, info in cls.model_fields.items():
            alias = info.alias or name
            assert info.description, f"{cls.__name__}.{name} has no Field(description=...)"
            found = [row for row in by_path.values() if row.description == info.description
                     and (row.path == alias or row.path.endswith(f".{alias}"))]
            assert found, f"{cls.__name__}.{alias} is not in the reference"
            for row in found:
                assert f"`{row.path}`" in text or f"`ack-edge-lb:{row.path}`" in text
                assert row.description.replace("|", "\\|") in text


def test_every_model_is_reachable_from_the_stack_configuration():
    reached = {model.StackConfig}
    todo = [model.StackConfig]
    while todo:
        for info in todo.pop().model_fields.values():
            for nested in nested_models(info.annotation):
                if nested not in reached:
                    reached.add(nested)
                    todo.append(nested)
    assert reached == set(models())


def test_the_reference_gives_types_defaults_values_and_ranges():
    by_path = {row.path: row for row in rows()}
    bandwidth = by_path["services[].loadBalancer.eip.bandwidth"]
    assert (bandwidth.kind, bandwidth.required, bandwidth.allowed) == ("integer", "default `10`", ["5 to 10000"])
    spec = by_path["services[].loadBalancer.spec"]
    assert spec.allowed == ["one of " + ", ".join(f"`{s}`" for s in model.ELB_SPECS)]
    assert by_path["cluster.id"].required == "required"
    assert by_path["services"].required.startswith("required")  # Pulumi.yaml declares it, though `[]` will do
    assert by_path["services[].ports"].allowed == ["1 to 50 items"]
    assert by_path["services[].loadBalancer.adopt.<key>.loadBalancerId"].kind == "string"
    assert "`^(lb\\|nlb)-[a-z0-9]+$`" in DOC.read_text(encoding="utf-8")  # a `|` kept inside its table cell


def test_every_id_format_has_an_example_that_matches_it():
    formats = [(row.path, pattern, example) for row in rows() for pattern, example in row.formats]
    assert len(formats) >= 20
    for path, pattern, example in formats:
        assert example is not None and re.fullmatch(pattern.strip("^$"), example), (path, pattern, example)


def test_python_m_stacks_reference_prints_it(tmp_path):
    done = subprocess.run([sys.executable, "-m", "stacks", "reference"], cwd=ROOT, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout == markdown()
    out = tmp_path / "docs" / "configuration.md"
    done = subprocess.run([sys.executable, "-m", "stacks", "reference", "--output", str(out)], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and out.read_text(encoding="utf-8") == markdown()


def test_make_reference_regenerates_the_file():
    done = subprocess.run(["make", "-n", "reference"], cwd=ROOT, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "-m stacks reference --output docs/configuration.md" in done.stdout
