"""Generic document processors a task can name under `dataset.process`."""

from __future__ import annotations

from typing import Any

from jlce.errors import DataError
from jlce.specs import ProcessorSpec


def rename(docs: list[dict[str, Any]], fields: dict[str, str]) -> list[dict[str, Any]]:
    """Rename fields: `{old: new}`."""
    return [{fields.get(key, key): value for key, value in doc.items()} for doc in docs]


def select(docs: list[dict[str, Any]], field: str, values: list[Any]) -> list[dict[str, Any]]:
    """Keep documents whose `field` is one of `values`."""
    wanted = set(map(str, values))
    return [doc for doc in docs if str(doc.get(field)) in wanted]


def canonical_number(docs: list[dict[str, Any]], field: str) -> list[dict[str, Any]]:
    """Rewrite `field` as the canonical number the `last_number` filter produces
    ("2,125" -> "2125", "５" -> "5", "3.50" -> "3.5"); a value holding no number is a data error."""
    from jlce.filters import last_number

    out = []
    for doc in docs:
        value = last_number(str(doc.get(field, "")))
        if not value:
            raise DataError(f"field {field!r} of document {doc} holds no number")
        out.append({**doc, field: value})
    return out


def flatten_references(docs: list[dict[str, Any]], field: str = "simple", key: str | None = "simplifications",
                       into: str = "references") -> list[dict[str, Any]]:
    """Copy the reference strings held in `doc[field]` into a flat list `doc[into]`. Accepts a
    string, a list of strings, a list of `{key: str}` records, or `{key: [str, ...]}` (how the
    `datasets` library returns a sequence of records). Documents without a reference are errors."""
    out = []
    for number, doc in enumerate(docs):
        refs = _strings(doc.get(field), key)
        if not refs:
            raise DataError(f"flatten_references: document {number} has no reference in field '{field}'")
        out.append({**doc, into: refs})
    return out


def _strings(value: Any, key: str | None) -> list[str]:
    if isinstance(value, str):
        return [value] if value.strip() else []
    if isinstance(value, dict) and key is not None:
        return _strings(value.get(key), None)
    if isinstance(value, list):
        refs: list[str] = []
        for item in value:
            refs.extend(_strings(item, key))
        return refs
    return []


def register_processors(register) -> None:
    register(ProcessorSpec("rename", rename, "rename fields: args.fields {old: new}"))
    register(ProcessorSpec("select", select, "keep documents whose args.field is in args.values"))
    register(ProcessorSpec("canonical_number", canonical_number,
                           "rewrite args.field as a canonical number (as the last_number filter gives)"))
    register(ProcessorSpec("flatten_references", flatten_references, "nested reference strings -> a flat list (args.field, .key, .into)"))
