"""SQuAD-style JSON (`data[].paragraphs[].qas[]`, as JSQuAD writes it).

- reader `squad_flat`: one document per answerable question, with every distinct gold answer kept
  as a reference;
- processor `squad_qg`: the articles (read with reader `json`, `records: data`) flattened into one
  question-generation item per question: context + answer -> question.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jlce.data.readers import load_json
from jlce.errors import DataError
from jlce.specs import ProcessorSpec, ReaderSpec


def _squad_docs(path: Path, data: Any, title_separator: str | None) -> list[dict[str, Any]]:
    if not isinstance(data, dict) or not isinstance(data.get("data"), list):
        raise DataError(f"{path}: not SQuAD-style JSON (expected an object with a 'data' list)")
    docs: list[dict[str, Any]] = []
    for article in data["data"]:
        title = str(article.get("title", ""))
        for paragraph in article.get("paragraphs", []):
            context = paragraph.get("context")
            if not isinstance(context, str):
                raise DataError(f"{path}: a paragraph of article {title!r} has no 'context' text")
            if title_separator and title_separator in context:
                context = context.split(title_separator, 1)[1]
            for qa in paragraph.get("qas", []):
                answers = list(dict.fromkeys(str(a["text"]) for a in qa.get("answers", []) if str(a.get("text", "")).strip()))
                if not answers:  # unanswerable (SQuAD 2.0 style): nothing to score against
                    continue
                docs.append({"id": str(qa.get("id", "")), "title": title, "context": context,
                             "question": str(qa["question"]), "answers": answers, "answer": answers[0]})
    return docs


def read_squad_flat(paths: list[Path], title_separator: str | None = None) -> list[dict[str, Any]]:
    """One document per answerable question: `id, title, context, question, answers` (distinct
    gold answer texts, in file order) and `answer` (the first). With `title_separator` (JSQuAD:
    " [SEP] "), the "title<sep>" prefix of each context is removed."""
    docs: list[dict[str, Any]] = []
    for path in paths:
        docs.extend(_squad_docs(path, load_json(path), title_separator))
    return docs


def squad_qg(docs: list[dict[str, Any]], title_separator: str = " [SEP] ", answer_index: int = 0) -> list[dict[str, Any]]:
    """Articles of a SQuAD-style file (`title`, `paragraphs[].context`, `paragraphs[].qas[]`) ->
    one item per answerable question: `id`, `title`, `context` (a leading "title[SEP]" prefix, as
    JSQuAD writes it, removed), `answer` (the `answer_index`-th annotated answer) and `question`."""
    items: list[dict[str, Any]] = []
    for article in docs:
        if not isinstance(article, dict) or not isinstance(article.get("paragraphs"), list):
            raise DataError("squad_qg: expected articles with a 'paragraphs' list (use reader json with records: data)")
        title = str(article.get("title", ""))
        for paragraph in article["paragraphs"]:
            context = str(paragraph.get("context", ""))
            prefix = f"{title}{title_separator}"
            if title and context.startswith(prefix):
                context = context[len(prefix):]
            for qa in paragraph.get("qas", []):
                answers = qa.get("answers") or []
                if qa.get("is_impossible") or len(answers) <= answer_index:
                    continue
                items.append({
                    "id": str(qa.get("id", len(items))),
                    "title": title,
                    "context": context,
                    "answer": str(answers[answer_index]["text"]),
                    "question": str(qa["question"]),
                })
    return items


def register_readers(register) -> None:
    register(ReaderSpec("squad_flat", read_squad_flat,
                        "SQuAD-style JSON, one document per question with all gold answers (reader_args.title_separator)"))


def register_processors(register) -> None:
    register(ProcessorSpec("squad_qg", squad_qg, "SQuAD-style articles -> context + answer -> question items"))
