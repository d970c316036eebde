"""Measure every variant of a report on each device asked for, an inference and a training step
alike (convprof.measure.protocol), and record where it ran."""

from __future__ import annotations

import gc
import platform
import sys
from dataclasses import replace
from typing import TYPE_CHECKING

from convprof.errors import UsageError
from convprof.measure.devices import cudnn_benchmark, memory_limit, resolve_devices
from convprof.measure.environment import (
    cpu_model,
    cuda_environment,
    load_average,
    thread_variables,
    versions,
)
from convprof.measure.options import PRESETS, MeasureOptions
from convprof.measure.progress import Steps
from convprof.measure.protocol import ORDER, measure_device
from convprof.measure.roofline import CalibrationCacheError, calibration_key, load_calibrations
from convprof.measure.timer import cpu_threads
from convprof.measure.workloads import Inference, Training
from convprof.report.results import CudaEnvironment, DeviceLatency, Environment
from convprof.safetext import printable

if TYPE_CHECKING:
    from convprof.report import Report
    from convprof.spec import ModelSpec

__all__ = ["run", "step_count"]


def _quiet(description: str) -> None:
    del description


#: Warnings already printed: a sweep measures many points, and each would repeat the same one.
_WARNED: set[str] = set()


def warn(message: str) -> None:
    """Print one warning line on stderr, once per process."""
    if message not in _WARNED:
        _WARNED.add(message)
        print(printable(f"convprof: warning: {message}"), file=sys.stderr)


def step_count(devices: tuple[str, ...], rounds: int, training_devices: tuple[str, ...] = ()) -> int:
    """Return the progress steps of a measurement: loading torch, then per device and variant (for
    inference, and for a training step) a build, a memory measurement, a warm-up and one step per
    round (a guess for `auto` and `all`)."""
    return 1 + (len(devices) + len(training_devices)) * len(ORDER) * (3 + rounds)


def run(spec: ModelSpec, report: Report, options: MeasureOptions, *, step: Steps | None = None) -> Report:
    """Measure `report`'s variants as `options` ask; see convprof.measure.measure_report."""
    import torch  # first, so that the freeze below covers what it creates

    del torch
    # torch's import leaves hundreds of thousands of objects that every full collection walks
    # (0.25 s each, a tenth of a quick measurement); none of them is garbage, so hide them meanwhile.
    # Not where the process froze objects itself (as a pre-forking server does): it keeps them so,
    # and unfreezing ours would unfreeze its own.
    ours = gc.get_freeze_count() == 0
    if ours:
        gc.freeze()
    try:
        return _run(spec, report, options, step if step is not None else _quiet)
    finally:
        if ours:
            gc.unfreeze()


def _run(spec: ModelSpec, report: Report, options: MeasureOptions, step: Steps) -> Report:
    import torch

    if (spec.batch_size, spec.dtype) != (report.spec.batch_size, report.spec.dtype):
        raise UsageError("the spec and the report differ in batch size or dtype")
    inference = resolve_devices(options.devices, options.asked_by)
    training = resolve_devices(options.training_devices, options.asked_by)
    devices = tuple(dict.fromkeys((*inference, *training)))
    preset = PRESETS[options.preset]
    try:
        calibrations = load_calibrations()
    except CalibrationCacheError as error:
        warn(f"{error}; measuring without a roofline")
        calibrations = {}
    found: dict[str, list[DeviceLatency]] = {v.name: [] for v in report.variants}
    trained: dict[str, list[DeviceLatency]] = {v.name: [] for v in report.variants}
    cuda_envs: list[CudaEnvironment] = []
    cpu_limit = memory_limit("cpu", options)
    used: list[tuple[str, float, float]] = []
    load_before = load_average()
    with cpu_threads(options.threads):
        for device in devices:
            limit = cpu_limit if device == "cpu" else memory_limit(device, options)
            key = calibration_key(
                device.split(":")[0] if device == "cpu" else device, spec.dtype, options.threads
            )
            calibration = calibrations.get(key)
            if calibration is not None:
                used.append((device, calibration.peak_flop_per_s, calibration.copy_bytes_per_s))
            with cudnn_benchmark(device.startswith("cuda")):
                if device.startswith("cuda"):
                    cuda_envs.append(cuda_environment(device, limit))
                if device in inference:
                    workload = Inference(spec, report, device, options, calibration)
                    for name, result in measure_device(workload, limit, preset, step).items():
                        found[name].append(result)
                if device in training:
                    steps = Training.on(spec, report, device, options)
                    for name, result in measure_device(steps, limit, preset, step).items():
                        trained[name].append(result)
    convprof_version, python_version, torch_version = versions()
    del torch
    environment = Environment(
        convprof_version=convprof_version,
        python_version=python_version,
        torch_version=torch_version,
        platform=platform.platform(),
        cpu_model=cpu_model(),
        logical_cores=__import__("os").cpu_count() or 1,
        threads=options.threads,
        env_threads=thread_variables(),
        load_before=load_before,
        load_after=load_average(),
        preset=preset.name,
        dtype=spec.dtype,
        batch_size=spec.batch_size,
        channels_last=options.channels_last,
        compiled=options.compile,
        cpu_memory_limit_bytes=cpu_limit,
        cuda=tuple(cuda_envs),
        calibration=tuple(used),
    )
    variants = tuple(
        replace(
            v,
            latency=tuple(found[v.name]) if inference else v.latency,
            training_latency=tuple(trained[v.name]) if training else v.training_latency,
        )
        for v in report.variants
    )
    return replace(report, variants=variants, environment=environment)
