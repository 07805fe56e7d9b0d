"""Moved to the core: `jlce.reasoning` is the one implementation of reasoning handling, used by
every backend. This module only re-exports it for code that imported `jlce.backends.common.reasoning`."""

from jlce.reasoning import (  # noqa: F401
    DEFAULT_REASONING_TOKENS,
    R1_RECOMMENDED_SAMPLING,
    THINK_CLOSE,
    THINK_OPEN,
    ReasoningPolicy,
    ReasoningSplit,
    is_reasoning_model,
    prompt_opens_think,
    reasoning_stats,
    reasoning_summary,
    resolve_policy,
    split_reasoning,
    strip_reasoning,
    truncate_answer,
)
