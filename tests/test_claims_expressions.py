"""The claim-check language: what parses, what is refused (nothing is ever executed), evaluation."""

from __future__ import annotations

import numpy as np
import pytest

from jlce.claims.expressions import (
    Binary,
    Comparison,
    ExpressionError,
    Number,
    Quantity,
    evaluate,
    parse_check,
    quantities,
    to_text,
)
from jlce.claims.quantities import CATALOG, check_quantity


def test_the_issue_examples_parse_into_quantities_and_numbers():
    speed = parse_check("tokens_per_s(B) / tokens_per_s(A) >= 1.70")
    assert speed == Comparison((Binary("/", Quantity("tokens_per_s", "B"), Quantity("tokens_per_s", "A")), Number(1.7)), (">=",))
    acc = parse_check("acc(A, jcommonsenseqa) >= 0.85")
    assert quantities(acc) == [Quantity("acc", "A", ("jcommonsenseqa",))]
    kv = parse_check("kv_bytes_per_token(A) <= 0.13 * kv_bytes_per_token(B)")
    assert [q.label for q in quantities(kv)] == ["A", "B"] and kv.ops == ("<=",)


def test_chains_strings_and_math_functions():
    check = parse_check('0.05 <= kv_bytes_per_token(A) / kv_bytes_per_token(B) <= 0.13')
    assert check.ops == ("<=", "<=") and len(check.operands) == 3
    named = parse_check('score(A, "my-task") - score(B, "my-task") > -0.01')
    assert quantities(named)[0].args == ("my-task",)
    assert len(quantities(parse_check("max(latency_p99(A), latency_p99(B)) < 2 * abs(-latency_p50(A))"))) == 3


@pytest.mark.parametrize("text, fragment", [
    ("__import__('os').system('touch /tmp/jlce-pwned') >= 0", "calls are written"),
    ("tokens_per_s(A).real >= 1", "attribute access"),
    ("(lambda: 1)() >= 0", "calls are written"),
    ("tokens_per_s(A)[0] >= 1", "indexing"),
    ("tokens_per_s(A) ** 2 >= 1", "'**'"),
    ("tokens_per_s(A) == 1", "equality"),
    ("tokens_per_s(A) >= 1 and tokens_per_s(B) >= 1", "'and'/'or'"),
    ("tokens_per_s(A, kind=generate_until) >= 1", "keywords"),
    ("tokens_per_s(A) >= 'fast'", "only numbers"),
    ("tokens_per_s(A) >= True", "only numbers"),
    ("A >= 1", "on its own is not a number"),
    ("tokens_per_s(A)", "must compare"),
    ("3 >= 1", "measures nothing"),
    ("tokens_per_s(1) >= 1", "run label"),
    ("acc(A, 3) >= 1", "quantity arguments"),
    ("tokens_per_s(A) >= (1 < 2)", "appear once"),
    ("tokens_per_s(A) >=", "not a valid expression"),
    ("", "empty"),
])
def test_everything_outside_the_whitelist_is_refused_with_a_reason(text, fragment, tmp_path):
    with pytest.raises(ExpressionError) as info:
        parse_check(text)
    assert fragment in str(info.value)


def test_a_refused_check_runs_nothing(tmp_path):
    marker = tmp_path / "pwned"
    with pytest.raises(ExpressionError):
        parse_check(f"__import__('pathlib').Path({str(marker)!r}).touch() is None")
    assert not marker.exists()


def test_size_limits():
    with pytest.raises(ExpressionError, match="longer than"):
        parse_check("tokens_per_s(A) >= " + "+".join(["1"] * 600))
    with pytest.raises(ExpressionError, match="nested"):
        parse_check("tokens_per_s(A) >= " + "(" * 60 + "1" + ")" * 60 + " - " + "-" * 60 + "1")


def test_evaluation_on_numbers_and_on_draws():
    check = parse_check("tokens_per_s(B) / tokens_per_s(A) - 1 >= 0.3")
    values = {"A": 100.0, "B": 150.0}
    left = evaluate(check.operands[0], lambda q: values[q.label])
    assert left == pytest.approx(0.5)
    draws = {"A": np.array([100.0, 200.0]), "B": np.array([150.0, 150.0])}
    assert np.allclose(evaluate(check.operands[0], lambda q: draws[q.label]), [0.5, -0.25])
    m = parse_check("min(acc(A, t), acc(B, t), 0.4) >= abs(-0.1)")
    assert evaluate(m.operands[0], lambda q: {"A": 0.7, "B": 0.2}[q.label]) == 0.2


@pytest.mark.parametrize("text", [
    "a(A, t) - (b(B, t) - c(A, t)) >= 0",
    "a(A, t) / (b(B, t) * c(A, t)) >= 1",
    "(a(A, t) + b(B, t)) * 2 <= -c(A, t)",
    "0.05 <= kv_bytes_per_token(A) / kv_bytes_per_token(B) <= 0.13",
])
def test_canonical_text_parses_back_to_the_same_tree(text):
    tree = parse_check(text)
    assert parse_check(to_text(tree)) == tree


def test_quantity_signatures_are_checked():
    check_quantity("tokens_per_s", ())
    check_quantity("tokens_per_s", ("generate_until",))
    check_quantity("acc", ("jnli",))
    check_quantity("metric", ("jnli", "macro_f1"))
    with pytest.raises(ValueError, match="did you mean 'tokens_per_s'"):
        check_quantity("tokens_per_sec", ())
    with pytest.raises(ValueError, match="unknown request kind"):
        check_quantity("requests_per_s", ("generate",))
    with pytest.raises(ValueError, match="takes"):
        check_quantity("kv_bytes_per_token", ("x", "y"))
    assert {"tokens_per_s", "requests_per_s", "latency_p99", "peak_gpu_memory_bytes", "kv_bytes_per_token",
            "n_parameters", "energy_per_token", "ttft_p50"} <= set(CATALOG)
