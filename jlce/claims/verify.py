"""Check claims against runs: VERIFIED, REFUTED, INCONCLUSIVE or UNMEASURED.

For each link `left op right` of a check, the margin (left - right for > and >=, right - left
for < and <=) is evaluated on every posterior draw. With the claim's confidence c, the central
c-interval of the margin decides: entirely on the claim's side -> VERIFIED, entirely on the other
side -> REFUTED, else INCONCLUSIVE. So VERIFIED means the claim holds with probability at least
(1 + c) / 2 under the posterior, and the reported interval is the one that decided. A quantity
the runs did not measure makes the claim UNMEASURED; a varying quantity measured once (one run)
has no interval, so such a claim is at most INCONCLUSIVE.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TypedDict

import numpy as np

import jlce
from jlce.claims.expressions import (
    Comparison,
    Quantity,
    evaluate,
    is_constant,
    quantities,
    to_text,
)
from jlce.claims.quantities import (
    CATALOG,
    RunRecord,
    Unmeasured,
    kind_of,
    metric_target,
)
from jlce.claims.runs import Bound, bind_runs, provenance_flags
from jlce.claims.schema import Claim, load_claims
from jlce.claims.uncertainty import Estimate, metric_estimates, run_estimate

VERIFIED, REFUTED, INCONCLUSIVE, UNMEASURED = "VERIFIED", "REFUTED", "INCONCLUSIVE", "UNMEASURED"
STATUSES = (VERIFIED, REFUTED, INCONCLUSIVE, UNMEASURED)


@dataclass(frozen=True)
class Term:
    """One side of a comparison, or one quantity."""

    text: str
    point: float | None
    lo: float | None
    hi: float | None
    method: str = ""


@dataclass(frozen=True)
class ClaimResult:
    id: str
    statement: str
    check: str
    confidence: float
    status: str
    estimate: Term | None  # the first measured side of the comparison
    reference: Term | None  # what it is compared with (first link)
    margins: tuple[Term, ...] = ()  # one per link: > 0 means the link holds
    probability: float | None = None  # posterior P(every link holds)
    quantities: tuple[Term, ...] = ()
    reasons: tuple[str, ...] = ()
    flags: tuple[str, ...] = ()
    runs: tuple[dict[str, Any], ...] = ()
    source: str | None = None


class _ClaimFields(TypedDict):
    """The fields of a ClaimResult that come from the claim itself, whatever its status."""

    id: str
    statement: str
    check: str
    confidence: float
    runs: tuple[dict[str, Any], ...]
    source: str | None


@dataclass(frozen=True)
class Verification:
    claims_file: str
    claims_sha256: str
    title: str | None
    seed: int
    draws: int
    generated_at: str
    jlce_version: str
    results: tuple[ClaimResult, ...]
    warnings: tuple[str, ...] = field(default_factory=tuple)

    @property
    def all_verified(self) -> bool:
        return all(r.status == VERIFIED for r in self.results)

    def counts(self) -> dict[str, int]:
        return {s: sum(r.status == s for r in self.results) for s in STATUSES}


def _interval(draws: np.ndarray, level: float) -> tuple[float, float]:
    lo, hi = np.quantile(draws, [(1 - level) / 2, (1 + level) / 2])
    return float(lo), float(hi)


def _finite(x: float) -> float | None:
    return float(x) if np.isfinite(x) else None


class _Estimator:
    """Estimates of the quantities of one claim, sharing pairings (items per task, runs per label)."""

    def __init__(self, bound: Bound, draws: int, seed: int):
        self.bound, self.draws, self.seed = bound, draws, seed

    def estimate(self, qs: Sequence[Quantity]) -> tuple[dict[Quantity, Estimate], list[str]]:
        found: dict[Quantity, Estimate] = {}
        missing: list[str] = []
        by_task: dict[str, dict[tuple[str, str], RunRecord]] = {}
        metric_of: dict[Quantity, tuple[str, str]] = {}
        for q in qs:
            runs = self.bound.runs.get(q.label) or ()
            if not runs:
                missing.append(f"{q.text}: no run directory was given for label {q.label}")
                continue
            try:
                if kind_of(q.name) == "metric":
                    task, metric = metric_target(runs[0], q.name, q.args)
                    metric_of[q] = (task, metric)
                    by_task.setdefault(task, {})[(q.label, metric)] = runs[0]
                else:
                    found[q] = self._per_run(q, runs)
            except Unmeasured as error:
                missing.append(f"{q.text}: {error}")
        for task, rows in by_task.items():
            try:
                estimates = metric_estimates(task, rows, self.draws, self.seed)
            except Unmeasured as error:  # each reason names the run that lacks the quantity
                by_key = getattr(error, "by_key", None)
                missing.extend(f"{q.text}: {by_key[(q.label, m)] if by_key else error}"
                               for q, (t, m) in metric_of.items() if t == task and (not by_key or (q.label, m) in by_key))
                continue
            for q, (t, metric) in metric_of.items():
                if t == task:
                    found[q] = estimates[(q.label, metric)]
        return found, missing

    def _per_run(self, q: Quantity, runs: Sequence[RunRecord]) -> Estimate:
        definition = CATALOG[q.name]
        values, used, errors = [], [], []
        for run in runs:
            try:
                values.append(definition.extract(run, q.args))
                used.append(run)
            except Unmeasured as error:
                errors.append(str(error))
        if not values:
            raise Unmeasured(errors[0])
        estimate = run_estimate(q.label, used, values, definition.kind == "exact", self.draws, self.seed)
        if errors:
            note = f"{q.text}: {len(errors)} of {len(runs)} runs did not measure it ({errors[0]})"
            estimate = Estimate(estimate.point, estimate.draws, estimate.method, estimate.has_interval,
                                estimate.n, estimate.notes + (note,))
        return estimate


def _term(text: str, point: float, draws: np.ndarray, level: float, method: str = "") -> Term:
    lo, hi = _interval(draws, level) if np.all(np.isfinite(draws)) else (float("nan"), float("nan"))
    return Term(text, _finite(point), _finite(lo), _finite(hi), method)


def _decide(check: Comparison, points: Mapping[Quantity, float], draws: Mapping[Quantity, np.ndarray],
            level: float) -> tuple[str, list[Term], list[Term], float | None, list[str]]:
    """Status from the margins' intervals; the operand terms, margin terms, P(holds) and reasons."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        point_values = [np.float64(evaluate(op, lambda q: np.float64(points[q]))) for op in check.operands]
        draw_values = [np.broadcast_to(np.asarray(evaluate(op, lambda q: draws[q]), dtype=float),
                                       next(iter(draws.values())).shape) for op in check.operands]
    operands = [_term(to_text(op), p, d, level) for op, p, d in zip(check.operands, point_values, draw_values)]
    if not all(np.isfinite(p) for p in point_values) or not all(np.all(np.isfinite(d)) for d in draw_values):
        return INCONCLUSIVE, operands, [], None, ["the check divides by zero or overflows on the measured values"]
    margins, verdicts, holds = [], [], np.ones_like(draw_values[0], dtype=bool)
    for i, op in enumerate(check.ops):
        left, right = draw_values[i], draw_values[i + 1]
        margin = left - right if op in (">", ">=") else right - left
        point = (point_values[i] - point_values[i + 1]) * (1 if op in (">", ">=") else -1)
        strict = op in ("<", ">")
        lo, hi = _interval(margin, level)
        holds &= margin > 0 if strict else margin >= 0
        text = f"{to_text(check.operands[i])} {op} {to_text(check.operands[i + 1])}"
        margins.append(Term(text, float(point), lo, hi))
        verdicts.append(VERIFIED if (lo > 0 if strict else lo >= 0) else REFUTED if (hi <= 0 if strict else hi < 0)
                        else INCONCLUSIVE)
    status = REFUTED if REFUTED in verdicts else VERIFIED if all(v == VERIFIED for v in verdicts) else INCONCLUSIVE
    reasons = []
    if status == INCONCLUSIVE:
        reasons.append(f"the {level:.0%} interval of the margin includes the claimed bound")
    return status, operands, margins, float(holds.mean()), reasons


def verify_claim(claim: Claim, confidence: float, bound: Bound, draws: int, seed: int) -> ClaimResult:
    check = claim.parsed
    qs = quantities(check)
    estimates, missing = _Estimator(bound, draws, seed).estimate(qs)
    labels = list(dict.fromkeys(q.label for q in qs))
    used = [(label, run) for label in labels for run in bound.runs.get(label, ())]
    runs = tuple({"label": label, **run.identity()} for label, run in used)
    flags = provenance_flags(used)
    flags.extend(_data_flags({q.args[0] for q in qs if kind_of(q.name) == "metric"}, bound, labels))
    base: _ClaimFields = {"id": claim.id, "statement": claim.statement, "check": claim.check, "confidence": confidence,
            "runs": runs, "source": claim.source}
    if missing:
        return ClaimResult(status=UNMEASURED, estimate=None, reference=None, reasons=tuple(missing),
                           flags=tuple(dict.fromkeys(flags)), **base)
    terms = tuple(_term(q.text, e.point, e.draws, confidence, e.method) for q, e in estimates.items())
    status, operands, margins, probability, reasons = _decide(
        check, {q: e.point for q, e in estimates.items()}, {q: e.draws for q, e in estimates.items()}, confidence)
    without = [q.text for q, e in estimates.items() if not e.has_interval]
    if without:  # said even when the interval already left it open: one run is the first thing to fix
        says = f"the point estimate says {status}, but" if status != INCONCLUSIVE else "also,"
        reasons = [f"{says} {', '.join(without)} has no interval (one measurement)", *reasons]
        status = INCONCLUSIVE
    notes = [n for e in estimates.values() for n in e.notes]
    subject = next((i for i, op in enumerate(check.operands) if not is_constant(op)), 0)
    other = subject + 1 if subject + 1 < len(operands) else subject - 1
    return ClaimResult(status=status, estimate=operands[subject], reference=operands[other], margins=tuple(margins),
                       probability=probability, quantities=terms, reasons=tuple(reasons + notes),
                       flags=tuple(dict.fromkeys(flags)), **base)


def _data_flags(tasks: set[str], bound: Bound, labels: Sequence[str]) -> list[str]:
    flags = []
    for task in sorted(tasks):
        hashes: dict[str, list[str]] = {}
        for label in labels:
            runs = bound.runs.get(label) or ()
            entry = (runs[0].results.get("tasks") or {}).get(task) if runs else None
            if isinstance(entry, Mapping):
                hashes.setdefault(str(entry.get("data_hash")), []).append(label)
        if len(hashes) > 1:
            detail = " vs ".join(f"{h[:12]} ({', '.join(ls)})" for h, ls in hashes.items())
            flags.append(f"task '{task}' was evaluated on different data: data_hash {detail}")
    return flags


def verify_claims(claims_path: str | Path, run_args: Sequence[str], *, seed: int | None = None,
           draws: int | None = None) -> Verification:
    """Check every claim of a claims file against the runs (`RUN_DIR` or `LABEL=RUN_DIR`)."""
    from jlce.claims.runs import split_run_args

    spec, sha = load_claims(claims_path, cli_labels=set(split_run_args(run_args)[0]))
    bound = bind_runs(spec.runs, run_args)
    seed = spec.seed if seed is None else seed
    draws = spec.draws if draws is None else draws
    results = tuple(verify_claim(c, spec.confidence_of(c), bound, draws, seed) for c in spec.claims)
    warnings = tuple(f"run {r.path} ({r.model}) matches no run label and was not used" for r in bound.unused)
    return Verification(claims_file=str(claims_path), claims_sha256=sha, title=spec.title, seed=seed, draws=draws,
                        generated_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
                        jlce_version=jlce.__version__, results=results, warnings=warnings)
