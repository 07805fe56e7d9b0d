"""The leaderboard.json document (pydantic). docs/leaderboard.schema.json is generated from it."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

SCHEMA_VERSION: Literal["1.0"] = "1.0"
ScopeKind = Literal["task", "category", "overall"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Entry(_Model):
    """One model in one scope."""

    model: str
    position: int = Field(description="1 + the number of models with a better observed score: entries are "
                                      "listed by observed score, and equal observed scores share a position.")
    observed: float = Field(description="The statistic on the matched items, equal weights (tasks: metric units; "
                                        "categories and overall: normalized, 0 = chance/worst, 1 = best).")
    mean: float = Field(description="Posterior mean.")
    lo: float = Field(description="Lower end of the equal-tailed credible interval.")
    hi: float = Field(description="Upper end of the credible interval.")
    expected_rank: float
    rank_ub: int = Field(description="Arena-style rank: 1 + #models whose lower bound exceeds this model's "
                                     "upper bound.")
    p_rank: list[float] = Field(description="P(rank = k) for k = 1..M.")
    normalized: float | None = Field(None, description="Tasks: the observed score after normalization.")
    n_invalid: int = Field(0, description="Predictions that could not be read (imputed; corpus statistics).")
    freq_interval: tuple[float, float] | None = Field(
        None, description="Wilson (binary) or Student-t (continuous) interval.")


class Frequentist(_Model):
    test: Literal["mcnemar_exact", "paired_permutation"]
    permutations: int | None = None
    p_value: list[list[float]] = Field(description="Two-sided p-value, row vs column.")
    p_holm: list[list[float]] = Field(description="Holm-adjusted across all pairs of the task.")
    effect: Literal["cohen_h", "cohen_dz"]
    effect_size: list[list[float]] = Field(description="Row minus column.")


class Scope(_Model):
    """A ranking: one task, one category, or overall. Entries are sorted by observed score (ties by name)."""

    kind: ScopeKind
    name: str
    title: str
    metric: str | None = None
    statistic: str | None = None
    range: tuple[float, float] | None = None
    higher_is_better: bool = True
    n_items: int | None = Field(None, description="Tasks: items answered by every ranked model (matched by doc_id).")
    models: list[str] = Field(description="Order of the entries and of the matrices' rows and columns.")
    entries: list[Entry]
    p_better: list[list[float]] = Field(description="P(row > column) + ½ P(tie).")
    frequentist: Frequentist | None = None
    freq_interval_method: Literal["wilson", "t"] | None = Field(
        None, description="Method of the entries' freq_interval: Wilson (binary scores) or Student-t (clipped to the "
                          "range).")
    note: str | None = None


class ModelInfo(_Model):
    name: str
    run_dir: str
    run_id: str
    backend: str
    fingerprint_hash: str
    complete: bool = Field(description="Has every leaderboard task; only complete models are ranked overall.")
    missing_tasks: list[str]
    dropped_items: dict[str, int] = Field(
        description="Per task, items of this run left out because another model lacks them.")
    tokens_per_correct: dict[str, float] = Field(
        default_factory=dict,
        description="Per task with reasoning statistics: generated tokens (thinking + answer) per correct output.")
    tokens_per_correct_overall: float | None = Field(
        None, description="The same, pooled over the leaderboard tasks that have it (None: no reasoning statistics).")


class CategoryInfo(_Model):
    name: str
    title: str
    weight: float
    tasks: list[str]


class TaskInfo(_Model):
    name: str
    source_task: str
    title: str
    category: str
    metric: str
    statistic: str
    range: tuple[float, float]
    higher_is_better: bool
    chance: float | None
    baseline: float = Field(description="The score that normalizes to 0.")
    weight: float = Field(description="Weight in the overall score (all weights sum to 1).")
    note: str | None = None


class DefinitionInfo(_Model):
    name: str
    version: str
    title: str
    description: str
    source: str
    sha256: str
    normalize: str
    categories: list[CategoryInfo]
    tasks: list[TaskInfo]


class Settings(_Model):
    seed: int
    draws: int
    level: float
    permutations: int
    allow_mismatch: bool
    chosen: dict[str, str] = Field(description="--choose: model -> the run kept.")
    dropped_runs: list[str]


class Mismatch(_Model):
    task: str
    field: str
    values: dict[str, list[str]] = Field(description="Value -> runs with it.")


class Leaderboard(_Model):
    schema_version: Literal["1.0"] = SCHEMA_VERSION
    kind: Literal["jlce.leaderboard"] = "jlce.leaderboard"
    jlce_version: str
    generated_at: str
    method: str
    definition: DefinitionInfo
    settings: Settings
    models: list[ModelInfo]
    overall: Scope | None = Field(description="None when no model has every task.")
    categories: list[Scope]
    tasks: list[Scope]
    mismatches: list[Mismatch]
    warnings: list[str]


def json_schema() -> dict:
    """The JSON Schema of leaderboard.json (docs/leaderboard.schema.json is this, pretty-printed)."""
    schema = Leaderboard.model_json_schema()
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema}


if __name__ == "__main__":  # python -m jlce.leaderboard.schema > docs/leaderboard.schema.json
    import json

    print(json.dumps(json_schema(), indent=2, ensure_ascii=False))
