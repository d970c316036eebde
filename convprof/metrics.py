"""The metric registry: every figure convprof limits, compares or sweeps, declared once.

A metric says its key, its title, its unit, how a limit on it is written, how its value is read from
a variant's report (and a layer's, where layers have it), whether it can be a lower bound, and its
JSON Schema type. Budgets and their parsing, `check`'s --max-* options, growth allowances, `diff`,
`merge`, `sweep`, the renderers and the command schemas all derive from this one list; adding a
metric is one `_declare` here.

The registry needs nothing above the base modules: values are read from a report by attribute, so
the spec format (which parses budgets) can use it as well as everything that reads reports.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Literal

from convprof.quantity import parse_bytes, parse_count, parse_milliseconds

__all__ = [
    "LATENCY_DEVICES",
    "METRICS",
    "Metric",
    "Number",
    "Unit",
    "budget_keys",
    "budget_metrics",
    "growth_keys",
    "layer_metrics",
    "lower_bound_totals",
    "measured_metrics",
    "metric",
    "metric_of",
    "totals",
]

Number = int | float
#: How a metric's values are counted: exact integers (`count`, `bytes`) or measured times.
Unit = Literal["count", "bytes", "milliseconds", "seconds"]
#: Devices a measured metric's limit may name (`latency_ms.cpu`); a report's `cuda:0` counts as `cuda`.
LATENCY_DEVICES = ("cpu", "cuda")


@dataclass(frozen=True, slots=True)
class Metric:
    """One figure of a variant (and of its layers, where they have it), declared once."""

    key: str
    """Its name in budgets, options, JSON, CSV and diffs: `params`, `latency_ms` (`latency_ms.cpu`
    per device for a measured one)."""
    title: str
    """Its name in sentences, chart panels and the HTML report."""
    short: str
    """Its name in table headers, where many columns must fit."""
    unit: Unit
    """count, bytes, milliseconds or seconds: how a limit is parsed and a value formatted."""
    description: str
    """What it is, in one sentence, for help texts and schemas."""
    example: str | None = None
    """A limit as a budget writes it (`100k`, `4MiB`, `5`); None when it cannot be budgeted."""
    total: bool = False
    """A total every variant of a report writes (its `VARIANT_TOTALS`), read by attribute."""
    layer: str | None = None
    """The layer report's attribute holding the layer's share; None when layers have none."""
    lower_bound: bool = False
    """It can be a lower bound: a total that leaves opaque ops' unknown counts out."""
    results: str | None = None
    """For a measured time: the variant's attribute holding its results per device (`latency`)."""
    derive: Callable[[Any], Number] | None = None
    """For a figure made of others (inference memory): how it is computed from a variant."""

    @property
    def measured(self) -> bool:
        """True for a time measured per device (never an analytic count)."""
        return self.results is not None

    @property
    def budget(self) -> bool:
        """True when a spec's `budgets:` and a --max-* option may limit it."""
        return self.example is not None

    @property
    def option(self) -> str:
        """The `check` option that limits it: --max-params, --max-latency."""
        return "--max-" + self.key.removesuffix("_ms").replace("_", "-")

    def parse_limit(self, text: str) -> Number:
        """Return the exact limit `text` writes; ValueError says what is wrong."""
        if self.unit == "bytes":
            return parse_bytes(text)
        if self.unit == "count":
            return parse_count(text)
        return float(parse_milliseconds(text))

    def schema(self) -> dict[str, Any]:
        """Return the JSON Schema of one of its values."""
        if self.unit in ("count", "bytes"):
            return {"type": "integer", "minimum": 0}
        return {"type": "number", "minimum": 0}

    def read(self, variant: Any) -> Number | None:
        """Return its value for a variant's report: an exact integer for a count or bytes, the median
        of the first device measured for a time (in its unit), None where nothing was measured."""
        if self.derive is not None:
            return self.derive(variant)
        if not self.measured:
            value: Number | None = getattr(variant, self.key)
            return value
        result = next(iter(self.results_of(variant)), None)
        if result is None or result.stats is None or result.stats.median_ms <= 0:
            return None
        median: float = result.stats.median_ms
        return median / 1000 if self.unit == "seconds" else median

    def read_layer(self, layer: Any) -> Number | None:
        """Return a layer's share; None when unknown (an opaque op's)."""
        assert self.layer is not None, self.key
        value: Number | None = getattr(layer, self.layer)
        return value

    def is_lower_bound(self, variant: Any) -> bool:
        """Return True when a variant's value is a lower bound (MACs beside opaque ops)."""
        return self.lower_bound and self.key in variant.lower_bounds

    def results_of(self, variant: Any) -> tuple[Any, ...]:
        """Return a measured time's results of a variant, one per device (skipped ones included)."""
        assert self.results is not None, self.key
        found: tuple[Any, ...] = getattr(variant, self.results) or ()
        return found

    def medians(self, variant: Any) -> Iterator[tuple[str, float | None, bool | None]]:
        """Yield (`key.device`, median ms, stable) of each device measured, sorted by device; a
        device's bare name (`latency_ms.cuda` for `cuda:0`) follows its first result."""
        for result in sorted(self.results_of(variant), key=lambda result: result.device):
            stats = result.stats
            median = None if stats is None else stats.median_ms
            stable = None if stats is None else stats.stable
            yield f"{self.key}.{result.device}", median, stable
            bare = result.device.partition(":")[0]
            if bare != result.device:
                yield f"{self.key}.{bare}", median, stable

    def on(self, variant: Any, device: str) -> tuple[float | None, bool | None]:
        """Return (median ms, stable) measured on exactly `device`; (None, None) when not measured."""
        for result in self.results_of(variant):
            if result.device == device:
                stats = result.stats
                return (None, None) if stats is None else (stats.median_ms, stats.stable)
        return None, None


#: Every metric, by key, in the order tables, JSON and CSV list them.
METRICS: dict[str, Metric] = {}


def _declare(*metrics: Metric) -> None:
    """Add metrics to the registry; a key declared twice is a bug."""
    for item in metrics:
        if item.key in METRICS:
            raise ValueError(f"metric {item.key!r} is declared twice")
        METRICS[item.key] = item


def _inference_memory(variant: Any) -> int:
    memory: int = variant.param_bytes + variant.buffer_bytes + variant.activation_bytes
    return memory


# One metric to a few lines, so the registry reads as a table; the formatter would spread each over a
# dozen (hence `fmt: skip` on the call).
_declare(
    # A variant's totals, in the order a report writes them.
    Metric("params", "Parameters", "Params", "count", "Parameters, trainable or frozen.", "100k",
           total=True, layer="params"),
    Metric("trainable_params", "Trainable parameters", "Trainable", "count",
           "Parameters a training step updates (those a spec does not freeze).", "10k", total=True),
    Metric("frozen_params", "Frozen parameters", "Frozen", "count",
           "Parameters of frozen layers: no gradient, no optimizer state.", total=True,
           layer="frozen_params"),
    Metric("macs", "MACs", "MACs", "count", "Multiply-accumulates for the batch.", "1G", total=True,
           layer="macs", lower_bound=True),
    Metric("flops", "FLOPs", "FLOPs", "count", "FLOPs for the batch: 2 x MACs.", "2G", total=True,
           layer="flops", lower_bound=True),
    Metric("backward_flops", "Backward FLOPs", "Bwd FLOPs", "count",
           "FLOPs of a training step's backward for the batch.", total=True, layer="backward_flops",
           lower_bound=True),
    Metric("training_flops", "Training FLOPs", "Train FLOPs", "count",
           "FLOPs of one training step (forward + backward) for the batch.", "6G", total=True,
           lower_bound=True),
    Metric("elementwise_ops", "Element-wise ops", "Elem. ops", "count",
           "Bias adds, activations, pooling and normalisation ops for the batch.", total=True,
           layer="elementwise_ops", lower_bound=True),
    Metric("param_bytes", "Weight memory", "Weights", "bytes", "Weight memory in bytes.", "4MiB",
           total=True),
    Metric("buffer_bytes", "Buffer memory", "Buffers", "bytes",
           "Non-trainable state (BatchNorm running statistics) in bytes.", total=True,
           layer="buffer_bytes"),
    Metric("activation_bytes", "Peak activations", "Act.", "bytes",
           "Peak inference activation memory in bytes, by liveness (a layer's: its output's).", "64MB",
           total=True, layer="activation_bytes"),
    Metric("saved_activation_bytes", "Saved activations", "Saved", "bytes",
           "Bytes autograd keeps for a training step's backward.", total=True, layer="saved_bytes",
           lower_bound=True),
    Metric("optimizer_bytes", "Optimizer state", "Opt. state", "bytes",
           "Optimizer state in bytes.", total=True, lower_bound=True),
    Metric("training_bytes", "Training memory", "Train mem.", "bytes",
           "Peak memory of one training step in bytes.", "1GiB", total=True, lower_bound=True),
    # Figures of a variant besides its totals.
    Metric("memory_bytes", "Memory", "Memory", "bytes",
           "Inference memory: weights + buffers + peak activations, for the batch.",
           derive=_inference_memory),
    Metric("unknown_ops", "Unknown ops", "Unknown", "count",
           "Layers whose arithmetic convprof cannot count (opaque ops)."),
    Metric("fan_in", "Fan-in", "Fan-in", "count", "Connections per output unit, bias excluded.",
           layer="fan_in"),
    # Measured times, per device: limits in milliseconds, sweeps in seconds.
    Metric("latency_ms", "Latency", "Latency", "milliseconds",
           "Median latency in milliseconds per device.", "5", results="latency"),
    Metric("training_latency_ms", "Training step", "Step", "milliseconds",
           "Median training step in milliseconds per device.", "50", results="training_latency"),
    Metric("latency_s", "Latency", "Latency", "seconds", "Median latency in seconds.",
           results="latency"),
    Metric("training_latency_s", "Training step", "Step", "seconds",
           "Median training step in seconds.", results="training_latency"),
)  # fmt: skip


def metric(key: str) -> Metric:
    """Return the metric declared as `key`; KeyError when none is."""
    return METRICS[key]


def metric_of(name: str) -> Metric | None:
    """Return the metric a check or diff names: `params`, or `latency_ms.cpu` for a measured one."""
    key, dot, device = name.partition(".")
    found = METRICS.get(key)
    if found is None or found.measured != bool(dot) or (dot and not device):
        return None
    return found


def totals() -> tuple[Metric, ...]:
    """The totals every variant of a report writes, in order."""
    return tuple(m for m in METRICS.values() if m.total)


def lower_bound_totals() -> tuple[Metric, ...]:
    """The totals that can be lower bounds, in order."""
    return tuple(m for m in totals() if m.lower_bound)


def budget_metrics() -> tuple[Metric, ...]:
    """The size metrics a budget may limit (counts and bytes), in order."""
    return tuple(m for m in METRICS.values() if m.budget and not m.measured)


def measured_metrics() -> tuple[Metric, ...]:
    """The times a budget may limit per device, in milliseconds, in order."""
    return tuple(m for m in METRICS.values() if m.budget and m.measured)


def budget_keys() -> tuple[str, ...]:
    """Every key a spec's `budgets:` takes: the size metrics, then the measured ones (by device)."""
    return tuple(m.key for m in METRICS.values() if m.budget)


def growth_keys() -> tuple[str, ...]:
    """Every metric --max-growth may name: the size metrics, then each measured one by device."""
    return (
        *(m.key for m in budget_metrics()),
        *(f"{m.key}.{device}" for m in measured_metrics() for device in LATENCY_DEVICES),
    )


def layer_metrics() -> tuple[Metric, ...]:
    """The metrics layers have, in order."""
    return tuple(m for m in METRICS.values() if m.layer is not None)
