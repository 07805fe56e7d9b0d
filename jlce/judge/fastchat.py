"""FastChat's llm_judge file formats (question.jsonl, model_answer/*.jsonl, model_judgment/*.jsonl),
read into typed rows and written back, so existing answer and judgment sets are scored and ranked
without generating again."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, ValidationError

from jlce.errors import UserError
from jlce.paths import atomic_write_text


QuestionId = Annotated[str, BeforeValidator(str)]  # FastChat writes ids as numbers or text


class Question(BaseModel):
    model_config = ConfigDict(extra="ignore")

    question_id: QuestionId
    category: str
    turns: list[str]
    reference: list[str] | None = None


class Judgment(BaseModel):
    """One single-answer judgment (`model_judgment/<judge>_single.jsonl`)."""

    model_config = ConfigDict(extra="ignore")

    question_id: QuestionId
    model: str
    judge: list[str]
    user_prompt: str = ""
    judgment: str
    score: float
    turn: int = 1


class Answer(BaseModel):
    """One model answer (`model_answer/<model>.jsonl`): the turns of its first choice."""

    model_config = ConfigDict(extra="ignore")

    question_id: QuestionId
    model_id: str
    turns: list[str]

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Answer:
        choices = row.get("choices") or [{}]
        return cls(question_id=str(row.get("question_id")), model_id=row.get("model_id", ""),
                   turns=list(choices[0].get("turns") or []))


def _rows(path: Path) -> Iterable[tuple[int, dict[str, Any]]]:
    from jlce import jsonfile

    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except OSError as error:
        raise UserError(f"{path}: cannot read ({error.strerror})") from None
    for number, line in enumerate(lines, 1):
        if line.strip():
            try:
                yield number, jsonfile.loads(line)
            except ValueError as error:
                raise UserError(f"{path}:{number}: not a JSON line ({jsonfile.describe(error)})") from None


def _read(path: Path, build) -> list:
    out = []
    for number, row in _rows(path):
        try:
            out.append(build(row))
        except ValidationError as error:
            first = error.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "row"
            raise UserError(f"{path}:{number}: {where}: {first['msg']}") from None
    return out


def read_questions(path: Path) -> list[Question]:
    return _read(path, Question.model_validate)


def read_judgments(path: Path) -> list[Judgment]:
    return _read(path, Judgment.model_validate)


def read_answers(path: Path) -> list[Answer]:
    return _read(path, Answer.from_row)


def write_judgments(path: Path, judgments: Iterable[Judgment]) -> None:
    text = "".join(json.dumps(j.model_dump(), ensure_ascii=False) + "\n" for j in judgments)
    atomic_write_text(Path(path), text)
