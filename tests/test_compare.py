"""`jlce compare RUN_A RUN_B` on real runs of two tiny models (tests/claims_runs.py), each number
checked against an independent derivation (samples files, scipy, numpy's Dirichlet sampler, model
files). Hand-written variants of a real run (copied, then edited) appear only where controlled
numbers are needed: continuous per-item scores (the permutation test) and mismatched data.
"""

from __future__ import annotations

import itertools
import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
from claims_runs import analysis, make_runs

from jlce.compare import compare_runs


@pytest.fixture(scope="module")
def runs(tmp_path_factory, tiny_model_dir):
    return make_runs(tmp_path_factory.getbasetemp() / "claims-runs", tiny_model_dir)


@pytest.fixture(scope="module")
def comparison(runs):
    return compare_runs(runs.runs_a[0], runs.runs_b[0], draws=20000)


def _scores(run: Path, task: str, metric: str = "acc") -> dict[int, float]:
    lines = (run / "samples" / f"{task}.jsonl").read_text(encoding="utf-8").splitlines()
    return {row["doc_id"]: row["metrics"][metric] for row in map(json.loads, lines)}


def test_each_task_is_compared_on_paired_items(comparison, runs):
    assert [t.task for t in comparison.tasks] == ["jcommonsenseqa", "jnli"]
    for t in comparison.tasks:
        a, b = _scores(runs.runs_a[0], t.task), _scores(runs.runs_b[0], t.task)
        assert t.metric == "acc" and t.n_items == len(a) == len(b)
        assert t.a == pytest.approx(np.mean(list(a.values()))) and t.b == pytest.approx(np.mean(list(b.values())))
        assert t.difference == pytest.approx(t.b - t.a)
        n10 = sum(b[d] == 1 and a[d] == 0 for d in a)  # B right, A wrong
        n01 = sum(a[d] == 1 and b[d] == 0 for d in a)
        assert (t.b_only_correct, t.a_only_correct) == (n10, n01)
        from scipy.stats import binomtest

        expected_p = binomtest(n10, n10 + n01, 0.5).pvalue if n10 + n01 else 1.0
        assert t.test == "mcnemar_exact" and t.p_value == pytest.approx(expected_p, rel=1e-5)
        assert t.effect == "cohen_h"
        assert t.effect_size == pytest.approx(2 * math.asin(math.sqrt(t.b)) - 2 * math.asin(math.sqrt(t.a)), abs=1e-5)


def test_posterior_is_the_shared_weight_bootstrap_with_per_run_pseudo_items(comparison, runs):
    """Independent derivation with numpy's gamma sampler: the shared item weights summed over each cell
    of the paired 2x2 table are Gamma(n_cell); each run adds its own all-0 and all-1 pseudo-items with
    Exp(1) weights, so theta = (weight of its correct items + g1) / (total + g0 + g1)."""
    rng = np.random.default_rng(7)
    for t in comparison.tasks:
        a, b = _scores(runs.runs_a[0], t.task), _scores(runs.runs_b[0], t.task)
        cells = {(x, y): sum(a[d] == x and b[d] == y for d in a) for x in (0, 1) for y in (0, 1)}
        g = {c: rng.gamma(n, size=200000) if n else np.zeros(200000) for c, n in cells.items()}
        total = sum(g.values())
        a0, a1, b0, b1 = rng.standard_exponential((4, 200000))
        diff = (g[0, 1] + g[1, 1] + b1) / (total + b0 + b1) - (g[1, 0] + g[1, 1] + a1) / (total + a0 + a1)
        assert t.p_b_better == pytest.approx((diff > 0).mean() + 0.5 * (diff == 0).mean(), abs=0.015)
        lo, hi = np.quantile(diff, [0.025, 0.975])
        assert t.lo == pytest.approx(lo, abs=0.02) and t.hi == pytest.approx(hi, abs=0.02)


def test_compare_and_leaderboard_print_the_same_probability(tmp_path):
    """One implementation of the prior: on the same two runs and seed, P(B > A) of `jlce compare` is the
    leaderboard's, and one discordant item of 100 gives neither 0 nor 1 (issue 13)."""
    from leaderboard_runs import write_run

    from jlce.leaderboard.build import build_leaderboard
    from jlce.leaderboard.definition import parse_definition

    a = np.r_[np.ones(60), np.zeros(40)]
    b = a.copy()
    b[70] = 1
    run_a = write_run(tmp_path, "model-a", {"qa": {"metric": "acc", "values": a.tolist()}})
    run_b = write_run(tmp_path, "model-b", {"qa": {"metric": "acc", "values": b.tolist()}})
    (t,) = compare_runs(run_a, run_b, draws=4000, seed=5).tasks
    definition = parse_definition('name: one\nversion: "1"\ntitle: One\nnormalize: none\ncategories: {c: {}}\n'
                                  "tasks: {qa: {category: c, metric: acc}}\n")
    (scope,) = build_leaderboard([run_a, run_b], definition, seed=5, draws=4000, permutations=100).tasks
    board_p = scope.p_better[scope.models.index("model-b")][scope.models.index("model-a")]
    assert t.p_b_better == pytest.approx(board_p, abs=1e-9)
    assert 0.6 < board_p < 0.9 and t.p_value == 1.0


def test_holm_across_tasks(comparison):
    p = [t.p_value for t in comparison.tasks]
    order = np.argsort(p)
    adjusted, running = {}, 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (len(p) - rank) * p[i]))
        adjusted[i] = running
    assert [t.p_holm for t in comparison.tasks] == pytest.approx([adjusted[i] for i in range(len(p))])


def test_speed_memory_and_model_ratios(comparison, runs):
    ratios = {r.quantity: r for r in comparison.ratios}
    configs = [json.loads((m / "config.json").read_text()) for m in (runs.model_a, runs.model_b)]
    kv = [2 * c["num_hidden_layers"] * c["num_key_value_heads"] * (c.get("head_dim") or c["hidden_size"] // c["num_attention_heads"]) * 4
          for c in configs]
    assert (ratios["kv_bytes_per_token"].a, ratios["kv_bytes_per_token"].b, ratios["kv_bytes_per_token"].ratio) == (kv[0], kv[1], kv[1] / kv[0])
    throughput = [json.loads((r / "results.json").read_text())["profile"]["timing"]["throughput"]["all"]
                  for r in (runs.runs_a[0], runs.runs_b[0])]
    rate = [(t["prompt_tokens"] + t["generated_tokens"]) / t["batch_seconds"] for t in throughput]
    assert ratios["tokens_per_s"].ratio == pytest.approx(rate[1] / rate[0], rel=1e-5)
    rss = ratios["peak_rss_bytes"]
    assert rss.a > 0 and rss.b > 0 and rss.ratio == pytest.approx(rss.b / rss.a, rel=1e-5)
    assert comparison.flags == ()  # same machine and software


def _variant(real: Path, dest: Path, edit_results=None, edit_row=None) -> Path:
    shutil.copytree(real, dest)
    if edit_row is not None:
        for file in (dest / "samples").glob("*.jsonl"):
            rows = [edit_row(file.stem, json.loads(line)) for line in file.read_text(encoding="utf-8").splitlines()]
            file.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    if edit_results is not None:
        results = json.loads((dest / "results.json").read_text(encoding="utf-8"))
        edit_results(results)
        (dest / "results.json").write_text(json.dumps(results, ensure_ascii=False), encoding="utf-8")
    return dest


def test_continuous_scores_use_the_paired_permutation_test(runs, tmp_path):
    """Controlled numbers: a continuous per-item score added to both runs' JCommonsenseQA samples."""
    a_values = [0.10, 0.40, 0.35, 0.80, 0.55, 0.20, 0.90, 0.05]
    b_values = [0.30, 0.45, 0.70, 0.85, 0.50, 0.60, 0.95, 0.25]

    def make(real, values, name):
        def row(task, r):
            if task == "jcommonsenseqa":
                r["metrics"]["overlap"] = values[r["doc_id"]]
            return r

        def results(res):
            res["tasks"]["jcommonsenseqa"]["metrics"]["overlap"] = {
                "value": float(np.mean(values)), "stderr": None, "ci95": None, "higher_is_better": True, "corpus": False, "info": {}}
        return _variant(real, tmp_path / name, results, row)

    a = make(runs.runs_a[0], a_values, "a")
    b = make(runs.runs_b[0], b_values, "b")
    (t,) = compare_runs(a, b, tasks=["jcommonsenseqa"], metric="overlap", permutations=20000).tasks
    d = np.array(b_values) - np.array(a_values)
    # Exact two-sided sign-flip p-value over all 2^8 sign vectors.
    flips = np.array([abs(np.dot(s, d)) for s in itertools.product((-1, 1), repeat=len(d))])
    exact = float(np.mean(flips >= abs(d.sum()) - 1e-12))
    assert t.test == "paired_permutation" and t.p_value == pytest.approx(exact, abs=0.01)
    assert t.effect == "cohen_dz" and t.effect_size == pytest.approx(d.mean() / d.std(ddof=1), rel=1e-4)
    assert t.difference == pytest.approx(d.mean()) and t.lo < d.mean() < t.hi


def test_mismatched_data_and_one_sided_tasks_are_reported_not_compared(runs, tmp_path):
    """Controlled numbers: B's copy claims other data for JNLI and lacks JCommonsenseQA."""
    def edit(results):
        results["tasks"]["jnli"]["data_hash"] = "0" * 64
        del results["tasks"]["jcommonsenseqa"]

    other = _variant(runs.runs_b[0], tmp_path / "b", edit)
    c = compare_runs(runs.runs_a[0], other)
    assert c.only_a == ("jcommonsenseqa",) and c.only_b == ()
    (t,) = c.tasks
    assert t.task == "jnli" and t.p_value is None and t.lo is None and "different data" in t.note


def test_cli_tables_files_and_errors(runs, tmp_path):
    out = tmp_path / "cmp"
    proc = analysis("compare", str(runs.runs_a[0]), str(runs.runs_b[0]), "-o", str(out), env=runs.env)
    assert proc.returncode == 0, proc.stderr
    assert "B vs A per task" in proc.stdout and "jnli" in proc.stdout and "kv_bytes_per_token" in proc.stdout
    data = json.loads((out / "comparison.json").read_text(encoding="utf-8"))
    assert [t["task"] for t in data["tasks"]] == ["jcommonsenseqa", "jnli"]
    assert r"\begin{tabular}" in (out / "comparison.tex").read_text() and "| jnli |" in (out / "comparison.md").read_text()
    bad = analysis("compare", str(runs.runs_a[0]), str(runs.runs_b[0]), "--tasks", "jnl", env=runs.env)
    assert bad.returncode == 2 and "did you mean 'jnli'" in bad.stderr and "Traceback" not in bad.stderr


def test_markdown_escapes_model_names(runs, tmp_path):
    from jlce.compare import render_markdown

    def edit(results):
        results["model"]["name"] = "<img src=x onerror=alert(1)>"

    other = _variant(runs.runs_b[0], tmp_path / "b", edit)
    md = render_markdown(compare_runs(runs.runs_a[0], other))
    assert "<img" not in md and "&lt;img" in md
