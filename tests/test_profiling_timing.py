"""The timing profiler's arithmetic: percentiles, interval unions, throughput, TTFT/TPOT."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from jlce.events import BatchEvent, RunContext, StageEvent
from jlce.plugins.timing import TimingProfiler, percentile, summarize, union_seconds

floats = st.floats(min_value=0, max_value=1e4, allow_nan=False)


@given(st.lists(floats, min_size=1, max_size=50), st.sampled_from([0, 1, 50, 90, 99, 100]))
def test_percentile_matches_numpy(values, q):
    """numpy's linear method, exactly; the values need not be sorted."""
    assert percentile(values, q) == float(np.percentile(values, q, method="linear"))
    assert percentile(sorted(values), q) == percentile(values, q)
    assert isinstance(percentile(values, q), float)


def test_percentile_of_nothing_is_an_error():
    with pytest.raises(ValueError, match="no values"):
        percentile([], 50)


def test_summary_fields():
    values = [0.3, 0.1, 0.2, 0.4]
    summary = summarize(values)
    assert summary["count"] == 4 and summary["max"] == 0.4
    assert summary["mean"] == pytest.approx(np.mean(values))
    for q in (50, 90, 99):
        assert summary[f"p{q}"] == pytest.approx(np.percentile(values, q))
    assert summarize([]) is None


@given(st.lists(st.tuples(floats, floats).map(sorted), max_size=20))
def test_union_is_the_measure_of_covered_points(intervals):
    covered = union_seconds(intervals)
    assert covered <= sum(end - start for start, end in intervals) + 1e-6
    # brute force on a grid of the interval ends: the union of the elementary segments
    points = sorted({p for interval in intervals for p in interval})
    brute = sum(b - a for a, b in zip(points, points[1:]) if any(s <= a and b <= e for s, e in intervals))
    assert covered == pytest.approx(brute, abs=1e-6)


class FakeClock:
    """A clock the test advances by hand, so stage times are known exactly."""

    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def test_stage_and_task_times_on_a_controlled_clock():
    clock = FakeClock()
    timing = TimingProfiler({}, clock=clock)
    run = RunContext("t", {}, None)
    timing.jlce_run_start(run)
    clock.now += 1.0  # unstaged
    timing.jlce_stage_start(run, StageEvent("scoring", "a"))
    clock.now += 2.0
    timing.jlce_stage_end(run, StageEvent("scoring", "a", 2.0))
    timing.jlce_stage_start(run, StageEvent("scoring", "b"))
    clock.now += 0.5
    timing.jlce_stage_end(run, StageEvent("scoring", "b", 0.5))
    timing.jlce_stage_start(run, StageEvent("writing", "a"))
    clock.now += 0.25
    report = timing.jlce_run_end(run)["profile"]["timing"]
    assert report["wall_seconds"] == pytest.approx(3.75)
    assert report["stages"]["scoring"] == {"seconds": pytest.approx(2.5), "count": 2}
    assert report["tasks"]["a"] == {"total": pytest.approx(2.25), "scoring": pytest.approx(2.0), "writing": pytest.approx(0.25)}
    assert report["unfinished_stages"] == ["writing"]
    assert report["unstaged_seconds"] == pytest.approx(1.0)


def test_an_end_without_a_start_uses_the_events_duration():
    clock = FakeClock()
    timing = TimingProfiler({}, clock=clock)
    run = RunContext("t", {}, None)
    timing.jlce_run_start(run)
    clock.now += 5.0
    timing.jlce_stage_end(run, StageEvent("model_load", None, 3.0))
    report = timing.report()
    assert report["stages"]["model_load"]["seconds"] == pytest.approx(3.0)


def test_throughput_ttft_and_tpot_from_batch_events():
    timing = TimingProfiler({})
    run = RunContext("t", {}, None)
    timing.jlce_run_start(run)
    events = [
        BatchEvent("generate_until", 2, 0.5, prompt_tokens=40, generated_tokens=10, extra={"ttft_s": [0.1, 0.3], "tpot_s": [0.02, 0.04]}),
        BatchEvent("generate_until", 1, 0.25, prompt_tokens=10, generated_tokens=6, extra={"ttft": 0.2, "tpot": 0.03}),
        BatchEvent("loglikelihood", 4, 0.25, prompt_tokens=100),
    ]
    for event in events:
        timing.jlce_after_batch(run, event)
    throughput = timing.report()["throughput"]
    generation = throughput["generate_until"]
    assert generation["requests"] == 3 and generation["batch_seconds"] == pytest.approx(0.75)
    assert generation["generated_tokens_per_s"] == pytest.approx(16 / 0.75)
    assert generation["prompt_tokens_per_s"] == pytest.approx(50 / 0.75)
    assert generation["ttft_s"]["p50"] == pytest.approx(np.percentile([0.1, 0.3, 0.2], 50))
    assert generation["tpot_s"]["max"] == pytest.approx(0.04)
    assert generation["request_latency_s"]["max"] == pytest.approx(0.25)
    assert "ttft_s" not in throughput["loglikelihood"]
    assert throughput["all"]["requests"] == 7
    assert throughput["all"]["requests_per_s"] == pytest.approx(7 / 1.0)
