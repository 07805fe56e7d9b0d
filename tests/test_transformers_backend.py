"""The transformers backend on real tiny models, checked against plain, cache-free forward passes
and against transformers' own `generate`."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from jlce.backend import BackendConfig  # noqa: E402
from jlce.backends.common.encoding import rolling_windows  # noqa: E402
from jlce.backends.transformers.backend import TransformersBackend  # noqa: E402
from jlce.errors import UserError  # noqa: E402
from tolerances import assert_logprob_close  # noqa: E402
from jlce.requests import (  # noqa: E402
    GenerateRequest,
    GenerationParams,
    LoglikelihoodRequest,
    RollingLoglikelihoodRequest,
)

# Contexts without trailing whitespace, each with 2-5 choices of different token lengths.
MULTIPLE_CHOICE = [
    ("質問: 日本の首都はどこですか。\n答え:", [" 東京", " 大阪", " 京都府の北部にある小さな町"]),
    ("次の文の続きとして最も自然なものを選びなさい。\n文: 雨が降ってきたので、",
     ["傘をさした。", "海で泳いだ。", "アイスクリームを三つ食べてから、公園のベンチで昼寝をした。", "走った", "ノートを開いた。"]),
    ("前提: 女の子がピアノを弾いている。\n仮説: 子どもが楽器を演奏している。\n関係:", [" 含意", " 矛盾です"]),
    ("英語: Good morning. 日本語:", [" おはようございます。", " こんばんは", " ありがとう、また明日会いましょう。", " はい"]),
    ("計算: 3 + 4 =", [" 7", " 12", " 三十四"]),
]
FEWSHOT = "以下は質問と答えの例です。\n質問: 一年は何か月ですか。\n答え: 十二か月\n質問: 信号の「止まれ」は何色ですか。\n答え: 赤\n\n"


def collect(batches):
    """All (index -> answer) pairs and the batch events of a backend call; each index once."""
    answers, events = {}, []
    for pairs, event in batches:
        for index, answer in pairs:
            assert index not in answers
            answers[index] = answer
        events.append(event)
    return answers, events


def backend_for(model_dir, **settings) -> TransformersBackend:
    return TransformersBackend(BackendConfig(model=str(model_dir), **settings))


@pytest.fixture(scope="module")
def reference(tiny_model_dir):
    """An independently loaded copy of the model and tokenizer."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    return AutoModelForCausalLM.from_pretrained(tiny_model_dir).eval(), AutoTokenizer.from_pretrained(tiny_model_dir)


@pytest.fixture(scope="module")
def llama(tiny_model_dir):
    return backend_for(tiny_model_dir, batch_size=4)


def plain_forward(model, ids: list[int], n_scored: int) -> tuple[float, bool]:
    """Sum of log P(ids[i] | ids[:i]) over the last `n_scored` tokens from one forward pass over
    the whole sequence, without any cache."""
    with torch.no_grad():
        logprobs = torch.log_softmax(model(torch.tensor([ids])).logits[0].double(), dim=-1)
    total, greedy = 0.0, True
    for position in range(len(ids) - n_scored, len(ids)):
        total += logprobs[position - 1, ids[position]].item()
        greedy = greedy and int(logprobs[position - 1].argmax()) == ids[position]
    return total, greedy


def lm_eval_pair(tokenizer, context: str, continuation: str) -> tuple[list[int], list[int]]:
    """lm-evaluation-harness' encoding, written out with the tokenizer's defaults."""
    whole = tokenizer(context + continuation)["input_ids"]
    ctx = tokenizer(context)["input_ids"]
    return ctx, whole[len(ctx):]


def mc_requests(prefix: str = "") -> list[LoglikelihoodRequest]:
    return [LoglikelihoodRequest(prefix + ctx, choice) for ctx, choices in MULTIPLE_CHOICE for choice in choices]


# ---- log-likelihood ---------------------------------------------------------------------------


@pytest.mark.parametrize("which", ["tiny_model_dir", "tiny_qwen_model_dir"])
def test_multiple_choice_equals_plain_forward(which, request):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model_dir = request.getfixturevalue(which)
    model = AutoModelForCausalLM.from_pretrained(model_dir).eval()
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    requests = mc_requests() + mc_requests(FEWSHOT)
    answers, _ = collect(backend_for(model_dir, batch_size=8).loglikelihood(requests))

    for ctx, choices in MULTIPLE_CHOICE:  # the choices really differ in token length
        assert len({len(lm_eval_pair(tokenizer, ctx, c)[1]) for c in choices}) > 1
    for i, req in enumerate(requests):
        ctx, cont = lm_eval_pair(tokenizer, req.context, req.continuation)
        expected, greedy = plain_forward(model, ctx + cont, len(cont))
        assert_logprob_close(answers[i].logprob, expected, len(cont), i, answers[i])
        assert answers[i].n_tokens == len(cont)
        assert answers[i].is_greedy == greedy


def test_bos_follows_tokenizer_convention(tiny_model_dir, tiny_qwen_model_dir, llama):
    qwen = backend_for(tiny_qwen_model_dir)
    bos = llama.tokenizer.bos_token_id
    assert llama.encoder.pairs([("猫が", "寝る")])[0][0][0] == bos
    assert qwen.encoder.pairs([("猫が", "寝る")])[0][0][0] != qwen.tokenizer.bos_token_id
    assert llama.fingerprint()["add_bos"] is True and qwen.fingerprint()["add_bos"] is False
    forced = backend_for(tiny_qwen_model_dir, options={"add_bos_token": "true"})
    assert forced.encoder.pairs([("猫が", "寝る")])[0][0][0] == qwen.tokenizer.bos_token_id


def test_results_do_not_depend_on_batch_size(tiny_model_dir):
    requests = mc_requests() + mc_requests(FEWSHOT) + mc_requests(FEWSHOT * 3) + [LoglikelihoodRequest("", "猫が寝ている")]
    runs = {size: collect(backend_for(tiny_model_dir, batch_size=size).loglikelihood(requests))[0] for size in (1, 4, 32)}
    for size in (4, 32):
        for i in range(len(requests)):
            assert_logprob_close(runs[size][i].logprob, runs[1][i].logprob, runs[1][i].n_tokens)
            assert (runs[size][i].is_greedy, runs[size][i].n_tokens) == (runs[1][i].is_greedy, runs[1][i].n_tokens)


def test_shared_context_is_computed_once(tiny_model_dir, reference):
    _, tokenizer = reference
    requests = mc_requests(FEWSHOT)
    answers, events = collect(backend_for(tiny_model_dir, batch_size=8).loglikelihood(requests))
    pairs = [lm_eval_pair(tokenizer, r.context, r.continuation) for r in requests]
    contexts = {tuple(ctx) for ctx, _ in pairs}
    # The few-shot examples open every context: their tokens are computed once for all five.
    shared = len(os.path.commonprefix([list(c) for c in contexts]))
    assert shared >= len(tokenizer(FEWSHOT)["input_ids"]) - 1
    computed_contexts = shared + sum(len(c) - shared for c in contexts)
    assert sum(e.extra["contexts"] for e in events) == len(contexts) == len(MULTIPLE_CHOICE)
    assert sum(e.prompt_tokens for e in events) == computed_contexts + sum(len(c) - 1 for _, c in pairs)
    assert sum(e.extra["context_tokens_reused"] for e in events) == sum(len(c) for c, _ in pairs) - computed_contexts
    assert {e.extra["shared_prefix_tokens"] for e in events} == {shared}
    assert sum(e.size for e in events) == len(requests) == len(answers)
    assert all(e.kind == "loglikelihood" and e.batch_size == 8 for e in events)


@pytest.fixture(scope="module")
def tiny_mistral_dir(tiny_model_dir, tmp_path_factory):
    """A Mistral-style model with a sliding window: scored by the general (unpacked) path."""
    from transformers import AutoTokenizer, MistralConfig, MistralForCausalLM

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    config = MistralConfig(
        vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=2,
        num_key_value_heads=1, head_dim=32, sliding_window=4096, max_position_embeddings=1024, initializer_range=0.1,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(2)
    out = tmp_path_factory.mktemp("models") / "tiny-mistral"
    MistralForCausalLM(config).save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


@pytest.mark.parametrize(("which", "packed"), [("tiny_model_dir", True), ("tiny_mistral_dir", False)])
def test_forward_passes_never_exceed_the_batch_size(which, packed, request):
    """However many continuations a context has, no forward pass holds more than `batch_size` rows."""
    backend = backend_for(request.getfixturevalue(which), batch_size=4)
    assert backend.packing is packed and backend.describe()["packed_scoring"] is packed
    rows: list[int] = []
    handle = backend.model.register_forward_pre_hook(
        lambda module, args, kwargs: rows.append(kwargs["input_ids"].shape[0]), with_kwargs=True)
    requests = [LoglikelihoodRequest("", f"{n}番目の答え") for n in range(10)] + mc_requests(FEWSHOT)
    try:
        answers, events = collect(backend.loglikelihood(requests))
    finally:
        handle.remove()
    assert len(answers) == len(requests) == sum(e.size for e in events)
    assert rows and max(rows) <= 4
    assert sum(e.extra["contexts"] for e in events) == 1 + len(MULTIPLE_CHOICE)  # each context is one row
    if not packed:  # ten 2+-token continuations of one context: their later tokens in passes of <= 4 rows
        assert rows.count(4) >= 3


def test_general_path_equals_plain_forward(tiny_mistral_dir):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(tiny_mistral_dir).eval()
    tokenizer = AutoTokenizer.from_pretrained(tiny_mistral_dir)
    requests = mc_requests() + mc_requests(FEWSHOT)
    runs = [collect(backend_for(tiny_mistral_dir, batch_size=size).loglikelihood(requests))[0] for size in (1, 3, 32)]
    for i, req in enumerate(requests):
        ctx, cont = lm_eval_pair(tokenizer, req.context, req.continuation)
        expected, greedy = plain_forward(model, ctx + cont, len(cont))
        for answers in runs:
            assert_logprob_close(answers[i].logprob, expected, len(cont), i, answers[i])
            assert (answers[i].n_tokens, answers[i].is_greedy) == (len(cont), greedy)


def test_empty_request_lists(llama):
    assert list(llama.loglikelihood([])) == []
    assert list(llama.loglikelihood_rolling([])) == []
    assert list(llama.generate_until([])) == []


def test_empty_context_uses_bos_and_empty_continuation_scores_zero(llama, reference):
    model, tokenizer = reference
    answers, _ = collect(llama.loglikelihood([LoglikelihoodRequest("", "東京タワー"), LoglikelihoodRequest("猫", "")]))
    cont = tokenizer("東京タワー", add_special_tokens=False)["input_ids"]
    expected, _ = plain_forward(model, [tokenizer.bos_token_id] + cont, len(cont))
    assert_logprob_close(answers[0].logprob, expected, len(cont))
    assert (answers[1].logprob, answers[1].is_greedy, answers[1].n_tokens) == (0.0, True, 0)


def test_trailing_space_moves_to_continuation(llama):
    answers, _ = collect(llama.loglikelihood([
        LoglikelihoodRequest("計算: 3 + 4 = ", "7"), LoglikelihoodRequest("計算: 3 + 4 =", " 7"),
    ]))
    assert answers[0] == answers[1]


def test_long_input_is_left_truncated_like_lm_eval(tiny_model_dir, reference):
    model, tokenizer = reference
    backend = backend_for(tiny_model_dir, max_length=16, batch_size=4)
    requests = [LoglikelihoodRequest(FEWSHOT + ctx, choice) for ctx, choices in MULTIPLE_CHOICE[:2] for choice in choices]
    answers, _ = collect(backend.loglikelihood(requests))
    for i, req in enumerate(requests):
        ctx, cont = lm_eval_pair(tokenizer, req.context, req.continuation)
        window = (ctx + cont)[-17:]
        scored = min(len(cont), len(window) - 1)
        expected, _ = plain_forward(model, window, scored)
        assert_logprob_close(answers[i].logprob, expected, scored)
        assert answers[i].n_tokens == scored


# ---- rolling log-likelihood -------------------------------------------------------------------


def _lm_eval_rolling(tokens, prefix, max_len):
    """lm-evaluation-harness' get_rolling_token_windows(context_len=1) + make_disjoint_window."""
    if not tokens:
        return []
    out, predicted = [], 0
    first = min(max_len, len(tokens))
    out.append(([prefix] + tokens[:first - 1], tokens[:first]))
    predicted += first
    while predicted < len(tokens):
        n = min(len(tokens) - predicted, max_len)
        end = predicted + n
        out.append((tokens[end - max_len - 1:end - 1], tokens[end - n:end]))
        predicted += n
    return [(a[:len(a) - (len(b) - 1)], b) for a, b in out]


def test_rolling_windows_match_lm_eval():
    for n in range(0, 40):
        for max_len in range(1, 12):
            tokens = list(range(100, 100 + n))
            assert rolling_windows(tokens, 7, max_len) == _lm_eval_rolling(tokens, 7, max_len)


def test_rolling_equals_plain_forward(tiny_model_dir, reference):
    model, tokenizer = reference
    max_len = 16
    long_text = "".join(c for c, _ in MULTIPLE_CHOICE) + "量子コンピュータの研究は2030年までに大きく進むだろう。"
    texts = [long_text, "短い文。", long_text[::-1], ""]
    requests = [RollingLoglikelihoodRequest(t) for t in texts]
    answers, events = collect(backend_for(tiny_model_dir, max_length=max_len, batch_size=3).loglikelihood_rolling(requests))
    one_by_one, _ = collect(backend_for(tiny_model_dir, max_length=max_len, batch_size=1).loglikelihood_rolling(requests))
    for i, text in enumerate(texts):
        tokens = tokenizer(text, add_special_tokens=False)["input_ids"]
        sequence = [tokenizer.bos_token_id] + tokens  # tokens[i] is predicted from sequence[: i + 1]
        expected = 0.0
        for start in range(0, len(tokens), max_len):  # each chunk with the longest left context that fits
            end = min(start + max_len, len(tokens))
            window = sequence[max(0, end - max_len):end + 1]
            expected += plain_forward(model, window, end - start)[0]
        assert_logprob_close(answers[i].logprob, expected, len(tokens))
        assert_logprob_close(one_by_one[i].logprob, expected, len(tokens))
        assert answers[i].n_tokens == one_by_one[i].n_tokens == len(tokens)
    assert answers[3].logprob == 0.0
    assert len(tokenizer(long_text, add_special_tokens=False)["input_ids"]) > 2 * max_len + 1
    assert sum(e.size for e in events) == len(texts)


# ---- generation -------------------------------------------------------------------------------

PROMPTS = ["質問: 日本で一番高い山は何ですか。\n答え:", "猫が", "英語: Thank you. 日本語:", FEWSHOT + "質問: 富士山は何県にありますか。\n答え:",
           "1, 2, 3,", "次の文を要約しなさい。\n文: 今日は朝から雨が降っていたが、午後には晴れて虹が出た。\n要約:"]


def test_greedy_equals_transformers_generate(llama, reference):
    model, tokenizer = reference
    answers, events = collect(llama.generate_until([GenerateRequest(p, GenerationParams(max_new_tokens=12)) for p in PROMPTS]))
    for i, prompt in enumerate(PROMPTS):
        ids = tokenizer(prompt, return_tensors="pt")["input_ids"]
        out = model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=12, do_sample=False,
                             eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)
        new = out[0, ids.shape[1]:].tolist()
        assert answers[i].text == tokenizer.decode(new, skip_special_tokens=True)
        assert answers[i].n_tokens == len(new)
        assert answers[i].finish_reason == ("stop" if new[-1] == tokenizer.eos_token_id else "length")
    assert sum(e.generated_tokens for e in events) == sum(a.n_tokens for a in answers.values())
    assert sum(e.prompt_tokens for e in events) == sum(len(tokenizer(p)["input_ids"]) for p in PROMPTS)


def test_generation_does_not_depend_on_batch_size(tiny_model_dir):
    requests = [GenerateRequest(p, GenerationParams(max_new_tokens=6 + 3 * i, until=("。",) if i % 2 else ()))
                for i, p in enumerate(PROMPTS)]
    runs = [collect(backend_for(tiny_model_dir, batch_size=size).generate_until(requests))[0] for size in (1, 3, 32)]
    assert runs[0] == runs[1] == runs[2]


def generate_one(backend, prompt, **params):
    return collect(backend.generate_until([GenerateRequest(prompt, GenerationParams(**params))]))[0][0]


def test_stop_string_truncates_at_earliest(llama):
    free = generate_one(llama, PROMPTS[0], max_new_tokens=24)
    text = free.text
    spans = [text[i:i + 2] for i in range(3, len(text) - 2) if "\ufffd" not in text[i:i + 2]]
    assert spans, text
    stop = spans[0]
    stopped = generate_one(llama, PROMPTS[0], max_new_tokens=24, until=("never-appears", stop))
    assert stopped.text == text[:text.find(stop)]
    assert stopped.finish_reason == "stop" and stopped.n_tokens < free.n_tokens


def _greedy_ids(model, prompt_ids, n):
    """n greedy tokens, one full forward pass per token."""
    ids = list(prompt_ids)
    with torch.no_grad():
        for _ in range(n):
            ids.append(int(model(torch.tensor([ids])).logits[0, -1].argmax()))
    return ids[len(prompt_ids):]


def test_eos_from_generation_config_stops(tiny_model_dir, tmp_path, reference):
    model, tokenizer = reference
    greedy = _greedy_ids(model, tokenizer(PROMPTS[1])["input_ids"], 8)
    k = next(k for k in range(1, len(greedy)) if greedy[k] not in greedy[:k])  # first new token after the first
    model_dir = tmp_path / "eos-model"
    shutil.copytree(tiny_model_dir, model_dir)
    generation = json.loads((model_dir / "generation_config.json").read_text())
    generation["eos_token_id"] = [tokenizer.eos_token_id, greedy[k]]  # that token now ends the answer
    (model_dir / "generation_config.json").write_text(json.dumps(generation))
    stopped = generate_one(backend_for(model_dir), PROMPTS[1], max_new_tokens=8)
    assert stopped.finish_reason == "stop" and stopped.n_tokens == k + 1
    assert stopped.text == tokenizer.decode(greedy[:k], skip_special_tokens=True)


def test_special_token_in_until_stops_generation(tiny_model_dir, tmp_path, reference):
    """A stop that is a special token (not EOS) ends generation and is left out of the text."""
    from safetensors.torch import load_file, save_file

    model, tokenizer = reference
    prompt_ids = tokenizer(PROMPTS[0])["input_ids"]
    special = tokenizer.convert_tokens_to_ids("<|assistant|>")
    second = _greedy_ids(model, prompt_ids, 2)[1]
    model_dir = tmp_path / "special-stop"
    shutil.copytree(tiny_model_dir, model_dir)
    tensors = load_file(model_dir / "model.safetensors")
    tensors["lm_head.weight"][special] = 2 * tensors["lm_head.weight"][second]  # beats `second` where it won
    save_file(tensors, model_dir / "model.safetensors", metadata={"format": "pt"})

    from transformers import AutoModelForCausalLM

    greedy = _greedy_ids(AutoModelForCausalLM.from_pretrained(model_dir).eval(), prompt_ids, 6)
    assert special in greedy
    at = greedy.index(special)
    answer = generate_one(backend_for(model_dir), PROMPTS[0], max_new_tokens=6, until=("<|assistant|>",))
    assert answer.finish_reason == "stop" and answer.n_tokens == at + 1
    assert answer.text == tokenizer.decode(greedy[:at], skip_special_tokens=True)


def test_sampling_is_seeded_per_request(tiny_model_dir):
    def run(size, seeds):
        requests = [GenerateRequest(PROMPTS[1], GenerationParams(max_new_tokens=10, temperature=1.0, top_p=0.9, seed=s))
                    for s in seeds]
        return collect(backend_for(tiny_model_dir, batch_size=size).generate_until(requests))[0]

    batched, single = run(4, [1, 2, 1, 3]), run(1, [1, 2, 1, 3])
    assert batched == single
    assert batched[0] == batched[2] and batched[0].text != batched[1].text


# ---- identity, description, errors ------------------------------------------------------------


def test_fingerprint_tracks_weights_and_dtype(tiny_model_dir, tmp_path, llama):
    from safetensors.torch import load_file, save_file

    base = llama.fingerprint()
    weights = (tiny_model_dir / "model.safetensors").read_bytes()
    line = f"model.safetensors\t{hashlib.sha256(weights).hexdigest()}\n"
    assert base["weights_sha256"] == hashlib.sha256(line.encode()).hexdigest()
    assert base["model"] == str(tiny_model_dir.resolve()) and base["dtype"] == "float32" and base["adapter"] is None

    copy = tmp_path / "copy"
    shutil.copytree(tiny_model_dir, copy)
    same = backend_for(copy).fingerprint()
    assert same["weights_sha256"] == base["weights_sha256"] and same["tokenizer_sha256"] == base["tokenizer_sha256"]

    tensors = load_file(copy / "model.safetensors")
    name = sorted(tensors)[0]
    tensors[name] = tensors[name] + 1e-3
    save_file(tensors, copy / "model.safetensors", metadata={"format": "pt"})
    assert backend_for(copy).fingerprint()["weights_sha256"] != base["weights_sha256"]

    bf16 = backend_for(tiny_model_dir, dtype="bfloat16").fingerprint()
    assert bf16["dtype"] == "bfloat16" and bf16 != base and bf16["weights_sha256"] == base["weights_sha256"]
    assert backend_for(tiny_model_dir, chat_template=True).fingerprint()["chat_template"] is True


def test_weight_hash_is_remembered(tmp_path):
    from jlce.backends.common.fingerprint import file_sha256

    target, cache = tmp_path / "w.bin", tmp_path / "hashes.json"
    target.write_bytes(b"first version")
    assert file_sha256(target, cache) == hashlib.sha256(b"first version").hexdigest()
    stored = json.loads(cache.read_text())
    assert list(stored.values()) == [hashlib.sha256(b"first version").hexdigest()]
    target.write_bytes(b"second, longer version")
    assert file_sha256(target, cache) == hashlib.sha256(b"second, longer version").hexdigest()
    assert len(json.loads(cache.read_text())) == 1  # the stale entry is replaced


@pytest.mark.slow
def test_hub_snapshot_loads_offline_with_commit_and_lfs_hashes(tiny_model_dir, tmp_path):
    """A Hugging Face cache laid out as the hub client writes it, loaded by hub id offline."""
    commit = "0123456789abcdef0123456789abcdef01234567"
    repo = tmp_path / "hub" / "models--jlce-test--tiny"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)
    for file in tiny_model_dir.iterdir():
        data = file.read_bytes()
        blob = repo / "blobs" / hashlib.sha256(data).hexdigest()
        blob.parent.mkdir(exist_ok=True)
        blob.write_bytes(data)
        link = repo / "snapshots" / commit / file.name
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(os.path.relpath(blob, link.parent))
    script = ("import json; from jlce.backend import BackendConfig; "
              "from jlce.backends.transformers.backend import TransformersBackend; "
              "print(json.dumps(TransformersBackend(BackendConfig(model='jlce-test/tiny')).fingerprint()))")
    env = {**os.environ, "HF_HUB_CACHE": str(tmp_path / "hub"), "HF_HUB_OFFLINE": "1",
           "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    fingerprint = json.loads(done.stdout.strip().splitlines()[-1])
    weights = (tiny_model_dir / "model.safetensors").read_bytes()
    line = f"model.safetensors\t{hashlib.sha256(weights).hexdigest()}\n"
    assert fingerprint["model"] == "jlce-test/tiny" and fingerprint["revision"] == commit
    assert fingerprint["weights_sha256"] == hashlib.sha256(line.encode()).hexdigest()


def test_describe_reports_model_facts(tiny_model_dir, llama, reference):
    model, _ = reference
    config = json.loads((tiny_model_dir / "config.json").read_text())
    collect(llama.loglikelihood(mc_requests()))
    facts = llama.describe()
    assert facts["kv_bytes_per_token"] == 2 * config["num_hidden_layers"] * config["num_key_value_heads"] * config["head_dim"] * 4
    assert facts["n_parameters"] == sum(p.numel() for p in model.parameters())
    assert facts["device"] == "cpu" and facts["architectures"] == ["LlamaForCausalLM"]
    assert facts["batch_sizes_used"]["loglikelihood"] == [4]
    assert facts["max_length"] == config["max_position_embeddings"]


def test_chat_template_wraps_prompts(tiny_model_dir, reference):
    model, tokenizer = reference
    backend = backend_for(tiny_model_dir, chat_template=True)
    context, choice = MULTIPLE_CHOICE[0][0], MULTIPLE_CHOICE[0][1][0]
    rendered = tokenizer.apply_chat_template([{"role": "user", "content": context}], tokenize=False,
                                             add_generation_prompt=True)
    ctx = tokenizer(rendered, add_special_tokens=False)["input_ids"]
    cont = tokenizer(rendered + choice, add_special_tokens=False)["input_ids"][len(ctx):]
    assert ctx[0] == tokenizer.bos_token_id and ctx[1] != tokenizer.bos_token_id  # one BOS, from the template
    answer = collect(backend.loglikelihood([LoglikelihoodRequest(context, choice)]))[0][0]
    assert_logprob_close(answer.logprob, plain_forward(model, ctx + cont, len(cont))[0], len(cont))
    assert backend_for(tiny_model_dir).use_chat_template is False  # a base-model name: off by default


def test_chat_models_are_recognised_by_name():
    from jlce.backends.common.chat import looks_like_chat_model

    for name in ("deepseek-ai/DeepSeek-R1-Distill-Qwen-7B", "deepseek-r1-distill-llama-8b", "google/gemma-2-9b-it",
                 "meta-llama/Llama-3.1-8B-Instruct", "/models/Qwen2.5-7B-Chat/", "llm-jp/llm-jp-3-13b-instruct3"):
        assert looks_like_chat_model(name), name
    for name in ("Qwen/Qwen2.5-7B", "/tmp/pytest-of-user1/tiny-llama", "rinna/japanese-gpt-neox-3.6b", "cyberagent/italian-x"):
        assert not looks_like_chat_model(name), name


def test_count_tokens(llama, reference):
    _, tokenizer = reference
    texts = ["こんにちは、世界。", "ABC 123", ""]
    assert llama.count_tokens(texts) == [len(tokenizer(t, add_special_tokens=False)["input_ids"]) for t in texts]


def test_auto_batch_size_records_sizes(tiny_model_dir):
    backend = backend_for(tiny_model_dir, batch_size="auto", options={"max_batch_size": "8"})
    collect(backend.loglikelihood(mc_requests()))
    collect(backend.generate_until([GenerateRequest(p, GenerationParams(max_new_tokens=2)) for p in PROMPTS]))
    assert backend.describe()["batch_sizes_used"] == {"loglikelihood": [8], "generate_until": [8]}


def test_out_of_memory_halves_auto_batch_size():
    from jlce.backends.common.batching import BatchSizer, is_out_of_memory

    try:
        torch.empty(1 << 60, dtype=torch.uint8)  # a real allocation failure
    except RuntimeError as error:
        oom = error
    assert is_out_of_memory(oom) and not is_out_of_memory(ValueError("shape mismatch"))
    sizer = BatchSizer(64, adaptive=True)
    sizer.shrink(oom)
    sizer.shrink(oom)
    assert sizer.size == 16
    with pytest.raises(UserError, match="smaller --batch-size"):
        BatchSizer(8, adaptive=False).shrink(oom)
    with pytest.raises(UserError, match="batch size 1"):
        BatchSizer(1, adaptive=True).shrink(oom)


OOM_SCRIPT = """
import json, resource, sys
from jlce.backend import BackendConfig
from jlce.backends.transformers.backend import TransformersBackend
from jlce.requests import LoglikelihoodRequest

backend = TransformersBackend(BackendConfig(model=sys.argv[1], batch_size="auto", max_length=1024, options={"max_batch_size": 16}))
requests = [LoglikelihoodRequest(c, k) for c, k in json.loads(sys.argv[2])]
status = open("/proc/self/status").read().split("VmSize:")[1].split()[0]
# Room for the scored positions of 4 rows (~95 MB with attention) but not of 8 or 16: larger allocations fail for real.
resource.setrlimit(resource.RLIMIT_AS, (int(status) * 1024 + 150 * 2**20, resource.RLIM_INFINITY))
answers = {}
for pairs, event in backend.loglikelihood(requests):
    answers.update((i, a.logprob) for i, a in pairs)
print(json.dumps({"used": backend.describe()["batch_sizes_used"], "answers": answers}))
"""


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="uses RLIMIT_AS and /proc")
def test_auto_batch_size_halves_on_real_out_of_memory(tiny_model_dir):
    text = "朝の駅は静かだった。量子コンピュータ2030年ABC、" * 60
    pairs = [("質問:", text[:len(text) - 3 * i]) for i in range(16)]  # distinct even after left truncation
    # a 1,024-token window (jlce-tiny has 4,096): the memory limit below is sized for it
    expected, _ = collect(backend_for(tiny_model_dir, batch_size=16, max_length=1024).loglikelihood([LoglikelihoodRequest(*p) for p in pairs]))
    assert min(a.n_tokens for a in expected.values()) > 900
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    done = subprocess.run([sys.executable, "-c", OOM_SCRIPT, str(tiny_model_dir), json.dumps(pairs)], env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    [size] = report["used"]["loglikelihood"]
    assert size < 16  # 16 ran out of memory, then a halved size went through
    for i, logprob in report["answers"].items():
        assert_logprob_close(logprob, expected[int(i)].logprob, expected[int(i)].n_tokens)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"dtype": "fp8"}, "unknown dtype"),
        ({"batch_size": "many"}, "--batch-size"),
        ({"batch_size": 0}, "--batch-size"),
        ({"options": {"attn_implementaton": "eager"}}, "did you mean 'attn_implementation'"),
        ({"options": {"add_bos_token": "maybe"}}, "add_bos_token=maybe: Input should be a valid boolean"),
        ({"adapter": "./no-such-adapter"}, "adapter directory './no-such-adapter' does not exist"),
        ({"max_length": 1}, "--max-length"),
    ],
)
def test_bad_settings_are_user_errors(tiny_model_dir, settings, message):
    with pytest.raises(UserError, match=message):
        backend_for(tiny_model_dir, **settings)


def test_bad_model_names_are_user_errors(tmp_path):
    with pytest.raises(UserError, match="did you mean 'deepseek-r1-distill-qwen-14b'"):
        backend_for("deepseek-r1-distil-qwen-14b")
    with pytest.raises(UserError, match="does not exist"):
        backend_for(tmp_path / "missing" / "model")
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="cannot load directory"):
        backend_for(tmp_path / "empty")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-GPU message")
def test_cuda_without_gpu_is_a_user_error(tiny_model_dir):
    with pytest.raises(UserError, match="no CUDA"):
        backend_for(tiny_model_dir, device="cuda")


# ---- names and registration -------------------------------------------------------------------


def test_aliases_resolve_to_hub_ids():
    from jlce.backends.common.aliases import registered_aliases, resolve_model_name

    aliases = registered_aliases()  # the built-in ones come through the plugin hook, from the core plugin
    assert aliases["deepseek-r1-distill-qwen-1.5b"].target == "deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B"
    assert aliases["deepseek-r1-distill-llama-70b"].target == "deepseek-ai/DeepSeek-R1-Distill-Llama-70B"
    assert sum(spec.target.startswith("deepseek-ai/") for spec in aliases.values()) == 6
    ref = resolve_model_name("DeepSeek-R1-Distill-Qwen-32B")
    assert (ref.target, ref.local, ref.alias) == ("deepseek-ai/DeepSeek-R1-Distill-Qwen-32B", False,
                                                  "deepseek-r1-distill-qwen-32b")
    assert resolve_model_name("llm-jp/llm-jp-3-1.8b").target == "llm-jp/llm-jp-3-1.8b"


def test_local_directories_resolve_to_absolute_paths(tmp_path, monkeypatch):
    from jlce.backends.common.aliases import resolve_model_name

    (tmp_path / "org" / "model").mkdir(parents=True)
    monkeypatch.chdir(tmp_path)
    ref = resolve_model_name("org/model")  # an existing directory wins over the hub id reading
    assert ref.local and ref.target == str((tmp_path / "org" / "model").resolve())
    with pytest.raises(UserError, match="did you mean 'deepseek-r1-distill-llama-8b'"):
        resolve_model_name("deepseek-r1-distill-llama-8")
    with pytest.raises(UserError, match="is a file"):
        (tmp_path / "weights.bin").write_bytes(b"x")
        resolve_model_name("weights.bin")


def test_plugin_registers_a_lazy_backend():
    from jlce.backends.transformers import plugin as transformers_plugin
    from jlce.plugin_manager import JLCEPluginManager
    from jlce.registry import build_registry
    from jlce.specs import resolve

    pm = JLCEPluginManager()  # JLCE's manager: it tells the registry which plugin registers
    pm.register(transformers_plugin, name="transformers")
    spec = build_registry(pm).get("backends", "transformers")
    assert spec.factory == "jlce.backends.transformers.backend:TransformersBackend" and spec.plugin == "transformers"
    assert resolve(spec.factory) is TransformersBackend


def test_registering_the_backend_does_not_import_torch():
    script = ("import sys, jlce.backends.transformers.plugin, jlce.backends.common.aliases; "
              "print(sorted(m for m in ('torch', 'transformers') if m in sys.modules))")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
