"""Built-in data file formats. Each reader turns a split's files into a list of documents."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from jlce.errors import DataError
from jlce.specs import ReaderSpec


def read_jsonl(paths: list[Path]) -> list[dict[str, Any]]:
    """JSON lines, one document per non-empty line."""
    docs: list[dict[str, Any]] = []
    for path in paths:
        with open(path, encoding="utf-8-sig") as handle:
            for number, line in enumerate(handle, 1):
                if not line.strip():
                    continue
                try:
                    doc = json.loads(line)
                except json.JSONDecodeError as error:
                    raise DataError(f"{path}:{number}: invalid JSON line: {error.msg}") from None
                if not isinstance(doc, dict):
                    raise DataError(f"{path}:{number}: expected a JSON object per line")
                docs.append(doc)
    return docs


def load_json(path: Path) -> Any:
    """One JSON document, with a located error when it is malformed."""
    try:
        return json.loads(path.read_text(encoding="utf-8-sig"))
    except json.JSONDecodeError as error:
        raise DataError(f"{path}:{error.lineno}: invalid JSON: {error.msg}") from None


def read_json(paths: list[Path], records: str | None = None) -> list[dict[str, Any]]:
    """A JSON file holding a list of objects, or a mapping whose key `records` holds one."""
    docs: list[dict[str, Any]] = []
    for path in paths:
        data = load_json(path)
        if records:
            data = data.get(records) if isinstance(data, dict) else None
        if not isinstance(data, list):
            raise DataError(f"{path}: expected a list of objects{f' under {records!r}' if records else ''}")
        docs.extend(data)
    return docs


def read_tsv(paths: list[Path], columns: list[str] | None = None, delimiter: str = "\t") -> list[dict[str, Any]]:
    """Delimited text: a header row, or `columns` naming the fields of a header-less file."""
    docs: list[dict[str, Any]] = []
    for path in paths:
        with open(path, encoding="utf-8-sig", newline="") as handle:
            reader = csv.reader(handle, delimiter=delimiter, quoting=csv.QUOTE_NONE)
            header = columns
            for number, row in enumerate(reader, 1):
                if not row:
                    continue
                if header is None:
                    header = row
                    continue
                if len(row) != len(header):
                    raise DataError(f"{path}:{number}: {len(row)} fields, expected {len(header)} ({', '.join(header)})")
                docs.append(dict(zip(header, row)))
    return docs


def read_csv(paths: list[Path], columns: list[str] | None = None) -> list[dict[str, Any]]:
    docs: list[dict[str, Any]] = []
    for path in paths:
        with open(path, encoding="utf-8-sig", newline="") as handle:
            docs.extend(csv.DictReader(handle, fieldnames=columns))
    return docs


def read_lines(paths: list[Path], field: str = "text") -> list[dict[str, Any]]:
    """Plain text, one document per line."""
    docs: list[dict[str, Any]] = []
    for path in paths:
        for line in path.read_text(encoding="utf-8-sig").splitlines():
            docs.append({field: line})
    return docs


def read_parallel_text(paths: list[Path], fields: list[str] | None = None) -> list[dict[str, Any]]:
    """Line-aligned files, one per field (default: a `source` file then a `reference` file):
    line i of every file forms document i. Line counts must agree."""
    names = list(fields or ["source", "reference"])
    if len(names) != len(paths):
        raise DataError(f"parallel_text: {len(paths)} files for {len(names)} fields ({', '.join(names)})")
    columns = []
    for path in paths:
        lines = path.read_text(encoding="utf-8-sig").split("\n")
        if lines and lines[-1] == "":
            lines.pop()
        columns.append([line.rstrip("\r") for line in lines])
    sizes = {len(c) for c in columns}
    if len(sizes) > 1:
        counts = ", ".join(f"{p.name}: {len(c)}" for p, c in zip(paths, columns))
        raise DataError(f"parallel_text: files are not line-aligned ({counts})")
    return [{"line": i + 1, **dict(zip(names, row))} for i, row in enumerate(zip(*columns))]


def read_jsonl_tagged(paths: list[Path], field: str = "file", tags: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """JSON lines; each document gets `field` = the value of the first `tags` key contained in its
    file's name (e.g. {out_of_domain: out_of_domain, in_domain: in_domain}), or the file name when
    `tags` is not given. A file matching no key is an error."""
    docs: list[dict[str, Any]] = []
    for path in paths:
        tag = _tag_for(path.name, tags)
        docs.extend({**doc, field: tag} for doc in read_jsonl([path]))
    return docs


def _tag_for(name: str, tags: dict[str, str] | None) -> str:
    if tags is None:
        return name
    for key, value in tags.items():
        if key in name:
            return value
    raise DataError(f"jsonl_tagged: file '{name}' matches none of {', '.join(tags)}")


def register_readers(register) -> None:
    register(ReaderSpec("jsonl", read_jsonl, "JSON lines, one object per line"))
    register(ReaderSpec("json", read_json, "a JSON list of objects (reader_args.records: key holding it)"))
    register(ReaderSpec("tsv", read_tsv, "tab-separated with a header (or reader_args.columns)"))
    register(ReaderSpec("csv", read_csv, "comma-separated with a header (or reader_args.columns)"))
    register(ReaderSpec("lines", read_lines, "plain text, one document per line"))
    register(ReaderSpec("parallel_text", read_parallel_text, "line-aligned text files (reader_args.fields)"))
    register(ReaderSpec("jsonl_tagged", read_jsonl_tagged, "JSON lines tagged by file name (reader_args.field, .tags)"))
