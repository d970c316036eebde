"""Reports of one spec measured on several machines, combined into one table keyed by environment."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from convprof.errors import UsageError
from convprof.measure.stats import entry_stable
from convprof.variants import VARIANTS

__all__ = ["MERGE_SCHEMA_VERSION", "MergedReports", "MergedRow", "environment_label", "merge_reports"]

#: Version of the JSON `merge --format json` writes; bumped on any incompatible change.
MERGE_SCHEMA_VERSION = 1

#: Variant fields that belong to a measurement, not to the spec: they may differ between machines.
_MEASURED_FIELDS = ("latency", "skipped")


@dataclass(frozen=True, slots=True)
class MergedRow:
    """One device of one machine: the median latency of each variant there."""

    environment: str
    """CPU model or GPU name, threads and torch version; the report's file when it records none."""
    device: str
    """Device measured, e.g. cpu or cuda:0."""
    medians_ms: tuple[tuple[str, float | None], ...]
    """(variant, median ms or None when skipped), in the order dense, local, conv."""
    source: str
    """The report file the row comes from."""
    stable: tuple[tuple[str, bool | None], ...] = ()
    """(variant, whether its raw samples are stable; None when skipped or kept no samples)."""


@dataclass(frozen=True, slots=True)
class MergedReports:
    """Several machines' measurements of one spec."""

    spec: str
    """The spec's name."""
    schema_version: int
    """The report schema version every merged report shares."""
    rows: tuple[MergedRow, ...]
    """One row per report and device measured, in the order the reports were given."""

    def to_dict(self) -> dict[str, Any]:
        """Return JSON-ready data with a stable key order."""
        return {
            "schema_version": MERGE_SCHEMA_VERSION,
            "kind": "merge",
            "spec": self.spec,
            "report_schema_version": self.schema_version,
            "rows": [
                {
                    "environment": row.environment,
                    "device": row.device,
                    "median_ms": dict(row.medians_ms),
                    "stable": dict(row.stable),
                    "source": row.source,
                }
                for row in self.rows
            ],
        }


def environment_label(environment: Mapping[str, Any] | None, device: str, source: str) -> str:
    """Name the machine a device was measured on: CPU model or GPU name, threads, torch version."""
    if not environment:
        return f"(no environment recorded: {source})"
    hardware = environment.get("cpu_model") or "unknown CPU"
    if device != "cpu":
        for gpu in environment.get("cuda") or []:
            if isinstance(gpu, Mapping) and gpu.get("device") in (device, f"{device}:0"):
                hardware = gpu.get("name") or device
    parts = [str(hardware)]
    if device == "cpu" and environment.get("threads") is not None:
        threads = environment["threads"]
        parts.append(f"{threads} thread" if threads == 1 else f"{threads} threads")
    if environment.get("torch_version"):
        parts.append(f"torch {environment['torch_version']}")
    return ", ".join(parts)


def _identity(report: Mapping[str, Any]) -> dict[str, Any]:
    """Return what must agree for two reports to be of the same spec: everything but measurements."""
    variants = {
        name: {k: v for k, v in report["variants"][name].items() if k not in _MEASURED_FIELDS}
        for name in VARIANTS
    }
    return {"spec": report["spec"], "optimizer": report.get("optimizer"), "variants": variants}


def _difference(first: Mapping[str, Any], other: Mapping[str, Any]) -> str:
    a, b = first["spec"], other["spec"]
    for key in ("name", "input", "batch_size", "dtype"):
        if a.get(key) != b.get(key):
            return f"spec {key} {a.get(key)!r} vs {b.get(key)!r}"
    if first.get("optimizer") != other.get("optimizer"):
        return f"optimizer {first.get('optimizer')!r} vs {other.get('optimizer')!r}"
    return "the layers or counts differ"


def merge_reports(reports: Sequence[tuple[str, Mapping[str, Any]]]) -> MergedReports:
    """Combine (source, report) pairs of one spec; UsageError when specs or schema versions differ."""
    if len(reports) < 1:
        raise UsageError("merge needs at least one report")
    first_source, first = reports[0]
    for source, report in reports[1:]:
        if report["schema_version"] != first["schema_version"]:
            raise UsageError(
                f"cannot merge: {first_source} has schema_version {first['schema_version']}, "
                f"{source} has {report['schema_version']}; regenerate both with one convprof version"
            )
        if _identity(report) != _identity(first):
            raise UsageError(
                f"cannot merge: {first_source} and {source} are reports of different specs "
                f"({_difference(first, report)}); merge reports of one spec only"
            )
    rows: list[MergedRow] = []
    for source, report in reports:
        environment = report.get("environment")
        devices: list[str] = []
        for name in VARIANTS:
            for device in report["variants"][name].get("latency") or {}:
                if device not in devices:
                    devices.append(device)
        if not devices:
            raise UsageError(
                f"{source}: has no latency measurements; write reports with measured latency to merge them"
            )
        for device in devices:
            medians: list[tuple[str, float | None]] = []
            stable: list[tuple[str, bool | None]] = []
            for name in VARIANTS:
                entry = (report["variants"][name].get("latency") or {}).get(device)
                median = entry.get("median_ms") if isinstance(entry, Mapping) else None
                medians.append((name, median))
                stable.append((name, entry_stable(entry) if isinstance(entry, Mapping) else None))
            label = environment_label(environment, device, source)
            rows.append(MergedRow(label, device, tuple(medians), source, tuple(stable)))
    return MergedReports(first["spec"]["name"], first["schema_version"], tuple(rows))
