"""The XWinograd source file (yandex-research/crosslingual_winograd `dataset.tsv`, all languages,
no header) read into the two-sentence form the `xwinograd_ja` task scores.

Each row: `lang, split, English original, sentence, tokens (JSON list), pronoun (JSON:
[text, [start, end], tokens]), candidates (JSON: [[text, [start, end], tokens, is_answer], ...])`;
spans are token offsets, end exclusive. For Japanese the tokens concatenate to the sentence (no
spaces). Each candidate gives one sentence: the tokens before the pronoun, the candidate's text,
the tokens after it. `answer` is "1" or "2", the 1-based index of the correct candidate, the
form of the hub copies (Muennighoff/xwinograd, polm-stability/xwinograd-ja).
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from jlce.errors import DataError
from jlce.specs import ReaderSpec

COLUMNS = ("lang", "split", "english", "sentence", "tokens", "pronoun", "candidates")


def _row_doc(path: Path, number: int, row: list[str], joiner: str) -> dict[str, Any]:
    def bad(field: str, why: str) -> DataError:
        return DataError(f"{path}:{number}: field '{field}': {why}")

    if len(row) != len(COLUMNS):
        raise DataError(f"{path}:{number}: {len(row)} fields, expected {len(COLUMNS)} ({', '.join(COLUMNS)})")
    fields = dict(zip(COLUMNS, row))
    try:
        tokens, pronoun, candidates = (json.loads(fields[name]) for name in ("tokens", "pronoun", "candidates"))
    except json.JSONDecodeError as error:
        raise bad("tokens/pronoun/candidates", f"invalid JSON: {error.msg}") from None
    if not isinstance(tokens, list) or not all(isinstance(t, str) for t in tokens):
        raise bad("tokens", "not a list of strings")
    if joiner.join(tokens) != fields["sentence"]:
        raise bad("tokens", "the tokens do not make up the sentence")
    try:
        start, end = pronoun[1]
        options = [(str(c[0]), bool(c[3])) for c in candidates]
    except (TypeError, IndexError, ValueError):
        raise bad("pronoun/candidates", "not [text, [start, end], ...] entries") from None
    if not (isinstance(start, int) and isinstance(end, int) and 0 <= start < end <= len(tokens)):
        raise bad("pronoun", f"span [{start}, {end}] is outside the {len(tokens)} tokens")
    if len(options) != 2 or sum(flag for _, flag in options) != 1:
        raise bad("candidates", "expected two candidates, exactly one marked true")
    before, after = joiner.join(tokens[:start]), joiner.join(tokens[end:])
    sentences = [before + text + after for text, _ in options]
    return {
        "sentence": fields["sentence"], "english": fields["english"], "pronoun": joiner.join(tokens[start:end]),
        "option1": options[0][0], "option2": options[1][0],
        "sentence1": sentences[0], "sentence2": sentences[1],
        "answer": "1" if options[0][1] else "2",
    }


def read_xwinograd_tsv(paths: list[Path], lang: str = "jp", joiner: str = "") -> list[dict[str, Any]]:
    """The rows of language `lang` (XWinograd's codes: en, fr, jp, pt, ru, zh), in file order."""
    docs: list[dict[str, Any]] = []
    for path in paths:
        with open(path, encoding="utf-8", newline="") as handle:
            for number, row in enumerate(csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE), 1):
                if row and row[0] == lang:
                    docs.append(_row_doc(path, number, row, joiner))
    return docs


def register_readers(register) -> None:
    register(ReaderSpec("xwinograd_tsv", read_xwinograd_tsv,
                        "XWinograd dataset.tsv: one language's rows (reader_args.lang) as sentence1/sentence2/answer"))


def register_processors(register) -> None:
    """No processors of its own."""
