"""Log-likelihood scoring in one forward pass per batch: a context and all its continuations in
one row, under a tree-shaped attention mask.

A row holds the part of a context after its cluster's shared prefix (whose key/value cache is
computed once, see `hf_prefix`), then every distinct continuation's input tokens (all but the
last) as segments side by side. Each segment attends to the prefix, the context and its own
earlier tokens, never to another segment; position ids continue from the context in every
segment. So the context runs once, each continuation token once, and no cache is copied per
continuation. Rows are right-aligned (padding on the left):

    row:      [pad][ context     ][ cont 1  ][ cont 2  ][ ... ]
    position:       p ... p+s-1    p+s ...    p+s ...

Only the hidden states that predict a scored token reach the output layer (`logits_to_keep` and a
pre-hook on the output layer), and log-softmax runs only on those rows. Used for models whose
attention is the same at every layer (no sliding windows, no ALiBi) with the sdpa or eager
kernel; other models use `hf_scoring`.
"""

from __future__ import annotations

import inspect
from collections.abc import Hashable, Sequence
from typing import Any

from jlce.backends.transformers.scoring import (
    ContextGroup,
    TokenScore,
    input_device,
    select_cache_rows,
)

# Continuation tokens packed into one row; more continuations of a context go to further rows.
CONTINUATION_TOKENS_PER_ROW = 256
MASKABLE_KERNELS = ("sdpa", "eager")
# Models that take positions from the mask layout, not from position ids: a custom mask would break them.
ALIBI_MODELS = ("bloom", "mpt", "falcon", "baichuan")


def _text_config(model):
    config = model.config
    return config.get_text_config() if hasattr(config, "get_text_config") else config


def supports_packing(model) -> bool:
    """True when a custom 4D mask and explicit position ids give exact results: an sdpa or eager
    kernel, every layer full attention (no sliding window, no linear/recurrent layers), no ALiBi."""
    config = _text_config(model)
    if getattr(config, "_attn_implementation", None) not in MASKABLE_KERNELS:
        return False
    if getattr(config, "model_type", "") in ALIBI_MODELS:
        return False
    layer_types = getattr(config, "layer_types", None)
    if layer_types:
        if any(kind != "full_attention" for kind in layer_types):
            return False
    elif getattr(config, "sliding_window", None) is not None:
        return False
    parameters = inspect.signature(model.forward).parameters
    return "position_ids" in parameters and "past_key_values" in parameters


def accepts_logits_to_keep(model) -> bool:
    return "logits_to_keep" in inspect.signature(model.forward).parameters


def _distinct(group: ContextGroup) -> list[tuple[int, ...]]:
    """The group's distinct continuations, in order (equal requests are scored once)."""
    return list(dict.fromkeys(cont for _, cont in group.members))


def _tail_tokens(group: ContextGroup) -> int:
    return sum(len(c) - 1 for c in _distinct(group))


def split_members(groups: Sequence[ContextGroup], limit: int = CONTINUATION_TOKENS_PER_ROW) -> list[ContextGroup]:
    """Rows: each group, its distinct continuations split (in order) so that a row's continuation
    input tokens stay within `limit` (a single longer continuation gets a row of its own)."""
    rows: list[ContextGroup] = []
    for group in groups:
        chunks: list[list[tuple[int, ...]]] = [[]]
        used = 0
        for cont in _distinct(group):
            if chunks[-1] and used + len(cont) - 1 > limit:
                chunks.append([])
                used = 0
            chunks[-1].append(cont)
            used += len(cont) - 1
        for chunk in chunks:
            wanted = set(chunk)
            rows.append(ContextGroup(group.context, [(key, cont) for key, cont in group.members if cont in wanted]))
    return rows


def row_order_key(shared: int):
    """Sort key for rows of one cluster: longest first (little padding per batch)."""
    return lambda g: (-(len(g.context) - shared + _tail_tokens(g)), g.context)


def _layout(rows: Sequence[ContextGroup], shared: int, pad_id: int):
    """Rows right-aligned to one width: flat token ids, segment ids (-1 pad, 0 context, j+1
    continuation j) and position ids, and the (row, column, target token, member index) of every
    scored token in order (members: the rows' distinct continuations, numbered in row order)."""
    lengths = [len(g.context) - shared + _tail_tokens(g) for g in rows]
    width = max(lengths)
    ids: list[int] = []
    segments: list[int] = []
    positions: list[int] = []
    scored: list[tuple[int, int, int, int]] = []
    member = 0
    for b, (group, length) in enumerate(zip(rows, lengths)):
        own = group.context[shared:]
        lead = width - length
        ids += [pad_id] * lead
        ids += own
        segments += [-1] * lead + [0] * len(own)
        positions += [shared] * lead
        positions += range(shared, shared + len(own))
        last_context_column = lead + len(own) - 1
        column = last_context_column + 1
        start = shared + len(own)
        for j, cont in enumerate(_distinct(group)):
            scored.append((b, last_context_column, cont[0], member))
            scored += [(b, column + t, cont[t + 1], member) for t in range(len(cont) - 1)]
            ids += cont[:-1]
            segments += [j + 1] * (len(cont) - 1)
            positions += range(start, start + len(cont) - 1)
            column += len(cont) - 1
            member += 1
    return ids, segments, positions, width, scored


def tree_mask(segments, shared: int, dtype, eager: bool):
    """(rows, 1, width, shared + width) mask: context tokens see the prefix and earlier context
    tokens; a continuation token sees the prefix, the context and its own earlier tokens. Padding
    attends only to itself (no fully masked row). Boolean for sdpa, additive for eager."""
    import torch

    rows, width = segments.shape
    valid = segments >= 0
    index = torch.arange(width)
    causal = index.view(1, width, 1) >= index.view(1, 1, width)
    query, key = segments.unsqueeze(2), segments.unsqueeze(1)
    allowed = causal & valid.unsqueeze(2) & valid.unsqueeze(1) & ((key == 0) | (key == query))
    allowed |= (~valid).unsqueeze(2) & torch.eye(width, dtype=torch.bool).unsqueeze(0)
    mask = torch.cat([valid.unsqueeze(2).expand(rows, width, shared), allowed], dim=2).unsqueeze(1)
    if not eager:
        return mask
    return torch.zeros(mask.shape, dtype=dtype).masked_fill_(~mask, torch.finfo(dtype).min)


def score_packed(model, rows: Sequence[ContextGroup], pad_id: int, prefix: tuple[int, Any] | None = None
                 ) -> list[tuple[Hashable, TokenScore]]:
    """Score every continuation of `rows` in one forward pass. `prefix`: (length, cache from
    `prefix_cache`) of a prefix that every row's context starts with and extends."""
    import torch

    device = input_device(model)
    shared = prefix[0] if prefix else 0
    ids, segments, positions, width, scored = _layout(rows, shared, pad_id)
    shape = (len(rows), width)
    mask = tree_mask(torch.tensor(segments, dtype=torch.long).view(shape), shared, model.dtype,
                     eager=_text_config(model)._attn_implementation == "eager")
    # Positions that reach the output layer: the last `keep` columns hold every scored one.
    keep = width - min(column for _, column, _, _ in scored) if accepts_logits_to_keep(model) else width
    rows_at = torch.tensor([b for b, _, _, _ in scored], device=device)
    columns_at = torch.tensor([column - (width - keep) for _, column, _, _ in scored], device=device)
    head = model.get_output_embeddings()
    hook = head.register_forward_pre_hook(_only_rows(rows_at, columns_at)) if head is not None else None
    with torch.inference_mode():
        try:
            past = select_cache_rows(prefix[1], torch.zeros(len(rows), dtype=torch.long, device=device)) if prefix else None
            out = model(
                input_ids=torch.tensor(ids, dtype=torch.long).view(shape).to(device), attention_mask=mask.to(device),
                position_ids=torch.tensor(positions, dtype=torch.long).view(shape).to(device),
                past_key_values=past, use_cache=False, **({"logits_to_keep": keep} if keep < width else {}),
            )
        finally:
            if hook is not None:
                hook.remove()
        del past
        logits = out.logits
        # The hook left only the scored positions, (1, scored, vocab); without it, pick them here.
        chosen = logits[0] if logits.shape[:2] == (1, len(scored)) and hook is not None else logits[rows_at, columns_at]
        picked = torch.log_softmax(chosen.float(), dim=-1)
        del out, logits, chosen
        targets = torch.tensor([target for _, _, target, _ in scored], device=picked.device)
        token_lp = picked.gather(1, targets.unsqueeze(1)).squeeze(1).double().cpu().tolist()
        is_top = (picked.argmax(-1) == targets).cpu().tolist()
    n_distinct = scored[-1][3] + 1
    sums = [0.0] * n_distinct
    greedy = [True] * n_distinct
    for (_, _, _, m), lp, top in zip(scored, token_lp, is_top):  # token order within each continuation
        sums[m] += lp
        greedy[m] = greedy[m] and top
    answers, offset = [], 0
    for group in rows:
        index = {cont: offset + j for j, cont in enumerate(_distinct(group))}
        answers += [(key, TokenScore(sums[index[cont]], greedy[index[cont]], len(cont))) for key, cont in group.members]
        offset += len(index)
    return answers


def _only_rows(rows_at, columns_at):
    """A pre-hook for the output layer: hand it only the hidden states of the scored positions, so
    the full-vocabulary projection runs on nothing else (whatever the model does to the logits
    afterwards, e.g. soft-capping, is element-wise and still applies)."""

    def hook(module, args):
        hidden = args[0]
        if hidden.dim() != 3:
            return None
        return (hidden[rows_at, columns_at].unsqueeze(0), *args[1:])

    return hook
