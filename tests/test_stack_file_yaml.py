"""The YAML of a stack file: keys given twice, what the parser says and where, and files that hold no settings."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from stacks.load import PROJECT, load_stack_file, stack_file
from stacks.problems import ConfigError
from tests.conftest import base_config

CIPHERTEXT = "v1:Qm9ndXNDaXBoZXJ0ZXh0VGhhdE11c3ROb3RMZWFr"


def dev_like() -> str:
    """A valid stack file as a person writes it, one key a line."""
    return yaml.safe_dump({"config": {f"{PROJECT}:{k}": v for k, v in base_config().items()}}, sort_keys=False)


def problems_of(text: str, tmp_path: Path) -> list:
    path = stack_file("ci", tmp_path)
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_stack_file("ci", path)
    return info.value.problems


def line_of(text: str, needle: str, after: int = 0) -> int:
    """1-based number of the first line at or after line `after` that contains `needle`."""
    return next(n for n, line in enumerate(text.splitlines(), 1) if n > after and needle in line)


# --- keys given twice ------------------------------------------------------------------------------


def test_a_top_level_setting_given_twice_is_refused_with_both_lines(tmp_path):
    text = dev_like() + f"  {PROJECT}:services: []\n"  # the second would win: zero Services
    first, second = line_of(text, f"{PROJECT}:services:"), len(text.splitlines())
    (problem,) = problems_of(text, tmp_path)
    assert (problem.path, problem.value) == ("config", f"{PROJECT}:services")
    assert f"lines {first} and {second} of Pulumi.ci.yaml" in problem.message
    assert "given twice" in problem.message and "keep only the second" in problem.message
    assert problem.fix == f"keep one `{PROJECT}:services:` (delete line {first} or {second}, or merge the two into one)"


def test_a_nested_key_given_twice_is_refused_at_its_config_path(tmp_path):
    text = dev_like().replace("    vpcId: vpc-bp1test\n", "    vpcId: vpc-bp1test\n    id: c9999999999\n")
    (problem,) = problems_of(text, tmp_path)
    assert (problem.path, problem.value) == ("cluster", "id")
    assert f"lines {line_of(text, ' id: c0123')} and {line_of(text, 'id: c9999')}" in problem.message


def test_keys_given_twice_in_list_entries_are_each_reported(tmp_path):
    text = dev_like().replace("      port: 80\n", "      port: 80\n      port: 8080\n")
    text = text.replace("      protocol: TCP\n", "      protocol: TCP\n      protocol: UDP\n")
    problems = problems_of(text, tmp_path)
    assert [(p.path, p.value) for p in problems] == [("services[0].ports[0]", "port"),
                                                    ("services[0].ports[0]", "protocol")]


def test_two_spellings_of_one_yaml_key_are_named_both(tmp_path):
    text = f"config:\n  {PROJECT}:protect: true\n  kubernetes:labels:\n    yes: a\n    true: b\n"
    (problem,) = problems_of(text, tmp_path)
    assert problem.path == 'config["kubernetes:labels"]'
    assert "`yes` and `true` are the same key to YAML" in problem.message and "lines 4 and 5" in problem.message


def test_a_key_given_twice_outside_config_is_refused_too(tmp_path):
    (problem,) = problems_of(dev_like() + "config:\n  other: 1\n", tmp_path)
    assert problem.value == "config" and "lines 1 and" in problem.message
    assert problem.path == str(stack_file("ci", tmp_path))


def test_keys_overriding_a_merge_are_not_given_twice_but_a_repeated_one_is(tmp_path):
    # `<<: *anchor` then a key of the anchor: YAML's merge, meant to be overridden.
    text = dev_like().replace("  - id: np-chengdu\n", "  - &chengdu\n    id: np-chengdu\n")
    text += "  kubernetes:pool:\n    <<: *chengdu\n    id: np-other\n    type: cloud\n    type: edge\n"
    (problem,) = problems_of(text, tmp_path)
    assert (problem.path, problem.value) == ('config["kubernetes:pool"]', "type")


def test_a_value_that_contains_itself_is_refused(tmp_path):
    (problem,) = problems_of(f"config:\n  {PROJECT}:cluster: &c {{id: *c}}\n", tmp_path)
    assert problem.path == "cluster.id" and "contains itself through an alias" in problem.message


def test_yaml_nested_too_deeply_is_refused(tmp_path):
    (problem,) = problems_of(f"config:\n  {PROJECT}:services: " + "[" * 3000 + "]" * 3000 + "\n", tmp_path)
    assert "nested too deeply" in problem.message


# --- what the parser says ------------------------------------------------------------------------------


@pytest.mark.parametrize("text, message, fix", [
    ("config:\n  ack-edge-lb:cluster:\n    id: c0123456789abcdef\n   vpcId: vpc-x\n",
     "not valid YAML: expected <block end>, but found '<block mapping start>' at line 4, column 4 "
     "(while parsing a block mapping at line 2, column 3)", "indent each key exactly as far"),
    ("config:\n  ack-edge-lb:services: [1, 2\n  ack-edge-lb:cluster: {}\n",
     "not valid YAML: expected ',' or ']', but got ':' at line 3, column 22 "
     "(while parsing a flow sequence at line 2, column 25)", "close the YAML list with `]`"),
    ("config:\n\tack-edge-lb:cluster: {}\n",
     "not valid YAML: found character '\\t' that cannot start any token at line 2, column 1 "
     "(while scanning for the next token)", "indent with spaces"),
    ("# the dev stack\nconfig:\n  ack-edge-lb:cluster:\n    id: \"c0123\n",
     "not valid YAML: found unexpected end of stream at line 5, column 1 "
     "(while scanning a quoted scalar at line 4, column 9)", "close the quoted YAML string"),
    ("config:\n  ack-edge-lb:protect: yes: no\n",
     "not valid YAML: mapping values are not allowed here at line 2, column 27", "quote a YAML value that contains"),
    ("config:\n  ack-edge-lb:protect: true\n---\nconfig: {}\n",
     "not valid YAML: but found another document at line 3, column 1 "
     "(expected a single document in the stream at line 1, column 1)", "remove the `---` line"),
    ("config:\n  ack-edge-lb:protect: \"\\q\"\n",
     "not valid YAML: found unknown escape character 'q' at line 2, column 26 "
     "(while scanning a double-quoted scalar at line 2, column 24)", "use single quotes"),
    ("config:\n  ack-edge-lb:protect: tr\x07ue\n",
     "not valid YAML: unacceptable character #x0007 (special characters are not allowed) at line 2, column 26",
     "remove the control character"),
    ("config:\n  ack-edge-lb:cluster:\n    id: 2024-13-45\n",
     "cannot read the YAML: a date that cannot be read (month must be in 1..12) at line 3, column 9",
     "quote the value if it is text"),
])
def test_a_yaml_error_gives_the_parser_s_reason_line_column_and_context(tmp_path, text, message, fix):
    (problem,) = problems_of(text, tmp_path)
    assert problem.path == str(stack_file("ci", tmp_path))
    assert problem.message == message
    assert fix in problem.fix


@pytest.mark.parametrize("text", [
    f"config:\n  {PROJECT}:cluster: {{secure: {CIPHERTEXT}\n",            # unclosed, on the secret's line
    f"config:\n  {PROJECT}:cluster:\n    secure: {CIPHERTEXT}\n   id: x\n",  # bad indentation after it
    f"config:\n  {PROJECT}:cluster: !{CIPHERTEXT} x\n",                     # the ciphertext read as a tag
    f"config:\n  {PROJECT}:cluster: *{CIPHERTEXT[3:]}\n",                   # ... or as an alias
    f"config:\n  {PROJECT}:cluster: \"{CIPHERTEXT}\\q\"\n",
])
def test_a_yaml_error_never_quotes_a_secret(tmp_path, text):
    path = stack_file("ci", tmp_path)
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_stack_file("ci", path)
    (problem,) = info.value.problems
    assert problem.message.startswith("not valid YAML: ") and ", column " in problem.message
    assert CIPHERTEXT[3:19] not in str(info.value) and CIPHERTEXT[3:19] not in repr(info.value.problems)


def test_a_number_too_large_says_where(tmp_path):
    (problem,) = problems_of(f"config:\n  {PROJECT}:services:\n    - port: " + "9" * 5000 + "\n", tmp_path)
    assert problem.message == "cannot read the YAML: a number too large to read at line 3, column 13"


# --- files that hold no settings ---------------------------------------------------------------------


def test_settings_in_one_block_outside_config_are_named(tmp_path):
    raw = base_config()
    (problem,) = problems_of(yaml.safe_dump({PROJECT: raw}), tmp_path)
    assert problem.value == PROJECT and "outside `config:`" in problem.message
    assert all(f"`{PROJECT}:{key}`" in problem.fix for key in raw)
