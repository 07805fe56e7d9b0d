"""Writing and reading a run directory: results.json and samples/<task>.jsonl, atomically."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from jlce import jsonfile
from jlce.errors import UserError
from jlce.paths import atomic_write_text, slug

SCHEMA_VERSION = "1.0"


def _json_line(row: dict[str, Any]) -> str:
    return json.dumps(row, ensure_ascii=False, allow_nan=False)


class ResultsWriter:
    def __init__(self, output_dir: Path):
        self.output_dir = output_dir

    def write_samples(self, task: str, rows: list[dict[str, Any]]) -> Path:
        path = self.output_dir / "samples" / f"{slug(task)}.jsonl"
        atomic_write_text(path, "".join(_json_line(row) + "\n" for row in rows))
        return path

    def write_results(self, results: dict[str, Any]) -> Path:
        path = self.output_dir / "results.json"
        atomic_write_text(path, json.dumps(results, ensure_ascii=False, indent=2, allow_nan=False) + "\n")
        return path


def read_results(run_dir: Path) -> dict[str, Any]:
    """Read a run's results.json with a clear error when it is missing or damaged."""
    from jlce.resultschema import load_results_file

    path = Path(run_dir) / "results.json" if Path(run_dir).is_dir() else Path(run_dir)
    return load_results_file(path)  # bounded parsing, then docs/results.schema.json


def read_samples(run_dir: Path, task: str) -> list[dict[str, Any]]:
    path = Path(run_dir) / "samples" / f"{slug(task)}.jsonl"
    rows = []
    try:
        with open(path, encoding="utf-8") as handle:
            for number, line in enumerate(handle, 1):
                if line.strip():
                    try:
                        rows.append(jsonfile.loads(line))
                    except ValueError as error:
                        raise UserError(f"{path}:{number}: damaged samples line ({jsonfile.describe(error)})") from None
    except FileNotFoundError:
        raise UserError(f"{path}: samples file missing") from None
    return rows
