"""Request bodies and answer parsing of the OpenAI completions and chat completions APIs.

Log-likelihoods use the legacy completions API with `echo=true, logprobs=1`: the server returns
the log-prob of every prompt token and the top alternative, so a continuation's score is the sum
over its tokens, and it was greedy when each token's log-prob equals the best one. With a local
tokenizer the prompt is sent as token ids and the continuation is located by token count (exact);
without one it is sent as text and located by character offsets.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from jlce.reasoning import THINK_CLOSE, THINK_OPEN


class ProtocolError(ValueError):
    """An answer without the fields the request asked for."""


@dataclass(frozen=True)
class EchoScore:
    logprob: float
    is_greedy: bool
    n_tokens: int


def echo_body(model: str, prompt: str | Sequence[int]) -> dict[str, Any]:
    return {"model": model, "prompt": prompt if isinstance(prompt, str) else list(prompt), "max_tokens": 1,
            "echo": True, "logprobs": 1, "temperature": 0}


def _logprobs(answer: dict[str, Any]) -> dict[str, Any]:
    try:
        logprobs = answer["choices"][0]["logprobs"]
    except (KeyError, IndexError, TypeError) as error:
        raise ProtocolError("the answer has no choices[0].logprobs") from error
    if not isinstance(logprobs, dict) or not isinstance(logprobs.get("token_logprobs"), list):
        raise ProtocolError("the answer has no token log-probs (does the server support echo with logprobs?)")
    return logprobs


def _score(logprobs: dict[str, Any], start: int, end: int) -> EchoScore:
    values, tops = logprobs["token_logprobs"], logprobs.get("top_logprobs") or []
    if end > len(values) or start < 1:
        raise ProtocolError(f"the answer has {len(values)} prompt log-probs, positions {start}..{end - 1} were needed")
    total, greedy = 0.0, True
    for position in range(start, end):
        value = values[position]
        if value is None:
            raise ProtocolError(f"no log-prob for prompt position {position}")
        total += float(value)
        top = tops[position] if position < len(tops) else None
        if isinstance(top, dict) and top:
            greedy = greedy and float(value) >= max(float(v) for v in top.values()) - 1e-9
        else:
            greedy = False
    return EchoScore(total, greedy, end - start)


def score_tokens(answer: dict[str, Any], context_length: int, continuation_length: int) -> EchoScore:
    """Score of the prompt tokens at positions `context_length`..+`continuation_length`."""
    return _score(_logprobs(answer), context_length, context_length + continuation_length)


def score_text(answer: dict[str, Any], prompt: str, context: str) -> EchoScore:
    """Score of the tokens that start at or after the end of `context` in the echoed `prompt`.

    `text_offset` counts characters of the concatenated token strings, which may begin with
    special tokens the server added (a rendered BOS such as "<s>") that the prompt lacks: the
    prompt is located in that concatenation first."""
    logprobs = _logprobs(answer)
    offsets, tokens = logprobs.get("text_offset"), logprobs.get("tokens")
    if not isinstance(offsets, list) or not isinstance(tokens, list):
        raise ProtocolError("the answer has no text offsets and tokens for the echoed prompt")
    prompt_tokens = (answer.get("usage") or {}).get("prompt_tokens") or len(offsets) - 1
    joined = "".join(str(t) for t in tokens[:prompt_tokens])
    shift = joined.find(prompt)
    if shift < 0:  # decoded pieces that do not concatenate to the prompt exactly: it ends the text
        shift = max(0, len(joined) - len(prompt))
    boundary = shift + len(context)
    start = next((i for i, at in enumerate(offsets[:prompt_tokens]) if at >= boundary), prompt_tokens)
    return _score(logprobs, start, prompt_tokens)


def completion_body(model: str, prompt: str | Sequence[int], *, max_tokens: int, temperature: float, top_p: float,
                    seed: int | None, stop: Sequence[str]) -> dict[str, Any]:
    body: dict[str, Any] = {"model": model, "prompt": prompt if isinstance(prompt, str) else list(prompt),
                            "max_tokens": max_tokens, "temperature": temperature, "top_p": top_p}
    return _finish_body(body, seed, stop)


def chat_body(model: str, content: str, *, max_tokens: int, temperature: float, top_p: float, seed: int | None,
              stop: Sequence[str]) -> dict[str, Any]:
    body: dict[str, Any] = {"model": model, "messages": [{"role": "user", "content": content}],
                            "max_tokens": max_tokens, "temperature": temperature, "top_p": top_p}
    return _finish_body(body, seed, stop)


def messages_body(model: str, messages: Sequence[dict[str, str]], *, max_tokens: int, temperature: float, top_p: float,
                  seed: int | None, stop: Sequence[str]) -> dict[str, Any]:
    """A conversation (jlce.multiturn) for the chat completions API: the messages as given."""
    body: dict[str, Any] = {"model": model, "messages": [dict(m) for m in messages], "max_tokens": max_tokens,
                            "temperature": temperature, "top_p": top_p}
    return _finish_body(body, seed, stop)


def _finish_body(body: dict[str, Any], seed: int | None, stop: Sequence[str]) -> dict[str, Any]:
    if seed is not None:
        body["seed"] = seed
    stops = [s for s in stop if s][:4]  # the OpenAI API takes at most four; JLCE truncates at all of them anyway
    if stops:
        body["stop"] = stops
    return body


@dataclass(frozen=True)
class Generated:
    text: str
    n_tokens: int | None
    finish_reason: str
    reasoning_field: bool = False  # the server returned the reasoning separately (put back in <think> tags)
    token_ids: tuple[int, ...] | None = None  # the generated tokens, when the server returns them (vLLM)


def parse_generation(answer: dict[str, Any], chat: bool) -> Generated:
    """Text, completion tokens and finish reason; a chat answer's separate reasoning field
    (`reasoning_content` / `reasoning`, as vLLM's reasoning parsers return it) is put back in
    front of the content inside <think>...</think>, so filters and statistics see one text. vLLM's
    parsers give no content when the reasoning never closed; with finish reason `length` the block
    is then left open (the budget ran out while thinking)."""
    try:
        choice = answer["choices"][0]
    except (KeyError, IndexError, TypeError) as error:
        raise ProtocolError("the answer has no choices") from error
    finish = "length" if choice.get("finish_reason") == "length" else "stop"
    separate = False
    if chat:
        message = choice.get("message") or {}
        content = message.get("content")
        text = content or ""
        reasoning = message.get("reasoning_content") or message.get("reasoning")
        if reasoning:
            separate = True
            closed = bool(content)  # vLLM: content is None when no </think> was generated
            text = f"{THINK_OPEN}{reasoning}{THINK_CLOSE if closed else ''}{text}"
    else:
        text = choice.get("text") or ""
    usage = answer.get("usage") or {}
    tokens = usage.get("completion_tokens")
    ids = choice.get("token_ids")  # vLLM's `return_token_ids` extension
    token_ids = tuple(ids) if isinstance(ids, list) and all(isinstance(i, int) for i in ids) else None
    return Generated(text, int(tokens) if isinstance(tokens, int) else None, finish, separate, token_ids)
