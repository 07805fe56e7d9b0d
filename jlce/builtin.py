"""The core's own plugin: built-in metrics, filters, data readers, document processors and the
packaged task directory. Registered through the same hooks a third-party plugin uses."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from jlce.hookspecs import hookimpl


@hookimpl
def jlce_register_task_dirs(register):
    register(Path(str(resources.files("jlce.builtin_tasks"))))


@hookimpl
def jlce_register_metrics(register):
    from jlce.metrics import register_metrics

    register_metrics(register)


@hookimpl
def jlce_register_presets(register):
    from jlce.presets import register_presets

    register_presets(register)


@hookimpl
def jlce_register_model_aliases(register):
    from jlce.modelalias import register_model_aliases

    register_model_aliases(register)


@hookimpl
def jlce_register_filters(register):
    from jlce.filters import register_filters

    register_filters(register)


@hookimpl
def jlce_register_readers(register):
    from jlce.data.formats import register_formats
    from jlce.data.readers import register_readers

    register_readers(register)
    register_formats(register)


@hookimpl
def jlce_register_processors(register):
    from jlce.data.formats import register_task_processors
    from jlce.data.processors import register_processors

    register_processors(register)
    register_task_processors(register)
