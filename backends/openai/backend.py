"""The OpenAI-compatible backend: any server speaking the completions / chat completions API
(vLLM, SGLang, llama.cpp, TGI, OpenAI itself).

`--backend-arg base_url=http://host:port/v1` names the server, `model=` the served model (default
`--model`), and the key is read from the environment variable named by `api_key_env` (default
OPENAI_API_KEY): it goes into the Authorization header and nowhere else (not the fingerprint,
cache keys, results or logs). Requests run `concurrency` at a time with timeouts and retries; each
finished batch reaches the request cache, so an interrupted run resumes where it stopped.
Log-likelihoods need echo + logprobs on the completions endpoint: the server is probed before the
first one is sent, and a server without them fails the multiple-choice tasks with a clear message.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Hashable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from pathlib import Path
from typing import Any, Literal, TypeVar

from jlce.backend import Backend, BackendConfig, BatchOutput, UnsupportedRequest
from jlce.backendargs import backend_options
from jlce.backends.common.batching import parse_batch_size
from jlce.backends.common.encoding import Encoder
from jlce.backends.common.params import check_generation_params
from jlce.backends.common.fingerprint import combined_sha256, text_sha256, tokenizer_files
from jlce.backends.openai.client import ApiClient, ApiRejected, RetryPolicy
from jlce.backends.openai.options import OpenAIOptions
from jlce.backends.openai.protocol import (
    ProtocolError,
    chat_body,
    completion_body,
    echo_body,
    messages_body,
    parse_generation,
    score_text,
    score_tokens,
)
from jlce.backends.common.rolling import join_windows
from jlce.budget import ENGINE, Truncation, fit_generation, fit_pair
from jlce.errors import UserError
from jlce.events import BatchEvent

_Key = TypeVar("_Key", bound=Hashable)  # what the caller names each job by, handed back with its answer
from jlce.reasoning import plain_truncate, prompt_opens_think
from jlce.backends.common.chat import render_messages
from jlce.requests import ChatRequest, ChatResult, GenerateRequest, GenerateResult, LoglikelihoodRequest, LoglikelihoodResult


# A fixed text whose log-probabilities identify the served weights (see weights_probe).
IDENTITY_PROBE = ("JLCE weights probe. 吾輩は猫である。名前はまだ無い。どこで生れたかとんと見当がつかぬ。"
                  "The quick brown fox jumps over the lazy dog; 1, 2, 3, 5, 8, 13.")


class OpenAIBackend(Backend):
    name = "openai"

    def __init__(self, config: BackendConfig):
        self.config = config
        self.options = options = backend_options(OpenAIOptions, config.options, "openai")
        if not options.base_url:
            raise UserError("the openai backend needs the server: --backend-arg base_url=http://HOST:PORT/v1")
        if config.adapter:
            raise UserError("the openai backend cannot load adapters; serve the adapter and name it with --backend-arg model=")
        self.batch_size, _ = parse_batch_size(config.batch_size)
        self.model_name = options.model or config.model
        self.api = options.api or ("chat" if config.chat_template else "completions")
        key = os.environ.get(options.api_key_env)
        if "api_key_env" in options.model_fields_set and not key:
            raise UserError(f"--backend-arg api_key_env={options.api_key_env}: that environment variable is not set")
        self.api_key_set = bool(key)
        self.client = ApiClient(options.base_url, key, timeout=options.timeout, connections=options.concurrency,
                                retry=RetryPolicy(options.max_retries, options.backoff, options.backoff_max, options.patience))
        del key
        self.server_model = self._server_model()
        self.tokenizer = self._load_tokenizer()
        template = getattr(self.tokenizer, "chat_template", None) if self.tokenizer is not None else None
        self.local_template = self.api == "chat" and bool(template)
        self.encoder = (Encoder(self.tokenizer, add_bos=options.add_bos_token,
                                template=self._render_chat if self.local_template else None)
                        if self.tokenizer is not None else None)
        self.max_model_len = self.server_model.get("max_model_len") or config.max_length
        self._echo_supported: bool | None = {"true": True, "false": False}.get(options.logprobs)
        # generated token ids decoded here (None: ask, and stop asking when the server refuses)
        self._token_ids: bool | None = {"true": True, "false": False}.get(options.token_ids)
        if self._token_ids and self.tokenizer is None:
            raise UserError("--backend-arg token_ids=true needs a local tokenizer (--backend-arg tokenizer=)")
        self._fingerprint: dict[str, Any] | None = None
        self._probe: list[float] | None = None
        self._server_version: str | None | Literal[False] = False  # False: not asked yet

    # ---- setup ------------------------------------------------------------------------------

    def _server_model(self) -> dict[str, Any]:
        """What GET /models says about the served model (stable fields only; {} when unlisted)."""
        try:
            listing = self.client.request("GET", "models")
        except ApiRejected as error:
            if error.status in (401, 403):
                raise
            return {}  # a server without /models
        for entry in listing.get("data", []) if isinstance(listing, dict) else []:
            if isinstance(entry, dict) and entry.get("id") == self.model_name:
                return {k: entry[k] for k in ("id", "root", "owned_by", "max_model_len") if k in entry}
        known = [e.get("id") for e in listing.get("data", []) if isinstance(e, dict)] if isinstance(listing, dict) else []
        if known:
            raise UserError(f"the server at {self.client.base_url} does not serve '{self.model_name}'; it serves: "
                            f"{', '.join(map(str, known))} (choose with --backend-arg model=NAME)")
        return {}

    def _load_tokenizer(self):
        """A local tokenizer: the `tokenizer` option, else --model when it is a local directory or
        a hub id already in the cache. None means text prompts (character offsets)."""
        choice = self.options.tokenizer
        if choice and choice.lower() == "none":
            return None
        source = choice or self.config.model
        local = Path(source).expanduser()
        if not choice and not (local.is_dir() or source.count("/") == 1):
            return None
        try:
            from transformers import AutoTokenizer

            return AutoTokenizer.from_pretrained(str(local) if local.is_dir() else source,
                                                 local_files_only=not choice and not local.is_dir(),
                                                 trust_remote_code=self.config.trust_remote_code)
        except (OSError, ValueError, ImportError) as error:
            if choice:
                raise UserError(f"cannot load the tokenizer '{choice}': {str(error).splitlines()[0]}") from error
            return None

    def _render_chat(self, text: str) -> str:
        return self.tokenizer.apply_chat_template([{"role": "user", "content": text}], tokenize=False,
                                                  add_generation_prompt=True)

    # ---- identity ---------------------------------------------------------------------------

    def model_names(self) -> tuple[str, ...]:
        return tuple(n for n in (self.model_name, str(self.server_model.get("root") or "")) if n)

    def fingerprint(self) -> dict[str, Any]:
        if self._fingerprint is None:
            files: list[Path] = []
            if self.tokenizer is not None:
                directory = Path(getattr(self.tokenizer, "name_or_path", "") or "")
                files = tokenizer_files(directory) if directory.is_dir() else []
            self._fingerprint = {
                "backend": self.name,
                "base_url": self.client.base_url,
                "model": self.model_name,
                "server_model": self.server_model,
                "api": self.api,
                "tokenizer_sha256": combined_sha256(files) if files else None,
                "add_bos": self.encoder.adds_bos if self.encoder else None,
                "chat_template_sha256": text_sha256(getattr(self.tokenizer, "chat_template", None)) if self.local_template else None,
            }
        return dict(self._fingerprint)

    def weights_probe(self) -> list[float] | None:
        """The served model's log-probabilities of a fixed text (one echo request per run): the
        part of a remote model's identity that changes when its weights do. None when the server
        returns no prompt log-probs."""
        if self._probe is None:
            self._probe = []
            if self.supports("loglikelihood"):
                answer = self.client.request("POST", "completions", echo_body(self.model_name, IDENTITY_PROBE))
                try:
                    values = answer["choices"][0]["logprobs"]["token_logprobs"]
                except (KeyError, IndexError, TypeError):
                    values = []
                self._probe = [float(v) for v in values if isinstance(v, (int, float))]
        return list(self._probe) or None

    def server_version(self) -> str | None:
        """What the server says it is (vLLM: GET /version), else None."""
        if self._server_version is False:
            root = self.client.base_url.removesuffix("/v1")
            try:
                answer = self.client.request("GET", f"{root}/version")
                version = answer.get("version") if isinstance(answer, dict) else None
            except (ApiRejected, ValueError):
                version = None
            self._server_version = str(version) if version is not None else None
        return self._server_version or None

    def engine(self) -> dict[str, str]:
        version = self.server_version()
        owner = self.server_model.get("owned_by")
        return {"server": str(owner or "unknown"), "server_version": version or "unknown"}

    def describe(self) -> dict[str, Any]:
        o = self.options
        return {**self.fingerprint(), "given_name": self.config.model, "api_key_env": o.api_key_env,
                "api_key_set": self.api_key_set, "tokenizer": getattr(self.tokenizer, "name_or_path", None),
                "concurrency": o.concurrency, "timeout": o.timeout, "max_retries": o.max_retries, "patience": o.patience,
                "server_version": self.server_version(), "weights_probe_tokens": len(self._probe or []),
                "backoff": [o.backoff, o.backoff_max], "retries": self.client.retries,
                "echo_logprobs": self._echo_supported, "batch_size": self.batch_size}

    # ---- concurrency ------------------------------------------------------------------------

    def _run(self, kind: str, jobs: Sequence[tuple[_Key, Callable[[], Any]]]
             ) -> Iterator[tuple[list[tuple[_Key, Any]], BatchEvent]]:
        """Run jobs `concurrency` at a time; yield finished answers in batches of `batch_size`."""
        if not jobs:
            return
        pool = ThreadPoolExecutor(max_workers=self.options.concurrency, thread_name_prefix="jlce-openai")
        try:
            todo = iter(jobs)
            running: dict[Future, _Key] = {}
            batch: list[tuple[_Key, Any]] = []
            began = time.perf_counter()
            while True:
                while len(running) < 2 * self.options.concurrency:
                    job = next(todo, None)
                    if job is None:
                        break
                    running[pool.submit(job[1])] = job[0]
                if not running:
                    break
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in done:
                    batch.append((running.pop(future), future.result()))
                if len(batch) >= self.batch_size or (not running and batch):
                    yield batch, self._event(kind, batch, began)
                    batch, began = [], time.perf_counter()
        finally:
            pool.shutdown(wait=False, cancel_futures=True)

    def _event(self, kind: str, batch, began: float) -> BatchEvent:
        generated = sum(r.n_tokens for _, r in batch if isinstance(r, GenerateResult))
        return BatchEvent(kind=kind, size=len(batch), seconds=time.perf_counter() - began, generated_tokens=generated,
                          batch_size=self.batch_size, extra={"retries": self.client.retries})

    # ---- log-likelihood ---------------------------------------------------------------------

    def supports(self, kind: str) -> bool:
        """Whether this server can answer `kind` (probes echo + logprobs once)."""
        if kind == "generate_until":
            return True
        if self._echo_supported is None:
            probe = self.encoder.plain(["こんにちは、世界"])[0] if self.encoder else "Hello, world"
            try:
                answer = self.client.request("POST", "completions", echo_body(self.model_name, probe))
                values = answer["choices"][0]["logprobs"]["token_logprobs"]
                self._echo_supported = isinstance(values, list) and any(isinstance(v, (int, float)) for v in values)
            except (ApiRejected, KeyError, IndexError, TypeError):
                self._echo_supported = False
        return self._echo_supported

    def _require_echo(self, kind: str) -> None:
        if not self.supports(kind):
            raise UnsupportedRequest(
                f"the server at {self.client.base_url} does not return prompt log-probs (completions with echo and "
                f"logprobs), so {kind} requests (multiple-choice and perplexity tasks) cannot run on '{self.model_name}'; "
                "run generation tasks only, or serve the model with vLLM")

    def loglikelihood(self, requests: Sequence[LoglikelihoodRequest]) -> Iterator[BatchOutput]:
        if not requests:
            return
        self._require_echo("loglikelihood")
        jobs = [(i, self._scorer(r)) for i, r in enumerate(requests)]
        yield from self._run("loglikelihood", jobs)

    def loglikelihood_rolling(self, requests) -> Iterator[BatchOutput]:
        if not requests:
            return
        self._require_echo("loglikelihood_rolling")
        if self.encoder is None or not self.max_model_len:
            raise UnsupportedRequest("loglikelihood_rolling over an API needs a local tokenizer (--backend-arg tokenizer=) "
                                     "and the server's max_model_len")
        windows = self.encoder.rolling([r.text for r in requests], self.max_model_len, ENGINE)
        jobs = [((doc, w), self._token_scorer(ctx, cont)) for doc, ws in enumerate(windows) for w, (ctx, cont) in enumerate(ws)]
        yield from join_windows(self._run("loglikelihood_rolling", jobs), windows)

    def _scorer(self, request: LoglikelihoodRequest) -> Callable[[], LoglikelihoodResult]:
        if not request.continuation:
            return lambda: LoglikelihoodResult(0.0, True, 0)
        if self.encoder is not None:
            ctx, cont = self.encoder.pairs([(request.context, request.continuation)])[0]
            if not cont:
                cut = Truncation(len(ctx))
                return lambda: LoglikelihoodResult(0.0, True, 0, cut)
            return self._token_scorer(ctx, cont)
        if not request.context:
            raise UnsupportedRequest("an empty context can only be scored with a local tokenizer (--backend-arg tokenizer=)")
        prompt = request.context + request.continuation

        def run() -> LoglikelihoodResult:
            answer = self.client.request("POST", "completions", echo_body(self.model_name, prompt))
            return _result(lambda: score_text(answer, prompt, request.context))

        return run

    def _token_scorer(self, ctx: Sequence[int], cont: Sequence[int]) -> Callable[[], LoglikelihoodResult]:
        # the echoed prompt plus one output token must fit (jlce.budget ENGINE); unknown
        # max_model_len: sent as it is, and the cut is not known
        ctx, cont, cut = fit_pair(ctx, cont, self.max_model_len or None, ENGINE)
        truncation = cut if self.max_model_len else None

        def run() -> LoglikelihoodResult:
            answer = self.client.request("POST", "completions", echo_body(self.model_name, list(ctx) + list(cont)))
            return _result(lambda: score_tokens(answer, len(ctx), len(cont)), truncation)

        return run

    # ---- generation -------------------------------------------------------------------------

    def generate_until(self, requests: Sequence[GenerateRequest]) -> Iterator[BatchOutput]:
        check_generation_params(requests)
        yield from self._run("generate_until", [(i, self._generator(r)) for i, r in enumerate(requests)])

    def _generator(self, request: GenerateRequest) -> Callable[[], GenerateResult]:
        p = request.params
        budget = p.max_new_tokens  # with reasoning on the core sent it raised and without stops
        seed = p.seed if p.seed is not None else self.config.seed
        stops = [s for s in p.until if s]
        chat = self.api == "chat"
        truncation: Truncation | None = None  # unknown without a local tokenizer and the window
        if chat:
            # known when the template is rendered here; else inferred from the text (a lone </think>)
            opened = self.local_template and prompt_opens_think(self._render_chat(request.context))
            # the server renders the same template (a local template implies the local tokenizer's encoder)
            if self.local_template and self.max_model_len and self.encoder is not None:
                rendered = self.encoder.prompt([request.context])[0]
                fit = fit_generation(len(rendered), budget, self.max_model_len)
                if fit.truncation.prompt_cut:  # a chat message cannot be cut here; the server would refuse it
                    raise UserError(f"a chat prompt of {len(rendered)} tokens does not fit the server's max_model_len "
                                    f"of {self.max_model_len} with one output token; use the completions API "
                                    "(--backend-arg api=completions), fewer shots or a longer-context model")
                budget, truncation = fit.max_new_tokens, fit.truncation
            body = chat_body(self.model_name, request.context, max_tokens=budget, temperature=p.temperature,
                             top_p=p.top_p, seed=seed, stop=stops)
        else:
            prompt: str | list[int] = request.context
            opened = prompt_opens_think(request.context)
            if self.encoder is not None:
                ids: list[int] = self.encoder.prompt([request.context])[0]
                if self.max_model_len:  # prompt + budget <= max_model_len, the prompt kept first
                    fit = fit_generation(len(ids), budget, self.max_model_len)
                    ids, budget, truncation = fit.apply(ids), fit.max_new_tokens, fit.truncation
                prompt = ids
            body = completion_body(self.model_name, prompt, max_tokens=budget, temperature=p.temperature,
                                   top_p=p.top_p, seed=seed, stop=stops)

        def run() -> GenerateResult:
            return self._generation(chat, body, p.until, budget, opened, truncation)

        return run

    def _generation(self, chat: bool, body: dict[str, Any], until: Sequence[str], budget: int, opened: bool,
                    truncation: Truncation | None, prompt: str | None = None) -> GenerateResult:
        """POST one generation and read its answer (a ChatResult recording `prompt` when given)."""
        def make(text: str, n_tokens: int, finish_reason: str, **fields: Any) -> GenerateResult:
            if prompt is not None:
                return ChatResult(text, n_tokens, finish_reason, prompt=prompt, **fields)
            return GenerateResult(text, n_tokens, finish_reason, **fields)

        if budget <= 0:
            return make("", 0, "length", truncation=truncation)
        answer = self._post_generation("chat/completions" if chat else "completions", body)
        try:
            generated = parse_generation(answer, chat)
        except ProtocolError as error:
            raise UserError(f"unexpected answer from {self.client.base_url}: {error}") from error
        text, stopped = plain_truncate(self._generated_text(generated), until)
        tokens = generated.n_tokens
        if tokens is None:  # a server that reports no usage: count locally when possible
            tokens = len(self.encoder.plain([generated.text])[0]) if self.encoder is not None else 0
        # a server that split the reasoning off gave it back with its own <think> tag
        return make(text, tokens, "stop" if stopped else generated.finish_reason,
                    opened_think=opened and not generated.reasoning_field, truncation=truncation)

    def generate_chat(self, requests: Sequence[ChatRequest]) -> Iterator[BatchOutput]:
        """Conversations sent as messages to the server's chat completions API (whatever `api` is
        set: a conversation has no other form); the server renders its chat template. The recorded
        prompt is the messages list as JSON. With a local tokenizer that has a chat template, the
        prompt's length is checked against max_model_len and an R1 template's open <think> is known."""
        check_generation_params(requests)
        yield from self._run("generate_chat", [(i, self._chat_turn(r)) for i, r in enumerate(requests)])

    def _chat_turn(self, request: ChatRequest) -> Callable[[], GenerateResult]:
        p = request.params
        messages = request.messages()
        budget, truncation, opened = p.max_new_tokens, None, False
        if self.tokenizer is not None and getattr(self.tokenizer, "chat_template", None):
            rendered = render_messages(self.tokenizer, messages, self.model_name)
            opened = prompt_opens_think(rendered)
            if self.max_model_len and self.encoder is not None:
                ids = self.encoder.plain([rendered])[0]
                fit = fit_generation(len(ids), budget, self.max_model_len)
                if fit.truncation.prompt_cut:  # a conversation cannot be cut here; the server would refuse it
                    raise UserError(f"a conversation of {len(ids)} tokens does not fit the server's max_model_len of "
                                    f"{self.max_model_len} with one output token; use a longer-context model")
                budget, truncation = fit.max_new_tokens, fit.truncation
        seed = p.seed if p.seed is not None else self.config.seed
        body = messages_body(self.model_name, messages, max_tokens=budget, temperature=p.temperature, top_p=p.top_p,
                             seed=seed, stop=[s for s in p.until if s])
        prompt = json.dumps(messages, ensure_ascii=False)
        return lambda: self._generation(True, body, p.until, budget, opened, truncation, prompt)

    def _post_generation(self, endpoint: str, body: dict[str, Any]) -> Any:
        """POST a generation, asking for the generated token ids when they can be decoded here; a
        server that refuses the field (HTTP 400 naming it) is asked without it from then on."""
        if self.tokenizer is None or self._token_ids is False:
            return self.client.request("POST", endpoint, body)
        try:
            return self.client.request("POST", endpoint, {**body, "return_token_ids": True})
        except ApiRejected as error:
            if self._token_ids or error.status != 400 or "return_token_ids" not in str(error):
                raise
            self._token_ids = False
        return self.client.request("POST", endpoint, body)

    def _generated_text(self, generated: Any) -> str:
        """The generated tokens decoded in one go, as the transformers and vLLM backends do: a
        server's incremental detokenizer withholds a tail that ends in an undecodable byte run
        (complete characters before it included). The server's text when it sent no ids, or split
        the reasoning off (its text then differs from the tokens by design)."""
        if generated.token_ids is None or generated.reasoning_field or self.tokenizer is None:
            return generated.text
        return self.tokenizer.decode(list(generated.token_ids), skip_special_tokens=True)

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        if self.encoder is None:
            raise UnsupportedRequest("the openai backend counts tokens only with a local tokenizer (--backend-arg tokenizer=)")
        return [len(ids) for ids in self.encoder.plain(list(texts))]

    def close(self) -> None:
        self.client.close()


def _result(compute: Callable[[], Any], truncation: Truncation | None = None) -> LoglikelihoodResult:
    try:
        score = compute()
    except ProtocolError as error:
        raise UserError(f"the server's echo answer cannot be scored: {error}") from error
    return LoglikelihoodResult(score.logprob, score.is_greedy, score.n_tokens, truncation)
