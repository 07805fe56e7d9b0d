"""`jlce run`: build options, evaluate, print the summary table."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import ValidationError

from jlce.errors import UserError


def build_options(**kwargs: Any) -> Any:
    from jlce.runconfig import RunOptions

    profile = kwargs.pop("profile")
    interval = kwargs.pop("profile_interval")
    quiet = kwargs.pop("quiet")
    if profile is None:
        kwargs["profile"] = None
    elif profile.strip() == "none":  # no profilers; provenance is recorded in every run regardless
        kwargs["profile"] = ("none",)
    elif profile.strip() == "all":
        kwargs["profile"] = ("all",)
    else:
        kwargs["profile"] = tuple(p.strip() for p in profile.split(",") if p.strip())
    kwargs["profile_options"] = {"interval": interval} if interval else {}
    kwargs["show_progress"] = not quiet
    try:
        return RunOptions(**kwargs)
    except ValidationError as error:
        first = error.errors()[0]
        flag = "--" + str(first["loc"][0]).replace("_", "-") if first["loc"] else "arguments"
        raise UserError(f"{flag}: {first['msg']}") from None


def run_command(**kwargs: Any) -> None:
    from jlce.evaluator import evaluate

    options = build_options(**kwargs)
    outcome = evaluate(options)
    print_summary(outcome.results, outcome.output_dir)


def print_summary(results: dict[str, Any], output_dir: Path) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"JLCE results: {results['model']['name']}")
    for column in ("task", "metric", "value", "95% interval", "n"):
        table.add_column(column, justify="right" if column in ("value", "n") else "left")
    for name, entry in results["tasks"].items():
        for metric, value in entry["metrics"].items():
            ci = value.get("ci95")
            shown = "n/a" if value["value"] is None else f"{value['value']:.4f}"
            interval = f"[{ci[0]:.3f}, {ci[1]:.3f}]" if ci and None not in ci else ""
            table.add_row(name, metric, shown, interval, str(entry["n_samples"]))
    console = Console()
    console.print(table)
    print_reasoning_cost(console, results)
    cache = results.get("cache", {})
    console.print(f"cache: {cache.get('hits', 0)} hits, {cache.get('misses', 0)} computed")
    skipped = results.get("skipped_tasks") or {}
    if skipped:
        from rich.markup import escape

        console.print(f"[yellow]{len(skipped)} task(s) skipped for missing data (--skip-missing-data):[/yellow]")
        for name, why in skipped.items():
            console.print(f"  {escape(name)}: {escape(why)}")
    if results.get("errors"):
        console.print(f"[yellow]{len(results['errors'])} plugin error(s) recorded in results.json[/yellow]")
    console.print(f"results: {output_dir / 'results.json'}")


def print_reasoning_cost(console: Any, results: dict[str, Any]) -> None:
    """With reasoning on: what thinking cost per task (results.json `tasks.<task>.reasoning`)."""
    from rich.markup import escape
    from rich.table import Table

    policy = results.get("reasoning") or {}
    if not policy.get("enabled"):
        return
    table = Table(title="What thinking cost: outputs that hit the budget inside <think>; tokens per output "
                        "(counted: outputs whose thinking tokens the tokenizer counted)")
    for column in ("task", "n", "budget hit", "counted", "think mean", "think median", "answer mean", "answer median"):
        table.add_column(column, justify="left" if column == "task" else "right")
    for name, entry in results["tasks"].items():
        cost = entry.get("reasoning")
        if not cost:
            continue
        thinking, answer = cost.get("thinking_tokens") or {}, cost.get("answer_tokens") or {}
        table.add_row(escape(name), str(cost["outputs"]),
                      f"{cost['budget_hit_in_think']} ({cost['budget_hit_in_think_share']:.1%})",
                      str(cost["tokens_counted"]),  # thinking tokens need the model's tokenizer
                      *(_tokens(part.get(key)) for part in (thinking, answer) for key in ("mean", "median")))
    detected = ", ".join(policy.get("detected_from") or [])
    why = f"--reasoning auto, detected from {detected}" if detected else "--reasoning on"
    console.print(f"reasoning: on ({escape(why)}); stops applied to the answer after </think>")
    if table.row_count:
        console.print(table)


def _tokens(value: Any) -> str:
    return "n/a" if value is None else f"{value:,.1f}"
