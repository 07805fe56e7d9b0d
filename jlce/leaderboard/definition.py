"""A leaderboard definition (YAML): which tasks, their categories, headline metrics and weights.

Validated with pydantic (`extra="forbid"`); a mistake is a `ConfigError` naming file, line and key.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from jlce.errors import ConfigError, UserError, did_you_mean
from jlce.yamlfile import parse_yaml_text, read_text

OFFICIAL = "jlce-v1"

# Statistics a task's headline metric can be. "mean": the metric is the mean of per-item values
# (samples' `metrics.<metric>`); the others are corpus statistics recomputed from per-item
# predictions and gold labels under each draw's item weights (see weighted.py).
Statistic = Literal["mean", "spearman", "pearson", "mcc"]
CORPUS_STATISTICS = ("spearman", "pearson", "mcc")


class CategoryDef(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)  # .inf/.nan are mistakes

    weight: float = Field(1.0, gt=0, description="Weight of the category in the overall score.")
    title: str | None = None


class TaskDef(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)  # .inf/.nan are mistakes

    category: str
    metric: str = Field(description="Headline metric, as named in results.json and samples.")
    task: str | None = Field(None, description="Task name in results.json when it differs from the key.")
    statistic: Statistic = "mean"
    range: tuple[float, float] = Field((0.0, 1.0), description="Worst-to-best span of the metric, e.g. [0, 100].")
    higher_is_better: bool = True
    chance: float | None = Field(None, description="Chance-level score, used when normalize: chance.")
    weight: float = Field(1.0, gt=0, description="Weight of the task inside its category.")
    invalid: float | Literal["median"] = Field(
        "median", description="spearman/pearson: the value of an unreadable prediction (a number, or the median).")
    title: str | None = None
    note: str | None = None

    @model_validator(mode="after")
    def _check(self) -> TaskDef:
        lo, hi = self.range
        if not lo < hi:
            raise ValueError(f"range must be [low, high] with low < high, got {list(self.range)}")
        if self.chance is not None and not lo <= self.chance <= hi:
            raise ValueError(f"chance {self.chance} lies outside range {list(self.range)}")
        if self.statistic in ("spearman", "pearson", "mcc") and self.range != (-1.0, 1.0):
            raise ValueError(f"statistic {self.statistic} is a correlation: its range must be [-1, 1]")
        return self

    @property
    def worst(self) -> float:
        return self.range[0] if self.higher_is_better else self.range[1]

    @property
    def best(self) -> float:
        return self.range[1] if self.higher_is_better else self.range[0]


class LeaderboardDefinition(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)  # .inf/.nan are mistakes

    name: str
    version: str
    title: str
    description: str = ""
    normalize: Literal["none", "chance"] = Field(
        "none", description="'chance': a task's score counts from its chance level (0) to its best (1)."
    )
    level: float = Field(0.95, gt=0, lt=1, description="Credible/confidence level of every interval.")
    categories: dict[str, CategoryDef]
    tasks: dict[str, TaskDef]
    sha256: str = Field("", description="Filled in by the loader: hash of the definition file.")
    source: str = Field("", description="Filled in by the loader: where the definition came from.")

    @model_validator(mode="after")
    def _check(self) -> LeaderboardDefinition:
        if not self.tasks:
            raise ValueError("a leaderboard needs at least one task")
        for name, task in self.tasks.items():
            if task.category not in self.categories:
                raise ValueError(
                    f"task '{name}': unknown category '{task.category}'"
                    f"{did_you_mean(task.category, self.categories)}"
                )
        empty = [c for c in self.categories if not any(t.category == c for t in self.tasks.values())]
        if empty:
            raise ValueError(f"categories without tasks: {', '.join(empty)}")
        sources = [t.task or k for k, t in self.tasks.items()]
        if len(set(sources)) != len(sources):
            raise ValueError("two leaderboard tasks read the same results task")
        return self

    def source_task(self, key: str) -> str:
        """The results.json task name a leaderboard task reads."""
        return self.tasks[key].task or key

    def baseline(self, key: str) -> float:
        """The score that normalizes to 0: chance level (normalize: chance) or the worst value."""
        task = self.tasks[key]
        if self.normalize == "chance" and task.chance is not None:
            return task.chance
        return task.worst

    def task_weights(self) -> dict[str, float]:
        """Each task's weight in the overall score (category weight spread over its tasks); sums to 1."""
        total_cat = sum(self.categories[c].weight for c in self.categories)
        out: dict[str, float] = {}
        for cat, cdef in self.categories.items():
            members = {k: t for k, t in self.tasks.items() if t.category == cat}
            inner = sum(t.weight for t in members.values())
            for k, t in members.items():
                out[k] = cdef.weight / total_cat * t.weight / inner
        return out


def _line_index(text: str) -> dict[tuple[Any, ...], int]:
    """Map each YAML path (tuple of keys/indices) to its 1-based line."""
    lines: dict[tuple[Any, ...], int] = {}

    def walk(node: yaml.Node, path: tuple[Any, ...]) -> None:
        lines[path] = node.start_mark.line + 1
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                key = key_node.value
                lines[path + (key,)] = key_node.start_mark.line + 1
                walk(value_node, path + (key,))
                lines[path + (key,)] = key_node.start_mark.line + 1
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                walk(item, path + (i,))

    root = yaml.compose(text)
    if root is not None:
        walk(root, ())
    return lines


def _locate(loc: tuple[Any, ...], lines: dict[tuple[Any, ...], int]) -> int | None:
    for n in range(len(loc), -1, -1):
        if loc[:n] in lines:
            return lines[loc[:n]]
    return None


def parse_definition(text: str, source: str = "<string>") -> LeaderboardDefinition:
    """Parse and validate a definition from YAML text."""
    data = parse_yaml_text(text, source).data  # bounded: depth and alias expansion (yamlfile)
    try:
        lines = _line_index(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise ConfigError(f"invalid YAML: {getattr(exc, 'problem', exc)}", file=source,
                          line=mark.line + 1 if mark else None) from None
    if not isinstance(data, dict):
        raise ConfigError("a leaderboard definition must be a mapping", file=source, line=1)
    _check_categories(data, lines, source)
    data = dict(data, sha256=hashlib.sha256(text.encode()).hexdigest(), source=source)
    try:
        return LeaderboardDefinition.model_validate(data)
    except ValidationError as exc:
        # A misspelt key also shows up as a missing one: report the misspelling.
        err = sorted(exc.errors(), key=lambda e: e["type"] != "extra_forbidden")[0]
        loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-after")))
        key = ".".join(str(p) for p in loc) or None
        message = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden" and loc:
            allowed = _allowed_keys(loc)
            message = f"unknown key{did_you_mean(str(loc[-1]), allowed)}"
        raise ConfigError(message, file=source, line=_locate(loc, lines), key=key) from None


def _check_categories(data: dict[str, Any], lines: dict[tuple[Any, ...], int], source: str) -> None:
    """A task's category must be declared (checked here to point at the offending line)."""
    tasks, categories = data.get("tasks"), data.get("categories")
    if not isinstance(tasks, dict) or not isinstance(categories, dict):
        return
    for name, task in tasks.items():
        category = task.get("category") if isinstance(task, dict) else None
        if isinstance(category, str) and category not in categories:
            loc = ("tasks", name, "category")
            raise ConfigError(f"unknown category '{category}'{did_you_mean(category, categories)}",
                              file=source, line=_locate(loc, lines), key=".".join(loc))


def _allowed_keys(loc: tuple[Any, ...]) -> list[str]:
    if len(loc) == 1:
        return list(LeaderboardDefinition.model_fields)
    if loc[0] == "tasks":
        return list(TaskDef.model_fields)
    if loc[0] == "categories":
        return list(CategoryDef.model_fields)
    return []


def official_definition_path(name: str = OFFICIAL) -> Path:
    """Path of a bundled definition (`leaderboards/<name>.yaml`), installed or in a checkout."""
    from importlib import resources

    try:
        candidate = resources.files("jlce.leaderboards") / f"{name}.yaml"
        if candidate.is_file():
            return Path(str(candidate))
    except (ModuleNotFoundError, TypeError):
        pass
    return Path(__file__).resolve().parents[2] / "leaderboards" / f"{name}.yaml"


def load_definition(path: str | Path | None = None) -> LeaderboardDefinition:
    """Load a definition file; None gives the official JLCE leaderboard, a bare name a bundled one."""
    if path is None:
        path = official_definition_path()
    p = Path(path)
    if not p.exists() and p.suffix == "" and official_definition_path(str(path)).is_file():
        p = official_definition_path(str(path))
    if not p.is_file():
        raise UserError(f"leaderboard definition not found: {path}")
    return parse_definition(read_text(p), source=str(p))
