"""Bounded JSON parsing for the files JLCE reads (results.json, samples, data files).

Nesting is limited to `MAX_DEPTH`; NaN/Infinity (not JSON, and never written by JLCE) and
integers longer than `MAX_INT_DIGITS` are refused, so a hostile file gives one clear error
instead of a RecursionError, an OverflowError later in the arithmetic, or a hang.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

MAX_DEPTH = 64
MAX_INT_DIGITS = 40  # float-convertible; byte counts and seeds need at most 20


class JSONLimitError(ValueError):
    """A JSON text that is valid but exceeds a limit, or uses NaN/Infinity."""


def _constant(name: str) -> Any:
    raise JSONLimitError(f"{name} is not a JSON number")


def _int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INT_DIGITS:
        raise JSONLimitError(f"an integer with {len(text.lstrip('-'))} digits (limit {MAX_INT_DIGITS})")
    return int(text)


def _float(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise JSONLimitError(f"the number {text[:40]} is too large for a float")
    return value


def _bracket_depth(text: str) -> int:
    """Deepest nesting of [ and { outside strings (checked before parsing: the parser recurses)."""
    depth = deepest = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > MAX_DEPTH:
                    break
        elif char in "]}":
            depth -= 1
    return deepest


def loads(text: str | bytes) -> Any:
    """`json.loads` within the limits; every failure is a ValueError (JSONDecodeError or JSONLimitError)."""
    if isinstance(text, (bytes, bytearray)):
        text = bytes(text).decode("utf-8-sig")
    if _bracket_depth(text) > MAX_DEPTH:
        raise JSONLimitError(f"nested more than {MAX_DEPTH} levels deep")
    try:
        return json.loads(text, parse_constant=_constant, parse_int=_int, parse_float=_float)
    except RecursionError:
        raise JSONLimitError(f"nested more than {MAX_DEPTH} levels deep") from None


def describe(error: ValueError) -> str:
    """A one-line reason for a `loads` failure (with the line when the parser knows it)."""
    if isinstance(error, json.JSONDecodeError):
        return f"invalid JSON at line {error.lineno} column {error.colno}: {error.msg}"
    return str(error).splitlines()[0]


def load(path: Path) -> Any:
    """Parse a JSON file within the limits (callers turn ValueError/OSError into their own errors)."""
    return loads(Path(path).read_bytes())
