"""Wording shared by the table and Markdown renderers."""

from __future__ import annotations

from collections.abc import Callable
from fractions import Fraction

from convprof.render.latency import (
    latency_cells,
    latency_columns,
    measured_devices,
    training_cells,
    training_devices,
    training_measured_columns,
)
from convprof.report import LOWER_BOUND_MARK, LayerReport, Report, VariantReport
from convprof.units import format_bytes, format_count, format_ratio, format_shape, plural

__all__ = [
    "CONVENTION",
    "LOWER_BOUND_MARK",
    "UNKNOWN_MARK",
    "bound_ratio",
    "layer_columns",
    "layer_row",
    "layer_rows",
    "marked_bytes",
    "marked_count",
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


def marked_count(variant: VariantReport, metric: str) -> str:
    """Return a total in human units, marked `>=` when it is a lower bound."""
    mark = LOWER_BOUND_MARK if metric in variant.lower_bounds else ""
    return mark + format_count(getattr(variant, metric))


def marked_bytes(variant: VariantReport, metric: str) -> str:
    """Return a memory total in human units, marked `>=` when it is a lower bound."""
    mark = LOWER_BOUND_MARK if metric in variant.lower_bounds else ""
    return mark + format_bytes(getattr(variant, metric))


def title(report: Report) -> str:
    """Return the heading line: name, input, batch, dtype."""
    spec = report.spec
    return f"{spec.name}: input {format_shape(spec.input)}, batch {spec.batch_size}, {spec.dtype}"


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
    paths = [layer.path for layer in conv.layers if not layer.counted]
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
    ops = {v.name: marked_count(v, "elementwise_ops") for v in report.variants}
    if len(set(ops.values())) == 1:
        lines = [f"Element-wise ops (not MACs): {ops['conv']} in every variant."]
    else:
        listed = ", ".join(f"{name} {value}" for name, value in ops.items())
        lines = [f"Element-wise ops (not MACs): {listed}."]
    buffers = report.variant("conv").buffer_bytes
    if buffers:
        lines.append(
            f"Buffers (BatchNorm running statistics, not parameters): {format_bytes(buffers)} "
            "in every variant."
        )
    return lines + opaque_notes(report)


def summary_columns(devices: tuple[str, ...] = ()) -> list[str]:
    """Return the summary table's headers, with latency columns for each measured device."""
    return [
        "Variant",
        "Params",
        "vs conv",
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

    def row(v: VariantReport) -> list[str]:
        return [
            v.name,
            format_count(v.params),
            ratio(v.params, conv.params),
            marked_count(v, "macs"),
            bound_ratio(v, conv, "macs"),
            marked_count(v, "flops"),
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
            marked_count(v, "training_flops"),
            bound_ratio(v, conv, "training_flops"),
            marked_count(v, "backward_flops"),
            marked_bytes(v, "saved_activation_bytes"),
            marked_bytes(v, "optimizer_bytes"),
            marked_bytes(v, "training_bytes"),
            memory_ratio(v),
            *training_cells(report, v.name, devices),
        ]
        for v in report.variants
    ]


def layer_columns() -> list[str]:
    """Return the per-layer table's headers."""
    return [
        "#",
        "Name",
        "Kind",
        "Output",
        "Params",
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


def layer_row(layer: LayerReport, local: LayerReport, dense: LayerReport, indent: str = "  ") -> list[str]:
    """Return one conv-variant layer with its local and dense parameters where they differ.

    Inside blocks the name is the path's last part, indented one `indent` per level under its block's
    row; at the top it is the whole path."""
    changed = local.kind != layer.kind
    return [
        str(layer.index),  # 0-based, as in JSON, CSV and `--set layers.N`
        indent * layer.depth + layer.path.rsplit(".", 1)[-1],
        layer.kind.lower(),
        format_shape(layer.output_shape),
        format_count(layer.params),
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
    prefix: str, members: list[tuple[LayerReport, LayerReport, LayerReport]], indent: str
) -> list[str]:
    """Return a block's row: its name, layer count, last output and the totals of its layers."""
    last = members[-1][0]
    count = len(members)
    local = sum(m[1].params for m in members)
    dense = sum(m[2].params for m in members)
    changed = any(m[1].kind != m[0].kind for m in members)
    return [
        "",
        indent * prefix.count(".") + prefix.rsplit(".", 1)[-1],
        f"{count} layer{'s' if count != 1 else ''}",
        format_shape(last.output_shape),
        format_count(sum(m[0].params for m in members)),
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


def layer_rows(report: Report, depth: int | None = None, indent: str = "  ") -> list[list[str]]:
    """Return the per-layer table's rows as a tree: a row per block, its layers indented under it.

    With `depth`, layers nested deeper than `depth` are folded into their block's row, which carries
    their totals (`--depth 0` shows the top-level layers and one row per top-level block)."""
    conv, local, dense = (report.variant(n) for n in ("conv", "local", "dense"))
    triples = list(zip(conv.layers, local.layers, dense.layers, strict=True))
    members: dict[str, list[tuple[LayerReport, LayerReport, LayerReport]]] = {}
    for triple in triples:
        parts = triple[0].path.split(".")[:-1]
        for end in range(1, len(parts) + 1):
            members.setdefault(".".join(parts[:end]), []).append(triple)
    rows: list[list[str]] = []
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
            rows.append(_block_row(prefix, members[prefix], indent))
        if depth is None or layer.depth <= depth:
            rows.append(layer_row(*triple, indent=indent))
    return rows
