"""Existing answers judged without generating again: a backend that answers each turn of a
multi-turn task from a FastChat answer file (`model_answer/<model>.jsonl`), so `jlce judge-answers`
runs the judge stage on answers FastChat (or any tool writing its format) produced.

A conversation is matched to its question by the text of its first user turn (the question file
gives each question's turns); turn k gets the file's k-th answer. A question the file does not
answer is an error naming it; a turn it lacks (FastChat's turn-1-only answer sets) is recorded
with finish_reason "absent" and not judged, never rated as an empty answer."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from jlce.backend import Backend, BatchOutput, UnsupportedRequest
from jlce.errors import UserError
from jlce.events import BatchEvent
from jlce.requests import ChatRequest, ChatResult

ABSENT = "absent"  # finish_reason of a turn the answer file does not have (jlce.judge.items skips it)


class AnswerReplay(Backend):
    name = "fastchat-answers"

    def __init__(self, answers_file: Path, questions_file: Path):
        from jlce.judge.fastchat import read_answers, read_questions

        self.file = Path(answers_file)
        answers = read_answers(self.file)
        if not answers:
            raise UserError(f"{self.file}: no answers")
        self.model = answers[0].model_id or self.file.stem
        self.sha256 = hashlib.sha256(self.file.read_bytes()).hexdigest()
        self.answers = {a.question_id: a.turns for a in answers}
        self.by_first_turn = {q.turns[0]: q.question_id for q in read_questions(questions_file) if q.turns}

    def fingerprint(self) -> dict[str, Any]:
        return {"backend": self.name, "model": self.model, "file_sha256": self.sha256}

    def describe(self) -> dict[str, Any]:
        return {**self.fingerprint(), "file": self.file.name}

    def loglikelihood(self, requests: Sequence[Any]) -> Iterator[BatchOutput]:
        raise UnsupportedRequest("recorded answers (jlce judge-answers) serve multi-turn tasks only")

    def generate_until(self, requests: Sequence[Any]) -> Iterator[BatchOutput]:
        raise UnsupportedRequest("recorded answers (jlce judge-answers) serve multi-turn tasks only")

    def generate_chat(self, requests: Sequence[ChatRequest]) -> Iterator[BatchOutput]:
        out = [(i, self._answer(request)) for i, request in enumerate(requests)]
        yield out, BatchEvent(kind="generate_chat", size=len(out), seconds=0.0, batch_size=len(out))

    def _answer(self, request: ChatRequest) -> ChatResult:
        question = self.by_first_turn.get(request.turns[0])
        if question is None:
            raise UserError(f"a conversation starting {request.turns[0][:40]!r} is not in the question file")
        turns = self.answers.get(question)
        if turns is None:
            raise UserError(f"{self.file.name} has no answer to question {question}")
        prompt = json.dumps(request.messages(), ensure_ascii=False)
        if len(turns) < len(request.turns):  # e.g. turn-1-only answer sets: recorded as absent, not judged
            return ChatResult(text="", n_tokens=0, finish_reason=ABSENT, prompt=prompt)
        return ChatResult(text=turns[len(request.turns) - 1], n_tokens=0, finish_reason="stop", prompt=prompt)
