"""Prompts at and over the context limit: every backend cuts them by `jlce.budget`, reports the cut,
and the run records and enforces it (`--truncation`). The transformers backend and vLLM's real
CPU engine at a 64-token window, checked against each other token for token; jlce-tiny's window
holds the tasks' prompts."""

from __future__ import annotations

import json

import pytest

from jlce.backend import BackendConfig
from jlce.budget import ENGINE, FORWARD, Truncation, rolling_window, scoring_limit
from jlce.requests import GenerateRequest, GenerationParams, LoglikelihoodRequest, RollingLoglikelihoodRequest

WINDOW = 64
TEXT = ("吾輩は猫である。名前はまだ無い。どこで生れたかとんと見当がつかぬ。何でも薄暗いじめじめした所で"
        "ニャーニャー泣いていた事だけは記憶している。吾輩はここで始めて人間というものを見た。") * 8


def collect(batches):
    answers = {}
    for pairs, _ in batches:
        for index, answer in pairs:
            assert index not in answers
            answers[index] = answer
    return [answers[i] for i in range(len(answers))]


def text_of(encoder, tokens: int, prompt: bool = True) -> str:
    """A text whose encoding (as a generation prompt, or plain) has exactly `tokens` tokens: a
    prefix of TEXT led by as many "7"s (one token each for the tiny tokenizer) as are missing."""
    def count(text: str) -> int:
        return len(encoder.prompt([text])[0] if prompt else encoder.plain([text])[0])

    lo, hi = 0, len(TEXT)
    while lo < hi:  # the longest prefix with at most `tokens` tokens
        mid = (lo + hi + 1) // 2
        lo, hi = (mid, hi) if count(TEXT[:mid]) <= tokens else (lo, mid - 1)
    for k in range(lo, max(-1, lo - 12), -1):
        base = TEXT[:k]
        text = "7" * (tokens - count(base)) + base if count(base) <= tokens else base
        if count(text) == tokens:
            return text
    raise AssertionError(f"no text of exactly {tokens} tokens")


@pytest.fixture(scope="module")
def hf(tiny_model_dir):
    """The transformers backend with a 64-token window, and one whose FORWARD limits equal the
    vLLM engine's ENGINE limits at 64 (scoring and rolling windows keep the same tokens)."""
    from jlce.backends.transformers.backend import TransformersBackend

    def make(length):
        return TransformersBackend(BackendConfig(model=str(tiny_model_dir), dtype="float32", batch_size=4, max_length=length))

    assert scoring_limit(WINDOW - 2, FORWARD) == scoring_limit(WINDOW, ENGINE)
    assert rolling_window(WINDOW - 2, FORWARD) == rolling_window(WINDOW, ENGINE)
    return make(WINDOW), make(WINDOW - 2)


# ---- transformers -------------------------------------------------------------------------------

def test_transformers_generation_keeps_the_prompt_and_caps_the_budget(hf):
    backend = hf[0]
    fits, over = text_of(backend.encoder, WINDOW - 1), text_of(backend.encoder, WINDOW + 5)
    requests = [GenerateRequest(fits, GenerationParams(max_new_tokens=16)),
                GenerateRequest(over, GenerationParams(max_new_tokens=16)),
                GenerateRequest(text_of(backend.encoder, 40), GenerationParams(max_new_tokens=16))]
    got = collect(backend.generate_until(requests))
    assert got[0].truncation == Truncation(WINDOW - 1, 0, requested_new_tokens=16, max_new_tokens=1)
    assert got[1].truncation == Truncation(WINDOW + 5, 6, requested_new_tokens=16, max_new_tokens=1)
    assert got[2].truncation == Truncation(40, 0, requested_new_tokens=16, max_new_tokens=16)
    assert got[0].n_tokens == got[1].n_tokens == 1 and got[0].finish_reason in ("length", "stop")
    assert got[2].n_tokens > 1  # the budget shrinks only where the window leaves less


def test_transformers_scoring_cuts_at_window_plus_one(hf):
    """Context + continuation of window + 1 tokens is scored whole (the last token is never fed);
    one more token cuts the context's first token."""
    backend, answer = hf[0], "。名前はまだ無い。"
    by_total = {}
    for n in range(WINDOW - 12, WINDOW + 4):
        context = text_of(backend.encoder, n)
        ctx, cont = backend.encoder.pairs([(context, answer)])[0]
        by_total.setdefault(len(ctx) + len(cont), (context, len(ctx), len(cont)))
    cases = [by_total[WINDOW + 1], by_total[WINDOW + 2]]
    got = collect(backend.loglikelihood([LoglikelihoodRequest(c, answer) for c, _, _ in cases]))
    assert [g.truncation for g in got] == [Truncation(n_ctx, cut, n_cont, 0) for (_, n_ctx, n_cont), cut in zip(cases, (0, 1))]
    assert [g.n_tokens for g in got] == [n_cont for _, _, n_cont in cases]


# ---- vLLM's engine at a 64-token window ------------------------------------------------------

@pytest.fixture(scope="module")
def small_engine(tiny_model_dir):
    pytest.importorskip("vllm")
    from jlce.backends.vllm.backend import VLLMBackend

    backend = VLLMBackend(BackendConfig(model=str(tiny_model_dir), dtype="float32", batch_size=8, max_length=WINDOW,
                                        options={"cpu_kvcache_space": 1}))
    assert backend.max_model_len == WINDOW
    yield backend
    backend.close()


def test_vllm_scores_jcommonsenseqa_at_max_length_64(small_engine, hf):
    """Issue 14: `--max-length 64 --backend vllm` on jcommonsenseqa failed with "prompt (length 64)
    plus ... output tokens ... longer than 64". Every choice is scored, the cut is reported, and the
    scores equal the transformers backend's on the same kept tokens."""
    from jlce.task import load_tasks

    task = load_tasks("jcommonsenseqa")[0]
    task.build(data="fixture")
    requests = [r for inst in task.instances for r in inst.requests]
    got, want = collect(small_engine.loglikelihood(requests)), collect(hf[1].loglikelihood(requests))
    assert len(got) == len(requests)
    assert any(g.truncation.prompt_cut for g in got)  # the few-shot prompts are longer than 64 tokens
    for g, w in zip(got, want):
        assert g.truncation == w.truncation and g.n_tokens == w.n_tokens
        kept = g.truncation.prompt_tokens - g.truncation.prompt_cut + g.n_tokens
        assert kept <= WINDOW - 1
        assert abs(g.logprob - w.logprob) <= 1e-3 * max(1, g.n_tokens), (g, w)


def test_vllm_generation_at_the_window_boundary(small_engine, hf):
    """A prompt of window - 1 tokens gets one output token; one of the window size loses its first
    token; the outputs equal the transformers backend's (same rule, same kept tokens)."""
    encoder = small_engine.encoder
    requests = [GenerateRequest(text_of(encoder, n), GenerationParams(max_new_tokens=8)) for n in (WINDOW - 9, WINDOW - 1, WINDOW)]
    # issue 12: a reasoning budget (8,192) larger than the window cut the prompt to one token
    requests.append(GenerateRequest(text_of(encoder, 30), GenerationParams(max_new_tokens=8192)))
    got, want = collect(small_engine.generate_until(requests)), collect(hf[0].generate_until(requests))
    assert [g.truncation.max_new_tokens for g in got] == [8, 1, 1, WINDOW - 30]
    assert [g.truncation.prompt_cut for g in got] == [0, 0, 1, 0]
    assert [g.n_tokens for g in got[1:3]] == [1, 1]
    for g, w in zip(got, want):
        assert (g.text, g.n_tokens, g.truncation) == (w.text, w.n_tokens, w.truncation)


def test_vllm_rolling_loglikelihood_of_documents_longer_than_the_window(small_engine, hf):
    """Issue 14: perplexity on vLLM failed on any document longer than the context minus one."""
    encoder = small_engine.encoder
    texts = [text_of(encoder, n, prompt=False) for n in (WINDOW - 2, WINDOW - 1, WINDOW, 3 * WINDOW + 7)]
    requests = [RollingLoglikelihoodRequest(t) for t in texts]
    got, want = collect(small_engine.loglikelihood_rolling(requests)), collect(hf[1].loglikelihood_rolling(requests))
    for g, w, n in zip(got, want, (WINDOW - 2, WINDOW - 1, WINDOW, 3 * WINDOW + 7)):
        assert g.n_tokens == w.n_tokens == n and g.truncation == Truncation(n)
        assert abs(g.logprob - w.logprob) <= 1e-4 * n, (g, w)


# ---- the run: samples, results.json, console, --truncation ------------------------------------

def _run(tmp_path, model, name, capsys, **extra):
    from jlce.evaluator import evaluate
    from jlce.runconfig import RunOptions

    options = RunOptions(model=str(model), tasks="jcommonsenseqa,jsquad", data="fixture", limit=3, output_dir=tmp_path / name,
                         show_progress=False, use_cache=False, profile=("none",), **extra)
    capsys.readouterr()
    outcome = evaluate(options)
    return outcome, capsys.readouterr().err


def test_run_records_truncation_per_sample_and_task(tmp_path, tiny_model_dir, capsys):
    outcome, err = _run(tmp_path, tiny_model_dir, "warn", capsys, max_length=320)
    results = outcome.results
    assert results["config"]["truncation"] == "warn"
    jsquad, jcqa = results["tasks"]["jsquad"]["truncation"], results["tasks"]["jcommonsenseqa"]["truncation"]
    assert jcqa == {"samples": 3, "reported": 3, "unknown": 0, "cut": 0, "share": 0.0, "max_prompt_cut": 0,
                    "continuation_cut": 0, "generation_capped": 0}
    assert jsquad["cut"] == 3 and jsquad["share"] == 1.0 and jsquad["generation_capped"] == 3
    rows = [json.loads(line) for line in (outcome.output_dir / "samples" / "jsquad.jsonl").read_text(encoding="utf-8").splitlines()]
    for row in rows:
        cut = row["truncation"]
        assert cut["cut"] and cut["prompt_tokens"] - cut["prompt_cut"] == 319 and cut["max_new_tokens"] == 1
    assert f"task 'jsquad': 3 of 3 prompts (100.0%) were cut" in err and f"up to {jsquad['max_prompt_cut']} tokens" in err
    assert "jcommonsenseqa" not in err
    validate = pytest.importorskip("jsonschema").validate
    from pathlib import Path

    schema = json.loads((Path(__file__).resolve().parents[1] / "docs" / "results.schema.json").read_text(encoding="utf-8"))
    for entry in results["tasks"].values():  # the whole file is validated by test_run_end_to_end
        validate(entry, {"$ref": "#/$defs/task", "$defs": schema["$defs"]})
    with pytest.raises(Exception, match="share"):
        validate({**jsquad, "share": 2}, {"$ref": "#/$defs/truncation", "$defs": schema["$defs"]})


def test_truncation_error_stops_and_allow_is_silent(tmp_path, tiny_model_dir, capsys):
    from jlce.truncation import TruncationError

    with pytest.raises(TruncationError, match=r"task 'jsquad', item 0: \d+ of its \d+ prompt tokens did not fit"):
        _run(tmp_path, tiny_model_dir, "error", capsys, max_length=320, truncation="error")
    outcome, err = _run(tmp_path, tiny_model_dir, "allow", capsys, max_length=320, truncation="allow")
    assert "were cut" not in err and outcome.results["tasks"]["jsquad"]["truncation"]["cut"] == 3


def test_a_question_longer_than_the_window_is_an_error(tmp_path, tiny_model_dir, capsys):
    from jlce.truncation import TruncationError

    with pytest.raises(TruncationError, match=r"task 'jsquad', item 0: the prompt has \d+ tokens and only 63 fit .* "
                                              r"own question \(\d+ tokens\).*--max-length"):
        _run(tmp_path, tiny_model_dir, "small", capsys, max_length=64, truncation="allow")


def test_results_from_a_backend_that_does_not_report_are_unknown():
    from jlce.requests import LoglikelihoodResult
    from jlce.truncation import sample_truncation, task_truncation

    assert sample_truncation([LoglikelihoodResult(-1.0, True, 1), LoglikelihoodResult(-2.0, False, 1, Truncation(9))]) is None
    summary = task_truncation([None, sample_truncation([LoglikelihoodResult(-1.0, True, 1, Truncation(9, 2, 1, 0))])])
    assert (summary["unknown"], summary["reported"], summary["cut"], summary["share"]) == (1, 1, 1, 1.0)


def test_a_backend_that_does_not_report_leaves_the_cut_unknown(tmp_path, capsys):
    """The dummy backend (like a third-party one) fills no `truncation`: its samples say null and
    the task counts them as unknown, not as uncut."""
    from jlce.evaluator import evaluate
    from jlce.runconfig import RunOptions

    outcome = evaluate(RunOptions(model="none", backend="dummy", tasks="jcommonsenseqa", data="fixture", limit=4, use_cache=False,
                                  show_progress=False, profile=("none",), output_dir=tmp_path / "dummy"))
    summary = outcome.results["tasks"]["jcommonsenseqa"]["truncation"]
    assert (summary["unknown"], summary["reported"], summary["cut"], summary["share"]) == (4, 0, 0, None)
    rows = (outcome.output_dir / "samples" / "jcommonsenseqa.jsonl").read_text(encoding="utf-8").splitlines()
    assert [json.loads(row)["truncation"] for row in rows] == [None] * 4


# ---- jlce-tiny's window ---------------------------------------------------------------------

def test_jlce_tiny_holds_every_task_prompt_with_its_budget(tiny_model_dir):
    """jlce-tiny (built with the defaults, as tiny_model_dir is) has 4,096 positions: each of the
    16 tasks' fixture prompts fits with its generation budget or longest choice."""
    from transformers import AutoConfig, AutoTokenizer

    from jlce.task import load_tasks

    assert AutoConfig.from_pretrained(tiny_model_dir).max_position_embeddings == 4096
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    tasks = load_tasks("all")
    assert len(tasks) >= 16
    for task in tasks:
        task.build(data="fixture")
        for inst in task.instances:
            prompt = len(tokenizer(inst.prompt)["input_ids"])
            extra = max(len(tokenizer(getattr(r, "continuation", ""))["input_ids"]) if r.kind != "generate_until"
                        else r.params.max_new_tokens for r in inst.requests)
            assert prompt + extra <= 4096, (task.name, inst.doc_id, prompt, extra)
