"""The same multiple-choice workload with 1 process and with N Ray replicas (one thread each).

Prints Ray's start-up (cluster start, placement, replica model loads) apart from the inference
wall time, the speed-up of N replicas over one process, and checks the answers agree (per-token
log-probability difference). Goal on the 2-core machine: 2 replicas >= 1.7x one process.

    python benchmarks/replicas.py                       # a small random Llama built now, 2 replicas
    python benchmarks/replicas.py --items 400 --hidden 256 --layers 4 --replicas 2
    python benchmarks/replicas.py --overheads          # what limits scaling: the driver's costs per unit

`--overheads` measures the two costs the driver pays per work unit, whatever the model: one
request-cache commit (SQLite, units of 50 and 500 answers) and one Ray round trip (2 replicas of
the model-free `dummy` backend, many tiny units: the driver's units per second).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")  # one thread per process: replicas, not threads, share the cores
os.environ.setdefault("RAY_raylet_start_wait_time_s", "300")


def workload(items: int, choices: int) -> list:
    from jlce.requests import LoglikelihoodRequest
    from jlce.tinymodel import builtin_corpus

    corpus = builtin_corpus()
    requests = []
    for i in range(items):
        context = "\n".join(corpus[(i + j) % len(corpus)] for j in range(6)) + "\n質問：この文章の主題は？\n答え："
        requests += [LoglikelihoodRequest(context=context, continuation=corpus[(i * 7 + c) % len(corpus)][:20])
                     for c in range(choices)]
    return requests


def overheads(replicas: int, units_per_replica: int, items: int) -> None:
    from jlce.backend import BackendConfig
    from jlce.cache import RequestCache
    from jlce.replicas.backend import ReplicaBackend
    from jlce.requests import LoglikelihoodRequest, LoglikelihoodResult

    # every item its own context (the workload's contexts repeat), so every item can be its own unit
    requests = [LoglikelihoodRequest(context=f"{n // 4}:{r.context}", continuation=r.continuation)
                for n, r in enumerate(workload(items, 4))]
    print(f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}")
    with tempfile.TemporaryDirectory() as scratch:
        cache = RequestCache(Path(scratch) / "requests.sqlite")
        for size in (50, 500):
            times = []
            for k in range(30):
                pairs = [(LoglikelihoodRequest(context=f"{k}/{r.context}", continuation=r.continuation),
                          LoglikelihoodResult(-12.5, False, 7)) for r in requests[:size]]
                started = time.perf_counter()
                cache.put_many("0" * 64, pairs)
                times.append(time.perf_counter() - started)
            median = statistics.median(times)
            print(f"driver cache commit, unit of {size:3d} answers: {median * 1e3:7.2f} ms median "
                  f"({median / size * 1e6:.0f} us per answer, 30 commits)")
        cache.close()
    started = time.perf_counter()
    backend = ReplicaBackend("dummy", BackendConfig(model="toy", batch_size=64), replicas=replicas)
    startup = time.perf_counter() - started
    backend.units_per_replica = units_per_replica
    try:
        sum(1 for _ in backend.loglikelihood(requests))  # a first pass warms the actors
        before = sum(state.busy_seconds for state in backend.states)
        started = time.perf_counter()
        units = sum(1 for _ in backend.loglikelihood(requests))
        wall = time.perf_counter() - started
        busy = sum(state.busy_seconds for state in backend.states) - before
    finally:
        backend.close()
    print(f"Ray round trips ({replicas} dummy replicas, start-up {startup:.1f} s): {units} units of ~{len(requests) // units} "
          f"requests in {wall:.2f} s = {units / wall:.0f} units/s through the driver, {wall / units * 1e3:.1f} ms per unit "
          f"(replicas busy {busy:.2f} s of it in total)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=300)
    parser.add_argument("--choices", type=int, default=4)
    parser.add_argument("--replicas", type=int, default=2)
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--overheads", action="store_true", help="measure the driver's per-unit costs instead")
    parser.add_argument("--units-per-replica", type=int, default=100, help="with --overheads: units per replica")
    args = parser.parse_args()
    if args.overheads:
        overheads(args.replicas, args.units_per_replica, args.items)
        return

    import torch

    torch.set_num_threads(1)
    from jlce.backend import BackendConfig
    from jlce.registry import get_registry
    from jlce.replicas.backend import ReplicaBackend
    from jlce.specs import resolve
    from jlce.tinymodel import build_tiny_model

    with tempfile.TemporaryDirectory() as scratch:
        model = build_tiny_model(os.path.join(scratch, "model"), hidden_size=args.hidden, layers=args.layers, heads=4,
                                 kv_heads=2)
        config = BackendConfig(model=str(model), dtype="float32", batch_size=args.batch_size, device="cpu")
        requests = workload(args.items, args.choices)

        single = resolve(get_registry().get("backends", "transformers").factory)(config)
        started = time.perf_counter()
        one = {i: r for pairs, _ in single.loglikelihood(requests) for i, r in pairs}
        single_s = time.perf_counter() - started
        single.close()

        started = time.perf_counter()
        replicas = ReplicaBackend("transformers", config, replicas=args.replicas)
        startup_s = time.perf_counter() - started
        started = time.perf_counter()
        many = {i: r for pairs, _ in replicas.loglikelihood(requests) for i, r in pairs}
        replicas_s = time.perf_counter() - started
        per_replica = replicas.describe()["replicas"]["per_replica"]
        replicas.close()

    worst = max(abs(one[i].logprob - many[i].logprob) / max(1, one[i].n_tokens) for i in one)
    print(f"workload: {len(requests)} loglikelihood requests ({args.items} items x {args.choices} choices), "
          f"model hidden {args.hidden} x {args.layers} layers, batch {args.batch_size}, 1 thread per process, "
          f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}")
    print(f"1 process:          {single_s:8.2f} s")
    print(f"{args.replicas} replicas (Ray): {replicas_s:8.2f} s   speed-up {single_s / replicas_s:.2f}x (goal >= 1.7x at 2)")
    print(f"Ray start-up:       {startup_s:8.2f} s   (cluster, placement group, {args.replicas} model loads; not in the above)")
    for n, r in enumerate(per_replica):
        print(f"  replica {n}: {r['units']} units, {r['requests']} requests, busy {r['busy_seconds']:.2f} s")
    print(f"answers: {len(many)}/{len(one)}; max |delta logprob| per token {worst:.2e}")


if __name__ == "__main__":
    main()
