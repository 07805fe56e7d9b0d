"""`--backend-arg key=value` options of the dummy backend (pydantic, frozen)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class DummyOptions(BaseModel):
    """Options of `--backend dummy`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    reply: str = Field(default="", description="the text of every generation (cut at stop sequences and max_new_tokens)")
