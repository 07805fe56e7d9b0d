"""Verification outputs: a terminal table, claims.json, claims.md and claims.tex.

Every string from the claims file or the runs is escaped for its format (Markdown/HTML, LaTeX,
rich markup).
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any, Literal

from jlce.claims.verify import (
    INCONCLUSIVE,
    REFUTED,
    STATUSES,
    UNMEASURED,
    VERIFIED,
    Term,
    Verification,
)
from jlce.paths import atomic_write_text

RESULT_SCHEMA = "jlce-claims/1"
_STYLE = {VERIFIED: "bold green", REFUTED: "bold red", INCONCLUSIVE: "bold yellow", UNMEASURED: "bold magenta"}


def num(x: float | None) -> str:
    """Short, readable number: 4 significant digits; large integers with separators."""
    if x is None:
        return "–"
    if abs(x) >= 1e4 and float(x).is_integer():
        return f"{x:,.0f}"
    return f"{x:.4g}"


def term_text(term: Term | None) -> str:
    if term is None or term.point is None:
        return "–"
    if term.lo is None or term.hi is None or term.lo == term.hi == term.point:
        return num(term.point)
    return f"{num(term.point)} [{num(term.lo)}, {num(term.hi)}]"


def to_dict(v: Verification) -> dict[str, Any]:
    """The content of claims.json."""
    return {
        "schema": RESULT_SCHEMA, "jlce_version": v.jlce_version, "generated_at": v.generated_at,
        "claims_file": v.claims_file, "claims_sha256": v.claims_sha256, "title": v.title,
        "seed": v.seed, "draws": v.draws, "all_verified": v.all_verified, "counts": v.counts(),
        "claims": [asdict(r) for r in v.results], "warnings": list(v.warnings),
    }


def print_table(v: Verification, console=None) -> None:
    """The terminal table (rich), then each claim's check, reasons and flags, and warnings."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    console = console or Console()
    table = Table(title=Text(v.title or "Claims"))
    columns: tuple[tuple[str, Literal["left", "right"]], ...] = (
        ("claim", "left"), ("status", "left"), ("estimate [interval]", "right"), ("compared with", "right"),
        ("P(holds)", "right"))
    for column, justify in columns:
        table.add_column(column, justify=justify, overflow="fold")
    for r in v.results:
        table.add_row(Text(r.id), Text(r.status, style=_STYLE[r.status]), Text(term_text(r.estimate)),
                      Text(term_text(r.reference)), Text(num(r.probability)))
    console.print(table)
    for r in v.results:
        console.print(Text.assemble((r.id, "bold"), ": ", r.check, f"  (confidence {r.confidence:g})"))
        for line in r.reasons:
            console.print(Text(f"  - {line}"))
        for flag in r.flags:
            console.print(Text(f"  ! {flag}", style="yellow"))
    for warning in v.warnings:
        console.print(Text(f"warning: {warning}"))
    counts = v.counts()
    console.print(Text(", ".join(f"{counts[s]} {s.lower()}" for s in STATUSES) + f" ({v.draws} draws, seed {v.seed})"))


def render_markdown(v: Verification) -> str:
    from jlce.leaderboard.render_md import escape

    out = [f"# {escape(v.title or 'Claims')}", "",
           (f"Claims file `{escape(Path(v.claims_file).name)}` (sha256 {v.claims_sha256[:12]}), checked by JLCE "
            f"{escape(v.jlce_version)} at {escape(v.generated_at)}; {v.draws} posterior draws, seed {v.seed}. "
            "VERIFIED / REFUTED: the central interval at the claim's confidence lies entirely on one side of "
            "the claimed bound."), "",
           "| claim | status | estimate [interval] | compared with | P(holds) | confidence | check |",
           "|:---|:---|---:|---:|---:|---:|:---|"]
    for r in v.results:
        out.append(f"| {escape(r.id)} | **{r.status}** | {escape(term_text(r.estimate))} | "
                   f"{escape(term_text(r.reference))} | {num(r.probability)} | {r.confidence:g} | {escape(r.check)} |")
    out.append("")
    for r in v.results:
        out += [f"## {escape(r.id)}: {r.status}", "", escape(r.statement), ""]
        if r.source:
            out += [f"Source: {escape(r.source)}", ""]
        for term in r.quantities:
            out.append(f"- {escape(term.text)} = {escape(term_text(term))} ({escape(term.method)})")
        for reason in r.reasons:
            out.append(f"- {escape(reason)}")
        for flag in r.flags:
            out.append(f"- ⚠ {escape(flag)}")
        runs = ", ".join(f"{escape(run['label'])}: {escape(run['run_id'])} (provenance "
                         f"{escape((run['provenance_sha256'] or 'none')[:12])})" for run in r.runs)
        if runs:
            out.append(f"- runs: {runs}")
        out.append("")
    for warning in v.warnings:
        out.append(f"Warning: {escape(warning)}")
    return "\n".join(out).rstrip() + "\n"


def render_latex(v: Verification) -> str:
    from jlce.leaderboard.render_tex import escape, label

    out = [(f"% Claims checked by JLCE {escape(v.jlce_version)} at {escape(v.generated_at)}; "
            f"claims file sha256 {v.claims_sha256[:12]}."),
           r"% Needs \usepackage{booktabs}.",
           r"\begin{table}[t]", r"\centering", r"\small",
           (rf"\caption{{{escape(v.title or 'Claims')}: each claim's estimate with its central interval at the "
            rf"claim's confidence ({v.draws} posterior draws). VERIFIED/REFUTED: the interval lies entirely on one "
            r"side of the claimed bound.}"),
           rf"\label{{tab:claims-{label(Path(v.claims_file).stem)}}}",
           r"\begin{tabular}{llrrl}", r"\toprule",
           r"Claim & Status & Estimate [interval] & Compared with & Check \\", r"\midrule"]
    def cell(term: Term | None) -> str:
        return escape(term_text(term)).replace("–", "--")

    for r in v.results:
        out.append(" & ".join([escape(r.id), escape(r.status), cell(r.estimate), cell(r.reference),
                               r"\texttt{" + escape(r.check) + "}"]) + r" \\")
    out += [r"\bottomrule", r"\end{tabular}", r"\end{table}"]
    return "\n".join(out) + "\n"


def write_outputs(v: Verification, directory: str | Path) -> list[Path]:
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    outputs = {
        "claims.json": json.dumps(to_dict(v), ensure_ascii=False, indent=2, allow_nan=False) + "\n",
        "claims.md": render_markdown(v),
        "claims.tex": render_latex(v),
    }
    paths = []
    for name, text in outputs.items():
        path = directory / name
        atomic_write_text(path, text)
        paths.append(path)
    return paths
