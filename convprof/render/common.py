"""Wording shared by the table and Markdown renderers."""

from __future__ import annotations

from fractions import Fraction

from convprof.render.latency import latency_cells, latency_columns, measured_devices
from convprof.report import LayerReport, Report, VariantReport
from convprof.units import format_bytes, format_count, format_ratio, format_shape

__all__ = [
    "CONVENTION",
    "layer_columns",
    "layer_row",
    "layer_rows",
    "notes",
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
    "MACs: multiply-accumulates of conv and linear layers; FLOPs = 2 x MACs "
    "(as torch.utils.flop_counter counts them); bias adds, activations, pooling and "
    "normalisation are element-wise ops, counted apart."
)


def ratio(value: int, base: int) -> str:
    """Return value/base as a ratio, or '-' when base is zero."""
    return format_ratio(Fraction(value, base)) if base else "-"


def title(report: Report) -> str:
    """Return the heading line: name, input, batch, dtype."""
    spec = report.spec
    return f"{spec.name}: input {format_shape(spec.input)}, batch {spec.batch_size}, {spec.dtype}"


def savings_sentence(report: Report) -> str:
    """Split the parameter saving into sparsity (dense -> local) and sharing (local -> conv)."""
    dense, local, conv = (report.variant(n).params for n in ("dense", "local", "conv"))
    if dense == conv:
        return "No convolutions to replace: the dense, local and conv variants are the same network."
    return (
        f"Sparsity of connections cuts parameters {ratio(dense, local)} (dense -> local); "
        f"parameter sharing cuts them another {ratio(local, conv)} (local -> conv)."
    )


def notes(report: Report) -> list[str]:
    """Return the lines under the summary: element-wise ops and buffers, which MACs leave out."""
    ops = {v.name: v.elementwise_ops for v in report.variants}
    if len(set(ops.values())) == 1:
        lines = [f"Element-wise ops (not MACs): {format_count(ops['conv'])} in every variant."]
    else:
        listed = ", ".join(f"{name} {format_count(value)}" for name, value in ops.items())
        lines = [f"Element-wise ops (not MACs): {listed}."]
    buffers = report.variant("conv").buffer_bytes
    if buffers:
        lines.append(
            f"Buffers (BatchNorm running statistics, not parameters): {format_bytes(buffers)} "
            "in every variant."
        )
    return lines


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
            format_count(v.macs),
            ratio(v.macs, conv.macs),
            format_count(v.flops),
            format_bytes(v.param_bytes),
            format_bytes(v.activation_bytes),
            *latency_cells(report, v.name, devices),
        ]

    return [row(v) for v in report.variants]


def training_title(report: Report) -> str:
    """Return the training table's heading."""
    return f"Training step ({report.optimizer}), modelled: forward + backward FLOPs, the whole step's memory"


def training_columns() -> list[str]:
    """Return the training table's headers."""
    return ["Variant", "FLOPs", "vs conv", "Backward", "Saved act.", "Optimizer", "Peak memory", "vs conv"]


def training_rows(report: Report) -> list[list[str]]:
    """Return one row per variant: a step's FLOPs, what autograd keeps, optimizer state, peak memory."""
    conv = report.variant("conv")
    return [
        [
            v.name,
            format_count(v.training_flops),
            ratio(v.training_flops, conv.training_flops),
            format_count(v.backward_flops),
            format_bytes(v.saved_activation_bytes),
            format_bytes(v.optimizer_bytes),
            format_bytes(v.training_bytes),
            ratio(v.training_bytes, conv.training_bytes),
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
        format_count(layer.macs),
        format_bytes(layer.activation_bytes),
        format_bytes(layer.saved_bytes) if layer.saved_bytes else "",
        _rf(layer),
        format_count(layer.fan_in),
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
        format_count(sum(m[0].macs for m in members)),
        "",
        format_bytes(saved) if (saved := sum(m[0].saved_bytes for m in members)) else "",
        _rf(last),
        "",
        format_count(local) if changed else "",
        format_count(dense) if changed else "",
    ]


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
