"""Batched decoding with left padding: greedy, or sampling with a per-request random generator.

Each row stops at its own EOS, stop string or token budget and then leaves the batch (its cache
rows are dropped), so a finished row costs nothing and never changes the others. A prefix shared
by the prompts (fixed few-shot examples) can come from a cache computed once, and equal prompts
(the k samples of one item, each with its own seed) are prefilled once per batch. Position ids
are explicit, so a prompt's tokens get the same positions alone or in a batch: batched greedy
output equals single-prompt greedy output.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Any

from jlce.backends.transformers.scoring import (
    input_device,
    last_logits_kwargs,
    left_pad,
    select_cache_rows,
)

from jlce.budget import fit_generation
from jlce.requests import GenerationParams


@dataclass(frozen=True)
class GenerationRow:
    key: Hashable
    prompt: tuple[int, ...]
    params: GenerationParams
    seed: int


@dataclass(frozen=True)
class Generated:
    text: str
    n_tokens: int
    finish_reason: str  # "stop" | "length"


def truncate_at_stop(text: str, until: Sequence[str]) -> tuple[str, bool]:
    """The text before the earliest stop string, and whether one occurred."""
    cut = min((at for at in (text.find(s) for s in until if s) if at >= 0), default=-1)
    return (text[:cut], True) if cut >= 0 else (text, False)


class _Row:
    """Decoding state of one request."""

    def __init__(self, row: GenerationRow, max_length: int, device):
        import torch

        self.row = row
        self.tokens: list[int] = []
        self.finish: str | None = None
        self.ended_by_eos = False
        # the budget the backend granted when it fitted the prompt (jlce.budget, same rule)
        self.budget = fit_generation(len(row.prompt), row.params.max_new_tokens, max_length).max_new_tokens
        stops = [s for s in row.params.until if s]
        # a stop string of n characters spans at most 4n byte-level tokens (+1 for a split character)
        self.window = 4 * max((len(s) for s in stops), default=0) + 1
        self.stops = stops
        self.generator = None
        if row.params.temperature > 0:
            self.generator = torch.Generator(device=device)
            self.generator.manual_seed(row.seed)

    def push(self, token: int, eos_ids: set[int], tokenizer) -> None:
        if token in eos_ids:
            self.ended_by_eos, self.finish = True, "stop"
            return
        self.tokens.append(token)
        if self.stops:  # special tokens count here (a stop may be one); the answer text drops them
            tail = tokenizer.decode(self.tokens[-self.window:], skip_special_tokens=False)
            if any(s in tail for s in self.stops):
                self.finish = "stop"
                return
        if len(self.tokens) >= self.budget:
            self.finish = "length"

    def result(self, tokenizer) -> Generated:
        text = tokenizer.decode(self.tokens, skip_special_tokens=True)
        text, _ = truncate_at_stop(text, self.stops)
        return Generated(text, len(self.tokens) + int(self.ended_by_eos), self.finish or "length")


def _choose(logits, rows: Sequence[_Row]) -> list[int]:
    """Next token per row: argmax, or a sample (temperature, top-p) from the row's own generator."""
    import torch

    chosen = logits.argmax(-1).tolist()
    for j, state in enumerate(rows):
        params = state.row.params
        if params.temperature <= 0:
            continue
        probs = torch.softmax(logits[j] / params.temperature, dim=-1)
        if params.top_p < 1.0:
            sorted_probs, order = torch.sort(probs, descending=True)
            before = torch.cumsum(sorted_probs, dim=-1) - sorted_probs
            sorted_probs[before >= params.top_p] = 0.0  # keep the smallest set reaching top_p
            probs = torch.zeros_like(probs).scatter(0, order, sorted_probs)
        chosen[j] = int(torch.multinomial(probs, 1, generator=state.generator).item())
    return chosen


def generate_batch(model, tokenizer, rows: Sequence[GenerationRow], pad_id: int, eos_ids: set[int],
                   max_length: int, prefix: tuple[int, Any] | None = None) -> list[tuple[Hashable, Generated]]:
    """Decode a batch of prompts; returns (key, Generated) in the order of `rows`. `prefix`:
    (length, cache from `prefix_cache`) of a prefix every prompt starts with and extends (a fixed
    few-shot set): only the rest of each prompt is computed, left-padded after the prefix."""
    import torch

    device = input_device(model)
    states = [_Row(row, max_length, device) for row in rows]
    for state in states:
        if state.budget == 0:
            state.finish = "length"
    active = [j for j, s in enumerate(states) if s.finish is None]
    if active:
        shared = prefix[0] if prefix else 0
        # equal prompts (the k samples of an item) are prefilled once; their rows then share that cache
        unique: dict[tuple[int, ...], int] = {}
        owner = [unique.setdefault(states[j].row.prompt, len(unique)) for j in active]
        ids, own_mask, positions = left_pad([prompt[shared:] for prompt in unique], pad_id)
        mask = torch.cat([torch.ones((len(unique), shared), dtype=torch.long), own_mask], dim=1)
        ids, mask, positions = ids.to(device), mask.to(device), (positions + shared).to(device)
        with torch.inference_mode():
            past = select_cache_rows(prefix[1], torch.zeros(len(unique), dtype=torch.long, device=device)) if prefix else None
            out = model(input_ids=ids, attention_mask=mask, position_ids=positions, past_key_values=past, use_cache=True,
                        **last_logits_kwargs(model))
            del past
            cache, next_position, logits = out.past_key_values, positions[:, -1] + 1, out.logits[:, -1, :]
            if len(unique) < len(active):
                rows_of = torch.tensor(owner, device=mask.device)
                cache.batch_select_indices(rows_of)
                mask, next_position, logits = mask[rows_of], next_position[rows_of], logits[rows_of]
            while True:
                chosen = _choose(logits.float(), [states[j] for j in active])
                for j, token in zip(active, chosen):
                    states[j].push(token, eos_ids, tokenizer)
                keep = [i for i, j in enumerate(active) if states[j].finish is None]
                if not keep:
                    break
                if len(keep) < len(active):
                    index = torch.tensor(keep, device=mask.device)
                    cache.batch_select_indices(index)
                    mask, next_position = mask[index], next_position[index]
                    active, chosen = [active[i] for i in keep], [chosen[i] for i in keep]
                mask = torch.cat([mask, mask.new_ones((len(active), 1))], dim=1)
                out = model(
                    input_ids=torch.tensor(chosen, device=device).unsqueeze(1), attention_mask=mask,
                    position_ids=next_position.unsqueeze(1), past_key_values=cache, use_cache=True,
                )
                next_position, logits = next_position + 1, out.logits[:, -1, :]
    return [(state.row.key, state.result(tokenizer)) for state in states]
