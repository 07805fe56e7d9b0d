"""Built-in answer-extraction filters: `fn(text, **args) -> str`, applied in the order a task lists
them to a generated response before metrics see it. They never raise on any text; bad arguments
raise a UserError."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from functools import lru_cache

from jlce.errors import UserError
from jlce.metrics.japanese import nfkc as _nfkc
from jlce.reasoning import strip_reasoning
from jlce.specs import FilterSpec

_BLANK_LINE = re.compile(r"\n[^\S\n]*\n")
# A number after NFKC: an optional minus (only when not right after a letter, digit or dot, so
# "2023-2024" gives 2024), digits with optional thousands commas, optional decimals; or ".5".
_NUMBER = re.compile(
    r"(?:(?<![0-9A-Za-z.])([-\u2212]))?(?<![0-9.])"
    r"((?:[0-9]{1,3}(?:,[0-9]{3})+(?![0-9])|[0-9]+)(?:\.[0-9]+)?|\.[0-9]+)"
)


def strip_think(text: str) -> str:
    """Remove reasoning (`jlce.reasoning.strip_reasoning`, tags in any case): the leading
    `<think>...</think>` block (nested blocks counted); text up to a `</think>` with no opening tag
    (chat templates that open the block in the prompt); a response cut off while thinking has no
    answer (the result is empty); blocks and an unterminated `<think>` inside the answer go too."""
    return strip_reasoning(text)


def nfkc(text: str) -> str:
    """Unicode NFKC normalization (full-width digits and letters -> ASCII, ...)."""
    return _nfkc(text)


def strip(text: str) -> str:
    """Remove surrounding whitespace (including the ideographic space U+3000)."""
    return text.strip()


def first_line(text: str) -> str:
    """The first non-blank line, stripped."""
    for line in text.splitlines():
        if line.strip():
            return line.strip()
    return ""


def until_blank_line(text: str) -> str:
    """Leading whitespace removed, then everything from the first blank line on dropped
    (llm-jp-eval's `strip().split("\\n\\n")[0]`, also for blank lines holding spaces)."""
    return _BLANK_LINE.split(text.lstrip(), maxsplit=1)[0].rstrip()


@lru_cache(maxsize=256)
def _compile(pattern: str, ignore_case: bool) -> re.Pattern:
    try:
        return re.compile(pattern, re.IGNORECASE if ignore_case else 0)
    except re.error as exc:
        raise UserError(f"filter 'regex': invalid pattern {pattern!r}: {exc}") from exc


def regex(text: str, pattern: str = "", group: int | str = 1, fallback: str = "", which: str = "first", ignore_case: bool = False) -> str:
    """The `group` of the first (or `which: last`) match of `pattern`, else `fallback`.
    A pattern without groups needs `group: 0` (the whole match)."""
    if not isinstance(pattern, str) or not pattern:
        raise UserError("filter 'regex' needs a non-empty string argument 'pattern'")
    if which not in ("first", "last"):
        raise UserError(f"filter 'regex': which={which!r} must be 'first' or 'last'")
    if not isinstance(fallback, str):
        raise UserError("filter 'regex': fallback must be a string")
    compiled = _compile(pattern, bool(ignore_case))
    if isinstance(group, bool) or not isinstance(group, (int, str)):
        raise UserError(f"filter 'regex': group={group!r} must be an integer or a group name")
    if isinstance(group, int) and not 0 <= group <= compiled.groups or isinstance(group, str) and group not in compiled.groupindex:
        raise UserError(f"filter 'regex': pattern {pattern!r} has no group {group!r}")
    if which == "first":
        match = compiled.search(text)
    else:
        match = None
        for match in compiled.finditer(text):
            pass
    if match is None:
        return fallback
    value = match.group(group)
    return fallback if value is None else value


def _canonical_number(sign: str | None, digits: str) -> str:
    digits = digits.replace(",", "")
    if digits.startswith("."):
        digits = "0" + digits
    if "." in digits:
        digits = digits.rstrip("0").rstrip(".")
    integer, dot, decimals = digits.partition(".")
    integer = integer.lstrip("0") or "0"
    number = integer + (dot + decimals if decimals else "")
    return ("-" + number) if sign and number != "0" else number


def last_number(text: str, fallback: str = "") -> str:
    """The last number in the text after NFKC, canonical: thousands commas removed, minus sign
    (also U+2212) kept, trailing decimal zeros and leading zeros dropped ("1,234.50" -> "1234.5",
    "－３" -> "-3", "007" -> "7"). Kanji numerals are not read. No number -> `fallback`."""
    matches = list(_NUMBER.finditer(_nfkc(text)))
    if not matches:
        return fallback
    return _canonical_number(matches[-1].group(1), matches[-1].group(2))


def _word_table(mapping: object) -> list[tuple[str, str]]:
    if not isinstance(mapping, Mapping) or not mapping:
        raise UserError("filter 'label_words' needs 'mapping': label -> list of words")
    table: list[tuple[str, str]] = []
    for label, words in mapping.items():
        words = [words] if isinstance(words, str) else words
        if not isinstance(label, str) or not isinstance(words, (list, tuple)) or not all(isinstance(w, str) and w for w in words):
            raise UserError(f"filter 'label_words': label {label!r} must map to a list of non-empty strings")
        table.extend((label, _nfkc(w).casefold()) for w in words)
    return table


def label_words(text: str, mapping: Mapping[str, list[str]] | None = None, fallback: str = "") -> str:
    """The label whose word occurs earliest in the text (NFKC, case-insensitive); at the same
    position the longer word wins ("非含意" over "含意"), then the mapping's order. No word -> `fallback`."""
    table = _word_table(mapping)
    haystack = _nfkc(text).casefold()
    best: tuple[int, int, int] | None = None
    best_label = fallback
    for order, (label, word) in enumerate(table):
        position = haystack.find(word)
        if position < 0:
            continue
        key = (position, -len(word), order)
        if best is None or key < best:
            best, best_label = key, label
    return best_label


BUILTIN_FILTERS: tuple[tuple[str, Callable, str], ...] = (
    ("strip_think", strip_think, "drop <think>...</think> reasoning (unterminated -> empty)"),
    ("nfkc", nfkc, "Unicode NFKC normalization"),
    ("strip", strip, "remove surrounding whitespace"),
    ("first_line", first_line, "first non-blank line"),
    ("until_blank_line", until_blank_line, "cut at the first blank line"),
    ("regex", regex, "a group of a regex match (pattern, group=1, fallback='', which=first|last, ignore_case)"),
    ("last_number", last_number, "last number, NFKC, canonical (fallback='')"),
    ("label_words", label_words, "label whose word occurs first (mapping: label -> words, fallback='')"),
)


def register_filters(register: Callable[[FilterSpec], None]) -> None:
    """Register every built-in filter."""
    for name, fn, description in BUILTIN_FILTERS:
        register(FilterSpec(name=name, fn=fn, description=description))
