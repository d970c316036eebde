"""A report diff as a rich table or Markdown: what changed in the model as written, or everything."""

from __future__ import annotations

from rich import box
from rich.console import Console
from rich.table import Table

from convprof.ci.diff import LayerChange, MetricChange, ReportDiff
from convprof.render.console import fitted, print_prose
from convprof.render.markdown import markdown_row
from convprof.report import LOWER_BOUND_MARK
from convprof.safetext import markdown_text, printable

__all__ = ["diff_markdown", "layer_rows", "render_diff", "total_rows"]

#: Variants in the order a diff lists them: the model as written first, then its counterfactuals.
_SHOWN_ORDER = ("conv", "local", "dense")

_TOTAL_COLUMNS = ("Variant", "Metric", "Old", "New", "Change")
_LAYER_COLUMNS = ("Layer", "Status", "Position", "Changes")


def _value(value: int | float | str | None, lower_bound: bool = False) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3f}"
    if isinstance(value, int):
        return f"{LOWER_BOUND_MARK if lower_bound else ''}{value:,}"
    return printable(value)  # a kind, a shape or inputs, from a report file


def _change(change: MetricChange) -> str:
    if not change.changed:
        return "0"  # --all lists unchanged totals too
    counted = change.counted_delta
    if change.bounded and counted is not None:
        # Between lower bounds only the counted part's change is known, not the total's.
        shown = f"{counted:+,}" if isinstance(counted, int) else f"{counted:+.3f}"
        return f"{shown} counted (lower bound: no exact change)"
    if change.delta is None:
        return "changed"
    delta = f"{change.delta:+,}" if isinstance(change.delta, int) else f"{change.delta:+.3f}"
    return delta if change.percent is None else f"{delta} ({change.percent:+.1f}%)"


def _variants(everything: bool) -> tuple[str, ...]:
    return _SHOWN_ORDER if everything else ("conv",)


def total_rows(diff: ReportDiff, everything: bool = False) -> list[list[str]]:
    """Return a row per total that changed in the conv variant, or per total of every variant."""
    return [
        [name, m.metric, _value(m.old, m.old_lower_bound), _value(m.new, m.new_lower_bound), _change(m)]
        for name in _variants(everything)
        for m in diff.variant(name).metrics
        if m.changed or everything
    ]


def _elsewhere(diff: ReportDiff, everything: bool) -> str | None:
    """Say what the default view leaves out: the counterfactual variants' changes."""
    if everything:
        return None
    others = [
        name
        for name in _SHOWN_ORDER[1:]
        if diff.variant(name).layers or any(m.changed for m in diff.variant(name).metrics)
    ]
    if not others:
        return None
    which = " and ".join(others)
    verb = "changes" if len(others) == 1 else "change"
    return f"The {which} variants {verb} too; --all lists every variant and metric."


def _position(layer: LayerChange) -> str:
    # 0-based, as in the reports' `index` and `--set layers.N`.
    old = "-" if layer.old_index is None else str(layer.old_index)
    new = "-" if layer.new_index is None else str(layer.new_index)
    return old if old == new else f"{old} -> {new}"


def _describe(layer: LayerChange) -> str:
    if layer.status == "added":
        shown = {m.metric: m.new for m in layer.changes}
        return f"{_value(shown['kind'])} {_value(shown['output_shape'])}, {_value(shown['params'])} params"
    if layer.status == "removed":
        shown = {m.metric: m.old for m in layer.changes}
        return f"{_value(shown['kind'])} {_value(shown['output_shape'])}, {_value(shown['params'])} params"
    parts = [f"{m.metric} {_value(m.old)} -> {_value(m.new)}" for m in layer.changes if m.metric != "flops"]
    return "; ".join(parts) if parts else "moved"


def layer_rows(diff: ReportDiff, variant: str = "conv") -> list[list[str]]:
    """Return one row per layer added, removed or changed in `variant`."""
    return [[printable(c.path), c.status, _position(c), _describe(c)] for c in diff.variant(variant).layers]


def _heading(diff: ReportDiff) -> str:
    return f"convprof diff: {printable(diff.old_label)} -> {printable(diff.new_label)}"


def _totals_title(everything: bool) -> str:
    return (
        "Totals (every variant)" if everything else "Totals that changed (conv variant: the model as written)"
    )


def render_diff(diff: ReportDiff, console: Console, *, everything: bool = False) -> None:
    """Print the conv variant's changed totals and layers, or every variant's with `everything`."""
    print_prose(console, _heading(diff), style="bold")
    if not diff.changed and not everything:
        console.print("No change.")
        return
    rows = total_rows(diff, everything)
    if rows:
        totals = Table(
            title=_totals_title(everything), title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False
        )
        for index, header in enumerate(_TOTAL_COLUMNS):
            totals.add_column(header, justify="right" if index >= 2 else "left", no_wrap=True)
        for row in rows:
            totals.add_row(*row)
        console.print(fitted(totals, console, keys=2))
    for name in _variants(everything):
        changed = layer_rows(diff, name)
        if changed:
            layers = Table(
                title=f"Layers ({name} variant)", title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False
            )
            for header in _LAYER_COLUMNS:
                layers.add_column(header, no_wrap=header != "Changes")
            for row in changed:
                layers.add_row(*row)
            console.print(fitted(layers, console))
    note = _elsewhere(diff, everything)
    if note:
        print_prose(console, note, style="dim")


def _table(headers: tuple[str, ...], rows: list[list[str]], right_from: int) -> list[str]:
    lines = ["| " + " | ".join(headers) + " |"]
    lines.append("| " + " | ".join("---:" if i >= right_from else "---" for i in range(len(headers))) + " |")
    lines += [markdown_row(row) for row in rows]
    return lines


def diff_markdown(diff: ReportDiff, *, everything: bool = False) -> str:
    """Return the diff as Markdown for a pull-request comment or a job summary."""
    lines = [f"### {markdown_text(_heading(diff))}", ""]
    if not diff.changed and not everything:
        return "\n".join([*lines, "No change.", ""])
    rows = total_rows(diff, everything)
    if rows:
        lines += [f"#### {_totals_title(everything)}", "", *_table(_TOTAL_COLUMNS, rows, 2), ""]
    for name in _variants(everything):
        changed = layer_rows(diff, name)
        if changed:
            lines += [f"#### Layers ({name} variant)", "", *_table(_LAYER_COLUMNS, changed, 99), ""]
    note = _elsewhere(diff, everything)
    if note:
        lines += [f"_{note}_", ""]
    return "\n".join(lines)
