"""Registers the transformers backend. Light: torch and transformers load only when it is used."""

from __future__ import annotations

from jlce.hookspecs import hookimpl
from jlce.specs import BackendSpec


@hookimpl
def jlce_register_backends(register):
    register(
        BackendSpec(
            name="transformers",
            factory="jlce.backends.transformers.backend:TransformersBackend",
            options="jlce.backends.transformers.options:TransformersOptions",
            description="Hugging Face transformers (AutoModelForCausalLM) on CPU, CUDA or ROCm; "
            "shared contexts are computed once (KV reuse)",
        )
    )
