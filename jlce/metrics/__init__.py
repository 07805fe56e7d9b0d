"""JLCE's built-in metrics, registered by name (the names task YAML files use).

Functions are registered as `"module:function"` strings: importing this package imports no
metric library (sacrebleu, fugashi, rouge-score, scipy load when a metric first runs).
See docs/metrics.md for what each metric computes.
"""

from __future__ import annotations

from collections.abc import Callable

from jlce.specs import MetricSpec

_M = "jlce.metrics"

# name, "module:function", corpus, description
BUILTIN_METRICS: tuple[tuple[str, str, bool, str], ...] = (
    ("acc", "classification:acc", False, "accuracy: choice == gold (multiple choice), greedy (loglikelihood), NFKC exact match (generation)"),
    ("acc_norm_char", "classification:acc_norm_char", False, "multiple-choice accuracy, logprob / characters of the choice"),
    ("acc_norm_bytes", "classification:acc_norm_bytes", False, "multiple-choice accuracy, logprob / UTF-8 bytes of the choice"),
    ("acc_norm_tokens", "classification:acc_norm_tokens", False, "multiple-choice accuracy, logprob / tokens of the choice"),
    ("exact_match", "text_overlap:exact_match", False, "NFKC+strip exact match against any reference"),
    ("char_f1", "text_overlap:char_f1", False, "bag-of-characters F1 (NFKC), best reference"),
    ("exact_match_jglue", "jglue_squad:exact_match_jglue", False, "JGLUE's official JSQuAD exact match (lower-case, trailing 。 removed, single spaces)"),
    ("char_f1_jglue", "jglue_squad:char_f1_jglue", False, "JGLUE's official JSQuAD character F1 (same normalization, spaces count)"),
    ("macro_f1", "classification:macro_f1", True, "macro-averaged F1 over label strings"),
    ("mcc", "classification:mcc", True, "Matthews correlation over label strings"),
    ("pearson", "correlation:pearson", True, "Pearson r of numeric answers"),
    ("spearman", "correlation:spearman", True, "Spearman rho of numeric answers"),
    ("token_accuracy", "structure:token_accuracy", False, "position-aligned tag accuracy per reference tag"),
    ("chunk_f1", "structure:chunk_f1", True, "micro span F1 of chunks: text and character offsets must match"),
    ("dependency_set_f1", "structure:dependency_set_f1", False, "set F1 of 'dependent -> head' lines"),
    ("uas", "structure:uas", False, "unlabeled attachment score of 'dependent -> head' lines"),
    ("bleu", "generation:bleu", True, "corpus BLEU (sacrebleu), Japanese segmented by fugashi+unidic-lite"),
    ("chrf", "generation:chrf", True, "corpus chrF (sacrebleu)"),
    ("rouge1", "generation:rouge1", False, "ROUGE-1 F on morphemes (rouge-score)"),
    ("rouge2", "generation:rouge2", False, "ROUGE-2 F on morphemes (rouge-score)"),
    ("rougeL", "generation:rougeL", False, "ROUGE-L F on morphemes (rouge-score)"),
    ("rouge2_lmeval", "generation:rouge2_lmeval", False, "ROUGE-2 F as lm-eval's ja_leaderboard_xlsum: emoji removed, neologdn, MeCab"),
    ("sari", "sari:sari", False, "SARI for simplification (needs arg source_field)"),
)


def register_metrics(register: Callable[[MetricSpec], None]) -> None:
    """Register every built-in metric."""
    for name, target, corpus, description in BUILTIN_METRICS:
        register(MetricSpec(name=name, fn=f"{_M}.{target}", corpus=corpus, description=description))
