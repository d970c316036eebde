"""Measure every variant of a report on each device: guard, build, first call, memory, rounds; for
inference, and for a training step."""

from __future__ import annotations

import gc
import platform
import re
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from functools import partial
from typing import TYPE_CHECKING, Any

from convprof.errors import ConvprofError, UsageError
from convprof.graph.training import TrainingCost, training_cost, untrainable
from convprof.measure.environment import (
    cpu_model,
    cuda_environment,
    load_average,
    thread_variables,
    versions,
)
from convprof.measure.guard import admit, admit_training, input_bytes, unbuildable
from convprof.measure.memory import measure_memory
from convprof.measure.options import (
    CPU_MEMORY_FRACTION,
    CUDA_MEMORY_FRACTION,
    PRESETS,
    MeasureOptions,
    Preset,
    available_memory,
)
from convprof.measure.progress import Steps
from convprof.measure.roofline import (
    Calibration,
    CalibrationCacheError,
    arithmetic_intensity,
    bound,
    calibration_key,
    load_calibrations,
)
from convprof.measure.timer import cpu_threads, run_rounds, time_once
from convprof.report.results import CudaEnvironment, DeviceLatency, Environment, StepMemory
from convprof.report.stats import summarize
from convprof.safetext import printable
from convprof.units import format_bytes, plural

if TYPE_CHECKING:
    import torch

    from convprof.report import Report
    from convprof.spec import ModelSpec

__all__ = ["MeasureError", "resolve_devices", "run", "step_count"]

#: Variants are timed in this order within each round.
ORDER = ("conv", "local", "dense")


class MeasureError(ConvprofError):
    """Measuring cannot work here (torch.compile without a compiler, say)."""


def resolve_devices(
    requested: tuple[str, ...], asked_by: tuple[tuple[str, str], ...] = ()
) -> tuple[str, ...]:
    """Return the devices to measure; asking for CUDA without it is an error, never a CPU run.

    `asked_by` says what asked for a device (a budget, an option), for that error; `--device` by
    default."""
    asking = dict(asked_by)
    from convprof.measure import load_torch

    torch = load_torch()

    available = torch.cuda.is_available()
    count = torch.cuda.device_count() if available else 0
    devices: list[str] = []
    for entry in requested:
        if entry == "cpu":
            devices.append("cpu")
        elif entry == "auto":
            devices += ["cpu", "cuda:0"] if available else ["cpu"]
        elif entry == "all":
            devices += ["cpu", *(f"cuda:{i}" for i in range(count))]
        else:
            index = int(entry.partition(":")[2] or 0)
            asked = asking.get(entry, f"--device {entry}")
            if not available:
                build = f"with CUDA {torch.version.cuda}" if torch.version.cuda else "for the CPU only"
                raise UsageError(
                    f"{asked}: CUDA is not available here (torch {torch.__version__}, built {build})"
                )
            if index >= count:
                raise UsageError(f"{asked}: only {plural(count, 'CUDA device')} present")
            devices.append(f"cuda:{index}")
    return tuple(dict.fromkeys(devices))


def _quiet(description: str) -> None:
    del description


#: Warnings already printed: a sweep measures many points, and each would repeat the same one.
_WARNED: set[str] = set()


def warn(message: str) -> None:
    """Print one warning line on stderr, once per process."""
    if message not in _WARNED:
        _WARNED.add(message)
        print(printable(f"convprof: warning: {message}"), file=sys.stderr)


def _limit(device: str, options: MeasureOptions) -> int:
    if options.max_memory is not None:
        return options.max_memory
    if device.startswith("cuda"):
        import torch

        free, _total = torch.cuda.mem_get_info(device)
        return int(free * CUDA_MEMORY_FRACTION)
    return int(available_memory() * CPU_MEMORY_FRACTION)


@contextmanager
def _cudnn_benchmark(enabled: bool) -> Iterator[None]:
    """Let cuDNN pick the fastest kernels for our fixed shapes; restore the setting afterwards."""
    import torch

    previous = torch.backends.cudnn.benchmark
    torch.backends.cudnn.benchmark = enabled or previous
    try:
        yield
    finally:
        torch.backends.cudnn.benchmark = previous


def step_count(devices: tuple[str, ...], rounds: int, training_devices: tuple[str, ...] = ()) -> int:
    """Return the progress steps of a measurement: loading torch, then per device and variant (for
    inference, and for a training step) a build, a memory measurement, a warm-up and one step per
    round (a guess for `auto` and `all`)."""
    return 1 + (len(devices) + len(training_devices)) * len(ORDER) * (3 + rounds)


#: "[enforce fail at alloc_cpu.cpp:127] err == 0. " before the allocator's own words.
_ENFORCE = re.compile(r"^\[enforce fail at [^\]]*\] (?:err == 0\. )?")


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    line = text[0] if text else type(error).__name__
    # torch's allocator prefixes its message with the C++ assertion that failed; the rest is the news.
    # Autograd's errors end in a hint about anomaly detection, which is for debugging torch code.
    return _ENFORCE.sub("", line).partition(" Hint: ")[0]


def _out_of_memory(error: BaseException) -> bool:
    """Tell an allocation failure from other errors: CPU and CUDA allocators word it differently."""
    if isinstance(error, MemoryError):
        return True
    text = str(error)
    return "can't allocate memory" in text or "out of memory" in text.lower()


def _inputs(spec: ModelSpec, device: str, channels_last: bool) -> tuple[torch.Tensor, ...]:
    """Return the seeded random inputs every variant is timed on: one tensor per input of the spec."""
    import torch

    from convprof.graph.build import torch_dtype

    generator = torch.Generator().manual_seed(0)
    inputs = []
    for _, shape in spec.network_inputs:
        x = torch.randn(spec.batch_size, *shape, generator=generator).to(device, torch_dtype(spec.dtype))
        inputs.append(
            x.contiguous(memory_format=torch.channels_last) if channels_last and x.dim() == 4 else x
        )
    return tuple(inputs)


def _four_dimensional(inputs: tuple[torch.Tensor, ...]) -> bool:
    """Return True when channels-last applies: an input is a batch of images."""
    return any(x.dim() == 4 for x in inputs)


def _events(cuda: bool) -> Callable[[], tuple[Any, Any]] | None:
    """Return a maker of (start, end) CUDA event pairs on a GPU; None on the CPU."""
    if not cuda:
        return None
    import torch

    def events() -> tuple[Any, Any]:
        start = torch.cuda.Event(enable_timing=True)  # type: ignore[no-untyped-call]
        end = torch.cuda.Event(enable_timing=True)  # type: ignore[no-untyped-call]
        return start, end

    return events


def _failed(name: str, spec: ModelSpec, device: str, limit: int, error: BaseException, training: bool) -> str:
    """Say why a variant the guard admitted could not run, or be trained."""
    gc.collect()  # free what was half built before the next variant
    if _out_of_memory(error):
        return (
            f"{name} could not be allocated on {device} although the guard admitted it "
            f"(limit {format_bytes(limit)}): {_first_line(error)}"
        )
    if training:  # torch's reason may have nothing to do with the dtype (an in-place op, say)
        return f"{name} cannot be trained on {device}: {_first_line(error)}"
    return f"{name} cannot run in {spec.dtype} on {device}: {_first_line(error)}"


def _measure_device(
    spec: ModelSpec,
    report: Report,
    device: str,
    options: MeasureOptions,
    preset: Preset,
    limit: int,
    calibration: Calibration | None,
    step: Steps,
) -> dict[str, DeviceLatency]:
    """Measure the variants that fit on one device; the others carry their reason."""
    import torch

    from convprof.graph.build import build_model

    cuda = device.startswith("cuda")

    def sync() -> None:
        if cuda:
            torch.cuda.synchronize(device)

    events = _events(cuda)
    reasons = admit(report.variants, limit, input_bytes(report))
    blocked = unbuildable(spec)
    if blocked is not None:  # nothing to time: skipped with the reason, as a variant too large is
        reasons = {name: f"{name} not built: {blocked}" for name in reasons}
    results: dict[str, DeviceLatency] = {}
    calls: dict[str, Callable[[], object]] = {}
    first: dict[str, tuple[float, float | None]] = {}
    memory = {}
    if all(reason is not None for reason in reasons.values()):
        # Nothing may be built: the input is never allocated either (it may be the largest tensor).
        return {name: DeviceLatency(device, reasons[name]) for name in ORDER}
    try:
        x = _inputs(spec, device, options.channels_last)
    except (RuntimeError, MemoryError) as error:
        if not _out_of_memory(error):
            raise
        why = f"the input could not be allocated on {device}: {_first_line(error)}"
        return {name: DeviceLatency(device, reasons[name] or why) for name in ORDER}
    for name in ORDER:
        reason = reasons[name]
        if reason is not None:
            results[name] = DeviceLatency(device, reason)
            continue
        step(f"{device}: building {name}")
        try:
            model = build_model(spec, name, device).eval()
            if options.channels_last and _four_dimensional(x):
                model = model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
            with torch.inference_mode():
                first_ms = time_once(partial(model, *x), sync)
                step(f"{device}: measuring memory of {name}")
                memory[name] = measure_memory(model, x, device)
        except (RuntimeError, NotImplementedError, MemoryError) as error:
            results[name] = DeviceLatency(device, _failed(name, spec, device, limit, error, training=False))
            continue
        compile_ms: float | None = None
        call: Callable[[], object] = partial(model, *x)
        if options.compile:
            call = partial(torch.compile(model), *x)
            try:
                with torch.inference_mode():
                    compile_ms = time_once(call, sync)
                    first_ms = time_once(call, sync)
            except Exception as error:  # torch.compile raises many kinds; all mean the same here
                raise MeasureError(
                    f"--compile failed for {name} on {device}: {_first_line(error)} "
                    "(torch.compile needs a working C++ compiler on the CPU and Triton on CUDA)"
                ) from error
        first[name] = (first_ms, compile_ms)
        calls[name] = call
    if calls:
        with torch.inference_mode():
            samples = run_rounds(calls, preset, sync, events, on_step=lambda what: step(f"{device}: {what}"))
    for name, runs in samples.items() if calls else ():
        stats = summarize(runs.raw_ms, runs.rounds)
        variant = report.variant(name)
        achieved = variant.flops / (stats.median_ms / 1000) if stats.median_ms > 0 else None
        intensity = arithmetic_intensity(report, variant)
        fraction = None
        if calibration is not None and achieved is not None and intensity > 0:
            fraction = achieved / bound(calibration, intensity)
        results[name] = DeviceLatency(
            device=device,
            skipped=None,
            stats=stats,
            first_call_ms=first[name][0],
            compile_ms=first[name][1],
            calls_per_sample=runs.calls_per_sample,
            device_stats=summarize(runs.device_ms, runs.rounds) if runs.device_ms else None,
            memory=memory[name],
            achieved_flop_per_s=achieved,
            arithmetic_intensity=intensity,
            roofline_fraction=fraction,
        )
    calls.clear()
    gc.collect()
    if cuda:
        torch.cuda.empty_cache()
    return results


def _training_reasons(
    spec: ModelSpec, report: Report, costs: dict[str, TrainingCost], limit: int
) -> dict[str, str | None]:
    """Return why each variant's training step cannot be measured (None where it can): the guard on
    its modelled peak, a spec torch cannot build or train at its batch size, nothing to train."""
    reasons = admit_training(report.variants, costs, limit, input_bytes(report))
    blocked = unbuildable(spec)
    if blocked is not None:
        return {name: f"{name} not built: {blocked}" for name in reasons}
    frozen = untrainable(spec)
    if frozen is not None:
        return {
            name: f"{name} cannot be trained at batch size {spec.batch_size}: {frozen}" for name in reasons
        }
    for variant in report.variants:
        if variant.trainable_params == 0 and reasons[variant.name] is None:
            frozen = " (every one is frozen)" if variant.params else ""
            reasons[variant.name] = f"{variant.name} has no parameters to train{frozen}"
    return reasons


def _train_device(
    spec: ModelSpec,
    report: Report,
    device: str,
    options: MeasureOptions,
    preset: Preset,
    limit: int,
    step: Steps,
) -> dict[str, DeviceLatency]:
    """Time a training step of the variants that fit on one device; the others carry their reason."""
    import torch

    from convprof.graph.build import build_model
    from convprof.graph.variants import transform
    from convprof.measure.training import (
        fixed_gradient,
        make_optimizer,
        measure_step_memory,
        training_step,
    )

    cuda = device.startswith("cuda")

    def sync() -> None:
        if cuda:
            torch.cuda.synchronize(device)

    kernels = "cuda" if cuda else "cpu"
    costs = {name: training_cost(transform(spec, name), report.optimizer, kernels) for name in ORDER}
    reasons = _training_reasons(spec, report, costs, limit)
    if all(reason is not None for reason in reasons.values()):
        return {name: DeviceLatency(device, reasons[name]) for name in ORDER}
    try:
        x = _inputs(spec, device, options.channels_last)
        gradient = tuple(
            fixed_gradient((spec.batch_size, *spec.nodes[index].output_shape), x[0])
            for index in spec.output_nodes
        )
    except (RuntimeError, MemoryError) as error:
        if not _out_of_memory(error):
            raise
        why = f"the input could not be allocated on {device}: {_first_line(error)}"
        return {name: DeviceLatency(device, reasons[name] or why) for name in ORDER}

    def prepare(name: str) -> tuple[Callable[[], None], float, StepMemory] | str:
        """Build `name` for training, time its first step and measure one step's memory; or say why
        it could not (a failure's frames, and the model they hold, are gone once this returns)."""
        try:
            model = build_model(spec, name, device).train()
            if options.channels_last and _four_dimensional(x):
                model = model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
            optimizer = make_optimizer(report.optimizer, list(model.parameters()))
            call = training_step(model, optimizer, x, lambda: gradient)
            first_ms = time_once(call, sync)  # the first step also makes the optimizer's state
            step(f"{device}: measuring training memory of {name}")
            estimate = costs[name].peak_bytes
            return call, first_ms, measure_step_memory(model, optimizer, x, gradient, device, estimate)
        except (RuntimeError, ValueError, NotImplementedError, MemoryError) as error:
            return _failed(name, spec, device, limit, error, training=True)

    results: dict[str, DeviceLatency] = {}
    calls: dict[str, Callable[[], object]] = {}
    first: dict[str, float] = {}
    memory: dict[str, StepMemory] = {}
    with torch.enable_grad():
        for name in ORDER:
            reason = reasons[name]
            if reason is not None:
                results[name] = DeviceLatency(device, reason)
                continue
            step(f"{device}: building {name} for training")
            prepared = prepare(name)
            if isinstance(prepared, str):
                gc.collect()  # what the failed variant allocated, before the next one is built
                results[name] = DeviceLatency(device, prepared)
                continue
            calls[name], first[name], memory[name] = prepared
        if calls:
            samples = run_rounds(
                calls, preset, sync, _events(cuda), on_step=lambda what: step(f"{device} training: {what}")
            )
    for name, runs in samples.items() if calls else ():
        stats = summarize(runs.raw_ms, runs.rounds)
        variant = report.variant(name)
        achieved = variant.training_flops / (stats.median_ms / 1000) if stats.median_ms > 0 else None
        results[name] = DeviceLatency(
            device=device,
            skipped=None,
            stats=stats,
            first_call_ms=first[name],
            calls_per_sample=runs.calls_per_sample,
            device_stats=summarize(runs.device_ms, runs.rounds) if runs.device_ms else None,
            memory=memory[name],
            achieved_flop_per_s=achieved,
        )
    calls.clear()
    gc.collect()
    if cuda:
        torch.cuda.empty_cache()
    return results


def run(spec: ModelSpec, report: Report, options: MeasureOptions, *, step: Steps | None = None) -> Report:
    """Measure `report`'s variants as `options` ask; see convprof.measure.measure_report."""
    import torch  # first, so that the freeze below covers what it creates

    del torch
    # torch's import leaves hundreds of thousands of objects that every full collection walks
    # (0.25 s each, a tenth of a quick measurement); none of them is garbage, so hide them meanwhile.
    gc.freeze()
    try:
        return _run(spec, report, options, step if step is not None else _quiet)
    finally:
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
    cpu_limit = _limit("cpu", options)
    used: list[tuple[str, float, float]] = []
    load_before = load_average()
    with cpu_threads(options.threads):
        for device in devices:
            limit = cpu_limit if device == "cpu" else _limit(device, options)
            key = calibration_key(
                device.split(":")[0] if device == "cpu" else device, spec.dtype, options.threads
            )
            calibration = calibrations.get(key)
            if calibration is not None:
                used.append((device, calibration.peak_flop_per_s, calibration.copy_bytes_per_s))
            with _cudnn_benchmark(device.startswith("cuda")):
                if device.startswith("cuda"):
                    cuda_envs.append(cuda_environment(device, limit))
                if device in inference:
                    measured = _measure_device(
                        spec, report, device, options, preset, limit, calibration, step
                    )
                    for name, result in measured.items():
                        found[name].append(result)
                if device in training:
                    steps = _train_device(spec, report, device, options, preset, limit, step)
                    for name, result in steps.items():
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
