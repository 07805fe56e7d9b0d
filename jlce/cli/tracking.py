"""`jlce log` (a finished run to an experiment tracker) and `jlce export` (a run in another tool's
format). Trackers' libraries load inside the commands."""

from __future__ import annotations

from pathlib import Path

import click

from jlce.cli.common import fail_cleanly, parse_text_pairs


@click.command("log")
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.option("--to", "names", multiple=True, required=True, metavar="NAME",
              help="Logger: mlflow, wandb, ... (repeatable; see `jlce ls loggers`).")
@click.option("--log-arg", multiple=True, metavar="KEY=VALUE",
              help="Logger option, for every --to or as NAME.KEY=VALUE for one.")
def log_command(run_dir: Path, names: tuple[str, ...], log_arg: tuple[str, ...]) -> None:
    """Log a finished run (results.json, samples, provenance) to experiment trackers.

    For runs made on machines without network access: copy RUN_DIR to a connected machine and
    log it there. The logged run's id or URL is written back into RUN_DIR/results.json.
    Exit status 1 when a logger failed (its error is recorded in results.json too).
    """
    with fail_cleanly():
        from jlce.cli.run_command import log_finished_run
        from jlce.results import read_results
        from jlce.tracking import make_loggers

        read_results(run_dir)  # a clear error for a folder that holds no run
        loggers = make_loggers(names, parse_text_pairs(log_arg, "--log-arg"))
        ok = log_finished_run(run_dir, loggers)
    if not ok:
        raise click.exceptions.Exit(1)


@click.command("export")
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["lmeval"]), default="lmeval", show_default=True,
              help="lmeval: lm-evaluation-harness 0.4's results_<date>.json and samples_<task>_<date>.jsonl.")
@click.option("--output", "-o", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Folder to write into (the files go under <folder>/<model name>/, as lm-eval writes them).")
def export_command(run_dir: Path, fmt: str, output: Path) -> None:
    """Write a run in another tool's format, so tools that read lm-eval outputs read JLCE runs."""
    with fail_cleanly():
        from jlce.export.lmeval_format import export_lmeval

        for path in export_lmeval(run_dir, output):
            click.echo(str(path))


COMMANDS = (log_command, export_command)
