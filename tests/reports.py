"""Build measured reports in tests: the typed results a machine would record, timings made up."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

from convprof.report import Report
from convprof.report.results import CudaEnvironment, DeviceLatency, Environment, StepMemory
from convprof.report.stats import summarize

#: Samples per made-up measurement.
SAMPLES = 5


def gpu(device: str, name: str) -> CudaEnvironment:
    """Describe a GPU as `convprof compare` records it."""
    return CudaEnvironment(device, name, "9.0", "560.35.03", "12.6", 90501, True, False, True, 2**36)


def environment(
    cpu_model: str, threads: int, torch_version: str, gpus: Sequence[CudaEnvironment] = ()
) -> Environment:
    """Describe a machine as `convprof compare` records it."""
    return Environment(
        convprof_version="0.1.0",
        python_version="3.12.1",
        torch_version=torch_version,
        platform="Linux-x86_64",
        cpu_model=cpu_model,
        logical_cores=max(threads, 2),
        threads=threads,
        env_threads=(),
        load_before=(0.5, 0.5, 0.5),
        load_after=(0.75, 0.5, 0.5),
        preset="quick",
        dtype="float32",
        batch_size=1,
        channels_last=False,
        compiled=False,
        cpu_memory_limit_bytes=2**33,
        cuda=tuple(gpus),
        calibration=(),
    )


def latency(device: str, raw_ms: Sequence[float], rounds: Sequence[int] | None = None) -> DeviceLatency:
    """One device's result from its raw samples (all in round 0 unless `rounds` says otherwise)."""
    return DeviceLatency(device, None, summarize(raw_ms, rounds), first_call_ms=1.0, calls_per_sample=1)


def measured(
    report: Report, medians: Mapping[str, Mapping[str, float]], where: Environment | None = None
) -> Report:
    """Return `report` with each variant's latency per device, SAMPLES equal samples at its median."""
    variants = tuple(
        replace(
            v,
            latency=tuple(latency(device, [ms] * SAMPLES) for device, ms in medians[v.name].items()),
        )
        for v in report.variants
    )
    return replace(report, variants=variants, environment=where)


def step(
    device: str, raw_ms: Sequence[float], rounds: Sequence[int] | None = None, peak: int = 2048
) -> DeviceLatency:
    """One device's training step from its raw samples, its memory `peak` bytes (the estimate 2,048)."""
    memory = StepMemory(1024, peak, 2048, "dispatch-tracking")
    stats = summarize(raw_ms, rounds)
    return DeviceLatency(
        device, None, stats, first_call_ms=5.0, calls_per_sample=1, memory=memory, achieved_flop_per_s=1e9
    )


def trained(report: Report, medians: Mapping[str, Mapping[str, float]]) -> Report:
    """Return `report` with each variant's training step per device, SAMPLES equal samples at its
    median (a device whose median is 0 skipped)."""
    variants = tuple(
        replace(
            v,
            training_latency=tuple(
                step(device, [ms] * SAMPLES) if ms else DeviceLatency(device, f"{v.name} too large")
                for device, ms in medians[v.name].items()
            ),
        )
        for v in report.variants
    )
    return replace(report, variants=variants)
