"""Loading a Hugging Face model: device and dtype choice, backend options, hub/local files."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

from jlce.backends.common.aliases import ModelRef
from jlce.backends.common.fingerprint import hub_snapshot_dir
from jlce.backends.common.quiet import quiet_progress
from jlce.errors import UserError, did_you_mean

DTYPES = {"float32": "float32", "fp32": "float32", "float16": "float16", "fp16": "float16", "half": "float16",
          "bfloat16": "bfloat16", "bf16": "bfloat16"}


class LoadOptions(Protocol):
    """What loading reads of a backend's options (the transformers backend's `TransformersOptions`)."""

    attn_implementation: str | None
    device_map: str | None
    tokenizer: str | None


def pick_device(requested: str) -> str:
    """`auto`: cuda when available (ROCm builds of torch report cuda too), else cpu."""
    import torch

    text = (requested or "auto").strip().lower()
    if text == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    try:
        device = torch.device(text)
    except (RuntimeError, ValueError) as error:
        raise UserError(f"unknown device '{requested}'; use auto, cpu, cuda or cuda:N") from error
    if device.type == "cuda" and not torch.cuda.is_available():
        raise UserError(f"device '{requested}' requested but torch sees no CUDA/ROCm GPU")
    return text


def pick_dtype(requested: str, device: str):
    """`auto`: float32 on CPU; bfloat16 on a GPU that supports it, else float16."""
    import torch

    text = (requested or "auto").strip().lower()
    if text == "auto":
        if not device.startswith("cuda"):
            return torch.float32
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if text not in DTYPES:
        raise UserError(f"unknown dtype '{requested}'{did_you_mean(text, DTYPES)}; use auto, float32, float16 or bfloat16")
    return getattr(torch, DTYPES[text])


def load_model_and_tokenizer(ref: ModelRef, *, revision: str | None, dtype, device: str, trust_remote_code: bool,
                             options: LoadOptions):
    """`AutoTokenizer` and `AutoModelForCausalLM` from a local directory or the hub, in eval mode."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    common = {"revision": revision, "trust_remote_code": trust_remote_code}
    model_kwargs: dict[str, Any] = {"dtype": dtype}
    if options.attn_implementation:
        model_kwargs["attn_implementation"] = options.attn_implementation
    if options.device_map:
        model_kwargs["device_map"] = options.device_map
    try:
        with quiet_progress():
            tokenizer = AutoTokenizer.from_pretrained(options.tokenizer or ref.target, **common)
            model = AutoModelForCausalLM.from_pretrained(ref.target, **common, **model_kwargs)
    except (OSError, ValueError) as error:
        where = "directory" if ref.local else "hub model (offline? set HF_HOME to a cache that holds it)"
        raise UserError(f"cannot load {where} '{ref.target}': {str(error).splitlines()[0]}") from error
    if not options.device_map:
        model.to(device)
    model.eval()
    return model, tokenizer


def model_files_dir(ref: ModelRef, revision: str | None) -> Path | None:
    """The local directory whose files were loaded (a hub snapshot for hub ids)."""
    if ref.local:
        return Path(ref.target)
    return hub_snapshot_dir(ref.target, revision)


def model_max_length(model, tokenizer, configured: int | None) -> int:
    """`--max-length`, else the model config's context size, else the tokenizer's, else 2048."""
    if configured is not None:
        if configured < 2:
            raise UserError(f"--max-length must be at least 2, not {configured}")
        return configured
    config = model.config.get_text_config() if hasattr(model.config, "get_text_config") else model.config
    for attribute in ("max_position_embeddings", "n_positions", "n_ctx", "seq_length"):
        value = getattr(config, attribute, None)
        if isinstance(value, int) and value > 1:
            return value
    value = getattr(tokenizer, "model_max_length", None)
    if isinstance(value, int) and 1 < value < 10**7:
        return value
    return 2048


def kv_bytes_per_token(model) -> int | None:
    """Key/value cache bytes per token, from the model's config: MLA when it has `kv_lora_rank`."""
    config = model.config.get_text_config() if hasattr(model.config, "get_text_config") else model.config
    width = model.dtype.itemsize
    layers = getattr(config, "num_hidden_layers", None)
    if not layers:
        return None
    if getattr(config, "kv_lora_rank", None):
        return layers * (config.kv_lora_rank + config.qk_rope_head_dim) * width
    heads = getattr(config, "num_attention_heads", None)
    kv_heads = getattr(config, "num_key_value_heads", None) or heads
    head_dim = getattr(config, "head_dim", None) or (config.hidden_size // heads if heads else None)
    if not (kv_heads and head_dim):
        return None
    return 2 * layers * kv_heads * head_dim * width
