"""`jlce leaderboard`: build leaderboards from run directories."""

from __future__ import annotations

from pathlib import Path

import click

from jlce.cli.common import fail_cleanly
from jlce.errors import UserError


@click.group()
def cli() -> None:
    """Rank runs with honest uncertainty and publish leaderboards."""


def _parse_choose(values: tuple[str, ...]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in values:
        model, sep, run_dir = item.rpartition("=")
        if not sep or not model or not run_dir:
            raise UserError(f"--choose expects MODEL=RUN_DIR, got '{item}'")
        out[model] = run_dir
    return out


@cli.command()
@click.argument("run_dirs", nargs=-1, required=True, type=click.Path(path_type=Path), metavar="RUN_DIR...")
@click.option("--output", "-o", required=True, type=click.Path(file_okay=False, path_type=Path), metavar="OUT_DIR",
              help="Folder for leaderboard.json/.md/.tex/.csv and index.html.")
@click.option("--definition", help="Leaderboard definition YAML, or a bundled name (default: the official jlce-v1).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the posterior draws and permutation tests.")
@click.option("--draws", type=int, default=4000, show_default=True, help="Posterior draws (Dirichlet weight vectors) per task.")
@click.option("--permutations", type=int, default=10_000, show_default=True, help="Random sign flips per paired permutation test.")
@click.option("--allow-mismatch", is_flag=True, help="Compare tasks whose version or data hash differ (recorded in the output).")
@click.option("--choose", multiple=True, metavar="MODEL=RUN_DIR", help="The run to keep when a model has several (repeatable).")
@click.option("--log", "log_names", multiple=True, metavar="NAME", help="Also log the leaderboard to an experiment tracker (repeatable).")
@click.option("--log-arg", multiple=True, metavar="KEY=VALUE", help="Logger option, for every --log or as NAME.KEY=VALUE.")
def build(run_dirs: tuple[Path, ...], output: Path, definition: str | None, seed: int, draws: int, permutations: int,
          allow_mismatch: bool, choose: tuple[str, ...], log_names: tuple[str, ...], log_arg: tuple[str, ...]) -> None:
    """Build a leaderboard from RUN_DIR... (run directories, or folders of them) into --output."""
    with fail_cleanly():
        from jlce.cli.common import parse_text_pairs
        from jlce.cli.run_command import make_run_loggers
        from jlce.leaderboard.build import build_leaderboard, write_outputs

        loggers = make_run_loggers(log_names, parse_text_pairs(log_arg, "--log-arg"))

        board = build_leaderboard(list(run_dirs), definition, seed=seed, draws=draws, allow_mismatch=allow_mismatch,
                                  choose=_parse_choose(choose), permutations=permutations)
        paths = write_outputs(board, output)
        ranked = len(board.overall.models) if board.overall else 0
        click.echo(f"{len(board.models)} models, {len(board.tasks)} tasks, {ranked} ranked overall; wrote:")
        for path in paths:
            click.echo(f"  {path}")
        for warning in board.warnings:
            click.echo(f"warning: {warning}", err=True)
        if loggers:
            _log_leaderboard(output, loggers)


def _log_leaderboard(output: Path, loggers: dict) -> None:
    """Log the written leaderboard; a tracker's failure is reported, never fatal to the build."""
    import json

    from jlce.tracking import leaderboard_payload, log_payload

    board = json.loads((output / "leaderboard.json").read_text(encoding="utf-8"))
    references, errors = log_payload(loggers, leaderboard_payload(output, board))
    for name, reference in references.items():
        click.echo(f"logged to {name}: {reference.get('url') or reference.get('run_id') or ''}")
    for error in errors:
        click.echo(f"warning: logger {error['plugin']} failed: {error['error']}", err=True)


if __name__ == "__main__":
    cli()
