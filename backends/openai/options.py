"""`--backend-arg key=value` options of the OpenAI-compatible backend: one frozen pydantic model,
declared on the backend's spec (the core parses the text pairs with it once; jlce.backendargs)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class OpenAIOptions(BaseModel):
    """Options of `--backend openai`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    base_url: str | None = Field(default=None, description="server URL up to /v1, e.g. http://127.0.0.1:8000/v1 (required)")
    model: str | None = Field(default=None, description="model name the server knows (default: --model)")
    api: Literal["completions", "chat"] | None = Field(default=None, description="generation endpoint (default: chat with --chat-template, else completions)")
    api_key_env: str = Field(default="OPENAI_API_KEY", pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", description="environment variable holding the key (never recorded)")
    concurrency: int = Field(default=4, ge=1, le=256, description="requests in flight at once")
    timeout: float = Field(default=120.0, gt=0, description="seconds to wait for one answer")
    max_retries: int = Field(default=1000, ge=0, le=100_000, description="most retries of a failed request (patience usually ends them first)")
    patience: float = Field(default=300.0, ge=0, description="seconds a failing request keeps being retried (a restarting server is waited for)")
    backoff: float = Field(default=1.0, ge=0, description="seconds before the first retry (doubles, with jitter)")
    backoff_max: float = Field(default=10.0, ge=0, description="longest wait between retries")
    logprobs: Literal["auto", "true", "false"] = Field(default="auto", description="prompt log-probs via echo: auto probes the server")
    tokenizer: str | None = Field(default=None, description="local tokenizer (hub id or directory; 'none' for text-only)")
    add_bos_token: bool | None = Field(default=None, description="override the tokenizer's BOS convention")
    token_ids: Literal["auto", "true", "false"] = Field(
        default="auto", description="ask for the generated token ids (vLLM's return_token_ids) and decode them with the local "
        "tokenizer, as the other backends do (a server's own text can lose its last characters); auto: with a local tokenizer")
