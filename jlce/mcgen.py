"""Generative multiple choice: the choices shown with labels, the answer read from the response.

A multiple-choice task asked generatively (`--mc-mode generate`, a preset, or `mc_mode: generate`
in its YAML) renders its `mc_generate.template` (Jinja, sandboxed) with the document's fields and
`prompt` (the task's own prompt for the item), `options` (a list of (label, choice) pairs),
`labels` and `choices`. Few-shot examples are shown the same way, answered with their gold label.

The answer is read after the reasoning is stripped (`strip_think`), NFKC-normalized:
1. the whole answer is a label or a choice text (a leading `答え：`/`回答：`/`Answer:` removed);
2. it starts with a choice text, or with a label followed by a delimiter, maybe in brackets
   (`(2) 鉛筆`, `B.`, `「含意」です`);
3. exactly one distinct label or choice text occurs in it as a whole token.
Otherwise the answer is unparseable: it counts as wrong (pred_index -1) and is counted in results.
A label made of ASCII letters or digits matches only where no ASCII letter or digit touches it
("1" is not found in "10", "A" not in "Apple"); longer labels and choice texts are matched first,
so "非含意" is never read as "含意".
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from typing import Any

DEFAULT_TEMPLATE = (
    "{% if prompt %}{{ prompt }}\n{% endif %}選択肢：\n"
    "{% for label, choice in options %}{{ label }}. {{ choice }}\n{% endfor %}"
    "選択肢の中から答えを一つ選び、その記号だけを答えてください。\n答え："
)
UNPARSEABLE = -1
_ANSWER_PREFIX = re.compile(r"^\s*(?:答え|回答|解答|正解|answer)\s*(?:は|[:：])?\s*", re.IGNORECASE)
_OPENERS = "([（「『【\"'*"
_CLOSERS = ")]）」』】\"'*.．、,，:：。 \n"
_ASCII_WORD = re.compile(r"[0-9A-Za-z]")


def default_labels(n: int) -> list[str]:
    return [str(i + 1) for i in range(n)]


def labels_for(configured: Sequence[str] | None, n: int) -> list[str]:
    return list(configured[:n]) if configured else default_labels(n)


def _norm(text: str) -> str:
    return unicodedata.normalize("NFKC", text).strip()


def _candidates(labels: Sequence[str], choices: Sequence[str]) -> list[tuple[str, int]]:
    """(normalized text, choice index) for every label and choice text, longest first."""
    seen: dict[str, int | None] = {}
    for i, text in [*enumerate(labels), *enumerate(choices)]:
        key = _norm(text)
        if not key:
            continue
        if key in seen and seen[key] != i:
            seen[key] = None  # a text naming two different choices identifies neither
        else:
            seen.setdefault(key, i)
    found = [(key, index) for key, index in seen.items() if index is not None]
    return sorted(found, key=lambda item: (-len(item[0]), item[0]))


def _bounded(text: str, start: int, end: int, token: str) -> bool:
    """`token` at text[start:end] is not glued to ASCII letters/digits it could be part of."""
    if _ASCII_WORD.match(token[0]) and start > 0 and _ASCII_WORD.match(text[start - 1]):
        return False
    return not (_ASCII_WORD.match(token[-1]) and end < len(text) and _ASCII_WORD.match(text[end]))


def extract_choice(answer: str, labels: Sequence[str], choices: Sequence[str]) -> int:
    """The chosen index in an answer with the reasoning already removed, or UNPARSEABLE."""
    text = _ANSWER_PREFIX.sub("", _norm(answer), count=1)
    candidates = _candidates(labels, choices)
    for key, index in candidates:  # 1. the whole answer
        if text.strip(_OPENERS + _CLOSERS) == key:
            return index
    head = text.lstrip(_OPENERS + " ")
    labels_norm = {_norm(label) for label in labels}
    for key, index in candidates:  # 2. the answer starts with it (a label: followed by a delimiter)
        if not head.startswith(key) or not _bounded(head, 0, len(key), key):
            continue
        rest = head[len(key):]
        if key not in labels_norm or not rest or rest[0] in _CLOSERS:
            return index
    hits: set[int] = set()  # 3. exactly one distinct choice mentioned anywhere
    taken = [False] * len(text)
    for key, index in candidates:
        for match in re.finditer(re.escape(key), text):
            start, end = match.span()
            if any(taken[start:end]) or not _bounded(text, start, end, key):
                continue
            taken[start:end] = [True] * (end - start)
            hits.add(index)
    return hits.pop() if len(hits) == 1 else UNPARSEABLE


def render_item(template: Any, doc: dict[str, Any], prompt: str, labels: Sequence[str], choices: Sequence[str]) -> str:
    """The generative question for one document (`template`: a jlce.prompts.Template)."""
    context = dict(doc)
    context.update(prompt=prompt, options=list(zip(labels, choices)), labels=list(labels), choices=list(choices))
    return template.render(context)
