"""Log-likelihood of continuations with each distinct context computed once (KV reuse): the
general path, for every model (`hf_packed` is the faster path for models that allow it).

For a batch of distinct contexts (left-padded, explicit position ids) one forward pass yields the
key/value cache and the distribution of each continuation's first token. The remaining tokens of
every continuation are then scored in passes of at most `max_rows` rows against the cached context
rows (repeated per continuation), so a few-shot context with five choices is computed once, not
five times. Log-softmax runs only on the rows of scored positions. Results do not depend on how
requests are batched: padding never changes a real token's position or what it attends to.
"""

from __future__ import annotations

import copy
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field

from jlce.budget import FORWARD, fit_pair


@dataclass(frozen=True)
class TokenScore:
    """Sum of continuation log-probs, whether every token was the argmax, tokens scored."""

    logprob: float
    is_greedy: bool
    n_tokens: int


@dataclass
class ContextGroup:
    """One distinct context and the continuations scored against it, as (key, tokens)."""

    context: tuple[int, ...]
    members: list[tuple[Hashable, tuple[int, ...]]] = field(default_factory=list)

    @property
    def length(self) -> int:
        """Model input length of the group's longest request."""
        return len(self.context) + max(len(c) for _, c in self.members) - 1


def group_by_context(
    items: Sequence[tuple[Hashable, Sequence[int], Sequence[int]]], max_length: int
) -> list[ContextGroup]:
    """Fit each (key, context, continuation) to a window of `max_length` positions
    (`jlce.budget`; a no-op on pairs the backend fitted already), merge equal contexts, and order the
    groups longest first (ties by tokens, so the order is reproducible). Empty continuations are
    left out: their score is 0 without a forward pass."""
    groups: dict[tuple[int, ...], ContextGroup] = {}
    for key, context, continuation in items:
        if not continuation:
            continue
        ctx, cont, _ = fit_pair(context, continuation, max_length, FORWARD)
        group = groups.setdefault(tuple(ctx), ContextGroup(tuple(ctx)))
        group.members.append((key, tuple(cont)))
    return sorted(groups.values(), key=lambda g: (-g.length, -len(g.context), g.context))


def input_device(model):
    return model.get_input_embeddings().weight.device


def last_logits_kwargs(model) -> dict:
    """`logits_to_keep=1` (only the last position's logits) where the model's forward accepts it."""
    import inspect

    return {"logits_to_keep": 1} if "logits_to_keep" in inspect.signature(model.forward).parameters else {}


def left_pad(sequences: Sequence[Sequence[int]], pad_id: int):
    """(ids, attention mask, position ids) with sequences right-aligned; positions start at 0 at
    each sequence's first real token."""
    import torch

    width = max(len(s) for s in sequences)
    ids = torch.full((len(sequences), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(sequences), width), dtype=torch.long)
    for row, sequence in enumerate(sequences):
        if sequence:
            ids[row, width - len(sequence):] = torch.tensor(sequence, dtype=torch.long)
            mask[row, width - len(sequence):] = 1
    positions = (mask.cumsum(-1) - 1).clamp(min=0)
    return ids, mask, positions


def select_cache_rows(cache, rows):
    """A cache holding the given batch rows of `cache` (repeats allowed); `cache` is unchanged."""
    clone = copy.copy(cache)
    clone.layers = [copy.copy(layer) for layer in cache.layers]
    clone.batch_select_indices(rows)
    return clone


def prefix_cache(model, tokens: Sequence[int]):
    """The key/value cache of `tokens` (one row), to be shared by the contexts that start with them."""
    import torch

    device = input_device(model)
    ids = torch.tensor([list(tokens)], dtype=torch.long, device=device)
    with torch.inference_mode():
        out = model(input_ids=ids, position_ids=torch.arange(len(tokens), device=device).unsqueeze(0),
                    use_cache=True, **last_logits_kwargs(model))
    return out.past_key_values


def score_batch(model, groups: Sequence[ContextGroup], pad_id: int, max_rows: int | None = None
                ) -> list[tuple[Hashable, TokenScore]]:
    """Score every continuation of `groups` (one batch of contexts: one forward pass, a row per
    context). The continuations' later tokens run in passes of at most `max_rows` rows (default: all
    at once), longest first."""
    import torch

    device = input_device(model)
    ids, mask, positions = left_pad([g.context for g in groups], pad_id)
    with torch.inference_mode():
        out = model(
            input_ids=ids.to(device), attention_mask=mask.to(device), position_ids=positions.to(device),
            use_cache=True, **last_logits_kwargs(model),
        )
        first = torch.log_softmax(out.logits[:, -1, :].float(), dim=-1)
        cache = out.past_key_values
        del out
        rows = [(g, key, cont) for g, group in enumerate(groups) for key, cont in group.members]
        group_index = torch.tensor([g for g, _, _ in rows], device=first.device)
        first_token = torch.tensor([cont[0] for _, _, cont in rows], device=first.device)
        first_lp = first[group_index, first_token].double().cpu().tolist()
        first_greedy = (first.argmax(-1)[group_index] == first_token).cpu().tolist()
        del first
        token_lps: list[list[float]] = [[lp] for lp in first_lp]
        greedy = list(first_greedy)
        longer = sorted((r for r, (_, _, cont) in enumerate(rows) if len(cont) > 1), key=lambda r: (-len(rows[r][2]), r))
        step = max_rows or len(longer) or 1
        lengths = mask.sum(-1)
        for at in range(0, len(longer), step):
            chunk = longer[at:at + step]
            lps, flags = _score_rest(model, cache, mask, lengths, [(rows[r][0], rows[r][2]) for r in chunk], pad_id,
                                     device, last_use=at + step >= len(longer))
            for r, lp, flag in zip(chunk, lps, flags):
                token_lps[r].extend(lp)
                greedy[r] = greedy[r] and flag
        del cache
    return [
        (key, TokenScore(float(sum(token_lps[r])), bool(greedy[r]), len(cont)))
        for r, (_, key, cont) in enumerate(rows)
    ]


def _score_rest(model, cache, context_mask, context_lengths, rows, pad_id, device, last_use: bool):
    """Tokens 2..n of each (group row, continuation) against the cached context rows. `last_use`:
    the cache is not needed afterwards (it may then be extended in place)."""
    import torch

    group_rows = torch.tensor([g for g, _ in rows], dtype=torch.long)
    inputs = [cont[:-1] for _, cont in rows]
    width = max(len(x) for x in inputs)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    own_mask = torch.zeros((len(rows), width), dtype=torch.long)
    for r, tokens in enumerate(inputs):
        ids[r, :len(tokens)] = torch.tensor(tokens, dtype=torch.long)
        own_mask[r, :len(tokens)] = 1
    attention = torch.cat([context_mask[group_rows], own_mask], dim=1)
    positions = context_lengths[group_rows].unsqueeze(1) + torch.arange(width).unsqueeze(0)
    if last_use and group_rows.tolist() == list(range(context_mask.shape[0])):
        past = cache  # one row per context: extend the cache itself
    else:
        past = select_cache_rows(cache, group_rows.to(device))
    out = model(
        input_ids=ids.to(device), attention_mask=attention.to(device), position_ids=positions.to(device),
        past_key_values=past, use_cache=True,
    )
    valid = own_mask.bool().to(out.logits.device)
    picked = torch.log_softmax(out.logits[valid].float(), dim=-1)  # only the scored positions
    del out, past
    targets = torch.tensor([t for _, cont in rows for t in cont[1:]], device=picked.device)
    token_lp = picked.gather(1, targets.unsqueeze(1)).squeeze(1).double().cpu().tolist()
    is_top = (picked.argmax(-1) == targets).cpu().tolist()
    lps, flags, at = [], [], 0
    for tokens in inputs:
        lps.append(token_lp[at:at + len(tokens)])
        flags.append(all(is_top[at:at + len(tokens)]))
        at += len(tokens)
    return lps, flags
