"""One evaluation run: tasks -> pooled requests -> cached backend calls -> scores -> results."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from jlce.version import __version__
from jlce.backend import Backend, BackendConfig
from jlce.cache import RequestCache, fingerprint_hash
from jlce.errors import DataError, DataMissing, JLCEError, PluginError
from jlce.events import RunContext, StageEvent
from jlce.identity import model_identity
from jlce.judge.stage import JudgeRun
from jlce.paths import cache_dir, check_unique_slugs, slug
from jlce.contributions import merge_contributions
from jlce.extras import missing_extra
from jlce.plugin_manager import contributions as run_end_contributions
from jlce.plugin_manager import get_plugin_manager, notify
from jlce.plugins.provenance import ProvenanceRecorder
from jlce.pluginargs import check_task_arguments
from jlce.progress import Progress
from jlce import multiturn
from jlce.reasoning import ReasoningPolicy, finish_answers, reasoning_summary, resolve_policy, sent_request, task_reasoning_budget
from jlce.registry import get_registry
from jlce.requests import Request
from jlce.results import ResultsWriter
from jlce.rundir import RunFolder, new_run_id, prepare_run_folder
from jlce.presets import choose_preset
from jlce.runconfig import RunOptions
from jlce.sampling import announce, reasoning_budget, task_sampling
from jlce.scoring import score_task
from jlce.specs import resolve
from jlce.task import Task, load_tasks
from jlce.truncation import TruncationGuard, question_tokens, sample_truncation, task_truncation, warning_text

KIND_ORDER = ("loglikelihood", "loglikelihood_rolling", "generate_until")


class BackendFailure(JLCEError):
    """The backend raised: the run stops, naming the plugin. Finished batches stay cached."""


@dataclass
class RunOutcome:
    output_dir: Path
    results: dict[str, Any]


@dataclass
class _Pool:
    """Unique requests of one kind and where their answers go."""

    requests: list[Request] = field(default_factory=list)
    index: dict[Request, int] = field(default_factory=dict)

    def add(self, request: Request) -> int:
        if request not in self.index:
            self.index[request] = len(self.requests)
            self.requests.append(request)
        return self.index[request]


def default_output_dir(options: RunOptions, run_id: str) -> Path:
    return options.results_root / slug(options.model) / run_id


class Evaluator:
    def __init__(self, options: RunOptions, backend: Backend | None = None):
        """`backend`: an already built Backend to evaluate (the Python API); it is used as is and
        left open. Without it, `options.backend` names a registered backend, loaded and closed here."""
        self.options = options
        self.pm = get_plugin_manager()
        self.registry = get_registry()
        self.given_backend = backend
        self.preset = choose_preset(self.registry.presets, options.preset, options.model)
        # an unknown backend or a bad --backend-arg fails before any work (parsed once, by the backend's options model)
        self.backend_config = None if backend is not None else options.backend_config(
            self.registry.get("backends", options.backend), self.preset)
        self.started = datetime.now(timezone.utc)
        run_id = new_run_id(self.started)
        self.output_dir = options.output_dir or default_output_dir(options, run_id)
        self.run = RunContext(run_id, options.public(self.backend_config.options if self.backend_config else None),
                              self.output_dir)
        self.progress = Progress(enabled=options.show_progress)
        self.cache_stats: dict[str, dict[str, int]] = {}
        self.skipped: dict[str, str] = {}
        self.cache: RequestCache | None = None
        self.truncation_guard = TruncationGuard(options.truncation)  # prompts cut by the context (jlce.truncation)
        self.fingerprint: dict[str, Any] = {}  # the backend's, plus a remote model's weights probe id
        self.reasoning = ReasoningPolicy()  # decided once the backend has loaded (auto: by the model's names)
        self.provenance = ProvenanceRecorder()  # part of every result, whatever --profile selects

    @contextmanager
    def stage(self, name: str, task: str | None = None) -> Iterator[None]:
        notify(self.pm, self.run, "jlce_stage_start", event=StageEvent(name, task))
        start = time.perf_counter()
        try:
            yield
        finally:
            notify(self.pm, self.run, "jlce_stage_end", event=StageEvent(name, task, time.perf_counter() - start))

    def execute(self) -> RunOutcome:
        from jlce.profiling import start_profilers, stop_profilers

        options = self.options
        profilers = start_profilers(self.pm, self.registry, options.profile, options.profile_options, run=self.run)
        backend: Backend | None = None
        folder: RunFolder | None = None
        judging: JudgeRun | None = None
        try:
            self.provenance.start()
            # the output folder and the cache are checked before any data or model loads
            folder = prepare_run_folder(options.output_dir, default_output_dir(options, self.run.run_id).parent,
                                        self.run.run_id, options.overwrite)
            self.cache = self._open_cache()
            notify(self.pm, self.run, "jlce_run_start")
            tasks = self._load_tasks()
            check_task_arguments(tasks, self.registry)  # metric/filter arguments, before the model loads
            announce(self.preset, tasks)  # before the model loads
            judging = JudgeRun.prepare(tasks, options)  # judged tasks: judge options, prompts, baseline checked
            with self.stage("model_load"):
                backend = self._load_backend()
            self.run.backend = backend
            if self.cache is not None:
                self.cache.use_engine(getattr(backend, "engine", dict)())  # duck-typed backends may lack it
            self.fingerprint = model_identity(backend, self.cache, fingerprint_hash)
            notify(self.pm, self.run, "jlce_model_loaded")
            answers = self._answer(tasks, backend)
            if judging is not None:  # the judge loads once the answers are in (jlce.judge.stage)
                with self.stage("model_load", "judge"):
                    judging.start(self._load_backend(*judging.backend_config()), self.cache, self.progress)
            writer = ResultsWriter(folder.staging)
            task_results: dict[str, Any] = {}
            for task in tasks:
                with self.stage("scoring", task.name):
                    scores = (multiturn.score_chat if multiturn.is_chat_task(task) else score_task)(task, answers[task.name])
                    cuts = _record_truncation(scores.samples, answers[task.name])
                judged = None
                if judging is not None and task.config.judge is not None:
                    with self.stage("judging", task.name):
                        judged = judging.judge_task(task, scores.samples)  # adds judgments to the sample rows
                    scores.metrics.update(judged[0])
                with self.stage("writing", task.name):
                    writer.write_samples(task.name, scores.samples)
                task_results[task.name] = _task_entry(task, scores.metrics)
                if judged is not None:
                    task_results[task.name]["primary_metric"] = judged[1]
                task_results[task.name]["truncation"] = self._truncation_summary(task.name, cuts)
                task_results[task.name]["sampling"] = {**task.sampling.to_dict(), **scores.sampling}
                if multiturn.is_chat_task(task):
                    task_results[task.name]["multiturn"] = multiturn.task_summary(task, answers[task.name], self)
                if self.reasoning.enabled:  # what thinking cost on this task
                    task_results[task.name]["reasoning"] = reasoning_summary([a for inst in answers[task.name] for a in inst])
            contributions = run_end_contributions(self.pm, self.run)
            results = self._results(backend, task_results, contributions)
            if judging is not None:
                results["judge"] = judging.record()
            writer.write_results(results)
            folder.publish()
            folder = None
            return RunOutcome(self.output_dir, results)
        finally:
            if folder is not None:
                folder.discard()
            stop_profilers(self.pm, profilers, run=self.run)
            self.provenance.close()
            self.progress.stop()
            if self.cache is not None:
                self.cache.close()
            if backend is not None and backend is not self.given_backend:
                backend.close()
            if judging is not None:
                judging.close(keep=self.given_backend)

    # ---- stages ---------------------------------------------------------------------------

    def _load_tasks(self) -> list[Task]:
        """Validate every task, then load its data. Missing data fails the run up front (all
        missing tasks named at once), or with --skip-missing-data is recorded and skipped."""
        options = self.options
        ready: list[Task] = []
        missing: dict[str, str] = {}
        refused: dict[str, str] = {}
        with self.stage("data_load"):
            selected = load_tasks(options.tasks, options.include_paths)
            check_unique_slugs([task.name for task in selected])  # samples/<slug>.jsonl is never shared
            for task in selected:
                try:
                    task.build(limit=options.limit, num_fewshot=options.num_fewshot, data=options.data,
                               sampling=task_sampling(task, options, self.preset))
                except DataMissing as error:
                    missing[task.name] = str(error)
                    continue
                except DataError as error:  # damaged or unscorable data: refused, never skipped
                    refused[task.name] = str(error)
                    continue
                ready.append(task)
        if refused:
            details = "\n".join(f"  {name}: {message}" for name, message in {**refused, **missing}.items())
            raise DataError(f"bad data in {len(refused)} task(s), refused rather than scored "
                            f"(--skip-missing-data skips missing data only):\n{details}")
        if missing and not options.skip_missing_data:
            details = "\n".join(f"  {name}: {message}" for name, message in missing.items())
            raise DataError(f"data is missing for {len(missing)} task(s) (add --skip-missing-data to run the others):\n{details}")
        if not ready:
            raise DataError("no task has its data; nothing to evaluate")
        for name, message in missing.items():  # --skip-missing-data: say what is skipped and why
            print(f"jlce: skipped task '{name}' (--skip-missing-data): {message}", file=sys.stderr)
        self.skipped = missing
        tasks = ready
        self.run.tasks = tasks
        self.run.prompts = {task.name: [inst.prompt for inst in task.instances] for task in tasks}
        return tasks

    def _backend_label(self) -> str:
        if self.given_backend is not None:
            return f"backend '{getattr(self.given_backend, 'name', type(self.given_backend).__name__)}' (passed to jlce.evaluate)"
        spec = self.registry.backends[self.options.backend]
        return f"backend '{spec.name}' (plugin '{spec.plugin}')"

    def _load_backend(self, name: str | None = None, config: BackendConfig | None = None) -> Backend:
        """The run's backend; with `name` and `config`, another one (a judge: jlce.judge.stage)."""
        if name is None and self.given_backend is not None:
            return self.given_backend
        options = self.options
        if config is None:
            config = self.backend_config  # built in __init__ (RunOptions.backend_config)
        assert config is not None
        spec = self.registry.get("backends", name or options.backend)
        try:
            if name is None and (options.replicas > 1 or options.ray_address):
                from jlce.replicas.backend import ReplicaBackend, parse_resources

                return ReplicaBackend(spec.name, config, options.replicas, options.ray_address,
                                      parse_resources(options.replica_resources), options.replica_timeout)
            return resolve(spec.factory)(config)
        except JLCEError:
            raise
        except ModuleNotFoundError as error:
            extra = missing_extra(error, f"backend '{spec.name}'")
            if extra is not None:
                raise extra from error
            raise BackendFailure(f"backend '{spec.name}' (plugin '{spec.plugin}') failed to load model '{config.model}': "
                                 f"{type(error).__name__}: {error}") from error
        except Exception as error:
            raise BackendFailure(f"backend '{spec.name}' (plugin '{spec.plugin}') failed to load model '{config.model}': "
                                 f"{type(error).__name__}: {error}") from error

    def _answer(self, tasks: list[Task], backend: Backend) -> dict[str, list[list[Any]]]:
        """Pool every request by kind, serve what the cache has, ask the backend for the rest."""
        pools: dict[str, _Pool] = {kind: _Pool() for kind in KIND_ORDER}
        self.reasoning = policy = resolve_policy(self.options.reasoning, self.options.reasoning_max_new_tokens,
                                                 self.options.model, *backend.model_names())
        chats = [task for task in tasks if multiturn.is_chat_task(task)]  # asked turn by turn (jlce.multiturn)
        tasks = [task for task in tasks if not multiturn.is_chat_task(task)]
        with self.stage("build_requests"):  # with reasoning on, generations go without stops and with a raised budget
            slots = {task.name: [[pools[r.kind].add(sent_request(policy, r, reasoning_budget(task))) for r in inst.requests]
                                 for inst in task.instances] for task in tasks}
        self._own_requests(tasks, slots, backend)
        model_hash = fingerprint_hash(self.fingerprint)
        answered: dict[str, dict[int, Any]] = {}
        for kind in KIND_ORDER:
            pool = pools[kind]
            if pool.requests:
                answered[kind] = self._serve(kind, pool.requests, backend, self.cache, model_hash)
        answers = {
            task.name: [[answered[r.kind][slot] for r, slot in zip(inst.requests, inst_slots)]
                        for inst, inst_slots in zip(task.instances, slots[task.name])]
            for task in tasks
        }
        finish_answers(policy, tasks, answers, backend.count_tokens)  # the task's stops, on the answer part only
        answers.update(multiturn.answer_chats(self, chats, backend, model_hash, policy))
        return answers

    def _own_requests(self, tasks: list[Task], slots: dict[str, list[list[int]]], backend: Backend) -> None:
        """Tell the truncation guard which task item each pooled request answers, with the token
        count of the item's own question (by the backend's tokenizer, when it has one)."""
        for task in tasks:
            counts = question_tokens(task.instances, backend.count_tokens)
            for inst, inst_slots, count in zip(task.instances, slots[task.name], counts):
                for request, slot in zip(inst.requests, inst_slots):
                    self.truncation_guard.own(request.kind, slot, task.name, inst.doc_id, count)

    def _truncation_summary(self, task: str, cuts: list[dict[str, Any] | None]) -> dict[str, Any]:
        summary = task_truncation(cuts)
        message = warning_text(task, summary)
        if message and self.options.truncation == "warn":
            print(f"jlce: warning: {message}", file=sys.stderr)
        return summary

    def _open_cache(self) -> RequestCache | None:
        if not self.options.use_cache:
            return None
        return RequestCache(self.options.cache_path or cache_dir() / "requests.sqlite", policy=self.options.cache_policy)

    def _serve(self, kind: str, requests: list[Request], backend: Backend, cache: RequestCache | None, model_hash: str,
               bar: Any = None) -> dict[int, Any]:
        """`bar`: a progress bar to advance (multi-turn tasks: one bar over all turns)."""
        answers: dict[int, Any] = cache.get_many(model_hash, requests) if cache is not None else {}
        self.truncation_guard.check(kind, answers.items())
        hits = len(answers)
        todo = [i for i in range(len(requests)) if i not in answers]
        self.cache_stats[kind] = {"requests": len(requests), "hits": hits, "misses": len(todo)}
        if not todo:
            return answers
        method = getattr(backend, kind)
        bar = self.progress.add(f"{kind} ({hits} cached)", total=len(todo)) if bar is None else bar
        with self.stage(f"inference:{kind}"):
            try:
                for pairs, event in method([requests[i] for i in todo]):
                    batch = [(todo[j], result) for j, result in pairs]
                    if cache is not None:
                        cache.put_many(model_hash, [(requests[i], result) for i, result in batch])
                    answers.update(batch)
                    self.truncation_guard.check(kind, batch)  # --truncation error stops at the first cut
                    notify(self.pm, self.run, "jlce_after_batch", event=event)
                    self.progress.advance(bar, len(batch))
            except JLCEError:
                raise
            except Exception as error:
                raise BackendFailure(f"{self._backend_label()} failed during {kind}: "
                                     f"{type(error).__name__}: {error}. Finished batches are cached: run the same command again to resume") from error
        missing = len(requests) - len(answers)
        if missing:
            raise PluginError(f"backend '{self.options.backend}' left {missing} {kind} requests unanswered")
        return answers

    def _results(self, backend: Backend, task_results: dict[str, Any], contributions: list[tuple[str, Any]]) -> dict[str, Any]:
        fingerprint = self.fingerprint
        results: dict[str, Any] = {
            "schema_version": "1.0",
            "jlce_version": __version__,
            "run_id": self.run.run_id,
            "created_at": self.started.isoformat().replace("+00:00", "Z"),
            "finished_at": datetime.now(timezone.utc).isoformat().replace("+00:00", "Z"),
            "model": {"name": self.options.model, "backend": self.options.backend, "fingerprint": fingerprint,
                      "fingerprint_hash": fingerprint_hash(fingerprint), "details": backend.describe()},
            "config": self.run.config,
            "tasks": task_results,
            "skipped_tasks": self.skipped,
            "reasoning": self.reasoning.to_dict(),
            "cache": {"hits": sum(s["hits"] for s in self.cache_stats.values()),
                      "misses": sum(s["misses"] for s in self.cache_stats.values()), "by_kind": self.cache_stats,
                      **(self.cache.stats() if self.cache is not None else {"policy": "off"})},
            "profile": {},
            "errors": self.run.errors,
        }
        results["provenance"] = self._provenance()
        results["preset"] = self.preset.record() if self.preset is not None else None
        # plugins add sections (profile.<name>, provenance keys, extensions.<plugin>); they never
        # replace anything, and whatever else they return is refused and recorded as their error
        merge_contributions(results, contributions, self.run.record_error)
        results["errors"] = self.run.errors
        return results

    def _provenance(self) -> dict[str, Any]:
        """The core's provenance record; should collecting it fail, the failure is recorded and the
        record says what it still knows."""
        try:
            return self.provenance.record(self.run)
        except Exception as error:
            self.run.record_error("core", "provenance", error)
            return {"jlce_version": __version__, "run_id": self.run.run_id, "incomplete": True}


def _record_truncation(rows: list[dict[str, Any]], answers: list[list[Any]]) -> list[dict[str, Any] | None]:
    """Each sample row gets what the context cut of its prompt (None: the backend did not say)."""
    cuts = [sample_truncation(item) for item in answers]
    if len(rows) == len(cuts):  # one row per item (a self-scoring bridge task may differ)
        for row, cut in zip(rows, cuts):
            row["truncation"] = cut
    return cuts


def _task_entry(task: Task, metrics: dict[str, Any]) -> dict[str, Any]:
    c = task.config
    return {
        "version": c.version, "category": c.category, "output_type": c.output_type,
        "definition_hash": task.definition_hash, "data_hash": task.data_hash, "data_source": task.data_source,
        "data_files": task.data_files, "n_samples": len(task.instances), "num_fewshot": task.num_fewshot,
        "fewshot_seed": c.fewshot.seed if c.fewshot else None, "fewshot_ids": task.fewshot_ids,
        "primary_metric": c.headline_metric, "metrics": metrics, "samples_file": f"samples/{slug(task.name)}.jsonl",
    }


def evaluate(options: RunOptions, backend: Backend | None = None) -> RunOutcome:
    return Evaluator(options, backend).execute()
