"""JLCE: Japanese LLM Comprehensive Evaluation.

`jlce.evaluate(model=..., tasks=[...], backend=...)` runs an evaluation from Python (docs/api.md);
plugin authors import from `jlce.plugin`.
"""

__version__ = "0.1.0"

from jlce.api import evaluate  # noqa: E402  (light: imports happen inside the call)

__all__ = ["__version__", "evaluate"]
