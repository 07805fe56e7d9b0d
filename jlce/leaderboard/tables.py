"""Shared table layout for the renderers: which columns, which rows, how numbers are shown.

Scores are shown on a 0-100 scale: normalized scores and metrics whose range spans at most 2
(accuracy, F1, correlations) are multiplied by 100; metrics already on 0-100 (chrF, SARI) are not.
"""

from __future__ import annotations

from dataclasses import dataclass

from jlce.leaderboard.schema import Entry, Leaderboard, Scope


@dataclass(frozen=True)
class Cell:
    text: str  # plain text, unescaped (each renderer escapes for its format)
    value: float | None  # for sorting; None sorts last
    lo: float | None = None
    hi: float | None = None


@dataclass(frozen=True)
class Column:
    key: str
    title: str
    numeric: bool = True


@dataclass(frozen=True)
class Table:
    columns: tuple[Column, ...]
    rows: tuple[tuple[Cell, ...], ...]


def factor(scope: Scope) -> float:
    if scope.kind != "task" or scope.range is None:
        return 100.0
    lo, hi = scope.range
    return 100.0 if hi - lo <= 2 else 1.0


def num(value: float | None, f: float = 100.0, digits: int = 1) -> str:
    return "" if value is None else f"{value * f:.{digits}f}"


def interval(entry: Entry, f: float) -> str:
    return f"[{num(entry.lo, f)}, {num(entry.hi, f)}]"


def position(scope: Scope, entry: Entry) -> Cell:
    """The entry's place by observed score; "2=" when another model shares it (a tie)."""
    shared = sum(e.position == entry.position for e in scope.entries) > 1
    return Cell(f"{entry.position}{'=' if shared else ''}", entry.position)


def entry_map(scope: Scope | None) -> dict[str, Entry]:
    return {e.model: e for e in scope.entries} if scope else {}


def overview(board: Leaderboard) -> Table:
    """One row per model: overall (with interval and ranks), each category, each task (observed)."""
    overall = entry_map(board.overall)
    cats = [(c, entry_map(c)) for c in board.categories]
    tasks = [(t, entry_map(t)) for t in board.tasks]
    columns = [Column("position", "#"), Column("rank_ub", "Rank (UB)"), Column("model", "Model", numeric=False),
               Column("overall", "Overall"), Column("interval", f"{board.settings.level:.0%} CrI", numeric=False),
               Column("expected_rank", "E[rank]"), Column("p_best", "P(best)")]
    columns += [Column(f"cat:{c.name}", c.title) for c, _ in cats]
    columns += [Column(f"task:{t.name}", t.title) for t, _ in tasks]
    ranked = [e.model for e in board.overall.entries] if board.overall else []
    rest = sorted((m.name for m in board.models if m.name not in overall),
                  key=lambda name: (-sum(1 for _, em in tasks if name in em), name))
    rows = []
    for name in ranked + rest:
        e = overall.get(name)
        row = [
            position(board.overall, e) if e and board.overall else Cell("", None),
            Cell(str(e.rank_ub), e.rank_ub) if e else Cell("", None),
            Cell(name, None),
            Cell(num(e.observed), e.observed, e.lo, e.hi) if e else Cell("—", None),
            Cell(interval(e, 100.0), e.lo) if e else Cell("", None),
            Cell(f"{e.expected_rank:.2f}", e.expected_rank) if e else Cell("", None),
            Cell(f"{e.p_rank[0]:.3f}", e.p_rank[0]) if e else Cell("", None),
        ]
        for scope, em in cats + tasks:
            ce = em.get(name)
            f = factor(scope)
            row.append(Cell(num(ce.observed, f), ce.observed, ce.lo, ce.hi) if ce else Cell("—", None))
        rows.append(tuple(row))
    return Table(tuple(columns), tuple(rows))


def scope_table(scope: Scope) -> Table:
    """Detail of one scope: score, interval, frequentist interval, ranks."""
    f = factor(scope)
    columns = [Column("position", "#"), Column("rank_ub", "Rank (UB)"), Column("model", "Model", numeric=False),
               Column("score", "Score"), Column("interval", "CrI", numeric=False),
               Column("expected_rank", "E[rank]"), Column("p_best", "P(best)")]
    freq = scope.kind == "task" and any(e.freq_interval for e in scope.entries)
    if freq:
        method = {"wilson": "Wilson", "t": "t", None: "Freq."}[scope.freq_interval_method]
        columns.append(Column("freq", f"{method} CI", numeric=False))
    rows = []
    for e in scope.entries:
        row = [position(scope, e), Cell(str(e.rank_ub), e.rank_ub), Cell(e.model, None), Cell(num(e.observed, f), e.observed, e.lo, e.hi),
               Cell(interval(e, f), e.lo), Cell(f"{e.expected_rank:.2f}", e.expected_rank),
               Cell(f"{e.p_rank[0]:.3f}", e.p_rank[0])]
        if freq:
            fi = e.freq_interval
            row.append(Cell(f"[{num(fi[0], f)}, {num(fi[1], f)}]" if fi else "", fi[0] if fi else None))
        rows.append(tuple(row))
    return Table(tuple(columns), tuple(rows))


def adjacent_pairs(scope: Scope) -> list[tuple[str, str, float, float | None]]:
    """(better, next, P(better > next), Holm p) for neighbours in the scope's order."""
    out = []
    for i in range(len(scope.models) - 1):
        holm = scope.frequentist.p_holm[i][i + 1] if scope.frequentist else None
        out.append((scope.models[i], scope.models[i + 1], scope.p_better[i][i + 1], holm))
    return out
