"""Write run directories (results.json + samples/*.jsonl, the evaluator's format) for leaderboard tests."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any


def write_run(root: Path, model: str, tasks: Mapping[str, Mapping[str, Any]], *, fingerprint: str | None = None,
              dirname: str | None = None) -> Path:
    """`tasks[name]` holds `metric` and either `values` (per-item scores) or `preds` + `gold`;
    optional `doc_ids`, `version`, `data_hash`, `reported` (results.json value)."""
    run = root / (dirname or hashlib.sha1(model.encode()).hexdigest()[:12])
    (run / "samples").mkdir(parents=True, exist_ok=True)
    results_tasks = {}
    for name, spec in tasks.items():
        metric = spec["metric"]
        values: Sequence[float] | None = spec.get("values")
        n = len(values) if values is not None else len(spec["preds"])
        doc_ids = spec.get("doc_ids", list(range(n)))
        lines = []
        for i, doc_id in enumerate(doc_ids):
            row: dict[str, Any] = {"doc_id": doc_id, "prompt": f"問題 {doc_id}", "target": "", "metrics": {}}
            if values is not None:
                row["metrics"][metric] = float(values[i])
                row["gold"] = 1
                row["pred_index"] = int(values[i] == 1)
            else:
                row["gold"] = spec["gold"][i]
                row["response"] = {"raw": str(spec["preds"][i]), "filtered": str(spec["preds"][i])}
            lines.append(json.dumps(row, ensure_ascii=False))
        (run / "samples" / f"{name}.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
        reported = spec.get("reported", sum(values) / len(values) if values is not None else None)
        metrics = {metric: {"value": reported, "stderr": None, "ci95": None, "higher_is_better": True,
                            "corpus": values is None, "info": {}}}
        results_tasks[name] = {
            "version": spec.get("version", "1.0"), "category": "semantic", "output_type": "multiple_choice",
            "definition_hash": "d" * 64, "data_hash": spec.get("data_hash", "a" * 64), "data_source": "fixture",
            "n_samples": n, "num_fewshot": 0, "fewshot_seed": 1234, "primary_metric": metric, "metrics": metrics,
            "samples_file": f"samples/{name}.jsonl",
        }
    results = {
        "schema_version": "1.0", "jlce_version": "0.1.0", "run_id": run.name, "created_at": "2026-01-01T00:00:00Z",
        "finished_at": "2026-01-01T00:01:00Z",
        "model": {"name": model, "backend": "transformers", "fingerprint": {"model": model},
                  "fingerprint_hash": fingerprint or hashlib.sha256(model.encode()).hexdigest()},
        "config": {"tasks": list(tasks), "limit": None, "seed": 1234}, "tasks": results_tasks,
        "cache": {"hits": 0, "misses": 0, "by_kind": {}}, "profile": {}, "errors": [],
    }
    (run / "results.json").write_text(json.dumps(results, ensure_ascii=False, indent=1), encoding="utf-8")
    return run
