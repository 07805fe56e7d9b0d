"""Experiment trackers (MLflow, Weights & Biases, a third party's): what a finished run hands them.

A logger plugin registers a `LoggerSpec` through `jlce_register_loggers`; its factory takes the
logger's options (`--log-arg KEY=VALUE`) and returns an object with `log(payload) -> dict`.
The payload (`TrackedRun`) is built here once from the run directory, so every tracker logs the
same parameter and metric names (documented in docs/tracking.md) and the same redacted values as
results.json. `jlce run --log NAME` logs when the run's folder is complete; `jlce log RUN_DIR`
logs a finished run later (runs made on air-gapped machines). A logger that fails never fails
the evaluation: the failure is printed and recorded under `errors` in results.json, and each
logged run's reference (id, URL or URI) is written back under `loggers.<name>`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from jlce.errors import UserError, did_you_mean
from jlce.paths import atomic_write_text
from jlce.secrets import redact_mapping

MAX_PARAM_CHARS = 500  # MLflow's limit for a parameter value (W&B has none; one rule for both)
TABLE_TEXT_CHARS = 2000  # prompt/answer cells are cut to this in the samples tables (full text: artifacts)


class Logger(Protocol):
    """What a logger factory returns."""

    def log(self, payload: TrackedRun) -> dict[str, Any]:
        """Log the payload; return a reference to the logged run (id, URL, URI...)."""
        ...


@dataclass
class TrackedRun:
    """One run (or leaderboard) as trackers see it; names are stable (docs/tracking.md)."""

    name: str
    kind: str  # "run" or "leaderboard"
    params: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    files: dict[str, Path] = field(default_factory=dict)  # artifact path -> local file
    documents: dict[str, Any] = field(default_factory=dict)  # artifact path -> JSON-able object
    tables: dict[str, tuple[list[str], list[list[Any]]]] = field(default_factory=dict)  # name -> (columns, rows)


def _flatten(prefix: str, value: Any, out: dict[str, Any]) -> None:
    if isinstance(value, Mapping):
        for key, item in value.items():
            _flatten(f"{prefix}.{key}" if prefix else str(key), item, out)
    else:
        out[prefix] = value


def _param_text(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, sort_keys=True)
    return text if len(text) <= MAX_PARAM_CHARS else text[: MAX_PARAM_CHARS - 1] + "…"


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def metric_names(task: str, metric: str) -> dict[str, str]:
    """The tracker names of one task metric and its uncertainty."""
    base = f"{task}/{metric}"
    return {"value": base, "stderr": f"{base}.stderr", "ci95_low": f"{base}.ci95_low", "ci95_high": f"{base}.ci95_high"}


def _task_metrics(tasks: Mapping[str, Any]) -> dict[str, float]:
    metrics: dict[str, float] = {}
    for task, entry in tasks.items():
        n = _number(entry.get("n_samples"))
        if n is not None:
            metrics[f"{task}/n"] = n
        for metric, result in (entry.get("metrics") or {}).items():
            names = metric_names(task, metric)
            ci = result.get("ci95") or [None, None]
            for key, value in (("value", result.get("value")), ("stderr", result.get("stderr")),
                               ("ci95_low", ci[0]), ("ci95_high", ci[1])):
                number = _number(value)
                if number is not None:
                    metrics[names[key]] = number
    return metrics


def _profile_metrics(profile: Mapping[str, Any]) -> dict[str, float]:
    flat: dict[str, Any] = {}
    _flatten("profile", profile, flat)
    return {key.replace(".", "/", 2): number for key, value in flat.items() if (number := _number(value)) is not None}


def _cell(value: Any) -> Any:
    if value is None or isinstance(value, (int, float, bool)):
        return value
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return text if len(text) <= TABLE_TEXT_CHARS else text[: TABLE_TEXT_CHARS - 1] + "…"


def _answer(row: Mapping[str, Any]) -> Any:
    if row.get("choices") is not None:
        index = row.get("pred_index")
        choices = row["choices"]
        return choices[index].get("text") if isinstance(index, int) and 0 <= index < len(choices) else index
    response = row.get("response")
    if isinstance(response, Mapping):
        return response.get("filtered", response.get("raw"))
    return response


def samples_table(rows: Sequence[Mapping[str, Any]], primary_metric: str | None) -> tuple[list[str], list[list[Any]]]:
    """Per item: doc_id, prompt, answer, gold and the primary metric's score."""
    columns = ["doc_id", "prompt", "answer", "gold", "score"]
    table = []
    for row in rows:
        gold = row.get("target") if row.get("target") is not None else row.get("gold")
        score = (row.get("metrics") or {}).get(primary_metric) if primary_metric else None
        table.append([row.get("doc_id"), _cell(row.get("prompt")), _cell(_answer(row)), _cell(gold), _number(score)])
    return columns, table


def run_payload(run_dir: Path) -> TrackedRun:
    """Build the payload of a finished run directory (results.json + samples/)."""
    from jlce.results import read_results, read_samples

    run_dir = Path(run_dir)
    results = redact_mapping(read_results(run_dir))
    model = results.get("model") or {}
    tasks = results.get("tasks") or {}
    params: dict[str, Any] = {}
    _flatten("config", results.get("config") or {}, params)
    _flatten("model.fingerprint", model.get("fingerprint") or {}, params)
    params.update({"model.name": model.get("name"), "model.backend": model.get("backend"),
                   "model.fingerprint_hash": model.get("fingerprint_hash"), "jlce.version": results.get("jlce_version"),
                   "jlce.run_id": results.get("run_id")})
    for task, entry in tasks.items():
        for key in ("version", "num_fewshot", "definition_hash", "data_hash", "primary_metric"):
            params[f"task.{task}.{key}"] = entry.get(key)
    payload = TrackedRun(
        name=f"{model.get('name', 'model')}@{results.get('run_id', run_dir.name)}",
        kind="run",
        params={key: _param_text(value) for key, value in params.items() if value is not None},
        metrics={**_task_metrics(tasks), **_profile_metrics(results.get("profile") or {})},
        tags={"jlce.model": str(model.get("name")), "jlce.backend": str(model.get("backend")),
              "jlce.run_id": str(results.get("run_id"))},
    )
    payload.files["results.json"] = run_dir / "results.json"
    payload.documents["provenance.json"] = results.get("provenance") or {}
    for task, entry in tasks.items():
        sample_file = run_dir / (entry.get("samples_file") or "")
        if entry.get("samples_file") and sample_file.is_file():
            payload.files[f"samples/{sample_file.name}"] = sample_file
            payload.tables[f"samples/{task}"] = samples_table(read_samples(run_dir, task), entry.get("primary_metric"))
    return payload


def leaderboard_payload(out_dir: Path, board: Mapping[str, Any]) -> TrackedRun:
    """A built leaderboard (`leaderboard.json` as a mapping): its overall ranking as a table and
    every file written, as artifacts."""
    definition = board.get("definition") or {}
    name = str(definition.get("name") or Path(out_dir).name)
    scopes = [board["overall"]] if board.get("overall") else []
    scopes += list(board.get("categories") or []) + list(board.get("tasks") or [])
    fields = ["position", "model", "observed", "mean", "lo", "hi", "expected_rank", "rank_ub"]
    columns = ["scope", *fields]
    rows, metrics = [], {}
    for scope in scopes:
        label = "overall" if scope.get("kind") == "overall" else f"{scope.get('kind')}:{scope.get('name')}"
        for entry in scope.get("entries") or []:
            rows.append([label, *(entry.get(field) for field in fields)])
            for key in ("observed", "mean", "lo", "hi", "expected_rank"):
                if (number := _number(entry.get(key))) is not None:
                    metrics[f"{label}/{entry['model']}/{key}"] = number
    payload = TrackedRun(name=f"leaderboard {name}", kind="leaderboard", metrics=metrics,
                         params={"leaderboard.definition": _param_text(name),
                                 "leaderboard.version": _param_text(definition.get("version") or ""),
                                 "leaderboard.models": _param_text(len(board.get("models") or []))},
                         tags={"jlce.leaderboard": name}, tables={"leaderboard": (columns, rows)})
    for path in sorted(Path(out_dir).iterdir()):
        if path.is_file():
            payload.files[path.name] = path
    return payload


# ---- choosing loggers and their options -----------------------------------------------------


def split_log_args(names: Sequence[str], pairs: Mapping[str, str], known: Mapping[str, Sequence[str]]) -> dict[str, dict[str, str]]:
    """`--log-arg KEY=VALUE` for every logger, `--log-arg NAME.KEY=VALUE` for one. A key no chosen
    logger knows is an error with a suggestion."""
    options: dict[str, dict[str, str]] = {name: {} for name in names}
    for key, value in pairs.items():
        target, dot, rest = key.partition(".")
        if dot and target in options:
            if rest not in known[target]:
                raise UserError(f"--log-arg {key}: logger '{target}' has no option '{rest}'{did_you_mean(rest, known[target])}; "
                                f"its options: {', '.join(known[target])}")
            options[target][rest] = value
            continue
        takers = [name for name in names if key in known[name]]
        if not takers:
            every = sorted({k for name in names for k in known[name]})
            raise UserError(f"--log-arg {key}: no chosen logger ({', '.join(names)}) has this option"
                            f"{did_you_mean(key, every)}; options: {', '.join(every)}")
        for name in takers:
            options[name][key] = value
    return options


def make_loggers(names: Sequence[str], pairs: Mapping[str, str]) -> dict[str, Logger]:
    """Build the chosen loggers before any work starts: an unknown name, a bad option or a missing
    library fails here, not after the evaluation."""
    from jlce.registry import get_registry
    from jlce.specs import resolve

    registry = get_registry()
    unique = list(dict.fromkeys(names))
    specs = {name: registry.get("loggers", name) for name in unique}
    known = {name: tuple(spec.options) for name, spec in specs.items()}
    options = split_log_args(unique, pairs, known)
    return {name: resolve(spec.factory)(options[name]) for name, spec in specs.items()}


def log_payload(loggers: Mapping[str, Logger], payload: TrackedRun) -> tuple[dict[str, Any], list[dict[str, str]]]:
    """Log with each logger; returns (references by logger, errors). Never raises for a logger's failure."""
    references: dict[str, Any] = {}
    errors: list[dict[str, str]] = []
    for name, logger in loggers.items():
        try:
            reference = logger.log(payload)
            references[name] = redact_mapping(dict(reference or {}))
        except UserError as error:
            errors.append({"plugin": name, "hook": "logger", "error": str(error)})
        except Exception as error:  # a tracker's failure must never lose the evaluation
            errors.append({"plugin": name, "hook": "logger", "error": f"{type(error).__name__}: {error}"})
    return references, errors


def record_in_results(run_dir: Path, references: Mapping[str, Any], errors: Sequence[Mapping[str, str]]) -> None:
    """Write the logged runs' references (and logger errors) back into results.json, atomically."""
    if not references and not errors:
        return
    path = Path(run_dir) / "results.json"
    results = json.loads(path.read_text(encoding="utf-8"))
    results.setdefault("loggers", {}).update(references)
    results.setdefault("errors", []).extend(dict(e) for e in errors)
    atomic_write_text(path, json.dumps(results, ensure_ascii=False, indent=2, allow_nan=False) + "\n")


def log_run_dir(run_dir: Path, loggers: Mapping[str, Logger]) -> tuple[dict[str, Any], list[dict[str, str]]]:
    """Log a finished run with each logger and record the outcome in its results.json."""
    references, errors = log_payload(loggers, run_payload(run_dir))
    record_in_results(run_dir, references, errors)
    return references, errors
