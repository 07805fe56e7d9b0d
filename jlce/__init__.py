"""JLCE: Japanese LLM Comprehensive Evaluation.

`jlce.evaluate(model=..., tasks=[...], backend=...)` runs an evaluation from Python (docs/api.md);
plugin authors import from `jlce.plugin`.
"""

from jlce.api import evaluate  # light: imports happen inside the call
from jlce.version import __version__

__all__ = ["__version__", "evaluate"]
