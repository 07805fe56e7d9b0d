"""Paired comparison of two runs (`jlce compare RUN_A RUN_B`).

Per task both runs evaluated on the same data: B - A on the items both have, its Bayesian interval
and P(B > A) from the leaderboard's bootstrap (`jlce.claims.uncertainty.item_mean_draws`: shared
item weights keep the pairing, per-run prior pseudo-items keep P(B > A) off 0 and 1; with the same
seed the leaderboard of these two runs prints the same P(B > A)); a paired test (exact McNemar for
0/1 scores, a sign-flip permutation test otherwise) with Holm's adjustment across tasks, and an
effect size (Cohen's h, or d_z for continuous scores). Then the ratios B / A of speed, memory and
model quantities.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

import jlce
from jlce.claims.quantities import CATALOG, RunRecord, Unmeasured, load_run_record
from jlce.claims.runs import provenance_flags
from jlce.claims.uncertainty import item_mean_draws, per_item_scores
from jlce.errors import UserError, did_you_mean
from jlce.stats.bayes import credible_intervals, pairwise_probabilities, task_rng
from jlce.stats.frequentist import holm, pairwise_tests
from jlce.paths import atomic_write_text

RATIO_QUANTITIES = ("tokens_per_s", "requests_per_s", "latency_p50", "latency_p90", "wall_seconds",
                    "peak_gpu_memory_bytes", "peak_rss_bytes", "kv_bytes_per_token",
                    "n_parameters", "chars_per_token", "energy_per_token")


@dataclass(frozen=True)
class TaskComparison:
    task: str
    metric: str
    n_items: int
    a: float | None
    b: float | None
    difference: float | None  # B - A on the shared items
    lo: float | None
    hi: float | None
    p_b_better: float | None  # P(B > A) + 1/2 P(tie), posterior
    test: str | None = None
    p_value: float | None = None
    p_holm: float | None = None
    effect: str | None = None
    effect_size: float | None = None  # B relative to A
    b_only_correct: int | None = None  # discordant pairs (0/1 scores)
    a_only_correct: int | None = None
    note: str | None = None


@dataclass(frozen=True)
class Ratio:
    quantity: str
    unit: str
    a: float | None
    b: float | None
    ratio: float | None  # B / A
    note: str | None = None


@dataclass(frozen=True)
class Comparison:
    run_a: dict[str, Any]
    run_b: dict[str, Any]
    level: float
    seed: int
    draws: int
    permutations: int
    generated_at: str
    tasks: tuple[TaskComparison, ...]
    ratios: tuple[Ratio, ...]
    only_a: tuple[str, ...]
    only_b: tuple[str, ...]
    flags: tuple[str, ...]
    jlce_version: str = jlce.__version__


def _r(x: Any) -> float | None:
    return None if x is None or not np.isfinite(x) else float(f"{float(x):.6g}")


def _compare_task(task: str, metric: str, a: RunRecord, b: RunRecord, level: float, seed: int, draws: int,
                  permutations: int) -> TaskComparison:
    ea, eb = a.results["tasks"][task], b.results["tasks"][task]
    va, vb = ea["metrics"][metric].get("value"), eb["metrics"][metric].get("value")
    if ea.get("data_hash") != eb.get("data_hash"):
        return TaskComparison(task, metric, 0, _r(va), _r(vb), None, None, None, None,
                              note="the runs used different data (data_hash differs): not compared")
    try:
        ia, ib = per_item_scores(a, task, metric), per_item_scores(b, task, metric)
    except Unmeasured as error:
        return TaskComparison(task, metric, 0, _r(va), _r(vb), None, None, None, None, note=str(error))
    if ia is None or ib is None:
        diff = vb - va if isinstance(va, (int, float)) and isinstance(vb, (int, float)) else None
        return TaskComparison(task, metric, 0, _r(va), _r(vb), _r(diff), None, None, None,
                              note="corpus metric (not a mean of per-item scores): no interval or paired test")
    ids = sorted(set(ia) & set(ib), key=lambda d: (isinstance(d, str), d))
    if not ids:
        return TaskComparison(task, metric, 0, _r(va), _r(vb), None, None, None, None, note="no shared items")
    scores = np.array([[ia[d] for d in ids], [ib[d] for d in ids]])
    scale = ea["metrics"][metric].get("scale")  # a judged score's 1-10: its range, as the leaderboard's definition has it
    theta, _ = item_mean_draws(scores, draws, seed, task, tuple(scale) if isinstance(scale, list) and len(scale) == 2 else None)
    lo, hi = credible_intervals(theta[:, 1:] - theta[:, :1], level)
    tests = pairwise_tests(scores, task_rng(seed, f"permutation/{task}/{metric}"), permutations)
    binary = tests.test == "mcnemar_exact"
    n10 = int(np.sum((scores[1] == 1) & (scores[0] == 0))) if binary else None
    n01 = int(np.sum((scores[0] == 1) & (scores[1] == 0))) if binary else None
    dropped = max(len(ia), len(ib)) - len(ids)
    return TaskComparison(
        task, metric, len(ids), _r(scores[0].mean()), _r(scores[1].mean()), _r(scores[1].mean() - scores[0].mean()),
        _r(lo[0]), _r(hi[0]), _r(pairwise_probabilities(theta)[1, 0]), tests.test, _r(tests.p_value[0, 1]), None,
        tests.effect, _r(tests.effect_size[1, 0]), n10, n01,
        note=f"{dropped} items not in both runs left out" if dropped else None)


def _ratio(name: str, a: RunRecord, b: RunRecord) -> Ratio:
    definition = CATALOG[name]
    values: list[float | None] = []
    notes: list[str] = []
    for label, run in (("A", a), ("B", b)):
        try:
            values.append(definition.extract(run, ()))
        except Unmeasured as error:
            values.append(None)
            notes.append(f"{label}: {error}")
    va, vb = values
    ratio = vb / va if va not in (None, 0) and vb is not None else None
    return Ratio(name, definition.unit, _r(va), _r(vb), _r(ratio), "; ".join(notes) or None)


def compare_runs(run_a: str | Path, run_b: str | Path, *, tasks: Sequence[str] | None = None, metric: str | None = None,
                 level: float = 0.95, seed: int = 0, draws: int = 4000, permutations: int = 10_000) -> Comparison:
    a, b = load_run_record(run_a), load_run_record(run_b)
    ta, tb = a.results.get("tasks") or {}, b.results.get("tasks") or {}
    common = [t for t in ta if t in tb]
    if tasks:
        for t in tasks:
            if t not in common:
                raise UserError(f"task '{t}' is not in both runs{did_you_mean(t, common)}; shared: {', '.join(common) or 'none'}")
        common = [t for t in common if t in tasks]
    rows = []
    for task in common:
        chosen = metric or ta[task].get("primary_metric") or next(iter(ta[task].get("metrics") or {}), None)
        if chosen is None or chosen not in (ta[task].get("metrics") or {}) or chosen not in (tb[task].get("metrics") or {}):
            if metric is not None and tasks:
                raise UserError(f"task '{task}': metric '{metric}' is not in both runs")
            continue
        rows.append(_compare_task(task, chosen, a, b, level, seed, draws, permutations))
    adjusted = holm(np.array([np.nan if r.p_value is None else r.p_value for r in rows], dtype=float))
    rows = [TaskComparison(**{**asdict(r), "p_holm": _r(p)}) for r, p in zip(rows, adjusted)]
    return Comparison(
        run_a=a.identity(), run_b=b.identity(), level=level, seed=seed, draws=draws, permutations=permutations,
        generated_at=datetime.now(timezone.utc).isoformat(timespec="seconds"), tasks=tuple(rows),
        ratios=tuple(_ratio(name, a, b) for name in RATIO_QUANTITIES),
        only_a=tuple(t for t in ta if t not in tb), only_b=tuple(t for t in tb if t not in ta),
        flags=tuple(provenance_flags([("A", a), ("B", b)])),
    )


# ---- output -------------------------------------------------------------------------------------

def _n(x: float | None) -> str:
    from jlce.claims.render import num

    return num(x)


def _p(x: float | None) -> str:
    return "–" if x is None else ("<0.001" if x < 1e-3 else f"{x:.3f}")


TASK_COLUMNS = ("task", "metric", "n", "A", "B", "B − A [interval]", "P(B>A)", "test", "p", "p (Holm)", "effect")
RATIO_COLUMNS = ("quantity", "A", "B", "B / A")


def task_rows(c: Comparison) -> list[list[str]]:
    return [[t.task, t.metric, str(t.n_items), _n(t.a), _n(t.b),
             f"{_n(t.difference)} [{_n(t.lo)}, {_n(t.hi)}]" if t.lo is not None else _n(t.difference),
             _n(t.p_b_better), t.test or "–", _p(t.p_value), _p(t.p_holm),
             f"{t.effect} {_n(t.effect_size)}" if t.effect else "–"] for t in c.tasks]


def ratio_rows(c: Comparison) -> list[list[str]]:
    return [[f"{r.quantity} ({r.unit})" if r.unit else r.quantity, _n(r.a), _n(r.b), _n(r.ratio)]
            for r in c.ratios if r.a is not None or r.b is not None]


def _notes(c: Comparison) -> list[str]:
    notes = [f"{t.task}: {t.note}" for t in c.tasks if t.note]
    notes += [f"only in A: {', '.join(c.only_a)}"] if c.only_a else []
    notes += [f"only in B: {', '.join(c.only_b)}"] if c.only_b else []
    return notes + [f"flag: {f}" for f in c.flags]


def _d(x: float | None) -> str:
    return "–" if x is None else f"{x:.3f}"


def print_comparison(c: Comparison, console=None) -> None:
    """Compact terminal tables (the Markdown and LaTeX outputs carry every column)."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    console = console or Console()
    console.print(Text(f"A = {c.run_a['model']} ({c.run_a['path']})\nB = {c.run_b['model']} ({c.run_b['path']})"))
    from rich import box

    tasks = Table(title=f"B vs A per task ({c.level:.0%} intervals)", box=box.SIMPLE_HEAD)
    for i, column in enumerate(("task", "A", "B", "B−A [interval]", "P(B>A)", "p (Holm)", "effect")):
        tasks.add_column(column, justify="left" if i == 0 else "right", overflow="fold")
    short = {"cohen_h": "h", "cohen_dz": "dz"}
    for t in c.tasks:
        interval = f"{_d(t.difference)} [{_d(t.lo)}, {_d(t.hi)}]" if t.lo is not None else _d(t.difference)
        effect = f"{short.get(t.effect, t.effect)}={t.effect_size:.2f}" if t.effect and t.effect_size is not None else "–"
        p = f"{_p(t.p_value)} ({_p(t.p_holm)})" if t.p_value is not None else "–"
        tasks.add_row(*(Text(x) for x in (f"{t.task}\n{t.metric}, n={t.n_items}", _d(t.a), _d(t.b), interval,
                                          _d(t.p_b_better), p, effect)))
    console.print(tasks)
    ratios = Table(title="Speed, memory and model: B / A", box=box.SIMPLE_HEAD, pad_edge=False)
    for i, column in enumerate(RATIO_COLUMNS):
        ratios.add_column(column, justify="left" if i == 0 else "right", overflow="fold")
    for row in ratio_rows(c):
        ratios.add_row(*(Text(cell) for cell in row))
    console.print(ratios)
    console.print(Text("p: exact McNemar (0/1 scores) or paired permutation test; h: Cohen's h; dz: Cohen's d_z"))
    for note in _notes(c):
        console.print(Text(note))


def render_markdown(c: Comparison) -> str:
    from jlce.leaderboard.render_md import escape

    def table(columns: Sequence[str], rows: list[list[str]]) -> list[str]:
        return ["| " + " | ".join(escape(col) for col in columns) + " |", "|" + "|".join(":---" if i == 0 else "---:" for i in range(len(columns))) + "|",
                *("| " + " | ".join(escape(cell) for cell in row) + " |" for row in rows)]

    out = [f"# {escape(c.run_b['model'])} (B) vs {escape(c.run_a['model'])} (A)", "",
           (f"Runs {escape(c.run_a['run_id'])} (A) and {escape(c.run_b['run_id'])} (B). Differences are B − A on the "
            f"items both runs scored, with {c.level:.0%} Bayesian intervals ({c.draws} draws, seed {c.seed}); p-values "
            "from exact McNemar (0/1 scores) or paired permutation tests, Holm-adjusted across tasks."), "",
           *table(TASK_COLUMNS, task_rows(c)), "", *table(RATIO_COLUMNS, ratio_rows(c)), ""]
    out += [f"- {escape(note)}" for note in _notes(c)]
    return "\n".join(out).rstrip() + "\n"


def render_latex(c: Comparison) -> str:
    from jlce.leaderboard.render_tex import escape

    def tabular(columns: Sequence[str], rows: list[list[str]]) -> list[str]:
        lines = [rf"\begin{{tabular}}{{l{'r' * (len(columns) - 1)}}}", r"\toprule",
                 " & ".join(escape(col) for col in columns) + r" \\", r"\midrule"]
        lines += [" & ".join(escape(cell).replace("–", "--").replace("−", "$-$") for cell in row) + r" \\" for row in rows]
        return lines + [r"\bottomrule", r"\end{tabular}"]

    cols = [c for c in TASK_COLUMNS if c != "metric"]
    rows = [[cell for i, cell in enumerate(row) if i != 1] for row in task_rows(c)]
    return "\n".join([
        r"% Needs \usepackage{booktabs}.", r"\begin{table}[t]", r"\centering", r"\small",
        (rf"\caption{{{escape(c.run_b['model'])} (B) vs {escape(c.run_a['model'])} (A): B $-$ A with "
         rf"{c.level * 100:.0f}\% Bayesian intervals; exact McNemar or paired permutation p-values, Holm-adjusted "
         r"across tasks.}"),
        *tabular([col.replace("−", "-") for col in cols], rows),
        r"\smallskip", "", *tabular(RATIO_COLUMNS, ratio_rows(c)), r"\end{table}"]) + "\n"


def to_dict(c: Comparison) -> dict[str, Any]:
    return {"schema": "jlce-compare/1", **asdict(c)}


def write_outputs(c: Comparison, directory: str | Path) -> list[Path]:
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, text in (("comparison.json", json.dumps(to_dict(c), ensure_ascii=False, indent=2, allow_nan=False) + "\n"),
                       ("comparison.md", render_markdown(c)), ("comparison.tex", render_latex(c))):
        atomic_write_text(directory / name, text)
        paths.append(directory / name)
    return paths
