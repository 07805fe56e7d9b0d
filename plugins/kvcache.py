"""KV-cache profiler: bytes of key/value cache per token, computed from the model's own config.

- MHA/GQA: `2 (K and V) × attention layers × num_key_value_heads × head_dim × bytes`.
- DeepSeek MLA (`kv_lora_rank` set): `layers × (kv_lora_rank + qk_rope_head_dim) × bytes`; the
  config's `num_key_value_heads` means nothing under MLA and is ignored.
- Layers listed in `layer_types` as linear attention / convolution / state-space keep no per-token
  cache and are left out; sliding-window layers hold at most `sliding_window` tokens, which
  matters for the size at the run's maximum context length.

The numbers always come from the config (nested `text_config` for multimodal models), never a table.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from jlce.hookspecs import hookimpl
from jlce.specs import ProfilerSpec

_DTYPE_BYTES = {
    "float64": 8, "double": 8, "fp64": 8,
    "float32": 4, "float": 4, "fp32": 4, "tf32": 4,
    "float16": 2, "half": 2, "fp16": 2, "bfloat16": 2, "bf16": 2,
    "fp8": 1, "fp8_e4m3": 1, "fp8_e5m2": 1, "float8_e4m3fn": 1, "float8_e5m2": 1, "int8": 1, "uint8": 1,
}


@hookimpl
def jlce_register_profilers(register):
    register(ProfilerSpec("kvcache", "jlce.plugins.kvcache:KVCacheProfiler",
                          description="KV-cache bytes per token and at the maximum context length, from the model config"))


def text_config(config: Mapping[str, Any]) -> Mapping[str, Any]:
    """The language-model part of a config (multimodal configs nest it under `text_config`)."""
    if "num_hidden_layers" not in config and isinstance(config.get("text_config"), Mapping):
        return config["text_config"]
    return config


def dtype_bytes(name: Any) -> int | None:
    """Bytes per element for a dtype name (`"bfloat16"`, `"torch.float16"`, `"fp8"`...), None when unknown."""
    if name is None:
        return None
    key = str(name).lower().removeprefix("torch.")
    return _DTYPE_BYTES.get(key)


def _layer_kinds(config: Mapping[str, Any]) -> list[str]:
    """One entry per layer: "full", "sliding" or "none" (keeps no per-token cache)."""
    layers = int(config["num_hidden_layers"])
    types = config.get("layer_types")
    if not types:
        return ["full"] * layers
    kinds = []
    for name in types:
        name = str(name)
        if "attention" not in name or name.startswith("linear"):
            kinds.append("none")
        elif "sliding" in name or "chunked" in name:
            kinds.append("sliding")
        else:
            kinds.append("full")
    return kinds


def kv_layout(config: Mapping[str, Any]) -> dict[str, Any]:
    """What the cache holds per layer and token: attention kind, layer counts, heads, head size."""
    config = text_config(config)
    kinds = _layer_kinds(config)
    cached_layers = sum(kind != "none" for kind in kinds)
    layout: dict[str, Any] = {
        "layers": len(kinds),
        "cached_layers": cached_layers,
        "sliding_layers": kinds.count("sliding"),
        "sliding_window": config.get("sliding_window") if "sliding" in kinds else None,
    }
    if config.get("kv_lora_rank"):
        per_layer = int(config["kv_lora_rank"]) + int(config["qk_rope_head_dim"])
        layout.update(attention="mla", kv_lora_rank=int(config["kv_lora_rank"]),
                      qk_rope_head_dim=int(config["qk_rope_head_dim"]), elements_per_layer=per_layer)
        return layout
    heads = int(config["num_attention_heads"])
    kv_heads = int(config.get("num_key_value_heads") or heads)
    head_dim = int(config.get("head_dim") or int(config["hidden_size"]) // heads)
    attention = "mha" if kv_heads == heads else ("mqa" if kv_heads == 1 else "gqa")
    layout.update(attention=attention, kv_heads=kv_heads, head_dim=head_dim, elements_per_layer=2 * kv_heads * head_dim)
    return layout


def kv_bytes_per_token(config: Mapping[str, Any], dtype_bytes: int) -> int:
    """KV-cache bytes one token adds, summed over every layer that caches keys and values."""
    layout = kv_layout(config)
    return layout["cached_layers"] * layout["elements_per_layer"] * dtype_bytes


def kv_bytes_for_context(config: Mapping[str, Any], dtype_bytes: int, tokens: int) -> int:
    """KV-cache bytes of one sequence of `tokens` tokens (sliding-window layers keep at most their window)."""
    layout = kv_layout(config)
    per_layer_token = layout["elements_per_layer"] * dtype_bytes
    full_layers = layout["cached_layers"] - layout["sliding_layers"]
    window = layout["sliding_window"]
    sliding_tokens = min(tokens, int(window)) if window else tokens
    return per_layer_token * (full_layers * tokens + layout["sliding_layers"] * sliding_tokens)


def _as_dict(config: Any) -> dict[str, Any] | None:
    if config is None:
        return None
    if isinstance(config, Mapping):
        return dict(config)
    to_dict = getattr(config, "to_dict", None)
    return to_dict() if callable(to_dict) else None


def backend_model_config(backend: Any) -> dict[str, Any] | None:
    """The model config from `backend.model_config()`, else `backend.describe()["config"]`, else the
    `backend.model.config` of a backend holding a Hugging Face model in this process."""
    if backend is None:
        return None
    getter = getattr(backend, "model_config", None)
    if callable(getter):
        found = _as_dict(getter())
        if found:
            return found
    found = _as_dict(backend.describe().get("config"))
    if found:
        return found
    return _as_dict(getattr(getattr(backend, "model", None), "config", None))


class KVCacheProfiler:
    """Options: `kv_dtype` (overrides the dtype the cache is stored in), `max_context` (tokens)."""

    def __init__(self, options: Mapping[str, Any] | None = None):
        self.options = dict(options or {})
        self._result: dict[str, Any] | None = None

    def _cache_dtype(self, run: Any, describe: Mapping[str, Any], config: Mapping[str, Any]) -> tuple[int, str, str]:
        run_config = run.config or {}
        backend_options = run_config.get("backend_options") or run_config.get("backend_args") or {}
        candidates = (
            ("option kv_dtype", self.options.get("kv_dtype")),
            ("engine kv_cache_dtype", backend_options.get("kv_cache_dtype") if isinstance(backend_options, Mapping) else None),
            ("model dtype", describe.get("dtype")),
            ("run dtype", run_config.get("dtype")),
            ("config dtype", text_config(config).get("dtype") or text_config(config).get("torch_dtype")),
        )
        for source, name in candidates:
            size = dtype_bytes(name)
            if size:
                return size, str(name), source
        return 2, "bfloat16", "assumed"

    def _max_context(self, run: Any, describe: Mapping[str, Any], config: Mapping[str, Any]) -> tuple[int | None, str]:
        for source, value in (("option max_context", self.options.get("max_context")),
                              ("run max_length", (run.config or {}).get("max_length")),
                              ("model max_length", describe.get("max_length")),
                              ("config max_position_embeddings", text_config(config).get("max_position_embeddings"))):
            if value:
                return int(value), source
        return None, "unknown"

    def _measure(self, run: Any) -> dict[str, Any]:
        if run.backend is None:
            return {"available": False, "reason": "no model was loaded"}
        config = backend_model_config(run.backend)
        if not config:
            return {"available": False, "reason": "the backend exposes no model config (model_config() or describe()['config'])"}
        describe = run.backend.describe()
        size, dtype_name, dtype_source = self._cache_dtype(run, describe, config)
        context, context_source = self._max_context(run, describe, config)
        result: dict[str, Any] = {"available": True, **kv_layout(config), "dtype": dtype_name, "dtype_source": dtype_source,
                                  "dtype_bytes": size, "bytes_per_token": kv_bytes_per_token(config, size),
                                  "max_context_tokens": context, "max_context_source": context_source}
        if context:
            result["bytes_at_max_context"] = kv_bytes_for_context(config, size, context)
        return result

    @hookimpl
    def jlce_model_loaded(self, run):
        self._result = self._measure(run)

    @hookimpl
    def jlce_run_end(self, run):
        if self._result is None:
            self._result = self._measure(run)
        return {"profile": {"kvcache": self._result}}
