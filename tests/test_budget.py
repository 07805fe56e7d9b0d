"""jlce.budget at the exact context boundaries (pure arithmetic; the engines are tested in the
backend tests)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from jlce.budget import (
    ENGINE,
    FORWARD,
    Truncation,
    fit_generation,
    fit_pair,
    fit_scoring,
    rolling_window,
    scoring_limit,
)

W = 64


# ---- generation: prompt + budget <= window, the prompt never eaten by the budget ------------

def test_prompt_that_fits_with_its_budget_is_untouched():
    fit = fit_generation(40, 24, W)
    assert (fit.keep, fit.max_new_tokens) == (40, 24)
    assert not fit.truncation.cut and not fit.truncation.generation_capped


def test_budget_is_capped_at_what_the_window_leaves():
    fit = fit_generation(60, 24, W)
    assert (fit.keep, fit.max_new_tokens) == (60, 4)
    assert fit.truncation == Truncation(60, 0, requested_new_tokens=24, max_new_tokens=4)
    assert fit.truncation.generation_capped and not fit.truncation.cut


def test_prompt_of_window_minus_one_still_gets_one_token():
    fit = fit_generation(W - 1, 256, W)
    assert (fit.keep, fit.max_new_tokens) == (W - 1, 1)
    assert fit.truncation.prompt_cut == 0


@pytest.mark.parametrize("prompt", [W, W + 1, 10 * W])
def test_prompt_at_or_over_the_window_loses_its_head_only(prompt):
    fit = fit_generation(prompt, 256, W)
    assert (fit.keep, fit.max_new_tokens) == (W - 1, 1)
    assert fit.truncation.prompt_cut == prompt - (W - 1) and fit.truncation.cut
    tokens = list(range(prompt))
    assert fit.apply(tokens) == tokens[-(W - 1):]


def test_reasoning_budget_never_eats_the_prompt():
    # issue 12: a 564-token prompt with an 8,192 budget in an 8,192 window was sent as 1 token
    fit = fit_generation(564, 8192, 8192)
    assert (fit.keep, fit.max_new_tokens) == (564, 8192 - 564)


def test_zero_budget_or_unknown_window_changes_nothing():
    assert (fit_generation(5000, 0, W).keep, fit_generation(5000, 0, W).max_new_tokens) == (5000, 0)
    fit = fit_generation(5000, 32, None)
    assert (fit.keep, fit.max_new_tokens, fit.truncation.cut) == (5000, 32, False)


def test_apply_keeps_tuples_and_lists():
    assert fit_generation(3, 1, W).apply((1, 2, 3)) == (1, 2, 3)
    assert fit_generation(0, 5, W).apply([]) == []


# ---- scoring ----------------------------------------------------------------------------

def test_limits_per_engine():
    assert scoring_limit(W, FORWARD) == W + 1  # the last continuation token is never fed
    assert scoring_limit(W, ENGINE) == W - 1  # the whole sequence is the prompt, plus one output token
    assert rolling_window(W, FORWARD) == W and rolling_window(W, ENGINE) == W - 2
    with pytest.raises(ValueError):
        scoring_limit(1, FORWARD)
    with pytest.raises(ValueError):
        scoring_limit(2, ENGINE)
    with pytest.raises(ValueError):
        scoring_limit(W, "other")  # type: ignore[arg-type]


@pytest.mark.parametrize("engine", [FORWARD, ENGINE])
def test_scoring_exactly_at_the_limit_is_untouched(engine):
    limit = scoring_limit(W, engine)
    fit = fit_scoring(limit - 3, 3, W, engine)
    assert not fit.truncation.cut and fit.keep == limit
    context, continuation = list(range(limit - 3)), [100, 101, 102]
    assert fit.apply(context, continuation) == (context, continuation)


@pytest.mark.parametrize("engine", [FORWARD, ENGINE])
def test_one_token_over_the_limit_cuts_one_context_token(engine):
    limit = scoring_limit(W, engine)
    context, continuation = list(range(limit - 2)), [100, 101, 102]
    fit = fit_scoring(len(context), 3, W, engine)
    assert fit.truncation == Truncation(limit - 2, 1, 3, 0)
    assert fit.apply(context, continuation) == (context[1:], continuation)
    assert sum(map(len, fit.apply(context, continuation))) == limit
    assert fit_pair(tuple(context), continuation, W, engine) == (context[1:], continuation, fit.truncation)


@pytest.mark.parametrize("engine", [FORWARD, ENGINE])
def test_continuation_longer_than_the_limit_is_cut_too(engine):
    limit = scoring_limit(W, engine)
    context, continuation = [1, 2, 3], list(range(100, 100 + limit + 5))
    fit = fit_scoring(3, len(continuation), W, engine)
    ctx, cont = fit.apply(context, continuation)
    assert cont == continuation[-(limit - 1):] and ctx == [continuation[-limit]]
    assert fit.truncation.prompt_cut == 3 and fit.truncation.continuation_cut == len(continuation) - (limit - 1)


def test_scoring_edge_cases():
    assert fit_scoring(10, 0, W, FORWARD).truncation == Truncation(10, 0, 0, 0)
    assert fit_scoring(0, 4, W, ENGINE).apply([], [1, 2, 3, 4]) == ([], [1, 2, 3, 4])
    assert not fit_scoring(10_000, 3, None, ENGINE).truncation.cut
    with pytest.raises(ValueError):
        fit_scoring(-1, 3, W, FORWARD)


def test_truncation_round_trips_through_a_dict():
    value = Truncation(70, 7, 3, 0, 32, 20)
    assert Truncation.from_dict(value.to_dict()) == value
    assert Truncation.from_dict(None) is None


@given(context=st.integers(1, 300), continuation=st.integers(1, 300), window=st.integers(3, 200),
       engine=st.sampled_from([FORWARD, ENGINE]))
def test_scoring_fit_always_fits_and_keeps_the_end(context, continuation, window, engine):
    fit = fit_scoring(context, continuation, window, engine)
    ctx, cont = fit.apply(list(range(context)), list(range(1000, 1000 + continuation)))
    assert len(ctx) + len(cont) <= scoring_limit(window, engine) and len(ctx) >= 1 and len(cont) >= 1
    assert (ctx + cont) == (list(range(context)) + list(range(1000, 1000 + continuation)))[-(len(ctx) + len(cont)):]
    assert len(cont) == continuation - fit.truncation.continuation_cut
    assert len([t for t in ctx if t < 1000]) == context - fit.truncation.prompt_cut


@given(prompt=st.integers(0, 500), budget=st.integers(1, 500), window=st.integers(2, 300))
def test_generation_fit_always_fits(prompt, budget, window):
    fit = fit_generation(prompt, budget, window)
    assert fit.keep + fit.max_new_tokens <= window and fit.max_new_tokens >= 1
    assert fit.keep == min(prompt, window - 1)  # the budget never shortens the prompt
    assert fit.max_new_tokens == min(budget, window - fit.keep)
