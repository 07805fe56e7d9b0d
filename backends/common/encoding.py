"""Text to token ids, the way lm-evaluation-harness does it, so scores are comparable.

- A pair (context, continuation) is encoded as whole = enc(context + continuation),
  ctx = enc(context), continuation = whole[len(ctx):]; trailing whitespace of the context is
  moved to the continuation first. An empty context becomes the BOS token (EOS when there is none).
- BOS follows the tokenizer's own convention (Llama adds it, Qwen2 does not); EOS is never appended.
- Rolling log-likelihood uses disjoint windows as long as the engine allows (`jlce.budget`).
  Cutting to the context limit is `jlce.budget`'s job (one rule for every backend).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from jlce.budget import Engine, rolling_window
from jlce.errors import UserError

Tokens = list[int]


def _find(haystack: Sequence[int], needle: Sequence[int]) -> int:
    for start in range(len(haystack) - len(needle) + 1):
        if list(haystack[start:start + len(needle)]) == list(needle):
            return start
    return -1


class Encoder:
    """Encodes texts for one tokenizer. `add_bos` None follows the tokenizer's convention."""

    def __init__(self, tokenizer, *, add_bos: bool | None = None, template: Callable[[str], str] | None = None):
        self.tokenizer = tokenizer
        self.template = template
        if add_bos is None:
            plain = tokenizer("a", add_special_tokens=False)["input_ids"]
            special = tokenizer("a", add_special_tokens=True)["input_ids"]
            at = _find(special, plain)
            self.prefix: Tokens = list(special[:at]) if at > 0 else []
        elif add_bos:
            if tokenizer.bos_token_id is None:
                raise UserError("add_bos_token=true but the tokenizer has no BOS token")
            self.prefix = [tokenizer.bos_token_id]
        else:
            self.prefix = []
        bos, eos = tokenizer.bos_token_id, tokenizer.eos_token_id
        self.prefix_token_id: int = bos if bos is not None else eos
        if self.prefix_token_id is None:
            raise UserError("the tokenizer has neither a BOS nor an EOS token to start an empty context with")

    @property
    def adds_bos(self) -> bool:
        return bool(self.prefix)

    def plain(self, texts: Sequence[str]) -> list[Tokens]:
        """Token ids without any special token."""
        if not texts:
            return []
        return [list(ids) for ids in self.tokenizer(list(texts), add_special_tokens=False)["input_ids"]]

    def render(self, text: str) -> str:
        """A prompt as the model sees it: inside the chat template when one is set."""
        return self.template(text) if self.template is not None else text

    def _rendered_ids(self, rendered: Sequence[str]) -> list[Tokens]:
        # a chat template writes its own BOS; otherwise the tokenizer's prefix is added
        prefix = [] if self.template is not None else self.prefix
        return [prefix + ids for ids in self.plain(rendered)]

    def prompt(self, texts: Sequence[str]) -> list[Tokens]:
        """Token ids of generation prompts."""
        return self._rendered_ids([self.render(text) for text in texts])

    def pairs(self, pairs: Sequence[tuple[str, str]]) -> list[tuple[Tokens, Tokens]]:
        """(context, continuation) token ids for each (context, continuation) text pair."""
        contexts: list[str] = []
        continuations: list[str] = []
        for context, continuation in pairs:
            spaces = len(context) - len(context.rstrip())
            if spaces and context.strip():
                continuation = context[-spaces:] + continuation
                context = context[:-spaces]
            contexts.append(self.render(context) if context else "")
            continuations.append(continuation)
        unique = sorted({c for c in contexts if c})
        context_ids = dict(zip(unique, self._rendered_ids(unique)))
        wholes = [i for i, c in enumerate(contexts) if c]
        whole_ids = dict(zip(wholes, self._rendered_ids([contexts[i] + continuations[i] for i in wholes])))
        encoded: list[tuple[Tokens, Tokens]] = []
        alone: list[int] = []  # continuations tokenized on their own
        for i, context in enumerate(contexts):
            if not context:
                encoded.append(([self.prefix_token_id], []))
                alone.append(i)
                continue
            ctx = context_ids[context]
            cont = whole_ids[i][len(ctx):]
            if not cont and continuations[i]:  # the continuation merged into the context's last token
                alone.append(i)
            encoded.append((ctx or [self.prefix_token_id], cont))
        for i, ids in zip(alone, self.plain([continuations[i] for i in alone])):
            encoded[i] = (encoded[i][0], ids)
        return encoded

    def rolling(self, texts: Sequence[str], window: int, engine: Engine) -> list[list[tuple[Tokens, Tokens]]]:
        """For each text, its disjoint (context, continuation) windows for a model of `window`
        positions served by `engine` (`jlce.budget`)."""
        size = rolling_window(window, engine)
        return [rolling_windows(ids, self.prefix_token_id, size) for ids in self.plain(texts)]


def rolling_windows(tokens: Tokens, prefix_token: int, max_length: int) -> list[tuple[Tokens, Tokens]]:
    """lm-evaluation-harness' rolling windows (context length 1), made disjoint: every token is
    predicted exactly once. `max_length` is the number of tokens a window scores
    (`jlce.budget.rolling_window`). The first window is conditioned on `prefix_token`; a later full
    window on the one token before it; a shorter last window on as many earlier tokens as fill the
    model's length."""
    if max_length < 1:
        raise ValueError("max_length must be at least 1")
    windows: list[tuple[Tokens, Tokens]] = []
    start = 0
    while start < len(tokens):
        end = min(start + max_length, len(tokens))
        if start == 0:
            context = [prefix_token]
        else:
            context = list(tokens[end - max_length - 1:start])
        windows.append((context, list(tokens[start:end])))
        start = end
    return windows
