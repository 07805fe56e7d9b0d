"""leaderboard.csv: one row per (scope, model), long format, for spreadsheets and pandas."""

from __future__ import annotations

import csv
import io
from typing import Any

from jlce.leaderboard.schema import Leaderboard

FIELDS = ("scope_kind", "scope", "model", "metric", "observed", "mean", "lo", "hi", "expected_rank", "rank_ub",
          "p_rank1", "normalized", "n_items", "freq_lo", "freq_hi")


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n", "\uff1d", "\uff0b", "\uff0d", "\uff20")


def cell(value: Any) -> Any:
    """A cell a spreadsheet shows as text: strings that start like a formula (`= + - @`, a tab,
    a line break, or their full-width forms) get a leading apostrophe. Numbers are left alone."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def render(board: Leaderboard) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=FIELDS, lineterminator="\n")
    writer.writeheader()
    scopes = ([board.overall] if board.overall else []) + board.categories + board.tasks
    for scope in scopes:
        for e in scope.entries:
            writer.writerow({key: cell(value) for key, value in {
                "scope_kind": scope.kind, "scope": scope.name, "model": e.model, "metric": scope.metric or "",
                "observed": e.observed, "mean": e.mean, "lo": e.lo, "hi": e.hi, "expected_rank": e.expected_rank,
                "rank_ub": e.rank_ub, "p_rank1": e.p_rank[0],
                "normalized": "" if e.normalized is None else e.normalized,
                "n_items": "" if scope.n_items is None else scope.n_items,
                "freq_lo": e.freq_interval[0] if e.freq_interval else "",
                "freq_hi": e.freq_interval[1] if e.freq_interval else "",
            }.items()})
    return buf.getvalue()
