"""KV-cache bytes per token from real model configs (built locally with transformers)."""

from __future__ import annotations

import pytest

from jlce.events import RunContext
from jlce.plugins.kvcache import (
    KVCacheProfiler,
    dtype_bytes,
    kv_bytes_for_context,
    kv_bytes_per_token,
    kv_layout,
)

transformers = pytest.importorskip("transformers")


def qwen2_7b_style() -> dict:
    """Qwen2.5-7B's attention shape (also DeepSeek-R1-Distill-Qwen-7B's): 28 query heads, 4 KV heads."""
    return transformers.Qwen2Config(hidden_size=3584, num_hidden_layers=28, num_attention_heads=28,
                                    num_key_value_heads=4, intermediate_size=18944).to_dict()


def test_gqa_bytes_per_token_follow_the_formula():
    config = qwen2_7b_style()
    head_dim = config["hidden_size"] // config["num_attention_heads"]
    expected = 2 * config["num_hidden_layers"] * config["num_key_value_heads"] * head_dim * 2
    assert kv_bytes_per_token(config, 2) == expected
    assert kv_bytes_per_token(config, 4) == 2 * expected
    layout = kv_layout(config)
    assert (layout["attention"], layout["kv_heads"], layout["head_dim"]) == ("gqa", 4, head_dim)


def test_mha_when_every_head_has_its_own_kv():
    config = transformers.Qwen2Config(hidden_size=256, num_hidden_layers=3, num_attention_heads=4,
                                      num_key_value_heads=4).to_dict()
    assert kv_layout(config)["attention"] == "mha"
    assert kv_bytes_per_token(config, 2) == 2 * 3 * 4 * (256 // 4) * 2


def test_mla_bytes_per_token_follow_the_formula():
    config = transformers.DeepseekV3Config().to_dict()  # DeepSeek-V3 / R1 dimensions
    expected = config["num_hidden_layers"] * (config["kv_lora_rank"] + config["qk_rope_head_dim"]) * 2
    assert kv_bytes_per_token(config, 2) == expected
    assert expected == 61 * 576 * 2 == 70_272  # the R1 figure in the design notes
    assert kv_layout(config)["attention"] == "mla"


def test_mla_ignores_num_key_value_heads():
    config = transformers.DeepseekV3Config().to_dict()
    other = {**config, "num_key_value_heads": 1}
    assert kv_bytes_per_token(config, 2) == kv_bytes_per_token(other, 2)


def test_layers_without_a_kv_cache_are_left_out():
    config = transformers.Qwen3NextConfig().to_dict()
    full = config["layer_types"].count("full_attention")
    assert 0 < full < config["num_hidden_layers"]
    expected = 2 * full * config["num_key_value_heads"] * config["head_dim"] * 2
    assert kv_bytes_per_token(config, 2) == expected


def test_sliding_window_layers_cap_the_context():
    config = transformers.Gemma3TextConfig().to_dict()
    window = config["sliding_window"]
    sliding = config["layer_types"].count("sliding_attention")
    full = config["layer_types"].count("full_attention")
    per_layer_token = 2 * config["num_key_value_heads"] * config["head_dim"] * 2
    tokens = 4 * window
    assert kv_bytes_for_context(config, 2, tokens) == per_layer_token * (full * tokens + sliding * window)
    # within the window every layer holds every token
    assert kv_bytes_for_context(config, 2, window) == kv_bytes_per_token(config, 2) * window


def test_multimodal_config_uses_its_text_config():
    outer = transformers.Gemma3Config().to_dict()
    assert kv_bytes_per_token(outer, 2) == kv_bytes_per_token(outer["text_config"], 2)


def test_context_bytes_are_per_token_bytes_times_tokens_without_windows():
    config = qwen2_7b_style()
    assert kv_bytes_for_context(config, 2, 32768) == 32768 * kv_bytes_per_token(config, 2)


@pytest.mark.parametrize(("name", "size"), [("bfloat16", 2), ("torch.float16", 2), ("float32", 4), ("fp8", 1),
                                            ("fp8_e5m2", 1), ("auto", None), (None, None)])
def test_dtype_bytes(name, size):
    assert dtype_bytes(name) == size


def test_profiler_reads_the_loaded_models_config(tiny_qwen_model_dir):
    from jlce.backend import BackendConfig
    from jlce.backends.transformers.backend import TransformersBackend

    backend = TransformersBackend(BackendConfig(model=str(tiny_qwen_model_dir), dtype="float32", device="cpu"))
    try:
        run = RunContext("kv", {"dtype": "float32"}, None)
        run.backend = backend
        profiler = KVCacheProfiler({})
        profiler.jlce_model_loaded(run)
        section = profiler.jlce_run_end(run)["profile"]["kvcache"]
        config = backend.model.config
        heads = config.num_attention_heads
        expected = 2 * config.num_hidden_layers * config.num_key_value_heads * (config.hidden_size // heads) * 4
        assert section["available"] is True
        assert section["dtype_bytes"] == 4
        assert section["bytes_per_token"] == expected
        # the backend computes the same figure its own way
        assert section["bytes_per_token"] == backend.describe()["kv_bytes_per_token"]
        assert section["max_context_tokens"] == backend.describe()["max_length"]
        assert section["bytes_at_max_context"] == expected * section["max_context_tokens"]
    finally:
        backend.close()


def test_profiler_without_a_model_says_why():
    run = RunContext("kv", {}, None)
    section = KVCacheProfiler({}).jlce_run_end(run)["profile"]["kvcache"]
    assert section["available"] is False and section["reason"]
