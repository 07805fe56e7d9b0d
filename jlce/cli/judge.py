"""`jlce judge-scores` and `jlce judge-agreement`: judged answers (FastChat's MT-Bench files)
scored with intervals, and one judge held against another's recorded judgments."""

from __future__ import annotations

from pathlib import Path

import click

from jlce.cli.common import fail_cleanly

FILE = click.Path(dir_okay=False, path_type=Path)


@click.command("judge-scores")
@click.argument("judgments", type=FILE)
@click.option("--questions", type=FILE, help="FastChat question.jsonl, for per-category scores.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the bootstrap over questions.")
def judge_scores(judgments: Path, questions: Path | None, seed: int) -> None:
    """Mean judge rating per model with 95% intervals over questions (FastChat model_judgment file)."""
    with fail_cleanly():
        from rich.console import Console
        from rich.markup import escape
        from rich.table import Table

        from jlce.judge.fastchat import read_judgments, read_questions
        from jlce.judge.scores import model_scores

        categories = {q.question_id: q.category for q in read_questions(questions)} if questions else None
        scores = model_scores(read_judgments(judgments), categories, seed=seed)
        groups = sorted({g for s in scores.values() for g in s if g != "overall"})
        table = Table(title=f"judged scores ({judgments.name}); 95% intervals over questions")
        for column in ("model", "mean", "95% interval", "n", "unparseable", *groups):
            table.add_column(column, justify="left" if column == "model" else "right")
        for model, by_group in sorted(scores.items(), key=lambda item: -item[1]["overall"].mean):
            overall = by_group["overall"]
            table.add_row(escape(model), f"{overall.mean:.3f}", f"[{overall.lo:.2f}, {overall.hi:.2f}]", str(overall.n),
                          str(overall.unparseable),
                          *(f"{by_group[g].mean:.2f}" if g in by_group else "" for g in groups))
        Console().print(table)


@click.command("judge-agreement")
@click.argument("reference", type=FILE)
@click.argument("candidate", type=FILE)
def judge_agreement(reference: Path, candidate: Path) -> None:
    """How the CANDIDATE judge's judgments agree with the REFERENCE judge's on the same answers."""
    with fail_cleanly():
        from jlce.judge.agreement import agreement
        from jlce.judge.fastchat import read_judgments

        result = agreement(read_judgments(reference), read_judgments(candidate))
        click.echo(f"answers compared: {result.answers}")
        click.echo(f"Spearman {result.spearman:.3f}, Kendall {result.kendall:.3f}, "
                   f"mean |difference| {result.mean_abs_diff:.3f}, exactly equal {result.exact_share:.1%}")
        if result.model_rank_kendall is not None:
            click.echo(f"models: {result.models}; rank agreement (Kendall) {result.model_rank_kendall:.3f}; "
                       f"same best model: {'yes' if result.same_best_model else 'no'}")
        for model, (ref, cand) in result.model_means.items():
            click.echo(f"  {model}: {ref:.3f} vs {cand:.3f}")


@click.command("judge-import")
@click.argument("judgments", type=FILE)
@click.option("--output", "-o", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Folder for one run folder per model.")
@click.option("--questions", type=FILE, help="FastChat question.jsonl: every judged question must be in it.")
def judge_import(judgments: Path, output: Path, questions: Path | None) -> None:
    """FastChat single-answer judgments as JLCE run folders (one per model), for
    `jlce leaderboard build OUT/* --definition jlce-judged` and `jlce compare`."""
    with fail_cleanly():
        from jlce.judge.importer import import_judgments

        for run in import_judgments(judgments, output, questions):
            click.echo(str(run))


@click.command("judge-export")
@click.argument("run_dir", type=click.Path(file_okay=False, path_type=Path))
@click.argument("out_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option("--task", help="The judged task to export (needed when the run has several).")
def judge_export(run_dir: Path, out_dir: Path, task: str | None) -> None:
    """A judged (or multi-turn) JLCE run as FastChat files: OUT_DIR/model_answer/<model>.jsonl and
    OUT_DIR/model_judgment/<judge>_single.jsonl (or _pair.jsonl)."""
    with fail_cleanly():
        from jlce.judge.export import export_run

        for path in export_run(run_dir, out_dir, task):
            click.echo(str(path))


@click.command("judge-answers")
@click.argument("answers", type=FILE)
@click.option("--questions", type=FILE, required=True, help="FastChat question.jsonl the answers answer.")
@click.option("--task", default="japanese_mt_bench", show_default=True, help="The judged multi-turn task.")
@click.option("--judge-model", required=True, help="Model that rates the answers.")
@click.option("--judge-backend", default="transformers", show_default=True, help="Backend of the judge.")
@click.option("--judge-backend-arg", multiple=True, metavar="KEY=VALUE", help="Judge backend option (repeatable).")
@click.option("--judge-mode", type=click.Choice(["single", "pairwise"]), default="single", show_default=True)
@click.option("--judge-baseline", type=click.Path(path_type=Path), help="Pairwise baseline (run folder or answer file).")
@click.option("--limit", type=click.IntRange(min=1), help="Judge only the first N questions.")
@click.option("--output-dir", "-o", type=click.Path(file_okay=False, path_type=Path), required=True)
@click.option("--quiet", "-q", is_flag=True, help="No progress bars.")
def judge_answers(answers: Path, questions: Path, task: str, judge_model: str, judge_backend: str,
                  judge_backend_arg: tuple[str, ...], judge_mode: str, judge_baseline: Path | None, limit: int | None,
                  output_dir: Path, quiet: bool) -> None:
    """Judge recorded answers (a FastChat model_answer file) without generating again: a JLCE run
    folder with the judged task's scores, judgments and intervals."""
    with fail_cleanly():
        from jlce.api import evaluate
        from jlce.cli.common import parse_key_values
        from jlce.judge.replay import AnswerReplay

        replay = AnswerReplay(answers, questions)
        results = evaluate(replay.model, task, backend=replay, judge_model=judge_model, judge_backend=judge_backend,
                           judge_backend_options=parse_key_values(list(judge_backend_arg), "--judge-backend-arg"),
                           judge_mode=judge_mode, judge_baseline=judge_baseline, limit=limit, output_dir=output_dir,
                           show_progress=not quiet)
        for name, entry in results["tasks"].items():
            for metric, value in entry["metrics"].items():
                low, high = value.get("ci95") or (None, None)
                shown = "n/a" if value.get("value") is None else f"{value['value']:.3f}"
                interval = f" [{low:.2f}, {high:.2f}]" if low is not None else ""
                click.echo(f"{name} {metric}: {shown}{interval} (parse failures: {value.get('parse_failures', 0)})")
        click.echo(f"results: {output_dir / 'results.json'}")


COMMANDS = (judge_scores, judge_agreement, judge_import, judge_export, judge_answers)
