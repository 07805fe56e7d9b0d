"""Generation metrics: BLEU and chrF (sacrebleu), ROUGE (rouge-score) on Japanese morphemes.

Scores are reported on a 0-1 scale (sacrebleu's 0-100 divided by 100) so that every JLCE
metric shares one scale. Japanese text is segmented with fugashi + unidic-lite
(`tokenize: ja-fugashi`) and then given to sacrebleu with `tokenize="none"`; the tokenizer is
recorded in `info` because BLEU is not comparable across tokenizers.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import Any

from jlce.errors import UserError
from jlce.metrics._util import choose, mean, references
from jlce.metrics.japanese import TOKENIZER_NAME, morphemes, segment, tokenizer_version
from jlce.samples import SampleView
from jlce.specs import MetricResult

# sacrebleu tokenizers that run offline (spm/flores download a model; *-mecab need sacrebleu[ja]/[ko]).
SACREBLEU_TOKENIZERS = ("13a", "intl", "char", "zh", "none", "ja-mecab", "ko-mecab")
BLEU_TOKENIZERS = (TOKENIZER_NAME, *SACREBLEU_TOKENIZERS)
CHRF_TOKENIZERS = ("none", TOKENIZER_NAME)
ROUGE_TOKENIZERS = (TOKENIZER_NAME, "whitespace", "char")


def _tokenizer_info(tokenize: str) -> dict:
    if tokenize == TOKENIZER_NAME:
        return {"tokenizer": TOKENIZER_NAME, "tokenizer_version": tokenizer_version()}
    return {"tokenizer": tokenize}


Options = tuple[tuple[str, Any], ...]


@lru_cache(maxsize=32)
def _sacrebleu(kind: str, options: Options) -> Any:
    """A sacrebleu BLEU or CHRF object, built once per configuration."""
    from sacrebleu.metrics import BLEU, CHRF

    try:
        return (BLEU if kind == "bleu" else CHRF)(**dict(options))
    except (RuntimeError, ImportError, ValueError, TypeError) as exc:
        raise UserError(f"metric '{kind}': sacrebleu could not set up {dict(options)}: {' '.join(str(exc).split())}") from exc


@lru_cache(maxsize=65536)
def _item_stats(kind: str, options: Options, hypothesis: str, refs: tuple[str, ...]) -> tuple[tuple[int, ...], float]:
    """One item's sufficient statistics (n-gram matches and lengths) and its sentence score.

    Corpus scores are computed from the summed statistics, exactly as sacrebleu's corpus_score
    does; caching them per item makes the bootstrap over items (which re-scores resampled sets)
    cost a sum instead of a re-tokenization. `_extract_corpus_statistics` and
    `_compute_score_from_stats` are the hooks sacrebleu's own significance tests use; the tests
    check the result against `sacrebleu.corpus_bleu` / `corpus_chrf` / `sentence_*`."""
    metric = _sacrebleu(kind, options)
    stats = metric._extract_corpus_statistics([hypothesis], [[ref] for ref in refs])[0]
    sentence = _sacrebleu(kind, options + (("effective_order", True),)) if kind == "bleu" else metric
    return tuple(stats), sentence._compute_score_from_stats(list(stats)).score / 100


def _corpus(kind: str, options: Options, samples: Sequence[SampleView], prepare: Callable[[str], str], info: dict) -> MetricResult:
    metric = _sacrebleu(kind, options)
    if not samples:
        return MetricResult(math.nan, [], {**info, "n": 0})
    items = [
        _item_stats(kind, options, prepare(s.prediction), tuple(prepare(r) for r in references(s, kind))) for s in samples
    ]
    summed = [sum(column) for column in zip(*(stats for stats, _ in items))]
    score = metric._compute_score_from_stats(summed)
    n_refs = {len(s.references) for s in samples}
    metric.num_refs = n_refs.pop() if len(n_refs) == 1 else -1  # what corpus_score would record
    info.update(sacrebleu_signature=str(metric.get_signature()), n=len(samples))
    if kind == "bleu":
        info.update(bleu_details=str(score), brevity_penalty=score.bp)
    return MetricResult(score.score / 100, [sentence for _, sentence in items], info)


def bleu(samples: Sequence[SampleView], tokenize: str = TOKENIZER_NAME) -> MetricResult:
    """Corpus BLEU (sacrebleu); per_item holds sentence BLEU with effective order."""
    choose("bleu", "tokenize", tokenize, BLEU_TOKENIZERS)
    info = {**_tokenizer_info(tokenize), "scale": "0-1 (sacrebleu score / 100)", "per_item": "sentence BLEU (effective order)"}
    if tokenize == TOKENIZER_NAME:
        info["segmentation"] = "fugashi + unidic-lite morphemes joined by spaces, then sacrebleu tok:none"
        # force: the input is tokenized on purpose (no "looks tokenized" warning).
        return _corpus("bleu", (("tokenize", "none"), ("force", True)), samples, segment, info)
    return _corpus("bleu", (("tokenize", tokenize),), samples, _same, info)


def chrf(
    samples: Sequence[SampleView], char_order: int = 6, word_order: int = 0, beta: int = 2, tokenize: str = "none"
) -> MetricResult:
    """Corpus chrF (sacrebleu; chrF++ with word_order=2); per_item holds sentence chrF.

    Character n-grams ignore whitespace, so no segmentation is needed for chrF itself; with
    word_order > 0, `tokenize: ja-fugashi` makes the word n-grams Japanese morphemes."""
    choose("chrf", "tokenize", tokenize, CHRF_TOKENIZERS)
    for name, value in (("char_order", char_order), ("word_order", word_order), ("beta", beta)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise UserError(f"metric 'chrf': {name} must be a non-negative integer, got {value!r}")
    info = {**_tokenizer_info(tokenize), "scale": "0-1 (sacrebleu score / 100)", "per_item": "sentence chrF"}
    prepare = _same
    if tokenize == TOKENIZER_NAME:
        info["segmentation"] = "fugashi + unidic-lite morphemes joined by spaces (word n-grams)"
        prepare = segment
    options = (("char_order", char_order), ("word_order", word_order), ("beta", beta))
    return _corpus("chrf", options, samples, prepare, info)


def _same(text: str) -> str:
    return text


class _Tokenizer:
    """A rouge-score tokenizer object (its default tokenizer keeps only [a-z0-9] and so drops
    every Japanese character)."""

    def __init__(self, name: str):
        self.name = name

    def tokenize(self, text: str) -> list[str]:
        if self.name == TOKENIZER_NAME:
            return morphemes(text)
        if self.name == "char":
            return [ch for ch in text if not ch.isspace()]
        return text.split()


@lru_cache(maxsize=16)
def _rouge_scorer(rouge_type: str, tokenize: str):
    from rouge_score import rouge_scorer

    return rouge_scorer.RougeScorer([rouge_type], use_stemmer=False, tokenizer=_Tokenizer(tokenize))


def _rouge(samples: Sequence[SampleView], rouge_type: str, tokenize: str) -> MetricResult:
    choose(rouge_type, "tokenize", tokenize, ROUGE_TOKENIZERS)
    scorer = _rouge_scorer(rouge_type, tokenize)
    scores = []
    for s in samples:
        refs = list(references(s, rouge_type))
        scores.append(float(scorer.score_multi(refs, s.prediction)[rouge_type].fmeasure))
    info = {**_tokenizer_info(tokenize), "score": "F-measure, best reference, mean over items", "n": len(scores)}
    return MetricResult(mean(scores), scores, info)


def rouge1(samples: Sequence[SampleView], tokenize: str = TOKENIZER_NAME) -> MetricResult:
    """Mean ROUGE-1 F-measure (unigram overlap) on morphemes."""
    return _rouge(samples, "rouge1", tokenize)


def rouge2(samples: Sequence[SampleView], tokenize: str = TOKENIZER_NAME) -> MetricResult:
    """Mean ROUGE-2 F-measure (bigram overlap) on morphemes."""
    return _rouge(samples, "rouge2", tokenize)


def rougeL(samples: Sequence[SampleView], tokenize: str = TOKENIZER_NAME) -> MetricResult:  # noqa: N802
    """Mean ROUGE-L F-measure (longest common subsequence) on morphemes."""
    return _rouge(samples, "rougeL", tokenize)


class _LmevalJapaneseTokenizer:
    """lm-evaluation-harness's ja_leaderboard_xlsum tokenizer (its `MecabTokenizer`), re-implemented:
    emoji removed (the `emoji` package's list and five code-point ranges), `neologdn.normalize`,
    whitespace collapsed, then MeCab surfaces (fugashi + unidic-lite, as lm-eval gets with
    unidic-lite installed)."""

    _EMOJI_RANGES = re.compile("[\U0001f600-\U0001f64f\U0001f300-\U0001f5ff\U0001f680-\U0001f6ff"
                               "\U0001f1e0-\U0001f1ff\U00002702-\U000027b0]+")

    def __init__(self) -> None:
        try:
            import emoji
            import neologdn
        except ImportError as exc:  # pragma: no cover - depends on the installation
            raise UserError(f"metric 'rouge2_lmeval' needs neologdn and emoji: pip install 'jlce[ja]' ({exc})") from exc
        self._is_emoji, self._neologdn = emoji.is_emoji, neologdn.normalize

    def normalize(self, text: str) -> str:
        text = "".join(ch for ch in text if not self._is_emoji(ch))
        text = self._EMOJI_RANGES.sub("", text)
        return " ".join(self._neologdn(text).split())

    def tokenize(self, text: str) -> list[str]:
        return morphemes(self.normalize(text))


@lru_cache(maxsize=1)
def _lmeval_rouge2_scorer():
    from rouge_score import rouge_scorer

    return rouge_scorer.RougeScorer(["rouge2"], tokenizer=_LmevalJapaneseTokenizer())


def rouge2_lmeval(samples: Sequence[SampleView]) -> MetricResult:
    """ROUGE-2 F-measure as lm-evaluation-harness's `ja_leaderboard_xlsum` computes it (its
    normalization and tokenizer, against the first reference), mean over items. lm-eval reports
    the middle of rouge-score's bootstrap (1,000 resamples of the item scores), which equals
    this mean up to resampling noise."""
    scorer = _lmeval_rouge2_scorer()
    scores = [float(scorer.score(references(s, "rouge2_lmeval")[0], s.prediction)["rouge2"].fmeasure) for s in samples]
    info = {"definition": "lm-evaluation-harness ja_leaderboard_xlsum rouge2 (emoji removed, neologdn, whitespace "
                          "collapsed, MeCab surfaces)", "tokenizer": TOKENIZER_NAME, "tokenizer_version": tokenizer_version(),
            "score": "F-measure against references[0], mean over items", "n": len(scores)}
    return MetricResult(mean(scores), scores, info)

