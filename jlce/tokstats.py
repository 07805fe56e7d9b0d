"""Tokenizer efficiency side by side (`jlce tokenizer-stats --model M... --tasks T`).

Characters per token overall and by script class (`jlce.textstats`), and tokens per MeCab
morpheme (fugashi + unidic-lite), on the tasks' rendered prompts, for several tokenizers. The
numbers come from the same function as the `tokenizer_stats` profiler
(`jlce.plugins.tokenizer_stats.tokenizer_statistics`), with each model's tokenizer counting tokens
as its backend does (no special tokens). Only tokenizers are loaded, never weights.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jlce.errors import UserError
from jlce.paths import atomic_write_text
from jlce.textstats import SCRIPTS

if TYPE_CHECKING:
    from jlce.data.loader import DataSource

ALL = "all tasks"


@dataclass(frozen=True)
class TokenizerStats:
    model: str  # as given
    source: str  # directory or hub id the tokenizer came from
    vocab_size: int
    scopes: dict[str, dict[str, Any]]  # task (and ALL) -> tokenizer_statistics(...)


@dataclass(frozen=True)
class TokStats:
    tasks: tuple[str, ...]
    texts: dict[str, int]  # task -> texts used
    num_fewshot: int | None
    morphemes_by: str | None
    tokenizers: tuple[TokenizerStats, ...]


def load_token_counter(model: str, revision: str | None = None,
                       trust_remote_code: bool = False) -> tuple[Callable[[Sequence[str]], list[int]], int, str]:
    """(count_tokens, vocabulary size, source) of a model's tokenizer; aliases as `jlce run` reads them."""
    from jlce.backends.common.aliases import resolve_model_name

    ref = resolve_model_name(model)
    try:
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(ref.target, revision=revision, trust_remote_code=trust_remote_code)
    except (OSError, ValueError) as error:
        where = "directory" if ref.local else "hub model (offline? set HF_HOME to a cache that holds it)"
        raise UserError(f"cannot load the tokenizer of {where} '{ref.target}': {str(error).splitlines()[0]}") from None

    def count_tokens(texts: Sequence[str]) -> list[int]:
        if not texts:
            return []
        return [len(ids) for ids in tokenizer(list(texts), add_special_tokens=False)["input_ids"]]

    return count_tokens, len(tokenizer), ref.target


def task_texts(tasks: str, *, limit: int | None, num_fewshot: int | None, data: DataSource,
               include_paths: tuple[Path, ...] = (), max_texts: int = 200) -> dict[str, list[str]]:
    """Each task's rendered prompts (at most `max_texts`, evenly spaced), as `jlce run` builds them."""
    from jlce.plugins.tokenizer_stats import evenly_spaced
    from jlce.task import load_tasks

    out = {}
    for task in load_tasks(tasks, include_paths):
        task.build(limit=limit, num_fewshot=num_fewshot, data=data)
        prompts = [instance.prompt for instance in task.instances]
        if prompts:
            out[task.name] = evenly_spaced(prompts, max_texts)
    if not out:
        raise UserError(f"tasks '{tasks}' have no items to tokenize")
    return out


def compare_tokenizers(models: Sequence[str], texts: dict[str, list[str]], *, morphemes: bool = True,
                       revision: str | None = None, trust_remote_code: bool = False,
                       num_fewshot: int | None = None) -> TokStats:
    from jlce.plugins.tokenizer_stats import morpheme_counter, tokenizer_statistics

    if not models:
        raise UserError("give at least one --model")
    analyser = morpheme_counter() if morphemes else None
    count_morphemes = functools.lru_cache(maxsize=None)(analyser[0]) if analyser else None  # once per text, not per model
    everything = [t for task_texts_ in texts.values() for t in task_texts_]
    columns = []
    for model in models:
        count_tokens, vocab, source = load_token_counter(model, revision, trust_remote_code)
        scopes = {ALL: tokenizer_statistics(everything, count_tokens, count_morphemes)} if len(texts) > 1 else {}
        for task, items in texts.items():
            scopes[task] = tokenizer_statistics(items, count_tokens, count_morphemes)
        columns.append(TokenizerStats(model, source, vocab, scopes))
    return TokStats(tuple(texts), {t: len(v) for t, v in texts.items()}, num_fewshot,
                    f"fugashi+{analyser[1]}" if analyser else None, tuple(columns))


# ---- output -------------------------------------------------------------------------------------

def _f(x: float | None) -> str:
    return "–" if x is None else f"{x:.3f}"


def rows(stats: TokStats, scope: str) -> list[list[str]]:
    """Rows (measure, value per tokenizer) of one scope."""
    cols = [t.scopes[scope] for t in stats.tokenizers]
    out = [["chars/token", *(_f(c["chars_per_token"]) for c in cols)]]
    for script in SCRIPTS:
        if any(c["scripts"][script]["chars"] for c in cols):
            out.append([f"  {script}", *(_f(c["scripts"][script]["chars_per_token"]) for c in cols)])
    if all("tokens_per_morpheme" in c for c in cols):
        out.append(["tokens/morpheme", *(_f(c["tokens_per_morpheme"]) for c in cols)])
    out.append(["tokens", *(f"{c['tokens']:,}" for c in cols)])
    return out


def header(stats: TokStats) -> list[str]:
    return ["measure", *(f"{t.model} (vocab {t.vocab_size:,})" for t in stats.tokenizers)]


def scopes(stats: TokStats) -> list[str]:
    return ([ALL] if len(stats.tasks) > 1 else []) + list(stats.tasks)


def print_stats(stats: TokStats, console=None) -> None:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    console = console or Console()
    for scope in scopes(stats):
        n = sum(stats.texts.values()) if scope == ALL else stats.texts[scope]
        table = Table(title=Text(f"{scope}: {n} prompts"))
        for i, column in enumerate(header(stats)):
            table.add_column(Text(column), justify="left" if i == 0 else "right", overflow="fold")
        for row in rows(stats, scope):
            table.add_row(*(Text(cell) for cell in row))
        console.print(table)
    console.print(Text(f"morphemes: {stats.morphemes_by or 'not counted'}; each script run is tokenized on its own"))


def render_markdown(stats: TokStats) -> str:
    from jlce.report.tables import markdown_table

    out = ["# Tokenizer statistics", ""]
    for scope in scopes(stats):
        out += [f"## {scope}", "", *markdown_table(header(stats), rows(stats, scope)), ""]
    return "\n".join(out)


def render_latex(stats: TokStats) -> str:
    from jlce.leaderboard.render_tex import escape
    from jlce.report.tables import latex_tabular

    out = [r"% Generated by JLCE (jlce tokenizer-stats). Needs \usepackage{booktabs}."]
    for scope in scopes(stats):
        out += [r"\begin{table}[t]", r"\centering", r"\small",
                (rf"\caption{{Characters per token (by script) and tokens per morpheme "
                 rf"({escape(stats.morphemes_by or 'none')}) on {escape(scope)}.}}"), *latex_tabular(header(stats), rows(stats, scope)), r"\end{table}", ""]
    return "\n".join(out)


def write_outputs(stats: TokStats, directory: str | Path) -> list[Path]:
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, text in (("tokenizer_stats.json", json.dumps({"schema": "jlce-tokenizer-stats/1", **asdict(stats)},
                                                            ensure_ascii=False, indent=2) + "\n"),
                       ("tokenizer_stats.md", render_markdown(stats)), ("tokenizer_stats.tex", render_latex(stats))):
        atomic_write_text(directory / name, text)
        paths.append(directory / name)
    return paths
