"""JSeM problem XML (`dataset.format: jsem_xml`): `<problem answer=...>` with premises `p/script`
and a hypothesis `h/script`, one document per problem."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jlce.errors import DataError, UserError
from jlce.specs import ReaderSpec


def _xml_root(path: Path):
    try:
        from defusedxml import ElementTree
    except ImportError:
        raise UserError("reading JSeM XML needs defusedxml: `pip install defusedxml`") from None
    try:
        return ElementTree.parse(path).getroot()
    except ElementTree.ParseError as error:
        raise DataError(f"{path}: invalid XML: {error}") from None


def _text(element) -> str:
    return "".join(element.itertext()).strip() if element is not None else ""


def read_jsem_xml(paths: list[Path], answers: list[str] | None = None, premise_separator: str = "") -> list[dict[str, Any]]:
    """One document per `<problem>`: `jsem_id, phenomenon` (the file's stem), `phenomena`,
    `premises` (list), `premise` (joined with `premise_separator`), `hypothesis`, `answer`
    (lower-cased). `answers` keeps only problems with one of those answers (JSeM also holds
    acceptability judgements such as "unacceptable" that are not inference labels)."""
    wanted = None if answers is None else {a.lower() for a in answers}
    docs: list[dict[str, Any]] = []
    for path in paths:
        for problem in _xml_root(path).iter("problem"):
            answer = (problem.get("answer") or "").strip().lower()
            if wanted is not None and answer not in wanted:
                continue
            premises = [_text(p.find("script")) for p in problem.findall("p")]
            hypothesis = _text(problem.find("h/script"))
            if not hypothesis or not premises or not all(premises):
                raise DataError(f"{path}: problem {problem.get('jsem_id')!r} lacks a premise or hypothesis text")
            docs.append({"jsem_id": problem.get("jsem_id", ""), "phenomenon": path.stem.split(".")[0],
                         "phenomena": problem.get("phenomena", ""), "premises": premises,
                         "premise": premise_separator.join(premises), "hypothesis": hypothesis, "answer": answer})
    return docs


def register_readers(register) -> None:
    register(ReaderSpec("jsem_xml", read_jsem_xml,
                        "JSeM problem XML, one document per problem (reader_args.answers: labels to keep)"))


def register_processors(register) -> None:
    """JSeM needs no processor of its own."""
