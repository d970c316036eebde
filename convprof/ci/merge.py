"""Reports of one spec measured on several machines, combined into one table keyed by environment."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from convprof.errors import UsageError
from convprof.graph.variants import VARIANTS
from convprof.metrics import measured_metrics, metric
from convprof.report import Report
from convprof.report.results import Environment

__all__ = ["MERGE_SCHEMA_VERSION", "MergedReports", "MergedRow", "environment_label", "merge_reports"]

#: Version of the JSON `merge --format json` writes; bumped on any incompatible change.
MERGE_SCHEMA_VERSION = 1


@dataclass(frozen=True, slots=True)
class MergedRow:
    """One device of one machine: the median latency (and training step) of each variant there."""

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
    training_ms: tuple[tuple[str, float | None], ...] = ()
    """(variant, median training step ms or None when skipped or not timed), as `medians_ms`; empty
    when the report timed no training step."""
    training_stable: tuple[tuple[str, bool | None], ...] = ()
    """(variant, whether its training step's samples are stable), as `stable`."""


@dataclass(frozen=True, slots=True)
class MergedReports:
    """Several machines' measurements of one spec."""

    spec: str
    """The spec's name."""
    schema_version: int
    """The report schema version every merged report shares."""
    rows: tuple[MergedRow, ...]
    """One row per report and device measured, in the order the reports were given."""
    unknown_ops: int = 0
    """Opaque ops of the spec (the same in every merged report): its MACs and FLOPs are lower bounds
    and no variant of it can be built to be timed."""

    @property
    def training(self) -> bool:
        """True when some merged report timed a training step."""
        return any(row.training_ms for row in self.rows)

    def to_dict(self) -> dict[str, Any]:
        """Return JSON-ready data with a stable key order; training medians only where some report has
        them."""
        opaque = {"unknown_ops": self.unknown_ops} if self.unknown_ops else {}
        names = tuple(VARIANTS)
        return {
            "schema_version": MERGE_SCHEMA_VERSION,
            "kind": "merge",
            "spec": self.spec,
            "report_schema_version": self.schema_version,
            **opaque,
            "rows": [
                {
                    "environment": row.environment,
                    "device": row.device,
                    "median_ms": dict(row.medians_ms),
                    "stable": dict(row.stable),
                    **(
                        {
                            "training_median_ms": dict(row.training_ms) or dict.fromkeys(names),
                            "training_stable": dict(row.training_stable) or dict.fromkeys(names),
                        }
                        if self.training
                        else {}
                    ),
                    "source": row.source,
                }
                for row in self.rows
            ],
        }


def environment_label(environment: Environment | None, device: str, source: str) -> str:
    """Name the machine a device was measured on: CPU model or GPU name, threads, torch version."""
    if environment is None:
        return f"(no environment recorded: {source})"
    hardware = environment.cpu_model or "unknown CPU"
    if device != "cpu":
        for gpu in environment.cuda:
            if gpu.device in (device, f"{device}:0"):
                hardware = gpu.name or device
    parts = [hardware]
    if device == "cpu":
        threads = environment.threads
        parts.append(f"{threads} thread" if threads == 1 else f"{threads} threads")
    if environment.torch_version:
        parts.append(f"torch {environment.torch_version}")
    return ", ".join(parts)


def _identity(report: Report) -> Report:
    """Return what must agree for two reports to be of the same spec: everything but measurements and
    the memory over time (schema 4's, absent from a schema-3 report, derived from the rest)."""
    return replace(
        report,
        schema_version=0,
        convprof_version="",
        environment=None,
        variants=tuple(
            replace(
                variant,
                latency=None,
                training_latency=None,
                step_optimizer_bytes=None,
                training_peak=None,
                layers=tuple(
                    replace(layer, live_bytes=None, step_forward_bytes=None, step_backward_bytes=None)
                    for layer in variant.layers
                ),
            )
            for variant in report.variants
        ),
    )


def _difference(first: Report, other: Report) -> str:
    a, b = first.spec, other.spec
    for key in ("name", "input", "batch_size", "dtype"):
        if getattr(a, key) != getattr(b, key):
            return f"spec {key} {_shown(getattr(a, key))} vs {_shown(getattr(b, key))}"
    if first.optimizer != other.optimizer:
        return f"optimizer {first.optimizer!r} vs {other.optimizer!r}"
    frozen = (first.variant("conv").frozen_params, other.variant("conv").frozen_params)
    if frozen[0] != frozen[1]:
        return f"frozen parameters {frozen[0]:,} vs {frozen[1]:,} (a training step of another model)"
    return "the layers or counts differ"


def _shown(value: object) -> str:
    # Shapes as JSON writes them, so the message matches the files it names.
    return repr(list(value)) if isinstance(value, tuple) else repr(value)


def _medians(
    report: Report, device: str, *, training: bool
) -> tuple[tuple[tuple[str, float | None], ...], tuple[tuple[str, bool | None], ...]]:
    """Return each variant's median on `device` (inference or training step) and its stability."""
    timed = metric("training_latency_ms" if training else "latency_ms")
    medians: list[tuple[str, float | None]] = []
    stable: list[tuple[str, bool | None]] = []
    for name in VARIANTS:
        median, steady = timed.on(report.variant(name), device)
        medians.append((name, median))
        stable.append((name, steady))
    return tuple(medians), tuple(stable)


def merge_reports(reports: Sequence[tuple[str, Report]]) -> MergedReports:
    """Combine (source, report) pairs of one spec; UsageError when the specs differ.

    Reports of every readable schema merge (a baseline CI kept before schema 4 with its twin of
    now): what merging reads, the counts and the medians, every schema has; the merged report says
    the newest schema among them."""
    if len(reports) < 1:
        raise UsageError("merge needs at least one report")
    first_source, first = reports[0]
    for source, report in reports[1:]:
        if _identity(report) != _identity(first):
            raise UsageError(
                f"cannot merge: {first_source} and {source} are reports of different specs "
                f"({_difference(first, report)}); merge reports of one spec only"
            )
    rows: list[MergedRow] = []
    for source, report in reports:
        devices: list[str] = []
        for name in VARIANTS:
            for timed in measured_metrics():
                for result in timed.results_of(report.variant(name)):
                    if result.device not in devices:
                        devices.append(result.device)
        if not devices:
            raise UsageError(
                f"{source}: has no latency measurements; write reports with measured latency to merge them"
            )
        trained = any(report.variant(name).training_latency is not None for name in VARIANTS)
        for device in devices:
            medians, stable = _medians(report, device, training=False)
            steps, steps_stable = _medians(report, device, training=True) if trained else ((), ())
            label = environment_label(report.environment, device, source)
            rows.append(
                MergedRow(
                    label, device, medians, source, stable, training_ms=steps, training_stable=steps_stable
                )
            )
    unknown = first.variant("conv").unknown_ops
    newest = max(report.schema_version for _, report in reports)
    return MergedReports(first.spec.name, newest, tuple(rows), unknown)
