"""Metrics for structured answers written as text: tag sequences, chunk lists, dependency arcs.

Serializations parsed here (all after NFKC):

- token_accuracy: tags separated by whitespace (spaces or newlines), aligned by position.
- chunk_f1: chunks separated by `delimiter` (default a newline), each stripped; empty chunks are
  ignored. Span F1 on character offsets: each chunk is the span (start, end, text) it occupies in
  the concatenation of the item's chunks, in order; a predicted chunk is correct when a gold chunk
  has the same offsets and the same text. Order therefore matters: the gold chunks listed in
  another order score low. When the prediction keeps the text, this equals seqeval's entity F1 over
  character-level B/I tags (tested against seqeval).
- dependency_set_f1 / uas: one arc per line, `dependent -> head`; spaces around `->` are
  optional. For uas, a dependent string that occurs several times is matched by occurrence
  order (the k-th `X -> ...` line of the prediction against the k-th of the reference).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from functools import lru_cache

from jlce.errors import UserError
from jlce.metrics._util import f1, mean, references
from jlce.metrics.japanese import nfkc
from jlce.samples import SampleView
from jlce.specs import MetricResult

ARROW = "->"


def token_accuracy_item(prediction: str, reference: str) -> float:
    """Share of reference tags matched by the predicted tag at the same position.

    Extra predicted tags are ignored, missing ones count as wrong. An empty reference scores
    1.0 when the prediction is empty too, else 0.0."""
    gold, pred = nfkc(reference).split(), nfkc(prediction).split()
    if not gold:
        return 1.0 if not pred else 0.0
    return sum(1 for g, p in zip(gold, pred) if g == p) / len(gold)


def token_accuracy(samples: Sequence[SampleView]) -> MetricResult:
    """Mean over items of the per-item tag accuracy against references[0]."""
    scores = [token_accuracy_item(s.prediction, references(s, "token_accuracy")[0]) for s in samples]
    return MetricResult(mean(scores), scores, {"average": "mean over items of per-item accuracy", "n": len(scores)})


def chunks(text: str, delimiter: str = "\n") -> list[str]:
    """The non-empty, stripped chunks of `text` (NFKC) split at `delimiter`, in order."""
    return [c.strip() for c in nfkc(text).split(delimiter) if c.strip()]


def chunk_spans(text: str, delimiter: str = "\n") -> set[tuple[int, int, str]]:
    """(start, end, text) of each chunk in the concatenation of the chunks (end exclusive)."""
    spans, offset = set(), 0
    for chunk in chunks(text, delimiter):
        spans.add((offset, offset + len(chunk), chunk))
        offset += len(chunk)
    return spans


@lru_cache(maxsize=65536)
def _chunk_counts(prediction: str, reference: str, delimiter: str) -> tuple[int, int, int]:
    """(matched, predicted, gold) span counts of one item; cached because the bootstrap over
    items re-scores resampled sets many times."""
    pred, gold = chunk_spans(prediction, delimiter), chunk_spans(reference, delimiter)
    return len(pred & gold), len(pred), len(gold)


def chunk_f1(samples: Sequence[SampleView], delimiter: str = "\n") -> MetricResult:
    """Micro span F1 over the whole set: 2·TP / (#predicted + #gold) spans, summed over items;
    a span matches when its character offsets and its text both match a gold chunk's."""
    if not isinstance(delimiter, str) or not delimiter:
        raise UserError("metric 'chunk_f1': delimiter must be a non-empty string")
    tp = n_pred = n_gold = 0
    per_item = []
    for s in samples:
        item_tp, item_pred, item_gold = _chunk_counts(s.prediction, references(s, "chunk_f1")[0], delimiter)
        per_item.append(f1(item_tp, item_pred, item_gold))
        tp, n_pred, n_gold = tp + item_tp, n_pred + item_pred, n_gold + item_gold
    info = {
        "average": "micro over all chunks",
        "unit": "span (character offsets in the concatenated chunks, and text)",
        "per_item": "span F1 of each item's chunks",
        "delimiter": delimiter,
        "tp": tp,
        "n_pred": n_pred,
        "n_gold": n_gold,
    }
    value = f1(tp, n_pred, n_gold) if samples else float("nan")
    return MetricResult(value, per_item, info)


def arcs(text: str) -> list[tuple[str, str] | str]:
    """The `dependent -> head` lines of `text` as (dependent, head) pairs; a non-empty line
    without an arrow is kept as a string (it can never match a gold arc)."""
    out: list[tuple[str, str] | str] = []
    for line in nfkc(text).splitlines():
        line = line.strip()
        if not line:
            continue
        dependent, arrow, head = line.partition(ARROW)
        out.append((dependent.strip(), head.strip()) if arrow else line)
    return out


def dependency_set_f1_item(prediction: str, reference: str) -> float:
    pred, gold = set(arcs(prediction)), set(arcs(reference))
    return f1(len(pred & gold), len(pred), len(gold))


def dependency_set_f1(samples: Sequence[SampleView]) -> MetricResult:
    """Mean over items of the F1 between the sets of predicted and gold `dependent -> head` lines."""
    scores = [dependency_set_f1_item(s.prediction, references(s, "dependency_set_f1")[0]) for s in samples]
    return MetricResult(mean(scores), scores, {"unit": "set of (dependent, head) lines", "n": len(scores)})


def _heads(text: str) -> dict[tuple[str, int], str]:
    heads: dict[tuple[str, int], str] = {}
    seen: Counter = Counter()
    for arc in arcs(text):
        if isinstance(arc, tuple):
            dependent, head = arc
            heads[(dependent, seen[dependent])] = head
            seen[dependent] += 1
    return heads


def uas_item(prediction: str, reference: str) -> float:
    """Share of gold dependents whose predicted head is the gold head (1.0 if no gold arcs and
    no predicted arcs, else 0.0 when the reference has no arcs)."""
    gold, pred = _heads(reference), _heads(prediction)
    if not gold:
        return 1.0 if not pred else 0.0
    return sum(1 for key, head in gold.items() if pred.get(key) == head) / len(gold)


def uas(samples: Sequence[SampleView]) -> MetricResult:
    """Mean over items of the unlabeled attachment score of `dependent -> head` lines."""
    scores = [uas_item(s.prediction, references(s, "uas")[0]) for s in samples]
    return MetricResult(mean(scores), scores, {"average": "mean over items", "n": len(scores)})
