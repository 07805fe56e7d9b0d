"""`jlce ls ...` and `jlce show ...`."""

from __future__ import annotations

from pathlib import Path

import click

from jlce.cli.common import fail_cleanly
from jlce.cli.options import include_path_option


@click.group()
def ls_group() -> None:
    """List tasks, groups, backends, metrics, filters, formats, profilers, presets, model aliases, loggers or plugins."""


@click.group()
def show_group() -> None:
    """Show a task (with a rendered prompt) or a finished run."""


def _print_rows(title: str, columns: list[str], rows: list[list[str]]) -> None:
    """Plain aligned columns: fast with thousands of rows, and easy to pipe into grep/awk."""
    widths = [max([len(c)] + [len(r[i]) for r in rows]) for i, c in enumerate(columns)]
    lines = [f"# {title}", "  ".join(c.ljust(w) for c, w in zip(columns, widths)).rstrip()]
    lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths)).rstrip() for row in rows]
    click.echo("\n".join(lines))


@ls_group.command("tasks")
@include_path_option
def ls_tasks(include_path: tuple[str, ...]) -> None:
    """Tasks by category (reads only each file's header: instant with thousands of files)."""
    with fail_cleanly():
        from jlce.taskindex import task_index

        index = task_index(tuple(Path(p) for p in include_path))
        rows = sorted(([e.category, e.name, str(e.path.name)] for e in index.tasks.values()), key=lambda r: (r[0], r[1]))
        _print_rows(f"{len(rows)} tasks", ["category", "task", "file"], rows)


@ls_group.command("groups")
@include_path_option
def ls_groups(include_path: tuple[str, ...]) -> None:
    """Task groups ('all' is every task)."""
    with fail_cleanly():
        from jlce.taskindex import task_index
        from jlce.taskload import load_group

        index = task_index(tuple(Path(p) for p in include_path))
        rows = [[name, ", ".join(load_group(entry.path).tasks)] for name, entry in sorted(index.groups.items())]
        rows.append(["all", f"every task ({len(index.tasks)})"])
        _print_rows(f"{len(rows)} groups", ["group", "tasks"], rows)


def _registry_rows(kind: str) -> list[list[str]]:
    from jlce.registry import get_registry

    table = getattr(get_registry(), kind)
    return [[name, spec.plugin, getattr(spec, "description", "")] for name, spec in sorted(table.items())]


@ls_group.command("backends")
def ls_backends() -> None:
    """Model backends (`jlce show backend NAME`: its --backend-arg keys)."""
    with fail_cleanly():
        _print_rows("backends", ["backend", "plugin", "description"], _registry_rows("backends"))


@ls_group.command("metrics")
def ls_metrics() -> None:
    """Metrics tasks can name."""
    with fail_cleanly():
        _print_rows("metrics", ["metric", "plugin", "description"], _registry_rows("metrics"))


@ls_group.command("filters")
def ls_filters() -> None:
    """Answer-extraction filters."""
    with fail_cleanly():
        _print_rows("filters", ["filter", "plugin", "description"], _registry_rows("filters"))


@ls_group.command("formats")
def ls_formats() -> None:
    """Data file formats."""
    with fail_cleanly():
        _print_rows("data formats", ["format", "plugin", "description"], _registry_rows("readers"))


@ls_group.command("profilers")
def ls_profilers() -> None:
    """Profilers (`--profile`)."""
    with fail_cleanly():
        from jlce.registry import get_registry

        rows = [[n, s.plugin, "yes" if s.default else "no", s.description] for n, s in sorted(get_registry().profilers.items())]
        _print_rows("profilers", ["profiler", "plugin", "default", "description"], rows)


@ls_group.command("presets")
def ls_presets() -> None:
    """Model-family decoding presets (`--preset`)."""
    with fail_cleanly():
        from jlce.registry import get_registry

        rows = [[n, s.plugin, str(s.priority), ", ".join(f"{k}={v}" for k, v in s.record()["settings"].items())]
                for n, s in sorted(get_registry().presets.items())]
        _print_rows("presets", ["preset", "plugin", "priority", "settings"], rows)


@ls_group.command("models")
def ls_models() -> None:
    """Model aliases `--model` accepts (registered by plugins: `jlce_register_model_aliases`)."""
    with fail_cleanly():
        from jlce.registry import get_registry

        rows = [[n, s.plugin, s.target or "(built locally)", s.description]
                for n, s in sorted(get_registry().model_aliases.items())]
        _print_rows("model aliases", ["alias", "plugin", "hub id", "description"], rows)


@ls_group.command("commands")
def ls_commands() -> None:
    """Commands that plugins add to `jlce` (`jlce_register_commands`)."""
    with fail_cleanly():
        from jlce.cli.plugin_commands import PluginCommandGroup

        app = click.get_current_context().find_root().command  # the `jlce` group
        rows = []
        if isinstance(app, PluginCommandGroup):
            rows = [[name, app.commands[name].get_short_help_str(80)] for name in app.load_plugin_commands()]
        _print_rows("plugin commands", ["command", "help"], rows)


@ls_group.command("loggers")
def ls_loggers() -> None:
    """Experiment trackers (`jlce run --log NAME`, `jlce log RUN_DIR --to NAME`)."""
    with fail_cleanly():
        from jlce.registry import get_registry

        rows = [[n, s.plugin, f"jlce[{s.extra}]" if s.extra else "", ", ".join(s.options), s.description]
                for n, s in sorted(get_registry().loggers.items())]
        _print_rows("loggers", ["logger", "plugin", "install", "--log-arg keys", "description"], rows)


@ls_group.command("plugins")
def ls_plugins() -> None:
    """Loaded plugins and the hooks each implements."""
    with fail_cleanly():
        from jlce.plugin_manager import get_plugin_manager

        pm = get_plugin_manager()
        rows = []
        for name, plugin in sorted(pm.list_name_plugin()):
            hooks = sorted(caller.name for caller in pm.get_hookcallers(plugin) or [])
            rows.append([name, getattr(plugin, "__name__", type(plugin).__name__), ", ".join(hooks)])
        _print_rows("plugins", ["plugin", "module", "hooks"], rows)


@show_group.command("task")
@click.argument("name")
@include_path_option
@click.option("--data", type=click.Choice(["fixture", "auto"]), default=None,
              help="'fixture': the bundled sample data; 'auto': the real data (default: fixture when the task has one).")
@click.option("--num-fewshot", type=click.IntRange(0, 64))
@click.option("--index", type=click.IntRange(min=0), default=0, help="Which item's prompt to render.")
def show_task(name: str, include_path: tuple[str, ...], data: str | None, num_fewshot: int | None, index: int) -> None:
    """A task's definition and one rendered example prompt."""
    with fail_cleanly():
        from jlce.errors import UserError
        from jlce.taskindex import task_index
        from jlce.task import Task

        index_ = task_index(tuple(Path(p) for p in include_path))
        names = index_.resolve(name)
        if len(names) != 1 or names[0] != name:
            raise UserError(f"'{name}' is a group of {len(names)} tasks; show one of: {', '.join(names)}")
        task = Task.from_entry(index_.tasks[name])
        if data is None:
            data = "fixture" if task.config.eval_split in task.config.dataset.fixture else "auto"
        task.build(limit=index + 1, num_fewshot=num_fewshot, data=data)  # type: ignore[arg-type]
        c = task.config
        click.echo(f"task: {c.task}  (version {c.version}, {c.category}, {c.output_type})")
        click.echo(f"file: {task.path}")
        click.echo(f"license: {c.license}")
        click.echo(f"metrics: {', '.join(m.name for m in c.metrics)} (headline: {c.headline_metric})")
        click.echo(f"few-shot: {task.num_fewshot} from split '{c.fewshot.split if c.fewshot else '-'}'; data: {task.data_source}")
        instance = task.instances[min(index, len(task.instances) - 1)]
        if c.output_type == "generate_chat":  # a conversation: each user turn, and how it is decoded
            from jlce.multiturn import item_turns
            from jlce.requests import generation_params

            for k, turn in enumerate(item_turns(task, instance), 1):
                click.echo(f"---- turn {k} (user) " + "-" * 52)
                click.echo(turn)
            p = generation_params(instance.requests[0])
            click.echo(f"---- decoding: temperature {p.temperature}, seed {p.seed}, max_new_tokens {p.max_new_tokens}; "
                       "each turn is asked after the model's own answers to the turns before it")
            return
        click.echo("---- prompt " + "-" * 60)
        click.echo(instance.prompt)
        click.echo("---- " + ("choices" if instance.choices else "target") + " " + "-" * 60)
        if instance.choices:
            for i, choice in enumerate(instance.choices):
                click.echo(f"{'*' if i == instance.gold else ' '} {i}: {choice!r}")
        else:
            click.echo(repr(instance.target))


@show_group.command("backend")
@click.argument("name")
def show_backend(name: str) -> None:
    """A backend's options (`jlce run --backend NAME --backend-arg KEY=VALUE`)."""
    with fail_cleanly():
        from jlce.backendargs import option_rows
        from jlce.registry import get_registry

        spec = get_registry().get("backends", name)
        click.echo(f"backend: {spec.name}  (plugin {spec.plugin})")
        click.echo(spec.description)
        rows = [list(row) for row in option_rows(spec)]
        if rows:
            _print_rows("--backend-arg KEY=VALUE", ["key", "default", "meaning"], rows)
        else:
            click.echo("it declares no options model: --backend-arg pairs reach it as text")


@show_group.command("run")
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False))
def show_run(run_dir: str) -> None:
    """A finished run: scores, timing, memory and provenance."""
    with fail_cleanly():
        from jlce.cli.show_run import show_run as render

        render(Path(run_dir))
