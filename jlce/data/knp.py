"""The KNP format of the Kyoto University corpora (`dataset.format: knp`; the Wikipedia Annotated
Corpus): one document per file with its text, bunsetsu and bunsetsu dependencies."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jlce.errors import DataError
from jlce.specs import ReaderSpec

PARENTHETICAL_MARK = "括弧始"  # KNP comment of a sentence cut out of its parentheses
_PHRASE_LINE = re.compile(r"^[*+] -?[0-9]+[DPIA](?: |$)")  # "* 2D ..." bunsetsu, "+ 3D ..." basic phrase


@dataclass
class KnpBunsetsu:
    head: int  # index of the head bunsetsu in the sentence, -1 for the root
    dep_type: str  # D (dependency), P (parallel), I (partial parallel), A (apposition)
    morphemes: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        return "".join(self.morphemes)


@dataclass
class KnpSentence:
    sid: str
    comment: str
    bunsetsu: list[KnpBunsetsu] = field(default_factory=list)

    @property
    def text(self) -> str:
        return "".join(b.text for b in self.bunsetsu)

    @property
    def parenthetical(self) -> bool:
        return PARENTHETICAL_MARK in self.comment


def parse_knp(text: str, origin: str = "<knp>") -> list[KnpSentence]:
    """Sentences of a KNP file: `# S-ID:` comment lines, `*` bunsetsu lines (`* 3D`, `* -1D`),
    `+` basic-phrase lines (ignored), morpheme lines (surface first, `\\␣` an escaped space),
    `EOS`. Homograph alternatives (`@ ` lines) are skipped."""
    sentences: list[KnpSentence] = []
    current: KnpSentence | None = None
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        where = f"{origin}:{number}"
        if line.startswith("#") and current is None:  # a "#" inside a sentence is a morpheme
            sid = line[1:].strip().split(" ", 1)[0]
            current = KnpSentence(sid=sid.removeprefix("S-ID:"), comment=line)
            sentences.append(current)
        elif line == "EOS":
            _check_sentence(current, where)
            current = None
        elif _PHRASE_LINE.match(line) and line.startswith("* "):
            if current is None:
                current = KnpSentence(sid=f"{origin}#{len(sentences) + 1}", comment="")
                sentences.append(current)
            current.bunsetsu.append(_bunsetsu_line(line))
        elif _PHRASE_LINE.match(line) or line.startswith("@ "):
            continue  # a basic phrase (+) line, or a homograph alternative
        else:
            if current is None or not current.bunsetsu:
                raise DataError(f"{where}: morpheme line before any bunsetsu line")
            surface = line.split(" ", 1)[0].replace("\\␣", " ")
            current.bunsetsu[-1].morphemes.append(surface)
    if current is not None:
        raise DataError(f"{origin}: the last sentence has no EOS line")
    return sentences


def _bunsetsu_line(line: str) -> KnpBunsetsu:
    label = line.split()[1]  # _PHRASE_LINE guarantees "<int><DPIA>"
    return KnpBunsetsu(head=int(label[:-1]), dep_type=label[-1])


def _check_sentence(sentence: KnpSentence | None, where: str) -> None:
    if sentence is None:
        raise DataError(f"{where}: EOS without a sentence")
    size = len(sentence.bunsetsu)
    for i, b in enumerate(sentence.bunsetsu):
        if not b.morphemes:
            raise DataError(f"{where}: bunsetsu {i} of sentence {sentence.sid} has no morphemes")
        if b.head != -1 and not 0 <= b.head < size:
            raise DataError(f"{where}: bunsetsu {i} of sentence {sentence.sid} points to {b.head} (sentence has {size})")


def knp_document(sentences: list[KnpSentence], doc_id: str, skip_parenthetical: bool = True) -> dict[str, Any]:
    """A document as llm-jp-eval's wiki_* tasks frame it: the text of its sentences (those cut out
    of parentheses skipped), one `dependent -> head` line per bunsetsu with a head, and the
    bunsetsu themselves one per line."""
    kept = [s for s in sentences if not (skip_parenthetical and s.parenthetical)]
    arcs: list[str] = []
    chunks: list[str] = []
    for sentence in kept:
        for b in sentence.bunsetsu:
            chunks.append(b.text)
            if b.head >= 0:
                arcs.append(f"{b.text} -> {sentence.bunsetsu[b.head].text}")
    return {
        "doc_id": doc_id,
        "text": "".join(s.text for s in kept),
        "dependencies": "\n".join(arcs),
        "chunks": "\n".join(chunks),
        "n_sentences": len(kept),
        "n_bunsetsu": len(chunks),
        "n_arcs": len(arcs),
    }


def read_knp(paths: list[Path], skip_parenthetical: bool = True, min_arcs: int = 0) -> list[dict[str, Any]]:
    """One document per KNP file (see `knp_document`); documents with fewer than `min_arcs`
    dependency arcs are dropped (llm-jp-eval drops documents with an empty answer)."""
    docs = []
    for path in paths:
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError as error:
            raise DataError(f"{path}: not UTF-8: {error}") from None
        doc_id = path.name.removesuffix(".knp")
        doc = knp_document(parse_knp(text, str(path)), doc_id, skip_parenthetical=skip_parenthetical)
        if doc["n_arcs"] >= min_arcs and doc["text"]:
            docs.append(doc)
    return docs


def register_readers(register) -> None:
    register(ReaderSpec("knp", read_knp, "KNP format: one document per file, text, bunsetsu, dependencies"))


def register_processors(register) -> None:
    """KNP needs no processor of its own."""
