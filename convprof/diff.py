"""What changed between two saved reports: per variant, per metric and per layer."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from convprof.budgets import metric_values
from convprof.variants import VARIANTS

__all__ = [
    "DIFF_SCHEMA_VERSION",
    "LAYER_FIELDS",
    "LayerChange",
    "MetricChange",
    "ReportDiff",
    "VariantDiff",
    "diff_reports",
]

#: Version of the JSON `diff --format json` writes; bumped on any incompatible change.
DIFF_SCHEMA_VERSION = 1

#: Variant totals compared, besides the size metrics budgets know and the measured latencies.
_EXTRA_METRICS = ("elementwise_ops", "buffer_bytes", "saved_activation_bytes", "optimizer_bytes")
#: Layer fields compared, in the order outputs list them.
LAYER_FIELDS = (
    "kind",
    "output_shape",
    "params",
    "macs",
    "flops",
    "elementwise_ops",
    "buffer_bytes",
    "activation_bytes",
    "fan_in",
)

Value = int | float | str | None


@dataclass(frozen=True, slots=True)
class MetricChange:
    """One metric before and after."""

    metric: str
    """Metric or field name, e.g. `params`, `latency_ms.cpu`, `output_shape`."""
    old: Value
    """Value in the old report; None when it has none."""
    new: Value
    """Value in the new report; None when it has none."""

    @property
    def changed(self) -> bool:
        """True when the values differ."""
        return self.old != self.new

    @property
    def delta(self) -> int | float | None:
        """new - old for numbers present on both sides."""
        old, new = self.old, self.new
        if isinstance(old, (int, float)) and isinstance(new, (int, float)):
            return new - old
        return None

    @property
    def percent(self) -> float | None:
        """Change in percent of the old value; None when it is not a number or is 0."""
        if self.delta is None or not self.old:
            return None
        assert isinstance(self.old, (int, float))
        return float(Fraction(self.delta) * 100 / Fraction(self.old))


@dataclass(frozen=True, slots=True)
class LayerChange:
    """A layer added, removed or changed, matched between the reports by name."""

    status: str
    """added, removed or changed."""
    name: str
    """The layer's name."""
    old_index: int | None
    """0-based position in the old report; None when added."""
    new_index: int | None
    """0-based position in the new report; None when removed."""
    changes: tuple[MetricChange, ...]
    """Fields that differ (every field for an added or removed layer); empty when only moved."""

    @property
    def moved(self) -> bool:
        """True when a layer present in both sits at another position."""
        return self.status == "changed" and self.old_index != self.new_index


@dataclass(frozen=True, slots=True)
class VariantDiff:
    """The change of one variant."""

    variant: str
    """dense, local or conv."""
    metrics: tuple[MetricChange, ...]
    """Every total, changed or not, in a stable order."""
    layers: tuple[LayerChange, ...]
    """Layers added, removed or changed, in model order."""


@dataclass(frozen=True, slots=True)
class ReportDiff:
    """Everything that changed between an old and a new report."""

    old_label: str
    """The old report's spec name (and source, as given)."""
    new_label: str
    """The new report's spec name (and source, as given)."""
    variants: tuple[VariantDiff, ...]
    """dense, local and conv."""

    @property
    def changed(self) -> bool:
        """True when any metric or layer differs."""
        return any(m.changed for v in self.variants for m in v.metrics) or any(
            v.layers for v in self.variants
        )

    def variant(self, name: str) -> VariantDiff:
        """Return the diff of the variant called `name`."""
        for variant in self.variants:
            if variant.variant == name:
                return variant
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        """Return JSON-ready data with a stable key order."""

        def metric(change: MetricChange) -> dict[str, Any]:
            return {
                "old": change.old,
                "new": change.new,
                "delta": change.delta,
                "percent": None if change.percent is None else round(change.percent, 4),
            }

        return {
            "schema_version": DIFF_SCHEMA_VERSION,
            "kind": "diff",
            "old": self.old_label,
            "new": self.new_label,
            "changed": self.changed,
            "variants": {
                v.variant: {
                    "metrics": {m.metric: metric(m) for m in v.metrics},
                    "layers": [
                        {
                            "status": layer.status,
                            "name": layer.name,
                            "old_index": layer.old_index,
                            "new_index": layer.new_index,
                            "changes": {m.metric: metric(m) for m in layer.changes},
                        }
                        for layer in v.layers
                    ],
                }
                for v in self.variants
            },
        }


def _field(layer: Mapping[str, Any], name: str) -> Value:
    value = layer.get(name)
    if isinstance(value, list):
        return "x".join(str(v) for v in value)
    return value if isinstance(value, (int, float, str)) else None


def _layers(old: list[Mapping[str, Any]], new: list[Mapping[str, Any]]) -> tuple[LayerChange, ...]:
    old_by_name = {layer["name"]: layer for layer in old}
    new_by_name = {layer["name"]: layer for layer in new}
    found: list[tuple[tuple[int, int], LayerChange]] = []
    for layer in old:
        if layer["name"] not in new_by_name:
            changes = tuple(MetricChange(f, _field(layer, f), None) for f in LAYER_FIELDS)
            change = LayerChange("removed", layer["name"], layer["index"], None, changes)
            found.append(((layer["index"], 0), change))
    for layer in new:
        before = old_by_name.get(layer["name"])
        if before is None:
            changes = tuple(MetricChange(f, None, _field(layer, f)) for f in LAYER_FIELDS)
            found.append(
                ((layer["index"], 1), LayerChange("added", layer["name"], None, layer["index"], changes))
            )
            continue
        changes = tuple(
            c for f in LAYER_FIELDS if (c := MetricChange(f, _field(before, f), _field(layer, f))).changed
        )
        if changes or before["index"] != layer["index"]:
            change = LayerChange("changed", layer["name"], before["index"], layer["index"], changes)
            found.append(((layer["index"], 1), change))
    return tuple(change for _, change in sorted(found, key=lambda item: item[0]))


def diff_reports(
    old: Mapping[str, Any], new: Mapping[str, Any], old_label: str = "old", new_label: str = "new"
) -> ReportDiff:
    """Compare two JSON reports variant by variant, metric by metric and layer by layer."""
    variants = []
    for name in VARIANTS:
        before, after = metric_values(old, name), metric_values(new, name)
        for extra in _EXTRA_METRICS:
            before[extra] = old["variants"][name][extra]
            after[extra] = new["variants"][name][extra]
        keys = list(before) + [k for k in after if k not in before]
        metrics = tuple(MetricChange(k, before.get(k), after.get(k)) for k in keys)
        layers = _layers(old["variants"][name]["layers"], new["variants"][name]["layers"])
        variants.append(VariantDiff(name, metrics, layers))
    return ReportDiff(old_label, new_label, tuple(variants))
