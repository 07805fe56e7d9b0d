"""Shared fixtures: tiny real models built offline, and a private JLCE cache directory."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session", autouse=True)
def _private_jlce_cache(tmp_path_factory):
    """Tests never write to the user's ~/.cache/jlce (weight hashes, the jlce-tiny build)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("JLCE_CACHE_DIR", str(tmp_path_factory.mktemp("jlce-cache")))
        yield


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """A Llama-style tiny model (adds BOS), built with the jlce-tiny defaults."""
    from jlce.tinymodel import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("models") / "tiny-llama", seed=0)


@pytest.fixture(scope="session")
def tiny_qwen_model_dir(tmp_path_factory) -> Path:
    """A different tiny model: Qwen2-style (no BOS, q/k/v biases), wider, another seed."""
    from jlce.tinymodel import build_tiny_model

    return build_tiny_model(
        tmp_path_factory.mktemp("models") / "tiny-qwen2", seed=1, arch="qwen2", hidden_size=128, heads=2, kv_heads=2
    )


# ---- the suite's duration (CI allows 90 minutes on 2 cores) ---------------------------------------

SUITE_LIMIT_MINUTES = 90
_file_seconds: dict[str, float] = {}


def pytest_runtest_logreport(report):
    path = report.nodeid.split("::", 1)[0]
    _file_seconds[path] = _file_seconds.get(path, 0.0) + report.duration


@pytest.hookimpl(trylast=True)
def pytest_terminal_summary(terminalreporter):
    """Print how long the suite took against CI's limit, and the slowest test files (the ones to
    mark `slow` or speed up). `-m "not slow"` runs the quick part."""
    import os

    started = getattr(terminalreporter, "_session_start", None)  # pytest's own clock, from session start
    seconds = started.elapsed().seconds if started is not None else sum(_file_seconds.values())
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    terminalreporter.write_sep("-", f"suite duration {seconds / 60:.1f} min = {seconds:.0f} s (CI limit {SUITE_LIMIT_MINUTES} min on 2 cores; "
                                    f"{os.cpu_count()} CPUs here, load {load:.1f})")
    for path, spent in sorted(_file_seconds.items(), key=lambda item: -item[1])[:8]:
        terminalreporter.write_line(f"{spent / 60:6.1f} min  {path}")
