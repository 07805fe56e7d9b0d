"""`--replicas N`: the chosen backend, N times, as Ray actors behind one `Backend`.

The evaluator sees an ordinary backend: it pools requests by kind, serves cache hits, and commits
every batch this backend yields. Here each kind's requests are cut into work units
(`jlce.replicas.units`); every replica holds up to two units (one running, one queued, so it never
waits for the driver), and a finished unit is yielded at once, so the driver's cache, progress
bar and resume behave exactly as in a single process.

Failures, with Ray's own mechanisms: resources are reserved with a placement group, checked
against the cluster first (an impossible request fails at once) and awaited with a timeout (never
a silent hang); an actor that dies (its process killed, its node lost) is restarted by Ray
(`max_restarts`) and its unit goes back to the queue for any replica (at most `MAX_UNIT_TRIES`
tries); a unit that runs past `--replica-timeout` has its actor killed (then restarted) and is
re-queued. Errors raised by the backend itself are not retried: they would repeat.
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from jlce.backend import Backend, BackendConfig, BatchOutput, Capability, UnsupportedRequest
from jlce.errors import JLCEError, UserError
from jlce.events import BatchEvent
from jlce.replicas.units import UNITS_PER_REPLICA, plan_units

MAX_UNIT_TRIES = 3
IN_FLIGHT_PER_REPLICA = 2
PLACEMENT_TIMEOUT_S = 60.0
LOAD_TIMEOUT_S = 3600.0
POLL_S = 2.0
# what replicas must see of the driver's environment (plugin lists, offline switches, caches, HF)
FORWARDED_ENV = ("JLCE_", "HF_", "TRANSFORMERS_", "VLLM_", "CUDA_", "HIP_", "ROCR_", "HSA_", "OMP_", "MKL_",
                 "TOKENIZERS_", "PYTORCH_", "TORCH_")


class ReplicaFailure(JLCEError):
    """Replicas could not answer (every try of a unit failed, or every replica is gone)."""


def parse_resources(text: str | None) -> dict[str, float]:
    """`GPU=1,CPU=2` -> {"GPU": 1.0, "CPU": 2.0}; the default is one CPU per replica."""
    resources = {"CPU": 1.0}
    for part in (text or "").split(","):
        if not part.strip():
            continue
        key, sep, value = part.partition("=")
        try:
            amount = float(value)
        except ValueError:
            amount = -1.0
        if not sep or amount < 0 or not key.strip():
            raise UserError(f"--replica-resources expects NAME=AMOUNT[,NAME=AMOUNT...] (e.g. GPU=1,CPU=4), got '{part}'")
        resources[key.strip()] = amount
    return resources


def public_address(address: str | None) -> str | None:
    """A Ray address as it may be recorded: credentials (`ray://user:pass@host`), query and fragment cut off."""
    if not address:
        return None
    address = re.split(r"[?#]", address, maxsplit=1)[0]
    return re.sub(r"^([A-Za-z][A-Za-z0-9+.-]*://)?[^/]*@", r"\1", address)


@dataclass
class _ReplicaState:
    actor: Any
    identity: dict[str, Any] = field(default_factory=dict)
    units: int = 0
    requests: int = 0
    busy_seconds: float = 0.0
    requeued: int = 0  # units it held when it died or was killed, given back to the queue
    retried_units: int = 0  # units it finished that had failed on a replica before
    deaths: int = 0  # its actor died (process killed, node lost) or was killed for a timeout
    restarts: int = 0  # Ray restarted its actor (seen as a new pid when it answered again)
    timeouts: int = 0  # times it was killed for holding a unit past --replica-timeout
    in_flight: int = 0
    finished_at: float = 0.0  # monotonic time its last unit came back (a queued unit starts no earlier)
    up: bool = True
    dead: bool = False
    ping: Any = None
    ping_failures: int = 0
    retry_at: float = 0.0


class ReplicaBackend(Backend):
    name = "replicas"

    def __init__(self, backend_name: str, config: BackendConfig, replicas: int, address: str | None = None,
                 resources: dict[str, float] | None = None, unit_timeout: float = 1800.0):
        try:
            import ray
        except ModuleNotFoundError:
            raise UserError("--replicas needs Ray: pip install 'jlce[ray]'") from None
        self.inner_name = backend_name
        self.replicas_wanted = replicas
        self.resources = resources or {"CPU": 1.0}
        self.unit_timeout = unit_timeout
        self.units_per_replica = UNITS_PER_REPLICA  # units per replica per request kind (benchmarks vary it)
        self.started_ray = not ray.is_initialized()
        self.address = public_address(address)
        self.address_source = ("--ray-address" if address else "RAY_ADDRESS" if os.environ.get("RAY_ADDRESS")
                               else "local" if self.started_ray else "already connected")
        if not address and self.address_source == "RAY_ADDRESS":
            self.address = public_address(os.environ["RAY_ADDRESS"])
        if self.started_ray:  # the driver's environment reaches replicas through their constructor
            try:
                ray.init(address=address, include_dashboard=False, log_to_driver=False, logging_level=logging.WARNING)
            except (ConnectionError, RuntimeError, ValueError) as error:
                raise UserError(f"could not {'connect to the Ray cluster at ' + address if address else 'start a local Ray instance'}: "
                                f"{error}") from None
        self._check_resources(ray)
        self.group = self._reserve(ray)
        self.states = self._start_actors(ray, config)
        self.nodes = self._nodes(ray)

    # ---- setup -----------------------------------------------------------------------------

    def _check_resources(self, ray) -> None:
        total = ray.cluster_resources()
        for name, amount in self.resources.items():
            needed = amount * self.replicas_wanted
            if total.get(name, 0.0) < needed:
                message = (f"--replicas {self.replicas_wanted} with {name}={amount:g} each needs {needed:g} {name}; "
                           f"the Ray cluster has {total.get(name, 0.0):g} {name} (nodes: {len(ray.nodes())}). "
                           "Use fewer replicas, smaller --replica-resources, or a larger cluster (--ray-address)")
                self._shutdown(ray)
                raise UserError(message)

    def _reserve(self, ray):
        from ray.util.placement_group import placement_group, remove_placement_group

        group = placement_group([dict(self.resources) for _ in range(self.replicas_wanted)], strategy="SPREAD")
        try:
            ray.get(group.ready(), timeout=PLACEMENT_TIMEOUT_S)
        except ray.exceptions.GetTimeoutError:
            remove_placement_group(group)
            self._shutdown(ray)
            raise UserError(f"Ray could not reserve {self.replicas_wanted} replicas of {self.resources} within "
                            f"{PLACEMENT_TIMEOUT_S:.0f} s (other work holds the resources?)") from None
        return group

    def _start_actors(self, ray, config: BackendConfig) -> list[_ReplicaState]:
        from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

        from jlce.replicas.actor import Replica

        remote = ray.remote(Replica)
        gpus = self.resources.get("GPU", 0.0)
        cpus = self.resources.get("CPU", 1.0)
        custom = {k: v for k, v in self.resources.items() if k not in ("CPU", "GPU")}
        env = {k: v for k, v in os.environ.items() if k.startswith(FORWARDED_ENV)}
        actors = [remote.options(num_cpus=cpus, num_gpus=gpus, resources=custom or None, max_restarts=1,
                                 max_task_retries=0,
                                 scheduling_strategy=PlacementGroupSchedulingStrategy(self.group, placement_group_bundle_index=i)
                                 ).remote(self.inner_name, config, env) for i in range(self.replicas_wanted)]
        try:
            identities = ray.get([a.identity.remote() for a in actors], timeout=LOAD_TIMEOUT_S)
        except ray.exceptions.RayTaskError as error:
            self.close()
            raise UserError(f"a replica could not load backend '{self.inner_name}': {error.cause if hasattr(error, 'cause') else error}") from None
        states = [_ReplicaState(actor, identity) for actor, identity in zip(actors, identities)]
        first = states[0].identity["fingerprint"]
        if any(s.identity["fingerprint"] != first for s in states[1:]):
            self.close()
            raise ReplicaFailure("replicas loaded different models (their fingerprints differ); "
                                 "check that every node has the same model files")
        return states

    @staticmethod
    def _nodes(ray) -> list[dict[str, Any]]:
        """The cluster's live nodes when the replicas started: id, host name and Ray resources
        (CPU, GPU, memory, accelerator type; not the per-IP `node:` markers)."""
        return [{"node_id": node.get("NodeID"), "hostname": node.get("NodeManagerHostname"),
                 "resources": {k: v for k, v in sorted(node.get("Resources", {}).items()) if not k.startswith("node:")}}
                for node in ray.nodes() if node.get("Alive")]

    def cluster_info(self) -> dict[str, Any]:
        """What provenance records of the cluster (`provenance.cluster`): no secrets, no IP addresses."""
        import ray

        return {
            "ray_version": ray.__version__, "address": self.address, "address_source": self.address_source,
            "backend": self.inner_name, "replicas": len(self.states), "resources_per_replica": dict(self.resources),
            "nodes": self.nodes,
            "per_replica": [{"replica": n, "node_id": s.identity.get("node_id"), "host": s.identity.get("host"),
                             "gpu_ids": s.identity.get("gpu_ids"), "resources": dict(self.resources)}
                            for n, s in enumerate(self.states)],
        }

    def replica_health(self) -> list[dict[str, Any]]:
        """Per replica, what the timing profile cannot see in batch events: re-queued units,
        restarts, timeouts, and whether Ray gave up on it. Driver-side counters; no Ray call."""
        return [{"replica": n, "host": s.identity.get("host"), "requeued": s.requeued, "restarts": s.restarts,
                 "timeouts": s.timeouts, "deaths": s.deaths, "lost": s.dead}
                for n, s in enumerate(self.states)]

    # ---- Backend -----------------------------------------------------------------------------

    @property
    def capabilities(self) -> frozenset[Capability]:
        return frozenset(Capability(c) for c in self.states[0].identity["capabilities"] if c in Capability._value2member_map_)

    def fingerprint(self) -> dict[str, Any]:
        return dict(self.states[0].identity["fingerprint"])

    def describe(self) -> dict[str, Any]:
        import ray

        details = dict(self.states[0].identity["describe"])
        details["replicas"] = {
            "count": len(self.states), "ray_version": ray.__version__, "backend": self.inner_name,
            "resources_per_replica": self.resources,
            "nodes": len({s.identity.get("node_id") for s in self.states}),
            "per_replica": [{"pid": s.identity.get("pid"), "host": s.identity.get("host"), "node_id": s.identity.get("node_id"),
                             "gpu_ids": s.identity.get("gpu_ids"), "units": s.units, "requests": s.requests,
                             "busy_seconds": round(s.busy_seconds, 3), "retried_units": s.retried_units,
                             **{k: v for k, v in health.items() if k not in ("replica", "host")}}
                            for s, health in zip(self.states, self.replica_health())],
        }
        return details

    def engine(self) -> dict[str, str]:
        return dict(self.states[0].identity["engine"])

    def model_names(self) -> tuple[str, ...]:
        return tuple(self.states[0].identity["model_names"])

    def weights_probe(self) -> list[float] | None:
        return self.states[0].identity["weights_probe"]

    def replica_pids(self) -> list[int]:
        import ray

        return ray.get([s.actor.pid.remote() for s in self.states], timeout=60)

    def loglikelihood(self, requests: Sequence[Any]) -> Iterator[BatchOutput]:
        return self._dispatch("loglikelihood", requests)

    def loglikelihood_rolling(self, requests: Sequence[Any]) -> Iterator[BatchOutput]:
        if Capability.LOGLIKELIHOOD_ROLLING not in self.capabilities:
            raise UnsupportedRequest(f"backend '{self.inner_name}' does not support loglikelihood_rolling")
        return self._dispatch("loglikelihood_rolling", requests)

    def generate_until(self, requests: Sequence[Any]) -> Iterator[BatchOutput]:
        return self._dispatch("generate_until", requests)

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        import ray

        if not self.states[0].identity["count_tokens"]:
            raise UnsupportedRequest(f"backend '{self.inner_name}' cannot count tokens")
        return ray.get(self.states[0].actor.count_tokens.remote(list(texts)))

    # ---- the work-unit loop ----------------------------------------------------------------------

    def _dispatch(self, kind: str, requests: Sequence[Any]) -> Iterator[BatchOutput]:
        import ray
        from ray.exceptions import GetTimeoutError, RayActorError, RayTaskError

        units = deque(plan_units(requests, len(self.states), units_per_replica=self.units_per_replica))
        tries: dict[int, int] = {}
        pending: dict[Any, tuple[Any, _ReplicaState, float]] = {}
        while units or pending:
            self._schedule(kind, requests, units, tries, pending)
            waiting = list(pending) + [s.ping for s in self.states if s.ping is not None]
            if not waiting:
                raise ReplicaFailure(f"every replica of backend '{self.inner_name}' is gone (each died more often than "
                                     "Ray restarts it); finished units are cached: run the same command again to resume")
            ready, _ = ray.wait(waiting, num_returns=1, timeout=POLL_S)
            if not ready:
                self._kill_overdue(ray, pending)
                continue
            ref = ready[0]
            if ref not in pending:
                self._ping_answered(ray, ref)
                continue
            unit, state, started = pending.pop(ref)
            state.in_flight -= 1
            try:
                pairs, totals = ray.get(ref)
            except (RayActorError, GetTimeoutError) as error:  # the replica died or was killed: another one retries
                self._requeue(units, unit, tries, state, error)
                continue
            except RayTaskError as error:  # the backend itself raised: it would raise again
                raise ReplicaFailure(f"replica of backend '{self.inner_name}' failed on {kind}: {error.cause!r}") from None
            state.units += 1
            state.requests += len(unit.indices)
            state.busy_seconds += totals["seconds"]
            state.retried_units += tries[unit.number] > 1
            state.finished_at = time.monotonic()
            answers = [(unit.indices[j], answer) for j, answer in pairs]
            event = BatchEvent(kind=kind, size=len(answers), seconds=totals["seconds"], prompt_tokens=totals["prompt_tokens"],
                               generated_tokens=totals["generated_tokens"], batch_size=totals["batch_size"],
                               extra={"replica": self.states.index(state), "unit": unit.number, "tries": tries[unit.number]})
            yield answers, event

    def _schedule(self, kind: str, requests: Sequence[Any], units: deque, tries: dict[int, int],
                  pending: dict[Any, tuple[Any, _ReplicaState, float]]) -> None:
        """Give queued units to replicas that are up (at most IN_FLIGHT_PER_REPLICA each); ping the
        ones that are down until Ray has restarted them."""
        for state in sorted(self.states, key=lambda s: s.in_flight):
            if not state.up:
                if not state.dead and state.ping is None and time.monotonic() >= state.retry_at:
                    state.ping = state.actor.pid.remote()
                continue
            while units and state.in_flight < IN_FLIGHT_PER_REPLICA:
                unit = units.popleft()
                tries[unit.number] = tries.get(unit.number, 0) + 1
                ref = state.actor.run.remote(kind, [requests[i] for i in unit.indices])
                pending[ref] = (unit, state, time.monotonic())
                state.in_flight += 1

    def _ping_answered(self, ray, ref: Any) -> None:
        from ray.exceptions import ActorUnavailableError, RayActorError

        state = next(s for s in self.states if s.ping == ref)
        state.ping = None
        try:
            pid = ray.get(ref)
            state.restarts += pid != state.identity.get("pid")
            state.identity["pid"] = pid
            state.up, state.ping_failures = True, 0
        except ActorUnavailableError:  # still restarting
            state.retry_at = time.monotonic() + 1.0
        except RayActorError:
            state.ping_failures += 1
            state.dead = state.ping_failures >= 3  # Ray will not restart it again
            state.retry_at = time.monotonic() + 1.0

    def _requeue(self, units: deque, unit: Any, tries: dict[int, int], state: _ReplicaState, error: Exception) -> None:
        state.deaths += state.up  # the first of its units to fail tells of the death; the others were lost with it
        state.requeued += 1
        state.up = False  # no new units until it answers a ping (Ray restarts it: max_restarts)
        if tries[unit.number] >= MAX_UNIT_TRIES:
            raise ReplicaFailure(f"work unit {unit.number} ({len(unit.indices)} requests) failed {tries[unit.number]} times; "
                                 f"last error: {type(error).__name__}. Finished units are cached: run the same command again to resume")
        units.appendleft(unit)

    def _kill_overdue(self, ray, pending: dict[Any, tuple[Any, _ReplicaState, float]]) -> None:
        """A unit past --replica-timeout: its actor stopped answering; kill it (Ray restarts it) so
        the unit fails over to the queue. A unit queued behind another counts from when that one
        came back, not from when it was handed out."""
        now = time.monotonic()
        for unit, state, started in list(pending.values()):
            if state.up and now - max(started, state.finished_at) > self.unit_timeout:
                state.timeouts += 1
                state.deaths += 1
                state.up = False  # killed once; no new units until it answers a ping
                ray.kill(state.actor, no_restart=False)

    def close(self) -> None:
        import ray

        for state in getattr(self, "states", []):
            try:
                ray.kill(state.actor)
            except Exception:  # already gone
                pass
        if getattr(self, "group", None) is not None:
            from ray.util.placement_group import remove_placement_group

            try:
                remove_placement_group(self.group)
            except Exception:
                pass
        self._shutdown(ray)

    def _shutdown(self, ray) -> None:
        if self.started_ray and ray.is_initialized():
            ray.shutdown()
