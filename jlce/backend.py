"""The backend contract. Backends are plugins (`jlce_register_backends`)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from jlce.errors import UserError
from jlce.events import BatchEvent
from jlce.requests import (
    ChatRequest,
    GenerateRequest,
    LoglikelihoodRequest,
    RollingLoglikelihoodRequest,
)

# What a backend yields after each batch: (index into the request list, answer) pairs, plus the
# batch's measurements. The evaluator stores each batch in the cache before asking for the next,
# so an interrupted run loses at most one batch.
BatchOutput = tuple[list[tuple[int, Any]], BatchEvent]


class Capability(str, Enum):
    """Optional abilities of a backend. Callers (profilers, scoring) check `supports(backend, ...)`
    before using one; a backend without it is never an error, the result just says it is absent."""

    LOGLIKELIHOOD_ROLLING = "loglikelihood_rolling"  # whole-text log-likelihood (perplexity tasks)
    COUNT_TOKENS = "count_tokens"  # token counts by the model's tokenizer (tokenizer_stats, throughput)
    GENERATE_CHAT = "generate_chat"  # multi-turn conversations (jlce.multiturn: judged tasks such as MT-Bench)


def supports(backend: Any, capability: Capability | str) -> bool:
    """Whether `backend` declares `capability` (duck-typed backends: whether it has the method)."""
    declared = getattr(backend, "capabilities", None)
    if declared is None:
        return callable(getattr(backend, str(Capability(capability).value), None))
    return Capability(capability) in declared


class UnsupportedRequest(UserError):
    """The backend cannot serve this request kind (e.g. an API without log-probs)."""


@dataclass(frozen=True)
class BackendConfig:
    """Model settings from the run options (`jlce.runconfig.RunOptions.backend_config()` builds it
    from the fields marked `ToBackend`; each field here has the same name there). `options`: the
    `--backend-arg` pairs, parsed by the backend's options model when its `BackendSpec` declares one
    (a backend reads it with `jlce.backendargs.backend_options(MyOptions, config.options, name)`),
    else the pairs as given (text from the command line)."""

    model: str
    revision: str | None = None
    dtype: str = "auto"  # auto | float32 | float16 | bfloat16
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    batch_size: int | str = 16  # int or "auto"
    max_length: int | None = None
    adapter: str | None = None
    merge_adapter: bool = False
    chat_template: bool | None = None  # None: the backend decides (on for chat/reasoning models)
    trust_remote_code: bool = False
    seed: int = 1234
    options: Any = field(default_factory=dict)  # the backend's options model, or a dict of pairs


class Backend(ABC):
    """A loaded model that answers the three request kinds.

    Each method receives every request of its kind for the whole run (pooled across tasks) and
    yields one `BatchOutput` per batch, in any order the backend finds efficient.
    """

    name: str = "backend"

    @property
    def capabilities(self) -> frozenset[Capability]:
        """The optional abilities this backend has. By default, those whose method it overrides;
        a backend whose abilities depend on its settings (an API counting tokens only with a local
        tokenizer) overrides this property."""
        return frozenset(c for c in Capability if getattr(type(self), c.value) is not getattr(Backend, c.value))

    @abstractmethod
    def fingerprint(self) -> dict[str, Any]:
        """Everything that identifies the model's answers: id or path, revision, weight hash,
        dtype, adapter identity. The request cache is keyed by it."""

    def describe(self) -> dict[str, Any]:
        """Model facts for results.json (defaults to the fingerprint)."""
        return dict(self.fingerprint())

    def model_names(self) -> tuple[str, ...]:
        """Other names of the model than `--model` (the resolved hub id, the served model and its
        root): `--reasoning auto` turns reasoning on when one of them marks a reasoning model."""
        return ()

    def weights_probe(self) -> list[float] | None:
        """For a model whose weights cannot be hashed (a remote server): the log-probabilities it
        gives a fixed text, measured once per run (jlce.identity). None: the fingerprint suffices."""
        return None

    def engine(self) -> dict[str, str]:
        """Versions of the software computing the answers (e.g. torch, transformers, the CUDA/ROCm
        build; a server's reported version). Recorded with each cached answer, not part of its key;
        `--cache-policy strict` reuses only answers from the same engine. {}: unknown."""
        return {}

    @abstractmethod
    def loglikelihood(self, requests: Sequence[LoglikelihoodRequest]) -> Iterator[BatchOutput]: ...

    def loglikelihood_rolling(self, requests: Sequence[RollingLoglikelihoodRequest]) -> Iterator[BatchOutput]:
        raise UnsupportedRequest(f"backend '{self.name}' does not support loglikelihood_rolling")

    @abstractmethod
    def generate_until(self, requests: Sequence[GenerateRequest]) -> Iterator[BatchOutput]: ...

    def generate_chat(self, requests: Sequence[ChatRequest]) -> Iterator[BatchOutput]:
        """Answer conversations (`ChatRequest`: messages rendered by the model's chat template, or
        sent to a server's chat API) with `ChatResult`s. Optional (`Capability.GENERATE_CHAT`)."""
        raise UnsupportedRequest(f"backend '{self.name}' does not support multi-turn chat requests (generate_chat)")

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Token counts by the model's own tokenizer (for throughput and tokenizer statistics).
        Optional (`Capability.COUNT_TOKENS`)."""
        raise UnsupportedRequest(f"backend '{self.name}' cannot count tokens")

    def close(self) -> None:
        """Release the model."""


BackendFactory = Callable[[BackendConfig], Backend]
