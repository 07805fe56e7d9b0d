"""`jlce data pull|add|ls`: fill and inspect the offline data directory ($JLCE_DATA_DIR)."""

from __future__ import annotations

from pathlib import Path

import click

from jlce.cli.common import fail_cleanly
from jlce.cli.options import include_path_option


@click.group()
def data_group() -> None:
    """Manage the offline data directory ($JLCE_DATA_DIR)."""


def _file_tasks(spec: str, include_path: tuple[str, ...]):
    from jlce.task import load_tasks

    return load_tasks(spec, tuple(Path(p) for p in include_path))


def _file_groups(task) -> dict[str, list]:
    """The task's source files by split, and a judged task's pinned judge files (prompts, reference
    answers: jlce.judge.prompts) as 'judge'."""
    groups = dict(task.config.dataset.files or {})
    judge = getattr(task.config, "judge", None)
    if judge is not None:
        groups["judge"] = [*judge.sources.values(), *([judge.references] if judge.references else [])]
    return groups


tasks_option = click.option("--tasks", "-t", default="all", show_default=True, help="Tasks or groups.")


@data_group.command("pull")
@tasks_option
@include_path_option
def pull(tasks: str, include_path: tuple[str, ...]) -> None:
    """Download and checksum-verify the tasks' source files (hub datasets go to the HF cache)."""
    with fail_cleanly():
        from jlce.data import store, verify
        from jlce.data.loader import load_split

        for task in _file_tasks(tasks, include_path):
            dataset = task.config.dataset
            if dataset.hub is not None:
                splits = {task.config.eval_split} | ({task.config.fewshot.split} if task.config.fewshot else set())
                for split in sorted(splits):
                    load_split(task.name, dataset, split, task.path)
                click.echo(f"{task.name}: hub dataset {dataset.hub.path}@{dataset.hub.revision} cached")
                continue
            for split, sources in _file_groups(task).items():
                for source in sources:
                    if source.path is not None:
                        click.echo(f"{task.name}/{split}: {source.name} ships with the task")
                        continue
                    present = store.find(source)
                    if present is not None and verify.current_sha256(present) != source.sha256:
                        click.echo(f"{task.name}/{split}: {present} does not match its sha256 (edited or damaged); "
                                   "downloading it again", err=True)
                        present = None
                    path = present or store.download(source)
                    click.echo(f"{task.name}/{split}: {source.name} {'present' if present else 'downloaded'} ({path.stat().st_size:,} bytes)")


@data_group.command("add")
@click.argument("task")
@click.argument("path", type=click.Path(path_type=Path))
@include_path_option
def add(task: str, path: Path, include_path: tuple[str, ...]) -> None:
    """Register local copies of TASK's source files (PATH: a file or a directory) after verifying their sha256."""
    with fail_cleanly():
        from jlce.data import store
        from jlce.errors import DataError, UserError

        (loaded,) = _file_tasks(task, include_path) if "," not in task else (None,)
        if loaded is None or loaded.config.dataset.files is None:
            raise UserError(f"task '{task}' does not read files by URL; nothing to add")
        if not path.exists():
            raise UserError(f"{path}: no such file or directory")
        sources = {s.sha256: s for group in _file_groups(loaded).values() for s in group if s.url}
        by_name = {s.name: s for s in sources.values()}
        candidates = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        added = 0
        for candidate in candidates:
            digest = store.sha256_file(candidate)
            source = sources.get(digest)
            if source is None:
                if not path.is_dir() and candidate.name in by_name:
                    expected = by_name[candidate.name].sha256
                    raise DataError(f"{candidate}: checksum mismatch for '{candidate.name}': expected sha256 {expected}, got {digest}")
                continue
            target = store.add_local(candidate, source)
            added += 1
            click.echo(f"{loaded.name}: {source.name} <- {candidate} (verified) -> {target}")
        if not added:
            names = ", ".join(sorted(by_name))
            raise DataError(f"{path}: no file matches a source of task '{task}' by sha256 (expected: {names})")


@data_group.command("ls")
@tasks_option
@include_path_option
def ls(tasks: str, include_path: tuple[str, ...]) -> None:
    """What is present in the data directory, with sizes and licenses."""
    with fail_cleanly():
        from rich.console import Console
        from rich.table import Table

        from jlce.data import hubcache, store
        from jlce.data.verify import current_sha256
        from jlce.paths import data_dir

        table = Table(title=f"data directory: {data_dir()}")
        for column in ("task", "split", "file", "present", "bytes", "license"):
            table.add_column(column)
        for task in _file_tasks(tasks, include_path):
            dataset = task.config.dataset
            if dataset.hub is not None:
                cached = hubcache.state(dataset.hub)
                table.add_row(task.name, "*", f"hub:{dataset.hub.path}@{dataset.hub.revision[:12]}",
                              f"yes: {cached.detail}" if cached.present else f"no: {cached.detail}", "", task.config.license)
                continue
            for split, sources in _file_groups(task).items():
                for source in sources:
                    if source.path is not None:
                        table.add_row(task.name, split, source.name, "packaged", "", task.config.license)
                        continue
                    found = store.find(source)
                    state = "no"
                    if found:  # the real state: a stored file whose bytes changed is damaged, not present
                        state = "yes" if current_sha256(found) == source.sha256 else "damaged (sha256 differs)"
                    table.add_row(task.name, split, source.name, state,
                                  f"{found.stat().st_size:,}" if found else "", task.config.license)
        Console().print(table)
