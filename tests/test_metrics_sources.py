"""Metrics as their sources define them: JSQuAD's JGLUE scorer and lm-eval's Japanese ROUGE-2,
by hand-worked examples and against reference implementations (transformers' SQuAD scorer with
JGLUE's patch applied; lm-evaluation-harness's own ja_leaderboard_xlsum module)."""

from __future__ import annotations

import importlib.util
import random
from pathlib import Path

import pytest

from jlce.metrics.generation import rouge2_lmeval
from jlce.metrics.jglue_squad import char_f1_jglue, exact_match_jglue, normalize
from jlce.metrics.text_overlap import char_f1, exact_match
from jlce.samples import SampleView


def s(prediction: str, *refs: str, doc_id: int = 0) -> SampleView:
    return SampleView(doc_id=doc_id, doc={}, prediction=prediction, references=refs)


def test_jglue_normalization_hand_worked():
    assert normalize("東京。") == "東京"
    assert normalize("東京。。") == "東京"  # every trailing 。
    assert normalize("ABC  社\u3000本社") == "abc 社 本社"  # lower-case; U+3000 is whitespace
    assert normalize("東京。 ") == "東京。"  # 。 is removed before the whitespace is stripped (JGLUE's order)
    assert normalize("ＡＢＣ") == "ａｂｃ"  # no NFKC: full-width letters stay full-width


def test_jsquad_answer_plus_maru_scores_one_with_jglue_and_zero_with_the_nfkc_variant():
    item = [s("東京。", "東京")]
    assert exact_match_jglue(item).value == 1.0 and char_f1_jglue(item).value == 1.0
    assert exact_match(item).value == 0.0  # JLCE's variant keeps the 。


def test_jglue_f1_hand_worked():
    # pred "東京都 新宿" (6 characters with the space), gold "東京都新宿区" (6): common 5
    # P = R = 5/6 -> F1 = 5/6. JLCE's char_f1 drops the space: P = 5/5, R = 5/6 -> 10/11.
    item = [s("東京都 新宿", "東京都新宿区")]
    assert char_f1_jglue(item).value == pytest.approx(5 / 6)
    assert char_f1(item).value == pytest.approx(10 / 11)
    # best gold counts; a gold that normalizes to "" is dropped
    assert exact_match_jglue([s("大阪", "。", "大阪府", "大阪")]).value == 1.0
    # only empty golds: the gold is "" (an empty prediction matches, anything else does not)
    assert exact_match_jglue([s("", "。")]).value == 1.0 and char_f1_jglue([s("x", "。")]).value == 0.0


def test_jglue_scorer_equals_transformers_squad_scorer_with_jglue_s_patch(monkeypatch):
    squad = pytest.importorskip("transformers.data.metrics.squad_metrics")

    # JGLUE's patch (fine-tuning/patch/transformers-4.9.2_jglue-1.1.0.patch) changes three inner
    # steps of normalize_answer and makes compute_f1 compare characters; the rest of the scorer
    # (compute_exact, compute_f1's arithmetic and empty cases) is transformers' own code.
    def patched_normalize(text: str) -> str:
        lowered = text.lower()
        no_punc = lowered  # "do nothing"
        no_articles = no_punc.rstrip("。")
        return " ".join(no_articles.split())

    monkeypatch.setattr(squad, "normalize_answer", patched_normalize)
    monkeypatch.setattr(squad, "get_tokens", lambda text: list(patched_normalize(text)))
    rng = random.Random(0)
    alphabet = list("東京都大阪府の駅。 　AbcＡ、")
    for _ in range(400):
        gold = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 6)))
        pred = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 6)))
        if not normalize(gold):  # the scorer drops such golds before comparing (tested above)
            continue
        assert exact_match_jglue([s(pred, gold)]).value == squad.compute_exact(gold, pred), (pred, gold)
        assert char_f1_jglue([s(pred, gold)]).value == pytest.approx(squad.compute_f1(gold, pred)), (pred, gold)


def _lmeval_xlsum():
    pytest.importorskip("lm_eval")
    pytest.importorskip("neologdn")
    pytest.importorskip("emoji")
    spec = importlib.util.find_spec("lm_eval")
    path = Path(spec.origin).parent / "tasks" / "japanese_leaderboard" / "ja_leaderboard_xlsum.py"
    module_spec = importlib.util.spec_from_file_location("lmeval_ja_xlsum", path)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module


SUMMARIES = [
    ("政府は来年度の予算案を閣議決定した。", "政府が来年度予算案を閣議で決定した。"),
    ("ＢＢＣによると、東京で大雨が降った😀", "BBCによると東京で大雨が降った。"),
    ("サッカー日本代表が  ドイツに勝利した", "日本代表がドイツに２対１で勝った"),
    ("", "何かの要約"),
    ("ｶﾀｶﾅの見出しーーー", "カタカナの見出し―"),
]


def test_rouge2_lmeval_equals_lm_evaluation_harness_per_item():
    module = _lmeval_xlsum()
    from rouge_score import rouge_scorer

    scorer = rouge_scorer.RougeScorer(rouge_types=["rouge2"], tokenizer=module.MecabTokenizer())
    expected = [scorer.score(ref, pred)["rouge2"].fmeasure for pred, ref in SUMMARIES]
    result = rouge2_lmeval([s(pred, ref, doc_id=i) for i, (pred, ref) in enumerate(SUMMARIES)])
    assert result.per_item == pytest.approx(expected)
    assert result.value == pytest.approx(sum(expected) / len(expected))
    assert 0 < result.value < 1


def test_rouge2_lmeval_hand_worked():
    pytest.importorskip("neologdn")
    # neologdn turns the half-width ＢＢＣ/full-width forms alike; the emoji is dropped:
    # both sides become the same morphemes -> ROUGE-2 = 1.
    assert rouge2_lmeval([s("ＢＢＣ東京😀", "BBC東京")]).value == pytest.approx(1.0)
    # "政府 は 予算 を 決め た" vs "政府 は 予算 案 を 決め た": bigrams 5 vs 6, common 4
    # (政府-は, は-予算, を-決め, 決め-た) -> P 4/5, R 4/6 -> F = 8/11
    assert rouge2_lmeval([s("政府は予算を決めた", "政府は予算案を決めた")]).value == pytest.approx(8 / 11)


SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.mark.skipif(not (SHARED / "jglue-v1.3" / "jsquad" / "valid.json").is_file(), reason="../shared/data is absent")
def test_jsquad_real_validation_gold_plus_maru_scores_one_with_jglue():
    from jlce.data.squad import read_squad_flat

    docs = read_squad_flat([SHARED / "jglue-v1.3" / "jsquad" / "valid.json"], title_separator=" [SEP] ")
    assert len(docs) == 4442
    samples = [s(doc["answers"][0] + "。", *doc["answers"], doc_id=i) for i, doc in enumerate(docs)]
    assert exact_match_jglue(samples).value == 1.0 and char_f1_jglue(samples).value == 1.0
    # the NFKC variant counts the 。 against the answer (the gap the headline closes)
    assert exact_match(samples).value < 0.01
