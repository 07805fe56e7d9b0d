"""Correlation metrics for numeric answers (e.g. JSTS similarity): Pearson and Spearman.

The gold value is `references[0]` parsed as a number; a gold that does not parse is a data error.
The prediction is parsed the same way (NFKC, strip, thousands commas removed); use the
`last_number` filter to pull the number out of a longer answer first. A prediction that does not
parse is handled by the `invalid` argument, always explicitly:

- `invalid: drop` (default): the item is left out of the correlation;
- `invalid: <number>`: the item counts with that value (e.g. a value outside the label range,
  which penalizes unparseable answers instead of ignoring them);
- `invalid: fail`: raise an error naming the item.

`info` records `n_invalid` and `n_used`, so a correlation computed on few items is visible.
The value is NaN when fewer than two items are used or either side is constant.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence

from jlce.errors import UserError
from jlce.metrics._util import references
from jlce.metrics.japanese import nfkc
from jlce.samples import SampleView
from jlce.specs import MetricResult


def parse_number(text: str) -> float:
    """`text` as a float after NFKC, strip and removal of thousands commas; NaN when it is not one."""
    cleaned = nfkc(text).strip().replace(",", "").replace("\u2212", "-")
    try:
        value = float(cleaned)
    except ValueError:
        return math.nan
    return value if math.isfinite(value) else math.nan


def _pairs(samples: Sequence[SampleView], metric: str, invalid: object) -> tuple[list[float], list[float], int]:
    if isinstance(invalid, bool) or not (invalid in ("drop", "fail") or isinstance(invalid, (int, float))):
        raise UserError(f"metric '{metric}': invalid={invalid!r} must be 'drop', 'fail' or a number")
    gold, pred, n_invalid = [], [], 0
    for s in samples:
        g = parse_number(references(s, metric)[0])
        if math.isnan(g):
            raise UserError(f"metric '{metric}': item {s.doc_id} has a non-numeric reference {s.references[0]!r}")
        p = parse_number(s.prediction)
        if math.isnan(p):
            n_invalid += 1
            if invalid == "fail":
                raise UserError(f"metric '{metric}': item {s.doc_id}: prediction {s.prediction[:80]!r} is not a number")
            if invalid == "drop":
                continue
            p = float(invalid)
        gold.append(g)
        pred.append(p)
    return gold, pred, n_invalid


def _correlation(samples: Sequence[SampleView], metric: str, invalid: object, fn: Callable) -> MetricResult:
    gold, pred, n_invalid = _pairs(samples, metric, invalid)
    info = {"invalid": invalid, "n_invalid": n_invalid, "n_used": len(gold), "n": len(samples)}
    value = math.nan
    if len(gold) >= 2 and len(set(gold)) > 1 and len(set(pred)) > 1:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            value = float(fn(pred, gold)[0])
    return MetricResult(value, None, info)


def pearson(samples: Sequence[SampleView], invalid: object = "drop") -> MetricResult:
    """Pearson's r between predicted and gold numbers (scipy.stats.pearsonr)."""
    from scipy.stats import pearsonr

    return _correlation(samples, "pearson", invalid, pearsonr)


def spearman(samples: Sequence[SampleView], invalid: object = "drop") -> MetricResult:
    """Spearman's rho between predicted and gold numbers (scipy.stats.spearmanr)."""
    from scipy.stats import spearmanr

    return _correlation(samples, "spearman", invalid, spearmanr)
