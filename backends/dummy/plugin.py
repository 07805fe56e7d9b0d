"""`--backend dummy`: answers by fixed rules, with no model and no torch.

For trying JLCE, writing and testing plugins, and CI. It is not a language model: its scores say
nothing about any model (results.json records `backend: dummy`). One "token" is one character:

- `loglikelihood`: minus the number of characters of the continuation (the shortest choice wins);
- `loglikelihood_rolling`: minus the number of characters of the text;
- `generate_until`: the text of `--backend-arg reply=TEXT` (default empty), cut at the first stop
  sequence and at `max_new_tokens` characters;
- `generate_chat` (multi-turn tasks): the same reply with the turn number put in for `{turn}`
  (e.g. `reply="answer {turn}"`); the recorded prompt is the conversation, one `role: content`
  line per message;
- `count_tokens`: characters.

The model name is recorded but not read.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from typing import Any

from jlce.backend import Backend, BackendConfig, BatchOutput
from jlce.backendargs import backend_options
from jlce.events import BatchEvent
from jlce.hookspecs import hookimpl
from jlce.requests import (
    ChatRequest,
    ChatResult,
    GenerateRequest,
    GenerateResult,
    LoglikelihoodRequest,
    LoglikelihoodResult,
    RollingLoglikelihoodRequest,
)
from jlce.specs import BackendSpec

RULES_VERSION = 1  # part of the fingerprint: a change of rules never reuses cached answers


@hookimpl
def jlce_register_backends(register):
    register(BackendSpec("dummy", DummyBackend, options="jlce.backends.dummy.options:DummyOptions",
                         description="no model: fixed-rule answers (one character = one token), for tests and plugin authors"))


class DummyBackend(Backend):
    name = "dummy"

    def __init__(self, config: BackendConfig):
        from jlce.backends.dummy.options import DummyOptions

        self.model = config.model
        self.reply = backend_options(DummyOptions, config.options, "dummy").reply
        self.batch_size = config.batch_size if isinstance(config.batch_size, int) else 16

    def fingerprint(self) -> dict[str, Any]:
        return {"backend": "dummy", "model": self.model, "rules": RULES_VERSION, "reply": self.reply}

    def _batches(self, requests: Sequence[Any], kind: str, answer: Any, size: Any) -> Iterator[BatchOutput]:
        for start in range(0, len(requests), self.batch_size):
            began = time.perf_counter()
            batch = list(enumerate(requests[start:start + self.batch_size], start))
            answers = [(i, answer(request)) for i, request in batch]
            prompt, generated = size(batch, answers)
            yield answers, BatchEvent(kind, len(batch), time.perf_counter() - began, prompt_tokens=prompt,
                                      generated_tokens=generated, batch_size=self.batch_size)

    def loglikelihood(self, requests: Sequence[LoglikelihoodRequest]) -> Iterator[BatchOutput]:
        return self._batches(requests, "loglikelihood",
                             lambda r: LoglikelihoodResult(-float(len(r.continuation)), False, len(r.continuation)),
                             lambda batch, _: (sum(len(r.context) + len(r.continuation) for _, r in batch), 0))

    def loglikelihood_rolling(self, requests: Sequence[RollingLoglikelihoodRequest]) -> Iterator[BatchOutput]:
        return self._batches(requests, "loglikelihood_rolling", lambda r: LoglikelihoodResult(-float(len(r.text)), False, len(r.text)),
                             lambda batch, _: (sum(len(r.text) for _, r in batch), 0))

    def _generate(self, request: GenerateRequest) -> GenerateResult:
        return self._reply(self.reply, request.params)

    def _reply(self, text: str, params: Any) -> GenerateResult:
        for stop in params.until:
            if stop and stop in text:
                text = text[:text.index(stop)]
        finish = "length" if len(text) > params.max_new_tokens else "stop"
        text = text[:params.max_new_tokens]
        return GenerateResult(text, len(text), finish)

    def generate_until(self, requests: Sequence[GenerateRequest]) -> Iterator[BatchOutput]:
        return self._batches(requests, "generate_until", self._generate,
                             lambda batch, answers: (sum(len(r.context) for _, r in batch), sum(a.n_tokens for _, a in answers)))

    def _chat(self, request: ChatRequest) -> ChatResult:
        reply = self._reply(self.reply.replace("{turn}", str(len(request.turns))), request.params)
        text = reply.text
        prompt = "\n".join(f"{m['role']}: {m['content']}" for m in request.messages())
        return ChatResult(text, len(text), reply.finish_reason, prompt=prompt)

    def generate_chat(self, requests: Sequence[ChatRequest]) -> Iterator[BatchOutput]:
        return self._batches(requests, "generate_chat", self._chat,
                             lambda batch, answers: (sum(len(a.prompt or "") for _, a in answers), sum(a.n_tokens for _, a in answers)))

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        return [len(text) for text in texts]
