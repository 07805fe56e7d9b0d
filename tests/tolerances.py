"""Tolerances for comparing log-likelihoods, stated from the arithmetic (never a bare absolute
number on a large float32 sum, whose verdict would depend on the processor).

A log-likelihood is a sum of n per-token log-probabilities, each ≤ 0, computed in float32
(unit roundoff u = 2**-24 ≈ 6e-8). Two computations that batch, pad or pack differently round
differently in two places:

- each token's log-probability (a forward pass and a log-softmax): its error is a few tens of
  roundoffs of the magnitudes involved; we allow 32·u·max(1, |logprob of that token|), with the
  mean token log-probability standing in for each token's;
- the sum of n terms: at most (n-1)·u·Σ|terms| (Higham, *Accuracy and Stability of Numerical
  Algorithms*, 2002, §4.2), and Σ|terms| = |sum| because every term has the same sign.

For -301.5 over 36 tokens this allows 1.2e-3 (the difference seen between CPUs was 1.0e-5); a
real defect (a token too many or too few, a wrong mask) moves the sum by tenths of a nat or more.
Two implementations (vLLM vs transformers kernels, an adapter vs its merged weights) get an
explicit per-token allowance instead (`per_token`).
"""

from __future__ import annotations

U32 = 2.0 ** -24
CROSS_ENGINE = 1e-3  # per token, between different implementations (vLLM vs transformers kernels)


def logprob_tolerance(expected: float, n_tokens: int, per_token: float | None = None) -> float:
    """The allowed |got - expected| for a sum of `n_tokens` float32 log-probabilities; `per_token`
    replaces the same-computation allowance when two different implementations are compared."""
    n = max(1, int(n_tokens))
    magnitude = abs(expected)
    allowance = per_token if per_token is not None else 32 * U32 * max(1.0, magnitude / n)
    return n * allowance + (n - 1) * U32 * magnitude


def assert_logprob_close(got: float, expected: float, n_tokens: int, *context, per_token: float | None = None) -> None:
    tolerance = logprob_tolerance(expected, n_tokens, per_token)
    assert abs(got - expected) <= tolerance, (got, expected, n_tokens, tolerance, *context)
