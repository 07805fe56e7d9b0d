"""`--backend-arg key=value` options of the vLLM backend: one frozen pydantic model, declared on the
backend's spec (the core parses the text pairs with it once; jlce.backendargs)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

# Engine arguments handed to `vllm.LLM` unchanged when given.
ENGINE_KEYS = (
    "tensor_parallel_size", "pipeline_parallel_size", "data_parallel_size", "max_model_len",
    "gpu_memory_utilization", "quantization", "kv_cache_dtype", "enforce_eager", "enable_prefix_caching",
    "max_num_seqs", "max_num_batched_tokens", "tokenizer", "swap_space", "cpu_offload_gb",
)


class VLLMOptions(BaseModel):
    """Options of `--backend vllm` (`--backend-arg KEY=VALUE`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    tensor_parallel_size: int = Field(default=1, ge=1, description="GPUs per model replica (tensor parallel)")
    pipeline_parallel_size: int = Field(default=1, ge=1, description="pipeline stages")
    data_parallel_size: int = Field(default=1, ge=1, description="model replicas (data parallel)")
    max_model_len: int | None = Field(default=None, ge=8, description="context length (default: --max-length, else the model's)")
    gpu_memory_utilization: float | None = Field(default=None, gt=0, le=1, description="fraction of GPU memory vLLM may take")
    quantization: str | None = Field(default=None, description="awq, gptq, fp8, ... (vLLM's names)")
    kv_cache_dtype: str | None = Field(default=None, description="auto, fp8, ...")
    enforce_eager: bool | None = Field(default=None, description="no CUDA graphs (default: true on CPU, vLLM's choice elsewhere)")
    enable_prefix_caching: bool | None = Field(default=None, description="vLLM's prefix cache (default: vLLM's choice)")
    max_num_seqs: int | None = Field(default=None, ge=1, description="sequences per engine step")
    max_num_batched_tokens: int | None = Field(default=None, ge=1, description="tokens per engine step")
    swap_space: float | None = Field(default=None, ge=0, description="CPU swap space in GiB")
    cpu_offload_gb: float | None = Field(default=None, ge=0, description="weights offloaded to CPU, GiB")
    tokenizer: str | None = Field(default=None, description="a different tokenizer (hub id or directory)")
    add_bos_token: bool | None = Field(default=None, description="override the tokenizer's BOS convention")
    max_lora_rank: int | None = Field(default=None, ge=1, description="LoRA rank the engine reserves (default: the adapter's)")
    rocm_preset: str | None = Field(default=None, description="mi300x: AMD's documented environment for MI300X")
    cpu_kvcache_space: int | None = Field(default=None, ge=1, description="CPU build: KV cache GiB (VLLM_CPU_KVCACHE_SPACE)")
    prefix_reuse: bool = Field(default=True, description="score choices against the cached context (checked; recomputed when unusable)")

    def engine_args(self) -> dict[str, Any]:
        """The options that are `vllm.LLM` arguments, as given (unset ones left to vLLM)."""
        values = {key: getattr(self, key) for key in ENGINE_KEYS}
        return {key: value for key, value in values.items() if value is not None}
