"""What changed between two saved reports: per variant, per metric and per layer."""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from convprof.ci.budgets import is_latency, lower_bound_metrics, metric_stability, metric_values
from convprof.ci.protocol import protocol_differences
from convprof.graph.variants import VARIANTS
from convprof.metrics import layer_metrics, metric, totals
from convprof.report import LayerReport, Report

__all__ = [
    "BY_CONTENT",
    "BY_NAME",
    "DIFF_SCHEMA_VERSION",
    "LAYER_FIELDS",
    "PAIRING_RULE",
    "UNKNOWN",
    "LayerChange",
    "MetricChange",
    "ReportDiff",
    "VariantDiff",
    "diff_reports",
]

#: Version of the JSON `diff --format json` writes; bumped on any incompatible change.
DIFF_SCHEMA_VERSION = 2
#: How a layer of the old report was paired with one of the new: by its path...
BY_NAME = "name"
#: ...or, for a name the parser generated (`conv2d_3`, which shifts when a layer of its kind is
#: inserted before it), by what it is: its block, kind, output shape and parameters (or its block and
#: kind, in order, where it was edited).
BY_CONTENT = "content"
#: The pairing rule, said once for `--help`, the tables and docs/ci.md.
PAIRING_RULE = (
    "Layers are paired by name: a layer's path in one report is the same layer in the other. A name "
    "the spec did not give (kind_N, generated: it shifts when a layer of its kind is inserted before "
    "it) is paired by content instead: its block, kind, output shape and parameters, or its block "
    "and kind in order where it was edited; such a layer whose name changed is listed as renamed."
)

#: Variant totals compared besides the size metrics budgets know and the measured latencies: the
#: registry's other totals.
_EXTRA_METRICS = tuple(m.key for m in totals() if not m.budget)
#: Compared too when either report has opaque ops: how many layers' arithmetic is unknown.
_UNKNOWN_OPS = metric("unknown_ops")
#: A layer's count convprof does not know (an opaque op's), as a diff shows it; never a 0.
UNKNOWN = "unknown"
#: Layer fields that read `unknown` when None.
_COUNTS = frozenset({"macs", "flops", "elementwise_ops", "fan_in"})
#: Layer fields compared, in the order outputs list them: what a layer is, then the registry's
#: metrics layers have (by the layer's field name).
LAYER_FIELDS = ("kind", "inputs", "output_shape", *(m.layer for m in layer_metrics() if m.layer))

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
    old_lower_bound: bool = False
    """The old value is a lower bound: a total that leaves opaque ops' unknown counts out."""
    new_lower_bound: bool = False
    """The new value is a lower bound."""
    old_stable: bool | None = None
    """For a measured median: whether the old one is stable (None: not a median, or not measured)."""
    new_stable: bool | None = None
    """For a measured median: whether the new one is stable."""
    protocol: tuple[str, ...] = ()
    """For a measured median: what differs between how the two reports measured it (`threads 1 ->
    2`); the medians are then not comparable and no change is given."""

    @property
    def comparable(self) -> bool:
        """False for medians measured under different protocols."""
        return not self.protocol

    @property
    def bounded(self) -> bool:
        """True when either side is a lower bound: no exact change is known."""
        return self.old_lower_bound or self.new_lower_bound

    @property
    def changed(self) -> bool:
        """True when the values differ, or one side became a lower bound."""
        return self.old != self.new or self.old_lower_bound != self.new_lower_bound

    @property
    def counted_delta(self) -> int | float | None:
        """new - old for numbers present on both sides, lower bounds or not (what was counted)."""
        old, new = self.old, self.new
        if isinstance(old, (int, float)) and isinstance(new, (int, float)):
            return new - old
        return None

    @property
    def delta(self) -> int | float | None:
        """new - old for exact numbers present on both sides; None beside a lower bound, and between
        medians measured under different protocols."""
        return None if self.bounded or not self.comparable else self.counted_delta

    @property
    def percent(self) -> float | None:
        """Change in percent of the old value; None when it is not a number or is 0."""
        if self.delta is None or not self.old:
            return None
        assert isinstance(self.old, (int, float))
        return float(Fraction(self.delta) * 100 / Fraction(self.old))


@dataclass(frozen=True, slots=True)
class LayerChange:
    """A layer added, removed, changed or renamed, paired between the reports by name or by content."""

    status: str
    """added, removed, changed, or renamed (paired by content, only its generated name changed)."""
    path: str
    """The layer's path (in the new report when it is in both)."""
    old_index: int | None
    """0-based position in the old report; None when added."""
    new_index: int | None
    """0-based position in the new report; None when removed."""
    changes: tuple[MetricChange, ...]
    """Fields that differ (every field for an added or removed layer); empty when only moved or renamed."""
    paired: str | None = None
    """How the old and new layer were paired: BY_NAME or BY_CONTENT; None when added or removed."""
    old_path: str | None = None
    """The layer's path in the old report (differs from `path` when renamed); None when added."""

    @property
    def moved(self) -> bool:
        """True when a layer present in both changed place among the others (not merely shifted by an
        insertion or removal before it)."""
        return self.status == "changed" and not self.changes


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
            data: dict[str, Any] = {
                "old": change.old,
                "new": change.new,
                "delta": change.delta,
                "percent": None if change.percent is None else round(change.percent, 4),
            }
            if change.bounded:  # present only where a lower bound is involved
                data["old_lower_bound"] = change.old_lower_bound
                data["new_lower_bound"] = change.new_lower_bound
            if change.old_stable is not None or change.new_stable is not None:  # a measured median
                data["old_stable"] = change.old_stable
                data["new_stable"] = change.new_stable
                data["comparable"] = change.comparable
                data["protocol"] = list(change.protocol)
            return data

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
                            "path": layer.path,
                            "old_path": layer.old_path,
                            "paired": layer.paired,
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


def _field(layer: LayerReport, name: str, inputs: Sequence[str] | None = None) -> Value:
    """One field as outputs show it; `inputs` stands in for the layer's own (renamed through a match)."""
    value = getattr(layer, name) if name != "inputs" or inputs is None else inputs
    if value is None and name in _COUNTS:
        return UNKNOWN
    if isinstance(value, tuple | list):  # a shape (6x28x28) or the paths a layer reads (a, b)
        return ", ".join(value) if name == "inputs" else "x".join(str(v) for v in value)
    return value if isinstance(value, (int, float, str)) else None


def _generated(layer: LayerReport) -> bool:
    """True for a name the parser made up (`conv2d_3`): it shifts when a layer of its kind is inserted."""
    name = layer.path.rsplit(".", 1)[-1]
    kind, _, number = name.rpartition("_")
    return number.isdigit() and kind == layer.kind.lower()


def _key(layer: LayerReport) -> tuple[Any, ...]:
    """What identifies a layer across reports: its path; for a generated name, its block, kind and size.

    Generated names count the layers of a kind, so inserting a conv renames every later `conv2d_N` of
    its block: those are aligned by what they are instead, which keeps an insertion one added row."""
    if _generated(layer):
        return ("generated", *_slot(layer), layer.output_shape, layer.params)
    return ("path", layer.path)


def _slot(layer: LayerReport) -> tuple[str, str]:
    """A generated name's block and kind: where an edited unnamed layer is looked for."""
    return layer.path.rpartition(".")[0], layer.kind.lower()


def _pair_edited(
    old: Sequence[LayerReport], new: Sequence[LayerReport], olds: list[int], news: list[int]
) -> list[tuple[int, int]]:
    """Pair the unmatched generated layers of one stretch by block and kind, in order: edited in place."""
    pairs = []
    waiting: dict[tuple[str, str], list[int]] = {}
    for j in news:
        if _generated(new[j]):
            waiting.setdefault(_slot(new[j]), []).append(j)
    for i in olds:
        queue = waiting.get(_slot(old[i])) if _generated(old[i]) else None
        if queue:
            pairs.append((i, queue.pop(0)))
    return pairs


def _layers(old: Sequence[LayerReport], new: Sequence[LayerReport]) -> tuple[LayerChange, ...]:
    """Match layers by path (generated names by what they are and where) and list what changed.

    The two sequences are aligned (difflib's longest matching blocks), so the layers after an
    insertion are matched to themselves, not to their neighbours; within a stretch that differs,
    unnamed layers of the same block and kind are paired as edited; a named layer found elsewhere
    is matched by path and reported as moved. A layer's inputs are compared through the matching,
    so a neighbour's renaming is not a change."""
    matcher = difflib.SequenceMatcher(None, [_key(x) for x in old], [_key(x) for x in new], autojunk=False)
    pairs: list[tuple[int, int]] = []
    unmatched_old: list[int] = []
    unmatched_new: list[int] = []
    by_content: set[tuple[int, int]] = set()
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            equal = list(zip(range(i1, i2), range(j1, j2), strict=True))
            pairs += equal
            by_content.update(pair for pair in equal if _generated(old[pair[0]]))
            continue
        edited = _pair_edited(old, new, list(range(i1, i2)), list(range(j1, j2)))
        pairs += edited
        by_content.update(edited)
        unmatched_old += [i for i in range(i1, i2) if i not in {p[0] for p in edited}]
        unmatched_new += [j for j in range(j1, j2) if j not in {p[1] for p in edited}]
    by_path = {new[j].path: j for j in unmatched_new if not _generated(new[j])}
    moved: set[int] = set()
    for i in list(unmatched_old):
        j = by_path.get(old[i].path) if not _generated(old[i]) else None
        if j is not None:
            pairs.append((i, j))
            moved.add(j)
            unmatched_old.remove(i)
            unmatched_new.remove(j)
    renamed = {old[i].path: new[j].path for i, j in pairs}
    renamed["input"] = "input"
    found: list[tuple[tuple[int, int], LayerChange]] = []
    for i in unmatched_old:
        layer = old[i]
        changes = tuple(MetricChange(f, _field(layer, f), None) for f in LAYER_FIELDS)
        removed_change = LayerChange("removed", layer.path, layer.index, None, changes, None, layer.path)
        found.append(((i, 0), removed_change))
    for j in unmatched_new:
        layer = new[j]
        changes = tuple(MetricChange(f, None, _field(layer, f)) for f in LAYER_FIELDS)
        found.append(((j, 1), LayerChange("added", layer.path, None, layer.index, changes)))
    added = {new[j].path: new[j] for j in unmatched_new}
    removed = {old[i].path: old[i] for i in unmatched_old}

    def spliced(path: str, layers: dict[str, LayerReport]) -> str:
        """Follow a chain of added (or removed) single-input layers back to what it reads."""
        seen = 0
        while path in layers and len(layers[path].inputs) == 1 and seen < len(layers):
            path, seen = layers[path].inputs[0], seen + 1
        return path

    for i, j in pairs:
        before, after = old[i], new[j]
        # Inputs as the new report names them, through layers spliced in or out before: a neighbour
        # renamed, or a layer inserted or removed in series, is not a change of this one.
        inputs = [renamed.get(path, path) for path in before.inputs]
        through = [renamed.get(p, p) for p in (spliced(path, removed) for path in before.inputs)]
        if [spliced(path, added) for path in after.inputs] == through:
            inputs = list(after.inputs)
        changes = tuple(
            c
            for f in LAYER_FIELDS
            if (c := MetricChange(f, _field(before, f, inputs), _field(after, f))).changed
        )
        paired = BY_CONTENT if (i, j) in by_content else BY_NAME
        renamed_here = before.path != after.path
        if changes or j in moved or renamed_here:
            status = "changed" if changes or j in moved else "renamed"
            change = LayerChange(status, after.path, before.index, after.index, changes, paired, before.path)
            found.append(((j, 1), change))
    return tuple(change for _, change in sorted(found, key=lambda item: item[0]))


def _protocol(old: Report, new: Report, metric: str) -> tuple[str, ...]:
    """Return what differs between how the reports measured a median (`latency_ms.cpu`); empty for a
    size metric."""
    return protocol_differences(old, new, metric.partition(".")[2]) if is_latency(metric) else ()


def diff_reports(old: Report, new: Report, old_label: str = "old", new_label: str = "new") -> ReportDiff:
    """Compare two reports variant by variant, metric by metric and layer by layer."""
    variants = []
    opaque = any(report.variant(name).unknown_ops for report in (old, new) for name in VARIANTS)
    for name in VARIANTS:
        before, after = metric_values(old, name), metric_values(new, name)
        extras = (*_EXTRA_METRICS, _UNKNOWN_OPS.key) if opaque else _EXTRA_METRICS
        for extra in extras:
            before[extra] = metric(extra).read(old.variant(name))
            after[extra] = metric(extra).read(new.variant(name))
        old_bounds, new_bounds = lower_bound_metrics(old, name), lower_bound_metrics(new, name)
        old_stable, new_stable = metric_stability(old, name), metric_stability(new, name)
        keys = list(before) + [k for k in after if k not in before]
        metrics = tuple(
            MetricChange(
                k,
                before.get(k),
                after.get(k),
                k in old_bounds,
                k in new_bounds,
                old_stable.get(k),
                new_stable.get(k),
                _protocol(old, new, k) if before.get(k) is not None and after.get(k) is not None else (),
            )
            for k in keys
        )
        layers = _layers(old.variant(name).layers, new.variant(name).layers)
        variants.append(VariantDiff(name, metrics, layers))
    return ReportDiff(old_label, new_label, tuple(variants))
