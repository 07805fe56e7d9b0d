"""Syntactic and generation tasks: definitions load, fixtures render Japanese prompts, the readers
and processors parse their formats (the KNP reader agrees with ku-nlp's rhoknp on the real
corpus), answers are scored through each task's own filters and metrics, and the real data in
../shared/data loads through the real path (data directory + checksum, offline) with the
published item counts."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest

from jlce.data import store
from jlce.data.knp import parse_knp, read_knp
from jlce.data.processors import flatten_references
from jlce.data.readers import read_jsonl_tagged, read_parallel_text
from jlce.data.squad import squad_qg
from jlce.data.ud_conllu import read_conllu
from jlce.errors import DataError
from jlce.requests import GenerateResult, LoglikelihoodResult
from jlce.scoring import score_task
from jlce.task import load_tasks

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
SYNTACTIC = ["jcola", "ud_pos", "dependency", "chunking"]
GENERATION = ["xlsum_ja", "jsquad_qg", "snow_simplification", "wmt23_enja"]
TASKS = SYNTACTIC + GENERATION + ["wmt23_jaen"]


def _task(name: str):
    (task,) = load_tasks(name)
    return task


def _generated(texts):
    return [[GenerateResult(text=text, n_tokens=len(text))] for text in texts]


def _japanese(text: str) -> bool:
    return any("\u3040" <= ch <= "\u30ff" or "\u4e00" <= ch <= "\u9fff" for ch in text)


# ---- definitions and fixtures ------------------------------------------------------------

# task: (strings in the first fixture prompt, the end of that prompt, first reference)
FIXTURE_EXPECTATIONS = {
    "jcola": (["文法的に容認できる", "文：太郎が花子に手紙を書いた。"], "判定：", "容認できる"),
    "ud_pos": (["UPOS", "単語列：駅前 に 新しい 図書館 が でき た 。"], "品詞タグ：", "NOUN ADP ADJ NOUN ADP VERB AUX PUNCT"),
    "dependency": (["係り受け", "テキスト：鶴見川は、町田市を源流とする川である。"], "係り受け：\n",
                   "鶴見川は、 -> 川である。\n町田市を -> 源流とする\n源流とする -> 川である。"),
    "chunking": (["文節", "テキスト：鶴見川は、町田市を源流とする川である。"], "文節：\n", "鶴見川は、\n町田市を\n源流とする\n川である。"),
    "xlsum_ja": (["要約", "記事：県内の農業高校と水産高校"], "要約：", "県内の高校生が地元の野菜と魚を使った弁当を開発し、週末から駅の売店で販売が始まる。"),
    "jsquad_qg": (["文章：鳴門海峡は", "答え：徳島県鳴門市と兵庫県南あわじ市"], "質問：", "鳴門海峡はどの県とどの県の間にある海峡か。"),
    "snow_simplification": (["やさしい日本語", "元の文：彼は会議の資料を前日までに準備しておいた。"], "やさしい文：",
                            "彼は会議で使う紙を前の日までに用意しておいた。"),
    "wmt23_enja": (["日本語に翻訳", "英語：The new library near the station"], "日本語：", "駅の近くの新しい図書館は午前9時に開館します。"),
    "wmt23_jaen": (["英語に翻訳", "日本語：この炊飯器は"], "英語：", "I like this rice cooker because it cooks fluffy rice."),
}


@pytest.mark.parametrize("name", TASKS)
def test_fixture_builds_a_japanese_prompt(name):
    task = _task(name)
    assert task.config.category == ("syntactic" if name in SYNTACTIC else "generation")
    task.build(limit=3, data="fixture")
    assert len(task.instances) == 3 and task.data_source == "fixture"
    words, ending, reference = FIXTURE_EXPECTATIONS[name]
    first = task.instances[0]
    assert _japanese(first.prompt)
    for word in words:
        assert word in first.prompt
    assert first.prompt.endswith(ending)
    assert first.references[0] == reference
    if task.config.output_type == "generate_until":
        filters = [f.name for f in task.config.filters]
        assert filters[0] == "strip_think" and filters[-1] in ("first_line", "until_blank_line")


def test_fewshot_examples_come_from_their_own_split():
    """Few-shot examples are drawn from the dev/train files, never from the evaluated items."""
    expected = {"jcola": ("train", 4), "ud_pos": ("dev", 3), "dependency": ("dev", 2), "chunking": ("dev", 3),
                "xlsum_ja": ("validation", 1), "jsquad_qg": ("validation", 3), "snow_simplification": ("validation", 4)}
    for name, (split, n) in expected.items():
        task = _task(name)
        assert task.config.fewshot.split == split != task.config.eval_split
        task.build(data="fixture")
        assert task.num_fewshot == n and len(task.fewshot_ids) == n
        delimiter = task.config.fewshot_delimiter
        first = task.instances[0].prompt
        assert first.count(delimiter) == n + (1 if task.config.instruction else 0)
        for inst in task.instances[1:]:  # no evaluated item is shown as an example
            assert inst.prompt.split(delimiter)[-1] not in first, name
    ud = _task("ud_pos")
    ud.build(limit=1, data="fixture")
    prompt = ud.instances[0].prompt
    assert prompt.count("単語列：") == 4 and prompt.count("品詞タグ：") == 4
    dev_sentences = ["猫 が 眠る 。", "東京 へ 行き ます 。", "空 が 青い 。", "彼 は 本 を 読ん だ 。", "3 人 が 集まっ た 。"]
    assert sum(s in prompt for s in dev_sentences) == 3
    for wmt in ("wmt23_enja", "wmt23_jaen"):  # no dev split is pinned: zero-shot
        task = _task(wmt)
        assert task.config.fewshot is None
        task.build(limit=1, data="fixture")
        assert task.num_fewshot == 0


def test_jcola_evaluates_both_domains_with_the_right_gold():
    task = _task("jcola")
    task.build(data="fixture", num_fewshot=0)
    rows = []
    for name in ("in_domain_valid-v1.0.json", "out_of_domain_valid-v1.0.json"):
        rows += [json.loads(line) for line in (REPO / "tasks/jcola/fixtures" / name).read_text("utf-8").splitlines()]
    assert [inst.doc["domain"] for inst in task.instances] == ["in_domain"] * 5 + ["out_of_domain"] * 4
    assert [inst.doc["uid"] for inst in task.instances] == [row["uid"] for row in rows]
    assert [inst.choices[inst.gold] for inst in task.instances] == [
        "容認できる" if row["label"] == 1 else "容認できない" for row in rows]


def test_groups_list_the_category_tasks():
    assert [t.name for t in load_tasks("jlce_syntactic")] == SYNTACTIC
    assert [t.name for t in load_tasks("jlce_generation")] == GENERATION
    assert [t.name for t in load_tasks("jlce_extra")] == ["wmt23_jaen"]
    everything = [t.name for t in load_tasks("jlce")]
    assert len(everything) == 16 == len(set(everything))
    assert everything[4:8] == SYNTACTIC and everything[12:] == GENERATION and "wmt23_jaen" not in everything


# ---- scoring through the tasks' filters and metrics ---------------------------------------------


def test_ud_pos_scores_position_aligned_tags():
    task = _task("ud_pos")
    task.build(limit=3, data="fixture", num_fewshot=0)
    golds = [inst.references[0].split() for inst in task.instances]
    second = list(golds[1])
    second[0], second[3] = "NOUN", "VERB"  # 2 of 7 wrong
    texts = ["<think>駅前は名詞</think>" + " ".join(golds[0]) + "\n単語列：次",
             " ".join(second),
             " ".join(golds[2][:4])]  # stops early: 4 of 8 right
    scores = score_task(task, _generated(texts))
    assert [row["metrics"]["token_accuracy"] for row in scores.samples] == pytest.approx([1.0, 5 / 7, 4 / 8])
    assert scores.samples[0]["response"]["filtered"] == " ".join(golds[0])


def test_dependency_and_chunking_score_their_lines():
    dep = _task("dependency")
    dep.build(limit=2, data="fixture", num_fewshot=0)
    gold0 = dep.instances[0].references[0].splitlines()
    # item 1: all gold lines, with spaces around the arrow varied, then a blank line and chatter
    answer0 = "\n".join(line.replace(" -> ", "->") for line in gold0) + "\n\nテキスト：次"
    # item 2: 6 gold arcs; predict 3 of them plus 1 wrong -> P 3/4, R 3/6, F1 = 2*3/(4+6) = 0.6
    gold1 = dep.instances[1].references[0].splitlines()
    assert len(gold1) == 6
    answer1 = "\n".join(gold1[:3] + ["蛇行した -> 湖である。"])
    scores = score_task(dep, _generated([answer0, answer1]))
    assert [row["metrics"]["dependency_set_f1"] for row in scores.samples] == pytest.approx([1.0, 0.6])

    chunk = _task("chunking")
    chunk.build(limit=2, data="fixture", num_fewshot=0)
    gold = [inst.references[0].splitlines() for inst in chunk.instances]
    assert [len(g) for g in gold] == [4, 7]
    merged = gold[1][:5] + [gold[1][5] + gold[1][6]]  # two chunks merged into one: 5 of 6 predicted right
    scores = score_task(chunk, _generated(["<think>区切る</think>" + "\n".join(gold[0]), "\n".join(merged)]))
    # micro F1 over all chunks: tp = 4 + 5, predicted = 4 + 6, gold = 4 + 7
    assert scores.metrics["chunk_f1"]["value"] == pytest.approx(2 * 9 / (10 + 11))


def test_jcola_accuracy_and_mcc_against_sklearn():
    from sklearn.metrics import matthews_corrcoef

    task = _task("jcola")
    task.build(data="fixture", num_fewshot=0)
    golds = [inst.gold for inst in task.instances]
    picks = [0, 0, 0, 1, 1, 0, 1, 0, 0]
    answers = [[LoglikelihoodResult(logprob=0.0 if i == pick else -3.0, is_greedy=i == pick, n_tokens=2) for i in range(2)]
               for pick in picks]
    scores = score_task(task, answers)
    assert scores.metrics["acc"]["value"] == pytest.approx(sum(p == g for p, g in zip(picks, golds)) / len(golds))
    assert scores.metrics["mcc"]["value"] == pytest.approx(matthews_corrcoef(golds, picks))


def test_generation_tasks_score_a_perfect_and_a_partial_answer():
    from rouge_score import rouge_scorer

    from jlce.metrics.japanese import morphemes

    class Morphemes:
        def tokenize(self, text):
            return morphemes(text)

    qg = _task("jsquad_qg")
    qg.build(limit=2, data="fixture", num_fewshot=0)
    partial = "鳴門海峡の渦の大きさは？"
    texts = ["<think>県を問う</think>" + qg.instances[0].references[0] + "\n文章：", partial]
    scores = score_task(qg, _generated(texts))
    reference = rouge_scorer.RougeScorer(["rougeL"], tokenizer=Morphemes()).score(qg.instances[1].references[0], partial)
    assert [row["metrics"]["rougeL"] for row in scores.samples] == pytest.approx([1.0, reference["rougeL"].fmeasure])
    assert scores.metrics["bleu"]["info"]["tokenizer"] == "ja-fugashi"

    snow = _task("snow_simplification")
    snow.build(limit=2, data="fixture", num_fewshot=0)
    source = snow.instances[1].doc["original"]
    scores = score_task(snow, _generated([snow.instances[0].references[0], source]))
    sari = [row["metrics"]["sari"] for row in scores.samples]
    assert sari[0] == pytest.approx(1.0) and sari[1] < 0.5  # copying the source is not simplifying

    xlsum = _task("xlsum_ja")
    xlsum.build(limit=1, data="fixture", num_fewshot=0)
    scores = score_task(xlsum, _generated([xlsum.instances[0].references[0] + "\n記事：次の記事"]))
    assert {name: scores.metrics[name]["value"] for name in ("rouge1", "rouge2", "rougeL")} == pytest.approx(
        {"rouge1": 1.0, "rouge2": 1.0, "rougeL": 1.0})


def test_translation_bleu_tokenizers_and_chrf():
    import sacrebleu

    from jlce.metrics.japanese import segment

    enja = _task("wmt23_enja")
    enja.build(data="fixture")
    hyps = ["駅の近くにある新しい図書館は朝9時に開きます。"] + [inst.references[0] for inst in enja.instances[1:]]
    scores = score_task(enja, _generated(hyps))
    refs = [inst.references[0] for inst in enja.instances]
    expected_bleu = sacrebleu.corpus_bleu([segment(h) for h in hyps], [[segment(r) for r in refs]], tokenize="none")
    assert scores.metrics["bleu"]["value"] == pytest.approx(expected_bleu.score / 100)
    assert scores.metrics["chrf"]["value"] == pytest.approx(sacrebleu.corpus_chrf(hyps, [refs]).score / 100)

    jaen = _task("wmt23_jaen")
    jaen.build(data="fixture")
    hyps = ["I love this rice cooker since it makes fluffy rice."] + [inst.references[0] for inst in jaen.instances[1:]]
    scores = score_task(jaen, _generated(hyps))
    refs = [inst.references[0] for inst in jaen.instances]
    assert scores.metrics["bleu"]["value"] == pytest.approx(sacrebleu.corpus_bleu(hyps, [refs], tokenize="13a").score / 100)
    assert scores.metrics["bleu"]["info"]["tokenizer"] == "13a"


# ---- readers and processors ----------------------------------------------------------------


KNP_EDGE = """# S-ID:w1-1 KNP:5.0
* 1D
+ 1D
# # # 特殊 1 記号 5 * 0 * 0 NIL
タグ たぐ タグ 名詞 6 普通名詞 1 * 0 * 0 NIL
* -1D
+ -1D
New\\␣York にゅーよーく New\\␣York 名詞 6 地名 4 * 0 * 0 NIL
@ ＮＹ にゅーよーく ＮＹ 名詞 6 地名 4 * 0 * 0 NIL
* * * 特殊 1 記号 5 * 0 * 0 NIL
EOS
# S-ID:w1-2 括弧始:（ 括弧終:） 括弧位置:2 KNP:5.0
* -1D
+ -1D
補足 ほそく 補足 名詞 6 サ変名詞 2 * 0 * 0 NIL
EOS
"""


def test_knp_parser_edge_cases(tmp_path):
    sentences = parse_knp(KNP_EDGE, "edge.knp")
    assert [s.sid for s in sentences] == ["w1-1", "w1-2"]
    assert [b.text for b in sentences[0].bunsetsu] == ["#タグ", "New York*"]  # "#", "*" and "\\␣" are morphemes
    assert sentences[1].parenthetical and not sentences[0].parenthetical
    path = tmp_path / "w1.knp"
    path.write_text(KNP_EDGE, "utf-8")
    (doc,) = read_knp([path])
    assert doc == {"doc_id": "w1", "text": "#タグNew York*", "dependencies": "#タグ -> New York*",
                   "chunks": "#タグ\nNew York*", "n_sentences": 1, "n_bunsetsu": 2, "n_arcs": 1}
    (kept,) = read_knp([path], skip_parenthetical=False)
    assert kept["chunks"].endswith("\n補足") and kept["n_arcs"] == 1
    assert read_knp([path], min_arcs=2) == []
    for broken, message in ((KNP_EDGE.replace("* 1D", "* 7D"), "points to 7"),
                            (KNP_EDGE.rsplit("EOS", 1)[0], "no EOS"),
                            ("# S-ID:x\nタグ たぐ タグ 名詞 6 普通名詞 1 * 0 * 0 NIL\nEOS\n", "before any bunsetsu")):
        with pytest.raises(DataError, match=message):
            parse_knp(broken, "broken.knp")


def test_knp_reader_agrees_with_rhoknp_on_the_real_corpus():
    """The same framing computed with ku-nlp's own parser (as llm-jp-eval does it)."""
    rhoknp = pytest.importorskip("rhoknp")
    folder = SHARED / "wikipedia-annotated-corpus"
    if not folder.is_dir():
        pytest.skip(f"real data not present at {folder}")
    paths = sorted(folder.rglob("*.knp"))[::6]  # 50 of the 300 documents: a fast, spread-out sample
    ours = {doc["doc_id"]: doc for doc in read_knp(paths)}
    for path in paths:
        document = rhoknp.Document.from_knp(path.read_text("utf-8"))
        text, arcs, chunks = "", [], []
        for sentence in document.sentences:
            if "括弧始" in sentence.misc_comment:
                continue
            text += sentence.text
            for phrase in sentence.phrases:
                chunks.append(phrase.text)
                if phrase.parent is not None:
                    arcs.append(f"{phrase.text} -> {phrase.parent.text}")
        doc = ours[path.stem]
        assert (doc["text"], doc["dependencies"], doc["chunks"]) == (text, "\n".join(arcs), "\n".join(chunks)), path.name


def test_conllu_reader_words_tags_and_bunsetsu(tmp_path):
    docs = read_conllu([REPO / "tasks/ud_pos/fixtures/ja_gsd-fixture-test.conllu"])
    assert len(docs) == 6
    first = docs[0]
    assert first["sent_id"] == "fixture-test-1" and first["text"] == "駅前に新しい図書館ができた。"
    assert first["words"] == ["駅前", "に", "新しい", "図書館", "が", "でき", "た", "。"]
    assert first["upos_text"] == "NOUN ADP ADJ NOUN ADP VERB AUX PUNCT"
    assert first["bunsetsu"] == ["駅前に", "新しい", "図書館が", "できた。"]
    assert docs[3]["bunsetsu"] == ["この", "橋は", "100年前に", "架けられた。"]
    bad = tmp_path / "bad.conllu"
    bad.write_text("# sent_id = x\n1\t猫\t猫\tNOUN\t_\t_\t0\troot\t_\tBunsetuBILabel=X\n\n", "utf-8")
    with pytest.raises(DataError, match="BunsetuBILabel 'X'"):
        read_conllu([bad])
    bad.write_text("1\t猫\n\n", "utf-8")
    with pytest.raises(DataError, match="missing CoNLL-U column"):
        read_conllu([bad])


def test_parallel_text_reader(tmp_path):
    src, ref = tmp_path / "a.en", tmp_path / "a.ja"
    src.write_text("Hello.\r\nGood night.\n", "utf-8")
    ref.write_text("こんにちは。\nおやすみなさい。\n", "utf-8")
    assert read_parallel_text([src, ref]) == [{"line": 1, "source": "Hello.", "reference": "こんにちは。"},
                                              {"line": 2, "source": "Good night.", "reference": "おやすみなさい。"}]
    ref.write_text("こんにちは。\n", "utf-8")
    with pytest.raises(DataError, match="not line-aligned"):
        read_parallel_text([src, ref])
    with pytest.raises(DataError, match="2 files for 3 fields"):
        read_parallel_text([src, ref], fields=["a", "b", "c"])


def test_jsonl_tagged_reader(tmp_path):
    inside = tmp_path / "in_domain_valid-v1.0.json"
    inside.write_text('{"uid": 1}\n\n{"uid": 2}\n', "utf-8")
    tags = {"out_of_domain": "out", "in_domain": "in"}
    assert read_jsonl_tagged([inside], field="domain", tags=tags) == [{"uid": 1, "domain": "in"}, {"uid": 2, "domain": "in"}]
    assert read_jsonl_tagged([inside])[0]["file"] == inside.name
    other = tmp_path / "extra.json"
    other.write_text('{"uid": 3}\n', "utf-8")
    with pytest.raises(DataError, match="matches none of"):
        read_jsonl_tagged([other], tags=tags)
    other.write_text("[1, 2]\n", "utf-8")
    with pytest.raises(DataError, match="JSON object per line"):
        read_jsonl_tagged([other])


def test_squad_qg_processor():
    articles = [{"title": "T", "paragraphs": [{"context": "T [SEP] 本文です。", "qas": [
        {"id": "q1", "question": "問1", "answers": [{"text": "本文", "answer_start": 8}, {"text": "本文です", "answer_start": 8}]},
        {"id": "q2", "question": "問2", "answers": [], "is_impossible": True}]}]}]
    assert squad_qg(articles) == [{"id": "q1", "title": "T", "context": "本文です。", "answer": "本文", "question": "問1"}]
    assert squad_qg(articles, answer_index=1)[0]["answer"] == "本文です"
    with pytest.raises(DataError, match="paragraphs"):
        squad_qg([{"version": 1}])


def test_flatten_references_accepts_the_shapes_datasets_returns():
    docs = [{"simple": {"simplifications": ["a", "b"]}}, {"simple": [{"simplifications": "c"}]}, {"simple": ["d"]}, {"simple": "e"}]
    assert [d["references"] for d in flatten_references(docs)] == [["a", "b"], ["c"], ["d"], ["e"]]
    with pytest.raises(DataError, match="no reference"):
        flatten_references([{"simple": {"simplifications": []}}])


# ---- real data from ../shared/data ---------------------------------------------------------

REAL = {  # task: (split evaluated, items, num_fewshot usable with the shared files)
    "jcola": ("validation", 865 + 685, None),  # in-domain valid + out-of-domain valid
    "ud_pos": ("test", 543, None),
    "dependency": ("test", 200, None),
    "chunking": ("test", 200, None),
    "jsquad_qg": ("test", 4420, None),
    "wmt23_enja": ("test", 2074, 0),
    "wmt23_jaen": ("test", 1992, 0),
}


@pytest.fixture(scope="module")
def shared_by_sha():
    if not SHARED.is_dir():
        pytest.skip(f"real data not present at {SHARED}")
    index = {}
    folders = ("jcola-v1.0", "ud-japanese-gsd", "wikipedia-annotated-corpus", "jglue-v1.3/jsquad", "wmt23")
    for folder in folders:
        for path in sorted((SHARED / folder).rglob("*")):
            if path.is_file():
                index[hashlib.sha256(path.read_bytes()).hexdigest()] = path
    return index


def _independent_count(name: str) -> int:
    """Item counts derived from the raw files without JLCE's readers."""
    if name == "jcola":
        return sum(len((SHARED / "jcola-v1.0" / f).read_text("utf-8").splitlines())
                   for f in ("in_domain_valid.json", "out_of_domain_valid.json"))
    if name == "ud_pos":
        return (SHARED / "ud-japanese-gsd/ja_gsd-ud-test.conllu").read_text("utf-8").count("# sent_id = ")
    if name in ("dependency", "chunking"):
        return len(list((SHARED / "wikipedia-annotated-corpus/test").glob("*.knp")))
    if name == "jsquad_qg":
        data = json.loads((SHARED / "jglue-v1.3/jsquad/test.json").read_text("utf-8"))["data"]
        return sum(len(p["qas"]) for article in data for p in article["paragraphs"])
    pair = {"wmt23_enja": "en-ja.src.en", "wmt23_jaen": "ja-en.src.ja"}[name]
    return len((SHARED / "wmt23" / f"generaltest2023.{pair}").read_text("utf-8").splitlines())


@pytest.mark.parametrize("name", sorted(REAL))
def test_real_data_counts_and_first_prompt(name, shared_by_sha, tmp_path, monkeypatch):
    monkeypatch.setenv("JLCE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("JLCE_OFFLINE", "1")
    task = _task(name)
    split, count, num_fewshot = REAL[name]
    assert _independent_count(name) == count
    needed = [split] + ([task.config.fewshot.split] if task.config.fewshot and num_fewshot is None else [])
    for wanted in needed:
        for source in task.config.dataset.files[wanted]:
            if source.sha256 not in shared_by_sha:
                pytest.skip(f"{source.name} is not in {SHARED}")
            store.add_local(shared_by_sha[source.sha256], source)
    task.build(num_fewshot=num_fewshot, data="auto")
    assert task.data_source == "cache"
    assert len(task.instances) == count
    first = task.instances[0]
    assert _japanese(first.prompt) and first.references and all(ref.strip() for ref in first.references)
    if first.choices:
        assert 0 <= first.gold < len(first.choices)
    if name == "jcola":
        domains = [inst.doc["domain"] for inst in task.instances]
        assert domains.count("in_domain") == 865 and domains.count("out_of_domain") == 685
    if name == "ud_pos":  # one tag per token line of the file
        conllu = (SHARED / "ud-japanese-gsd/ja_gsd-ud-test.conllu").read_text("utf-8")
        tokens = len(re.findall(r"^[0-9]+\t", conllu, flags=re.MULTILINE))
        assert sum(len(inst.references[0].split()) for inst in task.instances) == tokens
        assert all(len(inst.doc["words"]) == len(inst.references[0].split()) for inst in task.instances)
