"""What the context limit cut, per sample and per task, and what a run does about it.

Backends report each answer's cut as `result.truncation` (`jlce.budget.Truncation`); a result
without one (a third-party backend, an answer cached before this was recorded) is *unknown*, never
counted as "not cut". The policy (`jlce run --truncation`):

- `warn` (default): the run goes on; the console names each task with cut prompts and how many;
- `error`: the first cut prompt stops the run with the same numbers;
- `allow`: no warning (still recorded in samples and results.json).

Whatever the policy, an item whose own question (the prompt after the instruction and few-shot
examples) does not fit stops the run: nothing meaningful can be scored from it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from jlce.budget import Truncation
from jlce.errors import UserError

Policy = Literal["error", "warn", "allow"]
POLICIES: tuple[str, ...] = ("error", "warn", "allow")

FIXES = "use a larger --max-length (up to the model's context), fewer few-shot examples (--num-fewshot), or a longer-context model"


class TruncationError(UserError):
    """A prompt was cut and the run's policy (or the question's own length) forbids it."""


def _of(result: Any) -> Truncation | None:
    return getattr(result, "truncation", None)


def sample_truncation(results: Sequence[Any]) -> dict[str, Any] | None:
    """One item's record for samples/<task>.jsonl from the results of its requests (the choices
    of a multiple-choice item, the samples of a generation): the largest cut of any of them.
    None when any result did not report."""
    reported = [_of(r) for r in results]
    cuts = [c for c in reported if c is not None]
    if not cuts or len(cuts) < len(reported):
        return None
    record: dict[str, Any] = {
        "cut": any(c.cut for c in cuts),
        "prompt_tokens": max(c.prompt_tokens for c in cuts),
        "prompt_cut": max(c.prompt_cut for c in cuts),
    }
    if any(c.continuation_tokens for c in cuts):
        record["continuation_cut"] = max(c.continuation_cut for c in cuts)
    granted = [c.max_new_tokens for c in cuts if c.max_new_tokens is not None]
    if granted:
        record["max_new_tokens"] = min(granted)
        record["requested_new_tokens"] = max(c.requested_new_tokens or 0 for c in cuts)
    return record


def task_truncation(records: Sequence[dict[str, Any] | None]) -> dict[str, Any]:
    """A task's summary for results.json: how many samples were cut, their share of the samples
    whose backend reported, and how many are unknown."""
    known = [r for r in records if r is not None]
    cut = [r for r in known if r["cut"]]
    capped = [r for r in known if r.get("max_new_tokens") is not None and r["max_new_tokens"] < r["requested_new_tokens"]]
    return {
        "samples": len(records),
        "reported": len(known),
        "unknown": len(records) - len(known),
        "cut": len(cut),
        "share": len(cut) / len(known) if known else None,
        "max_prompt_cut": max((r["prompt_cut"] for r in cut), default=0),
        "continuation_cut": sum(1 for r in cut if r.get("continuation_cut")),
        "generation_capped": len(capped),
    }


def warning_text(task: str, summary: dict[str, Any]) -> str | None:
    """The console line for a task with cut prompts or capped budgets (None when there is none)."""
    parts = []
    if summary["cut"]:
        parts.append(f"{summary['cut']} of {summary['reported']} prompts ({100 * summary['share']:.1f}%) were cut "
                     f"to fit the context (up to {summary['max_prompt_cut']} tokens dropped from their start)")
    if summary["generation_capped"]:
        parts.append(f"{summary['generation_capped']} generation budgets were capped by the context")
    if not parts:
        return None
    return f"task '{task}': " + "; ".join(parts) + f". To avoid it, {FIXES}."


def check_question(task: str, doc_id: int, truncation: Truncation, question_tokens: int | None) -> None:
    """Stop when the kept prompt is shorter than the item's own question."""
    if question_tokens is None or not truncation.prompt_cut:
        return
    kept = truncation.prompt_tokens - truncation.prompt_cut
    if kept < question_tokens:
        raise TruncationError(
            f"task '{task}', item {doc_id}: the prompt has {truncation.prompt_tokens} tokens and only {kept} fit the "
            f"model's context, fewer than the item's own question ({question_tokens} tokens): it cannot be evaluated. "
            f"{FIXES[0].upper()}{FIXES[1:]}.")


def check_policy(policy: str, task: str, doc_id: int, truncation: Truncation) -> None:
    """With `--truncation error`, stop at the first cut prompt."""
    if policy == "error" and truncation.cut:
        what = f"{truncation.prompt_cut} of its {truncation.prompt_tokens} prompt tokens"
        if truncation.continuation_cut:
            what += f" and {truncation.continuation_cut} of its {truncation.continuation_tokens} answer tokens"
        raise TruncationError(f"task '{task}', item {doc_id}: {what} did not fit the model's context and would be cut "
                              f"(--truncation error). {FIXES[0].upper()}{FIXES[1:]}, or --truncation warn to run anyway.")


class TruncationGuard:
    """Checks answers as they arrive (cached or computed), so a run that must stop stops at the
    first offending batch. `own` says which task item each pooled request answers."""

    def __init__(self, policy: str):
        if policy not in POLICIES:
            raise UserError(f"--truncation must be one of {', '.join(POLICIES)}, not '{policy}'")
        self.policy = policy
        self.owners: dict[str, dict[int, list[tuple[str, int, int | None]]]] = {}

    def own(self, kind: str, slot: int, task: str, doc_id: int, question_tokens: int | None) -> None:
        self.owners.setdefault(kind, {}).setdefault(slot, []).append((task, doc_id, question_tokens))

    def check(self, kind: str, pairs: Any) -> None:
        """`pairs`: (pool index, result) of one kind."""
        owners = self.owners.get(kind, {})
        for slot, result in pairs:
            truncation = _of(result)
            if truncation is None or not (truncation.prompt_cut or truncation.continuation_cut):
                continue
            for task, doc_id, question_tokens in owners.get(slot, ()):
                check_question(task, doc_id, truncation, question_tokens)
                check_policy(self.policy, task, doc_id, truncation)


def question_tokens(instances: Sequence[Any], count_tokens: Any) -> list[int | None]:
    """Token counts of each instance's own question, by the backend's tokenizer; None each when
    the backend cannot count (the question check is then skipped)."""
    queries = [getattr(inst, "query", "") or "" for inst in instances]
    try:
        counts = count_tokens(queries)
    except Exception:  # UnsupportedRequest, or a third-party backend without a tokenizer
        return [None] * len(queries)
    return [int(n) if q else None for n, q in zip(counts, queries)]
