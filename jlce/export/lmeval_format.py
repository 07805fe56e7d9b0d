"""A JLCE run in lm-evaluation-harness 0.4's output layout, for tools that read lm-eval results.

lm-eval writes `<out>/<model_name_sanitized>/results_<date>.json` and, per task,
`samples_<task>_<date>.jsonl`. The results JSON holds `results.<task>."<metric>,<filter>"` and
`"<metric>_stderr,<filter>"`, `configs`, `versions`, `n-shot`, `higher_is_better`, `n-samples`,
`config`, `group_subtasks`, `task_hashes` and the model identity; each sample line holds `doc_id`,
`doc`, `target`, `arguments`, `resps`, `filtered_resps`, `filter`, `metrics`, the three sha256
hashes and the per-item metric values.

JLCE's filters belong to the task definition, so every metric is exported under lm-eval's
`none` filter. What lm-eval has no field for (intervals, fingerprints, provenance) stays in
results.json; the export carries a `jlce` section pointing back to it.
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

from jlce.errors import UserError
from jlce.paths import atomic_write_text
from jlce.results import read_results, read_samples

FILTER = "none"
BRIDGE_PREFIX = "lmeval:"


def lmeval_task_name(task: str) -> str:
    """A bridged task (`lmeval:arc_easy`) goes back under lm-eval's own name."""
    return task[len(BRIDGE_PREFIX):] if task.startswith(BRIDGE_PREFIX) else task


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def sanitize_model_name(name: str) -> str:
    """lm-eval's `utils.sanitize_model_name`: the folder its results go into."""
    return re.sub(r"[\"<>:/|\\?*\[\]]+", "__", name)


def _date_id(results: dict[str, Any]) -> str:
    """lm-eval names files by an ISO time with ':' replaced: the run's start time here."""
    created = str(results.get("created_at") or "").rstrip("Z")
    try:
        return datetime.fromisoformat(created).isoformat().replace(":", "-")
    except ValueError:
        return str(results.get("run_id") or "run").replace(":", "-")


def _timestamp(value: Any) -> float | None:
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def _version(text: Any) -> Any:
    """lm-eval versions are YAML numbers (`1.0`); JLCE's are text (`1.3.0`): numbers stay numbers."""
    try:
        return float(text) if isinstance(text, str) and text.count(".") <= 1 else text
    except ValueError:
        return text


def _metric_entries(task: str, entry: dict[str, Any]) -> dict[str, Any]:
    row: dict[str, Any] = {"name": task, "alias": task, "sample_len": entry.get("n_samples")}
    for metric, value in (entry.get("metrics") or {}).items():
        row[f"{metric},{FILTER}"] = value.get("value")
        stderr = value.get("stderr")
        row[f"{metric}_stderr,{FILTER}"] = "N/A" if stderr is None else stderr
    return row


def _task_config(task: str, entry: dict[str, Any]) -> dict[str, Any]:
    """The lm-eval config keys JLCE can fill truthfully from results.json."""
    sampling = entry.get("sampling") or {}
    config: dict[str, Any] = {
        "task": task,
        "dataset_path": entry.get("data_source"),
        "num_fewshot": entry.get("num_fewshot"),
        "metric_list": [{"metric": name, "higher_is_better": value.get("higher_is_better", True)}
                        for name, value in (entry.get("metrics") or {}).items()],
        "output_type": entry.get("output_type"),
        "repeats": sampling.get("repeats", 1),
        "metadata": {
            "version": entry.get("version"),
            "definition_hash": entry.get("definition_hash"),
            "data_hash": entry.get("data_hash"),
            "data_files": entry.get("data_files"),
            "fewshot_ids": entry.get("fewshot_ids"),
        },
    }
    if _generation_kwargs(entry):
        config["generation_kwargs"] = _generation_kwargs(entry)
    return config


def _generation_kwargs(entry: dict[str, Any]) -> dict[str, Any]:
    """The decoding a task's generations ran with; bridged lm-eval tasks decode as their own YAML
    says, which JLCE does not record beyond each request's token budget."""
    sampling = entry.get("sampling") or {}
    if entry.get("output_type") != "generate_until" or not sampling or sampling.get("sources", {}).get("decoding"):
        return {}
    return {"max_gen_toks": sampling.get("max_new_tokens"), "temperature": sampling.get("temperature"),
            "top_p": sampling.get("top_p"), "do_sample": bool(sampling.get("temperature"))}


def _run_config(results: dict[str, Any]) -> dict[str, Any]:
    config = results.get("config") or {}
    model = results.get("model") or {}
    details = model.get("details") or {}
    model_args = {"pretrained": model.get("name")}
    for key in ("revision", "dtype", "adapter"):
        if config.get(key) not in (None, "auto"):
            model_args[key] = config[key]
    return {
        "model": model.get("backend"),
        "model_args": model_args,
        "model_num_parameters": details.get("n_parameters"),
        "model_dtype": (model.get("fingerprint") or {}).get("dtype"),
        "model_revision": config.get("revision"),
        "model_sha": (model.get("fingerprint") or {}).get("weights_sha256") or "",
        "batch_size": config.get("batch_size"),
        "batch_sizes": [],
        "device": details.get("device") or config.get("device"),
        "use_cache": None,
        "limit": config.get("limit"),
        "bootstrap_iters": 0,
        "gen_kwargs": None,
        "random_seed": config.get("seed"),
        "numpy_seed": config.get("seed"),
        "torch_seed": config.get("seed"),
        "fewshot_seed": config.get("seed"),
    }


def _choices_sample(row: dict[str, Any]) -> tuple[dict[str, Any], list, list]:
    prompt = row.get("prompt", "")
    choices = row.get("choices") or []
    arguments = {f"gen_args_{i}": {"arg_0": prompt, "arg_1": choice.get("text", "")} for i, choice in enumerate(choices)}
    # lm-eval's second field says whether greedy decoding would produce the continuation; JLCE
    # records it only where a sample has it, else "None" (unknown), never a guess.
    pairs = [[str(choice.get("logprob")), str(choice.get("is_greedy"))] for choice in choices]
    return arguments, [[pair] for pair in pairs], pairs


def _generation_sample(row: dict[str, Any], generation_kwargs: dict[str, Any]) -> tuple[dict[str, Any], list, list]:
    response = row.get("response") or {}
    raw = [response.get("raw", "")] if isinstance(response, dict) else [str(response)]
    filtered = response.get("filtered", raw[0]) if isinstance(response, dict) else raw[0]
    samples = row.get("samples")  # repeated sampling: k responses of one item
    if isinstance(samples, list) and samples:
        raw = [s.get("raw", "") if isinstance(s, dict) else str(s) for s in samples]
    kwargs = dict(generation_kwargs)
    requested = (row.get("truncation") or {}).get("requested_new_tokens")
    if requested is not None:  # the budget this request asked for (lmeval: tasks set their own)
        kwargs["max_gen_toks"] = requested
    arguments = {"gen_args_0": {"arg_0": row.get("prompt", ""), "arg_1": kwargs}}
    return arguments, [raw], [filtered]


def _loglikelihood_sample(row: dict[str, Any]) -> tuple[dict[str, Any], list, list]:
    arguments = {"gen_args_0": {"arg_0": row.get("prompt", ""), "arg_1": row.get("target", "")}}
    pair = [str(row.get("logprob")), str(row.get("is_greedy"))]
    return arguments, [[pair]], [pair]


def convert_sample(row: dict[str, Any], output_type: str | None, generation_kwargs: dict[str, Any] | None = None) -> dict[str, Any]:
    """One JLCE sample line as an lm-eval sample line."""
    if row.get("choices") is not None:
        arguments, resps, filtered = _choices_sample(row)
        target = str(row.get("gold"))
    elif output_type == "generate_until" or row.get("response") is not None:
        arguments, resps, filtered = _generation_sample(row, generation_kwargs or {})
        target = str(row.get("target", ""))
    else:
        arguments, resps, filtered = _loglikelihood_sample(row)
        target = str(row.get("target", ""))
    doc: dict[str, Any] = {key: row[key] for key in ("prompt", "target", "references") if key in row}
    if isinstance(row.get("doc"), dict):  # lmeval: bridged tasks keep lm-eval's own document
        doc = row["doc"]
    elif row.get("choices") is not None:
        doc["choices"] = [choice.get("text") for choice in row["choices"]]
        doc["gold"] = row.get("gold")
    metrics = row.get("metrics") or {}
    line: dict[str, Any] = {
        "doc_id": row.get("doc_id"),
        "doc": doc,
        "target": target,
        "arguments": arguments,
        "resps": resps,
        "filtered_resps": filtered,
        "filter": FILTER,
        "metrics": list(metrics),
        "doc_hash": _sha256(json.dumps(doc, ensure_ascii=False, sort_keys=True)),
        "prompt_hash": _sha256(str(row.get("prompt", ""))),
        "target_hash": _sha256(target),
    }
    for name, value in metrics.items():
        line[name] = value
    return line


def _mapping(value: Any) -> dict[str, Any]:
    """`value` when it is a dict, else an empty one (a field missing or malformed in results.json)."""
    return value if isinstance(value, dict) else {}


def convert_samples(results: dict[str, Any], samples: dict[str, list[dict[str, Any]]]) -> dict[str, list[dict[str, Any]]]:
    """Every task's JLCE sample lines as lm-eval sample lines, under lm-eval's task names."""
    tasks = results.get("tasks") or {}
    return {lmeval_task_name(task): [convert_sample(row, tasks[task].get("output_type"), _generation_kwargs(tasks[task]))
                                     for row in rows] for task, rows in samples.items()}


def to_lmeval(results: dict[str, Any], lines: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """results.json as lm-eval's aggregated results dictionary; `lines` from `convert_samples`."""
    tasks: dict[str, Any] = {lmeval_task_name(t): entry for t, entry in (results.get("tasks") or {}).items()}
    model = results.get("model") or {}
    name = str(model.get("name") or "model")
    started, finished = _timestamp(results.get("created_at")), _timestamp(results.get("finished_at"))
    task_hashes = {task: _sha256("".join(x["doc_hash"] + x["prompt_hash"] + x["target_hash"] for x in rows))
                   for task, rows in lines.items()}
    provenance = results.get("provenance") or {}
    git, software = _mapping(provenance.get("jlce_git")), _mapping(provenance.get("software"))
    packages = software.get("packages") or {}
    fingerprint = model.get("fingerprint") or {}
    return {
        "results": {task: _metric_entries(task, entry) for task, entry in tasks.items()},
        "group_subtasks": {task: [] for task in tasks},
        "configs": {task: _task_config(task, entry) for task, entry in tasks.items()},
        "versions": {task: _version(entry.get("version")) for task, entry in tasks.items()},
        "n-shot": {task: entry.get("num_fewshot") or 0 for task, entry in tasks.items()},
        "higher_is_better": {task: {m: v.get("higher_is_better", True) for m, v in (entry.get("metrics") or {}).items()}
                             for task, entry in tasks.items()},
        "n-samples": {task: {"original": entry.get("n_samples"), "effective": entry.get("n_samples")}
                      for task, entry in tasks.items()},
        "config": _run_config(results),
        "git_hash": git.get("commit"),
        "date": started,
        # lm-eval's environment fields, from JLCE's provenance; what JLCE does not record is null
        "pretty_env_info": json.dumps(software, ensure_ascii=False, sort_keys=True) if software else None,
        "transformers_version": packages.get("transformers"),
        "lm_eval_version": packages.get("lm-eval") or packages.get("lm_eval"),
        "upper_git_hash": None,
        "tokenizer_pad_token": None,
        "tokenizer_eos_token": None,
        "tokenizer_bos_token": None,
        "eot_token_id": None,
        "max_length": fingerprint.get("max_length"),
        "task_hashes": task_hashes,
        "model_source": model.get("backend"),
        "model_name": name,
        "model_name_sanitized": sanitize_model_name(name),
        "system_instruction": None,
        "system_instruction_sha": None,
        "fewshot_as_multiturn": False,
        "chat_template": None,
        "chat_template_sha": fingerprint.get("chat_template_sha256"),
        "start_time": started,
        "end_time": finished,
        "total_evaluation_time_seconds": str(finished - started) if started and finished else None,
        "jlce": {"run_id": results.get("run_id"), "jlce_version": results.get("jlce_version"),
                 "fingerprint_hash": model.get("fingerprint_hash"),
                 "note": "exported by `jlce export --format lmeval`; intervals and provenance are in results.json"},
    }


def export_lmeval(run_dir: Path, out_dir: Path) -> list[Path]:
    """Write `run_dir` in lm-eval's layout under `out_dir`; returns the files written."""
    run_dir, out_dir = Path(run_dir), Path(out_dir)
    results = read_results(run_dir)
    tasks = results.get("tasks") or {}
    if not tasks:
        raise UserError(f"{run_dir}: the run holds no scored task; nothing to export")
    chats = sorted(task for task, entry in tasks.items() if entry.get("output_type") == "generate_chat")
    if chats:  # lm-eval has no multi-turn form; FastChat's files hold them (`jlce judge-export`)
        if len(chats) == len(tasks):
            raise UserError(f"{run_dir}: multi-turn tasks ({', '.join(chats)}) have no lm-eval form; "
                            f"`jlce judge-export {run_dir}` writes them as FastChat answer files")
        print(f"jlce: left out of the lm-eval export (multi-turn; `jlce judge-export` writes them): {', '.join(chats)}",
              file=sys.stderr)
        results = {**results, "tasks": {task: entry for task, entry in tasks.items() if task not in chats}}
        tasks = results["tasks"]
    lines = convert_samples(results, {task: read_samples(run_dir, task) for task in tasks})
    exported = to_lmeval(results, lines)
    folder = out_dir / exported["model_name_sanitized"]
    date = _date_id(results)
    written = []
    for task, rows in lines.items():
        text = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
        path = folder / f"samples_{task}_{date}.jsonl"
        atomic_write_text(path, text)
        written.append(path)
    path = folder / f"results_{date}.json"
    atomic_write_text(path, json.dumps(exported, ensure_ascii=False, indent=2) + "\n")
    written.append(path)
    return written
