"""Universal Dependencies CoNLL-U (`dataset.format: conllu`, parsed with the `conllu` package): one
document per sentence with its gold words, UPOS tags and bunsetsu (from MISC `BunsetuBILabel`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jlce.errors import DataError, UserError
from jlce.specs import ReaderSpec


def read_conllu(paths: list[Path]) -> list[dict[str, Any]]:
    """One document per sentence: `sent_id`, `text`, `words` / `upos` (lists and space-joined
    `words_text` / `upos_text`), and `bunsetsu` (words grouped by MISC BunsetuBILabel, newline-joined
    in `bunsetsu_text`). Multi-word token and empty-node lines are skipped (UD Japanese has none)."""
    try:
        import conllu
    except ImportError:  # pragma: no cover - a declared dependency
        raise UserError("reading CoNLL-U needs the 'conllu' package: pip install conllu") from None
    docs: list[dict[str, Any]] = []
    for path in paths:
        with open(path, encoding="utf-8-sig") as handle:
            try:
                sentences = list(conllu.parse_incr(handle))
            except conllu.exceptions.ParseException as error:
                raise DataError(f"{path}: invalid CoNLL-U: {error}") from None
        for number, sentence in enumerate(sentences, 1):
            try:
                doc = _conllu_document(sentence, path, number)
            except KeyError as error:
                raise DataError(f"{path}: sentence {number}: missing CoNLL-U column {error}") from None
            if doc is not None:
                docs.append(doc)
    return docs


def _conllu_document(sentence: Any, path: Path, number: int) -> dict[str, Any] | None:
    tokens = [t for t in sentence if isinstance(t["id"], int)]
    if not tokens:
        return None
    words = [str(t["form"]) for t in tokens]
    if any(not w or any(c.isspace() for c in w) for w in words):
        raise DataError(f"{path}: sentence {number} has an empty word or a word with a space")
    upos = [str(t["upos"]) for t in tokens]
    bunsetsu = _bunsetsu(tokens, path, number)
    return {
        "sent_id": sentence.metadata.get("sent_id", f"{path.stem}-{number}"),
        "text": sentence.metadata.get("text", "".join(words)),
        "words": words,
        "upos": upos,
        "words_text": " ".join(words),
        "upos_text": " ".join(upos),
        "bunsetsu": bunsetsu,
        "bunsetsu_text": "\n".join(bunsetsu),
    }


def _bunsetsu(tokens: list[Any], path: Path, number: int) -> list[str]:
    """Bunsetsu strings from the B/I labels in MISC (empty list when the treebank has none)."""
    labels = [(t["misc"] or {}).get("BunsetuBILabel") for t in tokens]
    if all(label is None for label in labels):
        return []
    chunks: list[str] = []
    for token, label in zip(tokens, labels):
        if label not in ("B", "I"):
            raise DataError(f"{path}: sentence {number}: BunsetuBILabel {label!r} is not B or I")
        if label == "B" or not chunks:
            chunks.append(str(token["form"]))
        else:
            chunks[-1] += str(token["form"])
    return chunks


def register_readers(register) -> None:
    register(ReaderSpec("conllu", read_conllu, "CoNLL-U (UD): one document per sentence, words, UPOS, bunsetsu"))


def register_processors(register) -> None:
    """CoNLL-U needs no processor of its own."""
