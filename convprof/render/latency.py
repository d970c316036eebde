"""Wording of measured figures (latency, memory, roofline) shared by the table and Markdown renderers."""

from __future__ import annotations

from convprof.report import Report
from convprof.report.results import DeviceLatency, MemoryMeasurement, StepMemory
from convprof.report.stats import IQR_WARN_THRESHOLD, ROUND_SPREAD_THRESHOLD, UNSTABLE_MARK
from convprof.units import format_bytes, format_count, format_ratio, plural

__all__ = [
    "UNSTABLE_MARK",
    "format_error",
    "format_ms",
    "latency_cells",
    "latency_columns",
    "measured_devices",
    "measured_notes",
    "measured_tables",
    "training_cells",
    "training_devices",
    "training_measured_columns",
    "unstable_note",
]


def format_ms(ms: float) -> str:
    """Return a duration with three significant digits: 0.175 ms, 8.68 ms, 917 ms, 1.23 s."""
    if ms >= 1000:
        return f"{ms / 1000:.3g} s"
    if ms >= 100:
        return f"{ms:.0f} ms"
    if ms >= 0.01:
        return f"{ms:.3g} ms"
    return f"{ms * 1000:.3g} us"


def unstable_note() -> str:
    """Return the line that explains the unstable mark, wherever a marked median is shown."""
    return (
        f"{UNSTABLE_MARK} unstable: IQR/median above {IQR_WARN_THRESHOLD:.0%} or rounds differing by "
        f"more than {ROUND_SPREAD_THRESHOLD:.0%}; close other work, or try --preset rigorous."
    )


def measured_devices(report: Report) -> tuple[str, ...]:
    """Return the devices any variant was measured or skipped on, in order."""
    devices: dict[str, None] = {}
    for variant in report.variants:
        for result in variant.latency or ():
            devices[result.device] = None
    return tuple(devices)


def training_devices(report: Report) -> tuple[str, ...]:
    """Return the devices any variant's training step was measured or skipped on, in order."""
    devices: dict[str, None] = {}
    for variant in report.variants:
        for result in variant.training_latency or ():
            devices[result.device] = None
    return tuple(devices)


def _result(report: Report, variant: str, device: str, training: bool = False) -> DeviceLatency | None:
    found = report.variant(variant).training_latency if training else report.variant(variant).latency
    for result in found or ():
        if result.device == device:
            return result
    return None


def format_error(memory: StepMemory) -> str:
    """Return the model's error against a measured peak: `exact`, or signed percent (+1.2%)."""
    if memory.estimate_bytes == memory.peak_bytes:
        return "exact"
    error = memory.error_percent
    return f"{error:+.2f}%" if abs(error) < 0.995 else f"{error:+.1f}%"


def training_measured_columns(devices: tuple[str, ...]) -> list[str]:
    """Return the training table's measured headers per device: the step's median, its ratio to conv,
    the FLOP/s it reached, its measured peak memory and the model's error against it."""
    columns: list[str] = []
    for device in devices:
        columns += [f"Step\n({device})", "vs conv", "FLOP/s", "Measured\npeak", "Model\nerror"]
    return columns


def training_cells(report: Report, variant: str, devices: tuple[str, ...]) -> list[str]:
    """Return one variant's measured training cells per device (see training_measured_columns)."""
    cells: list[str] = []
    for device in devices:
        result = _result(report, variant, device, training=True)
        conv = _result(report, "conv", device, training=True)
        if result is None or result.stats is None:
            cells += ["skipped", "", "", "", ""]
            continue
        stats = result.stats
        base = conv.stats.median_ms if conv is not None and conv.stats is not None else 0.0
        flops = result.achieved_flop_per_s
        memory = result.memory if isinstance(result.memory, StepMemory) else None
        cells += [
            ("" if stats.stable else UNSTABLE_MARK) + format_ms(stats.median_ms),
            format_ratio(stats.median_ms / base) if base else "-",
            "-" if flops is None else format_count(round(flops)),
            "-" if memory is None else format_bytes(memory.peak_bytes),
            "-" if memory is None else format_error(memory),
        ]
    return cells


def latency_columns(devices: tuple[str, ...]) -> list[str]:
    """Return the summary's latency headers: median, IQR and ratio per device."""
    columns: list[str] = []
    for device in devices:
        columns += [f"Latency\n({device})", "vs conv", "IQR"]
    return columns


def latency_cells(report: Report, variant: str, devices: tuple[str, ...]) -> list[str]:
    """Return one variant's latency cells: median (~ when unstable), ratio to conv, IQR/median."""
    cells: list[str] = []
    for device in devices:
        result = _result(report, variant, device)
        conv = _result(report, "conv", device)
        if result is None or result.stats is None:
            cells += ["skipped", "", ""]
            continue
        stats = result.stats
        mark = "" if stats.stable else UNSTABLE_MARK
        spread = f"{stats.iqr_ms / stats.median_ms:.0%}" if stats.median_ms else "-"
        base = conv.stats.median_ms if conv is not None and conv.stats is not None else 0.0
        cells += [
            mark + format_ms(stats.median_ms),
            format_ratio(stats.median_ms / base) if base else "-",
            spread,
        ]
    return cells


def measured_tables(report: Report) -> list[tuple[str, list[str], list[list[str]]]]:
    """Return the measured-details tables as (title, headers, rows): timing, then throughput and memory."""
    timing: list[list[str]] = []
    throughput: list[list[str]] = []
    for device in measured_devices(report):
        for variant in report.variants:
            result = _result(report, variant.name, device)
            if result is None or result.stats is None or not isinstance(result.memory, MemoryMeasurement):
                continue
            stats = result.stats
            flops = result.achieved_flop_per_s
            fraction = result.roofline_fraction
            intensity = result.arithmetic_intensity
            timing.append(
                [
                    variant.name,
                    device,
                    ("" if stats.stable else UNSTABLE_MARK) + format_ms(stats.median_ms),
                    format_ms(stats.p10_ms),
                    format_ms(stats.p90_ms),
                    format_ms(stats.min_ms),
                    "-" if result.first_call_ms is None else format_ms(result.first_call_ms),
                    str(stats.samples),
                ]
            )
            throughput.append(
                [
                    variant.name,
                    device,
                    "-" if flops is None else format_count(round(flops)),
                    "-" if intensity is None else f"{intensity:.3g}",
                    "-" if fraction is None else f"{fraction:.0%}",
                    format_bytes(result.memory.weight_bytes),
                    format_bytes(result.memory.peak_activation_bytes),
                    format_bytes(variant.activation_bytes),
                ]
            )
    tables: list[tuple[str, list[str], list[list[str]]]] = []
    if timing:
        tables += [
            (
                "Latency per call",
                ["Variant", "Device", "Median", "p10", "p90", "Min", "First call", "Samples"],
                timing,
            ),
            (
                "Throughput and memory (measured)",
                ["Variant", "Device", "FLOP/s", "FLOP/B", "Roofline", "Weights", "Peak act.", "Estimate"],
                throughput,
            ),
        ]
    steps: list[list[str]] = []
    for device in training_devices(report):
        for variant in report.variants:
            result = _result(report, variant.name, device, training=True)
            if result is None or result.stats is None or not isinstance(result.memory, StepMemory):
                continue
            stats = result.stats
            steps.append(
                [
                    variant.name,
                    device,
                    ("" if stats.stable else UNSTABLE_MARK) + format_ms(stats.median_ms),
                    f"{stats.iqr_ms / stats.median_ms:.0%}" if stats.median_ms else "-",
                    format_ms(stats.p10_ms),
                    format_ms(stats.p90_ms),
                    format_ms(stats.min_ms),
                    "-" if result.first_call_ms is None else format_ms(result.first_call_ms),
                    str(stats.samples),
                    format_bytes(result.memory.held_bytes),
                    format_bytes(result.memory.estimate_bytes),
                ]
            )
    if steps:
        tables.append(
            (
                "Training step per call",
                [
                    *("Variant", "Device", "Median", "IQR", "p10", "p90", "Min", "First step", "Samples"),
                    *("Held", "Estimate"),
                ],
                steps,
            )
        )
    return tables


def measured_notes(report: Report) -> list[str]:
    """Return the lines under the measured table: skips, stability, compile times, environment."""
    lines: list[str] = []
    devices = measured_devices(report)
    results = [r for v in report.variants for r in (v.latency or ())]
    steps = [r for v in report.variants for r in (v.training_latency or ())]
    for result in results:
        if result.skipped is not None:
            lines.append(f"Skipped on {result.device}: {result.skipped}.")
    for result in steps:
        if result.skipped is not None:
            lines.append(f"Training step skipped on {result.device}: {result.skipped}.")
    if any(r.stats is not None and not r.stats.stable for r in (*results, *steps)):
        lines.append(unstable_note())
    compiled = [
        f"{v.name} {format_ms(r.compile_ms)}"
        for v in report.variants
        for r in (v.latency or ())
        if r.compile_ms is not None
    ]
    if compiled:
        lines.append(f"torch.compile time (first call, not in the latency): {', '.join(compiled)}.")
    env = report.environment
    if env is not None:
        load = f"{env.load_before[0]:.2f} -> {env.load_after[0]:.2f}"
        threads = plural(env.threads, "thread")
        lines.append(
            f"Measured with torch {env.torch_version}, {threads} of {env.logical_cores} "
            f"on {env.cpu_model}, preset {env.preset}, load {load}."
        )
        for gpu in env.cuda:
            lines.append(
                f"{gpu.device}: {gpu.name} (capability {gpu.capability}), CUDA {gpu.cuda}, "
                f"cuDNN {gpu.cudnn}, TF32 matmul {gpu.tf32_matmul}, cudnn.benchmark {gpu.cudnn_benchmark}."
            )
        calibrated = {device for device, _flops, _bandwidth in env.calibration}
        missing = [d for d in devices if d not in calibrated]
        if missing:
            lines.append(
                f"Roofline: no calibration for {', '.join(missing)} at {env.dtype}, {threads}; "
                "run `convprof calibrate` to measure this machine's peak."
            )
    if results:
        lines.append(
            "FLOP/B: FLOPs per byte of weights, input and layer outputs moved. Roofline: achieved FLOP/s "
            "over min(peak FLOP/s, FLOP/B x copy bandwidth); above 100% the data stayed in cache. "
            "Peak act.: tensors alive during one call, input included, beside the analytic estimate."
        )
    if any(r.stats is not None for r in steps):
        lines.append(
            f"Step: one training step ({report.optimizer}): zero_grad, forward, backward from a fixed "
            "gradient of the output's size, the optimizer's step; the first step, which makes the "
            "optimizer's state, is timed apart. FLOP/s: training FLOPs over the median step. Held: "
            "weights, buffers, optimizer state and input before a step; Measured peak: that plus the "
            "most the step held at once; Model error: the modelled peak (Estimate) against it."
        )
    return lines
