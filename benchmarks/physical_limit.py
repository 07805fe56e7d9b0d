"""The physical limit of multiple-choice scoring: the time of batched forward passes over only the
tokens that must be computed, with nothing else (no tokenizing, no Python per request, plain
causal attention, the output layer only on the positions that predict a scored token).

Two token sets: `unique` - each distinct context once plus every continuation's input tokens
(the issue's definition); `prefix` - the same, with the longest prefix that all contexts share
(the fixed few-shot examples) counted once. Rows are the contexts (a context followed by its
continuations' tokens), longest first, `batch_size` rows per pass, right-padded.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Limit:
    seconds: float
    tokens: int  # tokens through the layers (padding excluded)
    scored: int  # positions through the output layer
    passes: int


def _rows(pairs: Sequence[tuple[Sequence[int], Sequence[int]]], share_prefix: bool):
    groups: dict[tuple[int, ...], dict[tuple[int, ...], None]] = {}
    for ctx, cont in pairs:
        groups.setdefault(tuple(ctx), {})[tuple(cont)] = None
    shared = 0
    if share_prefix and len(groups) > 1:
        shared = len(os.path.commonprefix([list(c) for c in groups]))
        shared = min(shared, min(len(c) for c in groups) - 1)
    rows = []
    for ctx, conts in groups.items():
        tokens = list(ctx[shared:]) + [t for c in conts for t in c[:-1]]
        rows.append((tokens, sum(len(c) for c in conts)))
    rows.sort(key=lambda r: -len(r[0]))
    return list(next(iter(groups))[:shared]) if shared else [], rows


def measure(model, pairs, batch_size: int, share_prefix: bool, repeats: int = 3) -> Limit:
    """Median time over `repeats` of the minimal passes (see the module docstring)."""
    import torch

    prefix, rows = _rows(pairs, share_prefix)
    backbone, head = model.get_decoder(), model.get_output_embeddings()
    batches = []
    for start in range(0, len(rows), batch_size):
        chunk = rows[start:start + batch_size]
        width = max(len(t) for t, _ in chunk)
        ids = torch.zeros((len(chunk), width), dtype=torch.long)
        mask = torch.zeros((len(chunk), width), dtype=torch.long)
        for r, (tokens, _) in enumerate(chunk):
            ids[r, :len(tokens)] = torch.tensor(tokens)
            mask[r, :len(tokens)] = 1
        batches.append((ids, mask, [n for _, n in chunk]))
    times = []
    with torch.inference_mode():
        for _ in range(repeats):
            started = time.perf_counter()
            if prefix:
                backbone(input_ids=torch.tensor([prefix]), use_cache=False)
            for ids, mask, scored in batches:
                hidden = backbone(input_ids=ids, attention_mask=mask, use_cache=False).last_hidden_state
                picked = torch.cat([hidden[r, :n] for r, n in enumerate(scored)])  # as many as are scored
                torch.log_softmax(head(picked).float(), dim=-1)
            times.append(time.perf_counter() - started)
    return Limit(statistics.median(times), len(prefix) + sum(len(t) for t, _ in rows), sum(n for _, n in rows),
                 len(batches) + bool(prefix))


def limits(model_dir, requests, batch_size: int, threads: int) -> dict[str, Limit]:
    """Both limits for (context, continuation) text pairs, tokenized exactly as JLCE does."""
    import torch
    from jlce.backends.common.encoding import Encoder
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if threads:
        torch.set_num_threads(threads)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()
    pairs = Encoder(AutoTokenizer.from_pretrained(model_dir)).pairs(requests)
    return {"unique": measure(model, pairs, batch_size, False), "prefix": measure(model, pairs, batch_size, True)}
