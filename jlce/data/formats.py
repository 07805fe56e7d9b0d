"""The data formats of particular corpora, one module per format: SQuAD-style JSON, JSeM XML,
UD CoNLL-U, KNP and XWinograd TSV. Each module has `register_readers(register)` and
`register_processors(register)`; the generic formats (JSON lines, JSON, TSV, CSV, plain and
parallel text) are in `jlce.data.readers`, the generic processors in `jlce.data.processors`.
"""

from __future__ import annotations

from types import ModuleType


def _modules() -> list[ModuleType]:
    from jlce.data import jsem, knp, squad, ud_conllu, xwinograd

    return [squad, jsem, ud_conllu, knp, xwinograd]


def register_formats(register) -> None:
    for module in _modules():
        module.register_readers(register)


def register_task_processors(register) -> None:
    for module in _modules():
        module.register_processors(register)
