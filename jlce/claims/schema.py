"""The claims file (YAML): which runs are which, and the claims to check against them.

    version: 1
    title: Vocabulary expansion
    confidence: 0.95            # default for every claim
    runs:
      A: {model: "*vocab-500*"}   # label -> selector over the run directories given
      B: {model: "*vocab-8000*"}
    claims:
      - id: speed
        statement: B answers at least 1.3x as many requests per second as A
        check: requests_per_s(B) / requests_per_s(A) >= 1.3

Validated with pydantic (`extra="forbid"`); errors name the file, line and key, as task files'.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from jlce.claims.expressions import Comparison, ExpressionError, parse_check, quantities
from jlce.claims.quantities import check_quantity
from jlce.errors import ConfigError, did_you_mean
from jlce.yamlfile import LoadedYaml, load_yaml

LABEL_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"
ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)  # .inf/.nan are mistakes


class RunSelector(_Strict):
    """Which run directories a label stands for: every given field must match (globs for names)."""

    model: str | None = Field(None, description="glob over results.json model.name")
    path: str | None = Field(None, description="glob over the run directory path (or its last part)")
    fingerprint: str | None = Field(None, min_length=6, description="prefix of model.fingerprint_hash")
    run_id: str | None = None
    description: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        return {"model": data} if isinstance(data, str) else data

    @model_validator(mode="after")
    def _not_empty(self) -> RunSelector:
        if not any((self.model, self.path, self.fingerprint, self.run_id)):
            raise ValueError("a run selector needs at least one of model, path, fingerprint, run_id")
        return self


class Claim(_Strict):
    id: str = Field(pattern=ID_PATTERN, max_length=80)
    statement: str = Field(min_length=1, max_length=2000)
    check: str
    confidence: float | None = Field(None, gt=0.5, lt=1.0)
    source: str | None = Field(None, description="where the claim was made (paper, section)")
    notes: str | None = None

    @field_validator("check")
    @classmethod
    def _parse(cls, value: str) -> str:
        parsed = parse_check(value)  # ExpressionError is a ValueError: pydantic reports it at this key
        for q in quantities(parsed):
            check_quantity(q.name, q.args)
        return value

    @property
    def parsed(self) -> Comparison:
        return parse_check(self.check)


class ClaimsFile(_Strict):
    version: int = Field(1, ge=1, le=1)
    title: str | None = None
    description: str | None = None
    confidence: float = Field(0.95, gt=0.5, lt=1.0)
    seed: int = Field(0, ge=0, lt=2**63)
    draws: int = Field(4000, ge=200, le=1_000_000)
    runs: dict[str, RunSelector] = Field(default_factory=dict)
    claims: list[Claim] = Field(min_length=1)

    @field_validator("runs")
    @classmethod
    def _labels(cls, value: dict[str, RunSelector]) -> dict[str, RunSelector]:
        import re

        for label in value:
            if not re.match(LABEL_PATTERN, str(label)):
                raise ValueError(f"run label '{label}' must be a name (letters, digits, _), as it appears in checks")
        return value

    def confidence_of(self, claim: Claim) -> float:
        return claim.confidence if claim.confidence is not None else self.confidence


def _allowed_keys(loc: tuple) -> list[str]:
    models: dict[str, type[BaseModel]] = {"claims": Claim, "runs": RunSelector}
    parts = [p for p in loc if not isinstance(p, int)]
    if not parts:
        return list(ClaimsFile.model_fields)
    if parts[0] == "runs" and len(parts) == 2:
        return list(RunSelector.model_fields)
    model = models.get(parts[0])
    return list(model.model_fields) if model and len(parts) == 1 else []


def _located(error: ValidationError, loaded: LoadedYaml) -> ConfigError:
    errors = sorted(error.errors(), key=lambda e: e["type"] != "extra_forbidden")
    # A misspelt key shows up twice (unknown + missing): keep the unknown one, which suggests the fix.
    suggested = set()
    for e in errors:
        if e["type"] == "extra_forbidden" and e["loc"]:
            match = did_you_mean(str(e["loc"][-1]), _allowed_keys(tuple(e["loc"][:-1])))
            if match:
                suggested.add(tuple(e["loc"][:-1]) + (match.split("'")[1],))
    errors = [e for e in errors if not (e["type"] == "missing" and tuple(e["loc"]) in suggested)]
    first = errors[0]
    loc = tuple(first["loc"])
    if first["type"] == "extra_forbidden" and loc:
        message = f"unknown key{did_you_mean(str(loc[-1]), _allowed_keys(loc[:-1]))}"
    elif first["type"] == "missing":
        message = "required key is missing"
    else:
        message = str(first["msg"]).removeprefix("Value error, ")
        if first["type"] == "string_type" and isinstance(first.get("input"), bool):
            message += " (YAML reads yes/no/on/off/true/false as booleans: quote it)"
    more = len(errors) - 1
    if more:
        message += f" (and {more} more problem{'s' if more > 1 else ''})"
    return ConfigError(message, file=loaded.path, line=loaded.line_of(loc), key=".".join(map(str, loc)) or None)


def load_claims(path: str | Path, cli_labels: set[str] | frozenset[str] = frozenset()) -> tuple[ClaimsFile, str]:
    """Validate a claims file; returns it and the sha256 of its bytes. `cli_labels` are labels
    bound on the command line (LABEL=RUN_DIR), which need no selector in the file."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError("claims file not found", file=path)
    loaded = load_yaml(path)
    if not isinstance(loaded.data, dict):
        raise ConfigError("a claims file is a mapping with a 'claims' list", file=path, line=1)
    try:
        spec = ClaimsFile.model_validate(loaded.data)
    except ValidationError as error:
        raise _located(error, loaded) from None
    known = set(spec.runs) | set(cli_labels)
    seen: dict[str, int] = {}
    for index, claim in enumerate(spec.claims):
        if claim.id in seen:
            raise ConfigError(f"duplicate claim id '{claim.id}' (first at claims.{seen[claim.id]})", file=path,
                              line=loaded.line_of(("claims", index, "id")), key=f"claims.{index}.id")
        seen[claim.id] = index
        for q in quantities(claim.parsed):
            if q.label not in known:
                hint = did_you_mean(q.label, sorted(known)) or (
                    f"; defined: {', '.join(sorted(known))}" if known else "; define it under 'runs:' or bind it with LABEL=RUN_DIR")
                raise ConfigError(f"unknown run label '{q.label}' in {q.text}{hint}", file=path,
                                  line=loaded.line_of(("claims", index, "check")), key=f"claims.{index}.check")
    return spec, hashlib.sha256(path.read_bytes()).hexdigest()


__all__ = ["Claim", "ClaimsFile", "ExpressionError", "RunSelector", "load_claims"]
