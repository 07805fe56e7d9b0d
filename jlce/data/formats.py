"""Source formats and processors of the JLCE benchmark's tasks, from the modules that define them.

Each module listed in TASK_DATA_MODULES has `register_readers(register)` and
`register_processors(register)`.
"""

from __future__ import annotations


TASK_DATA_MODULES = ("jlce.data.semantic_reasoning", "jlce.data.syntactic_generation", "jlce.data.xwinograd")


def _modules():
    import importlib.util

    for name in TASK_DATA_MODULES:
        if importlib.util.find_spec(name) is not None:
            yield importlib.import_module(name)


def register_formats(register) -> None:
    for module in _modules():
        module.register_readers(register)


def register_task_processors(register) -> None:
    for module in _modules():
        module.register_processors(register)
