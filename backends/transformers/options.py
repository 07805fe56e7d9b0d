"""`--backend-arg key=value` options of the transformers backend (pydantic, frozen)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class TransformersOptions(BaseModel):
    """Options of `--backend transformers` (`--backend-arg KEY=VALUE`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    attn_implementation: str | None = Field(default=None, description="attention kernel: sdpa | eager | flash_attention_2 | ...")
    device_map: str | None = Field(default=None, description="passed to from_pretrained (e.g. auto; needs accelerate); "
                                                             "the model is then not moved")
    tokenizer: str | None = Field(default=None, description="a different tokenizer (hub id or directory)")
    add_bos_token: bool | None = Field(default=None, description="true | false: override the tokenizer's BOS convention")
    max_batch_size: int = Field(default=64, ge=1, description="starting batch size of --batch-size auto")
