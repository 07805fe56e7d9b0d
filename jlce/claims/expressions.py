"""The small, safe language of claim checks.

    tokens_per_s(B) / tokens_per_s(A) >= 1.70
    acc(A, jcommonsenseqa) >= 0.85
    0.05 <= kv_bytes_per_token(A) / kv_bytes_per_token(B) <= 0.13

A check is one comparison (`<`, `<=`, `>`, `>=`, chains allowed) between arithmetic expressions
(`+ - * /`, unary minus, parentheses, numbers, `abs`, `min`, `max`) over *quantities*: a function
of a run label and optional plain arguments (task names, request kinds), e.g. `acc(A, jnli)`.

Python's `ast` parses the text; every node is checked against a whitelist and converted into the
frozen dataclasses below. Nothing is ever evaluated by Python: `evaluate` walks the tree itself.
"""

from __future__ import annotations

import ast
import math
import operator
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

MAX_LENGTH = 1000
MAX_DEPTH = 40

MATH_FUNCTIONS = ("abs", "min", "max")
COMPARISONS = {ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">="}
ARITHMETIC = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/"}


class ExpressionError(ValueError):
    """A check that is not valid in the language; `column` is 1-based when known."""

    def __init__(self, message: str, column: int | None = None):
        self.column = column
        super().__init__(message + (f" (column {column})" if column else ""))


@dataclass(frozen=True)
class Number:
    value: float


@dataclass(frozen=True)
class Quantity:
    """A measured quantity: `name(label, *args)`."""

    name: str
    label: str
    args: tuple[str, ...] = ()

    @property
    def text(self) -> str:
        return f"{self.name}({', '.join((self.label, *self.args))})"


@dataclass(frozen=True)
class Unary:
    op: str  # "-" or "+"
    operand: Node


@dataclass(frozen=True)
class Binary:
    op: str  # + - * /
    left: Node
    right: Node


@dataclass(frozen=True)
class Function:
    name: str  # one of MATH_FUNCTIONS
    args: tuple[Node, ...]


@dataclass(frozen=True)
class Comparison:
    """`operands[0] ops[0] operands[1] ops[1] ...`; holds when every link holds."""

    operands: tuple[Node, ...]
    ops: tuple[str, ...]


Node = Number | Quantity | Unary | Binary | Function

_BINARY: dict[str, Callable[[Any, Any], Any]] = {"+": operator.add, "-": operator.sub, "*": operator.mul, "/": operator.truediv}


def _column(node: ast.AST) -> int | None:
    offset = getattr(node, "col_offset", None)
    return offset + 1 if offset is not None else None


def _describe(node: ast.AST) -> str:
    names = {ast.Eq: "'=='", ast.NotEq: "'!='", ast.Pow: "'**'", ast.Mod: "'%'", ast.FloorDiv: "'//'",
             ast.BoolOp: "'and'/'or'", ast.Attribute: "attribute access", ast.Subscript: "indexing",
             ast.Lambda: "lambda", ast.IfExp: "if/else"}
    for kind, text in names.items():
        if isinstance(node, kind):
            return text
    return f"'{type(node).__name__}'"


def _arg_text(node: ast.AST) -> str:
    """A plain quantity argument: a bare name (`jnli`) or a string (`"my-task"`)."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.strip():
        return node.value.strip()
    raise ExpressionError("quantity arguments after the run label are names such as a task ('jnli') "
                          "or a request kind ('generate_until')", _column(node))


def _convert(node: ast.AST, depth: int) -> Node:
    if depth > MAX_DEPTH:
        raise ExpressionError(f"expression nested more than {MAX_DEPTH} levels deep", _column(node))
    if isinstance(node, ast.Constant):
        if isinstance(node.value, bool) or not isinstance(node.value, (int, float)):
            raise ExpressionError(f"only numbers are allowed here, not {_shorten(repr(node.value))}", _column(node))
        try:
            value = float(node.value)
        except OverflowError:
            value = math.inf
        if not math.isfinite(value):
            raise ExpressionError(f"the number {_shorten(str(node.value))} is too large", _column(node))
        return Number(value)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        return Unary("-" if isinstance(node.op, ast.USub) else "+", _convert(node.operand, depth + 1))
    if isinstance(node, ast.BinOp) and type(node.op) in ARITHMETIC:
        return Binary(ARITHMETIC[type(node.op)], _convert(node.left, depth + 1), _convert(node.right, depth + 1))
    if isinstance(node, ast.Call):
        if not isinstance(node.func, ast.Name) or node.keywords or any(isinstance(a, ast.Starred) for a in node.args):
            raise ExpressionError("calls are written name(arguments), without keywords or *", _column(node))
        name = node.func.id
        if name in MATH_FUNCTIONS:
            if not node.args or (name == "abs" and len(node.args) != 1):
                raise ExpressionError(f"{name}() takes {'one argument' if name == 'abs' else 'one or more arguments'}", _column(node))
            return Function(name, tuple(_convert(a, depth + 1) for a in node.args))
        if not node.args or not isinstance(node.args[0], ast.Name):
            raise ExpressionError(f"{name}(...) needs a run label as its first argument, e.g. {name}(A)", _column(node))
        return Quantity(name, node.args[0].id, tuple(_arg_text(a) for a in node.args[1:]))
    if isinstance(node, ast.Name):
        raise ExpressionError(f"'{node.id}' on its own is not a number: use a quantity such as tokens_per_s({node.id})",
                              _column(node))
    if isinstance(node, ast.Compare):
        raise ExpressionError("a comparison can only appear once, at the top (chains like 0.05 <= x <= 0.13 are fine)",
                              _column(node))
    raise ExpressionError(f"{_describe(getattr(node, 'op', node))} is not allowed in checks", _column(node))


def parse_check(text: str) -> Comparison:
    """Parse a check into a `Comparison`; raises `ExpressionError` with a short reason."""
    if not isinstance(text, str) or not text.strip():
        raise ExpressionError("the check is empty")
    if len(text) > MAX_LENGTH:
        raise ExpressionError(f"the check is longer than {MAX_LENGTH} characters")
    source = " ".join(text.split())  # YAML folded/multi-line checks read as one line
    try:
        tree = ast.parse(source, mode="eval")
    except SyntaxError as error:
        raise ExpressionError(f"not a valid expression: {error.msg}", error.offset) from None
    body = tree.body
    if isinstance(body, ast.BoolOp):
        raise ExpressionError("'and'/'or' are not allowed: write each condition as its own claim")
    if not isinstance(body, ast.Compare):
        raise ExpressionError("a check must compare, e.g. tokens_per_s(B) / tokens_per_s(A) >= 1.3")
    ops = []
    for op in body.ops:
        if type(op) not in COMPARISONS:
            hint = " (equality cannot be shown from noisy measurements: use <= / >= bounds)" if isinstance(op, (ast.Eq, ast.NotEq)) else ""
            raise ExpressionError(f"comparison {_describe(op)} is not allowed{hint}", _column(body))
        ops.append(COMPARISONS[type(op)])
    operands = tuple(_convert(n, 1) for n in [body.left, *body.comparators])
    for operand in operands:
        _check_constants(operand)
    comparison = Comparison(operands, tuple(ops))
    if all(is_constant(operand) for operand in operands):
        raise ExpressionError("the check measures nothing: it needs at least one quantity such as acc(A, jnli)")
    return comparison


def _shorten(text: str, limit: int = 24) -> str:
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


def _check_constants(node: Node) -> None:
    """Refuse division by a constant zero and constant parts that are not finite (`1/0`, `1e300 * 1e300`)."""
    if isinstance(node, Binary) and node.op == "/" and is_constant(node.right):
        if _constant_value(node.right) == 0:
            raise ExpressionError("division by zero")
    if is_constant(node) and not isinstance(node, Number) and not math.isfinite(_constant_value(node)):
        raise ExpressionError("a constant part of the check is not a finite number")
    for child in _children(node):
        _check_constants(child)


def _constant_value(node: Node) -> float:
    try:
        return float(evaluate(node, lambda q: math.nan))
    except (ZeroDivisionError, OverflowError):
        return math.nan


def _children(node: Node) -> tuple[Node, ...]:
    if isinstance(node, Unary):
        return (node.operand,)
    if isinstance(node, Binary):
        return (node.left, node.right)
    if isinstance(node, Function):
        return node.args
    return ()


def walk(node: Node | Comparison) -> Iterator[Node]:
    """Every node of a tree, depth first."""
    if isinstance(node, Comparison):
        for operand in node.operands:
            yield from walk(operand)
        return
    yield node
    if isinstance(node, Unary):
        yield from walk(node.operand)
    elif isinstance(node, Binary):
        yield from walk(node.left)
        yield from walk(node.right)
    elif isinstance(node, Function):
        for arg in node.args:
            yield from walk(arg)


def quantities(node: Node | Comparison) -> list[Quantity]:
    """The distinct quantities of a tree, in order of appearance."""
    seen: dict[Quantity, None] = {}
    for item in walk(node):
        if isinstance(item, Quantity):
            seen.setdefault(item)
    return list(seen)


def is_constant(node: Node) -> bool:
    return not any(isinstance(item, Quantity) for item in walk(node))


def evaluate(node: Node, value_of: Callable[[Quantity], Any]) -> Any:
    """Evaluate a tree with `value_of(quantity)`; works elementwise on numpy arrays."""
    if isinstance(node, Number):
        return node.value
    if isinstance(node, Quantity):
        return value_of(node)
    if isinstance(node, Unary):
        value = evaluate(node.operand, value_of)
        return -value if node.op == "-" else value
    if isinstance(node, Binary):
        return _BINARY[node.op](evaluate(node.left, value_of), evaluate(node.right, value_of))
    if isinstance(node, Function):
        import numpy as np

        values = [evaluate(arg, value_of) for arg in node.args]
        if node.name == "abs":
            return np.abs(values[0])
        reduce = np.minimum if node.name == "min" else np.maximum
        result = values[0]
        for value in values[1:]:
            result = reduce(result, value)
        return result
    raise TypeError(f"not an expression node: {node!r}")


_PRECEDENCE = {"+": 1, "-": 1, "*": 2, "/": 2}


def to_text(node: Node | Comparison, parent: int = 0) -> str:
    """Canonical text of a tree (minimal parentheses)."""
    if isinstance(node, Comparison):
        parts = [to_text(node.operands[0])]
        for op, operand in zip(node.ops, node.operands[1:]):
            parts += [op, to_text(operand)]
        return " ".join(parts)
    if isinstance(node, Number):
        return f"{node.value:g}"
    if isinstance(node, Quantity):
        return node.text
    if isinstance(node, Unary):
        return f"{node.op}{to_text(node.operand, 3)}"
    if isinstance(node, Function):
        return f"{node.name}({', '.join(to_text(a) for a in node.args)})"
    level = _PRECEDENCE[node.op]
    # The right operand of - and / needs parentheses at equal precedence: a - (b - c).
    text = f"{to_text(node.left, level)} {node.op} {to_text(node.right, level + (node.op in '-/'))}"
    return f"({text})" if level < parent else text
