"""The offline tiny model builder."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

from jlce.errors import UserError  # noqa: E402
from jlce.tinymodel import build_tiny_model, builtin_corpus, ensure_tiny_model  # noqa: E402

JAPANESE = "東京スカイツリーの高さは634メートルで、2012年に開業した。Python 3.11 も使える。"


def files(directory):
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir())}


def test_same_arguments_give_identical_files(tiny_model_dir, tmp_path):
    again = build_tiny_model(tmp_path / "again", seed=0)
    assert files(again) == files(tiny_model_dir)
    assert {"model.safetensors", "config.json", "tokenizer.json", "tokenizer_config.json"} <= set(files(again))


def test_seed_changes_weights_only(tiny_model_dir, tmp_path):
    other = files(build_tiny_model(tmp_path / "seed1", seed=1))
    base = files(tiny_model_dir)
    assert other["model.safetensors"] != base["model.safetensors"]
    assert other["tokenizer.json"] == base["tokenizer.json"]


def test_model_and_tokenizer_load_with_auto_classes(tiny_model_dir):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    config = json.loads((tiny_model_dir / "config.json").read_text())
    assert config["model_type"] == "llama" and config["head_dim"] >= 32 and config["num_key_value_heads"] == 1
    assert model.dtype == torch.float32 and model.config.vocab_size == len(tokenizer)
    assert None not in (tokenizer.bos_token_id, tokenizer.eos_token_id, tokenizer.pad_token_id, tokenizer.unk_token_id)
    ids = tokenizer(JAPANESE)["input_ids"]
    assert ids[0] == tokenizer.bos_token_id and ids[-1] != tokenizer.eos_token_id  # Llama convention: BOS only
    assert tokenizer.decode(ids, skip_special_tokens=True) == JAPANESE  # byte-level BPE is lossless
    with torch.no_grad():
        logits = model(torch.tensor([ids])).logits
    assert logits.shape == (1, len(ids), len(tokenizer)) and torch.isfinite(logits).all()


def test_qwen2_variant_adds_no_bos(tiny_qwen_model_dir):
    from transformers import AutoTokenizer

    config = json.loads((tiny_qwen_model_dir / "config.json").read_text())
    assert config["model_type"] == "qwen2" and config["hidden_size"] // config["num_attention_heads"] == 64
    tokenizer = AutoTokenizer.from_pretrained(tiny_qwen_model_dir)
    assert tokenizer(JAPANESE)["input_ids"] == tokenizer(JAPANESE, add_special_tokens=False)["input_ids"]


def test_chat_template_renders_turns(tiny_model_dir):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    text = tokenizer.apply_chat_template([{"role": "user", "content": "こんにちは"}], tokenize=False,
                                         add_generation_prompt=True)
    assert text == "<s><|user|>\nこんにちは</s>\n<|assistant|>\n"


def test_extra_corpus_texts_shape_the_vocabulary(tiny_model_dir, tmp_path):
    from transformers import AutoTokenizer

    word = "量子誤り訂正符号"
    base = AutoTokenizer.from_pretrained(tiny_model_dir)
    extended = AutoTokenizer.from_pretrained(build_tiny_model(tmp_path / "ext", corpus_texts=[word] * 50))
    assert len(extended(word, add_special_tokens=False)["input_ids"]) < len(base(word, add_special_tokens=False)["input_ids"])


def test_builtin_corpus_is_varied_japanese():
    lines = builtin_corpus()
    text = "".join(lines)
    assert len(lines) >= 60
    assert any("\u3040" <= c <= "\u309f" for c in text) and any("\u30a0" <= c <= "\u30ff" for c in text)
    assert any("\u4e00" <= c <= "\u9fff" for c in text) and any(c.isdigit() for c in text) and any(c.isascii() and c.isalpha() for c in text)


@pytest.mark.parametrize(("settings", "message"), [
    ({"hidden_size": 32, "heads": 2}, "head size 16"),
    ({"heads": 2, "kv_heads": 3}, "multiple of kv_heads"),
    ({"arch": "gpt2"}, "unknown tiny model architecture"),
    ({"arch": "qwen2", "head_dim": 64}, "qwen2 head size"),
])
def test_bad_shapes_are_user_errors(tmp_path, settings, message):
    with pytest.raises(UserError, match=message):
        build_tiny_model(tmp_path / "bad", **settings)


def test_ensure_tiny_model_builds_once(tmp_path):
    target = tmp_path / "cache" / "jlce-tiny"
    first = ensure_tiny_model(target)
    stamp = (first / "model.safetensors").stat().st_mtime_ns
    assert ensure_tiny_model(target) == first and (first / "model.safetensors").stat().st_mtime_ns == stamp
    assert json.loads((first / "jlce_tiny.json").read_text())["name"] == "jlce-tiny"
    assert not [p for p in target.parent.iterdir() if p.name.startswith(".")]  # no staging left behind


def test_jlce_tiny_alias_resolves_to_cached_build():
    from jlce.backends.common.aliases import resolve_model_name
    from jlce.tinymodel import default_tiny_model_dir

    ref = resolve_model_name("jlce-tiny")
    assert ref.local and ref.alias == "jlce-tiny" and ref.target == str(default_tiny_model_dir())
    assert (default_tiny_model_dir() / "model.safetensors").is_file()
