"""The YAML of a stack file, read strictly: a key given twice is refused, and a syntax error says what the parser
found and where (line and column), without quoting the file's text.

PyYAML keeps the last of two equal keys without a word, so a setting written twice would silently lose one of
them; and its messages quote the offending line, which may hold a secret.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Callable, Optional

import yaml
from yaml.error import Mark, MarkedYAMLError
from yaml.reader import ReaderError

from stacks.problems import Problem, config_path

_MERGE = "tag:yaml.org,2002:merge"
_SYNTAX_FIX = "fix the YAML syntax (indentation, quotes, colons)"
# The fix for a parser's problem, by the start of its wording (PyYAML's scanner, parser and composer).
_FIXES: tuple[tuple[str, str], ...] = (
    ("found character '\\t'", "indent with spaces: YAML does not allow tabs"),
    ("expected <block end>", "indent each key exactly as far as the other keys of its YAML mapping"),
    ("expected ',' or ']'", "close the YAML list with `]`, with commas between its items"),
    ("expected ',' or '}'", "close the YAML mapping with `}`, with commas between its entries"),
    ("found unexpected end of stream", "close the quoted YAML string"),
    ("mapping values are not allowed here", "quote a YAML value that contains `: `, and start each key on its own line"),
    ("could not find expected ':'", "end each YAML key with `:`, or quote a value that runs over several lines"),
    ("but found another document", "keep one YAML document: remove the `---` line and what follows it"),
    ("could not determine a constructor for the tag", "quote the value: YAML reads a leading `!` as a tag"),
    ("found undefined alias", "quote the value: YAML reads a leading `*` as an alias"),
    ("found unknown escape character", "write `\\\\` for a backslash in a double-quoted YAML string, or use single quotes"),
    ("found unhashable key", "use text as a YAML key, not a list or a mapping"),
)
# Quoted text in a parser message that may be a secret (a ciphertext such as `v1:...`, a token): never shown.
_QUOTED = re.compile(r"'([^']*)'|\"([^\"]*)\"")
_SECRET_LOOKING = re.compile(r"v1:|[A-Za-z0-9+/=_.:-]{16,}")


class _Unreadable(MarkedYAMLError):
    """A value YAML parses but Python cannot hold (a date that does not exist, a number past the digit limit)."""

    def __init__(self, problem: str, fix: str, mark: Mark):
        super().__init__(problem=problem, problem_mark=mark)
        self.fix = fix


def _located(construct: Callable[..., Any], what: str, fix: str) -> Callable[..., Any]:
    def construct_located(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
        try:
            return construct(loader, node)
        except ValueError as exc:  # said without the value itself, which may be anything
            reason = str(exc)
            problem = f"{what} too large to read" if "digits" in reason else f"{what} that cannot be read ({_hide(reason)})"
            raise _Unreadable(problem, fix, node.start_mark) from None
    return construct_located


class _Loader(yaml.SafeLoader):
    pass


for _tag, _what, _fix in (("int", "a number", "use numbers in the documented ranges"),
                          ("float", "a number", "use numbers in the documented ranges"),
                          ("timestamp", "a date", "quote the value if it is text: YAML reads `YYYY-MM-DD` as a date")):
    _name = f"tag:yaml.org,2002:{_tag}"
    _Loader.add_constructor(_name, _located(yaml.SafeLoader.yaml_constructors[_name], _what, _fix))


def _hide(text: str) -> str:
    return _QUOTED.sub(lambda m: "'[hidden]'" if _SECRET_LOOKING.search(m[1] or m[2] or "") else m[0], text)


def _at(mark: Mark) -> str:
    return f"line {mark.line + 1}, column {mark.column + 1}"


def _position(text: str, index: int) -> str:
    line = text.count("\n", 0, index)
    return f"line {line + 1}, column {index - (text.rfind(chr(10), 0, index) + 1) + 1}"


def syntax_problem(exc: yaml.YAMLError, text: str, path: Path) -> Problem:
    """What the parser found and where, as one Problem of the file; never the file's text."""
    if isinstance(exc, ReaderError):
        char = exc.character if isinstance(exc.character, int) else ord(exc.character)
        return Problem(str(path), None, f"not valid YAML: unacceptable character #x{char:04x} ({exc.reason}) at "
                       f"{_position(text, exc.position)}", "remove the control character: YAML allows only printable text")
    if not isinstance(exc, MarkedYAMLError) or exc.problem_mark is None:
        return Problem(str(path), None, "not valid YAML", _SYNTAX_FIX)
    problem = _hide(exc.problem or exc.context or "")
    message = f"not valid YAML: {problem} at {_at(exc.problem_mark)}"
    if exc.context and exc.problem:
        seen = exc.context_mark
        where = f" at {_at(seen)}" if seen is not None and (seen.line, seen.column) != (
            exc.problem_mark.line, exc.problem_mark.column) else ""
        message += f" ({_hide(exc.context)}{where})"
    if isinstance(exc, _Unreadable):
        return Problem(str(path), None, message.replace("not valid YAML: ", "cannot read the YAML: "), exc.fix)
    fix = next((fix for start, fix in _FIXES if (exc.problem or "").startswith(start)), _SYNTAX_FIX)
    return Problem(str(path), None, message, fix)


# --- keys given twice ------------------------------------------------------------------------------


def _where(loc: tuple[Any, ...], project: str, path: Path) -> str:
    """The config path of a mapping (`cluster`, `services[0].ports[0]`), as the other problems name it."""
    if not loc:
        return str(path)
    if loc[0] == "config" and len(loc) > 1:
        namespace, _, name = str(loc[1]).rpartition(":")
        if namespace in ("", project):
            return config_path((name, *loc[2:]))
    return config_path(loc)


def document_problems(loader: yaml.SafeLoader, root: yaml.Node, path: Path, project: str) -> list[Problem]:
    """Every key given twice in one mapping, with both lines, and every list or mapping that contains itself
    through an alias (no configuration value can). Keys brought in by a `<<` merge may be overridden: that is
    what a merge is for."""
    problems: list[Problem] = []
    visited: set[int] = set()
    inside: list[yaml.Node] = []

    def walk(node: yaml.Node, loc: tuple[Any, ...]) -> None:
        if any(node is outer for outer in inside):
            problems.append(Problem(_where(loc, project, path), None, f"the YAML at {_at(node.start_mark)} contains "
                                    "itself through an alias (`*name`), and no setting can be infinite",
                                    "write the values out instead of the alias"))
            return
        if id(node) in visited:  # an alias: its anchor is checked once
            return
        visited.add(id(node))
        inside.append(node)
        try:
            if isinstance(node, yaml.SequenceNode):
                for index, item in enumerate(node.value):
                    walk(item, (*loc, index))
            elif isinstance(node, yaml.MappingNode):
                _keys(node, loc)
        finally:
            inside.pop()

    def _keys(node: yaml.MappingNode, loc: tuple[Any, ...]) -> None:
        first: dict[Any, yaml.ScalarNode] = {}
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE or not isinstance(key_node, yaml.ScalarNode):
                walk(value_node, loc)
                continue
            earlier = first.setdefault(loader.construct_object(key_node), key_node)
            if earlier is not key_node:
                one, two, text = earlier.start_mark.line + 1, key_node.start_mark.line + 1, key_node.value
                said = (f"`{text}` is" if earlier.value == text
                        else f"`{earlier.value}` and `{text}` are the same key to YAML, so it is")
                problems.append(Problem(
                    _where(loc, project, path), text,
                    f"{said} given twice in this mapping, at lines {one} and {two} of {path.name}; "
                    "YAML would keep only the second and silently drop the first",
                    f"keep one `{text}:` (delete line {one} or {two}, or merge the two into one)"))
            walk(value_node, (*loc, loader.construct_object(key_node)))

    walk(root, ())
    return problems


def load(text: str, path: Path, project: str) -> tuple[Any, list[Problem]]:
    """The document of a stack file, and the problems of its keys (`document_problems`); raises yaml.YAMLError
    as PyYAML does (turn it into a Problem with `syntax_problem`)."""
    loader = _Loader(text)
    try:
        root: Optional[yaml.Node] = loader.get_single_node()
        if root is None:
            return None, []
        refused = document_problems(loader, root, path, project)  # before `<<` merges are flattened into the nodes
        return loader.construct_document(root), refused
    finally:
        loader.dispose()
