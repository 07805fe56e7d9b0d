"""A judged JLCE run as FastChat's llm_judge files: `model_answer/<model>.jsonl` (each question's
answers, one per turn) and `model_judgment/<judge>_single.jsonl` (or `_pair.jsonl` for a
pairwise run), so FastChat's scripts, `jlce judge-scores` and `jlce judge-import` read them.

A judgment that could not be parsed is written with score -1, as FastChat records it."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from jlce.errors import UserError
from jlce.judge.fastchat import Judgment, _rows, write_judgments
from jlce.paths import atomic_write_text, slug


def _question_id(value: Any) -> Any:
    """FastChat writes numeric ids as numbers."""
    text = str(value)
    return int(text) if text.isdigit() else text


def _judged_tasks(results: dict[str, Any]) -> list[str]:
    return [name for name, entry in results.get("tasks", {}).items()
            if any(m in (entry.get("metrics") or {}) for m in ("judge_score", "judge_win_rate"))
            or "multiturn" in entry]


def export_run(run_dir: Path, out_dir: Path, task: str | None = None) -> list[Path]:
    """Write the run's answers (and judgments, when it was judged) under `out_dir`; returns the files."""
    run_dir, out_dir = Path(run_dir), Path(out_dir)
    try:
        results = json.loads((run_dir / "results.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise UserError(f"{run_dir}: not a JLCE run folder (results.json: {error})") from None
    tasks = _judged_tasks(results)
    if task is not None:
        if task not in tasks:
            raise UserError(f"{run_dir}: task '{task}' is not a judged or multi-turn task of this run ({', '.join(tasks) or 'none'})")
        tasks = [task]
    if not tasks:
        raise UserError(f"{run_dir}: no judged or multi-turn task to export")
    if len(tasks) > 1:
        raise UserError(f"{run_dir}: several judged tasks ({', '.join(tasks)}); choose one with --task")
    name = tasks[0]
    entry = results["tasks"][name]
    model = str(results.get("model", {}).get("name") or run_dir.name)
    samples = run_dir / str(entry.get("samples_file") or f"samples/{name}.jsonl")
    rows = [row for _, row in _rows(samples)]
    written = [_write_answers(out_dir / "model_answer" / f"{slug(model)}.jsonl", model, rows, results.get("run_id", ""))]
    judge = results.get("judge")
    if judge:
        judge_name = str(judge.get("model"))
        if judge.get("mode") == "pairwise":
            baseline = str((judge.get("baseline") or {}).get(name) or "baseline")
            path = out_dir / "model_judgment" / f"{slug(judge_name)}_pair.jsonl"
            atomic_write_text(path, "".join(json.dumps(r, ensure_ascii=False) + "\n"
                                            for r in _pair_rows(model, baseline, judge_name, rows)))
        else:
            path = out_dir / "model_judgment" / f"{slug(judge_name)}_single.jsonl"
            write_judgments(path, _single_rows(model, judge_name, rows))
        written.append(path)
    return written


def _write_answers(path: Path, model: str, rows: list[dict[str, Any]], run_id: str) -> Path:
    lines = []
    for row in rows:
        if "question_id" not in row or not isinstance(row.get("answers"), list):
            raise UserError(f"{path.name}: a sample row has no question_id and answers (not a multi-turn judged run?)")
        lines.append(json.dumps({"question_id": _question_id(row["question_id"]),
                                 "answer_id": f"{run_id}-{row['question_id']}", "model_id": model,
                                 "choices": [{"index": 0, "turns": row["answers"]}]}, ensure_ascii=False) + "\n")
    atomic_write_text(path, "".join(lines))
    return path


def _single_rows(model: str, judge: str, rows: list[dict[str, Any]]) -> Iterable[Judgment]:
    for row in rows:
        for detail in row.get("judgments") or []:
            rating = detail.get("rating")
            yield Judgment(question_id=str(row["question_id"]), model=model, judge=[judge, detail.get("prompt_name", "")],
                           user_prompt=detail.get("prompt", ""), judgment=detail.get("judgment", ""),
                           score=float(rating) if rating is not None else -1.0, turn=int(detail.get("turn", 1)))


def _pair_rows(model: str, baseline: str, judge: str, rows: list[dict[str, Any]]) -> Iterable[dict[str, Any]]:
    """FastChat's pairwise rows: g1 with the model as A, g2 with the baseline as A (winners named
    as FastChat does: model_1, model_2, tie, error)."""
    def winner(verdict: Any, swapped: bool) -> str:
        if verdict is None:
            return "error"
        if verdict == "tie":
            return "tie"
        return "model_1" if (verdict == "A") != swapped else "model_2"

    for row in rows:
        details = row.get("judgments") or []
        for first, second in zip(details[::2], details[1::2]):
            yield {"question_id": _question_id(row["question_id"]), "model_1": model, "model_2": baseline,
                   "g1_winner": winner(first.get("verdict"), False), "g2_winner": winner(second.get("verdict"), True),
                   "judge": [judge, first.get("prompt_name", "")], "g1_user_prompt": first.get("prompt", ""),
                   "g1_judgment": first.get("judgment", ""), "g2_user_prompt": second.get("prompt", ""),
                   "g2_judgment": second.get("judgment", ""), "turn": int(first.get("turn", 1))}
