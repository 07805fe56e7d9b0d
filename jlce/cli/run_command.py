"""`jlce run`: build options, evaluate, print the summary table."""

from __future__ import annotations

import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from jlce.errors import UserError


RESUME_HINT = "finished batches are cached: run the same command again to resume"


class Terminated(BaseException):
    """SIGTERM arrived (a scheduler's pre-emption or `kill`): raised in the main thread like Ctrl-C."""


@contextmanager
def stop_on_signals() -> Iterator[None]:
    """Ctrl-C exits 130 and SIGTERM exits 143, both after the resume hint. The batch in flight is
    abandoned (its transaction never commits); every finished batch is already in the cache, the
    output folder is left as it was."""
    def on_term(signum: int, frame: Any) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second SIGTERM must not interrupt the clean-up
        raise Terminated()

    try:
        previous = signal.signal(signal.SIGTERM, on_term)
    except ValueError:  # not the main thread (an embedding application): leave signals alone
        previous = None
    try:
        yield
    except KeyboardInterrupt:
        sys.stderr.write(f"jlce: interrupted (Ctrl-C); {RESUME_HINT}\n")
        raise click.exceptions.Exit(130) from None
    except Terminated:
        sys.stderr.write(f"jlce: terminated (SIGTERM); {RESUME_HINT}\n")
        raise click.exceptions.Exit(143) from None
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def run_command(values: dict[str, Any], log_names: tuple[str, ...] = (), log_args: dict[str, str] | None = None) -> None:
    """`values`: the run options given on the command line (jlce.cli.run_options), validated here."""
    from jlce.runconfig import make_run_options

    options = make_run_options(**values)  # a bad option fails before the evaluator's imports
    loggers = make_run_loggers(log_names, log_args or {})  # a bad --log fails now, not after the evaluation
    from jlce.evaluator import evaluate

    with stop_on_signals():
        outcome = evaluate(options)
    print_summary(outcome.results, outcome.output_dir)
    if loggers:
        log_finished_run(outcome.output_dir, loggers)


def make_run_loggers(names: tuple[str, ...], args: dict[str, str]) -> dict[str, Any]:
    if not names:
        if args:
            raise UserError("--log-arg needs --log NAME (see `jlce ls loggers`)")
        return {}
    from jlce.tracking import make_loggers

    return make_loggers(names, args)


def log_finished_run(output_dir: Path, loggers: dict[str, Any]) -> bool:
    """Log a finished run; a tracker's failure is printed and recorded, never fatal. True if all logged."""
    from rich.console import Console
    from rich.markup import escape

    from jlce.tracking import log_run_dir

    console = Console(stderr=True)
    references, errors = log_run_dir(output_dir, loggers)
    for name, reference in references.items():
        where = reference.get("url") or reference.get("run_id") or ""
        console.print(f"logged to {escape(name)}: {escape(str(where))}")
    for error in errors:
        console.print(f"[yellow]logger {escape(error['plugin'])} failed (recorded in results.json): "
                      f"{escape(error['error'])}[/yellow]")
    return not errors


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
