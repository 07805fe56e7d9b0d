"""The judge requests of one item: which prompt rates which turn, with which values.

Single-answer rating: turn 1 with the `single` prompt (`single_reference` for the categories
judged against a reference), turn 2 with the `*_turn2` prompt, which shows the whole
conversation. Pairwise: the same, with the model's and the baseline's answers as A and B in both
orders (`swapped`: the baseline is A)."""

from __future__ import annotations

from dataclasses import dataclass

from jlce.judge.items import JudgeItem
from jlce.judge.prompts import JudgePromptText
from jlce.taskschema import JudgeConfig


@dataclass(frozen=True)
class JudgeCall:
    question_id: str
    turn: int
    prompt: JudgePromptText
    text: str  # the rendered prompt
    swapped: bool = False  # pairwise: the baseline's answer shown as A


def _key(mode: str, reference: bool, turn: int) -> str:
    return mode + ("_reference" if reference else "") + ("_turn2" if turn == 2 else "")


def prompt_for(judge: JudgeConfig, prompts: dict[str, JudgePromptText], mode: str, item: JudgeItem,
               turn: int) -> JudgePromptText | None:
    """The prompt rating `turn` of `item` (None: the task has no prompt for it, the turn is not judged)."""
    if turn > 2:
        return None
    reference = item.category in judge.reference_categories
    return prompts.get(_key(mode, reference, turn)) or (prompts.get(_key(mode, False, turn)) if not reference else None)


def _values(item: JudgeItem, answers_a: tuple[str, ...], answers_b: tuple[str, ...] | None) -> dict[str, str]:
    values: dict[str, str] = {"question": item.questions[0]}
    for n, question in enumerate(item.questions[:2], 1):
        values[f"question_{n}"] = question
    for n, ref in enumerate((item.references or ())[:2], 1):
        values[f"ref_answer_{n}"] = ref
    if answers_b is None:
        values["answer"] = answers_a[0]
        for n, answer in enumerate(answers_a[:2], 1):
            values[f"answer_{n}"] = answer
    else:
        values["answer_a"], values["answer_b"] = answers_a[0], answers_b[0]
        for n, (a, b) in enumerate(zip(answers_a[:2], answers_b[:2]), 1):
            values[f"answer_a_{n}"], values[f"answer_b_{n}"] = a, b
    return values


def single_calls(judge: JudgeConfig, prompts: dict[str, JudgePromptText], item: JudgeItem) -> list[JudgeCall]:
    calls = []
    for turn in range(1, item.turns + 1):
        prompt = prompt_for(judge, prompts, "single", item, turn)
        if prompt is not None:
            calls.append(JudgeCall(item.question_id, turn, prompt, prompt.render(_values(item, item.answers, None))))
    return calls


def pairwise_calls(judge: JudgeConfig, prompts: dict[str, JudgePromptText], item: JudgeItem) -> list[JudgeCall]:
    assert item.baseline is not None
    calls = []
    for turn in range(1, min(item.turns, len(item.baseline)) + 1):
        prompt = prompt_for(judge, prompts, "pairwise", item, turn)
        if prompt is None:
            continue
        calls.append(JudgeCall(item.question_id, turn, prompt, prompt.render(_values(item, item.answers, item.baseline))))
        calls.append(JudgeCall(item.question_id, turn, prompt,
                               prompt.render(_values(item, item.baseline, item.answers)), swapped=True))
    return calls
