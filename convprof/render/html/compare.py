"""`compare --format html`: the Report as one self-contained page.

Everything it shows comes from the Report (the figures, where the memory peaks, what is held there);
it only formats, lays out and sums the layers a folded block holds, as the per-layer table does.
Every figure a chart draws carries its exact value (`data-value`) beside the variant, the metric and
the layer it belongs to, so a page can be checked against the JSON report it was made from.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from convprof.graph.variants import VARIANTS
from convprof.render.common import (
    CONVENTION,
    TreeRow,
    layer_columns,
    layer_tree,
    notes,
    savings_sentence,
    summary_columns,
    summary_rows,
    title,
    training_columns,
    training_rows,
    training_title,
)
from convprof.render.html.charts import Bar, BarRow, bar_chart, full, legend
from convprof.render.html.graph import GraphNode, graph_svg
from convprof.render.html.memory import memory_section
from convprof.render.html.page import attrs, cells, esc, page, section, table
from convprof.render.latency import (
    measured_devices,
    measured_notes,
    measured_tables,
    training_devices,
)
from convprof.render.plot import VARIANT_COLORS
from convprof.report import (
    LOWER_BOUND_MARK,
    LayerReport,
    Report,
)
from convprof.units import format_bytes, format_count, format_shape

__all__ = ["compare_html"]

#: Summary and training columns whose cells carry a total's exact value: header -> total.
_SUMMARY_TOTALS = {
    "Params": "params",
    "MACs": "macs",
    "FLOPs": "flops",
    "Weights": "param_bytes",
    "Peak act.": "activation_bytes",
}
_TRAINING_TOTALS = {
    "FLOPs": "training_flops",
    "Backward": "backward_flops",
    "Saved act.": "saved_activation_bytes",
    "Optimizer": "optimizer_bytes",
    "Peak memory": "training_bytes",
}
#: Per-layer columns whose cells carry the conv layer's exact value: header -> field.
_LAYER_FIELDS = {"Params": "params", "MACs": "macs", "Act.": "activation_bytes", "Saved": "saved_bytes"}
#: What the cost charts and the graph's colours show: (field, title, unit).
_COSTS = (
    ("params", "Parameters", "count"),
    ("macs", "MACs", "count"),
    ("activation_bytes", "Activation bytes", "bytes"),
)


def _figure(layer: LayerReport, field: str) -> int | None:
    value: int | None = getattr(layer, field)
    return value


def _sum(members: Sequence[LayerReport], field: str) -> tuple[int | None, bool]:
    """A folded block's total of `field` over its layers: (total, lower bound); None when all are
    unknown."""
    known = [v for v in (_figure(m, field) for m in members) if v is not None]
    if not known:
        return None, False
    return sum(known), len(known) < len(members)


def _value_of(row: TreeRow, variant: str, field: str) -> tuple[int | None, bool]:
    """A row's figure for one variant: the layer's, or its block's sum."""
    slot = ("conv", "local", "dense").index(variant)
    return _sum([triple[slot] for triple in row.members], field)


def _human(value: int | None, unit: str, bound: bool = False) -> str:
    if value is None:
        return "unknown"
    mark = LOWER_BOUND_MARK if bound else ""
    return mark + (format_bytes(value) if unit == "bytes" else format_count(value))


# -- summary ------------------------------------------------------------------------------------------


def _totals_table(
    headers: list[str], rows: list[list[str]], report: Report, totals: dict[str, str], caption: str
) -> str:
    """A table of one row per variant whose total columns carry the exact figures."""
    body = []
    for variant, row in zip(report.variants, rows, strict=True):
        tds = []
        for column, (header, text) in enumerate(zip(headers, row, strict=True)):
            field = totals.get(header)
            value = getattr(variant, field) if field else None
            data = attrs(data_variant=variant.name, data_metric=field, data_value=value) if field else ""
            css = "num" if column else f"variant-{variant.name}"
            tds.append(f'<td class="{css}"{data}>{esc(text)}</td>')
        body.append("<tr>" + "".join(tds) + "</tr>")
    return table(headers, body, caption=caption, class_="totals")


def _summary(report: Report) -> str:
    devices = measured_devices(report)
    parts = [
        _totals_table(
            summary_columns(devices), summary_rows(report), report, _SUMMARY_TOTALS, "Per variant (inference)"
        ),
        f'<p class="savings">{esc(savings_sentence(report))}</p>',
        '<ul class="notes">' + "".join(f"<li>{esc(line)}</li>" for line in notes(report)) + "</ul>",
        _totals_table(
            training_columns(training_devices(report)),
            training_rows(report),
            report,
            _TRAINING_TOTALS,
            training_title(report),
        ),
    ]
    if devices or training_devices(report):
        for heading, headers, rows in measured_tables(report):
            parts.append(table(headers, [cells(row, 2) for row in rows], caption=heading, right_from=2))
        parts.append(
            '<ul class="notes" id="measured">'
            + "".join(f"<li>{esc(line)}</li>" for line in measured_notes(report))
            + "</ul>"
        )
    else:
        parts.append(
            '<p class="muted">Counted only: nothing was measured (compare without --no-latency '
            "measures latency and memory; --training a training step).</p>"
        )
    parts.append(f'<p class="muted">{esc(CONVENTION)}</p>')
    return section("summary", "Summary", "".join(parts))


# -- where the cost is -------------------------------------------------------------------------------


def _leaves(tree: list[TreeRow]) -> list[TreeRow]:
    """The rows a chart shows: every layer shown by the tree, and each block `depth` folded."""
    return [row for row in tree if not row.block or row.folded]


def _label(row: TreeRow) -> str:
    return f"{row.path} ({len(row.members)} layers)" if row.block else row.path


def _cost(report: Report, rows: list[TreeRow], depth: int | None) -> str:
    bar_rows = []
    for row in rows:
        panels = []
        lines = [row.path]
        for field, metric_title, unit in _COSTS:
            bars = []
            figures = []
            for variant in VARIANTS:
                value, bound = _value_of(row, variant, field)
                bars.append(Bar(variant, value, bound))
                shown = (
                    "unknown" if value is None else (LOWER_BOUND_MARK if bound else "") + full(value, unit)
                )
                figures.append(f"{variant} {shown}")
            panels.append(tuple(bars))
            lines.append(f"{metric_title}: " + ", ".join(figures))
        bar_rows.append(BarRow(_label(row), row.path, tuple(panels), "\n".join(lines)))
    chart = bar_chart(bar_rows, _COSTS, VARIANT_COLORS)
    what = "each block folded by --depth, and each layer above it" if depth is not None else "each layer"
    lead = (
        f"Parameters, MACs and output bytes of {what}, for each variant on a log axis: the dense "
        "variant's bars run decades past the others where a convolution's sparsity of connections "
        "saves; the local variant's parameters, not its MACs, where parameter sharing saves. A hatched "
        "bar is a count convprof does not know (an opaque op), never a 0."
    )
    key = legend([(name, VARIANT_COLORS[name]) for name in VARIANTS])
    return section("cost", "Where the cost is", key + f'<div class="chart">{chart}</div>', lead=lead)


# -- the graph ---------------------------------------------------------------------------------------


def _shade(share: float) -> str:
    """A colour from light grey (none of the cost) to red-orange (all of it), on a square-root scale."""
    t = math.sqrt(min(max(share, 0.0), 1.0))
    low, high = (247, 247, 247), (227, 74, 51)
    r, g, b = (round(a + (z - a) * t) for a, z in zip(low, high, strict=True))
    return f"#{r:02x}{g:02x}{b:02x}"


def _short(path: str) -> str:
    """A node's name in the graph: its path's last part, with the one before when that is a number
    (`downsample.0`), since its block's box says where it is."""
    parts = path.split(".")
    return ".".join(parts[-2:]) if parts[-1].isdigit() and len(parts) > 1 else parts[-1]


#: The colouring the graph starts with: the conv variant's MACs.
_FIRST_COLOURING = "conv-macs"


def _colouring(variant: str, field: str) -> str:
    """The key of a colouring of the graph: `conv-macs`, `dense-params`, `local-activation`."""
    return f"{variant}-{field.split('_')[0]}"


def _graph(report: Report, tree: list[TreeRow], depth: int | None) -> str:
    rows = _leaves(tree)
    owner: dict[str, str] = {}
    for row in rows:
        for triple in row.members:
            owner[triple[0].path] = row.path
    owner["input"] = "input"
    # A variant's activation_bytes is a peak, not a sum: a layer's share is of all outputs.
    totals = {
        (variant.name, field): sum(layer.activation_bytes for layer in variant.layers)
        if field == "activation_bytes"
        else getattr(variant, field)
        for variant in report.variants
        for field, _title, _unit in _COSTS
    }
    nodes = []
    for row in rows:
        inputs = []
        for triple in row.members:
            for source in triple[0].inputs:
                if owner[source] != row.path:
                    inputs.append(owner[source])
        fills = []
        lines = []
        conv = row.members[-1][0]
        kind = f"{len(row.members)} layers" if row.block else conv.kind
        lines.append(f"{row.path} ({kind}, output {format_shape(conv.output_shape)})")
        for variant in ("conv", "local", "dense"):
            figures = []
            for field, metric_title, unit in _COSTS:
                value, bound = _value_of(row, variant, field)
                total = totals[(variant, field)]
                key = _colouring(variant, field)
                if value is None:
                    fills.append((key, "url(#hatch)"))
                    figures.append(f"{metric_title.lower()} unknown")
                    continue
                share = value / total if total else 0.0
                fills.append((key, _shade(share)))
                mark = LOWER_BOUND_MARK if bound else ""
                figures.append(f"{metric_title.lower()} {mark}{_human(value, unit)} ({share:.1%})")
            lines.append(f"{variant}: " + ", ".join(figures))
        macs_first = sorted(fills, key=lambda item: item[0] != _FIRST_COLOURING)
        label = (
            f"{_short(row.path)} ({len(row.members)} layers)"
            if row.block
            else f"{_short(row.path)} · {conv.kind.lower()}"
        )
        nodes.append(
            GraphNode(row.path, label, tuple(dict.fromkeys(inputs)), "\n".join(lines), tuple(macs_first))
        )
    spec = report.spec
    blocks = {
        row.path: f"{row.path}: {row.cells[2]}, {row.cells[4]} params, {row.cells[5]} MACs (conv variant)"
        for row in tree
        if row.block and not row.folded
    }
    shape = format_shape(spec.input)
    svg = graph_svg(nodes, f"input {shape}", f"network input: {shape}", blocks)
    options = []
    for variant in ("conv", "local", "dense"):
        for field, metric_title, _unit in _COSTS:
            key = _colouring(variant, field)
            share_of = "all layers' outputs" if field == "activation_bytes" else "the variant's total"
            text = f"{variant}: share of {metric_title.lower()}"
            legend_text = (
                f"Colour: each node's share of {share_of} ({metric_title.lower()}, {variant} variant), "
                "light grey 0% to red 100% on a square-root scale; hatched: unknown."
            )
            selected = " selected" if key == _FIRST_COLOURING else ""
            options.append(
                f'<option value="{esc(key)}"{selected}{attrs(data_legend=legend_text)}>{esc(text)}</option>'
            )
    first_legend = (
        "Colour: each node's share of the variant's total (macs, conv variant), light grey 0% to red "
        "100% on a square-root scale; hatched: unknown."
    )
    folded = (
        f"Blocks nested deeper than --depth {depth} are folded into one node each. "
        if depth is not None
        else "Every layer is a node (--depth N folds the blocks nested deeper than N). "
    )
    lead = (
        "The network top to bottom, each layer below the layers it reads: skips and shortcuts run "
        "beside the nodes they pass, branches side by side, merges where they meet. " + folded
    )
    controls = (
        '<div class="controls"><label>Colour by <select id="graph-colour">'
        f"{''.join(options)}</select></label>"
        f'</div><div class="legend" id="graph-legend">{esc(first_legend)}</div>'
    )
    return section("graph", "The graph", controls + f'<div class="chart">{svg}</div>', lead=lead)


# -- receptive field and fan-in ------------------------------------------------------------------------

_PANEL = 150


def _field_box(spec_input: tuple[int, ...], field: tuple[int, ...] | None) -> tuple[str, str]:
    """Return the input's box and the highlighted part (x,y,w,h in pixels) for a receptive field on
    the network input (None: the whole input)."""
    spatial = spec_input[1:]
    if len(spatial) == 1:
        width, height = float(_PANEL), 22.0
        extent = spatial[0]
        seen = extent if field is None else min(field[0], extent)
        w = max(seen / extent * width, 2.0)
        return f"0,0,{width:.0f},{height:.0f}", f"{(width - w) / 2:.1f},0,{w:.1f},{height:.0f}"
    rows, columns = spatial[-2], spatial[-1]
    scale = _PANEL / max(rows, columns)
    width, height = columns * scale, rows * scale
    if field is None:
        return f"0,0,{width:.1f},{height:.1f}", f"0,0,{width:.1f},{height:.1f}"
    h = max(min(field[-2], rows) * scale, 2.0)
    w = max(min(field[-1], columns) * scale, 2.0)
    return f"0,0,{width:.1f},{height:.1f}", f"{(width - w) / 2:.1f},{(height - h) / 2:.1f},{w:.1f},{h:.1f}"


def _sees(spec_input: tuple[int, ...], field: tuple[int, ...] | None, opaque: bool) -> str:
    if field is None and opaque:
        return (
            f"sees the whole {format_shape(spec_input)} input, or (at or after an opaque op) an unknown part"
        )
    if field is None:
        return f"sees the whole {format_shape(spec_input)} input"
    return f"sees a window of {format_shape(field)} of the {format_shape(spec_input[1:])} input"


def _unit_texts(spec_input: tuple[int, ...], layers: dict[str, LayerReport], opaque: bool) -> dict[str, str]:
    """What the figure says of one unit of a layer in each variant, by the figure's part."""
    texts = {}
    for variant in ("dense", "local", "conv"):
        layer = layers[variant]
        fan = "unknown" if layer.fan_in is None else f"{layer.fan_in:,}"
        weights = {
            "dense": "every output unit its own weights over the whole input",
            "local": "every output position its own weights",
            "conv": "one set of weights shared by every output position",
        }[variant]
        texts[f"{variant}-sees"] = _sees(spec_input, layer.receptive_field, opaque)
        texts[f"{variant}-fan"] = f"fan-in {fan} connections per unit"
        texts[f"{variant}-weights"] = f"{layer.params:,} parameters in the layer: {weights}"
        box, seen = _field_box(spec_input, layer.receptive_field)
        texts[f"{variant}-box"] = box
        texts[f"{variant}-seen"] = seen
    return texts


def _receptive(report: Report) -> str:
    spec_input = report.spec.input
    conv, local, dense = (report.variant(n).layers for n in ("conv", "local", "dense"))
    changed = [i for i, layer in enumerate(conv) if dense[i].kind != layer.kind]
    lead = (
        "Sparsity of connections, drawn: a conv unit (and a local one) sees a window of the input "
        "through a few connections, a dense unit all of it; parameter sharing: the conv layer's units "
        "share one set of weights, the local layer's each have their own. Receptive fields are on the "
        "network input, fan-in counts the connections into one unit (bias excluded)."
    )
    if not changed:
        body = "<p>No convolutions: every unit of the dense, local and conv variants is the same.</p>"
        return section("receptive", "Receptive field and fan-in", body, lead=lead)
    if len(spec_input) < 2:
        body = "<p>The input has no positions to draw (a vector): see the fan-in column of the layers.</p>"
        return section("receptive", "Receptive field and fan-in", body, lead=lead)
    options = []
    first: dict[str, str] = {}
    opaque = bool(report.variant("conv").unknown_ops)
    for number, i in enumerate(changed):
        texts = _unit_texts(spec_input, {"conv": conv[i], "local": local[i], "dense": dense[i]}, opaque)
        if number == 0:
            first = texts
        data = "".join(f' data-{esc(key)}="{esc(value)}"' for key, value in texts.items())
        label = f"#{i} {conv[i].path} ({conv[i].kind.lower()}, output {format_shape(conv[i].output_shape)})"
        options.append(f"<option{attrs(data_layer=conv[i].path)}{data}>{esc(label)}</option>")
    panels = []
    for variant in ("dense", "local", "conv"):
        box = first[f"{variant}-box"].split(",")
        seen = first[f"{variant}-seen"].split(",")
        colour = VARIANT_COLORS[variant]
        svg = (
            f'<svg width="{_PANEL + 2}" height="{float(box[3]) + 2:.0f}" role="img"'
            f'{attrs(aria_label=f"receptive field of a {variant} unit")}><g transform="translate(1,1)">'
            f'<rect data-rf="{variant}-box" x="{box[0]}" y="{box[1]}" width="{box[2]}" height="{box[3]}" '
            f'fill="#f4f6f8" stroke="#9aa3ad"/>'
            f'<rect data-rf="{variant}-seen" x="{seen[0]}" y="{seen[1]}" width="{seen[2]}" '
            f'height="{seen[3]}" fill="{colour}" fill-opacity="0.55" stroke="{colour}"/></g></svg>'
        )
        sentences = "".join(
            f'<p data-rf="{variant}-{part}">{esc(first[f"{variant}-{part}"])}</p>'
            for part in ("sees", "fan", "weights")
        )
        panels.append(
            f'<figure class="panel"><figcaption class="variant-{variant}"><strong>A {variant} unit</strong>'
            f"</figcaption>{svg}{sentences}</figure>"
        )
    controls = (
        f'<div class="controls"><label>Layer <select id="rf-layer">{"".join(options)}</select></label></div>'
    )
    return section(
        "receptive",
        "Receptive field and fan-in",
        controls + f'<div class="panels" id="rf">{"".join(panels)}</div>',
        lead=lead,
    )


# -- the layers --------------------------------------------------------------------------------------


def _layers(tree: list[TreeRow], depth: int | None) -> str:
    headers = layer_columns()
    body = []
    for row in tree:
        css = ["block"] if row.block else []
        if row.folded:
            css.append("folded")
        tds = []
        for column, (header, text) in enumerate(zip(headers, row.cells, strict=True)):
            field = _LAYER_FIELDS.get(header) if not row.block else None
            data = ""
            if field:
                value = _figure(row.members[0][0], field)
                data = attrs(data_metric=field, data_value="" if value is None else value)
            if header == "Name":
                tds.append(
                    f'<td class="name" style="padding-left:{9 + 14 * row.depth}px"{data}>{esc(text)}</td>'
                )
            else:
                numeric = (
                    column == 0 or header in _LAYER_FIELDS or header in ("Fan-in", "Local p.", "Dense p.")
                )
                tds.append(f"<td{attrs(class_='num' if numeric else None)}{data}>{esc(text)}</td>")
        marks = attrs(class_=" ".join(css) or None, data_path=row.path, data_block="" if row.block else None)
        body.append(f"<tr{marks}>" + "".join(tds) + "</tr>")
    buttons = (
        '<div class="controls"><button type="button" data-tree="layers-table" data-tree-action="expand">'
        'Expand all</button><button type="button" data-tree="layers-table" data-tree-action="collapse">'
        "Collapse all</button></div>"
    )
    shown = f" folded below --depth {depth}" if depth is not None else ""
    lead = (
        f"The conv variant's layers as a tree{shown}: a block's row carries its layers' totals (click it "
        "to fold them); Local p. and Dense p. are a convolution's parameters in the other variants."
    )
    drawn = table(headers, body, class_="tree", right_from=99, id_="layers-table")
    return section("layers", "Layers (conv variant)", buttons + drawn, lead=lead)


def compare_html(report: Report, *, layers: bool, depth: int | None = None) -> str:
    """Return the report as one self-contained HTML page: the summary, where the cost is, memory over
    time, the graph, the receptive field of a unit, and the per-layer tree when `layers` (folded below
    `depth`, as the graph and the cost chart are)."""
    tree = layer_tree(report, depth, "")
    rows = _leaves(tree)
    spec = report.spec
    sections = [
        _summary(report),
        _cost(report, rows, depth),
        memory_section(report),
        _graph(report, tree, depth),
        _receptive(report),
    ]
    nav = [
        ("summary", "Summary"),
        ("cost", "Where the cost is"),
        ("memory", "Memory over time"),
        ("graph", "Graph"),
        ("receptive", "Receptive field"),
    ]
    if layers:
        sections.append(_layers(tree, depth))
        nav.append(("layers", "Layers"))
    subtitle = (spec.description + " — " if spec.description else "") + (
        f"convprof {report.convprof_version}, report schema {report.schema_version}; "
        f"{len(report.variant('conv').layers):,} layers; optimizer {report.optimizer}"
    )
    return page(f"convprof: {spec.name}", title(report), subtitle, sections, nav)
