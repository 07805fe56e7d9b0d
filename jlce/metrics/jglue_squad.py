"""JSQuAD exact match and F1 as JGLUE's official scorer defines them.

JGLUE fine-tunes and scores JSQuAD with transformers' SQuAD v1.1 scorer
(`src/transformers/data/metrics/squad_metrics.py`) patched for Japanese, in
yahoojapan/JGLUE `fine-tuning/patch/transformers-4.9.2_jglue-1.1.0.patch` (the same change is in
the 4.24.0 patch). Re-implemented here from that definition:

- normalization, in this order: lower-case; no punctuation removal; every trailing "。" removed
  (this replaces SQuAD's article removal); whitespace runs collapsed to single spaces and the
  ends stripped (`" ".join(text.split())`, so U+3000 counts as whitespace). No NFKC.
- exact match: 1 when the normalized prediction equals a normalized gold answer.
- F1: over the multiset of *characters* of the normalized strings (single spaces included):
  precision = common / len(prediction), recall = common / len(gold); when either is empty, 1 if
  both are, else 0.
- the best score over the gold answers counts; gold answers that normalize to "" are dropped
  (and when none is left the gold is "").

JLCE's own `exact_match` / `char_f1` (NFKC, whitespace removed) are kept as second metrics.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from jlce.metrics._util import mean, references
from jlce.samples import SampleView
from jlce.specs import MetricResult

SOURCE = "yahoojapan/JGLUE fine-tuning/patch/transformers-4.9.2_jglue-1.1.0.patch (squad_metrics.normalize_answer)"


def normalize(text: str) -> str:
    """JGLUE's answer normalization (see the module docstring)."""
    return " ".join(text.lower().rstrip("。").split())


def _golds(refs: Sequence[str]) -> list[str]:
    kept = [ref for ref in refs if normalize(ref)]
    return kept or [""]


def exact_pair(prediction: str, gold: str) -> float:
    return 1.0 if normalize(prediction) == normalize(gold) else 0.0


def f1_pair(prediction: str, gold: str) -> float:
    pred, ref = list(normalize(prediction)), list(normalize(gold))
    if not pred or not ref:
        return 1.0 if pred == ref else 0.0
    common = sum((Counter(pred) & Counter(ref)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(pred), common / len(ref)
    return 2 * precision * recall / (precision + recall)


def _score(samples: Sequence[SampleView], name: str, pair) -> MetricResult:
    scores = [max(pair(s.prediction, gold) for gold in _golds(references(s, name))) for s in samples]
    info = {"definition": "JGLUE official (SQuAD v1.1 scorer as JGLUE patched it)", "source": SOURCE,
            "normalization": "lower-case, trailing 。 removed, whitespace collapsed to single spaces", "n": len(scores)}
    return MetricResult(mean(scores), scores, info)


def exact_match_jglue(samples: Sequence[SampleView]) -> MetricResult:
    """Share of items whose prediction equals a gold answer after JGLUE's normalization."""
    return _score(samples, "exact_match_jglue", exact_pair)


def char_f1_jglue(samples: Sequence[SampleView]) -> MetricResult:
    """Mean over items of the best character F1 against a gold answer, JGLUE's definition."""
    return _score(samples, "char_f1_jglue", f1_pair)
