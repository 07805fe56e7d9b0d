"""The same multiple-choice workload with 1 process and with N Ray replicas (one thread each).

Prints Ray's start-up (cluster start, placement, replica model loads) apart from the inference
wall time, the speed-up of N replicas over one process, and checks the answers agree (per-token
log-probability difference). Goal on the 2-core machine: 2 replicas >= 1.7x one process.

    python benchmarks/replicas.py                       # a small random Llama built now, 2 replicas
    python benchmarks/replicas.py --items 400 --hidden 256 --layers 4 --replicas 2
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=300)
    parser.add_argument("--choices", type=int, default=4)
    parser.add_argument("--replicas", type=int, default=2)
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=8)
    args = parser.parse_args()

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
