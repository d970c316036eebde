"""A report diff as a rich table or Markdown: what changed in the model as written, or everything."""

from __future__ import annotations

from rich import box
from rich.console import Console
from rich.table import Table

from convprof.ci.diff import BY_CONTENT, BY_NAME, LayerChange, MetricChange, ReportDiff
from convprof.ci.protocol import PROTOCOL_OPTIONS
from convprof.render.console import fitted, print_prose
from convprof.render.markdown import markdown_row
from convprof.report import LOWER_BOUND_MARK
from convprof.report.stats import UNSTABLE_MARK
from convprof.safetext import markdown_text, printable

__all__ = [
    "LAYER_COLUMNS",
    "TOTAL_COLUMNS",
    "diff_markdown",
    "elsewhere_note",
    "heading",
    "layer_rows",
    "protocol_note",
    "render_diff",
    "shown_variants",
    "total_entries",
    "total_rows",
    "totals_title",
]

#: Variants in the order a diff lists them: the model as written first, then its counterfactuals.
_SHOWN_ORDER = ("conv", "local", "dense")

TOTAL_COLUMNS = ("Variant", "Metric", "Old", "New", "Change")
LAYER_COLUMNS = ("Layer", "Status", "Position", "Paired", "Changes")
#: How the Paired column says how a layer was paired across the reports.
_PAIRED = {BY_NAME: "by name", BY_CONTENT: "by content"}
#: The rule under a diff's layer tables, in a line.
_PAIRING_NOTE = (
    "Paired by name: the same path in both reports. By content: a generated name (kind_N), which "
    "shifts when a layer of its kind is inserted, paired by block, kind, output shape and parameters."
)


def _value(value: int | float | str | None, lower_bound: bool = False, stable: bool | None = None) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{UNSTABLE_MARK if stable is False else ''}{value:.3f}"
    if isinstance(value, int):
        return f"{LOWER_BOUND_MARK if lower_bound else ''}{value:,}"
    return printable(value)  # a kind, a shape or inputs, from a report file


def _change(change: MetricChange) -> str:
    if not change.comparable:
        return f"not compared: {', '.join(change.protocol)}"
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


def shown_variants(everything: bool) -> tuple[str, ...]:
    return _SHOWN_ORDER if everything else ("conv",)


def total_entries(diff: ReportDiff, everything: bool = False) -> list[tuple[MetricChange, list[str]]]:
    """Return each total that changed in the conv variant, or every total of every variant, with its
    row."""
    return [
        (
            m,
            [
                name,
                m.metric,
                _value(m.old, m.old_lower_bound, m.old_stable),
                _value(m.new, m.new_lower_bound, m.new_stable),
                _change(m),
            ],
        )
        for name in shown_variants(everything)
        for m in diff.variant(name).metrics
        if m.changed or everything
    ]


def total_rows(diff: ReportDiff, everything: bool = False) -> list[list[str]]:
    """Return a row per total that changed in the conv variant, or per total of every variant."""
    return [row for _, row in total_entries(diff, everything)]


def protocol_note(diff: ReportDiff) -> str | None:
    """Say loudly which medians were measured under different protocols and so are not compared."""
    differing = {
        f"{m.metric} ({', '.join(m.protocol)})" for v in diff.variants for m in v.metrics if not m.comparable
    }
    if not differing:
        return None
    shown = sorted(differing)
    return (
        f"NOT COMPARED: {'; '.join(shown)}: the reports measured under different protocols, so "
        f"their medians say nothing of the model's change. Measure both with the same {PROTOCOL_OPTIONS}, "
        "on the same machine."
    )


def _unstable_note(rows: list[list[str]]) -> str | None:
    if any(cell.startswith(UNSTABLE_MARK) for row in rows for cell in row[2:4]):
        return f"{UNSTABLE_MARK}: an unstable median (its spread over 10%): its change may be noise."
    return None


def elsewhere_note(diff: ReportDiff, everything: bool) -> str | None:
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
    if parts:
        return "; ".join(parts)
    return "renamed only" if layer.status == "renamed" else "moved"


def _layer(change: LayerChange) -> str:
    if change.old_path is not None and change.old_path != change.path:
        return f"{printable(change.old_path)} -> {printable(change.path)}"
    return printable(change.path)


def layer_rows(diff: ReportDiff, variant: str = "conv") -> list[list[str]]:
    """Return one row per layer added, removed, changed or renamed in `variant`, with how it was paired."""
    return [
        [_layer(c), c.status, _position(c), _PAIRED.get(c.paired or "", "-"), _describe(c)]
        for c in diff.variant(variant).layers
    ]


def heading(diff: ReportDiff) -> str:
    return f"convprof diff: {printable(diff.old_label)} -> {printable(diff.new_label)}"


def totals_title(everything: bool) -> str:
    return (
        "Totals (every variant)" if everything else "Totals that changed (conv variant: the model as written)"
    )


def render_diff(diff: ReportDiff, console: Console, *, everything: bool = False) -> None:
    """Print the conv variant's changed totals and layers, or every variant's with `everything`."""
    print_prose(console, heading(diff), style="bold")
    if not diff.changed and not everything:
        console.print("No change.")
        return
    rows = total_rows(diff, everything)
    if rows:
        totals = Table(
            title=totals_title(everything), title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False
        )
        for index, header in enumerate(TOTAL_COLUMNS):
            totals.add_column(header, justify="right" if index >= 2 else "left", no_wrap=True)
        for row in rows:
            totals.add_row(*row)
        console.print(fitted(totals, console, keys=2))
        for line in (protocol_note(diff), _unstable_note(rows)):
            if line:
                print_prose(console, line, style="bold")
    listed = False
    for name in shown_variants(everything):
        changed = layer_rows(diff, name)
        if changed:
            layers = Table(
                title=f"Layers ({name} variant)", title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False
            )
            for header in LAYER_COLUMNS:
                layers.add_column(header, no_wrap=header != "Changes")
            for row in changed:
                layers.add_row(*row)
            console.print(fitted(layers, console))
            listed = True
    if listed:
        print_prose(console, _PAIRING_NOTE, style="dim")
    note = elsewhere_note(diff, everything)
    if note:
        print_prose(console, note, style="dim")


def _table(headers: tuple[str, ...], rows: list[list[str]], right_from: int) -> list[str]:
    lines = ["| " + " | ".join(headers) + " |"]
    lines.append("| " + " | ".join("---:" if i >= right_from else "---" for i in range(len(headers))) + " |")
    lines += [markdown_row(row) for row in rows]
    return lines


def diff_markdown(diff: ReportDiff, *, everything: bool = False) -> str:
    """Return the diff as Markdown for a pull-request comment or a job summary."""
    lines = [f"### {markdown_text(heading(diff))}", ""]
    if not diff.changed and not everything:
        return "\n".join([*lines, "No change.", ""])
    rows = total_rows(diff, everything)
    if rows:
        lines += [f"#### {totals_title(everything)}", "", *_table(TOTAL_COLUMNS, rows, 2), ""]
        lines += [f"**{line}**\n" for line in (protocol_note(diff), _unstable_note(rows)) if line]
    listed = False
    for name in shown_variants(everything):
        changed = layer_rows(diff, name)
        if changed:
            lines += [f"#### Layers ({name} variant)", "", *_table(LAYER_COLUMNS, changed, 99), ""]
            listed = True
    if listed:
        lines += [f"_{_PAIRING_NOTE}_", ""]
    note = elsewhere_note(diff, everything)
    if note:
        lines += [f"_{note}_", ""]
    return "\n".join(lines)
