"""Energy profiler: joules per GPU over the run, and per generated token / request / second.

Reads each device's cumulative energy counter at `jlce_run_start` and at `jlce_run_end`: NVML
`nvmlDeviceGetTotalEnergyConsumption` (millijoules, Volta and newer) or AMD SMI
`amdsmi_get_energy_count` (ticks × resolution in microjoules). Two reads per run, no sampling, so
the overhead is a library initialisation (tens of milliseconds). Counters are per device: energy
spent by other processes on the same GPU is included. Without NVML/AMD SMI or a GPU the section
says `available: false` and why.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from jlce.hookspecs import hookimpl
from jlce.plugins._devices import DeviceMonitor, open_monitor
from jlce.specs import ProfilerSpec


@hookimpl
def jlce_register_profilers(register):
    register(ProfilerSpec("energy", "jlce.plugins.energy:EnergyProfiler",
                          description="GPU energy (NVML / AMD SMI counters): joules per device and per generated token"))


class EnergyProfiler:
    """No options."""

    def __init__(self, options: Mapping[str, Any] | None = None):
        self.monitor: DeviceMonitor | None = None
        self._start: dict[int, float | None] = {}
        self._t0 = 0.0  # perf_counter() at start(); report() starts first
        self._requests = self._prompt_tokens = self._generated_tokens = 0
        self._opened = False

    def start(self) -> None:
        if self._opened:
            return
        self._opened = True
        self.monitor = open_monitor()
        self._t0 = time.perf_counter()
        if self.monitor is not None:
            self._start = {gpu.index: self.monitor.energy_joules(gpu) for gpu in self.monitor.gpus}

    def close(self) -> None:
        if self.monitor is not None:
            self.monitor.close()

    @hookimpl
    def jlce_run_start(self, run):
        self.start()

    @hookimpl
    def jlce_after_batch(self, run, event):
        self._requests += event.size
        self._prompt_tokens += event.prompt_tokens
        self._generated_tokens += event.generated_tokens

    def report(self) -> dict[str, Any]:
        self.start()
        seconds = time.perf_counter() - self._t0
        if self.monitor is None:
            return {"available": False, "reason": "no GPU energy counter (NVML / AMD SMI absent, or no device)"}
        devices = []
        total = 0.0
        for gpu in self.monitor.gpus:
            start, end = self._start.get(gpu.index), self.monitor.energy_joules(gpu)
            joules = end - start if start is not None and end is not None and end >= start else None
            devices.append({"index": gpu.index, "name": gpu.name, "uuid": gpu.uuid, "joules": joules,
                            "mean_watts": joules / seconds if joules is not None and seconds > 0 else None})
            total += joules or 0.0
        self.close()
        measured = any(device["joules"] is not None for device in devices)
        if not measured:
            return {"available": False, "reason": "the devices do not report an energy counter", "devices": devices}

        def per(amount: int) -> float | None:
            return total / amount if amount else None

        return {"available": True, "library": {"nvidia": "nvml", "amd": "amdsmi"}[self.monitor.vendor],
                "seconds": seconds, "joules": total, "mean_watts": total / seconds if seconds > 0 else None,
                "joules_per_generated_token": per(self._generated_tokens), "joules_per_request": per(self._requests),
                "joules_per_prompt_token": per(self._prompt_tokens), "generated_tokens": self._generated_tokens,
                "devices": devices}

    @hookimpl
    def jlce_run_end(self, run):
        return {"profile": {"energy": self.report()}}
