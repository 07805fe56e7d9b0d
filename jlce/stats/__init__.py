"""JLCE's statistics, in one package; everything that reports an interval or a probability uses it.

- `jlce.stats.estimates`: a task metric's standard error and 95% interval in results.json (Wilson
  for 0/1 scores, Student-t within the metric's range, percentile bootstrap for corpus metrics).
- `jlce.stats.bayes`: the Bayesian bootstrap (shared Dirichlet item weights, per-model prior
  pseudo-items), credible intervals, rank and pairwise probabilities, clustered means; the
  leaderboard, `jlce compare`, `jlce verify` and the judge scores draw from it.
- `jlce.stats.weighted`: task statistics (mean, correlations, MCC) under Dirichlet item weights.
- `jlce.stats.frequentist`: Wilson and t intervals, exact McNemar, paired permutation tests,
  Holm's correction, Cohen's h.
"""

from jlce.stats.estimates import Estimate, bootstrap_estimate, mean_estimate

__all__ = ["Estimate", "bootstrap_estimate", "mean_estimate"]
