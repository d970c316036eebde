"""Machine formats: JSON and CSV carry exact integers, never human units."""

from __future__ import annotations

import csv
import io

from convprof.render.jsonfmt import dumps
from convprof.render.latency import measured_devices
from convprof.report import LAYER_FIELDS, VARIANT_TOTALS, Report

__all__ = ["to_csv", "to_json"]

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
        writer.writerow(("spec", "variant", *VARIANT_TOTALS, *measured))
        for name, variant in data["variants"].items():
            latency = [
                "" if (entry := (variant["latency"] or {}).get(device)) is None else entry[field]
                for device in devices
                for field in _LATENCY_FIELDS
            ]
            writer.writerow((report.spec.name, name, *(variant[f] for f in VARIANT_TOTALS), *latency))
        return out.getvalue()
    writer.writerow(("spec", "variant", *LAYER_FIELDS))
    for name, variant in data["variants"].items():
        for layer in variant["layers"]:
            cells = []
            for field in LAYER_FIELDS:
                value = layer[field]
                if field == "inputs":  # paths, which may contain x but never a space
                    value = " ".join(value)
                elif isinstance(value, list):
                    value = "x".join(map(str, value))
                elif value is None:
                    value = "full"
                cells.append(value)
            writer.writerow((report.spec.name, name, *cells))
    return out.getvalue()
