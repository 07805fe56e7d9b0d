"""Registers the OpenAI-compatible backend. Light: httpx loads only when the backend is used."""

from __future__ import annotations

from jlce.hookspecs import hookimpl
from jlce.specs import BackendSpec


@hookimpl
def jlce_register_backends(register):
    register(
        BackendSpec(
            name="openai",
            factory="jlce.backends.openai.backend:OpenAIBackend",
            options="jlce.backends.openai.options:OpenAIOptions",
            description="OpenAI-compatible server (completions / chat completions; log-likelihoods via echo + logprobs); "
            "--backend-arg base_url=http://HOST:PORT/v1",
        )
    )
