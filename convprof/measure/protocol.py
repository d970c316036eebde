"""The one measuring protocol, for an inference and for a training step alike.

On one device: what may not be built or run is skipped with its reason before anything is
allocated; then each variant is built, its first call timed apart (kernel selection and allocation
happen there) and the memory of one more call measured; then every variant is warmed up and timed
in blocks of calls, in rounds that interleave the variants, its raw samples kept and its statistics
derived from them (convprof.measure.timer, convprof.report.stats). What a call is, and how its
memory is measured, is the workload's (convprof.measure.workloads). The caller sets torch's threads
and restores them (convprof.measure.runner).
"""

from __future__ import annotations

import gc
import re
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import ClassVar, Protocol, TypeVar

from convprof.errors import ConvprofError
from convprof.measure.devices import cuda_events, synchronizer
from convprof.measure.options import Preset
from convprof.measure.progress import Steps
from convprof.measure.timer import Samples, Sync, run_rounds, time_once
from convprof.report.results import DeviceLatency, MemoryMeasurement, StepMemory
from convprof.report.stats import summarize
from convprof.units import format_bytes

__all__ = ["ORDER", "Built", "MeasureError", "Workload", "measure_device", "out_of_memory"]

#: Variants are timed in this order within each round.
ORDER = ("conv", "local", "dense")

#: What a workload allocates before any variant is built (its inputs; a training step's gradients).
Tensors = TypeVar("Tensors")


class MeasureError(ConvprofError):
    """Measuring cannot work here (torch.compile without a compiler, say)."""


@dataclass(frozen=True, slots=True)
class Built:
    """A variant built on its device for a workload."""

    call: Callable[[], object]
    """One call, as it is timed: an inference, or a training step."""
    memory: Callable[[], MemoryMeasurement | StepMemory]
    """Measure the memory of one call; made after the first call."""
    compiled: Callable[[], Callable[[], object]] | None = None
    """With torch.compile: make the compiled call (its first call compiles); None without."""


@dataclass(frozen=True, slots=True)
class _Prepared:
    """A variant ready for the rounds: its call and what was measured before them."""

    call: Callable[[], object]
    """The call the rounds time."""
    first_call_ms: float
    """The first call, timed apart (of the compiled call, with torch.compile)."""
    compile_ms: float | None
    """With torch.compile: the compiled call's first call, which compiles it; None without."""
    memory: MemoryMeasurement | StepMemory
    """The memory of one call."""


class Workload(Protocol[Tensors]):
    """What the protocol measures of each variant on one device: an inference, or a training step."""

    building: ClassVar[str]
    """What a variant is built for, in the progress line after its name ("" or " for training")."""
    memory_of: ClassVar[str]
    """What the memory measured is called in the progress line ("memory", "training memory")."""
    timing: ClassVar[str]
    """What the rounds' progress lines say after the device ("" or " training")."""
    errors: ClassVar[tuple[type[BaseException], ...]]
    """What torch raises when it cannot build or call a variant: a skip with the reason."""

    @property
    def device(self) -> str:
        """The device measured on, e.g. cpu or cuda:0."""
        ...

    def reasons(self, limit: int) -> dict[str, str | None]:
        """Return why each variant may not be built within `limit` bytes (None where it may)."""
        ...

    def tensors(self) -> Tensors:
        """Allocate what every variant is called on (MemoryError or RuntimeError where it cannot)."""
        ...

    def build(self, name: str, tensors: Tensors) -> Built:
        """Build variant `name` on the device to be called on `tensors`."""
        ...

    def mode(self) -> AbstractContextManager[object]:
        """Return torch's grad mode for the calls: inference_mode, or enable_grad."""
        ...

    def refusal(self, name: str, why: str) -> str:
        """Say that torch refused to run `name` (not for a lack of memory), `why` being torch's words."""
        ...

    def flops(self, name: str) -> int:
        """Return the FLOPs of one call of `name`."""
        ...

    def roofline(self, name: str, achieved: float | None) -> tuple[float | None, float | None]:
        """Return `name`'s arithmetic intensity and the fraction of the roofline bound that
        `achieved` FLOP/s reaches (None where unknown)."""
        ...


#: "[enforce fail at alloc_cpu.cpp:127] err == 0. " before the allocator's own words.
_ENFORCE = re.compile(r"^\[enforce fail at [^\]]*\] (?:err == 0\. )?")


def first_line(error: BaseException) -> str:
    """Return the first line of torch's message, what it says rather than where it failed."""
    text = str(error).strip().splitlines()
    line = text[0] if text else type(error).__name__
    # torch's allocator prefixes its message with the C++ assertion that failed; the rest is the news.
    # Autograd's errors end in a hint about anomaly detection, which is for debugging torch code.
    return _ENFORCE.sub("", line).partition(" Hint: ")[0]


def out_of_memory(error: BaseException) -> bool:
    """Tell an allocation failure from other errors: CPU and CUDA allocators word it differently."""
    if isinstance(error, MemoryError):
        return True
    text = str(error)
    return "can't allocate memory" in text or "out of memory" in text.lower()


def _prepare(
    workload: Workload[Tensors], name: str, tensors: Tensors, limit: int, sync: Sync, step: Steps
) -> _Prepared | str:
    """Build `name`, time its first call and measure one call's memory; or say why it could not (a
    failure's frames, and the model they hold, are gone once this returns)."""
    device = workload.device
    try:
        built = workload.build(name, tensors)
        with workload.mode():
            first_ms = time_once(built.call, sync)
            step(f"{device}: measuring {workload.memory_of} of {name}")
            memory = built.memory()
    except workload.errors as error:
        if out_of_memory(error):
            return (
                f"{name} could not be allocated on {device} although the guard admitted it "
                f"(limit {format_bytes(limit)}): {first_line(error)}"
            )
        return workload.refusal(name, first_line(error))
    if built.compiled is None:
        return _Prepared(built.call, first_ms, None, memory)
    call = built.compiled()
    try:
        with workload.mode():
            compile_ms = time_once(call, sync)
            first_ms = time_once(call, sync)
    except Exception as error:  # torch.compile raises many kinds; all mean the same here
        raise MeasureError(
            f"--compile failed for {name} on {device}: {first_line(error)} "
            "(torch.compile needs a working C++ compiler on the CPU and Triton on CUDA)"
        ) from error
    return _Prepared(call, first_ms, compile_ms, memory)


def _latency(workload: Workload[Tensors], name: str, prepared: _Prepared, runs: Samples) -> DeviceLatency:
    """Return what was measured of `name`: statistics of its raw samples, its memory and FLOP/s."""
    stats = summarize(runs.raw_ms, runs.rounds)
    achieved = workload.flops(name) / (stats.median_ms / 1000) if stats.median_ms > 0 else None
    intensity, fraction = workload.roofline(name, achieved)
    return DeviceLatency(
        device=workload.device,
        skipped=None,
        stats=stats,
        first_call_ms=prepared.first_call_ms,
        compile_ms=prepared.compile_ms,
        calls_per_sample=runs.calls_per_sample,
        device_stats=summarize(runs.device_ms, runs.rounds) if runs.device_ms else None,
        memory=prepared.memory,
        achieved_flop_per_s=achieved,
        arithmetic_intensity=intensity,
        roofline_fraction=fraction,
    )


def measure_device(
    workload: Workload[Tensors], limit: int, preset: Preset, step: Steps
) -> dict[str, DeviceLatency]:
    """Measure the variants that fit in `limit` bytes on the workload's device; the others carry
    their reason."""
    device = workload.device
    reasons = workload.reasons(limit)
    if all(reason is not None for reason in reasons.values()):
        # Nothing may be built: the input is never allocated either (it may be the largest tensor).
        return {name: DeviceLatency(device, reasons[name]) for name in ORDER}
    try:
        tensors = workload.tensors()
    except (RuntimeError, MemoryError) as error:
        if not out_of_memory(error):
            raise
        why = f"the input could not be allocated on {device}: {first_line(error)}"
        return {name: DeviceLatency(device, reasons[name] or why) for name in ORDER}
    sync = synchronizer(device)
    results: dict[str, DeviceLatency] = {}
    prepared: dict[str, _Prepared] = {}
    for name in ORDER:
        reason = reasons[name]
        if reason is None:
            step(f"{device}: building {name}{workload.building}")
            ready = _prepare(workload, name, tensors, limit, sync, step)
            if not isinstance(ready, str):
                prepared[name] = ready
                continue
            gc.collect()  # what the failed variant allocated, before the next one is built
            reason = ready
        results[name] = DeviceLatency(device, reason)
    if prepared:
        with workload.mode():
            samples = run_rounds(
                {name: ready.call for name, ready in prepared.items()},
                preset,
                sync,
                cuda_events(device),
                on_step=lambda what: step(f"{device}{workload.timing}: {what}"),
            )
        results.update((name, _latency(workload, name, prepared[name], samples[name])) for name in samples)
    prepared.clear()
    gc.collect()
    if device.startswith("cuda"):
        import torch

        torch.cuda.empty_cache()
    return {name: results[name] for name in ORDER}
