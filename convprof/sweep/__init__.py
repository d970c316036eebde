"""Scaling sweeps: a grid of edits to a spec's YAML tree, each point parsed, validated and analysed.

Every axis is a list of values. `--resolution`, `--batch-size` and `--set PATH=...` write a YAML node
at a path of the spec's tree (`input`, `batch_size`, PATH); `--width` rescales channels once the
point's other values are in place. Each point's tree then goes through the same parser as a spec file,
so a point that cannot be built fails with the parser's own message, located in the file, naming the
point. Several axes make a grid: every combination, the last axis varying fastest.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from convprof.errors import SpecError, UsageError
from convprof.graph.parse import WidthRule, parse_nodes
from convprof.graph.variants import VARIANTS
from convprof.report import Report, SpecInfo
from convprof.report.analyze import spec_info
from convprof.report.results import DeviceLatency
from convprof.spec import ModelSpec
from convprof.spec.args import MAX_INT
from convprof.spec.sources import SpecSource
from convprof.spec.yamledit import edit, scalar
from convprof.spec.yamlnode import Node, Scalar, load_nodes
from convprof.spec.yamlnode import Sequence as SeqNode
from convprof.sweep.fit import PowerFit, fit_power
from convprof.units import clip
from convprof.version import __version__

__all__ = [
    "LATENCY",
    "MAX_POINTS",
    "METRICS",
    "SWEEP_SCHEMA_VERSION",
    "TRAINING_LATENCY",
    "TRAINING_METRICS",
    "Axis",
    "AxisFit",
    "AxisValue",
    "Metric",
    "PointSpec",
    "Sweep",
    "SweepPoint",
    "batch_axis",
    "build_sweep",
    "latency_stable",
    "metric_lower_bound",
    "metric_value",
    "point_specs",
    "resolution_axis",
    "set_axis",
    "skip_reason",
    "whole_shape",
    "width_axis",
]

#: Version of the sweep's JSON document; bumped on any incompatible change.
SWEEP_SCHEMA_VERSION = 1
#: Largest --width multiplier: times any channel count it passes torch's int64 (2**63).
MAX_WIDTH = float(2**63)
#: Largest grid a sweep builds; a bigger one is almost always a typo in a value list.
MAX_POINTS = 10_000


@dataclass(frozen=True, slots=True)
class Metric:
    """A quantity every point reports for every variant."""

    key: str
    """Field name in JSON and CSV."""
    title: str
    """Name in sentences and plot panels."""
    short: str
    """Name in table headers, where nine columns must fit."""
    unit: str
    """count, bytes or seconds: how to format it and label a plot's axis."""


#: The analytic metrics of every sweep.
METRICS = (
    Metric("params", "Parameters", "Params", "count"),
    Metric("macs", "MACs", "MACs", "count"),
    Metric("memory_bytes", "Memory", "Memory", "bytes"),
)
#: The measured metric, present with --latency.
LATENCY = Metric("latency_s", "Latency", "Latency", "seconds")
#: The analytic metrics of a training step, present with --training: its FLOPs (forward and
#: backward) and its modelled peak memory.
TRAINING_METRICS = (
    Metric("training_flops", "Training FLOPs", "Train FLOPs", "count"),
    Metric("training_bytes", "Training memory", "Train mem.", "bytes"),
)
#: The measured training step, present with --training and --latency.
TRAINING_LATENCY = Metric("training_latency_s", "Training step", "Step", "seconds")


@dataclass(frozen=True, slots=True)
class AxisValue:
    """One value of an axis."""

    label: str
    """The value as the user wrote it."""
    number: float | None
    """Its position on a log axis (a resolution's side, a kernel's size); None when not a number."""
    node: Node | None
    """The YAML node written at the axis' path; None for width, which is no single node."""


@dataclass(frozen=True, slots=True)
class Axis:
    """One dimension of the grid."""

    name: str
    """resolution, width, batch_size or the dotted path a --set edits."""
    option: str
    """The option that gave it, for messages: --resolution, --set layers.0.conv2d.kernel_size."""
    path: tuple[str, ...]
    """Where its nodes go in the YAML tree; empty for width."""
    values: tuple[AxisValue, ...]
    """Its values in the order given."""

    @property
    def numeric(self) -> bool:
        """True when every value is a positive number, so a growth law can be fitted along it."""
        return all(v.number is not None and v.number > 0 for v in self.values)


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
            entry: dict[str, Any] = {
                key: getattr(v, key) for key in ("params", "macs", "flops", "param_bytes", "buffer_bytes")
            }
            entry["activation_bytes"] = v.activation_bytes
            entry["memory_bytes"] = metric_value(point.report, METRICS[2], name)
            entry["training_bytes"] = v.training_bytes
            if self.training:
                entry["training_flops"] = v.training_flops
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


def metric_lower_bound(report: Report, metric: Metric, variant: str) -> bool:
    """Return True when a metric of a variant is a lower bound (MACs beside opaque ops)."""
    return metric.key in report.variant(variant).lower_bounds


def metric_value(report: Report, metric: Metric, variant: str) -> int | float | None:
    """Return one metric of one variant: exact integers for counts and bytes, seconds for latency."""
    v = report.variant(variant)
    if metric.key == "params":
        return v.params
    if metric.key == "macs":
        return v.macs
    if metric.key == "memory_bytes":
        # Inference memory: weights, buffers and the peak of live activations.
        return v.param_bytes + v.buffer_bytes + v.activation_bytes
    if metric.key == "training_flops":
        return v.training_flops
    if metric.key == "training_bytes":
        return v.training_bytes
    result = _measured(report, variant, training=metric == TRAINING_LATENCY)
    if result is None or result.stats is None or result.stats.median_ms <= 0:
        return None
    return result.stats.median_ms / 1000


# -- axes from the command line ------------------------------------------------------------------------


def _split(text: str) -> list[str]:
    """Split a value list at commas outside brackets: `3,[3, 5],7` -> ['3', '[3, 5]', '7']."""
    parts: list[str] = []
    current: list[str] = []
    depth = 0
    for char in text:
        if char in "[{":
            depth += 1
        elif char in "]}":
            depth -= 1
        if char == "," and depth == 0:
            parts.append("".join(current).strip())
            current = []
        else:
            current.append(char)
    parts.append("".join(current).strip())
    return parts


def _values(option: str, text: str, example: str) -> list[str]:
    parts = _split(text)
    if any(not p for p in parts):
        raise UsageError(
            f"{option}: empty value in {clip(text)}; give a comma-separated list such as {example}"
        )
    seen: set[str] = set()
    for part in parts:
        if part in seen:
            raise UsageError(f"{option}: {clip(part, quoted=False)} is given twice; give each value once")
        seen.add(part)
    return parts


def _int_node(value: int) -> Scalar:
    return scalar(str(value))


_SIZE = re.compile(r"^\d+(x\d+){0,3}$")


def _size(option: str, label: str, digits: str) -> int:
    """Return a size written in decimal digits; UsageError past MAX_INT (no tensor can be that big)."""
    if len(digits.lstrip("0")) > len(str(MAX_INT)) or int(digits) > MAX_INT:
        raise UsageError(
            f"{option}: {clip(label)} is larger than {MAX_INT:,} (2**63 - 1); give smaller sizes"
        )
    return int(digits)


def resolution_axis(text: str, base_input: tuple[int, ...]) -> Axis:
    """Read `--resolution`: sides (`32,64`: every spatial side), spatial shapes or whole inputs.

    For a 2-D input `64x96` is height x width and `3x64x96` a whole input; for a 1-D input `1000`
    is the length and `1x1000` a whole input; for a 3-D input `16x112x112` is frames x height x width
    and `3x16x112x112` a whole input.
    """
    option = "--resolution"
    rank = len(base_input) - 1
    values = []
    for label in _values(option, text, "32,64,128,224"):
        if not _SIZE.match(label.lower()):
            raise UsageError(
                f"{option}: {clip(label)} is not a size; give sides such as 32,64,128 "
                "or shapes such as 64x96 or 3x64x96"
            )
        dims = [_size(option, label, d) for d in label.lower().split("x")]
        if any(d < 1 for d in dims):
            raise UsageError(f"{option}: {clip(label)} has a zero dimension; sizes start at 1")
        if rank not in (1, 2, 3) and len(dims) < 3:
            shape = "x".join(map(str, base_input))
            raise UsageError(
                f"{option}: the spec's input {shape} is not channels x height x width; "
                "give whole shapes such as 3x64x96, or sweep its entries with --set input.1=..."
            )
        if len(dims) == 1 and rank in (1, 2, 3):
            shape_dims = [base_input[0], *dims * rank]
        elif len(dims) == rank and rank > 1:
            shape_dims = [base_input[0], *dims]
        elif len(dims) == rank + 1 or rank not in (1, 2, 3):
            shape_dims = dims
        else:
            raise UsageError(
                f"{option}: {clip(label)} does not fit the spec's {rank}-D input "
                f"{'x'.join(map(str, base_input))}; give {_RESOLUTION_FORMS[rank]}"
            )
        node = SeqNode(tuple(_int_node(d) for d in shape_dims), 0, 0)
        # The side of the square (cube) of equal area (volume), so 64x96 and 78x78 sit at one place.
        sides = shape_dims[1:]
        values.append(AxisValue(label, math.prod(sides) ** (1 / len(sides)) if sides else 1.0, node))
    return Axis("resolution", option, ("input",), tuple(values))


#: What --resolution takes for an input of each rank.
_RESOLUTION_FORMS = {
    1: "lengths such as 1000,2000 or whole inputs such as 1x1000",
    2: "sides such as 32,64, shapes such as 64x96 or whole inputs such as 3x64x96",
    3: "sides such as 32,64, frames x height x width such as 16x112x112 or whole inputs such as 3x16x112x112",
}


def width_axis(text: str) -> Axis:
    """Read `--width 0.25,0.5,1,2`: multipliers on every conv's and hidden linear's outputs."""
    option = "--width"
    values = []
    for label in _values(option, text, "0.25,0.5,1,2"):
        try:
            number = float(label)
        except ValueError:
            number = math.nan
        if not (number > 0 and math.isfinite(number)):
            raise UsageError(
                f"{option}: {clip(label)} is not a positive multiplier; give values such as 0.5,1,2"
            )
        if number > MAX_WIDTH:
            raise UsageError(f"{option}: {clip(label)} is over 2**63; no layer could be that wide")
        values.append(AxisValue(label, number, None))
    return Axis("width", option, (), tuple(values))


def batch_axis(text: str) -> Axis:
    """Read `--batch-size 1,8,32`."""
    option = "--batch-size"
    values = []
    for label in _values(option, text, "1,8,32"):
        if not label.isdigit() or _size(option, label, label) < 1:
            raise UsageError(f"{option}: {clip(label)} is not a positive integer; give values such as 1,8,32")
        values.append(AxisValue(label, float(int(label)), _int_node(int(label))))
    return Axis("batch_size", option, ("batch_size",), tuple(values))


def _node_number(node: Node) -> float | None:
    """Return where a value sits on a log axis; None when it is no positive finite number."""
    if isinstance(node, Scalar):
        if node.tag in ("int", "float") and isinstance(node.value, (int, float)):
            return float(node.value)
        return None
    if isinstance(node, SeqNode) and node.items:
        numbers = [_node_number(item) for item in node.items]
        if all(n is not None and n > 0 for n in numbers):
            # A [height, width] pair sits at its geometric mean, as a resolution does.
            mean = math.prod(n for n in numbers if n is not None) ** (1 / len(numbers))
            return mean if math.isfinite(mean) else None
    return None


def set_axis(text: str) -> Axis:
    """Read `--set PATH=V1,V2,...`: YAML values written at a dotted path of the spec."""
    example = "layers.0.conv2d.kernel_size=3,5,7"
    path_text, equals, values_text = text.partition("=")
    path_text = path_text.strip()
    if not equals or not path_text or not values_text.strip():
        raise UsageError(f"--set expects PATH=V1,V2,... such as {example}; got {clip(text)}")
    path = tuple(path_text.split("."))
    if any(not segment for segment in path):
        raise UsageError(f"--set {path_text}: empty segment in the path; write it as {example.split('=')[0]}")
    option = f"--set {path_text}"
    values = []
    for label in _values(option, values_text, "3,5,7"):
        try:
            node = load_nodes(label.encode("utf-8"), option)
        except SpecError as exc:
            raise UsageError(
                f"{option}: {clip(label)} is not a YAML value ({exc.message}); "
                "write numbers, strings or lists such as [3, 5]"
            ) from exc
        values.append(AxisValue(label, _node_number(node), node))
    return Axis(path_text, option, path, tuple(values))


def _check_overlaps(axes: Sequence[Axis]) -> None:
    for first, second in itertools.combinations(axes, 2):
        if not first.path or not second.path:
            continue
        shorter = min(len(first.path), len(second.path))
        if first.path[:shorter] == second.path[:shorter]:
            raise UsageError(
                f"{second.option} and {first.option} both change {'.'.join(second.path[:shorter])}; "
                "keep one of them"
            )


# -- editing the YAML tree ----------------------------------------------------------------------------


def _edit(node: Node, path: tuple[str, ...], new: Node, option: str) -> Node:
    """Return `node` with `new` written at `path`; a bad path is a usage error naming the option."""
    return edit(node, path, new, lambda message: UsageError(f"{option}: {message}"))


# -- width --------------------------------------------------------------------------------------------


# -- the grid ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PointSpec:
    """One grid point's values and its validated spec."""

    labels: tuple[str, ...]
    """The point's value on each axis, as written."""
    spec: ModelSpec
    """The spec with the point's values in place."""


def _describe_point(axes: Sequence[Axis], labels: Sequence[str]) -> str:
    return ", ".join(f"{a.name}={label}" for a, label in zip(axes, labels, strict=True))


def point_specs(
    source: SpecSource, axes: Sequence[Axis], imports: Mapping[str, SpecSource] | None = None
) -> tuple[PointSpec, ...]:
    """Build and validate every point's spec; the first invalid point raises, naming it.

    `imports` maps a `--resolution` value to the spec of a model imported at that input: a point of
    that value starts from it instead of writing its `input` (a model's opaque ops have shapes only
    where it was imported)."""
    if not axes:
        raise UsageError(
            "give at least one axis: --resolution, --width, --batch-size or --set PATH=V1,V2,..."
        )
    _check_overlaps(axes)
    names = [a.name for a in axes]
    for name in names:
        if names.count(name) > 1:
            raise UsageError(f"{name} is swept twice; give one list of values for it")
    total = math.prod(len(a.values) for a in axes)
    if total > MAX_POINTS:
        sizes = " x ".join(str(len(a.values)) for a in axes)
        raise UsageError(f"the grid has {sizes} = {total:,} points, over {MAX_POINTS:,}; sweep fewer values")
    root = load_nodes(source.data, source.display)
    parse_nodes(root, source.display, source.stem)  # the spec itself must be valid before any point is
    roots = {label: (load_nodes(s.data, s.display), s.display) for label, s in (imports or {}).items()}
    points = []
    for number, combination in enumerate(itertools.product(*(a.values for a in axes)), start=1):
        labels = tuple(v.label for v in combination)
        tree, display = root, source.display
        width: float | None = None
        for axis, value in zip(axes, combination, strict=True):
            if axis.name == "resolution" and value.label in roots:
                tree, display = roots[value.label]  # resolution is the first axis: nothing is lost
            elif value.node is None:
                width = value.number
            else:
                tree = _edit(tree, axis.path, value.node, axis.option)
        try:
            spec = parse_nodes(tree, display, source.stem)
            if width is not None:
                spec = parse_nodes(tree, display, source.stem, WidthRule.of(spec, width))
        except SpecError as exc:
            where = _describe_point(axes, labels)
            options = ", ".join(a.option for a in axes)
            raise UsageError(
                f"sweep point {number} of {total} ({where}) is not a valid spec: {exc}; "
                f"change or drop that value of {options}"
            ) from exc
        points.append(PointSpec(labels, spec))
    return tuple(points)


def whole_shape(value: AxisValue) -> str:
    """Return a `--resolution` value as the whole input shape it writes: 3x64x64."""
    assert isinstance(value.node, SeqNode)
    return "x".join(item.text for item in value.node.items if isinstance(item, Scalar))


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
        for metric, variant in itertools.product(metrics, VARIANTS):
            slices: dict[tuple[str, ...], list[tuple[float, float]]] = {}
            bounded = False
            for point in swept:
                others = point.labels[:position] + point.labels[position + 1 :]
                value = metric_value(point.report, metric, variant)
                x = number[point.labels[position]]
                if value is not None and x is not None:
                    slices.setdefault(others, []).append((x, float(value)))
                    bounded = bounded or metric_lower_bound(point.report, metric, variant)
            fit = fit_power(list(slices.values()))
            fits.append(AxisFit(axis.name, metric.key, variant, fit, bounded and fit is not None))
    return Sweep(info, tuple(axes), swept, metrics, tuple(fits))
