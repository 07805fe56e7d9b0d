"""Multi-turn generation (`output_type: generate_chat`): turn 1 of every conversation, then turn 2
with the model's own turn-1 answers, and so on.

Each turn of each conversation is one `ChatRequest` (the user turns so far, the model's earlier
answers, the system message, the generation parameters), served through the evaluator's cached
path: each turn is its own cache entry, and a killed run resumes after its last committed batch
(the turns before come from the cache, so nothing is asked twice).

The answer a later turn receives is the text after a reasoning model's `</think>`, stripped
(`jlce.reasoning.strip_reasoning`), as DeepSeek's chat template and FastChat do; the raw text is
recorded beside it. With reasoning on, a turn is sent without stop sequences and with the raised
budget (`ReasoningPolicy.engine_request`), and the task's stops apply to the answer part.

Decoding follows FastChat: a per-item temperature looked up by a document field
(`chat.temperature_field` / `chat.temperatures`, e.g. by MT-Bench category); an item sampled at a
temperature above 0 gets its own seed (`jlce.sampling.item_seed`), the same for each of its
turns, so a rerun asks the same requests. A temperature from the command line or a preset applies
to every item instead.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from jlce.backend import Backend, Capability, UnsupportedRequest, supports
from jlce.errors import DataDamaged, UserError
from jlce.reasoning import ReasoningPolicy, reasoning_token_counts, strip_reasoning
from jlce.requests import ChatRequest, ChatResult, GenerateRequest, GenerationParams, generation_params
from jlce.sampling import item_seed, reasoning_budget
from jlce.taskprotocol import Instance, TaskScores
from jlce.truncation import sample_truncation

KIND = "generate_chat"


def is_chat_task(task: Any) -> bool:
    return getattr(getattr(task, "config", None), "output_type", None) == KIND


# ---- building a task's items -------------------------------------------------------------------


def chat_instance(task: Any, doc_id: int, doc: dict[str, Any], templates: dict[str, Any]) -> Instance:
    """One conversation: its user turns (the document's `chat.turns_field` list, each rendered by
    the task's `prompt` template with `turn` and `turn_number` beside the document's fields), the
    system message (`instruction`, empty: none) and the turn-1 request, which carries the
    generation parameters every turn uses."""
    c = task.config
    chat = c.chat
    field = chat.turns_field if chat is not None else "turns"
    raw = doc.get(field)
    if not isinstance(raw, list) or not raw or not all(isinstance(t, str) and t.strip() for t in raw):
        raise DataDamaged(f"task '{c.task}', item {doc_id}: field '{field}' must be a non-empty list of non-empty "
                          f"texts (the user turns), not {_preview(raw)}")
    turns = tuple(templates["prompt"].render(doc, turn=text, turn_number=k + 1) for k, text in enumerate(raw))
    system = templates["instruction"].render(doc) or None
    s = task.sampling
    if s.repeats != 1 and dict(s.sources).get("repeats") == "cli":  # a preset's repeats: one conversation still
        raise UserError(f"task '{c.task}' is multi-turn: it asks one conversation per question, so --repeats "
                        f"{s.repeats} does not apply (run it with --repeats 1, or apart from the tasks that repeat)")
    temperature = item_temperature(task, doc)
    seed = item_seed(s.seed, c.task, doc_id) if temperature > 0 else None
    budget = s.max_new_tokens if dict(s.sources).get("max_new_tokens") in ("cli", "preset") else c.generation.max_new_tokens
    params = GenerationParams(until=tuple(c.generation.until), max_new_tokens=budget, temperature=temperature,
                              top_p=s.top_p, seed=seed)
    first = ChatRequest(turns[:1], (), system, params)
    return Instance(doc_id, doc, turns[0], "", ("",), [first], query=turns[0])


def item_temperature(task: Any, doc: dict[str, Any]) -> float:
    """The item's temperature: the command line's or preset's when given, else the task's
    per-value table (`chat.temperatures` by `chat.temperature_field`), else the task's own."""
    s = task.sampling
    if dict(s.sources).get("temperature") in ("cli", "preset"):
        return s.temperature
    chat = task.config.chat
    if chat is not None and chat.temperature_field is not None:
        value = doc.get(chat.temperature_field)
        if value is not None and str(value) in chat.temperatures:
            return float(chat.temperatures[str(value)])
    return s.temperature


def _preview(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= 80 else text[:77] + "..."


# ---- answering: turn by turn through the evaluator's cached path -------------------------------


@dataclass
class _Conversation:
    task: str
    item: int
    first: ChatRequest
    turns: tuple[str, ...]
    budget: int | None  # the task's reasoning budget (jlce.sampling.reasoning_budget)
    results: list[ChatResult] = dataclasses.field(default_factory=list)

    def request(self, k: int) -> ChatRequest:
        """Turn k (0-based): the user turns 1..k+1 and the model's own answers to the earlier ones."""
        answers = tuple(r.answer or "" for r in self.results[:k])
        return ChatRequest(self.turns[: k + 1], answers, self.first.system, self.first.params)


def answer_chats(evaluator: Any, tasks: Sequence[Any], backend: Any, model_hash: str,
                 policy: ReasoningPolicy) -> dict[str, list[list[ChatResult]]]:
    """Every turn of every conversation of `tasks`: `answers[task][i]` is item i's ChatResults,
    one per turn in order, each with `answer` set (what the next turn received)."""
    if not tasks:
        return {}
    inherited = isinstance(backend, Backend) and type(backend).generate_chat is Backend.generate_chat
    if inherited or not supports(backend, Capability.GENERATE_CHAT):  # a wrapper may pass capabilities on, not the method
        names = ", ".join(task.name for task in tasks)
        raise UnsupportedRequest(f"{evaluator._backend_label()} cannot answer multi-turn tasks ({names}): it does not "
                                 "support generate_chat requests (backends that do: transformers, vllm, openai, dummy)")
    conversations = [_Conversation(task.name, i, inst.requests[0], item_turns(task, inst), reasoning_budget(task))
                     for task in tasks for i, inst in enumerate(task.instances)]
    bar = evaluator.progress.add(f"{KIND} (all turns)", total=sum(len(c.turns) for c in conversations))
    totals = {"requests": 0, "hits": 0, "misses": 0}
    per_turn: list[dict[str, int]] = []
    for k in range(max(len(c.turns) for c in conversations)):
        active = [c for c in conversations if len(c.turns) > k]
        asked = [c.request(k) for c in active]
        sent = [policy.engine_request(request, c.budget) for request, c in zip(asked, active)]
        unique: dict[ChatRequest, int] = {}
        for request in sent:
            unique.setdefault(request, len(unique))
        pooled = list(unique)
        _own(evaluator, backend, active, sent, unique)
        served = evaluator._serve(KIND, pooled, backend, evaluator.cache, model_hash, bar=bar)
        stats = dict(evaluator.cache_stats.get(KIND, {"requests": len(pooled), "hits": len(pooled), "misses": 0}))
        evaluator.progress.advance(bar, stats["hits"])
        per_turn.append({"turn": k + 1, **stats})
        for key in totals:
            totals[key] += stats[key]
        results = [_as_chat_result(served[unique[request]]) for request in sent]
        finished = _finish(policy, asked, results, backend)
        for conversation, result in zip(active, finished):
            conversation.results.append(result)
    evaluator.cache_stats[KIND] = {**totals, "turns": per_turn}
    answers: dict[str, list[list[ChatResult]]] = {task.name: [[] for _ in task.instances] for task in tasks}
    for conversation in conversations:
        answers[conversation.task][conversation.item] = conversation.results
    return answers


def item_turns(task: Any, instance: Instance) -> tuple[str, ...]:
    """An item's user turns, rendered as the first was (`chat_instance`)."""
    field = task.config.chat.turns_field if task.config.chat is not None else "turns"
    template = task._templates()["prompt"]
    return tuple(template.render(instance.doc, turn=text, turn_number=k + 1) for k, text in enumerate(instance.doc[field]))


def _own(evaluator: Any, backend: Any, active: list[_Conversation], sent: list[ChatRequest],
         unique: dict[ChatRequest, int]) -> None:
    """Tell the truncation guard which item each pooled request of this turn answers, with the
    token count of the turn's own question (the last user turn), which a cut must leave whole."""
    guard = evaluator.truncation_guard
    guard.owners.pop(KIND, None)  # slots restart at 0 each turn
    try:
        counts: list[int | None] = list(backend.count_tokens([request.turns[-1] for request in sent]))
    except Exception:  # a backend without a tokenizer: the question check is skipped
        counts = [None] * len(sent)
    for conversation, request, count in zip(active, sent, counts):
        guard.own(KIND, unique[request], conversation.task, conversation.item, count)


def _as_chat_result(result: Any) -> ChatResult:
    """A backend's answer as a ChatResult (a third-party backend may return a GenerateResult)."""
    if isinstance(result, ChatResult):
        return result
    return ChatResult(**{f.name: getattr(result, f.name) for f in dataclasses.fields(result)})


def _finish(policy: ReasoningPolicy, asked: list[ChatRequest], results: list[ChatResult], backend: Any) -> list[ChatResult]:
    """Each result with its answer set (the text after the reasoning, stripped); with reasoning on,
    the task's stops applied to the answer part and the reasoning statistics added."""
    if policy.enabled:
        counts = reasoning_token_counts([(r.text, r.opened_think) for r in results], backend.count_tokens)
        results = [policy.finish(GenerateRequest("", request.params), result, thinking)  # type: ignore[misc]
                   for request, result, thinking in zip(asked, results, counts)]
    return [dataclasses.replace(r, answer=strip_reasoning(r.text, r.opened_think)) for r in results]


def chat_answers(task: Any, answers: list[list[ChatResult]]) -> list[list[str]]:
    """Per item, the answer of each turn (the contract the judge stage reads)."""
    return [[result.answer or "" for result in item] for item in answers]


# ---- scoring: the answers recorded (the judge stage rates them) --------------------------------


def score_chat(task: Any, answers: list[list[ChatResult]]) -> TaskScores:
    """TaskScores of a multi-turn task: no metric of its own (a judge rates the answers), one
    sample row per conversation with each turn's prompt, raw output and answer."""
    rows = []
    for instance, results in zip(task.instances, answers):
        turns = item_turns(task, instance)
        row: dict[str, Any] = {"doc_id": instance.doc_id}
        for key in ("question_id", "category"):
            if key in instance.doc:
                row[key] = instance.doc[key]
        row["answers"] = [r.answer or "" for r in results]
        row["turns"] = [_turn_record(k, turns[k], instance, r) for k, r in enumerate(results)]
        row["metrics"] = {}
        rows.append(row)
    return TaskScores(metrics={}, samples=rows, sampling=_sampling(task))


def _sampling(task: Any) -> dict[str, Any]:
    """The per-item temperatures the task ran with (results.json `tasks.<task>.sampling`)."""
    chat = task.config.chat
    by: dict[str, float] = {}
    for instance in task.instances:
        key = str(instance.doc.get(chat.temperature_field)) if chat is not None and chat.temperature_field else "all"
        by[key] = instance.requests[0].params.temperature
    return {"repeats": 1, "temperature_by": chat.temperature_field if chat is not None and chat.temperature_field else None,
            "temperatures": dict(sorted(by.items())), "seeded_when": "temperature > 0"}


def _turn_record(k: int, question: str, instance: Instance, result: ChatResult) -> dict[str, Any]:
    params = generation_params(instance.requests[0])
    record: dict[str, Any] = {
        "turn": k + 1, "question": question, "prompt": result.prompt, "raw": result.text,
        "answer": result.answer or "", "generated_tokens": result.n_tokens, "finish_reason": result.finish_reason,
        "temperature": params.temperature, "seed": params.seed, "truncation": sample_truncation([result]),
    }
    if result.reasoning is not None:
        record["reasoning"] = result.reasoning
    return record


def task_summary(task: Any, answers: list[list[ChatResult]], evaluator: Any) -> dict[str, Any]:
    """What results.json says of a multi-turn task besides its (judged) metrics."""
    stats = evaluator.cache_stats.get(KIND, {})
    summary: dict[str, Any] = {"questions": len(answers), "turns": sum(len(item) for item in answers),
                               "cache_by_turn": stats.get("turns", [])}
    if not getattr(evaluator.options, "judge_model", None):
        summary["judge"] = None
        summary["note"] = ("no judge was given (--judge-model): the answers are recorded, not rated; samples hold each "
                           "turn's prompt, raw output and answer")
        print(f"jlce: task '{task.name}': no judge was given (--judge-model), so its {summary['turns']} answers are "
              "recorded, not rated", file=sys.stderr)
    return summary
