"""A report diff as a rich table or Markdown: changed totals per variant, then the conv variant's layers."""

from __future__ import annotations

from rich import box
from rich.console import Console
from rich.table import Table

from convprof.diff import LayerChange, MetricChange, ReportDiff
from convprof.render.console import fitted

__all__ = ["diff_markdown", "layer_rows", "render_diff", "total_rows"]

_TOTAL_COLUMNS = ("Variant", "Metric", "Old", "New", "Change")
_LAYER_COLUMNS = ("Layer", "Status", "Position", "Changes")


def _value(value: int | float | str | None) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3f}"
    if isinstance(value, int):
        return f"{value:,}"
    return value


def _change(change: MetricChange) -> str:
    if change.delta is None:
        return "changed" if change.changed else "0"
    delta = f"{change.delta:+,}" if isinstance(change.delta, int) else f"{change.delta:+.3f}"
    return delta if change.percent is None else f"{delta} ({change.percent:+.1f}%)"


def total_rows(diff: ReportDiff) -> list[list[str]]:
    """Return one row per variant and total that changed."""
    return [
        [v.variant, m.metric, _value(m.old), _value(m.new), _change(m)]
        for v in diff.variants
        for m in v.metrics
        if m.changed
    ]


def _position(layer: LayerChange) -> str:
    # 0-based, as in the reports' `index` and `--set layers.N`.
    old = "-" if layer.old_index is None else str(layer.old_index)
    new = "-" if layer.new_index is None else str(layer.new_index)
    return old if old == new else f"{old} -> {new}"


def _describe(layer: LayerChange) -> str:
    if layer.status == "added":
        shown = {m.metric: m.new for m in layer.changes}
        return f"{shown['kind']} {_value(shown['output_shape'])}, {_value(shown['params'])} params"
    if layer.status == "removed":
        shown = {m.metric: m.old for m in layer.changes}
        return f"{shown['kind']} {_value(shown['output_shape'])}, {_value(shown['params'])} params"
    parts = [f"{m.metric} {_value(m.old)} -> {_value(m.new)}" for m in layer.changes if m.metric != "flops"]
    return "; ".join(parts) if parts else "moved"


def layer_rows(diff: ReportDiff, variant: str = "conv") -> list[list[str]]:
    """Return one row per layer added, removed or changed in `variant`."""
    return [[c.name, c.status, _position(c), _describe(c)] for c in diff.variant(variant).layers]


def _heading(diff: ReportDiff) -> str:
    return f"convprof diff: {diff.old_label} -> {diff.new_label}"


def render_diff(diff: ReportDiff, console: Console) -> None:
    """Print changed totals and the conv variant's changed layers."""
    console.print(_heading(diff), style="bold")
    if not diff.changed:
        console.print("No change.")
        return
    totals = Table(title="Totals", title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
    for index, header in enumerate(_TOTAL_COLUMNS):
        totals.add_column(header, justify="right" if index >= 2 else "left", no_wrap=True)
    for row in total_rows(diff):
        totals.add_row(*row)
    console.print(fitted(totals, console, keys=2))
    rows = layer_rows(diff)
    if rows:
        layers = Table(
            title="Layers (conv variant)", title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False
        )
        for header in _LAYER_COLUMNS:
            layers.add_column(header, no_wrap=header != "Changes")
        for row in rows:
            layers.add_row(*row)
        console.print(fitted(layers, console))


def _table(headers: tuple[str, ...], rows: list[list[str]], right_from: int) -> list[str]:
    lines = ["| " + " | ".join(headers) + " |"]
    lines.append("| " + " | ".join("---:" if i >= right_from else "---" for i in range(len(headers))) + " |")
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]
    return lines


def diff_markdown(diff: ReportDiff) -> str:
    """Return the diff as Markdown for a pull-request comment or a job summary."""
    lines = [f"### {_heading(diff)}", ""]
    if not diff.changed:
        return "\n".join([*lines, "No change.", ""])
    lines += ["#### Totals", "", *_table(_TOTAL_COLUMNS, total_rows(diff), 2), ""]
    rows = layer_rows(diff)
    if rows:
        lines += ["#### Layers (conv variant)", "", *_table(_LAYER_COLUMNS, rows, 99), ""]
    return "\n".join(lines)
