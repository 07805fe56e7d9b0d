"""Build a leaderboard from run directories: check inputs, bootstrap, rank, test, assemble."""

from __future__ import annotations

from typing import Any

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

import jlce
from jlce.atomicdir import write_folder
from jlce.errors import UserError
from jlce.leaderboard import schema
from jlce.stats.bayes import (
    DEFAULT_DRAWS,
    UNIT_PRIOR,
    Prior,
    ScopeStats,
    combine,
    posterior_draws,
    summarize,
    task_rng,
)
from jlce.leaderboard.definition import LeaderboardDefinition, load_definition
from jlce.stats.frequentist import DEFAULT_PERMUTATIONS, pairwise_tests, t_interval, wilson_intervals
from jlce.leaderboard.inputs import Run, check_compatible, expand_run_dirs, load_run, select_runs
from jlce.leaderboard.matching import PreparedTask, prepare_task

MIN_DRAWS = 100

METHOD = (
    "Bayesian bootstrap over items: per draw one Dirichlet(1,...,1) weight vector over the items shared by all "
    "models of a task, and for each model its own two prior pseudo-items (worst and best value) with weights "
    "drawn independently of the other models, so each model's marginal is the uniform-prior posterior and "
    "pairwise and rank probabilities keep the prior's uncertainty about the items two models disagree on; "
    "corpus statistics recomputed under the same item weights; tasks normalized and combined by weight on every "
    "draw; equal-tailed credible intervals; P(rank = k) and P(A > B) + 1/2 P(tie) from the joint draws. Models "
    "are listed by observed score; equal observed scores share a position. Frequentist companions: Wilson/t "
    "intervals, exact McNemar (binary) or paired sign-flip permutation tests (continuous), Holm across each "
    "task's pairs, Cohen's h / d_z."
)


def _r(x: float) -> float:
    """Round to 6 significant digits (keeps JSON small and stable)."""
    return float(f"{float(x):.6g}")


def _matrix(a: np.ndarray, order: np.ndarray, significant: bool = False) -> list[list[float]]:
    """Reordered matrix as lists. Probabilities from draws are multiples of 1/(2S) and print short
    as they are; `significant` rounds to 6 significant digits (p-values, effect sizes)."""
    a = a[np.ix_(order, order)]
    return [[_r(v) for v in row] for row in a] if significant else a.tolist()


def _scope(kind: schema.ScopeKind, name: str, title: str, models: Sequence[str], observed: np.ndarray, st: ScopeStats,
           higher_is_better: bool = True, extra: Mapping[str, list] | None = None, **fields) -> schema.Scope:
    """Assemble a Scope with entries sorted by observed score (best first), then by name. Models whose
    observed scores are equal (to the 6 significant digits shown) share a position."""
    sign = 1.0 if higher_is_better else -1.0
    shown = [-sign * _r(v) for v in observed]
    order = np.array(sorted(range(len(models)), key=lambda i: (shown[i], models[i])), dtype=int)
    extra = extra or {}
    entries = []
    for i in order:
        entries.append(schema.Entry(
            model=models[i], position=1 + sum(v < shown[i] for v in shown), observed=_r(observed[i]),
            mean=_r(st.mean[i]), lo=_r(st.lo[i]), hi=_r(st.hi[i]),
            expected_rank=_r(st.expected_rank[i]), rank_ub=int(st.rank_ub[i]),
            p_rank=st.p_rank[i].tolist(), **{k: v[i] for k, v in extra.items()},
        ))
    freq = fields.pop("frequentist", None)
    if freq is not None:
        freq = freq(order)
    return schema.Scope(kind=kind, name=name, title=title, models=[models[i] for i in order], entries=entries,
                        p_better=_matrix(st.p_better, order), higher_is_better=higher_is_better,
                        frequentist=freq, **fields)


def _frequentist(task: PreparedTask, seed: int, permutations: int, level: float):
    """Per-model frequentist intervals (list by model), their method, and a factory for the pairwise block."""
    if task.unit_scores is None or task.raw_scores is None:  # a corpus statistic: both absent
        return None, None, None
    unit, raw = task.unit_scores, task.raw_scores
    binary = bool(np.all((unit == 0) | (unit == 1)))
    lo, span = task.scale
    intervals: list[tuple[float, float]]
    if binary:
        low, high = wilson_intervals(unit.sum(axis=1), np.full(unit.shape[0], unit.shape[1]), level)
        intervals = [(_r(lo + span * a), _r(lo + span * b)) for a, b in zip(low, high)]
    else:
        top = lo + span

        def clip(v: float) -> float:
            return _r(min(max(v, lo), top))

        intervals = [(clip(a), clip(b)) for a, b in (t_interval(row, level) for row in raw)]
    method = "wilson" if binary else "t"
    if len(task.models) < 2:
        return intervals, method, None
    tests = pairwise_tests(unit, task_rng(seed, "permutation:" + task.key), permutations)

    def block(order: np.ndarray) -> schema.Frequentist:
        return schema.Frequentist(
            test=tests.test, permutations=tests.permutations, p_value=_matrix(tests.p_value, order, True),
            p_holm=_matrix(tests.p_holm, order, True), effect=tests.effect,
            effect_size=_matrix(tests.effect_size, order, True),
        )

    return intervals, method, block


def _definition_info(d: LeaderboardDefinition) -> schema.DefinitionInfo:
    weights = d.task_weights()
    return schema.DefinitionInfo(
        name=d.name, version=d.version, title=d.title, description=d.description, source=d.source,
        sha256=d.sha256, normalize=d.normalize,
        categories=[schema.CategoryInfo(name=c, title=cd.title or c, weight=cd.weight,
                                        tasks=[k for k, t in d.tasks.items() if t.category == c])
                    for c, cd in d.categories.items()],
        tasks=[schema.TaskInfo(name=k, source_task=d.source_task(k), title=t.title or k, category=t.category,
                               metric=t.metric, statistic=t.statistic, range=t.range,
                               higher_is_better=t.higher_is_better, chance=t.chance, baseline=d.baseline(k),
                               weight=_r(weights[k]), note=t.note)
               for k, t in d.tasks.items()],
    )


def _timestamp() -> str:
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    moment = datetime.fromtimestamp(int(epoch), timezone.utc) if epoch else datetime.now(timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class _Normalized:
    """A task's draws and observed scores on the aggregation scale (0 = baseline, 1 = best)."""

    index: dict[str, int]  # model -> column
    draws: np.ndarray  # (S, M)
    observed: np.ndarray  # (M,)


def _prepare_tasks(d: LeaderboardDefinition, runs: Sequence[Run], allow_mismatch: bool):
    """Check and read every task some run has; returns the tasks, mismatches and warnings."""
    tasks: dict[str, PreparedTask] = {}
    mismatches: list[dict] = []
    warnings: list[str] = []
    for key, tdef in d.tasks.items():
        source = d.source_task(key)
        having = [r for r in runs if source in r.tasks]
        if not having:
            warnings.append(f"task '{key}': no run has it")
            continue
        mismatches += check_compatible(source, having, allow_mismatch)
        tasks[key] = prepare_task(key, tdef, source, having)
        warnings += tasks[key].warnings
    return tasks, mismatches, warnings


def _task_scope(d: LeaderboardDefinition, key: str, task: PreparedTask, seed: int, draws: int,
                permutations: int) -> tuple[schema.Scope, _Normalized]:
    """Bootstrap one task, summarize it, and add the frequentist companions."""
    tdef = d.tasks[key]
    prior = UNIT_PRIOR if task.unit_scores is not None else Prior(*tdef.range)
    metric_draws = task.to_metric(posterior_draws(task.stat, draws, seed, key, prior))
    observed = task.observed()
    base, best = d.baseline(key), tdef.best
    norm = _Normalized({m: i for i, m in enumerate(task.models)}, (metric_draws - base) / (best - base),
                       (observed - base) / (best - base))
    intervals, method, block = _frequentist(task, seed, permutations, d.level)
    extra: dict[str, list[Any]] = {"normalized": [_r(v) for v in norm.observed], "n_invalid": [task.n_invalid.get(m, 0) for m in task.models]}
    if intervals is not None:
        extra["freq_interval"] = intervals
    note = None if task.unit_scores is not None else (
        "corpus statistic: no per-item scores, so no frequentist pairwise tests; see p_better")
    st = summarize(metric_draws, d.level, tdef.higher_is_better)
    scope = _scope("task", key, tdef.title or key, task.models, observed, st, tdef.higher_is_better, extra,
                   metric=tdef.metric, statistic=tdef.statistic, range=tdef.range, n_items=task.n_items,
                   frequentist=block, freq_interval_method=method, note=note)
    return scope, norm


def _combined_scope(kind: schema.ScopeKind, name: str, title: str, keys: list[str], weights: np.ndarray, models: list[str],
                    normalized: Mapping[str, _Normalized], level: float) -> schema.Scope | None:
    """Rank the models that have every one of `keys` by the weighted mean of their normalized scores."""
    members = [m for m in models if all(k in normalized and m in normalized[k].index for k in keys)]
    if not members:
        return None
    cols = [[normalized[k].index[m] for m in members] for k in keys]
    total = combine([normalized[k].draws[:, c] for k, c in zip(keys, cols)], weights)
    observed = combine([normalized[k].observed[None, c] for k, c in zip(keys, cols)], weights)[0]
    return _scope(kind, name, title, members, observed, summarize(total, level))


def build_leaderboard(run_dirs: Sequence[str | Path], definition: LeaderboardDefinition | str | Path | None = None,
                      *, seed: int = 0, draws: int = DEFAULT_DRAWS, allow_mismatch: bool = False,
                      choose: Mapping[str, str | Path] | None = None,
                      permutations: int = DEFAULT_PERMUTATIONS) -> schema.Leaderboard:
    """Build the leaderboard document from run directories (see docs/leaderboard.md)."""
    d = definition if isinstance(definition, LeaderboardDefinition) else load_definition(definition)
    if draws < MIN_DRAWS:
        raise UserError(f"--draws must be at least {MIN_DRAWS} (4000 or more recommended), got {draws}")
    if permutations < 1:
        raise UserError(f"--permutations must be positive, got {permutations}")
    selection = select_runs([load_run(p) for p in expand_run_dirs(run_dirs)], choose)
    runs = selection.runs
    tasks, mismatches, warnings = _prepare_tasks(d, runs, allow_mismatch)
    task_scopes, normalized = [], {}
    for key, task in tasks.items():
        scope, normalized[key] = _task_scope(d, key, task, seed, draws, permutations)
        task_scopes.append(scope)

    models = [r.model for r in runs]
    category_scopes = []
    for cat, cdef in d.categories.items():
        keys = [k for k, t in d.tasks.items() if t.category == cat]
        combined = _combined_scope("category", cat, cdef.title or cat, keys,
                                   np.array([d.tasks[k].weight for k in keys]), models, normalized, d.level)
        if combined is None:
            warnings.append(f"category '{cat}': no model has all its tasks; not ranked")
        else:
            category_scopes.append(combined)
    weights = d.task_weights()
    overall = _combined_scope("overall", "overall", d.title, list(d.tasks), np.array([weights[k] for k in d.tasks]),
                              models, normalized, d.level)
    missing = {r.model: [k for k in d.tasks if d.source_task(k) not in r.tasks] for r in runs}
    incomplete = [m for m in models if missing[m]]
    if overall is None:
        warnings.append("no model has every task: no overall ranking")
    elif incomplete:
        warnings.append("left out of the overall ranking (missing tasks): "
                        + "; ".join(f"{m}: {', '.join(missing[m])}" for m in incomplete))

    return schema.Leaderboard(
        jlce_version=jlce.__version__, generated_at=_timestamp(), method=METHOD, definition=_definition_info(d),
        settings=schema.Settings(seed=seed, draws=draws, level=d.level, permutations=permutations,
                                 allow_mismatch=allow_mismatch, chosen=dict(selection.chosen),
                                 dropped_runs=list(selection.dropped)),
        models=[schema.ModelInfo(name=r.model, run_dir=str(r.path), run_id=r.run_id, backend=r.backend,
                                 fingerprint_hash=r.fingerprint_hash, complete=not missing[r.model],
                                 missing_tasks=missing[r.model],
                                 dropped_items={k: t.dropped[r.model] for k, t in tasks.items()
                                                if r.model in t.dropped},
                                 **_thinking_cost(r, d))
                for r in runs],
        overall=overall, categories=category_scopes, tasks=task_scopes,
        mismatches=[schema.Mismatch(**m) for m in mismatches], warnings=warnings,
    )


def _thinking_cost(run: Any, d: Any) -> dict[str, Any]:
    """Tokens per correct output of one run's leaderboard tasks (jlce.leaderboard.thinking)."""
    from jlce.leaderboard.thinking import task_cost, tokens_per_correct

    costs = {}
    for key, task in d.tasks.items():
        record = run.tasks.get(d.source_task(key))
        if record is not None:
            score = (record.metrics.get(task.metric) or {}).get("value")
            costs[key] = task_cost(record.reasoning, score)
    per_task, overall = tokens_per_correct(costs)
    return {"tokens_per_correct": per_task, "tokens_per_correct_overall": overall}


def write_outputs(board: schema.Leaderboard, out_dir: str | Path) -> list[Path]:
    """Write leaderboard.json, .md, .tex, .csv and index.html into `out_dir`."""
    from jlce.leaderboard import render_csv, render_html, render_md, render_tex

    out = Path(out_dir)
    files = {
        "leaderboard.json": board.model_dump_json(indent=1) + "\n",
        "leaderboard.md": render_md.render(board),
        "leaderboard.tex": render_tex.render(board),
        "leaderboard.csv": render_csv.render(board),
        "index.html": render_html.render(board),
    }
    try:  # all five files are written beside `out`, then renamed in: a full disk leaves no file cut short
        return write_folder(out, files)
    except OSError as exc:
        raise UserError(f"cannot write the leaderboard to {out}: {exc.strerror or exc}; any earlier leaderboard "
                        "there is unchanged") from None
