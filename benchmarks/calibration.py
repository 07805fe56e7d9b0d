"""Calibration: do JLCE's intervals and probabilities mean what they say? (issue 13)

Synthetic runs of KNOWN truth go through the functions the CLI calls: run directories (results.json
+ samples/*.jsonl) -> `build_leaderboard` and `compare_runs`; in-memory run records ->
`verify_claim` (the function `jlce verify` calls per claim). Prints one table:

- leaderboard: coverage of the 95% intervals (binary tasks, a continuous task, overall), P(best)
  calibration by bins with its Brier score, the share of P(A > B) outside [0.025, 0.975] for a
  model and its near-duplicate (true difference exactly 0), and how often the true best is listed
  first; the near-duplicate share is also shown for shared all-0/all-1 pseudo-items (the method
  before issue 13, same code with every model's prior weights shared);
- compare: coverage of the B - A intervals and the near-duplicate share;
- verify: coverage of a throughput interval and of a ratio's interval, and the false-VERIFIED rate of
  claims whose truth sits exactly on the bound, for k = 2, 3, 5, 10 runs per configuration (and the
  Bayesian bootstrap over runs used before, reconstructed with numpy, for contrast);
- MCC: coverage of the leaderboard's interval and of results.json's percentile bootstrap at small n.

Goals: coverage 95% +- 2%; near-duplicate share <= 7%; false-VERIFIED <= 2.5% for every k.

    python benchmarks/calibration.py [--replications 150] [--verify-replications 1000] [--mcc-replications 200]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from scipy import special

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DEFINITION = """\
name: calibration
version: "1"
title: Calibration
normalize: none
categories:
  all: {}
tasks:
  qa: {category: all, metric: acc}
  nli: {category: all, metric: acc}
  summ: {category: all, metric: rougeL}
"""
TASKS = {"qa": "acc", "nli": "acc", "summ": "rougeL"}
N_ITEMS = 100
RHO = 0.3  # correlation of the models' latent item scores (shared item difficulty)
DUP_REDRAW = 0.04  # share of items where the near-duplicate's outcome is drawn afresh (~2 differ in 100)


# ---- synthetic runs ---------------------------------------------------------------------------

def write_run(root: Path, name: str, tasks: dict[str, np.ndarray]) -> Path:
    """A run directory in the evaluator's format (results.json + samples/<task>.jsonl)."""
    run = root / name
    (run / "samples").mkdir(parents=True)
    entries = {}
    for task, values in tasks.items():
        metric = TASKS[task]
        lines = [json.dumps({"doc_id": i, "target": "", "metrics": {metric: float(v)}}) for i, v in enumerate(values)]
        (run / "samples" / f"{task}.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
        entries[task] = {
            "version": "1.0", "category": "all", "output_type": "multiple_choice", "definition_hash": "d" * 64,
            "data_hash": "a" * 64, "data_source": "fixture", "n_samples": len(values), "num_fewshot": 0,
            "fewshot_seed": 1234, "primary_metric": metric, "samples_file": f"samples/{task}.jsonl",
            "metrics": {metric: {"value": float(np.mean(values)), "stderr": None, "ci95": None,
                                 "higher_is_better": True, "corpus": False, "info": {}}},
        }
    results = {
        "schema_version": "1.0", "jlce_version": "0.1.0", "run_id": name, "created_at": "2026-01-01T00:00:00Z",
        "finished_at": "2026-01-01T00:01:00Z",
        "model": {"name": name, "backend": "transformers", "fingerprint": {"model": name},
                  "fingerprint_hash": hashlib.sha256(name.encode()).hexdigest()},
        "config": {"tasks": list(tasks), "limit": None, "seed": 1234}, "tasks": entries,
        "cache": {"hits": 0, "misses": 0, "by_kind": {}}, "profile": {}, "errors": [],
    }
    (run / "results.json").write_text(json.dumps(results), encoding="utf-8")
    return run


def latent_uniforms(rng: np.random.Generator, models: int, items: int) -> np.ndarray:
    """(models, items) uniforms, correlated across models through a shared item effect."""
    shared = rng.standard_normal(items)
    z = np.sqrt(RHO) * shared + np.sqrt(1 - RHO) * rng.standard_normal((models, items))
    return special.ndtr(z)


def simulate_scores(rng: np.random.Generator, acc: np.ndarray, power: np.ndarray) -> dict[str, np.ndarray]:
    """Per task (models, items) scores. Binary: 1 when u < acc (truth: acc). Continuous: u ** power,
    u uniform (truth: 1 / (1 + power))."""
    m = acc.size
    return {"qa": (latent_uniforms(rng, m, N_ITEMS) < acc[:, None]).astype(float),
            "nli": (latent_uniforms(rng, m, N_ITEMS) < acc[:, None]).astype(float),
            "summ": latent_uniforms(rng, m, N_ITEMS) ** power[:, None]}


def near_duplicate(rng: np.random.Generator, scores: dict[str, np.ndarray], j: int, acc: float, power: float) -> dict[str, np.ndarray]:
    """A copy of model j whose outcome is drawn afresh (same marginal) on a few items: truth equal."""
    out = {}
    for task, s in scores.items():
        copy = s[j].copy()
        redraw = rng.random(N_ITEMS) < DUP_REDRAW
        u = rng.random(N_ITEMS)
        fresh = (u < acc).astype(float) if task != "summ" else u**power
        copy[redraw] = fresh[redraw]
        out[task] = copy
    return out


# ---- leaderboard and compare ------------------------------------------------------------------

def leaderboard_section(replications: int, draws: int, seed: int) -> dict:
    from jlce.compare import compare_runs
    from jlce.stats.bayes import pairwise_probabilities, posterior_draws
    from jlce.leaderboard.build import build_leaderboard
    from jlce.leaderboard.definition import parse_definition
    from jlce.stats.weighted import MeanStat

    definition = parse_definition(DEFINITION)
    rng = np.random.default_rng(seed)
    cover = {"binary": [], "continuous": [], "overall": [], "diff binary": [], "diff continuous": []}
    p_best, is_best, first = [], [], []
    null = {"leaderboard task": [], "leaderboard overall": [], "compare task": [], "shared pseudo-items task": [],
            "shared pseudo-items overall": []}
    for rep in range(replications):
        acc = rng.uniform(0.55, 0.75, 5)
        power = 1 / rng.uniform(0.4, 0.6, 5) - 1
        truth = {"qa": acc, "nli": acc, "summ": 1 / (1 + power)}
        overall_truth = (2 * acc + truth["summ"]) / 3
        best = int(np.argmax(overall_truth))
        j = int(rng.choice([i for i in range(5) if i != best]))
        scores = simulate_scores(rng, acc, power)
        dup = near_duplicate(rng, scores, j, acc[j], power[j])
        names = [f"m{i}" for i in range(5)] + [f"m{j}-dup"]
        root = Path(tempfile.mkdtemp(prefix="jlce-calibration-"))
        try:
            dirs = [write_run(root, names[i], {t: s[i] for t, s in scores.items()}) for i in range(5)]
            dirs.append(write_run(root, names[5], dup))
            board = build_leaderboard(dirs, definition, seed=rep, draws=draws, permutations=100)
            for scope in board.tasks:
                kind = "continuous" if scope.name == "summ" else "binary"
                for e in scope.entries:
                    t = truth[scope.name][int(e.model[1])]
                    cover[kind].append(e.lo <= t <= e.hi)
                null["leaderboard task"].append(scope.p_better[scope.models.index(names[5])][scope.models.index(names[j])])
            ov = board.overall
            for e in ov.entries:
                cover["overall"].append(e.lo <= overall_truth[int(e.model[1])] <= e.hi)
                if not e.model.endswith("-dup"):
                    p_best.append(e.p_rank[0])
                    is_best.append(int(e.model[1]) == best)
            null["leaderboard overall"].append(ov.p_better[ov.models.index(names[5])][ov.models.index(names[j])])
            first.append(ov.entries[0].model == names[best])
            a, b = rng.choice([i for i in range(5)], 2, replace=False)
            comparison = compare_runs(dirs[a], dirs[b], seed=rep, draws=draws, permutations=100)
            for t in comparison.tasks:
                kind = "diff continuous" if t.task == "summ" else "diff binary"
                cover[kind].append(t.lo <= truth[t.task][b] - truth[t.task][a] <= t.hi)
            null["compare task"] += [t.p_b_better for t in compare_runs(dirs[j], dirs[5], seed=rep, draws=draws,
                                                                       permutations=100).tasks]
        finally:
            shutil.rmtree(root, ignore_errors=True)
        # Before issue 13: the same bootstrap with the all-0/all-1 pseudo-items shared by every model.
        pair_draws = []
        for task in TASKS:
            pair = np.vstack([scores[task][j], dup[task]])
            theta = posterior_draws(MeanStat(pair), draws, rep, task, digests=["shared", "shared"])
            pair_draws.append(theta)
            null["shared pseudo-items task"].append(pairwise_probabilities(theta)[1, 0])
        null["shared pseudo-items overall"].append(pairwise_probabilities(np.mean(pair_draws, axis=0))[1, 0])
    return {"cover": cover, "p_best": np.array(p_best), "is_best": np.array(is_best), "first": first, "null": null}


# ---- verify -------------------------------------------------------------------------------------

CLAIMS = """\
version: 1
confidence: 0.95
runs:
  A: {model: "a"}
  B: {model: "b"}
claims:
  - {id: level, statement: A reaches 100 requests/s, check: "requests_per_s(A) >= 100"}
  - {id: ratio, statement: B is 1.7x faster, check: "requests_per_s(B) / requests_per_s(A) >= 1.70"}
  - {id: power, statement: B is 1.5x faster, check: "requests_per_s(B) / requests_per_s(A) >= 1.50"}
"""
CV = 0.05  # run-to-run noise (log-normal), typical of repeated speed runs


def record(label: str, rep: int, i: int, rate: float):
    from jlce.claims.quantities import RunRecord

    timing = {"throughput": {"all": {"requests": 1000, "batch_seconds": 1000 / rate, "batches": 10,
                                     "prompt_tokens": 50_000, "generated_tokens": 0}}}
    return RunRecord(path=Path(f"sim/{label}-{rep}-{i}"), results={"tasks": {}, "profile": {"timing": timing}},
                     run_id=f"{label}-{rep}-{i}", model=label.lower(), fingerprint_hash=label, created_at="",
                     results_sha256="", provenance_sha256=None)


def verify_section(ks: list[int], replications: int, draws: int, seed: int) -> dict:
    from jlce.claims.runs import Bound
    from jlce.claims.schema import load_claims
    from jlce.claims.verify import VERIFIED, verify_claim

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "claims.yaml"
        path.write_text(CLAIMS, encoding="utf-8")
        spec, _ = load_claims(path)
    claims = {c.id: c for c in spec.claims}
    out = {}
    for k in ks:
        rng = np.random.default_rng(seed + k)
        row = {"cover level": [], "cover ratio": [], "false level": [], "false ratio": [], "power": [],
               "old cover level": [], "old false ratio": []}
        for rep in range(replications):
            a = 100.0 * np.exp(rng.normal(0, CV, k))
            b = 170.0 * np.exp(rng.normal(0, CV, k))
            bound = Bound({"A": tuple(record("A", rep, i, x) for i, x in enumerate(a)),
                           "B": tuple(record("B", rep, i, x) for i, x in enumerate(b))}, ())
            level = verify_claim(claims["level"], 0.95, bound, draws, rep)
            ratio = verify_claim(claims["ratio"], 0.95, bound, draws, rep)
            row["cover level"].append(level.quantities[0].lo <= 100.0 <= level.quantities[0].hi)
            row["cover ratio"].append(ratio.margins[0].lo <= 0.0 <= ratio.margins[0].hi)
            row["false level"].append(level.status == VERIFIED)
            row["false ratio"].append(ratio.status == VERIFIED)
            row["power"].append(verify_claim(claims["power"], 0.95, bound, draws, rep).status == VERIFIED)
            # Before issue 13: a Bayesian bootstrap over the k runs (Dirichlet-weighted means).
            wa = rng.dirichlet(np.ones(k), draws) @ a
            wb = rng.dirichlet(np.ones(k), draws) @ b
            lo, hi = np.quantile(wa, [0.025, 0.975])
            row["old cover level"].append(lo <= 100.0 <= hi)  # the mean and the median differ by 0.1%
            row["old false ratio"].append(np.quantile(wb / wa, 0.025) >= 1.70)
        out[k] = row
    return out


# ---- MCC ----------------------------------------------------------------------------------------

def population_mcc(positive: float, accuracy: float) -> float:
    """MCC of the population: gold 1 with probability `positive`, the prediction right with
    probability `accuracy` whatever the class."""
    p11, p10 = positive * accuracy, positive * (1 - accuracy)  # gold 1: predicted 1 / 0
    p01, p00 = (1 - positive) * (1 - accuracy), (1 - positive) * accuracy  # gold 0: predicted 1 / 0
    return (p11 * p00 - p10 * p01) / np.sqrt((p11 + p01) * (p11 + p10) * (p00 + p01) * (p00 + p10))


MCC_CASES = ((0.5, 0.75), (0.2, 0.9))  # (share of gold positives, accuracy): MCC 0.50 and 0.73


def mcc_section(ns: list[int], replications: int, draws: int, seed: int) -> dict:
    """Coverage of the population MCC by the leaderboard's interval and by results.json's ci95 (the
    percentile bootstrap of `jlce.stats.bootstrap_estimate`, 1,000 resamples, as `jlce run` does)."""
    from jlce.stats.bayes import Prior, credible_intervals, posterior_draws
    from jlce.stats.weighted import MCCStat
    from jlce.stats import bootstrap_estimate

    out = {}
    for positive, accuracy in MCC_CASES:
        truth = population_mcc(positive, accuracy)
        for n in ns:
            rng = np.random.default_rng(seed + n)
            board, ci95 = [], []
            for rep in range(replications):
                gold = (rng.random(n) < positive).astype(np.int64)
                pred = np.where(rng.random(n) < accuracy, gold, 1 - gold)[None, :]
                stat = MCCStat(pred, gold, 2)
                lo, hi = credible_intervals(posterior_draws(stat, draws, rep, "mcc", Prior(-1.0, 1.0)))
                board.append(lo[0] <= truth <= hi[0])

                def resampled(idx: np.ndarray, stat=stat, n=n) -> float:  # the metric on resampled items
                    w = np.zeros((1, n + 2))
                    w[0, :n] = np.bincount(idx, minlength=n) / n
                    return float(stat.evaluate(w)[0, 0])

                w = np.zeros((1, n + 2))
                w[0, :n] = 1 / n
                est = bootstrap_estimate(float(stat.evaluate(w)[0, 0]), n, resampled, draws=1000, seed=rep)
                ci95.append(est.ci95 is not None and est.ci95[0] <= truth <= est.ci95[1])
            out[(positive, accuracy, n)] = {"truth": truth, "leaderboard": board, "results.json ci95": ci95}
    return out


# ---- table --------------------------------------------------------------------------------------

def pct(values) -> str:
    values = np.asarray(values, dtype=float)
    return f"{100 * values.mean():.1f}%" if values.size else "–"


def outside(ps) -> list[bool]:
    return [not 0.025 <= p <= 0.975 for p in ps]


def print_table(lb: dict, ver: dict, mcc: dict, args) -> None:
    rows: list[tuple[str, str, str]] = []
    c = lb["cover"]
    rows += [("leaderboard", "coverage of 95% intervals, binary tasks", f"{pct(c['binary'])} (n={len(c['binary'])})"),
             ("leaderboard", "coverage, continuous task", f"{pct(c['continuous'])} (n={len(c['continuous'])})"),
             ("leaderboard", "coverage, overall score", f"{pct(c['overall'])} (n={len(c['overall'])})"),
             ("leaderboard", "coverage, all of the above",
              pct(c["binary"] + c["continuous"] + c["overall"])),
             ("compare", "coverage of B - A intervals, binary", f"{pct(c['diff binary'])} (n={len(c['diff binary'])})"),
             ("compare", "coverage of B - A intervals, continuous",
              f"{pct(c['diff continuous'])} (n={len(c['diff continuous'])})")]
    p, y = lb["p_best"], lb["is_best"]
    edges = [0, 0.1, 0.3, 0.5, 0.7, 0.9, 1.0000001]
    bins = []
    for lo, hi in zip(edges[:-1], edges[1:]):
        inside = (p >= lo) & (p < hi)
        if inside.any():
            bins.append(f"[{lo:.1f},{min(hi, 1):.1f}): {p[inside].mean():.2f} vs {y[inside].mean():.2f} (n={inside.sum()})")
    rows += [("leaderboard", "P(best) by bin: mean P(best) vs share truly best", "; ".join(bins)),
             ("leaderboard", "P(best) Brier score (0 = perfect)", f"{np.mean((p - y) ** 2):.3f}"),
             ("leaderboard", "true best listed first (by observed score)", pct(lb["first"]))]
    n = lb["null"]
    for key in ("leaderboard task", "leaderboard overall", "compare task", "shared pseudo-items task",
                "shared pseudo-items overall"):
        label = "before (shared all-0/all-1 pseudo-items)" if key.startswith("shared") else key.split()[0]
        scope = key.split()[-1]
        exact = np.mean([q in (0.0, 1.0) for q in n[key]])
        rows.append((label, f"near-duplicate null, {scope}: P(A>B) outside [0.025, 0.975] (exactly 0 or 1)",
                     f"{pct(outside(n[key]))} ({100 * exact:.1f}%) (n={len(n[key])})"))
    for k, r in ver.items():
        rows += [("verify", f"k={k}: coverage of a throughput interval", f"{pct(r['cover level'])} (before: {pct(r['old cover level'])})"),
                 ("verify", f"k={k}: coverage of a ratio's interval", pct(r["cover ratio"])),
                 ("verify", f"k={k}: false VERIFIED at the bound, throughput >= truth", pct(r["false level"])),
                 ("verify", f"k={k}: false VERIFIED at the bound, ratio >= 1.70 (truth 1.70)",
                  f"{pct(r['false ratio'])} (before: {pct(r['old false ratio'])})"),
                 ("verify", f"k={k}: power, ratio >= 1.50 (truth 1.70, CV {CV:.0%})", pct(r["power"]))]
    for (positive, accuracy, size), r in mcc.items():
        case = f"n={size}, {positive:.0%} positives, MCC {r['truth']:.2f}"
        rows += [("MCC", f"{case}: coverage, leaderboard interval", pct(r["leaderboard"])),
                 ("MCC", f"{case}: coverage, results.json ci95 (percentile bootstrap)", pct(r["results.json ci95"]))]
    print(f"Calibration (replications: leaderboard {args.replications}, verify {args.verify_replications} per k, "
          f"MCC {args.mcc_replications}; {args.draws} draws, verify {args.verify_draws}; seed {args.seed})\n")
    print("| where | quantity | measured |")
    print("|---|---|---|")
    for where, what, value in rows:
        print(f"| {where} | {what} | {value} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--replications", type=int, default=150)
    parser.add_argument("--verify-replications", type=int, default=1000)
    parser.add_argument("--mcc-replications", type=int, default=200)
    parser.add_argument("--draws", type=int, default=2000, help="leaderboard, compare and MCC draws")
    parser.add_argument("--verify-draws", type=int, default=4000, help="verify's draws (its default)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    times = [time.perf_counter()]
    lb = leaderboard_section(args.replications, args.draws, args.seed)
    times.append(time.perf_counter())
    ver = verify_section([2, 3, 5, 10], args.verify_replications, args.verify_draws, args.seed)
    times.append(time.perf_counter())
    mcc = mcc_section([30, 100], args.mcc_replications, args.draws, args.seed)
    times.append(time.perf_counter())
    print_table(lb, ver, mcc, args)
    spent = np.diff(times)
    print(f"\nwall time: leaderboard and compare {spent[0]:.0f} s, verify {spent[1]:.0f} s, MCC {spent[2]:.0f} s; "
          f"CPU time {time.process_time():.0f} s")


if __name__ == "__main__":
    main()
