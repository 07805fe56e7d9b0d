"""GPU monitoring through NVML (`nvidia-ml-py`) or AMD SMI (`amdsmi`), whichever is present.

`open_monitor()` returns a `DeviceMonitor` over the devices this process may use, or None when
neither library (or no driver) is there. Every reading returns None when the device does not
support it; nothing here raises past `open_monitor`. The libraries are imported lazily.
"""

from __future__ import annotations

import logging
import os
import threading
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Gpu:
    """One device as the monitoring library numbers it."""

    index: int
    vendor: str  # nvidia | amd
    name: str
    uuid: str | None
    memory_total_bytes: int | None
    handle: Any

    def describe(self) -> dict[str, Any]:
        return {"index": self.index, "vendor": self.vendor, "name": self.name, "uuid": self.uuid,
                "memory_total_bytes": self.memory_total_bytes}


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _visible(gpus: list[Gpu], variable: str) -> list[Gpu]:
    """Devices named by CUDA_VISIBLE_DEVICES / HIP_VISIBLE_DEVICES (indices or UUID prefixes), all when unset."""
    value = os.environ.get(variable)
    if value is None:
        return gpus
    wanted = [part.strip() for part in value.split(",") if part.strip()]
    chosen = []
    for entry in wanted:
        if entry.startswith("-"):
            break  # CUDA stops at the first invalid entry
        for gpu in gpus:
            if entry == str(gpu.index) or (gpu.uuid and gpu.uuid.startswith(entry)) or (gpu.uuid and gpu.uuid.endswith(entry)):
                if gpu not in chosen:
                    chosen.append(gpu)
    if not chosen and any(entry.startswith("MIG-") for entry in wanted):
        return gpus  # MIG instances have no NVML index of their own here: watch the parent GPUs
    return chosen


class DeviceMonitor(ABC):
    """Readings from one monitoring library. Call `close()` when done (idempotent)."""

    vendor = ""

    def __init__(self, gpus: list[Gpu]):
        self.gpus = gpus
        self._closed = False

    @abstractmethod
    def memory_used(self, gpu: Gpu) -> int | None:
        """Device memory in use, in bytes."""

    @abstractmethod
    def energy_joules(self, gpu: Gpu) -> float | None:
        """Energy used since the driver loaded, in joules (a monotonic counter)."""

    def software(self) -> dict[str, Any]:
        """Driver and runtime versions."""
        return {}

    def close(self) -> None:
        self._closed = True


class NvmlMonitor(DeviceMonitor):
    vendor = "nvidia"

    def __init__(self, pynvml: Any):
        self._nvml = pynvml
        gpus = []
        for index in range(pynvml.nvmlDeviceGetCount()):
            handle = pynvml.nvmlDeviceGetHandleByIndex(index)
            gpus.append(Gpu(index, "nvidia", _text(pynvml.nvmlDeviceGetName(handle)),
                            _safe(lambda h=handle: _text(pynvml.nvmlDeviceGetUUID(h))),
                            _safe(lambda h=handle: int(pynvml.nvmlDeviceGetMemoryInfo(h).total)), handle))
        super().__init__(_visible(gpus, "CUDA_VISIBLE_DEVICES"))

    def memory_used(self, gpu: Gpu) -> int | None:
        return _safe(lambda: int(self._nvml.nvmlDeviceGetMemoryInfo(gpu.handle).used))

    def energy_joules(self, gpu: Gpu) -> float | None:
        millijoules = _safe(lambda: self._nvml.nvmlDeviceGetTotalEnergyConsumption(gpu.handle))
        return None if millijoules is None else millijoules / 1000.0

    def software(self) -> dict[str, Any]:
        cuda = _safe(self._nvml.nvmlSystemGetCudaDriverVersion)
        return {"nvidia_driver": _safe(lambda: _text(self._nvml.nvmlSystemGetDriverVersion())),
                "cuda_driver": f"{cuda // 1000}.{cuda % 1000 // 10}" if isinstance(cuda, int) else None}

    def close(self) -> None:
        if not self._closed:
            _safe(self._nvml.nvmlShutdown)  # NVML counts init/shutdown pairs itself
        super().close()


class AmdSmiMonitor(DeviceMonitor):
    vendor = "amd"
    _lock = threading.Lock()
    _users = 0  # amdsmi_shut_down is not reference-counted: do it ourselves

    def __init__(self, amdsmi: Any):
        self._smi = amdsmi
        gpus = []
        for index, handle in enumerate(amdsmi.amdsmi_get_processor_handles()):
            name = _safe(lambda h=handle: amdsmi.amdsmi_get_gpu_asic_info(h)["market_name"]) or "AMD GPU"
            gpus.append(Gpu(index, "amd", _text(name), _safe(lambda h=handle: _text(amdsmi.amdsmi_get_gpu_device_uuid(h))),
                            _safe(lambda h=handle: int(amdsmi.amdsmi_get_gpu_memory_total(h, amdsmi.AmdSmiMemoryType.VRAM))),
                            handle))
        visible = "HIP_VISIBLE_DEVICES" if "HIP_VISIBLE_DEVICES" in os.environ else "ROCR_VISIBLE_DEVICES"
        super().__init__(_visible(gpus, visible))

    def memory_used(self, gpu: Gpu) -> int | None:
        return _safe(lambda: int(self._smi.amdsmi_get_gpu_memory_usage(gpu.handle, self._smi.AmdSmiMemoryType.VRAM)))

    def energy_joules(self, gpu: Gpu) -> float | None:
        reading = _safe(lambda: self._smi.amdsmi_get_energy_count(gpu.handle))
        if not reading:
            return None
        ticks = reading.get("energy_accumulator", reading.get("power"))  # renamed in ROCm 6.x
        resolution = reading.get("counter_resolution")  # microjoules per tick
        if ticks is None or resolution is None:
            return None
        return float(ticks) * float(resolution) / 1e6

    def software(self) -> dict[str, Any]:
        driver = None
        if self.gpus:
            driver = _safe(lambda: self._smi.amdsmi_get_gpu_driver_info(self.gpus[0].handle)["driver_version"])
        return {"amdgpu_driver": driver}

    def close(self) -> None:
        if not self._closed:
            _release_amdsmi(self._smi)
        super().close()


def _acquire_amdsmi(amdsmi: Any) -> None:
    with AmdSmiMonitor._lock:
        if AmdSmiMonitor._users == 0:
            amdsmi.amdsmi_init()
        AmdSmiMonitor._users += 1


def _release_amdsmi(amdsmi: Any) -> None:
    with AmdSmiMonitor._lock:
        AmdSmiMonitor._users -= 1
        if AmdSmiMonitor._users == 0:
            _safe(amdsmi.amdsmi_shut_down)


def _safe(call: Any) -> Any:
    try:
        return call()
    except Exception:  # unsupported on this device or driver: no reading
        return None


def open_monitor() -> DeviceMonitor | None:
    """NVML first, then AMD SMI; None when neither library, driver or device is available."""
    try:
        import pynvml

        pynvml.nvmlInit()
    except Exception as error:  # not installed, or no NVIDIA driver
        log.debug("NVML unavailable: %s", error)
    else:
        try:
            monitor = NvmlMonitor(pynvml)
        except Exception as error:
            log.debug("NVML failed: %s", error)
            _safe(pynvml.nvmlShutdown)
        else:
            if monitor.gpus:
                return monitor
            monitor.close()
    try:
        import amdsmi

        _acquire_amdsmi(amdsmi)
    except Exception as error:
        log.debug("AMD SMI unavailable: %s", error)
        return None
    try:
        amd = AmdSmiMonitor(amdsmi)
    except Exception as error:
        log.debug("AMD SMI failed: %s", error)
        _release_amdsmi(amdsmi)
        return None
    if amd.gpus:
        return amd
    amd.close()
    return None
