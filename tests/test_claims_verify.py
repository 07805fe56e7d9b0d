"""`jlce verify` on real runs of two tiny models (tests/claims_runs.py): every status, from real
measurements, with the expected numbers derived independently (model configs, weight files,
samples files, scipy's Beta distribution).

Hand-written variants of a real run (copied, then a few numbers edited) appear only where a status
needs controlled numbers: repeated runs with known speeds (the bootstrap over runs), and runs that
claim different hardware and software (the provenance flags).
"""

from __future__ import annotations

import json
import shutil
import textwrap
from pathlib import Path

import numpy as np
import pytest
from claims_runs import analysis, make_runs

from jlce.claims.verify import (
    INCONCLUSIVE,
    REFUTED,
    UNMEASURED,
    VERIFIED,
    verify_claims,
)
from jlce.errors import UserError


@pytest.fixture(scope="module")
def runs(tmp_path_factory, tiny_model_dir):
    return make_runs(tmp_path_factory.getbasetemp() / "claims-runs", tiny_model_dir)


def _kv_bytes(model: Path) -> int:
    """2 x layers x kv_heads x head_dim x 4 bytes (fp32), from the model's config.json."""
    c = json.loads((model / "config.json").read_text())
    head_dim = c.get("head_dim") or c["hidden_size"] // c["num_attention_heads"]
    return 2 * c["num_hidden_layers"] * c["num_key_value_heads"] * head_dim * 4


def _n_parameters(model: Path) -> int:
    from safetensors import safe_open

    with safe_open(str(model / "model.safetensors"), framework="numpy") as f:
        return sum(int(np.prod(f.get_slice(k).get_shape())) for k in f.keys())  # noqa: SIM118 (safe_open is not a dict)


def _acc(run: Path, task: str) -> tuple[int, int]:
    rows = [json.loads(line) for line in (run / "samples" / f"{task}.jsonl").read_text(encoding="utf-8").splitlines()]
    return int(sum(r["metrics"]["acc"] for r in rows)), len(rows)


def _requests_per_s(run: Path) -> float:
    t = json.loads((run / "results.json").read_text())["profile"]["timing"]["throughput"]["all"]
    return t["requests"] / t["batch_seconds"]


def _claims(tmp_path: Path, claims: dict[str, str], runs_block: str = "") -> Path:
    body = runs_block or 'runs:\n  A: {path: "run-a*"}\n  B: {path: "run-b*"}\n  C: {model: "no-such-model"}\n'
    body += "claims:\n" + "".join(f"  - id: {cid}\n    statement: claim {cid}\n    check: \"{check}\"\n"
                                  for cid, check in claims.items())
    path = tmp_path / "CLAIMS.yaml"
    path.write_text(body, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def verdicts(runs, tiny_model_dir, tmp_path_factory):
    """Every claim below verified in one call against the three real runs."""
    k, n = _acc(runs.runs_a[0], "jcommonsenseqa")
    from scipy.stats import beta

    hi = float(beta(k + 1, n - k + 1).ppf(0.975))
    ratio = _kv_bytes(runs.model_b) / _kv_bytes(runs.model_a)
    # Speed bounds far from A's measured rates, so machine load cannot move the verdicts: the two
    # runs' rates can differ a lot on a busy machine, and a t interval with 1 df is wide.
    logs = np.log([_requests_per_s(r) for r in runs.runs_a])
    spread = float(np.exp(15 * (abs(logs[0] - logs[1]) + 0.1)))  # > t(0.975, 1 df) = 12.7 half-widths
    slow, fast = float(np.exp(logs.mean())) / spread, float(np.exp(logs.mean())) * spread
    claims = {
        "kv-ratio": f"kv_bytes_per_token(B) >= {ratio!r} * kv_bytes_per_token(A)",
        "kv-mla": "kv_bytes_per_token(B) <= 0.13 * kv_bytes_per_token(A)",
        "params": "n_parameters(B) > n_parameters(A)",
        "vocab": "chars_per_token(A, jcommonsenseqa) > chars_per_token(B, jcommonsenseqa)",
        "acc-below": f"acc(A, jcommonsenseqa) <= {hi + 0.03!r}",
        "acc-above": f"acc(A, jcommonsenseqa) >= {hi + 0.03!r}",
        "acc-middle": f"acc(A, jcommonsenseqa) >= {(k + 1) / (n + 2)!r}",
        "paired": "acc(B, jnli) - acc(A, jnli) >= -1",
        "primary": "score(A, jcommonsenseqa) - metric(A, jcommonsenseqa, acc) >= 0",
        "speed-some": f"requests_per_s(A) >= {slow!r}",
        "speed-absurd": f"requests_per_s(A) >= {fast!r}",
        "speed-one-run": "requests_per_s(B) / requests_per_s(A) >= 0.001",
        "macro-f1": "macro_f1(A, jnli) >= -10",
        "zero": "acc(A, jnli) / (acc(A, jnli) - acc(A, jnli)) >= 1",
        "no-task": "acc(A, jsquad) >= 0.5",
        "no-ttft": "ttft_p50(A) < 10",
        "no-run": "n_parameters(C) > 0",
        "energy": "energy_per_token(A) < 1e9",
    }
    root = runs.runs_a[0].parent
    path = _claims(tmp_path_factory.mktemp("claims"), claims)
    result = verify_claims(path, [str(p) for p in (*runs.runs_a, *runs.runs_b)], seed=0, draws=4000)
    assert str(root)  # the runs share a folder; the selectors match by directory name
    return {r.id: r for r in result.results}, result, {"k": k, "n": n, "hi": hi, "ratio": ratio}


def test_exact_model_quantities_verify_and_refute(verdicts, runs):
    by_id, _, derived = verdicts
    kv = by_id["kv-ratio"]
    assert kv.status == VERIFIED and derived["ratio"] == 4
    assert kv.estimate.point == _kv_bytes(runs.model_b)
    assert by_id["kv-mla"].status == REFUTED
    params = by_id["params"]
    assert params.status == VERIFIED
    assert [t.point for t in params.quantities] == [_n_parameters(runs.model_b), _n_parameters(runs.model_a)]
    assert by_id["vocab"].status == VERIFIED  # 1,800 tokens of vocabulary cover more characters than 400


def test_accuracy_uses_the_bayesian_posterior(verdicts):
    by_id, _, derived = verdicts
    assert by_id["acc-below"].status == VERIFIED
    assert by_id["acc-above"].status == REFUTED
    middle = by_id["acc-middle"]
    assert middle.status == INCONCLUSIVE
    assert middle.estimate.point == derived["k"] / derived["n"]
    assert middle.estimate.hi == pytest.approx(derived["hi"], abs=0.02)  # Beta(k+1, n-k+1) 97.5% quantile
    assert middle.probability is not None and 0.2 < middle.probability < 0.8
    assert "Bayesian bootstrap over items" in middle.quantities[0].method


def test_single_run_posterior_matches_the_beta_distribution(runs):
    from scipy.stats import beta

    from jlce.claims.quantities import load_run_record
    from jlce.claims.uncertainty import metric_estimates

    k, n = _acc(runs.runs_a[0], "jcommonsenseqa")
    est = metric_estimates("jcommonsenseqa", {("A", "acc"): load_run_record(runs.runs_a[0])}, 20000, 0)[("A", "acc")]
    posterior = beta(k + 1, n - k + 1)
    assert est.draws.mean() == pytest.approx(posterior.mean(), abs=0.005)
    for q in (0.05, 0.5, 0.95):
        assert np.quantile(est.draws, q) == pytest.approx(posterior.ppf(q), abs=0.01)


def test_paired_differences_share_item_weights(verdicts, runs):
    by_id, _, _ = verdicts
    paired = by_id["paired"]
    assert paired.status == VERIFIED
    assert "shared by acc(B), acc(A)" in paired.quantities[0].method or "shared by acc(A), acc(B)" in paired.quantities[0].method
    kb, n = _acc(runs.runs_b[0], "jnli")
    ka, _ = _acc(runs.runs_a[0], "jnli")
    assert paired.estimate.point == pytest.approx((kb - ka) / n)


def test_primary_metric_and_metric_by_name_are_the_same_paired_quantity(verdicts):
    by_id, _, _ = verdicts
    primary = by_id["primary"]
    assert primary.status == VERIFIED  # identical rows get identical draws: the difference is exactly 0
    assert (primary.estimate.point, primary.estimate.lo, primary.estimate.hi) == (0.0, 0.0, 0.0)


def test_speed_needs_repeated_runs_for_an_interval(verdicts, runs):
    by_id, _, _ = verdicts
    some = by_id["speed-some"]
    assert some.status == VERIFIED
    per_run = [_requests_per_s(r) for r in runs.runs_a]
    (term,) = some.quantities
    assert term.point == pytest.approx(np.exp(np.mean(np.log(per_run))))  # geometric mean
    assert term.lo <= min(per_run) <= max(per_run) <= term.hi  # t with 1 df: wide, as two runs warrant
    assert "geometric mean of 2 runs, Student-t on the log scale" in term.method
    assert by_id["speed-absurd"].status == REFUTED
    one = by_id["speed-one-run"]
    assert one.status == INCONCLUSIVE  # the point estimate holds, but B ran once
    assert any("no interval" in reason for reason in one.reasons)


def test_corpus_metrics_are_not_averaged_over_items(verdicts, runs):
    by_id, _, _ = verdicts
    f1 = by_id["macro-f1"]
    reported = json.loads((runs.runs_a[0] / "results.json").read_text())["tasks"]["jnli"]["metrics"]["macro_f1"]
    assert f1.status == VERIFIED and f1.estimate.point == reported["value"]
    assert "normal approximation" in f1.quantities[0].method


def test_unmeasured_quantities_are_never_a_pass(verdicts, runs):
    by_id, result, _ = verdicts
    assert by_id["no-task"].status == UNMEASURED and "did not evaluate task 'jsquad'" in by_id["no-task"].reasons[0]
    assert by_id["no-ttft"].status == UNMEASURED and "ttft_s" in by_id["no-ttft"].reasons[0]
    assert by_id["no-run"].status == UNMEASURED and "no run directory was given for label C" in by_id["no-run"].reasons[0]
    energy = json.loads((runs.runs_a[0] / "results.json").read_text())["profile"]["energy"]
    assert (by_id["energy"].status == UNMEASURED) == (not energy.get("available"))
    assert by_id["zero"].status == INCONCLUSIVE and "divides by zero" in by_id["zero"].reasons[0]
    assert not result.all_verified
    assert result.counts() == {s: sum(r.status == s for r in result.results) for s in (VERIFIED, REFUTED, INCONCLUSIVE, UNMEASURED)}


def test_each_verdict_names_its_runs_and_their_provenance(verdicts, runs):
    import hashlib

    by_id, _, _ = verdicts
    used = {r["path"]: r for r in by_id["kv-ratio"].runs}
    assert set(used) == {str(p) for p in (*runs.runs_a, *runs.runs_b)}
    for path, entry in used.items():
        results = json.loads((Path(path) / "results.json").read_text())
        assert entry["run_id"] == results["run_id"]
        assert entry["fingerprint_hash"] == results["model"]["fingerprint_hash"]
        assert entry["results_sha256"] == hashlib.sha256((Path(path) / "results.json").read_bytes()).hexdigest()
        canonical = json.dumps(results["provenance"], sort_keys=True, ensure_ascii=False).encode()
        assert entry["provenance_sha256"] == hashlib.sha256(canonical).hexdigest()
    assert not any("different hardware" in f for f in by_id["kv-ratio"].flags)  # same machine, same software


def test_cli_writes_outputs_and_exit_status_says_whether_all_were_verified(runs, tmp_path):
    all_good = _claims(tmp_path, {"kv": "kv_bytes_per_token(B) > kv_bytes_per_token(A)",
                                  "speed": "requests_per_s(A) > 0"})
    out = tmp_path / "report"
    args = ["verify", str(all_good), "--runs", *map(str, (*runs.runs_a, *runs.runs_b)), "-o", str(out)]
    ok = analysis(*args, env=runs.env)
    assert ok.returncode == 0, ok.stderr
    assert "VERIFIED" in ok.stdout and "2 verified" in ok.stdout
    data = json.loads((out / "claims.json").read_text(encoding="utf-8"))
    assert data["all_verified"] is True and [c["status"] for c in data["claims"]] == [VERIFIED, VERIFIED]
    mixed = _claims(tmp_path, {"kv": "kv_bytes_per_token(B) > kv_bytes_per_token(A)", "missing": "acc(A, jsquad) > 0"})
    bad = analysis("verify", str(mixed), *map(str, runs.runs_a), *map(str, runs.runs_b), "-o", str(out), env=runs.env)
    assert bad.returncode == 1 and "UNMEASURED" in bad.stdout
    assert json.loads((out / "claims.json").read_text())["counts"] == {VERIFIED: 1, REFUTED: 0, INCONCLUSIVE: 0, UNMEASURED: 1}


def test_reports_escape_what_the_claims_file_says(runs, tmp_path):
    from jlce.claims.render import write_outputs

    path = tmp_path / "CLAIMS.yaml"
    path.write_text(textwrap.dedent("""\
        title: "<script>alert(1)</script> & 100% #1"
        claims:
          - id: kv_1
            statement: "B's cache <b>is</b> big & {growing}"
            check: kv_bytes_per_token(B) > kv_bytes_per_token(A)
        """), encoding="utf-8")
    result = verify_claims(path, [f"A={runs.runs_a[0]}", f"B={runs.runs_b[0]}"])
    md, tex = (p.read_text(encoding="utf-8") for p in write_outputs(result, tmp_path / "out")[1:])
    assert "<script>" not in md and "&lt;script&gt;" in md and "<b>" not in md
    assert r"\&" in tex and r"100\%" in tex and r"\#1" in tex and r"kv\_1" in tex and "<script>" not in tex


def test_a_label_must_not_mix_models(runs, tmp_path):
    path = _claims(tmp_path, {"x": "n_parameters(A) > 0"}, runs_block='runs:\n  A: {path: "run-*"}\n')
    with pytest.raises(UserError, match="matches runs of 2 different models"):
        verify_claims(path, [str(p) for p in (*runs.runs_a, *runs.runs_b)])


def _variant(real: Path, dest: Path, edit) -> Path:
    """A copy of a real run directory with `edit(results)` applied to its results.json."""
    shutil.copytree(real, dest)
    results = json.loads((dest / "results.json").read_text(encoding="utf-8"))
    edit(results)
    (dest / "results.json").write_text(json.dumps(results, ensure_ascii=False), encoding="utf-8")
    return dest


def test_student_t_over_repeated_runs_with_known_speeds(runs, tmp_path):
    """Controlled numbers: three repeats whose requests/s are exactly 10, 12 and 14. The interval is
    the Student-t interval of the mean log value (2 df), checked against scipy."""
    from scipy import stats

    paths = []
    for i, rate in enumerate((10.0, 12.0, 14.0)):
        def edit(results, rate=rate, i=i):
            results["run_id"] = f"repeat-{i}"
            t = results["profile"]["timing"]["throughput"]["all"]
            t["batch_seconds"] = t["requests"] / rate
        paths.append(str(_variant(runs.runs_a[0], tmp_path / f"repeat-{i}", edit)))
    logs = np.log([10.0, 12.0, 14.0])
    lo, hi = np.exp(stats.t.interval(0.95, 2, loc=logs.mean(), scale=logs.std(ddof=1) / np.sqrt(3)))  # 7.8, 18.1
    claims = _claims(tmp_path, {"low": f"requests_per_s(X) >= {float(lo) - 0.3!r}", "high": f"requests_per_s(X) >= {float(hi) + 0.3!r}",
                                "mid": "requests_per_s(X) >= 12"}, runs_block='runs:\n  X: {path: "repeat-*"}\n')
    by_id = {r.id: r for r in verify_claims(claims, paths, draws=20000).results}
    assert (by_id["low"].status, by_id["high"].status, by_id["mid"].status) == (VERIFIED, REFUTED, INCONCLUSIVE)
    term = by_id["mid"].quantities[0]
    assert term.point == pytest.approx(np.exp(logs.mean())) and "of 3 runs" in term.method
    assert term.lo == pytest.approx(lo, rel=0.03) and term.hi == pytest.approx(hi, rel=0.03)


def test_runs_on_different_hardware_or_software_are_flagged(runs, tmp_path):
    """Controlled numbers: B's copy claims another CPU, another torch build and a thread setting."""
    def edit(results):
        results["provenance"]["hardware"]["cpu"]["model"] = "Other CPU 9000"
        results["provenance"]["software"]["torch"]["version"] = "9.9.9+cu999"
        results["provenance"]["environment"]["OMP_NUM_THREADS"] = "7"
        results["provenance"]["environment"]["JLCE_SOMETHING"] = "irrelevant to speed"

    other = _variant(runs.runs_b[0], tmp_path / "run-b-elsewhere", edit)
    path = _claims(tmp_path, {"kv": "kv_bytes_per_token(B) > kv_bytes_per_token(A)"})
    (result,) = verify_claims(path, [f"A={runs.runs_a[0]}", f"B={other}"]).results
    assert result.status == VERIFIED
    assert any(f.startswith("different hardware: cpu") and "Other CPU 9000 (B)" in f for f in result.flags)
    assert any(f.startswith("different software: torch") and "9.9.9+cu999 (B)" in f for f in result.flags)
    assert any(f.startswith("different software: env OMP_NUM_THREADS") and "7 (B)" in f for f in result.flags)
    assert not any("JLCE_SOMETHING" in f for f in result.flags)


def test_device_memory_is_never_answered_with_host_memory(runs, tmp_path):
    """These runs ran on a CPU: peak GPU memory is UNMEASURED (never host RSS), host RSS is measured,
    and the old name that mixed the two is refused with the two names to use."""
    results = json.loads((runs.runs_a[0] / "results.json").read_text())
    assert results["profile"]["memory"].get("devices") in (None, [])  # no GPU watched
    path = _claims(tmp_path, {"gpu": "peak_gpu_memory_bytes(A) < 1e15", "rss": "peak_rss_bytes(A) < 1e15"})
    by_id = {r.id: r for r in verify_claims(path, [str(p) for p in (*runs.runs_a, *runs.runs_b)]).results}
    assert by_id["gpu"].status == UNMEASURED and "watched no GPU memory" in by_id["gpu"].reasons[0]
    assert by_id["rss"].status == VERIFIED
    old = _claims(tmp_path, {"mixed": "peak_memory_bytes(A) < 1e15"})
    with pytest.raises(UserError, match="peak_gpu_memory_bytes .*peak_rss_bytes"):
        verify_claims(old, [str(runs.runs_a[0])])


def test_unmeasured_reason_names_the_run_that_lacks_the_quantity(runs, tmp_path):
    """B's copy lost its JNLI samples: the reason is given for acc(B, jnli) and names B's run, not A's."""
    def edit(results):
        results["run_id"] = json.loads((runs.runs_a[0] / "results.json").read_text())["run_id"]  # ids may collide

    b = _variant(runs.runs_b[0], tmp_path / "run-b-nosamples", edit)
    (b / "samples" / "jnli.jsonl").unlink()
    path = _claims(tmp_path, {"diff": "acc(B, jnli) >= acc(A, jnli)", "speed": "ttft_p50(B) < 10"})
    by_id = {r.id: r for r in verify_claims(path, [f"A={runs.runs_a[0]}", f"B={b}"]).results}
    (reason,) = by_id["diff"].reasons
    assert by_id["diff"].status == UNMEASURED and reason.startswith("acc(B, jnli): ") and str(b) in reason
    assert str(runs.runs_a[0]) not in reason
    assert str(b) in by_id["speed"].reasons[0]
