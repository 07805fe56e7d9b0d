"""FastChat single-answer judgments as JLCE run folders, one per model, so existing judgment sets
rank with intervals through `jlce leaderboard build` (definition `jlce-judged`) without
generating or judging again.

Each question is one item: its score is the mean of the model's valid ratings of that question
(both turns and re-judged rows together: one cluster). Unparseable judgments (score -1) are
counted per task and left out of the item's mean; a question with none valid has no item.
Provenance names the source file and its sha256; the "model" is what answered, the judge is
recorded beside it.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import sys
from collections import defaultdict
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from jlce import __version__
from jlce.errors import UserError
from jlce.judge.fastchat import Judgment, read_judgments, read_questions
from jlce.judge.scores import clustered_mean
from jlce.paths import atomic_write_text, slug
from jlce.secrets import redact_args

TASK = "japanese_mt_bench"
METRIC = "judge_score"
SCALE = (1.0, 10.0)


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _items(rows: list[Judgment]) -> tuple[dict[str, float], int]:
    by_question: dict[str, list[float]] = defaultdict(list)
    unparseable = 0
    for row in rows:
        if row.score >= 0:
            by_question[row.question_id].append(row.score)
        else:
            unparseable += 1
    return {q: sum(v) / len(v) for q, v in by_question.items()}, unparseable


def _results(model: str, judge: str, items: dict[str, float], source: Path, digest: str,
             unparseable: int, rows: list[Judgment]) -> dict[str, Any]:
    valid = [(j.question_id, j.score) for j in rows if j.score >= 0]
    row_mean = clustered_mean(valid, draws=0)[0] if len(valid) else None  # FastChat's figure
    mean, lo, hi = clustered_mean(list(items.items()))  # one value per question: the leaderboard's items
    item_values = list(items.values())
    stderr = (sum((v - sum(item_values) / len(item_values)) ** 2 for v in item_values) / max(1, len(item_values) - 1)
              / len(item_values)) ** 0.5
    fingerprint = {"source": "fastchat-judgments", "file_sha256": digest, "model": model, "judge": judge}
    stamp = _now()
    run_id = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(3)
    return {
        "schema_version": "1.0", "jlce_version": __version__, "run_id": run_id, "created_at": stamp, "finished_at": stamp,
        "model": {"name": model, "backend": "fastchat-import", "fingerprint": fingerprint,
                  "fingerprint_hash": hashlib.sha256(json.dumps(fingerprint, sort_keys=True).encode()).hexdigest()},
        "config": {"imported_from": source.name, "judge": judge},
        "tasks": {TASK: {
            "version": "1.0", "category": "judged", "output_type": "generate_until",
            "definition_hash": hashlib.sha256(f"{TASK}:{judge}".encode()).hexdigest(), "data_hash": digest,
            "data_source": "packaged", "n_samples": len(items), "num_fewshot": 0, "primary_metric": METRIC,
            "metrics": {METRIC: {"value": mean, "stderr": stderr, "ci95": [lo, hi], "higher_is_better": True,
                                 "corpus": False, "interval_method": "bayesian bootstrap over questions (turns clustered)",
                                 "unparseable": unparseable, "judgments": len(rows), "scale": list(SCALE),
                                 "fastchat_row_mean": row_mean}},
            "samples_file": f"samples/{TASK}.jsonl",
        }},
        "cache": {"hits": 0, "misses": 0, "by_kind": {}},
        "profile": {},
        "provenance": {
            "jlce_version": __version__, "run_id": run_id, "started_at": stamp, "ended_at": stamp,
            "command": redact_args(sys.argv), "git": None, "seeds": {}, "config": {"judge": judge},
            "model": {"backend": "fastchat-import", "fingerprint": fingerprint},
            "tasks": [{"name": TASK, "version": "1.0"}], "software": None, "hardware": None, "environment": {},
            "imported": {"file": source.name, "sha256": digest, "judge": judge, "format": "fastchat model_judgment"},
        },
        "errors": [],
    }


def import_judgments(judgments_file: Path, out_dir: Path, questions_file: Path | None = None) -> list[Path]:
    """Write one run folder per model under `out_dir`; returns them."""
    judgments_file, out_dir = Path(judgments_file), Path(out_dir)
    judgments = read_judgments(judgments_file)
    if not judgments:
        raise UserError(f"{judgments_file}: no judgments")
    known = {q.question_id for q in read_questions(questions_file)} if questions_file else None
    digest = hashlib.sha256(judgments_file.read_bytes()).hexdigest()
    by_model: dict[str, list[Judgment]] = defaultdict(list)
    for judgment in judgments:
        if known is not None and judgment.question_id not in known:
            raise UserError(f"{judgments_file}: question {judgment.question_id} is not in {questions_file}")
        by_model[judgment.model].append(judgment)
    written = []
    for model, rows in sorted(by_model.items()):
        judge = "/".join(rows[0].judge)
        items, unparseable = _items(rows)
        if not items:
            raise UserError(f"{judgments_file}: model {model} has no parseable judgment")
        run = out_dir / slug(model)
        if run.exists():
            raise UserError(f"{run} exists; choose an empty output folder")
        recorded: dict[str, list[float]] = defaultdict(list)  # every judgment of a question, unparseable ones too
        for row in rows:
            recorded[row.question_id].append(row.score)
        samples = "".join(json.dumps({"doc_id": q, "target": None, "judgments": recorded[q],
                                      "metrics": {METRIC: value}}, ensure_ascii=False) + "\n"
                          for q, value in sorted(items.items(), key=lambda kv: int(kv[0]) if kv[0].isdigit() else kv[0]))
        atomic_write_text(run / "samples" / f"{TASK}.jsonl", samples)
        results = _results(model, judge, items, judgments_file, digest, unparseable, rows)
        atomic_write_text(run / "results.json", json.dumps(results, ensure_ascii=False, indent=2) + "\n")
        written.append(run)
    return written
