"""Build a tiny Japanese causal LM offline: the demo's default model (`--model jlce-tiny`) and the
tests' model.

A byte-level BPE tokenizer is trained on a small built-in Japanese corpus (plus any texts given)
and a Llama- or Qwen2-style model is initialised from a fixed seed. Nothing is downloaded, and the
same arguments give byte-identical files. The weights are random: the model exercises every code
path of a real one (BOS conventions, GQA, RoPE, chat template, safetensors) but knows nothing.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Literal

from jlce.errors import UserError

Arch = Literal["llama", "qwen2"]

# Bump when the build changes in a way that changes the files (the cached jlce-tiny is keyed by it).
TINY_MODEL_VERSION = 2  # 2: a context of 4,096 positions (was 1,024)
TINY_MODEL_NAME = "jlce-tiny"

SPECIAL_TOKENS = ("<unk>", "<s>", "</s>", "<pad>", "<|system|>", "<|user|>", "<|assistant|>")

# One user/assistant turn per message, closed by EOS; the generation prompt opens the assistant turn.
CHAT_TEMPLATE = (
    "{% if add_bos %}{{ bos_token }}{% endif %}"
    "{% for message in messages %}<|{{ message['role'] }}|>\n{{ message['content'] }}{{ eos_token }}\n{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)


def builtin_corpus() -> list[str]:
    """The packaged Japanese sentences (one per line)."""
    text = (resources.files("jlce") / "tiny_corpus_ja.txt").read_text(encoding="utf-8")
    return [line for line in text.splitlines() if line.strip()]


def _train_tokenizer(texts: Sequence[str], vocab_size: int, arch: Arch):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    backend = Tokenizer(models.BPE(unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=1,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    backend.train_from_iterator(list(texts), trainer=trainer)
    add_bos = arch == "llama"  # Llama prepends BOS; Qwen2 tokenizers add nothing
    if add_bos:
        bos = backend.token_to_id("<s>")
        backend.post_processor = processors.TemplateProcessing(
            single="<s> $A", pair="<s> $A <s> $B", special_tokens=[("<s>", bos)]
        )
    else:
        backend.post_processor = processors.ByteLevel(trim_offsets=False)
    template = CHAT_TEMPLATE.replace("add_bos", "true" if add_bos else "false")
    return PreTrainedTokenizerFast(
        tokenizer_object=backend,
        bos_token="<s>",
        eos_token="</s>",
        unk_token="<unk>",
        pad_token="<pad>",
        chat_template=template,
        clean_up_tokenization_spaces=False,
    )


def _model_config(arch: Arch, tokenizer, *, vocab: int, hidden_size: int, layers: int, heads: int, kv_heads: int,
                  head_dim: int, intermediate_size: int, max_positions: int, init_std: float):
    from transformers import LlamaConfig, Qwen2Config

    common = dict(
        vocab_size=vocab,
        hidden_size=hidden_size,
        intermediate_size=intermediate_size,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=kv_heads,
        max_position_embeddings=max_positions,
        initializer_range=init_std,
        rms_norm_eps=1e-6,
        tie_word_embeddings=False,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    if arch == "llama":
        return LlamaConfig(head_dim=head_dim, **common)
    if head_dim != hidden_size // heads:
        raise UserError(f"qwen2 head size is hidden_size/heads = {hidden_size // heads}, not {head_dim}")
    return Qwen2Config(**common)


def build_tiny_model(
    out_dir: str | Path,
    *,
    seed: int = 0,
    vocab_size: int = 2000,
    hidden_size: int = 64,
    layers: int = 2,
    heads: int = 2,
    kv_heads: int = 1,
    head_dim: int | None = None,
    intermediate_size: int | None = None,
    max_positions: int = 4096,  # the 16 tasks' prompts fit with their generation budgets
    init_std: float = 0.1,
    corpus_texts: Sequence[str] | None = None,
    arch: Arch = "llama",
) -> Path:
    """Train the tokenizer, initialise the model with `torch.manual_seed(seed)` in float32 and
    save both (safetensors) into `out_dir`. Returns `out_dir`.

    `head_dim` defaults to `hidden_size // heads` and must be at least 32 and a multiple of 16
    (vLLM's CPU attention kernels accept only such sizes). `vocab_size` is the tokenizer's target;
    the model's vocabulary is exactly the trained tokenizer's size.
    """
    import torch
    from transformers import AutoModelForCausalLM

    if arch not in ("llama", "qwen2"):
        raise UserError(f"unknown tiny model architecture '{arch}'; known: llama, qwen2")
    head_dim = head_dim or hidden_size // heads
    if head_dim < 32 or head_dim % 16:
        raise UserError(f"head size {head_dim} is not supported: use 32, 48, 64, ... (at least 32, a multiple of 16)")
    if heads % kv_heads:
        raise UserError(f"heads ({heads}) must be a multiple of kv_heads ({kv_heads})")
    texts = builtin_corpus() + list(corpus_texts or [])
    tokenizer = _train_tokenizer(texts, vocab_size, arch)
    config = _model_config(
        arch, tokenizer, vocab=len(tokenizer), hidden_size=hidden_size, layers=layers, heads=heads,
        kv_heads=kv_heads, head_dim=head_dim, intermediate_size=intermediate_size or 2 * hidden_size,
        max_positions=max_positions, init_std=init_std,
    )
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    model.generation_config.do_sample = False
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    from jlce.backends.common.quiet import quiet_progress

    with quiet_progress():
        model.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
    return out


def default_tiny_model_dir() -> Path:
    """Where the cached `jlce-tiny` build lives (under the JLCE cache directory)."""
    from jlce.paths import cache_dir

    import transformers

    # config.json records the transformers version, so builds are kept per version.
    key = hashlib.sha256(f"{TINY_MODEL_VERSION}:{transformers.__version__}".encode()).hexdigest()[:12]
    return cache_dir() / "models" / f"{TINY_MODEL_NAME}-v{TINY_MODEL_VERSION}-{key}"


def ensure_tiny_model(target: str | Path | None = None) -> Path:
    """The `jlce-tiny` model directory, built on first use (safe when processes race)."""
    from filelock import FileLock

    directory = Path(target) if target is not None else default_tiny_model_dir()
    marker = directory / "jlce_tiny.json"
    if marker.is_file():
        return directory
    directory.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(directory) + ".lock"):
        if marker.is_file():
            return directory
        staging = Path(tempfile.mkdtemp(prefix=f".{directory.name}.", dir=directory.parent))
        try:
            build_tiny_model(staging)
            (staging / "jlce_tiny.json").write_text(
                json.dumps({"name": TINY_MODEL_NAME, "version": TINY_MODEL_VERSION}) + "\n", encoding="utf-8"
            )
            if directory.exists():  # an interrupted older build without its marker
                shutil.rmtree(directory)
            os.replace(staging, directory)
        finally:
            if staging.exists():
                shutil.rmtree(staging, ignore_errors=True)
    return directory
