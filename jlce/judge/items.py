"""What a judge is shown per item: the question's turns, the model's answer to each turn, the
reference answers of its category, and (pairwise) the baseline's answers.

The answers come from a JLCE run's sample rows (`answers`: one text per turn, past any reasoning;
a single-turn generation task's `response.filtered` counts as one turn), or from FastChat answer
files (`jlce.judge.fastchat.read_answers`), so existing answer sets are judged without
generating again."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jlce.errors import DataError, UserError


@dataclass(frozen=True)
class JudgeItem:
    question_id: str
    category: str
    questions: tuple[str, ...]
    answers: tuple[str, ...]
    references: tuple[str, ...] | None = None
    baseline: tuple[str, ...] | None = None

    @property
    def turns(self) -> int:
        """Turns that can be judged: asked and answered."""
        return min(len(self.questions), len(self.answers))


def row_answers(row: dict[str, Any]) -> list[str] | None:
    """A sample row's answer per turn (None when the row holds no generated answer). Turns from the
    first one recorded as absent (recorded answers without it: jlce.judge.replay) are left out."""
    answers = row.get("answers")
    if isinstance(answers, list) and all(isinstance(a, str) for a in answers):
        turns = row.get("turns")
        details = turns if isinstance(turns, list) else []
        absent = [k for k, turn in enumerate(details) if isinstance(turn, dict) and turn.get("finish_reason") == "absent"]
        return answers[:absent[0]] if absent else answers
    response = row.get("response")
    if isinstance(response, dict) and isinstance(response.get("filtered"), str):
        return [response["filtered"]]
    return None


def items_from_rows(task: Any, rows: list[dict[str, Any]], references: dict[str, list[str]],
                    baseline: dict[str, list[str]] | None = None) -> list[JudgeItem]:
    """One JudgeItem per task instance, from the instance's document and its sample row."""
    judge = task.config.judge
    items = []
    for instance, row in zip(task.instances, rows):
        doc = instance.doc
        where = f"task '{task.name}' item {instance.doc_id}"
        question_id = str(doc.get(judge.id_field, instance.doc_id))
        turns = doc.get(judge.turns_field)
        if isinstance(turns, str):
            turns = [turns]
        if not isinstance(turns, list) or not all(isinstance(t, str) for t in turns) or not turns:
            raise DataError(f"{where}: document field '{judge.turns_field}' (judge.turns_field) is not a list of question texts")
        answers = row_answers(row)
        if answers is None:
            raise DataError(f"{where}: the sample holds no generated answer to judge")
        category = str(doc.get(judge.category_field, ""))
        refs = references.get(question_id)
        if category in judge.reference_categories and not refs:
            raise DataError(f"{where}: category '{category}' is judged against a reference answer, and question "
                            f"{question_id} has none in {judge.references.name if judge.references else 'judge.references'}")
        other = None
        if baseline is not None:
            if question_id not in baseline:
                raise UserError(f"the pairwise baseline has no answer to question {question_id} (task '{task.name}')")
            other = tuple(baseline[question_id])
        items.append(JudgeItem(question_id, category, tuple(turns), tuple(answers),
                               tuple(refs) if refs else None, other))
    return items


def read_baseline(path: Path, task: str) -> tuple[str, dict[str, list[str]]]:
    """(name, question id -> answer turns) from a JLCE run folder (its samples of `task`) or a
    FastChat answer file (`model_answer/<model>.jsonl`)."""
    path = Path(path)
    if path.is_dir():
        results, samples = path / "results.json", path / "samples" / f"{task}.jsonl"
        if not results.is_file() or not samples.is_file():
            raise UserError(f"--judge-baseline {path}: not a JLCE run folder with samples of '{task}' "
                            f"({samples.name} and results.json expected)")
        from jlce.judge.fastchat import _rows

        name = str(json.loads(results.read_text(encoding="utf-8")).get("model", {}).get("name") or path.name)
        out: dict[str, list[str]] = {}
        for number, row in _rows(samples):
            answers = row_answers(row)
            if answers is None or "question_id" not in row:
                raise UserError(f"{samples}:{number}: no judged answers (question_id, answers): was it a judged run?")
            out[str(row["question_id"])] = answers
        return name, out
    if not path.is_file():
        raise UserError(f"--judge-baseline {path}: no such file or run folder")
    from jlce.judge.fastchat import read_answers

    recorded = read_answers(path)
    if not recorded:
        raise UserError(f"--judge-baseline {path}: no answers")
    return recorded[0].model_id or path.stem, {a.question_id: a.turns for a in recorded}
