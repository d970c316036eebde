"""Machine formats: JSON and CSV carry exact integers, never human units."""

from __future__ import annotations

import csv
import io

from convprof.render.jsonfmt import dumps
from convprof.render.latency import measured_devices
from convprof.report import Report

__all__ = ["to_csv", "to_json"]

_SUMMARY_FIELDS = (
    "params",
    "macs",
    "flops",
    "elementwise_ops",
    "param_bytes",
    "buffer_bytes",
    "activation_bytes",
    "saved_activation_bytes",
    "optimizer_bytes",
    "training_bytes",
)
_LAYER_FIELDS = (
    "index",
    "name",
    "kind",
    "output_shape",
    "params",
    "buffer_bytes",
    "macs",
    "flops",
    "elementwise_ops",
    "activation_bytes",
    "receptive_field",
    "fan_in",
)

#: Measured columns per device in the summary CSV (prefixed `cpu_`, `cuda:0_`); empty when skipped.
_LATENCY_FIELDS = ("median_ms", "iqr_ms", "p10_ms", "p90_ms", "min_ms", "stable")


def to_json(report: Report) -> str:
    """Return the report as indented JSON with a trailing newline."""
    return dumps(report.to_dict())


def to_csv(report: Report, *, layers: bool) -> str:
    """Return one row per variant, or with `layers` one row per layer and variant."""
    data = report.to_dict()
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    if not layers:
        devices = measured_devices(report)
        measured = [f"{device}_{field}" for device in devices for field in _LATENCY_FIELDS]
        writer.writerow(("spec", "variant", *_SUMMARY_FIELDS, *measured))
        for name, variant in data["variants"].items():
            latency = [
                "" if (entry := (variant["latency"] or {}).get(device)) is None else entry[field]
                for device in devices
                for field in _LATENCY_FIELDS
            ]
            writer.writerow((report.spec.name, name, *(variant[f] for f in _SUMMARY_FIELDS), *latency))
        return out.getvalue()
    writer.writerow(("spec", "variant", *_LAYER_FIELDS))
    for name, variant in data["variants"].items():
        for layer in variant["layers"]:
            cells = []
            for field in _LAYER_FIELDS:
                value = layer[field]
                if isinstance(value, list):
                    value = "x".join(map(str, value))
                elif value is None:
                    value = "full"
                cells.append(value)
            writer.writerow((report.spec.name, name, *cells))
    return out.getvalue()
