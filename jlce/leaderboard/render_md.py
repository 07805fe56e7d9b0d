"""leaderboard.md: GitHub-flavoured Markdown. Every user-supplied string is escaped."""

from __future__ import annotations

import html
import re

from jlce.leaderboard.schema import Leaderboard
from jlce.leaderboard.tables import Table, adjacent_pairs, overview, scope_table

_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+!|~$-])")  # `$`: GitHub renders $...$ as math


def escape(text: object) -> str:
    """Escape Markdown syntax and HTML (names like `<script>` render as text)."""
    text = html.escape(str(text), quote=False)
    text = _SPECIAL.sub(r"\\\1", text)
    return " ".join(text.split())  # no line breaks inside table cells


def table(t: Table) -> str:
    head = "| " + " | ".join(escape(c.title) for c in t.columns) + " |"
    rule = "|" + "|".join("---:" if c.numeric else ":---" for c in t.columns) + "|"
    body = ["| " + " | ".join(escape(cell.text) for cell in row) + " |" for row in t.rows]
    return "\n".join([head, rule, *body])


def thinking_cost(board: Leaderboard) -> list[str]:
    """Tokens per correct answer, for runs with reasoning statistics (jlce.leaderboard.thinking)."""
    models = [m for m in board.models if m.tokens_per_correct]
    if not models:
        return []
    tasks = sorted({t for m in models for t in m.tokens_per_correct})
    rows = [["Model", "Overall", *(escape(t) for t in tasks)]]
    for m in models:
        overall = m.tokens_per_correct_overall
        rows.append([escape(m.name), "" if overall is None else f"{overall:,.0f}",
                     *(f"{m.tokens_per_correct[t]:,.0f}" if t in m.tokens_per_correct else "" for t in tasks)])
    header = "| " + " | ".join(rows[0]) + " |"
    rule = "|:---|" + "---:|" * (len(rows[0]) - 1)
    return ["## What thinking costs", "",
            "Generated tokens (thinking + answer) per correct answer, for tasks run with reasoning statistics.", "",
            header, rule, *("| " + " | ".join(r) + " |" for r in rows[1:]), ""]


def render(board: Leaderboard) -> str:
    d, s = board.definition, board.settings
    out = [f"# {escape(d.title)}", ""]
    if d.description:
        out += [escape(d.description), ""]
    out += [
        f"Definition {escape(d.name)} v{escape(d.version)} (sha256 {d.sha256[:12]}), normalization: "
        f"{escape(d.normalize)}. Seed {s.seed}, {s.draws} posterior draws, {s.level:.0%} intervals. "
        f"Generated {escape(board.generated_at)} by JLCE {escape(board.jlce_version)}.",
        "",
        "## Overall",
        "",
        "Scores are on a 0–100 scale (categories and overall: normalized, 0 = chance or worst, 100 = best). "
        "Rank (UB) = 1 + the number of models whose interval lies entirely above this model's.",
        "",
        table(overview(board)),
        "",
    ]
    unranked = [m for m in board.models if not m.complete]
    if unranked:
        out += ["Not ranked overall (missing tasks, never scored as 0):", ""]
        out += [f"- {escape(m.name)}: {escape(', '.join(m.missing_tasks))}" for m in unranked]
        out += [""]
    if board.overall and len(board.overall.models) > 1:
        out += ["Neighbours in the overall ranking:", ""]
        out += [f"- P({escape(a)} > {escape(b)}) = {p:.3f}" for a, b, p, _ in adjacent_pairs(board.overall)]
        out += [""]
    out += thinking_cost(board)
    for scope in board.categories + board.tasks:
        label = "Category" if scope.kind == "category" else "Task"
        out += [f"## {label}: {escape(scope.title)}", ""]
        if scope.kind == "task":
            facts = [f"metric {escape(scope.metric)} ({escape(scope.statistic)})", f"{scope.n_items} matched items"]
            if scope.frequentist:
                facts.append(f"pairwise test: {escape(scope.frequentist.test)}")
            out += ["; ".join(facts) + ".", ""]
        out += [table(scope_table(scope)), ""]
        if scope.frequentist and len(scope.models) > 1:
            out += [f"- {escape(a)} vs {escape(b)}: P(better) {p:.3f}, Holm-adjusted p {h:.3g}"
                    for a, b, p, h in adjacent_pairs(scope)]
            out += [""]
        if scope.note:
            out += [f"Note: {escape(scope.note)}", ""]
    if board.mismatches:
        out += ["## Compared despite mismatches (--allow-mismatch)", ""]
        for m in board.mismatches:
            values = "; ".join(f"{v[:16]}: {', '.join(r)}" for v, r in m.values.items())
            out += [f"- {escape(m.task)} {escape(m.field)}: {escape(values)}"]
        out += [""]
    if board.warnings:
        out += ["## Warnings", ""] + [f"- {escape(w)}" for w in board.warnings] + [""]
    out += ["## Method", "", escape(board.method), ""]
    return "\n".join(out)
