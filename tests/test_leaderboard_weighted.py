"""Weighted corpus statistics: with equal weights they are the usual statistics (scipy, sklearn);
with integer weights they are the statistic of the replicated data."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats
from sklearn.metrics import matthews_corrcoef

from jlce.stats.bayes import Prior, posterior_draws
from jlce.stats.weighted import (
    Deduplicated,
    MCCStat,
    MeanStat,
    PearsonStat,
    SpearmanStat,
    label_codes,
    numeric_predictions,
    uniform_weights,
)


def integer_weights(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A weight row (pseudo-items at 0) and the equivalent replication counts."""
    counts = np.random.default_rng(seed).integers(1, 5, n)
    w = np.zeros((1, n + 2))
    w[0, :n] = counts / counts.sum()
    return w, counts


@pytest.fixture
def ratings():
    rng = np.random.default_rng(0)
    gold = np.round(rng.uniform(0, 5, 80), 1)
    preds = np.vstack([
        np.round(gold + rng.normal(0, 1.2, 80)),  # heavy ties, like LLM ratings
        gold + rng.normal(0, 0.7, 80),  # continuous
        np.where(rng.random(80) < 0.5, 2.0, 3.0),  # two values only
    ])
    return preds, gold


def test_spearman_equals_scipy_with_equal_and_integer_weights(ratings):
    preds, gold = ratings
    stat = SpearmanStat(preds, gold)
    expected = [stats.spearmanr(p, gold).statistic for p in preds]
    assert np.allclose(stat.evaluate(uniform_weights(80))[0], expected, atol=1e-12)
    w, counts = integer_weights(80, 1)
    replicated = [stats.spearmanr(np.repeat(p, counts), np.repeat(gold, counts)).statistic for p in preds]
    assert np.allclose(stat.evaluate(w)[0], replicated, atol=1e-12)


def test_pearson_equals_scipy_with_integer_weights(ratings):
    preds, gold = ratings
    w, counts = integer_weights(80, 2)
    replicated = [stats.pearsonr(np.repeat(p, counts), np.repeat(gold, counts)).statistic for p in preds]
    assert np.allclose(PearsonStat(preds, gold).evaluate(w)[0], replicated, atol=1e-12)


def test_mcc_equals_sklearn_with_sample_weights():
    rng = np.random.default_rng(3)
    gold = rng.integers(0, 3, 90)
    preds = [np.where(rng.random(90) < acc, gold, rng.integers(0, 3, 90)) for acc in (0.3, 0.6, 0.9)]
    preds.append(np.array(["garbage"] * 5 + list(gold[5:]), dtype=object))  # an unreadable answer is a label
    gold_codes, pred_codes, k = label_codes(list(gold), [list(p) for p in preds])
    w, counts = integer_weights(90, 4)
    got = MCCStat(pred_codes, gold_codes, k).evaluate(w)[0]
    expected = [matthews_corrcoef([str(g) for g in gold], [str(x) for x in p], sample_weight=counts) for p in preds]
    assert np.allclose(got, expected, atol=1e-12)


def test_constant_prediction_has_zero_correlation(ratings):
    _, gold = ratings
    flat = np.full((1, 80), 2.5)
    assert SpearmanStat(flat, gold).evaluate(uniform_weights(80))[0, 0] == 0.0
    assert PearsonStat(flat, gold).evaluate(uniform_weights(80))[0, 0] == 0.0


def test_corpus_posterior_centres_on_observed_statistic(ratings):
    preds, gold = ratings
    stat = SpearmanStat(preds, gold)
    draws = posterior_draws(stat, 4000, 0, "jsts", Prior(-1.0, 1.0))
    observed = stat.evaluate(uniform_weights(80))[0]
    lo, hi = np.quantile(draws, [0.025, 0.975], axis=0)
    assert np.all((lo < observed) & (observed < hi))
    assert np.all(np.abs(draws.mean(axis=0) - observed) < 0.05)


def test_deduplicated_copies_are_bitwise_identical(ratings):
    preds, gold = ratings
    rows = np.vstack([preds, preds[0]])
    draws = posterior_draws(Deduplicated(SpearmanStat, rows, gold), 500, 0, "x", Prior(-1.0, 1.0))
    assert np.array_equal(draws[:, 0], draws[:, 3])
    direct = posterior_draws(SpearmanStat(preds, gold), 500, 0, "x", Prior(-1.0, 1.0))
    assert np.allclose(draws[:, :3], direct, atol=1e-12)


def test_mean_statistic_rejects_scores_outside_unit_interval():
    with pytest.raises(ValueError):
        MeanStat(np.array([[0.2, 1.5]]))


def test_numeric_predictions_parse_like_the_metrics_and_count_unreadable_ones():
    raw = ["3.5", 2, None, "n/a", " ４ ", True, "1,000", "\u22122"]
    values, bad = numeric_predictions(raw)
    assert bad == 3
    assert values.tolist() == [3.5, 2.0, 3.5, 3.5, 4.0, 3.5, 1000.0, -2.0]  # median of the readable five
    values, bad = numeric_predictions(raw, invalid=0)
    assert bad == 3 and values.tolist() == [3.5, 2.0, 0.0, 0.0, 4.0, 0.0, 1000.0, -2.0]


def test_label_codes_identify_numbers_and_strings():
    gold, preds, k = label_codes([1, 0, 1.0], [["1", 0, "x"]])
    assert k == 3 and gold.tolist() == [0, 1, 0] and preds.tolist() == [[0, 1, 2]]
