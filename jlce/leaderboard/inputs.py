"""Read run directories (results.json + samples/*.jsonl) and check they can be compared."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from jlce.errors import UserError, did_you_mean
from jlce.paths import path_problem
from jlce.resultschema import load_results_file

SUPPORTED_SCHEMA_MAJOR = "1"


@dataclass(frozen=True)
class TaskRecord:
    """One task of one run, as results.json describes it."""

    name: str
    version: str
    data_hash: str
    definition_hash: str
    num_fewshot: int | None
    metrics: Mapping[str, Any]
    samples_file: Path
    reasoning: Mapping[str, Any] | None = None  # what thinking cost (results.json tasks.<task>.reasoning)


@dataclass(frozen=True)
class Run:
    """One run directory."""

    path: Path
    run_id: str
    model: str
    fingerprint_hash: str
    backend: str
    tasks: Mapping[str, TaskRecord]


@dataclass(frozen=True)
class SampleColumns:
    """What the leaderboard needs of a samples file, column by column (row i = i-th sample)."""

    file: Path
    doc_ids: list[Any]
    values: np.ndarray | None  # per-item metric values, when asked for
    preds: list[Any] | None  # predictions (pred, else pred_index, else response.filtered), when asked for
    gold: list[Any] | None

    def line_of(self, row: int) -> int:
        """1-based line number of a row (blank lines are skipped when reading)."""
        return _nonblank_lines(self.file.read_bytes())[row]

    def metric_values(self) -> np.ndarray:
        """`values`, read when `read_samples` was given a metric."""
        if self.values is None:
            raise ValueError(f"{self.file}: per-item metric values were not read")
        return self.values

    def predictions(self) -> tuple[list[Any], list[Any]]:
        """(`preds`, `gold`), read when `read_samples` was asked for predictions."""
        if self.preds is None or self.gold is None:
            raise ValueError(f"{self.file}: predictions were not read")
        return self.preds, self.gold


@dataclass(frozen=True)
class Selection:
    """Runs kept for the leaderboard, and what was set aside."""

    runs: tuple[Run, ...]
    chosen: Mapping[str, str] = field(default_factory=dict)
    dropped: tuple[str, ...] = ()


def _require(data: Mapping[str, Any], key: str, where: str) -> Any:
    if key not in data:
        raise UserError(f"{where}: missing key '{key}'")
    return data[key]


def expand_run_dirs(paths: Sequence[str | Path]) -> list[Path]:
    """Each path is a run directory, or a folder whose sub-folders are run directories."""
    out: list[Path] = []
    for raw in paths:
        p = Path(raw)
        if (p / "results.json").is_file():
            out.append(p)
            continue
        children = sorted(c for c in p.iterdir() if (c / "results.json").is_file()) if p.is_dir() else []
        if not children:
            raise UserError(f"{p}: not a run directory (no results.json)")
        out.extend(children)
    if not out:
        raise UserError("no run directories given")
    return out


def load_run(path: str | Path) -> Run:
    """Parse a run's results.json (samples are read later, per task)."""
    path = Path(path)
    file = path / "results.json"
    if not file.is_file():
        raise UserError(f"{path}: not a run directory (no results.json)")
    data = load_results_file(file)  # bounded parsing, then docs/results.schema.json
    schema = str(_require(data, "schema_version", str(file)))
    if schema.split(".")[0] != SUPPORTED_SCHEMA_MAJOR:
        raise UserError(f"{file}: results schema {schema} is not supported (need {SUPPORTED_SCHEMA_MAJOR}.x)")
    model = _require(data, "model", str(file))
    tasks: dict[str, TaskRecord] = {}
    for name, t in _require(data, "tasks", str(file)).items():
        where = f"{file}: task '{name}'"
        tasks[name] = TaskRecord(
            name=name,
            version=str(_require(t, "version", where)),
            data_hash=str(_require(t, "data_hash", where)),
            definition_hash=str(t.get("definition_hash", "")),
            num_fewshot=t.get("num_fewshot"),
            metrics=t.get("metrics", {}),
            samples_file=_samples_file(path, file, name, t),
            reasoning=t.get("reasoning"),
        )
    return Run(
        path=path,
        run_id=str(data.get("run_id", path.name)),
        model=str(_require(model, "name", f"{file}: model")),
        fingerprint_hash=str(model.get("fingerprint_hash", "")),
        backend=str(model.get("backend", "")),
        tasks=tasks,
    )


def _samples_file(run_dir: Path, file: Path, task: str, record: Mapping[str, Any]) -> Path:
    """The task's samples file, named relative to the run directory (no absolute path, no '..')."""
    relative = str(record.get("samples_file", f"samples/{task}.jsonl"))
    problem = path_problem(relative)
    if problem:
        raise UserError(f"{file}: key 'tasks.{task}.samples_file': refusing {relative!r}: {problem}")
    return run_dir / relative


def select_runs(runs: Sequence[Run], choose: Mapping[str, str | Path] | None = None) -> Selection:
    """Refuse two runs of one model (same name or fingerprint) unless `choose[model] = run_dir`."""
    choose = dict(choose or {})
    # Group runs that share a name or a fingerprint (union-find over the two keys).
    parent = list(range(len(runs)))

    def find(i: int) -> int:
        while parent[i] != i:
            i = parent[i]
        return i

    seen: dict[tuple[str, str], int] = {}
    for i, run in enumerate(runs):
        for key in (("name", run.model), ("fp", run.fingerprint_hash)):
            if key[0] == "fp" and not key[1]:
                continue
            if key in seen:
                parent[find(i)] = find(seen[key])
            else:
                seen[key] = i
    groups: dict[int, list[int]] = {}
    for i in range(len(runs)):
        groups.setdefault(find(i), []).append(i)

    names = {r.model for r in runs}
    for model in choose:
        if model not in names:
            raise UserError(f"--choose: no run of model '{model}'{did_you_mean(model, sorted(names))}")
    kept: list[Run] = []
    dropped: list[str] = []
    chosen: dict[str, str] = {}
    for members in groups.values():
        if len(members) == 1:
            kept.append(runs[members[0]])
            continue
        group = [runs[i] for i in members]
        picks = [m for m in {r.model for r in group} if m in choose]
        listing = ", ".join(f"{r.path} ({r.model})" for r in group)
        if len(picks) != 1:
            raise UserError(
                f"runs of the same model: {listing}. Keep one with --choose MODEL=RUN_DIR"
            )
        target = Path(choose[picks[0]]).resolve()
        match = [r for r in group if r.path.resolve() == target]
        if not match:
            raise UserError(f"--choose {picks[0]}={choose[picks[0]]}: not one of {listing}")
        kept.append(match[0])
        chosen[picks[0]] = str(match[0].path)
        dropped.extend(str(r.path) for r in group if r is not match[0])
    order = {id(r): i for i, r in enumerate(runs)}
    kept.sort(key=lambda r: order[id(r)])
    return Selection(runs=tuple(kept), chosen=chosen, dropped=tuple(dropped))


def check_compatible(task: str, runs: Sequence[Run], allow_mismatch: bool) -> list[dict[str, Any]]:
    """Refuse to compare a task whose version or data hash differs between runs.

    Returns the mismatches found (recorded in the output when `allow_mismatch`).
    """
    mismatches: list[dict[str, Any]] = []
    for attr in ("version", "data_hash"):
        values: dict[str, list[str]] = {}
        for run in runs:
            values.setdefault(getattr(run.tasks[task], attr), []).append(str(run.path))
        if len(values) > 1:
            mismatches.append({"task": task, "field": attr, "values": values})
    if mismatches and not allow_mismatch:
        m = mismatches[0]
        detail = "; ".join(f"{v[:16]} in {', '.join(rs)}" for v, rs in m["values"].items())
        raise UserError(
            f"task '{task}': runs differ in {m['field']} ({detail}); they cannot be compared "
            "(--allow-mismatch compares them anyway and records it)"
        )
    return mismatches


def _nonblank_lines(data: bytes) -> list[int]:
    return [i for i, line in enumerate(data.split(b"\n"), 1) if line.strip()]


def _loads(data: bytes) -> Any:
    try:
        import orjson  # optional: 2-5x faster on large samples files
    except ImportError:
        return json.loads(data)
    return orjson.loads(data)


def _parse_lines(file: Path) -> list[Any]:
    """Parse a JSON-lines file with one parse call (as a JSON array), not one per line."""
    data = file.read_bytes()
    body = data.strip()
    try:
        return _loads(b"[" + body.replace(b"\n", b",") + b"]")
    except ValueError:
        pass  # blank lines, or a broken one: go line by line
    lines = [line for line in data.split(b"\n") if line.strip()]
    try:
        return _loads(b"[" + b",".join(lines) + b"]")
    except ValueError:
        for lineno, line in zip(_nonblank_lines(data), lines):
            try:
                _loads(line)
            except ValueError:
                raise UserError(f"{file}:{lineno}: not valid JSON") from None
        raise UserError(f"{file}: not valid JSON lines") from None


def read_samples(record: TaskRecord, metric: str | None, predictions: bool = False) -> SampleColumns:
    """Read a task's samples file: doc ids, and the per-item `metric` values and/or predictions."""
    file = record.samples_file
    if not file.is_file():
        raise UserError(f"{file}: samples file missing (task '{record.name}')")
    rows = _parse_lines(file)
    if not rows:
        raise UserError(f"{file}: no samples")
    try:
        doc_ids = [row["doc_id"] for row in rows]
    except (KeyError, TypeError):
        doc_ids = [row.get("doc_id") if isinstance(row, dict) else None for row in rows]
    if not set(map(type, doc_ids)) <= {int, str}:
        bad = next(i for i, d in enumerate(doc_ids) if type(d) not in (int, str))
        raise UserError(f"{file}:{_nonblank_lines(file.read_bytes())[bad]}: not a samples line "
                        "(JSON object with a number or string doc_id)")
    unique = len(set(doc_ids)) == len(doc_ids)
    if not unique:
        seen: set[Any] = set()
        bad = next(i for i, d in enumerate(doc_ids) if d in seen or _add(seen, d))
        raise UserError(f"{file}:{_nonblank_lines(file.read_bytes())[bad]}: doc_id {doc_ids[bad]!r} appears twice")
    values = None
    if metric is not None:
        try:
            raw = [row["metrics"][metric] for row in rows]
        except (KeyError, TypeError):
            raw = [(row.get("metrics") or {}).get(metric) for row in rows]
        if not set(map(type, raw)) <= {int, float}:
            bad = next(i for i, v in enumerate(raw) if type(v) not in (int, float))
            raise UserError(
                f"{file}:{_nonblank_lines(file.read_bytes())[bad]}: no per-item value for metric '{metric}' "
                f"(got {raw[bad]!r}); the leaderboard needs per-item scores in samples' metrics"
            )
        values = np.asarray(raw, dtype=float)
        if not np.all(np.isfinite(values)):
            bad = int(np.flatnonzero(~np.isfinite(values))[0])
            raise UserError(f"{file}:{_nonblank_lines(file.read_bytes())[bad]}: {metric} is not finite")
    preds = gold = None
    if predictions:
        preds = [_prediction(row) for row in rows]
        gold = [_gold(row) for row in rows]
    return SampleColumns(file=file, doc_ids=doc_ids, values=values, preds=preds, gold=gold)


def _add(seen: set[Any], item: Any) -> bool:
    """Add `item` to `seen`; False, so that a search goes on to the next item."""
    seen.add(item)
    return False


def _gold(row: dict[str, Any]) -> Any:
    """`gold`, else the first of `references`, else `target` (generation tasks keep the answer there)."""
    if row.get("gold") is not None:
        return row["gold"]
    refs = row.get("references")
    if isinstance(refs, list) and refs:
        return refs[0]
    return row.get("target")


def _prediction(row: dict[str, Any]) -> Any:
    if row.get("pred") is not None:
        return row["pred"]
    if row.get("pred_index") is not None:
        return row["pred_index"]
    return (row.get("response") or {}).get("filtered")
