"""Shared token prefixes of contexts, found from the tokens alone.

A task with a fixed few-shot set gives every item the same long prefix (instruction + examples);
several tasks pooled in one call give several such prefixes. Sorting the contexts by their tokens
puts contexts that share a prefix side by side, so the shared prefixes form a radix tree over the
sorted list: a run of neighbours whose common prefix is at least `m` tokens long is one subtree.
`cluster_by_prefix` walks that tree and keeps, for each part of the list, the split that saves the
most computed tokens; each resulting cluster has its prefix computed once and its key/value cache
reused by every context of the cluster. The clusters depend only on the set of contexts, never on
the batch size, so batching cannot change what is computed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import pairwise

from jlce.backends.transformers.scoring import ContextGroup

# A shared prefix shorter than this is not worth its own forward pass and cache copies.
MIN_SHARED_PREFIX = 16
# What an extra cluster costs, in context tokens: its prefix pass and a partly filled last batch.
CLUSTER_COST = 64
# How deep the tree is searched for better splits (each level a longer shared prefix).
MAX_DEPTH = 8


@dataclass
class PrefixCluster:
    """Context groups whose contexts all start with `prefix` (empty: no sharing), each context
    keeping at least one token after it."""

    prefix: tuple[int, ...]
    groups: list[ContextGroup] = field(default_factory=list)

    @property
    def length(self) -> int:
        return max(g.length for g in self.groups)


def common_prefix_length(a: Sequence[int], b: Sequence[int]) -> int:
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


def _shared_length(run: list[ContextGroup], lcps: list[int]) -> int:
    """Tokens the whole run can share: its common prefix, leaving every context one own token."""
    if len(run) < 2:
        return 0
    shared = min(min(lcps), min(len(g.context) for g in run) - 1)
    return shared if shared >= MIN_SHARED_PREFIX else 0


def _partition(run: list[ContextGroup], lcps: list[int], depth: int) -> tuple[int, list[list[ContextGroup]]]:
    """(tokens saved, runs) of the best split of a sorted run; `lcps[k]` is the common prefix
    length of run[k] and run[k + 1]."""
    shared = _shared_length(run, lcps)
    keep = (len(run) - 1) * shared
    if len(run) < 3 or depth >= MAX_DEPTH:
        return keep, [run]
    lowest = min(lcps)
    cuts = [k + 1 for k, value in enumerate(lcps) if value == lowest]
    bounds = [0, *cuts, len(run)]
    saved, runs = -CLUSTER_COST * (len(bounds) - 2), []
    for start, end in pairwise(bounds):
        part_saved, part_runs = _partition(run[start:end], lcps[start:end - 1], depth + 1) if end - start > 1 else (0, [run[start:end]])
        saved += part_saved
        runs.extend(part_runs)
    return (saved, runs) if saved > keep else (keep, [run])


def cluster_by_prefix(groups: Sequence[ContextGroup]) -> list[PrefixCluster]:
    """Clusters of `groups` by shared prefix, longest first; contexts that share nothing worth
    reusing end up together in one cluster with an empty prefix. Within a cluster the groups are
    ordered longest first (little padding per batch)."""
    ordered = sorted(groups, key=lambda g: g.context)
    lcps = [common_prefix_length(a.context, b.context) for a, b in pairwise(ordered)]
    # Neighbours sharing less than MIN_SHARED_PREFIX never join: split there first.
    bounds = [0, *[k + 1 for k, value in enumerate(lcps) if value < MIN_SHARED_PREFIX], len(ordered)]
    clusters: list[PrefixCluster] = []
    unshared = PrefixCluster(())
    for start, end in pairwise(bounds):
        if end == start:
            continue
        _, runs = _partition(ordered[start:end], lcps[start:end - 1], 0)
        for run in runs:
            run_lcps = [common_prefix_length(a.context, b.context) for a, b in pairwise(run)]
            shared = _shared_length(run, run_lcps)
            if shared:
                clusters.append(PrefixCluster(run[0].context[:shared], run))
            else:
                unshared.groups.extend(run)
    if unshared.groups:
        clusters.append(unshared)
    for cluster in clusters:
        cluster.groups.sort(key=lambda g: (-g.length, -len(g.context), g.context))
    clusters.sort(key=lambda c: (-c.length, c.prefix))
    return clusters
