"""Task discovery: find task and group files quickly (validation is in jlce.taskload).

Listing scans only each file's top-level `task:`/`group:`/`category:` lines (no YAML parse), so
`jlce ls tasks` stays fast with thousands of files. Full validation happens when a task is used.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from jlce.errors import ConfigError, UserError, did_you_mean

_HEADER = re.compile(r"^(task|group|category):[ \t]*['\"]?([^'\"#\n]*?)['\"]?[ \t]*(?:#.*)?$", re.MULTILINE)
ALL = "all"
# Tasks that `all` leaves out: judged tasks need a judge model and run only when named (or by group).
NOT_IN_ALL = ("judged",)


@dataclass(frozen=True)
class TaskEntry:
    name: str
    path: Path
    category: str
    kind: str  # "task" | "group"


@dataclass
class TaskIndex:
    tasks: dict[str, TaskEntry] = field(default_factory=dict)
    groups: dict[str, TaskEntry] = field(default_factory=dict)

    @classmethod
    def scan(cls, directories: Iterable[Path]) -> TaskIndex:
        index = cls()
        for directory in directories:
            for path in sorted(Path(directory).rglob("*.y*ml")):
                if path.suffix in (".yaml", ".yml"):
                    index._add(path)
        return index

    def _add(self, path: Path) -> None:
        try:
            head = path.read_bytes()[:65536].decode("utf-8-sig", errors="replace")
        except OSError:
            return
        found = {key: value.strip() for key, value in _HEADER.findall(head)}
        for kind in ("task", "group"):
            name = found.get(kind)
            if not name:
                continue
            table = self.tasks if kind == "task" else self.groups
            other = self.tasks.get(name) or self.groups.get(name)
            if other is not None and other.path != path:
                raise ConfigError(f"{kind} name '{name}' is also defined in {other.path}", file=path, key=kind)
            table[name] = TaskEntry(name=name, path=path, category=found.get("category", "other"), kind=kind)

    @property
    def names(self) -> list[str]:
        return sorted(self.tasks) + sorted(self.groups) + [ALL]

    def resolve(self, spec: str | Iterable[str]) -> list[str]:
        """Task names for 'a,b', a group, or 'all' (every task but the judged ones), in a stable order without duplicates."""
        items = [part.strip() for part in spec.split(",")] if isinstance(spec, str) else list(spec)
        names: list[str] = []
        for item in items:
            if not item:
                continue
            for name in self._expand(item, ()):
                if name not in names:
                    names.append(name)
        if not names:
            raise UserError("no tasks given")
        return names

    def _expand(self, name: str, trail: tuple[str, ...]) -> list[str]:
        if name == ALL:
            return sorted(n for n, entry in self.tasks.items() if entry.category not in NOT_IN_ALL)
        if name in self.tasks:
            return [name]
        if name in self.groups:
            if name in trail:
                raise ConfigError(f"group cycle: {' -> '.join(trail + (name,))}", file=self.groups[name].path, key="tasks")
            from jlce.taskload import load_group

            group = load_group(self.groups[name].path)
            out: list[str] = []
            for member in group.tasks:
                if member not in self.tasks and member not in self.groups:
                    raise ConfigError(
                        f"unknown task '{member}'{did_you_mean(member, self.names)}",
                        file=self.groups[name].path, key="tasks",
                    )
                out.extend(self._expand(member, trail + (name,)))
            return out
        raise UserError(f"unknown task or group '{name}'{did_you_mean(name, self.names)}; see `jlce ls tasks`")


def task_index(include_paths: Iterable[Path] = ()) -> TaskIndex:
    """Every task and group that the registered task directories and `include_paths` hold."""
    from jlce.registry import get_registry

    dirs = [spec.path for spec in get_registry().task_dirs] + [Path(p) for p in include_paths]
    return TaskIndex.scan(dirs)


