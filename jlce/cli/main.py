"""The `jlce` command (click). Heavy work is imported inside each command so `jlce --help` and
`jlce ls tasks` stay instant (typer was dropped: it builds pydantic adapters for every option at
each call, which alone cost ~0.2 s)."""

from __future__ import annotations

import importlib
import importlib.util
import sys

import click

from jlce import __version__
from jlce.cli import data as data_cli
from jlce.cli.analysis import COMMANDS as ANALYSIS_COMMANDS
from jlce.cli.judge import COMMANDS as JUDGE_COMMANDS
from jlce.cli.tracking import COMMANDS as TRACKING_COMMANDS
from jlce.cli import listing
from jlce.cli.common import fail_cleanly, parse_key_values, parse_text_pairs
from jlce.cli.plugin_commands import PluginCommandGroup
from jlce.cli.options import include_path_option


@click.group(cls=PluginCommandGroup,  # plugins add commands (jlce_register_commands), loaded on first need
             context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
             epilog="Plugins can add commands (`jlce ls commands` lists them).")
@click.version_option(__version__, "--version", prog_name="jlce", message="%(prog)s %(version)s")
def app() -> None:
    """JLCE: Japanese LLM Comprehensive Evaluation.

    Evaluate Japanese LLMs on YAML-defined tasks, with provenance and honest uncertainty.
    """
    from jlce.offline import enforce

    enforce()  # JLCE_OFFLINE=1: the Hugging Face libraries go offline before anything imports them


app.add_command(listing.ls_group, "ls")
app.add_command(listing.show_group, "show")
app.add_command(data_cli.data_group, "data")
for _command in ANALYSIS_COMMANDS:  # verify, compare, report, tokenizer-stats
    app.add_command(_command)
for _command in (*TRACKING_COMMANDS, *JUDGE_COMMANDS):  # log, export, judge-scores, judge-agreement
    app.add_command(_command)


@app.command()
@click.option("--model", "-m", required=True, help="Alias, hub id or local path ('jlce-tiny': the built-in demo model).")
@click.option("--tasks", "-t", required=True, help="Comma-separated tasks or groups, or 'all'.")
@click.option("--backend", "-b", default="transformers", show_default=True, help="Backend plugin (see `jlce ls backends`).")
@click.option("--limit", type=click.IntRange(min=1), help="Evaluate only the first N items of each task.")
@click.option("--num-fewshot", type=click.IntRange(0, 64), help="Override the tasks' few-shot count.")
@click.option("--batch-size", default="16", show_default=True, help="Batch size, or 'auto' (backs off on out-of-memory).")
@click.option("--seed", type=int, default=1234, show_default=True)
@click.option("--output-dir", "-o", type=click.Path(file_okay=False), help="Default: results/<model>/<UTC time>-<random>/.")
@click.option("--overwrite", is_flag=True, help="Replace an --output-dir that holds results (the whole folder, atomically).")
@include_path_option
@click.option("--data", type=click.Choice(["auto", "fixture"]), default="auto", show_default=True,
              help="'auto': the data directory, else download; 'fixture': the small sample data shipped with each task.")
@click.option("--skip-missing-data", is_flag=True, help="Run the tasks whose data is present; record the others in results.json.")
@click.option("--revision", help="Model revision (hub branch, tag or commit).")
@click.option("--dtype", default="auto", show_default=True, help="auto | float32 | float16 | bfloat16")
@click.option("--device", default="auto", show_default=True, help="auto | cpu | cuda | cuda:N")
@click.option("--max-length", type=click.IntRange(min=8), help="Maximum context length in tokens.")
@click.option("--truncation", type=click.Choice(["error", "warn", "allow"]), default="warn", show_default=True,
              help="Prompts longer than the context lose their first tokens: 'warn' says how many per task, "
                   "'error' stops the run instead, 'allow' only records it (samples and results.json).")
@click.option("--adapter", help="LoRA adapter path or hub id.")
@click.option("--merge-adapter", is_flag=True, help="Merge the adapter into the weights before evaluating.")
@click.option("--chat-template/--no-chat-template", default=None, help="Apply the tokenizer's chat template (default: the backend decides).")
@click.option("--reasoning", type=click.Choice(["auto", "on", "off"]), default="auto", show_default=True,
              help="Reasoning-model generation (<think>...</think>): stops apply to the answer only, larger budget. "
                   "auto: on for names like R1, QwQ, *-Thinking.")
@click.option("--reasoning-max-new-tokens", type=click.IntRange(1, 131072),
              help="Token budget with reasoning on (default: each task's reasoning_max_new_tokens, else 8192).")
@click.option("--repeats", "-k", type=click.IntRange(1, 1024),
              help="Samples per item (k) for generation and generative multiple choice (default: preset, else the task's).")
@click.option("--temperature", type=click.FloatRange(0.0, 10.0), help="Sampling temperature for every generation task (0: greedy).")
@click.option("--top-p", type=click.FloatRange(0.0, 1.0, min_open=True), help="Nucleus sampling top-p for every generation task.")
@click.option("--max-new-tokens", type=click.IntRange(1, 131072), help="Generation budget for every generation task.")
@click.option("--mc-mode", type=click.Choice(["loglikelihood", "generate"]),
              help="Multiple choice by choice log-likelihoods, or asked generatively (default: preset, else the task's).")
@click.option("--preset", default="auto", show_default=True,
              help="Model-family decoding preset: auto (by model name), none, or a name (see `jlce ls presets`).")
@click.option("--trust-remote-code", is_flag=True)
@click.option("--no-cache", is_flag=True, help="Neither read nor write the request cache.")
@click.option("--cache-path", type=click.Path(dir_okay=False), help="Request cache file (default: $JLCE_CACHE_DIR/requests.sqlite).")
@click.option("--cache-policy", type=click.Choice(["reuse", "strict"]), default="reuse", show_default=True,
              help="'strict': recompute cached answers that another engine version (torch, transformers, vLLM, server) computed.")
@click.option("--profile", help="Profilers: 'all', 'none' or names (default: the default set; see `jlce ls profilers`).")
@click.option("--profile-interval", type=click.FloatRange(min=0.01), help="Memory sampling interval in seconds.")
@click.option("--backend-arg", multiple=True, help="Backend option KEY=VALUE (repeatable).")
@click.option("--replicas", type=click.IntRange(1, 4096), default=1, show_default=True,
              help="Data-parallel replicas of the model on Ray, each with --replica-resources (pip install 'jlce[ray]').")
@click.option("--ray-address", help="An existing Ray cluster (ray start --head ...); default: a local Ray instance.")
@click.option("--replica-resources", metavar="NAME=AMOUNT,...", help="Ray resources per replica (default CPU=1; e.g. GPU=1,CPU=4).")
@click.option("--replica-timeout", type=click.FloatRange(min=1), default=1800.0, show_default=True,
              help="Seconds a work unit may run before its replica counts as stuck (killed, restarted, the unit re-queued).")
@click.option("--log", multiple=True, metavar="NAME",
              help="Log the finished run to an experiment tracker: mlflow, wandb, ... (repeatable; see `jlce ls loggers`).")
@click.option("--log-arg", multiple=True, metavar="KEY=VALUE",
              help="Logger option, for every --log or as NAME.KEY=VALUE for one (e.g. experiment=, project=, tracking_uri=).")
@click.option("--quiet", "-q", is_flag=True, help="No progress bars.")
def run(**kwargs) -> None:
    """Evaluate a model on tasks and write results.json and samples/."""
    with fail_cleanly():
        from pathlib import Path

        from jlce.cli.run_command import run_command

        kwargs["include_paths"] = tuple(Path(p) for p in kwargs.pop("include_path"))
        kwargs["output_dir"] = Path(kwargs["output_dir"]) if kwargs["output_dir"] else None
        kwargs["cache_path"] = Path(kwargs["cache_path"]) if kwargs["cache_path"] else None
        kwargs["use_cache"] = not kwargs.pop("no_cache")
        kwargs["backend_options"] = parse_key_values(list(kwargs.pop("backend_arg")), "--backend-arg")
        kwargs["log_args"] = parse_text_pairs(kwargs.pop("log_arg"), "--log-arg")
        run_command(**kwargs)


# Sub-commands that live in their own modules, mounted when present (each imports heavy parts lazily).
OPTIONAL_COMMANDS = (("jlce.cli.leaderboard", "leaderboard"),)
for _module_name, _name in OPTIONAL_COMMANDS:
    if importlib.util.find_spec(_module_name) is not None:
        app.add_command(importlib.import_module(_module_name).cli, _name)


def main() -> None:
    try:
        app(prog_name="jlce")
    except KeyboardInterrupt:
        sys.stderr.write("interrupted; finished batches are cached: run the same command again to resume\n")
        sys.exit(130)
