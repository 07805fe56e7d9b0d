"""A Jinja sandbox whose work is bounded: task templates are data, and a hostile one must fail fast.

On top of Jinja's immutable sandbox (no attribute tricks, `range()` capped):
- loops: at most `MAX_ITERATIONS` loop steps per render, across all loops, nested or recursive;
- numbers: `**` and `*` may not build integers over `MAX_INT_BITS` bits;
- text: `*`, `+`, `~`, filters and method calls may not build strings or lists over
  `MAX_LENGTH`, nor do more than `MAX_WORK` characters of such work per render; numeric
  arguments of filters and calls (`center(10**9)`, `indent(...)`) are capped at `MAX_ARG`, and
  so are widths written in format strings (`'%09999999d'`, `'{:>99999999}'`);
- recursion (a macro calling itself) ends in Python's recursion limit, reported by the caller.
Each limit raises `TemplateLimitError`, which the caller turns into a located ConfigError.
"""

from __future__ import annotations

import contextvars
import functools
import math
import re
from collections.abc import Iterable, Iterator
from typing import Any

from jinja2 import nodes
from jinja2.compiler import CodeGenerator, Frame
from jinja2.runtime import LoopContext
from jinja2.sandbox import ImmutableSandboxedEnvironment

MAX_ITERATIONS = 100_000
MAX_INT_BITS = 4096
MAX_LENGTH = 2_000_000
MAX_WORK = 20_000_000
MAX_ARG = 100_000
_BIG_WIDTH = re.compile(r"\d{6,}")  # a width or precision of 100,000 or more in a format string


class TemplateLimitError(Exception):
    """A template exceeded one of the limits above."""


class Budget:
    """What one render may still spend."""

    def __init__(self) -> None:
        self.iterations = MAX_ITERATIONS
        self.work = MAX_WORK

    def spend_work(self, amount: int) -> None:
        self.work -= amount
        if self.work < 0:
            raise TemplateLimitError(f"the template builds more than {MAX_WORK:,} characters of text")

    def iterate(self, iterable: Iterable[Any]) -> Iterator[Any]:
        for item in iterable:
            self.iterations -= 1
            if self.iterations < 0:
                raise TemplateLimitError(f"the template's loops run more than {MAX_ITERATIONS:,} steps")
            yield item


_BUDGET: contextvars.ContextVar[Budget | None] = contextvars.ContextVar("jlce_template_budget", default=None)


def start_budget() -> contextvars.Token:
    return _BUDGET.set(Budget())


def end_budget(token: contextvars.Token) -> None:
    _BUDGET.reset(token)


def _loop_budget(iterable: Any) -> Any:
    budget = _BUDGET.get()
    return iterable if budget is None else budget.iterate(iterable)


def _sized(value: Any) -> Any:
    """`value`, after checking a string or list result against MAX_LENGTH and the work budget."""
    if isinstance(value, (str, list, tuple)):
        if len(value) > MAX_LENGTH:
            raise TemplateLimitError(f"the template builds a value of {len(value):,} items (limit {MAX_LENGTH:,})")
        budget = _BUDGET.get()
        if budget is not None:
            budget.spend_work(len(value))
    elif isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > MAX_INT_BITS:
        raise TemplateLimitError(f"the template builds an integer over {MAX_INT_BITS} bits")
    return value


def _check_format(text: Any) -> None:
    if isinstance(text, str) and _BIG_WIDTH.search(text) and ("%" in text or "{" in text):
        raise TemplateLimitError(f"a format string with a width or precision of {MAX_ARG:,} or more")


def _check_args(args: tuple, kwargs: dict) -> None:
    for value in (*args, *kwargs.values()):
        if isinstance(value, (int, float)) and not isinstance(value, bool) and not abs(value) <= MAX_ARG:
            raise TemplateLimitError(f"a numeric argument of {value:.3g} (limit {MAX_ARG:,})")


def _guard_filter(function: Any) -> Any:
    # The filtered value (after the environment/context Jinja may pass first) is not an argument.
    skip = 2 if getattr(function, "jinja_pass_arg", None) is not None else 1

    @functools.wraps(function)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        _check_args(args[skip:], kwargs)
        if function.__name__ == "do_format" and len(args) >= skip:
            _check_format(args[skip - 1])
        return _sized(function(*args, **kwargs))

    return guarded


class _BoundedCodeGenerator(CodeGenerator):
    """Routes every loop's iterable through the render's budget and checks every `~` result."""

    def visit_Template(self, node: nodes.Template, frame: Frame | None = None) -> None:
        # Before generation starts: the generator declares the filters a template uses up front.
        for loop in node.find_all(nodes.For):
            loop.iter = nodes.Filter(loop.iter, "jlce_loop_budget", [], [], None, None, lineno=loop.lineno)
        super().visit_Template(node, frame)

    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:
        self.write("environment.jlce_sized(")
        super().visit_Concat(node, frame)
        self.write(")")


class BoundedSandbox(ImmutableSandboxedEnvironment):
    """The immutable sandbox with the limits of this module."""

    code_generator_class = _BoundedCodeGenerator
    intercepted_binops = frozenset({"*", "**", "+", "//", "%"})

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.filters = {name: _guard_filter(function) for name, function in self.filters.items()}
        self.filters["jlce_loop_budget"] = _loop_budget

    @staticmethod
    def jlce_sized(value: Any) -> Any:
        return _sized(value)

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "**" and _is_int(left) and _is_int(right) and abs(left) > 1 and right > 0:
            if right * math.log2(abs(left)) > MAX_INT_BITS:
                raise TemplateLimitError(f"{_short(left)} ** {_short(right)} is over {MAX_INT_BITS} bits")
        if operator == "*":
            if _is_int(left) and _is_int(right) and left.bit_length() + right.bit_length() > MAX_INT_BITS + 1:
                raise TemplateLimitError(f"a product over {MAX_INT_BITS} bits")
            for sequence, times in ((left, right), (right, left)):
                if isinstance(sequence, (str, list, tuple)) and _is_int(times) and len(sequence) * times > MAX_LENGTH:
                    raise TemplateLimitError(f"repeating {len(sequence):,} items {_short(times)} times (limit {MAX_LENGTH:,})")
        if operator == "%" and isinstance(left, str):
            _check_format(left)
        return _sized(super().call_binop(context, operator, left, right))

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805
        _check_args(args, kwargs)
        if isinstance(__obj, LoopContext) and args:  # a recursive loop's next level
            args = (_loop_budget(args[0]), *args[1:])
        owner = getattr(__obj, "__self__", None)
        if isinstance(owner, str) and getattr(__obj, "__name__", "") == "replace" and len(args) >= 2 \
                and isinstance(args[0], str) and isinstance(args[1], str):
            count = owner.count(args[0]) if args[0] else len(owner) + 1
            if len(owner) + count * (len(args[1]) - len(args[0])) > MAX_LENGTH:
                raise TemplateLimitError(f"replace() would build more than {MAX_LENGTH:,} characters")
        return _sized(super().call(__context, __obj, *args, **kwargs))

    def wrap_str_format(self, value: Any) -> Any:
        # str.format / format_map are wrapped when the attribute is read: check the format string there.
        owner = getattr(value, "__self__", None)
        if isinstance(owner, str) and getattr(value, "__name__", "") in ("format", "format_map"):
            _check_format(owner)
        return super().wrap_str_format(value)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _short(value: int) -> str:
    text = str(value) if value.bit_length() < 64 else f"a {value.bit_length()}-bit number"
    return text
