"""Machine formats: JSON and CSV carry exact integers, never human units."""

from __future__ import annotations

import csv
import io

from convprof.render.common import LOWER_BOUND_MARK, UNKNOWN_MARK
from convprof.render.jsonfmt import dumps
from convprof.render.latency import measured_devices, training_devices
from convprof.report import LAYER_FIELDS, VARIANT_TOTALS, LayerReport, Report, VariantReport
from convprof.report.results import StepMemory
from convprof.safetext import csv_text

__all__ = ["to_csv", "to_json"]

#: Measured columns per device in the summary CSV (prefixed `cpu_`, `cuda:0_`); empty when skipped.
_LATENCY_FIELDS = ("median_ms", "iqr_ms", "p10_ms", "p90_ms", "min_ms", "stable")
#: Measured training-step columns per device (prefixed `cpu_training_`); empty when skipped.
_TRAINING_FIELDS = (
    *_LATENCY_FIELDS,
    "flop_per_s",
    "held_bytes",
    "peak_bytes",
    "estimate_bytes",
    "error_percent",
)


def to_json(report: Report) -> str:
    """Return the report as indented JSON with a trailing newline."""
    return dumps(report.to_dict())


def _latency_cells(variant: VariantReport, devices: tuple[str, ...]) -> list[object]:
    """The measured columns of one variant: empty for a device skipped or not measured."""
    stats = {r.device: r.stats for r in variant.latency or ()}
    cells: list[object] = []
    for device in devices:
        measured = stats.get(device)
        cells += ["" if measured is None else getattr(measured, field) for field in _LATENCY_FIELDS]
    return cells


def _training_cells(variant: VariantReport, devices: tuple[str, ...]) -> list[object]:
    """The measured training-step columns of one variant: empty for a device skipped or not measured."""
    results = {r.device: r for r in variant.training_latency or ()}
    cells: list[object] = []
    for device in devices:
        result = results.get(device)
        if result is None or result.stats is None or not isinstance(result.memory, StepMemory):
            cells += [""] * len(_TRAINING_FIELDS)
            continue
        cells += [getattr(result.stats, field) for field in _LATENCY_FIELDS]
        memory = result.memory
        flops = result.achieved_flop_per_s
        cells += [
            "" if flops is None else flops,
            memory.held_bytes,
            memory.peak_bytes,
            memory.estimate_bytes,
            memory.error_percent,
        ]
    return cells


#: Layer fields whose None means "unknown" (an opaque op's count), not the whole input.
_COUNTS = frozenset({"macs", "flops", "elementwise_ops", "fan_in"})


def _layer_cell(layer: LayerReport, field: str) -> object:
    value = getattr(layer, field)
    if field == "inputs":  # paths, which may contain x but never a space
        return csv_text(" ".join(value))
    if isinstance(value, str):  # a path or a kind: names from a spec
        return csv_text(value)
    if isinstance(value, tuple):
        return "x".join(map(str, value))
    if value is None:
        return UNKNOWN_MARK if field in _COUNTS else "full"
    return value


def _total_cell(variant: VariantReport, field: str) -> object:
    """A total as an exact integer, `>=` before it when it is a lower bound (it leaves unknowns out)."""
    value = getattr(variant, field)
    return f"{LOWER_BOUND_MARK}{value}" if field in variant.lower_bounds else value


def to_csv(report: Report, *, layers: bool) -> str:
    """Return one row per variant, or with `layers` one row per layer and variant."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    if not layers:
        devices = measured_devices(report)
        trained = training_devices(report)
        measured = [f"{device}_{field}" for device in devices for field in _LATENCY_FIELDS]
        measured += [f"{device}_training_{field}" for device in trained for field in _TRAINING_FIELDS]
        writer.writerow(("spec", "variant", *VARIANT_TOTALS, *measured))
        for variant in report.variants:
            totals = (_total_cell(variant, f) for f in VARIANT_TOTALS)
            timed = (*_latency_cells(variant, devices), *_training_cells(variant, trained))
            writer.writerow((csv_text(report.spec.name), variant.name, *totals, *timed))
        return out.getvalue()
    writer.writerow(("spec", "variant", *LAYER_FIELDS))
    for variant in report.variants:
        for layer in variant.layers:
            cells = [_layer_cell(layer, field) for field in LAYER_FIELDS]
            writer.writerow((csv_text(report.spec.name), variant.name, *cells))
    return out.getvalue()
