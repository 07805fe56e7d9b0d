"""Safe YAML loading that remembers where every key was written, for errors that name the line.

Every YAML file JLCE reads (task, group, claims and leaderboard definitions) goes through here:
the safe loader (no Python objects), duplicate keys refused, and bounded work: nesting depth is
limited and aliases may not expand into more than `MAX_NODES` values (a 1 KB "billion laughs"
file is refused in milliseconds instead of growing without bound).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from jlce.errors import ConfigError

MAX_DEFINITION_BYTES = 1_000_000  # a task definition is small; a 100 MB file is a mistake
MAX_DEPTH = 64  # nesting levels of mappings and lists
MAX_NODES = 100_000  # values in the document once every alias is expanded


@dataclass(frozen=True)
class LoadedYaml:
    data: Any
    lines: dict[tuple, int]  # key path -> 1-based line
    path: Path

    def line_of(self, loc: tuple) -> int | None:
        """The line of the deepest known prefix of `loc` (a pydantic error location)."""
        for end in range(len(loc), 0, -1):
            line = self.lines.get(tuple(loc[:end]))
            if line is not None:
                return line
        return None


class _Loader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys (a silent override hides typos)."""


def _construct_mapping(loader: _Loader, node: yaml.MappingNode, deep: bool = False) -> dict:
    mapping: dict = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in mapping:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key '{key}'", key_node.start_mark
            )
        mapping[key] = loader.construct_object(value_node, deep=deep)
    return mapping


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _walk(node: yaml.Node, prefix: tuple, lines: dict[tuple, int]) -> None:
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            path = prefix + (key_node.value,)
            lines[path] = key_node.start_mark.line + 1
            _walk(value_node, path, lines)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            path = prefix + (index,)
            lines[path] = item.start_mark.line + 1
            _walk(item, path, lines)


def read_text(path: Path, limit: int = MAX_DEFINITION_BYTES) -> str:
    """A definition file's text: UTF-8 (a BOM is accepted), bounded in size."""
    try:
        size = path.stat().st_size
    except OSError as error:
        raise ConfigError(f"cannot read file: {error.strerror}", file=path) from None
    if size > limit:
        raise ConfigError(f"file is {size:,} bytes; definition files are limited to {limit:,}", file=path)
    raw = path.read_bytes()
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = raw[: error.start].count(b"\n") + 1
        raise ConfigError(f"not valid UTF-8 (byte 0x{raw[error.start]:02x})", file=path, line=line) from None


def _flow_depth(text: str) -> int:
    """The deepest nesting of flow brackets ([ and {) outside quotes and comments.

    Checked before parsing: PyYAML's scanner is quadratic in flow depth, so 5,000 brackets
    would take seconds before its own recursion limit stops it."""
    depth = deepest = 0
    quote = ""
    previous = "\n"
    in_comment = False
    for char in text:
        if in_comment:
            in_comment = char != "\n"
        elif quote:
            if char == quote and not (quote == '"' and previous == "\\"):
                quote = ""
            elif quote == '"' and char == "\\" and previous == "\\":
                char = ""  # an escaped backslash does not escape what follows
        elif char == "#" and previous in " \t\n":
            in_comment = True
        elif char in "'\"" and (depth or previous in " \t\n:,[{-"):
            quote = char
        elif char in "[{":
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > MAX_DEPTH:
                    return deepest
        elif char in "]}" and depth:
            depth -= 1
        previous = char
    return deepest


def _indent_depth(text: str) -> int:
    """How many block levels deep the indentation goes (checked before parsing, like `_flow_depth`:
    600 levels of indentation are 360 KB that PyYAML would scan for seconds)."""
    stack: list[int] = []
    for line in text.split("\n"):
        stripped = line.lstrip(" ")
        if not stripped.strip() or stripped.startswith("#"):
            continue
        indent = len(line) - len(stripped)
        while stack and stack[-1] >= indent:
            stack.pop()
        stack.append(indent)
        if len(stack) > MAX_DEPTH:
            break
    return len(stack)


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def check_bounds(root: yaml.Node, source: str | Path) -> None:
    """Refuse a composed document that nests deeper than MAX_DEPTH, refers to itself, or expands
    (aliases counted each time they are used) into more than MAX_NODES values."""
    done: dict[int, tuple[int, int]] = {}  # id(node) -> (expanded size, height)
    active: set[int] = set()

    def visit(node: yaml.Node, depth: int) -> tuple[int, int]:
        key = id(node)
        line = node.start_mark.line + 1
        if key in active:
            raise ConfigError("an alias refers to the node that contains it (a recursive structure)", file=source, line=line)
        if key not in done:
            if depth > MAX_DEPTH:
                raise ConfigError(f"nested more than {MAX_DEPTH} levels deep", file=source, line=line)
            active.add(key)
            size, height = 1, 0
            for child in _children(node):
                child_size, child_height = visit(child, depth + 1)
                size += child_size
                height = max(height, child_height + 1)
                if size > MAX_NODES:
                    raise ConfigError(f"expands to more than {MAX_NODES:,} values once its aliases (*name) are expanded "
                                      "(a YAML alias bomb?)", file=source, line=line)
            active.discard(key)
            done[key] = (size, height)
        size, height = done[key]
        if depth + height > MAX_DEPTH:
            raise ConfigError(f"nested more than {MAX_DEPTH} levels deep once its aliases are expanded", file=source, line=line)
        return size, height

    visit(root, 0)


def parse_yaml_text(text: str, source: str | Path) -> LoadedYaml:
    """Parse YAML text with the safe loader and the bounds above; errors name `source` and the line."""
    if _indent_depth(text) > MAX_DEPTH:
        raise ConfigError(f"nested more than {MAX_DEPTH} levels deep (indentation)", file=source)
    if text.count("[") + text.count("{") > MAX_DEPTH and _flow_depth(text) > MAX_DEPTH:
        raise ConfigError(f"nested more than {MAX_DEPTH} levels deep ([ and {{ brackets)", file=source)
    loader = None
    try:
        loader = _Loader(text)
        node = loader.get_single_node()
        if node is not None:
            check_bounds(node, source)
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line = mark.line + 1 if mark else None
        problem = error.problem or str(error)
        if "python/" in problem or "could not determine a constructor" in problem:
            problem = f"{problem} (YAML tags that construct Python objects are not allowed: task files are data)"
        raise ConfigError(f"invalid YAML: {problem}", file=source, line=line) from None
    except yaml.YAMLError as error:
        raise ConfigError(f"invalid YAML: {error}", file=source) from None
    except RecursionError:
        raise ConfigError("nested too deeply to read", file=source) from None
    finally:
        if loader is not None:
            loader.dispose()
    lines: dict[tuple, int] = {}
    if node is not None:
        _walk(node, (), lines)
    return LoadedYaml(data=data, lines=lines, path=Path(source))


def load_yaml(path: Path) -> LoadedYaml:
    """Parse a YAML file with the safe loader; `!!python/...` tags and other code are refused."""
    return parse_yaml_text(read_text(path), path)
