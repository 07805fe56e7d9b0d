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
from jlce.cli.common import fail_cleanly, parse_text_pairs
from jlce.cli.plugin_commands import PluginCommandGroup
from jlce.cli.run_options import RunCommand


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


@app.command(cls=RunCommand)  # the run options come from jlce.runconfig.RunOptions (jlce/cli/run_options.py)
@click.option("--log", multiple=True, metavar="NAME",
              help="Log the finished run to an experiment tracker: mlflow, wandb, ... (repeatable; see `jlce ls loggers`).")
@click.option("--log-arg", multiple=True, metavar="KEY=VALUE",
              help="Logger option, for every --log or as NAME.KEY=VALUE for one (e.g. experiment=, project=, tracking_uri=).")
def run(log: tuple[str, ...], log_arg: tuple[str, ...], **given) -> None:
    """Evaluate a model on tasks and write results.json and samples/."""
    with fail_cleanly():
        from jlce.cli.run_command import run_command
        from jlce.cli.run_options import run_option_values

        run_command(run_option_values(click.get_current_context(), given), log, parse_text_pairs(log_arg, "--log-arg"))


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
