"""Registration of the built-in metrics and filters, lazy imports, and the docs page."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from jlce.errors import PluginError
from jlce.filters import register_filters
from jlce.metrics import register_metrics
from jlce.registry import Registry, _registrar
from jlce.samples import SampleView
from jlce.specs import FilterSpec, MetricResult, MetricSpec, resolve

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs" / "metrics.md"

METRICS = {
    "acc", "acc_norm_char", "acc_norm_bytes", "acc_norm_tokens", "exact_match", "char_f1", "macro_f1", "mcc",
    "pearson", "spearman", "token_accuracy", "chunk_f1", "dependency_set_f1", "uas", "bleu", "chrf",
    "rouge1", "rouge2", "rougeL", "sari", "exact_match_jglue", "char_f1_jglue", "rouge2_lmeval",
}
CORPUS = {"macro_f1", "mcc", "pearson", "spearman", "chunk_f1", "bleu", "chrf"}
FILTERS = {"strip_think", "nfkc", "strip", "first_line", "until_blank_line", "regex", "last_number", "label_words"}


def _collect(register_fn) -> list:
    specs: list = []
    register_fn(specs.append)
    return specs


def test_every_metric_registered_once_and_resolves():
    specs = _collect(register_metrics)
    assert all(isinstance(s, MetricSpec) for s in specs)
    names = [s.name for s in specs]
    assert sorted(names) == sorted(METRICS)
    assert {s.name for s in specs if s.corpus} == CORPUS
    assert all(s.higher_is_better for s in specs)
    for spec in specs:
        assert isinstance(spec.fn, str)  # lazy: listing imports no metric library
        assert callable(resolve(spec.fn)), spec.name
        assert spec.description


def test_every_filter_registered_once_and_callable():
    specs = _collect(register_filters)
    assert all(isinstance(s, FilterSpec) for s in specs)
    assert sorted(s.name for s in specs) == sorted(FILTERS)
    assert all(callable(resolve(s.fn)) and s.description for s in specs)


def test_registry_accepts_them_and_rejects_a_second_registration():
    registry = Registry()
    register = _registrar(registry, "jlce_register_metrics", "core")
    register_metrics(register)
    assert set(registry.metrics) == METRICS
    assert all(spec.plugin == "core" for spec in registry.metrics.values())
    with pytest.raises(PluginError, match="registered twice"):
        register_metrics(_registrar(registry, "jlce_register_metrics", "other"))


def test_importing_metrics_and_filters_loads_no_heavy_library():
    code = (
        "import sys, jlce.metrics, jlce.filters\n"
        "heavy = [m for m in ('sacrebleu', 'fugashi', 'rouge_score', 'nltk', 'scipy', 'sklearn', 'torch') if m in sys.modules]\n"
        "print(','.join(heavy))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == ""


def test_docs_table_lists_every_metric_and_filter():
    text = DOCS.read_text(encoding="utf-8")
    rows = set(re.findall(r"^\| `([A-Za-z0-9_]+)` \|", text, flags=re.MULTILINE))
    assert METRICS <= rows
    assert FILTERS <= rows


def test_docs_example_runs():
    """The python blocks of docs/metrics.md run as written (their asserts included)."""
    blocks = re.findall(r"```python\n(.*?)```", DOCS.read_text(encoding="utf-8"), flags=re.DOTALL)
    assert blocks
    for block in blocks:
        namespace: dict = {}
        exec(compile(block, str(DOCS), "exec"), namespace)  # noqa: S102 - our own documentation
        results = [v for v in namespace.values() if isinstance(v, MetricResult)]
        assert results, "the example should compute at least one metric"


def test_samples_are_what_metrics_read():
    # A metric resolved through its registered name computes on SampleView objects.
    spec = {s.name: s for s in _collect(register_metrics)}["exact_match"]
    result = resolve(spec.fn)([SampleView(doc_id=0, doc={}, prediction="ＡＢＣ ", references=("ABC",))])
    assert result.value == 1.0 and result.per_item == [1.0]
