"""The Hugging Face transformers backend: any `AutoModelForCausalLM`, on CPU, CUDA or ROCm."""

from __future__ import annotations

import time
from collections.abc import Hashable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

from jlce.backends.common.aliases import resolve_model_name
from jlce.backends.common.batching import (
    BatchSizer,
    is_out_of_memory,
    parse_batch_size,
    release_memory,
)
from jlce.backends.common.encoding import Encoder
from jlce.backends.common.params import check_generation_params
from jlce.backends.common.fingerprint import (
    combined_sha256,
    hub_snapshot_dir,
    snapshot_commit,
    text_sha256,
    tokenizer_files,
    weight_files,
)
from jlce.backends.transformers.generation import GenerationRow, generate_batch
from jlce.backends.common.loading import (
    kv_bytes_per_token,
    load_model_and_tokenizer,
    model_files_dir,
    model_max_length,
    pick_device,
    pick_dtype,
)
from jlce.backends.transformers.options import TransformersOptions
from jlce.backends.transformers.packed import (
    row_order_key,
    score_packed,
    split_members,
    supports_packing,
)
from jlce.backends.transformers.prefix import PrefixCluster, cluster_by_prefix
from jlce.backends.transformers.scoring import (
    ContextGroup,
    TokenScore,
    group_by_context,
    prefix_cache,
    score_batch,
)

from jlce.backend import Backend, BackendConfig, BatchOutput
from jlce.backendargs import backend_options
from jlce.backends.common.chat import chat_template_wanted, render_chat, render_messages
from jlce.budget import FORWARD, Truncation, fit_generation, fit_pair
from jlce.events import BatchEvent
from jlce.reasoning import prompt_opens_think
from jlce.requests import (
    ChatRequest,
    ChatResult,
    GenerateRequest,
    GenerateResult,
    LoglikelihoodRequest,
    LoglikelihoodResult,
    RollingLoglikelihoodRequest,
)

_Key = TypeVar("_Key", bound=Hashable)  # what the caller names each scored item by, handed back

# Name parts that mark chat or reasoning models (Llama-3.1-8B-Instruct, gemma-2-9b-it,
# DeepSeek-R1-Distill-Qwen-7B): with `chat_template=None` their prompts go through the chat template.


class TransformersBackend(Backend):
    """Loads the model on construction. No forward pass holds more than `batch_size` rows (a row: a
    context with its continuations, or a generation prompt). Contexts shared by several requests,
    and prefixes shared by many contexts (fixed few-shot examples), run once."""

    name = "transformers"

    def __init__(self, config: BackendConfig):
        self.config = config
        self.options = backend_options(TransformersOptions, config.options, "transformers")
        self._start_size, self._adaptive = parse_batch_size(config.batch_size, self.options.max_batch_size)
        self.ref = resolve_model_name(config.model)
        self.adapter = None
        if config.adapter:  # checked against the base weights before the model loads
            from jlce.backends.common.lora import adapter_identity, check_adapter_fits

            self.adapter = adapter_identity(config.adapter)
            check_adapter_fits(self.adapter, model_files_dir(self.ref, config.revision), config.model)
        self.device = pick_device(config.device)
        self.dtype = pick_dtype(config.dtype, self.device)
        started = time.perf_counter()
        self.model, self.tokenizer = load_model_and_tokenizer(
            self.ref, revision=config.revision, dtype=self.dtype, device=self.device,
            trust_remote_code=config.trust_remote_code, options=self.options,
        )
        if self.adapter is not None:
            from jlce.backends.common.lora import load_adapter

            self.model = load_adapter(self.model, self.adapter.path, merge=config.merge_adapter)
        self.load_seconds = time.perf_counter() - started
        self.max_length = model_max_length(self.model, self.tokenizer, config.max_length)
        self.use_chat_template = self._chat_template_wanted()
        self.encoder = Encoder(
            self.tokenizer, add_bos=self.options.add_bos_token,
            template=self._render_chat if self.use_chat_template else None,
        )
        eos = self.tokenizer.eos_token_id
        self.pad_id = next(i for i in (self.tokenizer.pad_token_id, eos, 0) if i is not None)
        self.eos_ids = {i for i in [eos, *_as_list(getattr(self.model.generation_config, "eos_token_id", None))]
                        if i is not None}
        self.packing = supports_packing(self.model)  # one pass per batch, shared prefixes run once
        self.batch_sizes_used: dict[str, list[int]] = {}
        self._fingerprint: dict[str, Any] | None = None

    # ---- identity --------------------------------------------------------------------------

    def _chat_template_wanted(self) -> bool:
        return chat_template_wanted(self.tokenizer, self.config.chat_template, self.config.model, self.ref.target)

    def _render_chat(self, text: str) -> str:
        return render_chat(self.tokenizer, text)

    def model_names(self) -> tuple[str, ...]:
        return (self.ref.target,)

    def fingerprint(self) -> dict[str, Any]:
        if self._fingerprint is None:
            files = model_files_dir(self.ref, self.config.revision)
            weights = weight_files(files) if files else []
            self._fingerprint = {
                "backend": self.name,
                "model": self.ref.target,
                "revision": (snapshot_commit(files) if files else None) or self.config.revision,
                "weights_sha256": combined_sha256(weights) if weights else None,
                "weight_files": [p.name for p in weights],
                "dtype": str(self.dtype).removeprefix("torch."),
                "tokenizer_sha256": self._tokenizer_hash(files),
                "add_bos": self.encoder.adds_bos,
                "chat_template": self.use_chat_template,
                "chat_template_sha256": text_sha256(getattr(self.tokenizer, "chat_template", None)),
                "adapter": {**self.adapter.to_dict(), "merged": self.config.merge_adapter} if self.adapter else None,
                "max_length": self.max_length,
            }
        return dict(self._fingerprint)

    def _tokenizer_hash(self, model_dir: Path | None) -> str | None:
        directory = model_dir
        if self.options.tokenizer:
            path = Path(self.options.tokenizer).expanduser()
            directory = path if path.is_dir() else hub_snapshot_dir(self.options.tokenizer, None)
        found = tokenizer_files(directory) if directory else []
        if found:
            return combined_sha256(found)
        backend = getattr(self.tokenizer, "backend_tokenizer", None)
        return text_sha256(backend.to_str()) if backend is not None else None

    def engine(self) -> dict[str, str]:
        from jlce.backends.common.engine_versions import torch_engine

        return torch_engine(self.device, "transformers", *(("peft",) if self.config.adapter else ()))

    def describe(self) -> dict[str, Any]:
        config = self.model.config
        return {
            **self.fingerprint(),
            "given_name": self.config.model,
            "alias": self.ref.alias,
            "device": str(self.device if not self.options.device_map else f"device_map={self.options.device_map}"),
            "architectures": list(getattr(config, "architectures", None) or []),
            "model_type": getattr(config, "model_type", None),
            "n_parameters": int(sum(p.numel() for p in self.model.parameters())),
            "vocab_size": len(self.tokenizer),
            "kv_bytes_per_token": kv_bytes_per_token(self.model),
            "attn_implementation": getattr(config, "_attn_implementation", None),
            "packed_scoring": self.packing,
            "trust_remote_code": self.config.trust_remote_code,
            "batch_size": self.config.batch_size,
            "batch_sizes_used": {kind: list(sizes) for kind, sizes in self.batch_sizes_used.items()},
            "load_seconds": round(self.load_seconds, 3),
        }

    # ---- requests --------------------------------------------------------------------------

    def loglikelihood(self, requests: Sequence[LoglikelihoodRequest]) -> Iterator[BatchOutput]:
        encoded = self.encoder.pairs([(r.context, r.continuation) for r in requests])
        fitted = [fit_pair(ctx, cont, self.max_length, FORWARD) for ctx, cont in encoded]
        cuts = [truncation for _, _, truncation in fitted]
        items = [(i, ctx, cont) for i, (ctx, cont, _) in enumerate(fitted)]
        empty = [(i, LoglikelihoodResult(0.0, True, 0, cuts[i])) for i, _, cont in items if not cont]
        for scores, event in self._score(items, "loglikelihood"):
            answers = [(key, LoglikelihoodResult(s.logprob, s.is_greedy, s.n_tokens, cuts[key])) for key, s in scores]
            yield empty + answers, event
            empty = []
        if empty:
            yield empty, BatchEvent(kind="loglikelihood", size=len(empty), seconds=0.0)

    def loglikelihood_rolling(self, requests: Sequence[RollingLoglikelihoodRequest]) -> Iterator[BatchOutput]:
        windows = self.encoder.rolling([r.text for r in requests], self.max_length, FORWARD)
        items = [((doc, w), ctx, cont) for doc, doc_windows in enumerate(windows)
                 for w, (ctx, cont) in enumerate(doc_windows)]
        parts: dict[int, dict[int, TokenScore]] = {doc: {} for doc in range(len(requests))}
        ready = [(doc, LoglikelihoodResult(0.0, True, 0, Truncation(0))) for doc, w in enumerate(windows) if not w]
        for scores, event in self._score(items, "loglikelihood_rolling"):
            for (doc, w), score in scores:
                parts[doc][w] = score
            done = [doc for doc in {doc for (doc, _), _ in scores} if len(parts[doc]) == len(windows[doc])]
            for doc in sorted(done):
                ordered = [parts[doc][w] for w in range(len(windows[doc]))]  # fixed order: exact sums
                n_tokens = sum(s.n_tokens for s in ordered)
                ready.append((doc, LoglikelihoodResult(
                    float(sum(s.logprob for s in ordered)), all(s.is_greedy for s in ordered), n_tokens,
                    Truncation(n_tokens),  # windows score every token: nothing is cut
                )))
            yield ready, BatchEvent(kind=event.kind, size=len(ready), seconds=event.seconds,
                                    prompt_tokens=event.prompt_tokens, batch_size=event.batch_size,
                                    extra={**event.extra, "windows": event.size})
            ready = []
        if ready:
            yield ready, BatchEvent(kind="loglikelihood_rolling", size=len(ready), seconds=0.0)

    def _score(self, items: Sequence[tuple[_Key, Sequence[int], Sequence[int]]],
               kind: str) -> Iterator[tuple[list[tuple[_Key, TokenScore]], BatchEvent]]:
        """Batches of at most `batch_size` rows. Packed path: rows are a context and its
        continuations, clustered by shared prefix (computed once per cluster). General path: rows
        are distinct contexts."""
        sizer = BatchSizer(self._start_size, self._adaptive)
        groups = group_by_context(items, self.max_length)
        packed = self.packing
        clusters = cluster_by_prefix(groups) if packed else [PrefixCluster((), groups)]
        for cluster in clusters:
            shared = len(cluster.prefix)
            rows = sorted(split_members(cluster.groups), key=row_order_key(shared)) if packed else cluster.groups
            began = time.perf_counter()
            prefix = (shared, prefix_cache(self.model, cluster.prefix)) if shared else None
            prefix_seconds = time.perf_counter() - began  # counted in the cluster's first batch,
            fresh_prefix = shared  # as are its tokens
            start = 0
            while start < len(rows):
                end = min(start + sizer.size, len(rows))
                began = time.perf_counter()
                try:
                    if packed:
                        scores = score_packed(self.model, rows[start:end], self.pad_id, prefix)
                    else:
                        scores = score_batch(self.model, rows[start:end], self.pad_id, max_rows=sizer.size)
                except Exception as error:
                    if not is_out_of_memory(error):
                        raise
                    sizer.shrink(error)
                    continue
                sizer.record(sizer.size)
                self.batch_sizes_used[kind] = list(sizer.used)
                seconds = time.perf_counter() - began + prefix_seconds
                yield scores, _score_event(kind, rows[start:end], scores, seconds, sizer.size, shared, fresh_prefix)
                fresh_prefix, prefix_seconds = 0, 0.0
                start = end
            del prefix

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
        opened = [prompt_opens_think(text) for text in rendered]  # R1 templates open <think>
        rows: list[GenerationRow] = []
        cuts: list[Truncation] = []
        for i, (request, prompt) in enumerate(zip(requests, prompts)):
            fit = fit_generation(len(prompt), request.params.max_new_tokens, self.max_length)
            cuts.append(fit.truncation)
            seed = request.params.seed if request.params.seed is not None else self.config.seed
            rows.append(GenerationRow(i, tuple(fit.apply(prompt)), request.params, seed))
        sizer = BatchSizer(self._start_size, self._adaptive)
        for shared, members in self._prompt_clusters(rows):
            began = time.perf_counter()
            prefix = (shared, prefix_cache(self.model, rows[members[0]].prompt[:shared])) if shared else None
            prefix_seconds = time.perf_counter() - began  # counted in the cluster's first batch
            start = 0
            while start < len(members):
                batch = [rows[i] for i in members[start:start + sizer.size]]
                began = time.perf_counter()
                try:
                    outputs = generate_batch(self.model, self.tokenizer, batch, self.pad_id, self.eos_ids,
                                             self.max_length, prefix)
                except Exception as error:
                    if not is_out_of_memory(error):
                        raise
                    sizer.shrink(error)
                    continue
                sizer.record(sizer.size)
                self.batch_sizes_used[kind] = list(sizer.used)
                answers = [(key, _generated(kind, g, cuts[key], opened[key], rendered[key])) for key, g in outputs]
                computed = sum(len(p) - shared for p in {r.prompt for r in batch}) + (shared if start == 0 else 0)
                yield answers, BatchEvent(
                    kind=kind, size=len(batch), seconds=time.perf_counter() - began + prefix_seconds,
                    prompt_tokens=computed, generated_tokens=sum(g.n_tokens for _, g in outputs),
                    batch_size=sizer.size, extra={"shared_prefix_tokens": shared},
                )
                prefix_seconds = 0.0
                start += len(batch)
            del prefix

    def _prompt_clusters(self, rows: Sequence[GenerationRow]) -> list[tuple[int, list[int]]]:
        """(shared prefix length, row indices longest first) per cluster of prompts; one cluster
        without sharing when the model does not allow it (see `supports_packing`)."""
        def longest_first(indices):
            return sorted(indices, key=lambda i: (-len(rows[i].prompt), i))

        if not self.packing:
            return [(0, longest_first(range(len(rows))))]
        groups = [ContextGroup(row.prompt, [(i, (0,))]) for i, row in enumerate(rows)]
        merged: dict[tuple[int, ...], ContextGroup] = {}
        for group in groups:  # equal prompts (different parameters) share one group
            merged.setdefault(group.context, ContextGroup(group.context)).members.extend(group.members)
        return [(len(c.prefix), longest_first(key for g in c.groups for key, _ in g.members))
                for c in cluster_by_prefix(list(merged.values()))]

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        return [len(ids) for ids in self.encoder.plain(list(texts))]

    def close(self) -> None:
        for attribute in ("model", "tokenizer"):
            if hasattr(self, attribute):
                delattr(self, attribute)
        release_memory()


def _generated(kind: str, g: Any, truncation: Truncation, opened: bool, rendered: str) -> GenerateResult:
    """The answer of a generation (`generate_until`) or of a conversation's turn (`generate_chat`,
    which records the rendered prompt)."""
    if kind == "generate_chat":
        return ChatResult(g.text, g.n_tokens, g.finish_reason, truncation, opened_think=opened, prompt=rendered)
    return GenerateResult(g.text, g.n_tokens, g.finish_reason, truncation, opened_think=opened)


def _as_list(value) -> list:
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple, set)) else [value]


def _score_event(kind: str, groups: Sequence[ContextGroup], scores, seconds: float, size: int, shared: int = 0,
                 fresh_prefix: int = 0) -> BatchEvent:
    """`shared`: prefix tokens the batch's contexts took from a cache; `fresh_prefix`: those of them
    computed for this batch (the cluster's first)."""
    computed = fresh_prefix + sum(len(g.context) - shared + sum(len(c) - 1 for c in {c for _, c in g.members})
                                  for g in groups)
    reused = sum(len(g.context) * len(g.members) for g in groups) - fresh_prefix - sum(len(g.context) - shared for g in groups)
    return BatchEvent(
        kind=kind, size=len(scores), seconds=seconds, prompt_tokens=computed, batch_size=size,
        extra={"contexts": len(groups), "context_tokens_reused": reused, "shared_prefix_tokens": shared},
    )
