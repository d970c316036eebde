"""Wording shared by the table and Markdown renderers."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction

from convprof.metrics import metric
from convprof.render.latency import (
    latency_cells,
    latency_columns,
    measured_devices,
    training_cells,
    training_devices,
    training_measured_columns,
)
from convprof.report import LOWER_BOUND_MARK, LayerReport, Report, SpecInfo, VariantReport
from convprof.safetext import printable
from convprof.units import format_bytes, format_count, format_ratio, format_shape, plural

__all__ = [
    "CONVENTION",
    "LOWER_BOUND_MARK",
    "UNKNOWN_MARK",
    "TreeRow",
    "bound_ratio",
    "has_frozen",
    "layer_columns",
    "layer_row",
    "layer_rows",
    "layer_tree",
    "legend",
    "marked",
    "notes",
    "opaque_notes",
    "ratio",
    "savings_sentence",
    "summary_columns",
    "summary_rows",
    "title",
    "training_columns",
    "training_rows",
    "training_title",
]

#: The counting convention, stated once for every human-readable output.
CONVENTION = (
    "MACs: multiply-accumulates of conv and linear layers and of products of activations (matmul, "
    "einsum, attention); FLOPs = 2 x MACs (as torch.utils.flop_counter counts them); bias adds, "
    "activations, pooling, normalisation and other arithmetic are element-wise ops, counted apart."
)


#: In place of a count convprof does not know (an opaque op's MACs): never a 0.
UNKNOWN_MARK = "unknown"
#: Opaque layers a note names before it says how many more there are.
_NAMED_OPAQUE = 5


def ratio(value: int, base: int) -> str:
    """Return value/base as a ratio, or '-' when base is zero."""
    return format_ratio(Fraction(value, base)) if base else "-"


def bound_ratio(variant: VariantReport, base: VariantReport, metric: str) -> str:
    """Return variant/base for `metric`, bounded where both are lower bounds.

    The unknown ops are the same in every variant (an opaque op has no counterfactual), so the true
    ratio (known + u) / (known_base + u) lies between 1 and the ratio of the known parts: `<=41.0x`
    above 1, `>=0.50x` below. A lower bound beside an exact figure bounds nothing: `?`."""
    value, reference = getattr(variant, metric), getattr(base, metric)
    bounded = (metric in variant.lower_bounds, metric in base.lower_bounds)
    if not any(bounded):
        return ratio(value, reference)
    if not all(bounded) or variant.unknown_ops != base.unknown_ops or not reference:
        return "?"
    if value == reference:
        return ratio(value, reference)
    return ("<=" if value > reference else LOWER_BOUND_MARK) + ratio(value, reference)


def marked(variant: VariantReport, key: str) -> str:
    """Return a total in human units (a count's or bytes', as the registry says), marked `>=` when it
    is a lower bound."""
    figure = metric(key)
    value = figure.read(variant)
    assert isinstance(value, int), key
    mark = LOWER_BOUND_MARK if figure.is_lower_bound(variant) else ""
    return mark + (format_bytes(value) if figure.unit == "bytes" else format_count(value))


def io_text(spec: SpecInfo) -> str:
    """Return a spec's inputs and named outputs as a heading says them: `input 3x32x32`, or
    `inputs image 3x64x64, mask 1x64x64; outputs boxes 64x8400, logits 10`."""
    if spec.inputs:
        named = (f"{printable(name)} {format_shape(shape)}" for name, shape in spec.inputs)
        text = "inputs " + ", ".join(named)
    else:
        text = f"input {format_shape(spec.input)}"
    if spec.outputs:
        text += "; outputs " + ", ".join(
            f"{printable(name)} {format_shape(shape)}" for name, _, shape in spec.outputs
        )
    return text


def title(report: Report) -> str:
    """Return the heading line: name, inputs (and named outputs), batch, dtype."""
    spec = report.spec
    return f"{printable(spec.name)}: {io_text(spec)}, batch {spec.batch_size}, {spec.dtype}"


def savings_sentence(report: Report) -> str:
    """Split the parameter saving into sparsity (dense -> local) and sharing (local -> conv).

    Parameters are exact even beside opaque ops (theirs are counted); the sentence says that those
    ops stay as they are in every variant, so the saving is that of the layers convprof can replace."""
    dense, local, conv = (report.variant(n).params for n in ("dense", "local", "conv"))
    opaque = report.variant("conv").unknown_ops
    kept = (
        f" {plural(opaque, 'opaque op')}, {'its' if opaque == 1 else 'their'} parameters "
        "counted, stay as written in every variant."
        if opaque
        else ""
    )
    if dense == conv:
        return "No convolutions to replace: the dense, local and conv variants are the same network." + kept
    return (
        f"Sparsity of connections cuts parameters {ratio(dense, local)} (dense -> local); "
        f"parameter sharing cuts them another {ratio(local, conv)} (local -> conv)." + kept
    )


def opaque_notes(report: Report) -> list[str]:
    """Say which ops are opaque and what that makes of the totals; nothing when every op is counted."""
    conv = report.variant("conv")
    paths = [printable(layer.path) for layer in conv.layers if not layer.counted]
    if not paths:
        return []
    named = ", ".join(paths[:_NAMED_OPAQUE])
    if len(paths) > _NAMED_OPAQUE:
        named += f" and {len(paths) - _NAMED_OPAQUE} more"
    which = "its" if len(paths) == 1 else "their"
    return [
        f"Lower bounds ({LOWER_BOUND_MARK}): {plural(len(paths), 'opaque op')} ({named}) convprof cannot "
        f"count: {which} MACs, FLOPs and element-wise ops are unknown and left out of every total marked "
        f"{LOWER_BOUND_MARK}, and what {which} backward keeps and allocates is left out of a training "
        "step's. Parameters, buffers and inference memory are exact.",
        "An opaque op is the same in every variant, so the true ratio of two lower bounds lies between "
        f"1.00x and the one shown (<= or {LOWER_BOUND_MARK}); receptive fields at and after it read full: "
        "unknown, at most the whole input.",
    ]


def notes(report: Report) -> list[str]:
    """Return the lines under the summary: element-wise ops and buffers, which MACs leave out, and
    what opaque ops leave unknown."""
    ops = {v.name: marked(v, "elementwise_ops") for v in report.variants}
    if len(set(ops.values())) == 1:
        lines = [f"Element-wise ops (not MACs): {ops['conv']} in every variant."]
    else:
        listed = ", ".join(f"{name} {value}" for name, value in ops.items())
        lines = [f"Element-wise ops (not MACs): {listed}."]
    if has_frozen(report):
        frozen = {v.name: format_count(v.frozen_params) for v in report.variants}
        counts = (
            f"{frozen['conv']} in every variant"
            if len(set(frozen.values())) == 1
            else ", ".join(f"{name} {value}" for name, value in frozen.items())
        )
        layers = sum(1 for layer in report.variant("conv").layers if layer.frozen_params)
        lines.append(
            f"Frozen (requires_grad=False, {plural(layers, 'layer')}): {counts}; weights in memory, "
            "but no gradient and no optimizer state in a training step."
        )
    buffers = report.variant("conv").buffer_bytes
    if buffers:
        lines.append(
            f"Buffers (BatchNorm running statistics, not parameters): {format_bytes(buffers)} "
            "in every variant."
        )
    return lines + opaque_notes(report)


#: What each table's columns mean, for the one-line legend under it (`--no-legend` leaves it out).
#: Headers are keyed without their device (`Latency (cpu)` is `Latency`); only the columns a table
#: shows are explained.
_LEGENDS: dict[str, dict[str, str]] = {
    "summary": {
        "vs conv": "ratio to the conv variant",
        "Trainable": "parameters a training step updates",
        "Weights": "parameter bytes",
        "Peak act.": "activation memory's peak in inference",
        "Latency": "median call",
        "IQR": "middle half's spread / median",
    },
    "training": {
        "Backward": "its FLOPs",
        "Saved act.": "kept for backward",
        "Optimizer": "its state",
        "Peak memory": "the step's, weights included",
        "Step": "median step",
        "FLOP/s": "its training FLOP/s",
        "Measured peak": "torch's peak",
        "Model error": "(model - measured) / measured",
    },
    "layers": {
        "Frozen p.": "no gradient",
        "Act.": "output",
        "Saved": "for backward",
        "RF": "receptive field",
        "Fan-in": "inputs per unit",
        "Local p., Dense p.": "as local, dense",
        "Local p.": "local params",
        "Dense p.": "dense params",
    },
    "Latency per call": {
        "p10": "10th percentile",
        "p90": "90th",
        "Min": "fastest sample",
        "First call": "timed apart",
        "Samples": "timed blocks",
    },
    "Throughput and memory (measured)": {
        "FLOP/B": "FLOPs per byte moved",
        "Roofline": "share of the calibrated bound",
        "Peak act.": "measured",
        "Estimate": "modelled",
    },
    "Training step per call": {
        "IQR": "middle half's spread / median",
        "p10": "10th percentile",
        "p90": "90th",
        "First step": "timed apart",
        "Held": "weights, buffers, optimizer state and input",
        "Estimate": "modelled peak",
    },
}
#: Marks a cell may carry, and what the legend says of them when some cell does.
_MARKS = {"?": "?: no ratio of a lower bound to an exact figure"}


def legend(table: str, headers: list[str], rows: list[list[str]]) -> str:
    """Return the one-line legend of `table` (a key of _LEGENDS): its shown columns, then its marks."""
    meanings = _LEGENDS[table]
    shown = [header.split("\n")[0] if "\n(" in header else header.replace("\n", " ") for header in headers]
    # Two columns said at once where both are shown (the local and dense variants' parameters).
    for first, second in itertools.pairwise(list(shown)):
        if f"{first}, {second}" in meanings:
            shown[shown.index(first) : shown.index(second) + 1] = [f"{first}, {second}"]
    parts = [f"{header}: {meanings[header]}" for header in dict.fromkeys(shown) if header in meanings]
    cells = {cell for row in rows for cell in row}
    parts += [meaning for mark, meaning in _MARKS.items() if mark in cells]
    return "; ".join(parts) + "." if parts else ""


def has_frozen(report: Report) -> bool:
    """Return True when the spec freezes some parameters: tables then count the trainable apart."""
    return any(variant.frozen_params for variant in report.variants)


def summary_columns(devices: tuple[str, ...] = (), frozen: bool = False) -> list[str]:
    """Return the summary table's headers, with latency columns for each measured device (and the
    trainable parameters apart when some are `frozen`)."""
    return [
        "Variant",
        "Params",
        "vs conv",
        *(("Trainable",) if frozen else ()),
        "MACs",
        "vs conv",
        "FLOPs",
        "Weights",
        "Peak act.",
        *latency_columns(devices),
    ]


def summary_rows(report: Report) -> list[list[str]]:
    """Return one row of human units per variant."""
    conv = report.variant("conv")
    devices = measured_devices(report)
    frozen = has_frozen(report)

    def row(v: VariantReport) -> list[str]:
        return [
            v.name,
            format_count(v.params),
            ratio(v.params, conv.params),
            *((format_count(v.trainable_params),) if frozen else ()),
            marked(v, "macs"),
            bound_ratio(v, conv, "macs"),
            marked(v, "flops"),
            format_bytes(v.param_bytes),
            format_bytes(v.activation_bytes),
            *latency_cells(report, v.name, devices),
        ]

    return [row(v) for v in report.variants]


def training_title(report: Report) -> str:
    """Return the training table's heading."""
    measured = ", and measured" if training_devices(report) else ""
    return (
        f"Training step ({report.optimizer}), modelled{measured}: forward + backward FLOPs, the whole "
        "step's memory"
    )


def training_columns(devices: tuple[str, ...] = ()) -> list[str]:
    """Return the training table's headers, with measured columns for each device a step was timed on."""
    return [
        "Variant",
        "FLOPs",
        "vs conv",
        "Backward",
        "Saved act.",
        "Optimizer",
        "Peak memory",
        "vs conv",
        *training_measured_columns(devices),
    ]


def training_rows(report: Report) -> list[list[str]]:
    """Return one row per variant: a step's FLOPs, what autograd keeps, optimizer state, peak memory,
    then per device measured: the step's median, its ratio to conv, FLOP/s, measured peak, model error."""
    conv = report.variant("conv")
    devices = training_devices(report)

    def memory_ratio(v: VariantReport) -> str:
        # What an opaque op keeps differs between variants: two lower bounds bound no ratio.
        bounded = "training_bytes" in v.lower_bounds or "training_bytes" in conv.lower_bounds
        return "?" if bounded else ratio(v.training_bytes, conv.training_bytes)

    return [
        [
            v.name,
            marked(v, "training_flops"),
            bound_ratio(v, conv, "training_flops"),
            marked(v, "backward_flops"),
            marked(v, "saved_activation_bytes"),
            marked(v, "optimizer_bytes"),
            marked(v, "training_bytes"),
            memory_ratio(v),
            *training_cells(report, v.name, devices),
        ]
        for v in report.variants
    ]


def layer_columns(frozen: bool = False) -> list[str]:
    """Return the per-layer table's headers (with the frozen parameters apart when some are `frozen`)."""
    return [
        "#",
        "Name",
        "Kind",
        "Output",
        "Params",
        *(("Frozen p.",) if frozen else ()),
        "MACs",
        "Act.",
        "Saved",
        "RF",
        "Fan-in",
        "Local p.",
        "Dense p.",
    ]


def _rf(layer: LayerReport) -> str:
    if layer.receptive_field is None:
        return "full"
    if not layer.receptive_field:
        return "-"
    return format_shape(layer.receptive_field)


def layer_row(
    layer: LayerReport, local: LayerReport, dense: LayerReport, indent: str = "  ", frozen: bool = False
) -> list[str]:
    """Return one conv-variant layer with its local and dense parameters where they differ (and its
    frozen parameters when the spec freezes some).

    Inside blocks the name is the path's last part, indented one `indent` per level under its block's
    row; at the top it is the whole path."""
    changed = local.kind != layer.kind
    return [
        str(layer.index),  # 0-based, as in JSON, CSV and `--set layers.N`
        indent * layer.depth + printable(layer.path.rsplit(".", 1)[-1]),
        printable(layer.kind.lower()),
        format_shape(layer.output_shape),
        format_count(layer.params),
        *((format_count(layer.frozen_params) if layer.frozen_params else "",) if frozen else ()),
        UNKNOWN_MARK if layer.macs is None else format_count(layer.macs),
        format_bytes(layer.activation_bytes),
        UNKNOWN_MARK
        if layer.saved_bytes is None
        else format_bytes(layer.saved_bytes)
        if layer.saved_bytes
        else "",
        _rf(layer),
        UNKNOWN_MARK if layer.fan_in is None else format_count(layer.fan_in),
        format_count(local.params) if changed else "",
        format_count(dense.params) if changed else "",
    ]


def _block_row(
    prefix: str,
    members: list[tuple[LayerReport, LayerReport, LayerReport]],
    indent: str,
    frozen: bool = False,
) -> list[str]:
    """Return a block's row: its name, layer count, last output and the totals of its layers."""
    last = members[-1][0]
    count = len(members)
    local = sum(m[1].params for m in members)
    dense = sum(m[2].params for m in members)
    changed = any(m[1].kind != m[0].kind for m in members)
    frozen_params = sum(m[0].frozen_params for m in members)
    return [
        "",
        indent * prefix.count(".") + printable(prefix.rsplit(".", 1)[-1]),
        f"{count} layer{'s' if count != 1 else ''}",
        format_shape(last.output_shape),
        format_count(sum(m[0].params for m in members)),
        *((format_count(frozen_params) if frozen_params else "",) if frozen else ()),
        _block_sum([m[0].macs for m in members], format_count),
        "",
        _block_sum([m[0].saved_bytes for m in members], format_bytes, blank_zero=True),
        _rf(last),
        "",
        format_count(local) if changed else "",
        format_count(dense) if changed else "",
    ]


def _block_sum(values: list[int | None], fmt: Callable[[int], str], *, blank_zero: bool = False) -> str:
    """A block's total of its layers' `values`, marked as a lower bound when some are unknown (None);
    with `blank_zero`, an exact 0 is left blank."""
    known = [value for value in values if value is not None]
    if not known:
        return UNKNOWN_MARK
    mark = LOWER_BOUND_MARK if len(known) < len(values) else ""
    total = sum(known)
    return "" if blank_zero and not total and not mark else mark + fmt(total)


@dataclass(frozen=True, slots=True)
class TreeRow:
    """One row of the per-layer tree: a layer, or a block with the totals of its layers."""

    path: str
    """The layer's path, or the block's (the path its layers' paths start with)."""
    block: bool
    """True for a block's row."""
    depth: int
    """Nesting depth: the row's indent."""
    folded: bool
    """True for a block whose layers `depth` folded into its row (they have no rows of their own)."""
    members: tuple[tuple[LayerReport, LayerReport, LayerReport], ...]
    """The (conv, local, dense) reports of the layer, or of every layer in the block, in order."""
    cells: list[str]
    """The row's cells, in layer_columns order."""


def layer_tree(report: Report, depth: int | None = None, indent: str = "  ") -> list[TreeRow]:
    """Return the per-layer table's rows as a tree: a row per block, its layers indented under it.

    With `depth`, layers nested deeper than `depth` are folded into their block's row, which carries
    their totals (`--depth 0` shows the top-level layers and one row per top-level block)."""
    conv, local, dense = (report.variant(n) for n in ("conv", "local", "dense"))
    frozen = has_frozen(report)
    triples = list(zip(conv.layers, local.layers, dense.layers, strict=True))
    members: dict[str, list[tuple[LayerReport, LayerReport, LayerReport]]] = {}
    for triple in triples:
        parts = triple[0].path.split(".")[:-1]
        for end in range(1, len(parts) + 1):
            members.setdefault(".".join(parts[:end]), []).append(triple)
    rows: list[TreeRow] = []
    opened: set[str] = set()
    for triple in triples:
        layer = triple[0]
        parts = layer.path.split(".")[:-1]
        for end in range(1, len(parts) + 1):
            prefix = ".".join(parts[:end])
            block_depth = end - 1
            if prefix in opened or (depth is not None and block_depth > depth):
                continue
            opened.add(prefix)
            inside = tuple(members[prefix])
            cells = _block_row(prefix, list(inside), indent, frozen)
            rows.append(TreeRow(prefix, True, block_depth, block_depth == depth, inside, cells))
        if depth is None or layer.depth <= depth:
            cells = layer_row(*triple, indent=indent, frozen=frozen)
            rows.append(TreeRow(layer.path, False, layer.depth, False, (triple,), cells))
    return rows


def layer_rows(report: Report, depth: int | None = None, indent: str = "  ") -> list[list[str]]:
    """Return the per-layer table's rows as a tree (see `layer_tree`): their cells alone."""
    return [row.cells for row in layer_tree(report, depth, indent)]
