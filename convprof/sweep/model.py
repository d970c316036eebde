"""A finished sweep: every point's report, the metrics it reports (from the metric registry) and the
growth law each metric of each variant follows along each numeric axis."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from convprof.graph.variants import VARIANTS
from convprof.metrics import Metric, metric
from convprof.report import Report, SpecInfo
from convprof.report.analyze import spec_info
from convprof.report.results import DeviceLatency
from convprof.spec import ModelSpec
from convprof.sweep.axes import Axis
from convprof.sweep.fit import PowerFit, fit_power
from convprof.version import __version__

__all__ = [
    "LATENCY",
    "METRICS",
    "POINT_FIGURES",
    "SWEEP_SCHEMA_VERSION",
    "TRAINING_LATENCY",
    "TRAINING_METRICS",
    "AxisFit",
    "Sweep",
    "SweepPoint",
    "build_sweep",
    "latency_stable",
    "metric_lower_bound",
    "metric_value",
    "skip_reason",
]

#: Version of the sweep's JSON document; bumped on any incompatible change.
SWEEP_SCHEMA_VERSION = 1

#: The analytic metrics of every sweep.
METRICS = (metric("params"), metric("macs"), metric("memory_bytes"))
#: The measured metric, present with --latency.
LATENCY = metric("latency_s")
#: The analytic metrics of a training step, present with --training: its FLOPs (forward and
#: backward) and its modelled peak memory.
TRAINING_METRICS = (metric("training_flops"), metric("training_bytes"))
#: The measured training step, present with --training and --latency.
TRAINING_LATENCY = metric("training_latency_s")
#: The figures each point's JSON gives of every variant, always (training_flops joins with --training).
POINT_FIGURES = tuple(
    metric(key)
    for key in (
        "params",
        "macs",
        "flops",
        "param_bytes",
        "buffer_bytes",
        "activation_bytes",
        "memory_bytes",
        "training_bytes",
    )
)


@dataclass(frozen=True, slots=True)
class SweepPoint:
    """One point of the grid and its analysis."""

    index: int
    """0-based position in the grid."""
    labels: tuple[str, ...]
    """The point's value on each axis, as written."""
    report: Report
    """The point's report (with latency when it was measured)."""


@dataclass(frozen=True, slots=True)
class AxisFit:
    """The growth law of one metric of one variant along one axis."""

    axis: str
    """The axis' name."""
    metric: str
    """The metric's key."""
    variant: str
    """dense, local or conv."""
    fit: PowerFit | None
    """The fitted power law; None when no two points had a positive value."""
    lower_bound: bool = False
    """Fitted over lower bounds (totals leaving opaque ops' unknown counts out): the growth of the
    counted part, not of the metric."""


@dataclass(frozen=True, slots=True)
class Sweep:
    """A finished sweep: the grid, every point's report and the fitted growth laws."""

    spec: SpecInfo
    """The spec as written, before any axis changed it."""
    axes: tuple[Axis, ...]
    """The grid's dimensions, in grid order."""
    points: tuple[SweepPoint, ...]
    """Every combination of axis values, the last axis varying fastest."""
    metrics: tuple[Metric, ...]
    """The metrics reported: the analytic ones (with a training step's when asked), then latency (and
    the training step's) when measured."""
    fits: tuple[AxisFit, ...]
    """Growth laws along each numeric axis with at least two values."""

    @property
    def training(self) -> bool:
        """True when the sweep reports a training step's metrics."""
        return TRAINING_METRICS[0] in self.metrics

    def to_dict(self) -> dict[str, Any]:
        """Return the sweep as JSON-ready data: exact integers, exponents rounded to 6 decimals."""
        optimizer = {"optimizer": self.points[0].report.optimizer} if self.training and self.points else {}
        return {
            "schema_version": SWEEP_SCHEMA_VERSION,
            "kind": "sweep",
            "convprof_version": __version__,
            "spec": {
                "name": self.spec.name,
                "description": self.spec.description,
                "input": list(self.spec.input),
                "batch_size": self.spec.batch_size,
                "dtype": self.spec.dtype,
            },
            **optimizer,
            "axes": [
                {
                    "name": axis.name,
                    "option": axis.option,
                    "values": [v.label for v in axis.values],
                    "numbers": [v.number for v in axis.values] if axis.numeric else None,
                }
                for axis in self.axes
            ],
            "metrics": [{"key": m.key, "title": m.title, "unit": m.unit} for m in self.metrics],
            "points": [self._point_dict(point) for point in self.points],
            "fits": [
                {
                    "axis": f.axis,
                    "metric": f.metric,
                    "variant": f.variant,
                    "exponent": None if f.fit is None else round(f.fit.exponent, 6),
                    "least_squares_exponent": None if f.fit is None else round(f.fit.least_squares, 6),
                    "r2": None if f.fit is None else round(f.fit.r2, 6),
                    "points": 0 if f.fit is None else f.fit.points,
                    **({"lower_bound": True} if f.lower_bound else {}),
                }
                for f in self.fits
            ],
        }

    def _point_dict(self, point: SweepPoint) -> dict[str, Any]:
        variants = {}
        for name in VARIANTS:
            v = point.report.variant(name)
            entry: dict[str, Any] = {figure.key: figure.read(v) for figure in POINT_FIGURES}
            if self.training:
                entry["training_flops"] = TRAINING_METRICS[0].read(v)
            if v.lower_bounds:  # present only where opaque ops leave counts unknown
                entry["unknown_ops"] = v.unknown_ops
                entry["lower_bounds"] = list(v.lower_bounds)
            if LATENCY in self.metrics:
                entry["latency"] = v.latency_dict()
                entry["skipped"] = skip_reason(point.report, name)
            if TRAINING_LATENCY in self.metrics:
                entry["training_latency"] = v.training_latency_dict()
                entry["training_skipped"] = skip_reason(point.report, name, training=True)
            variants[name] = entry
        return {
            "index": point.index,
            "values": dict(zip((a.name for a in self.axes), point.labels, strict=True)),
            "input": list(point.report.spec.input),
            "batch_size": point.report.spec.batch_size,
            "dtype": point.report.spec.dtype,
            "variants": variants,
        }

    def fit(self, axis: str, metric: str, variant: str) -> PowerFit | None:
        """Return the growth law of `metric` of `variant` along `axis`."""
        for f in self.fits:
            if (f.axis, f.metric, f.variant) == (axis, metric, variant):
                return f.fit
        raise KeyError((axis, metric, variant))


# -- reading a point's figures ------------------------------------------------------------------------


def _results(report: Report, variant: str, training: bool) -> tuple[DeviceLatency, ...]:
    data = report.variant(variant)
    return (data.training_latency if training else data.latency) or ()


def _measured(report: Report, variant: str, training: bool = False) -> DeviceLatency | None:
    """Return `variant`'s measured result at this point (a sweep measures one device), of a training
    step with `training`; None if none."""
    return next(iter(_results(report, variant, training)), None)


def latency_stable(report: Report, variant: str, training: bool = False) -> bool | None:
    """Return whether `variant`'s measured latency (or training step) at this point is stable; None
    when not measured."""
    result = _measured(report, variant, training)
    return None if result is None or result.stats is None else result.stats.stable


def skip_reason(report: Report, variant: str, training: bool = False) -> str | None:
    """Return why `variant`'s latency (or training step) was not measured at this point, or None."""
    reasons = [r.skipped for r in _results(report, variant, training) if r.skipped is not None]
    return "; ".join(reasons) if reasons else None


def metric_lower_bound(report: Report, figure: Metric, variant: str) -> bool:
    """Return True when a metric of a variant is a lower bound (MACs beside opaque ops)."""
    return figure.is_lower_bound(report.variant(variant))


def metric_value(report: Report, figure: Metric, variant: str) -> int | float | None:
    """Return one metric of one variant: exact integers for counts and bytes, seconds for latency."""
    return figure.read(report.variant(variant))


def build_sweep(
    base: ModelSpec,
    axes: Sequence[Axis],
    points: Sequence[tuple[tuple[str, ...], Report]],
    *,
    latency: bool = False,
    training: bool = False,
) -> Sweep:
    """Gather the points' reports and fit each metric's growth law along each numeric axis; with
    `training`, a training step's metrics too (measured with `latency`)."""
    info = spec_info(base)
    swept = tuple(SweepPoint(i, labels, report) for i, (labels, report) in enumerate(points))
    metrics = (
        *METRICS,
        *(TRAINING_METRICS if training else ()),
        *((LATENCY,) if latency else ()),
        *((TRAINING_LATENCY,) if latency and training else ()),
    )
    fits = []
    for position, axis in enumerate(axes):
        if not axis.numeric or len(axis.values) < 2:
            continue
        number = {v.label: v.number for v in axis.values}
        for figure, variant in itertools.product(metrics, VARIANTS):
            slices: dict[tuple[str, ...], list[tuple[float, float]]] = {}
            bounded = False
            for point in swept:
                others = point.labels[:position] + point.labels[position + 1 :]
                value = metric_value(point.report, figure, variant)
                x = number[point.labels[position]]
                if value is not None and x is not None:
                    slices.setdefault(others, []).append((x, float(value)))
                    bounded = bounded or metric_lower_bound(point.report, figure, variant)
            fit = fit_power(list(slices.values()))
            fits.append(AxisFit(axis.name, figure.key, variant, fit, bounded and fit is not None))
    return Sweep(info, tuple(axes), swept, metrics, tuple(fits))
