"""Tokenizer-efficiency profiler: how many characters and morphemes each model token covers.

For each task's rendered prompts (`run.prompts[task]`, at most `max_prompts` of them, evenly
spaced) it reports, with the backend's own `count_tokens`:

- `tokens` (the tokenizer's counts, summed) and `chars_per_token` over the whole prompts;
- per script (hiragana, katakana, kanji, Latin, digits; `jlce.textstats`): every maximal run of
  one script is tokenized on its own and `chars_per_token` is that script's characters over the
  tokens of its runs (a tokenizer that prepends a word-boundary marker to isolated text, as
  SentencePiece's dummy prefix does, scores lower on short runs);
- `tokens_per_morpheme`: tokens over the morphemes MeCab (fugashi + unidic-lite) finds.

It needs the backend's optional `count_tokens` ability (`Capability.COUNT_TOKENS`): a backend
without it gets `{"available": false, "reason": ...}`, never an error.

Special tokens the tokenizer adds to every text (`count_tokens([""])`) are reported as
`special_tokens_per_text` and left out of the ratios. Runs when the model is loaded (prompts are
built before) or else at the end; the cost is one tokenization of the sampled prompts plus the
morphological analysis, reported as `seconds`.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from jlce.backend import Capability, UnsupportedRequest, supports
from jlce.errors import UserError
from jlce.hookspecs import hookimpl
from jlce.specs import ProfilerSpec
from jlce.textstats import SCRIPTS, script_runs

CountTokens = Callable[[Sequence[str]], list[int]]


@hookimpl
def jlce_register_profilers(register):
    register(ProfilerSpec("tokenizer_stats", "jlce.plugins.tokenizer_stats:TokenizerStatsProfiler",
                          description="characters per token (overall and by script) and tokens per morpheme of each task's prompts"))


def evenly_spaced(items: Sequence[str], limit: int) -> list[str]:
    """At most `limit` items spread evenly over `items`, in order."""
    if len(items) <= limit:
        return list(items)
    return [items[i * len(items) // limit] for i in range(limit)]


def morpheme_counter() -> tuple[Callable[[str], int], str] | None:
    """A function counting MeCab morphemes with fugashi, and the dictionary it uses ("unidic-lite",
    "unidic", or its file); None when fugashi or a dictionary is absent."""
    try:
        import fugashi

        tagger = fugashi.Tagger()
    except Exception:  # fugashi or its dictionary missing
        return None
    path = str(tagger.dictionary_info[0].get("filename", "")) if tagger.dictionary_info else ""
    dictionary = "unidic-lite" if "unidic_lite" in path else ("unidic" if "unidic" in path else path)
    return (lambda text: len(tagger(text))), dictionary


def _ratio(numerator: float, denominator: float) -> float | None:
    return numerator / denominator if denominator > 0 else None


def tokenizer_statistics(texts: Sequence[str], count_tokens: CountTokens,
                         count_morphemes: Callable[[str], int] | None = None) -> dict[str, Any]:
    """Characters per token overall and by script, and tokens per morpheme, of `texts`."""
    special = count_tokens([""])[0]
    counts = count_tokens(list(texts))
    tokens = sum(counts)
    content_tokens = tokens - special * len(texts)
    chars = sum(len(text) for text in texts)
    runs: Counter[tuple[str, str]] = Counter()
    for text in texts:
        runs.update((script, run) for script, run in script_runs(text) if script in SCRIPTS)
    unique = list(runs)
    run_tokens = count_tokens([run for _, run in unique]) if unique else []
    by_script: dict[str, dict[str, Any]] = {script: {"chars": 0, "tokens": 0, "runs": 0} for script in SCRIPTS}
    for (script, run), n_tokens in zip(unique, run_tokens):
        frequency = runs[(script, run)]
        entry = by_script[script]
        entry["chars"] += len(run) * frequency
        entry["tokens"] += (n_tokens - special) * frequency
        entry["runs"] += frequency
    for entry in by_script.values():
        entry["chars_per_token"] = _ratio(entry["chars"], entry["tokens"])
    result: dict[str, Any] = {
        "texts": len(texts), "chars": chars, "tokens": tokens, "special_tokens_per_text": special,
        "chars_per_token": _ratio(chars, content_tokens), "scripts": by_script,
    }
    if count_morphemes is not None:
        morphemes = sum(count_morphemes(text) for text in texts)
        result.update(morphemes=morphemes, tokens_per_morpheme=_ratio(content_tokens, morphemes))
    return result


class TokenizerStatsProfiler:
    """Options: `max_prompts` per task (default 200), `morphemes` (default true)."""

    def __init__(self, options: Mapping[str, Any] | None = None):
        options = dict(options or {})
        try:
            self.max_prompts = int(options.get("max_prompts", 200))
        except (TypeError, ValueError):
            self.max_prompts = 0
        if self.max_prompts < 1:
            raise UserError(f"tokenizer_stats profiler: max_prompts must be a positive integer, not {options.get('max_prompts')!r}")
        self.morphemes = str(options.get("morphemes", True)).lower() not in ("0", "false", "no", "off")
        self._result: dict[str, Any] | None = None

    def _measure(self, run: Any) -> dict[str, Any]:
        backend = run.backend
        if backend is None:
            return {"available": False, "reason": "no model was loaded"}
        if not run.prompts:
            return {"available": False, "reason": "the run recorded no prompts"}
        if not supports(backend, Capability.COUNT_TOKENS):
            name = getattr(backend, "name", type(backend).__name__)
            return {"available": False, "reason": f"backend '{name}' does not declare the count_tokens capability"}
        try:
            return self._measure_with(run, backend)
        except UnsupportedRequest as error:  # an ability that depends on the backend's settings
            return {"available": False, "reason": str(error)}

    def _measure_with(self, run: Any, backend: Any) -> dict[str, Any]:
        started = time.perf_counter()
        analyser = morpheme_counter() if self.morphemes else None
        count_morphemes = analyser[0] if analyser else None
        tasks = {}
        for task, prompts in sorted(run.prompts.items()):
            sample = evenly_spaced(prompts, self.max_prompts)
            if sample:
                tasks[task] = {"texts_total": len(prompts), **tokenizer_statistics(sample, backend.count_tokens, count_morphemes)}
        result = {"available": True, "max_prompts": self.max_prompts, "morphemes_by": f"fugashi+{analyser[1]}" if analyser else None,
                  "tasks": tasks, "seconds": time.perf_counter() - started}
        return result

    @hookimpl
    def jlce_model_loaded(self, run):
        if run.prompts:
            self._result = self._measure(run)

    @hookimpl
    def jlce_run_end(self, run):
        if self._result is None:
            self._result = self._measure(run)
        return {"profile": {"tokenizer_stats": self._result}}
