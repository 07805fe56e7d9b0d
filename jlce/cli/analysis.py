"""Analysis commands on finished runs: `verify`, `compare`, `report`, `tokenizer-stats`.

Each is a click command, mounted on the `jlce` group by `jlce.cli.main`; `python -m
jlce.cli.analysis COMMAND` runs them on their own. Heavy modules load inside the commands.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from jlce.cli.common import fail_cleanly
from jlce.cli.options import include_path_option

if TYPE_CHECKING:
    from jlce.data.loader import DataSource

EXIT_NOT_ALL_VERIFIED = 1


@click.command("verify")
@click.argument("claims_file", type=click.Path(dir_okay=False, path_type=Path), metavar="CLAIMS.yaml")
@click.argument("run_args", nargs=-1, metavar="[--runs] RUN_DIR|LABEL=RUN_DIR...")
@click.option("--runs", "runs_flag", is_flag=True, help="Optional marker before the run directories (reads well in scripts).")
@click.option("--output", "-o", type=click.Path(file_okay=False, path_type=Path), default=Path("claims-report"),
              show_default=True, help="Folder for claims.json, claims.md and claims.tex.")
@click.option("--seed", type=int, help="Seed of the posterior draws (default: the claims file's, else 0).")
@click.option("--draws", type=click.IntRange(200, 1_000_000), help="Posterior draws (default: the claims file's, else 4000).")
def verify(claims_file: Path, run_args: tuple[str, ...], runs_flag: bool, output: Path, seed: int | None,
           draws: int | None) -> None:
    """Check the claims in CLAIMS.yaml against run directories.

    Each claim becomes VERIFIED, REFUTED, INCONCLUSIVE or UNMEASURED. Runs are matched to the
    file's run labels by its selectors, or bound explicitly as LABEL=RUN_DIR. Exit status: 0 when
    every claim is VERIFIED, 1 otherwise, 2 for a bad claims file or arguments.
    """
    with fail_cleanly():
        from jlce.claims.render import print_table, write_outputs
        from jlce.claims.verify import verify_claims
        from jlce.errors import UserError

        if not run_args:
            raise UserError("give the run directories: jlce verify CLAIMS.yaml --runs RUN_DIR...")
        result = verify_claims(claims_file, list(run_args), seed=seed, draws=draws)
        print_table(result)
        paths = write_outputs(result, output)
        click.echo("wrote: " + ", ".join(str(p) for p in paths))
    if not result.all_verified:
        raise click.exceptions.Exit(EXIT_NOT_ALL_VERIFIED)


@click.command("compare")
@click.argument("run_a", type=click.Path(path_type=Path))
@click.argument("run_b", type=click.Path(path_type=Path))
@click.option("--tasks", "-t", help="Comma-separated tasks (default: every task both runs have).")
@click.option("--metric", help="Metric to compare (default: each task's primary metric).")
@click.option("--level", type=click.FloatRange(0.5, 0.999), default=0.95, show_default=True, help="Interval level.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--draws", type=click.IntRange(200, 1_000_000), default=4000, show_default=True, help="Posterior draws.")
@click.option("--permutations", type=click.IntRange(100, 10_000_000), default=10_000, show_default=True,
              help="Sign flips per paired permutation test (continuous scores).")
@click.option("--output", "-o", type=click.Path(file_okay=False, path_type=Path),
              help="Also write comparison.json, comparison.md and comparison.tex here.")
def compare(run_a: Path, run_b: Path, tasks: str | None, metric: str | None, level: float, seed: int, draws: int,
            permutations: int, output: Path | None) -> None:
    """Paired comparison of RUN_B against RUN_A, task by task, plus speed and memory ratios."""
    with fail_cleanly():
        from jlce.compare import compare_runs, print_comparison, write_outputs

        names = [t.strip() for t in tasks.split(",") if t.strip()] if tasks else None
        result = compare_runs(run_a, run_b, tasks=names, metric=metric, level=level, seed=seed, draws=draws,
                              permutations=permutations)
        print_comparison(result)
        if output is not None:
            click.echo("wrote: " + ", ".join(str(p) for p in write_outputs(result, output)))


@click.command("report")
@click.argument("run_dirs", nargs=-1, required=True, type=click.Path(path_type=Path), metavar="RUN_DIR...")
@click.option("--output", "-o", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder for tables.tex, report.md and the figures (PNG and PDF).")
@click.option("--throughput", type=click.Choice(["requests", "tokens"]), default="requests", show_default=True,
              help="x axis of accuracy vs throughput (tokens/s is not comparable between tokenizers).")
def report(run_dirs: tuple[Path, ...], output: Path, throughput: str) -> None:
    """Paper-ready LaTeX tables and figures from run directories (or folders of them)."""
    with fail_cleanly():
        from jlce.report.build import build_report

        paths, notes = build_report(list(run_dirs), output, f"{throughput}_per_s")
        click.echo(f"wrote {len(paths)} files to {output}:")
        for path in paths:
            click.echo(f"  {path.name}")
        for note in notes:
            click.echo(f"note: {note}", err=True)


@click.command("tokenizer-stats")
@click.option("--model", "-m", "models", multiple=True, required=True,
              help="Model (alias, directory or hub id) whose tokenizer to measure; repeat for several.")
@click.option("--tasks", "-t", default="jcommonsenseqa", show_default=True, help="Comma-separated tasks or groups.")
@click.option("--limit", type=click.IntRange(min=1), help="Only the first N items of each task.")
@click.option("--num-fewshot", type=click.IntRange(0, 64), default=0, show_default=True,
              help="Few-shot examples in each prompt (0: the items' own text only).")
@click.option("--max-texts", type=click.IntRange(min=1), default=200, show_default=True, help="Prompts per task, evenly spaced.")
@click.option("--data", type=click.Choice(["auto", "fixture"]), default="auto", show_default=True)
@click.option("--no-morphemes", is_flag=True, help="Skip the MeCab morpheme count.")
@click.option("--revision", help="Tokenizer revision (hub models).")
@click.option("--trust-remote-code", is_flag=True)
@include_path_option
@click.option("--output", "-o", type=click.Path(file_okay=False, path_type=Path),
              help="Also write tokenizer_stats.json, .md and .tex here.")
def tokenizer_stats(models: tuple[str, ...], tasks: str, limit: int | None, num_fewshot: int, max_texts: int, data: DataSource,
                    no_morphemes: bool, revision: str | None, trust_remote_code: bool, include_path: tuple[str, ...],
                    output: Path | None) -> None:
    """Characters per token (by script) and tokens per morpheme of several tokenizers, side by side."""
    with fail_cleanly():
        from jlce.tokstats import (
            compare_tokenizers,
            print_stats,
            task_texts,
            write_outputs,
        )

        texts = task_texts(tasks, limit=limit, num_fewshot=num_fewshot, data=data,
                           include_paths=tuple(Path(p) for p in include_path), max_texts=max_texts)
        stats = compare_tokenizers(list(models), texts, morphemes=not no_morphemes, revision=revision,
                                   trust_remote_code=trust_remote_code, num_fewshot=num_fewshot)
        print_stats(stats)
        if output is not None:
            click.echo("wrote: " + ", ".join(str(p) for p in write_outputs(stats, output)))


COMMANDS = (verify, compare, report, tokenizer_stats)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
def cli() -> None:
    """Analysis of finished runs (also mounted on `jlce`)."""


for _command in COMMANDS:
    cli.add_command(_command)


if __name__ == "__main__":
    cli(prog_name="jlce")
