"""Everything a plugin author needs, in one import: `from jlce.plugin import hookimpl, MetricSpec, ...`.

See docs/plugins.md (one section per hook, each with a runnable example). The names here are the
stable plugin API; modules behind them may move.
"""

from __future__ import annotations

from jlce.backend import Backend, BackendConfig, BatchOutput, Capability, UnsupportedRequest, supports
from jlce.backendargs import backend_options
from jlce.contributions import own_section
from jlce.errors import ConfigError, DataError, PluginError, UserError
from jlce.events import BatchEvent, RunContext, StageEvent
from jlce.hookcall import current_plugin
from jlce.hookspecs import hookimpl
from jlce.modelalias import ModelAliasSpec
from jlce.presets import PresetSpec
from jlce.requests import (
    GenerateRequest,
    GenerateResult,
    GenerationParams,
    LoglikelihoodRequest,
    LoglikelihoodResult,
    RollingLoglikelihoodRequest,
)
from jlce.samples import SampleView
from jlce.sampling import Overrides
from jlce.specs import (
    BackendSpec,
    FilterSpec,
    LoggerSpec,
    MetricResult,
    MetricSpec,
    ProcessorSpec,
    ProfilerSpec,
    ReaderSpec,
)

__all__ = [
    # hooks
    "hookimpl", "current_plugin",
    # what registration hooks register
    "BackendSpec", "MetricSpec", "MetricResult", "FilterSpec", "ReaderSpec", "ProcessorSpec", "ProfilerSpec",
    "PresetSpec", "Overrides", "LoggerSpec", "ModelAliasSpec",
    # backends
    "Backend", "BackendConfig", "backend_options", "BatchOutput", "Capability", "supports", "UnsupportedRequest",
    "LoglikelihoodRequest", "RollingLoglikelihoodRequest", "GenerateRequest", "GenerationParams",
    "LoglikelihoodResult", "GenerateResult",
    # what lifecycle hooks and metrics receive
    "RunContext", "StageEvent", "BatchEvent", "SampleView", "own_section",
    # errors
    "UserError", "ConfigError", "DataError", "PluginError",
]
