"""Wording of measured figures (latency, memory, roofline) shared by the table and Markdown renderers."""

from __future__ import annotations

from convprof.report import Report
from convprof.report.results import DeviceLatency
from convprof.report.stats import IQR_WARN_THRESHOLD, ROUND_SPREAD_THRESHOLD, UNSTABLE_MARK
from convprof.units import format_bytes, format_count, format_ratio, plural

__all__ = [
    "UNSTABLE_MARK",
    "format_ms",
    "latency_cells",
    "latency_columns",
    "measured_devices",
    "measured_notes",
    "measured_tables",
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


def _result(report: Report, variant: str, device: str) -> DeviceLatency | None:
    for result in report.variant(variant).latency or ():
        if result.device == device:
            return result
    return None


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
            if result is None or result.stats is None or result.memory is None:
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
    if not timing:
        return []
    return [
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


def measured_notes(report: Report) -> list[str]:
    """Return the lines under the measured table: skips, stability, compile times, environment."""
    lines: list[str] = []
    devices = measured_devices(report)
    results = [r for v in report.variants for r in (v.latency or ())]
    for result in results:
        if result.skipped is not None:
            lines.append(f"Skipped on {result.device}: {result.skipped}.")
    if any(r.stats is not None and not r.stats.stable for r in results):
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
    lines.append(
        "FLOP/B: FLOPs per byte of weights, input and layer outputs moved. Roofline: achieved FLOP/s over "
        "min(peak FLOP/s, FLOP/B x copy bandwidth); above 100% the data stayed in cache. "
        "Peak act.: tensors alive during one call, input included, beside the analytic estimate."
    )
    return lines
