"""Memory profiler: peak process RSS, peak torch device allocation, device memory, engine KV cache.

- Process: the kernel's RSS high-water mark (`getrusage`, exact) plus RSS of this process and of
  its children (vLLM engine workers) sampled by a background thread.
- torch: `max_memory_allocated` / `max_memory_reserved` per device, only when torch is *already*
  imported and has initialised CUDA/ROCm (this profiler never imports torch or creates a context).
- Devices: memory in use per GPU sampled through NVML (`nvidia-ml-py`) or `amdsmi`; this sees
  memory held by other processes too, which is how a vLLM engine in its own process is measured.
- KV cache of an inference engine: `backend.describe()["kv_cache"]` (e.g. vLLM's
  `num_gpu_blocks`, `kv_cache_memory_bytes`) and peak/mean of `BatchEvent.extra["kv_cache_usage"]`
  (a fraction in [0, 1]).

Option `interval` (seconds, default 0.5): the sampling period. The sampler is a daemon thread
named `jlce-memory-sampler`; it stops at `jlce_run_end` and in `close()` (called by
`jlce.profiling.stop_profilers` on every path), and `live_samplers()` lists any still running.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Mapping
from typing import Any


from jlce.errors import UserError
from jlce.hookspecs import hookimpl
from jlce.plugins._devices import DeviceMonitor, open_monitor
from jlce.specs import ProfilerSpec

THREAD_NAME = "jlce-memory-sampler"
CHILDREN_REFRESH_S = 10.0  # how often the sampler looks for new child processes (engine workers)


@hookimpl
def jlce_register_profilers(register):
    register(ProfilerSpec("memory", "jlce.plugins.memory:MemoryProfiler",
                          description="peak RSS, torch device peaks, NVML/AMD SMI device memory (sampled), engine KV cache"))


def live_samplers() -> list[threading.Thread]:
    """Memory sampler threads still alive in this process (empty after every run has ended)."""
    return [thread for thread in threading.enumerate() if thread.name.startswith(THREAD_NAME) and thread.is_alive()]


def kernel_peak_rss() -> int | None:
    """This process's RSS high-water mark since it started, in bytes (None where unsupported)."""
    try:
        import resource
    except ImportError:  # Windows
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024  # Linux reports KiB


def torch_device_peaks() -> list[dict[str, Any]] | None:
    """Per-device torch allocator peaks, when torch is loaded and its device runtime initialised."""
    torch = sys.modules.get("torch")
    if torch is None or not hasattr(torch, "cuda"):
        return None
    try:
        if not torch.cuda.is_initialized():
            return None
        runtime = "rocm" if getattr(torch.version, "hip", None) else "cuda"
        return [{"device": index, "name": torch.cuda.get_device_name(index), "runtime": runtime,
                 "peak_allocated_bytes": int(torch.cuda.max_memory_allocated(index)),
                 "peak_reserved_bytes": int(torch.cuda.max_memory_reserved(index))}
                for index in range(torch.cuda.device_count())]
    except Exception:  # a broken runtime must not cost the run its other figures
        return None


class _Sampler(threading.Thread):
    """Samples RSS and device memory every `interval` seconds until `stop()`."""

    def __init__(self, interval: float, monitor: DeviceMonitor | None):
        import psutil  # here, not at import: `jlce ls` loads this plugin and must stay instant

        super().__init__(name=THREAD_NAME, daemon=True)
        self._psutil_error = psutil.Error
        self.interval = interval
        self.monitor = monitor
        self.process = psutil.Process(os.getpid())
        self._halt = threading.Event()
        self._lock = threading.Lock()
        self.samples = 0
        self.peak_rss = 0
        self.peak_children_rss = 0
        self.peak_device: dict[int, int] = {}
        self.error: str | None = None
        self._children: list = []
        self._children_listed_at = float("-inf")

    def refresh_children(self) -> None:
        """Look for child processes again (scanning /proc is what costs; their RSS is cheap)."""
        self._children_listed_at = float("-inf")

    def _children_rss(self) -> int:
        now = time.monotonic()
        if now - self._children_listed_at >= CHILDREN_REFRESH_S:
            self._children = self.process.children(recursive=True)
            self._children_listed_at = now
        total = 0
        for child in self._children:
            try:
                total += child.memory_info().rss
            except self._psutil_error:  # exited meanwhile
                continue
        return total

    def sample(self) -> None:
        rss = self.process.memory_info().rss
        children = self._children_rss()
        device = {}
        if self.monitor is not None:
            for gpu in self.monitor.gpus:
                used = self.monitor.memory_used(gpu)
                if used is not None:
                    device[gpu.index] = used
        with self._lock:
            self.samples += 1
            self.peak_rss = max(self.peak_rss, rss)
            self.peak_children_rss = max(self.peak_children_rss, children)
            for index, used in device.items():
                self.peak_device[index] = max(self.peak_device.get(index, 0), used)

    def run(self) -> None:
        while not self._halt.is_set():
            try:
                self.sample()
            except Exception as error:  # record, stop sampling, never raise in a thread
                self.error = f"{type(error).__name__}: {error}"
                return
            self._halt.wait(self.interval)

    def stop(self, timeout: float = 5.0) -> None:
        self._halt.set()
        if self.is_alive() and threading.current_thread() is not self:
            self.join(timeout)


class MemoryProfiler:
    def __init__(self, options: Mapping[str, Any] | None = None):
        options = dict(options or {})
        interval = float(options.get("interval", 0.5))
        if not interval > 0:
            raise UserError(f"memory profiler: interval must be a positive number of seconds, not {options.get('interval')!r}")
        self.interval = interval
        self.monitor: DeviceMonitor | None = None
        self.sampler: _Sampler | None = None
        self._start_device: dict[int, int | None] = {}
        self._start_rss = 0
        self._kv_usage: list[float] = []
        self._engine_kv: dict[str, Any] | None = None

    def start(self) -> "_Sampler":
        """Start sampling (once) and return the sampler."""
        if self.sampler is not None:
            return self.sampler
        import psutil

        self._start_rss = psutil.Process(os.getpid()).memory_info().rss
        self.monitor = open_monitor()
        if self.monitor is not None:
            self._start_device = {gpu.index: self.monitor.memory_used(gpu) for gpu in self.monitor.gpus}
        sampler = self.sampler = _Sampler(self.interval, self.monitor)
        sampler.start()
        return sampler

    def close(self) -> None:
        """Stop the sampler and release the monitoring library; safe to call more than once."""
        if self.sampler is not None:
            self.sampler.stop()
        if self.monitor is not None:
            self.monitor.close()

    @hookimpl
    def jlce_run_start(self, run):
        self.start()

    @hookimpl
    def jlce_model_loaded(self, run):
        if self.sampler is not None:
            self.sampler.refresh_children()  # an engine may have started its workers
        self._read_engine_kv(run)

    @hookimpl
    def jlce_after_batch(self, run, event):
        usage = event.extra.get("kv_cache_usage")
        if isinstance(usage, (int, float)):
            self._kv_usage.append(float(usage))

    def _read_engine_kv(self, run: Any) -> None:
        if run.backend is not None:
            kv = run.backend.describe().get("kv_cache")
            if isinstance(kv, Mapping):
                self._engine_kv = dict(kv)

    def report(self) -> dict[str, Any]:
        sampler = self.start()  # a run_end without a run_start still gets one sample
        if sampler.error is None and sampler.is_alive():
            try:
                sampler.sample()  # the state at the end counts too
            except Exception as error:
                sampler.error = f"{type(error).__name__}: {error}"
        import psutil

        end_rss = psutil.Process(os.getpid()).memory_info().rss
        kernel_peak = kernel_peak_rss()
        end_device = {gpu.index: self.monitor.memory_used(gpu) for gpu in self.monitor.gpus} if self.monitor else {}
        self.close()
        report: dict[str, Any] = {
            "interval_s": self.interval,
            "samples": sampler.samples,
            "process": {
                "peak_rss_bytes": max(kernel_peak or 0, sampler.peak_rss),
                "kernel_peak_rss_bytes": kernel_peak,
                "sampled_peak_rss_bytes": sampler.peak_rss,
                "sampled_peak_children_rss_bytes": sampler.peak_children_rss,
                "start_rss_bytes": self._start_rss,
                "end_rss_bytes": end_rss,
            },
            "device_library": {"nvidia": "nvml", "amd": "amdsmi"}.get(self.monitor.vendor) if self.monitor else None,
            "devices": [
                {**gpu.describe(), "start_used_bytes": self._start_device.get(gpu.index),
                 "peak_used_bytes": sampler.peak_device.get(gpu.index), "end_used_bytes": end_device.get(gpu.index)}
                for gpu in (self.monitor.gpus if self.monitor else [])
            ],
        }
        torch_peaks = torch_device_peaks()
        if torch_peaks is not None:
            report["torch"] = torch_peaks
        kv: dict[str, Any] = dict(self._engine_kv or {})
        if self._kv_usage:
            kv.update(peak_usage=max(self._kv_usage), mean_usage=sum(self._kv_usage) / len(self._kv_usage))
        if kv:
            report["engine_kv_cache"] = kv
        if sampler.error:
            report["sampler_error"] = sampler.error
        return report

    @hookimpl
    def jlce_run_end(self, run):
        if self._engine_kv is None:
            self._read_engine_kv(run)
        return {"profile": {"memory": self.report()}}
