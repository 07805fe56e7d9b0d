"""Script classification and tokenizer-efficiency statistics, with a real tokenizer and real Japanese text."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from jlce.events import RunContext
from jlce.plugins.tokenizer_stats import TokenizerStatsProfiler, evenly_spaced, morpheme_counter, tokenizer_statistics
from jlce.textstats import ALL_SCRIPTS, SCRIPTS, script_counts, script_of, script_runs

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
WMT_JA = DATA / "wmt23" / "generaltest2023.ja-en.src.ja"


@pytest.mark.parametrize(("char", "script"), [
    ("あ", "hiragana"), ("ゞ", "hiragana"), ("ア", "katakana"), ("ー", "katakana"), ("ｱ", "katakana"),
    ("日", "kanji"), ("々", "kanji"), ("𠮷", "kanji"), ("A", "latin"), ("ｚ", "latin"), ("é", "latin"),
    ("7", "digit"), ("７", "digit"), ("・", "other"), ("。", "other"), ("、", "other"), ("!", "other"),
    (" ", "space"), ("\u3000", "space"), ("한", "other"),
])
def test_script_of(char, script):
    assert script_of(char) == script


def test_script_counts_of_a_mixed_sentence():
    counts = script_counts("日本語のカタカナとABC123。")
    assert dict(counts) == {"kanji": 3, "hiragana": 2, "katakana": 4, "latin": 3, "digit": 3, "other": 1}


@given(st.text(max_size=60))
def test_runs_rebuild_the_text_and_alternate_scripts(text):
    runs = list(script_runs(text))
    assert "".join(run for _, run in runs) == text
    assert all(a != b for (a, _), (b, _) in zip(runs, runs[1:]))
    assert all(script in ALL_SCRIPTS and all(script_of(c) == script for c in run) for script, run in runs)


def test_evenly_spaced():
    items = [str(i) for i in range(10)]
    assert evenly_spaced(items, 20) == items
    assert evenly_spaced(items, 5) == ["0", "2", "4", "6", "8"]


@pytest.fixture(scope="module")
def japanese_texts() -> list[str]:
    if not WMT_JA.is_file():
        pytest.skip("shared/data (WMT23 ja) is not available")
    lines = [line for line in WMT_JA.read_text(encoding="utf-8").splitlines() if line.strip()]
    return lines[:40]


@pytest.fixture(scope="module")
def backend(tiny_model_dir):
    from jlce.backend import BackendConfig
    from jlce.backends.transformers.backend import TransformersBackend

    loaded = TransformersBackend(BackendConfig(model=str(tiny_model_dir), dtype="float32", device="cpu"))
    yield loaded
    loaded.close()


def test_token_counts_equal_the_tokenizers_own(japanese_texts, backend, tiny_model_dir):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(tiny_model_dir))

    def own_count(text: str) -> int:
        return len(tokenizer(text, add_special_tokens=False)["input_ids"])

    analyser = morpheme_counter()
    assert analyser is not None, "fugashi + unidic-lite are test dependencies"
    stats = tokenizer_statistics(japanese_texts, backend.count_tokens, analyser[0])

    assert stats["special_tokens_per_text"] == 0
    assert stats["tokens"] == sum(own_count(text) for text in japanese_texts)
    assert stats["chars"] == sum(len(text) for text in japanese_texts)
    assert stats["chars_per_token"] == pytest.approx(stats["chars"] / stats["tokens"])
    for script in SCRIPTS:
        runs = [run for text in japanese_texts for s, run in script_runs(text) if s == script]
        entry = stats["scripts"][script]
        assert entry["runs"] == len(runs)
        assert entry["chars"] == sum(len(run) for run in runs)
        assert entry["tokens"] == sum(own_count(run) for run in runs)
    assert stats["scripts"]["kanji"]["chars"] > 0 and stats["scripts"]["latin"]["chars"] > 0

    import fugashi

    tagger = fugashi.Tagger()
    morphemes = sum(len(tagger(text)) for text in japanese_texts)
    assert stats["morphemes"] == morphemes
    assert stats["tokens_per_morpheme"] == pytest.approx(stats["tokens"] / morphemes)


def test_special_tokens_added_to_every_text_are_left_out_of_the_ratios(japanese_texts, backend):
    def with_bos(texts):
        return [n + 1 for n in backend.count_tokens(texts)]

    plain = tokenizer_statistics(japanese_texts, backend.count_tokens)
    bos = tokenizer_statistics(japanese_texts, with_bos)
    assert bos["special_tokens_per_text"] == 1
    assert bos["tokens"] == plain["tokens"] + len(japanese_texts)
    assert bos["chars_per_token"] == plain["chars_per_token"]
    assert bos["scripts"] == plain["scripts"]


def test_profiler_reports_each_task(japanese_texts, backend):
    run = RunContext("tok", {}, None)
    run.backend = backend
    run.prompts = {"wmt": japanese_texts, "short": japanese_texts[:3]}
    profiler = TokenizerStatsProfiler({"max_prompts": 10})
    profiler.jlce_model_loaded(run)
    section = profiler.jlce_run_end(run)["profile"]["tokenizer_stats"]
    assert section["available"] is True and section["morphemes_by"] == "fugashi+unidic-lite"
    assert section["tasks"]["wmt"]["texts"] == 10 and section["tasks"]["wmt"]["texts_total"] == len(japanese_texts)
    sample = evenly_spaced(japanese_texts, 10)
    assert section["tasks"]["wmt"]["tokens"] == sum(backend.count_tokens(sample))
    assert section["tasks"]["short"]["texts"] == 3


def test_bad_max_prompts_is_a_user_error():
    from jlce.errors import UserError

    with pytest.raises(UserError, match="max_prompts"):
        TokenizerStatsProfiler({"max_prompts": 0})
