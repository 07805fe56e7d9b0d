"""LoRA adapters built with peft on the tiny model (random, non-zero A and B, saved to disk):
identity, base/adapter mismatch, and scores through transformers (unmerged, merged, and a model
merged by hand as W + alpha/r * B @ A) and through vLLM's real CPU engine."""

from __future__ import annotations

import hashlib
import json
import shutil

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("peft")

from jlce.backend import BackendConfig  # noqa: E402
from jlce.backends.common.lora import adapter_identity, check_adapter_fits, load_adapter  # noqa: E402
from jlce.backends.transformers.backend import TransformersBackend  # noqa: E402
from jlce.errors import UserError  # noqa: E402
from jlce.requests import GenerateRequest, GenerationParams, LoglikelihoodRequest  # noqa: E402
from tolerances import CROSS_ENGINE, assert_logprob_close

TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
RANK, ALPHA = 8, 16
REQUESTS = [
    LoglikelihoodRequest(ctx, choice)
    for ctx, choices in [
        ("質問: 日本の首都はどこですか。\n答え:", [" 東京", " 大阪", " 京都府の北部にある小さな町"]),
        ("前提: 女の子がピアノを弾いている。\n仮説: 子どもが楽器を演奏している。\n関係:", [" 含意", " 矛盾です"]),
    ]
    for choice in choices
]
PROMPTS = [GenerateRequest(p, GenerationParams(max_new_tokens=16)) for p in ("質問: 日本の首都は", "吾輩は")]


def build_adapter(model_dir, out_dir, seed: int):
    """A LoRA adapter for every attention and MLP projection, A and B drawn at random."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    config = LoraConfig(r=RANK, lora_alpha=ALPHA, target_modules=list(TARGETS), init_lora_weights=False, task_type="CAUSAL_LM")
    get_peft_model(model, config).save_pretrained(out_dir)
    return out_dir


@pytest.fixture(scope="module")
def adapter_dir(tiny_model_dir, tmp_path_factory):
    return build_adapter(tiny_model_dir, tmp_path_factory.mktemp("adapters") / "llama-lora", seed=3)


@pytest.fixture(scope="module")
def hand_merged_dir(tiny_model_dir, adapter_dir, tmp_path_factory):
    """The base model with W + (alpha / r) * B @ A written into each adapted weight, without peft."""
    from safetensors.torch import load_file, save_file

    out = tmp_path_factory.mktemp("models") / "merged-by-hand"
    shutil.copytree(tiny_model_dir, out)
    weights = load_file(str(tiny_model_dir / "model.safetensors"))
    lora = load_file(str(adapter_dir / "adapter_model.safetensors"))
    merged = 0
    for key in lora:
        if key.endswith(".lora_A.weight"):
            module = key.removeprefix("base_model.model.").removesuffix(".lora_A.weight")
            b = lora[key.replace("lora_A", "lora_B")]
            weights[f"{module}.weight"] = weights[f"{module}.weight"] + (ALPHA / RANK) * (b.double() @ lora[key].double()).float()
            merged += 1
    assert merged == 2 * len(TARGETS)  # two layers
    save_file(weights, str(out / "model.safetensors"), metadata={"format": "pt"})
    return out


def transformers_backend(model_dir, adapter=None, merge=False) -> TransformersBackend:
    """The transformers backend, with the adapter given as `--adapter` would give it."""
    settings = {"model": str(model_dir), "dtype": "float32", "batch_size": 8}
    if adapter is None:
        return TransformersBackend(BackendConfig(**settings))
    backend = TransformersBackend(BackendConfig(**settings, adapter=str(adapter), merge_adapter=merge))
    assert backend.fingerprint()["adapter"]["weights_sha256"] and backend.fingerprint()["adapter"]["merged"] is merge
    return backend


def answers(batches):
    out = {}
    for pairs, _ in batches:
        out.update(pairs)
    return [out[i] for i in range(len(out))]


@pytest.fixture(scope="module")
def hf_scores(tiny_model_dir, adapter_dir, hand_merged_dir):
    runs = {
        "base": transformers_backend(tiny_model_dir),
        "adapter": transformers_backend(tiny_model_dir, adapter_dir),
        "merged": transformers_backend(tiny_model_dir, adapter_dir, merge=True),
        "by_hand": transformers_backend(hand_merged_dir),
    }
    return {name: (answers(b.loglikelihood(REQUESTS)), answers(b.generate_until(PROMPTS))) for name, b in runs.items()}


# ---- identity and mismatch --------------------------------------------------------------------


def test_identity_reads_the_adapter(adapter_dir, tiny_model_dir):
    identity = adapter_identity(adapter_dir)
    assert identity.weights_sha256 == hashlib.sha256((adapter_dir / "adapter_model.safetensors").read_bytes()).hexdigest()
    assert identity.config_sha256 == hashlib.sha256((adapter_dir / "adapter_config.json").read_bytes()).hexdigest()
    assert (identity.rank, identity.alpha, identity.peft_type) == (RANK, float(ALPHA), "LORA")
    assert identity.target_modules == tuple(sorted(TARGETS))
    assert identity.base_model == str(tiny_model_dir)
    assert json.loads(json.dumps(identity.to_dict()))["target_modules"] == sorted(TARGETS)
    check_adapter_fits(identity, tiny_model_dir, str(tiny_model_dir))  # fits its own base


def test_identity_changes_with_the_config(adapter_dir, tmp_path):
    copy = shutil.copytree(adapter_dir, tmp_path / "alpha32")
    config = json.loads((copy / "adapter_config.json").read_text())
    config["lora_alpha"] = 32
    (copy / "adapter_config.json").write_text(json.dumps(config))
    changed, original = adapter_identity(copy), adapter_identity(adapter_dir)
    assert changed.weights_sha256 == original.weights_sha256
    assert changed.config_sha256 != original.config_sha256 and changed.alpha == 32.0


def test_bad_adapters_are_user_errors(adapter_dir, tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        adapter_identity(tmp_path / "missing")
    with pytest.raises(UserError, match="adapter_config.json is missing"):
        adapter_identity(tmp_path)
    copy = shutil.copytree(adapter_dir, tmp_path / "ia3")
    (copy / "adapter_config.json").write_text(json.dumps({"peft_type": "IA3", "target_modules": ["q_proj"]}))
    with pytest.raises(UserError, match="type 'IA3'; only LoRA"):
        adapter_identity(copy)
    (copy / "adapter_model.safetensors").unlink()
    (copy / "adapter_config.json").write_text(json.dumps({"peft_type": "LORA", "r": 4}))
    with pytest.raises(UserError, match="has no weights"):
        adapter_identity(copy)


def test_adapter_of_another_base_model_fails_clearly(tiny_model_dir, tiny_qwen_model_dir, tmp_path):
    other = build_adapter(tiny_qwen_model_dir, tmp_path / "qwen-lora", seed=4)
    identity = adapter_identity(other)
    with pytest.raises(UserError, match=r"does not fit model .*'model\.layers\.0\..*' is \d+x\d+ in the model but "
                                        r"\d+x\d+ in the adapter \(it was trained on '.*tiny-qwen2"):
        check_adapter_fits(identity, tiny_model_dir, str(tiny_model_dir))
    base = TransformersBackend(BackendConfig(model=str(tiny_model_dir), dtype="float32"))
    with pytest.raises(UserError, match="does not fit the model"):
        load_adapter(base.model, other, merge=False)


# ---- scores through transformers --------------------------------------------------------------


def test_adapter_changes_scores_and_equals_the_merged_model(hf_scores):
    base, adapter = hf_scores["base"][0], hf_scores["adapter"][0]
    assert all(abs(a.logprob - b.logprob) > 1e-2 for a, b in zip(adapter, base))
    for other in ("merged", "by_hand"):
        for a, m in zip(adapter, hf_scores[other][0]):
            assert_logprob_close(a.logprob, m.logprob, m.n_tokens, other, per_token=1e-4)  # adapter vs merged weights
            assert a.n_tokens == m.n_tokens, other
    assert hf_scores["adapter"][1] == hf_scores["by_hand"][1]  # greedy generations too
    assert hf_scores["adapter"][1] != hf_scores["base"][1]


# ---- scores through vLLM ----------------------------------------------------------------------


def test_vllm_refuses_merge_and_mismatched_adapters_before_starting(tiny_model_dir, tiny_qwen_model_dir, adapter_dir):
    from jlce.backends.vllm.backend import VLLMBackend

    with pytest.raises(UserError, match="unmerged.*drop --merge-adapter"):
        VLLMBackend(BackendConfig(model=str(tiny_model_dir), adapter=str(adapter_dir), merge_adapter=True))
    with pytest.raises(UserError, match="does not fit model"):
        VLLMBackend(BackendConfig(model=str(tiny_qwen_model_dir), adapter=str(adapter_dir)))


@pytest.fixture(scope="module")
def vllm_adapter(tiny_model_dir, adapter_dir):
    pytest.importorskip("vllm")
    from jlce.backends.vllm.backend import VLLMBackend

    backend = VLLMBackend(BackendConfig(model=str(tiny_model_dir), dtype="float32", adapter=str(adapter_dir),
                                        batch_size=8, options={"cpu_kvcache_space": 1}))
    yield backend
    backend.close()


def test_vllm_with_adapter_agrees_with_transformers(vllm_adapter, hf_scores, adapter_dir):
    scores = answers(vllm_adapter.loglikelihood(REQUESTS))
    for got, want, base in zip(scores, hf_scores["adapter"][0], hf_scores["base"][0]):
        assert_logprob_close(got.logprob, want.logprob, want.n_tokens, per_token=CROSS_ENGINE)
        assert got.n_tokens == want.n_tokens
        assert abs(got.logprob - base.logprob) > 1e-2
    assert answers(vllm_adapter.generate_until(PROMPTS)) == hf_scores["adapter"][1]
    fingerprint = vllm_adapter.fingerprint()
    assert fingerprint["adapter"] == adapter_identity(adapter_dir).to_dict()
    engine_args = vllm_adapter.describe()["engine_args"]
    assert engine_args["enable_lora"] is True and engine_args["max_lora_rank"] == RANK
