"""token_accuracy, chunk_f1, dependency_set_f1 and uas: hand-worked examples, then UD Japanese
GSD sentences scored through the text serializations against numbers computed on the CoNLL-U
columns directly."""

from __future__ import annotations

from pathlib import Path

import pytest

from jlce.errors import UserError
from jlce.metrics.structure import arcs, chunk_f1, dependency_set_f1, token_accuracy, uas
from jlce.samples import SampleView

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
GSD_DEV = DATA / "ud-japanese-gsd" / "ja_gsd-ud-dev.conllu"


def s(prediction: str, reference: str, doc_id: int = 0) -> SampleView:
    return SampleView(doc_id=doc_id, doc={}, prediction=prediction, references=(reference,))


def test_token_accuracy_hand_worked():
    # ref: NOUN ADP VERB AUX (4 tags); pred: NOUN ADP NOUN -> 2 of 4 right (missing 4th is wrong)
    # second item: pred has an extra tag, all 2 reference tags right -> 1.0
    result = token_accuracy([s("NOUN ADP NOUN", "NOUN ADP VERB AUX"), s("B-LOC\nO\nO", "B-LOC\nO")])
    assert result.per_item == [0.5, 1.0]
    assert result.value == 0.75
    assert token_accuracy([s("", "")]).value == 1.0
    assert token_accuracy([s("X", "")]).value == 0.0


def test_chunk_f1_hand_worked_spans():
    # item 1: gold 東京都|に|住む -> spans (0,3) (3,4) (4,6); pred 東京|都に|住む -> (0,2) (2,4) (4,6)
    #   TP 1 (住む at 4-6), pred 3, gold 3
    # item 2: gold トヨタ -> (0,3); pred nothing -> TP 0, pred 0, gold 1
    # micro F1 = 2*1 / (3 + 4) = 2/7; per item F1: 2*1/6 = 1/3 and 0.0
    samples = [s("東京\n都に\n住む\n", "東京都\nに\n住む"), s("", "トヨタ")]
    result = chunk_f1(samples)
    assert result.value == pytest.approx(2 / 7)
    assert result.per_item == pytest.approx([1 / 3, 0.0])
    assert (result.info["tp"], result.info["n_pred"], result.info["n_gold"]) == (1, 3, 4)
    # A custom delimiter; NFKC makes full-width letters ASCII on both sides: A|B|C vs Ａ|Ｂ|D.
    assert chunk_f1([s("A B C", "Ａ Ｂ D")], delimiter=" ").value == pytest.approx(2 / 3)
    with pytest.raises(UserError):
        chunk_f1(samples, delimiter="")


def test_chunk_f1_depends_on_order_and_offsets():
    gold = ["日本の", "首都は", "東京です", "。"]
    assert chunk_f1([s("\n".join(gold), "\n".join(gold))]).value == 1.0
    # The gold bunsetsu listed in another order: the same strings, but (almost) no span matches.
    shuffled = [gold[2], gold[0], gold[3], gold[1]]
    assert chunk_f1([s("\n".join(shuffled), "\n".join(gold))]).value == 0.0
    # The same chunk text at another position is not a match either.
    assert chunk_f1([s("首都は\n日本の", "日本の\n首都は")]).value == 0.0


def test_chunk_f1_equals_seqeval_on_character_bi_tags():
    seqeval = pytest.importorskip("seqeval.metrics")

    def tags(chunk_list: list[str]) -> list[str]:
        return [("B-C" if i == 0 else "I-C") for chunk in chunk_list for i, _ in enumerate(chunk)]

    golds = [["今日は", "よい", "天気です", "。"], ["猫が", "鳴いた"], ["私は", "本を", "読む"]]
    preds = [["今日は", "よい天気", "です", "。"], ["猫", "が", "鳴いた"], ["私は", "本を", "読む"]]
    samples = [s("\n".join(p), "\n".join(g), i) for i, (p, g) in enumerate(zip(preds, golds))]
    expected = seqeval.f1_score([tags(g) for g in golds], [tags(p) for p in preds], average="micro")
    assert chunk_f1(samples).value == pytest.approx(expected)
    assert 0 < expected < 1


def test_arcs_parsing():
    assert arcs("犬が -> 走る\n走る->ROOT\n\nnonsense\n") == [("犬が", "走る"), ("走る", "ROOT"), "nonsense"]


def test_dependency_set_f1_and_uas_hand_worked():
    gold = "私は -> 食べた\nりんごを -> 食べた\n赤い -> りんごを"
    # pred: 私は->食べた (right), りんごを->赤い (wrong head), 赤い->りんごを (right), one garbage line
    pred = "私は -> 食べた\nりんごを -> 赤い\n赤い->りんごを\nわかりません"
    # set F1: TP 2, pred 4 lines, gold 3 -> 2*2/(4+3) = 4/7; UAS: 2 of 3 gold dependents -> 2/3
    assert dependency_set_f1([s(pred, gold)]).value == pytest.approx(4 / 7)
    assert uas([s(pred, gold)]).value == pytest.approx(2 / 3)
    # A repeated dependent string is matched by occurrence order.
    gold_dup = "の -> A\nの -> B"
    assert uas([s("の -> A\nの -> C", gold_dup)]).value == 0.5
    assert uas([s("の -> B\nの -> A", gold_dup)]).value == 0.0


def _sentences(path: Path, limit: int) -> list[list[tuple[int, str, str, int, str]]]:
    """(id, form, upos, head, misc) per token for the first `limit` sentences."""
    sentences, current = [], []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            if current:
                sentences.append(current)
                current = []
                if len(sentences) == limit:
                    break
            continue
        if line.startswith("#"):
            continue
        cols = line.split("\t")
        if "-" in cols[0] or "." in cols[0]:
            continue
        current.append((int(cols[0]), cols[1], cols[3], int(cols[6]), cols[9]))
    return sentences


@pytest.mark.skipif(not GSD_DEV.exists(), reason="shared data absent")
def test_ud_gsd_attachment_and_tags_match_column_computation():
    sentences = _sentences(GSD_DEV, 25)
    dep_samples, tag_samples, expected_uas, expected_tags = [], [], [], []
    for i, sent in enumerate(sentences):
        forms = {tid: form for tid, form, _, _, _ in sent}
        forms[0] = "ROOT"
        gold_heads = [head for _, _, _, head, _ in sent]
        # Baseline parser: every token attaches to the next one, the last to the root.
        pred_heads = [tid + 1 if tid < len(sent) else 0 for tid, *_ in sent]
        line = lambda tid, h: f"{tid}:{forms[tid]} -> {h}:{forms[h]}"  # noqa: E731
        ref = "\n".join(line(tid, h) for (tid, *_), h in zip(sent, gold_heads))
        pred = "\n".join(line(tid, h) for (tid, *_), h in zip(sent, pred_heads))
        dep_samples.append(s(pred, ref, i))
        expected_uas.append(sum(g == p for g, p in zip(gold_heads, pred_heads)) / len(sent))
        # Baseline tagger: NOUN everywhere.
        gold_tags = [upos for _, _, upos, _, _ in sent]
        tag_samples.append(s(" ".join("NOUN" for _ in sent), " ".join(gold_tags), i))
        expected_tags.append(gold_tags.count("NOUN") / len(gold_tags))
    mean = lambda xs: sum(xs) / len(xs)  # noqa: E731
    assert uas(dep_samples).per_item == pytest.approx(expected_uas)
    assert uas(dep_samples).value == pytest.approx(mean(expected_uas))
    # One arc per token on both sides, unique lines: set F1 = TP / n = UAS.
    assert dependency_set_f1(dep_samples).per_item == pytest.approx(expected_uas)
    assert token_accuracy(tag_samples).value == pytest.approx(mean(expected_tags))
    assert 0 < mean(expected_uas) < 1 and 0 < mean(expected_tags) < 1


@pytest.mark.skipif(not GSD_DEV.exists(), reason="shared data absent")
def test_ud_gsd_bunsetsu_chunks_match_span_computation():
    sentences = _sentences(GSD_DEV, 25)
    samples, tp, n_gold, n_pred = [], 0, 0, 0

    def spans(labels: list[bool]) -> set[tuple[int, int]]:
        starts = [i for i, begin in enumerate(labels) if begin or i == 0]
        ends = starts[1:] + [len(labels)]
        return set(zip(starts, ends))

    for i, sent in enumerate(sentences):
        forms = [form for _, form, _, _, _ in sent]
        gold = spans(["BunsetuBILabel=B" in misc for *_, misc in sent])
        # Predicted chunking: long-unit words (LUW), which often but not always equal bunsetsu.
        pred = spans(["LUWBILabel=B" in misc for *_, misc in sent])
        text = lambda sp: "\n".join("".join(forms[a:b]) for a, b in sorted(sp))  # noqa: E731
        samples.append(s(text(pred), text(gold), i))
        tp, n_gold, n_pred = tp + len(gold & pred), n_gold + len(gold), n_pred + len(pred)
    expected = 2 * tp / (n_gold + n_pred)
    assert chunk_f1(samples).value == pytest.approx(expected)
    assert 0 < expected < 1
