"""The check every built-in backend applies to generation parameters before any work."""

from __future__ import annotations

from collections.abc import Sequence

from jlce.errors import UserError
from jlce.requests import ChatRequest, GenerateRequest


def check_generation_params(requests: Sequence[GenerateRequest | ChatRequest]) -> None:
    """A UserError for the first request whose parameters no engine can honour."""
    for request in requests:
        params = request.params
        if params.max_new_tokens < 0 or params.temperature < 0 or not 0 < params.top_p <= 1:
            raise UserError(f"bad generation parameters {params}: need max_new_tokens >= 0, "
                            "temperature >= 0 and 0 < top_p <= 1")
