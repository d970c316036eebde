"""Rich tables for the terminal."""

from __future__ import annotations

from rich import box
from rich.console import Console, RenderableType
from rich.table import Table

from convprof.render.common import (
    CONVENTION,
    has_frozen,
    layer_columns,
    layer_rows,
    legend,
    notes,
    savings_sentence,
    summary_columns,
    summary_rows,
    title,
    training_columns,
    training_rows,
    training_title,
)
from convprof.render.console import fits, fitted, print_prose
from convprof.render.latency import measured_devices, measured_notes, measured_tables, training_devices
from convprof.report import Report

__all__ = ["render_compare"]


def _table(heading: str) -> Table:
    return Table(
        title=heading,
        title_justify="left",
        title_style="bold",
        box=box.SIMPLE_HEAD,
        padding=(0, 1),
        collapse_padding=True,
        pad_edge=False,
    )


def _legend(console: Console, text: str, shown: bool) -> None:
    """Print a table's legend under it, and the empty line that ends the table's section."""
    if shown and text:
        print_prose(console, text, style="dim")
        console.print()


def _by_variant(heading: str, headers: list[str], rows: list[list[str]], console: Console) -> RenderableType:
    """A table of one row per variant, or of one row per metric when the terminal is too narrow."""
    table = _table(heading)
    for index, header in enumerate(headers):
        table.add_column(header, justify="left" if index == 0 else "right", no_wrap=True)
    for row in rows:
        table.add_row(*row)
    if fits(table, console):
        return table
    transposed = _table(heading)
    transposed.add_column("", no_wrap=True)
    for row in rows:
        transposed.add_column(row[0], justify="right", no_wrap=True)
    for position, header in enumerate(headers[1:], start=1):
        label = f"  {headers[position - 1]} {header}" if header == "vs conv" else header
        transposed.add_row(label.replace("\n", " "), *(row[position] for row in rows))
    return fitted(transposed, console)  # narrower still: one record per metric


#: Per-layer columns given up first when the terminal is too narrow, least important first.
_DROP_ORDER = ("Saved", "Fan-in", "RF", "Act.", "Frozen p.", "Output", "Kind")
#: Where layer names fold onto a second line when the table is too wide for them whole, rather than
#: push numbers off the screen; names stay on one line whenever there is room.
_NAME_WIDTH = 14
_RIGHT_ALIGNED = {"#", "Params", "Frozen p.", "MACs", "Act.", "Saved", "Fan-in", "Local p.", "Dense p."}


def _layers(report: Report, console: Console, depth: int | None) -> tuple[RenderableType, list[str]]:
    """Return the per-layer table that fits the console, and the columns it had to leave out.

    Columns are given up in `_DROP_ORDER`; when even the narrowest table does not fit, every layer
    becomes a record with all its columns."""
    headers = layer_columns(has_frozen(report))
    rows = layer_rows(report, depth)
    droppable = [header for header in _DROP_ORDER if header in headers]
    hidden: list[str] = []
    full: Table | None = None
    while True:
        keep = [i for i, header in enumerate(headers) if header not in hidden]
        for fold_names in (False, True):
            table = _table("Layers (conv variant)")
            for i in keep:
                header = headers[i]
                folds = fold_names and header == "Name"
                table.add_column(
                    header,
                    justify="right" if header in _RIGHT_ALIGNED else "left",
                    no_wrap=not folds,  # numbers are never cut
                    overflow="fold" if folds else "ellipsis",
                    max_width=_NAME_WIDTH if folds else None,
                )
            for row in rows:
                table.add_row(*(row[i] for i in keep))
            full = full or table
            if fits(table, console):
                return table, hidden
        if len(hidden) == len(droppable):
            assert full is not None
            return fitted(full, console, keys=2), []
        hidden.append(droppable[len(hidden)])


def _measured(report: Report, console: Console, shown: bool) -> bool:
    """Print the measured-details table and its notes; return True when it ended with a table."""
    for heading, headers, rows in measured_tables(report):
        table = _table(heading)
        for index, header in enumerate(headers):
            table.add_column(header, justify="left" if index < 2 else "right", no_wrap=True)
        for row in rows:
            table.add_row(*row)
        console.print(fitted(table, console, keys=2))
        _legend(console, legend(heading, headers, rows), shown)
    lines = measured_notes(report)
    for line in lines:
        print_prose(console, line, style="dim")
    return not lines


def render_compare(
    report: Report,
    console: Console,
    *,
    layers: bool,
    layers_note: str | None = None,
    depth: int | None = None,
    show_legend: bool = True,
) -> None:
    """Print the summary table, the savings sentence and optionally the per-layer table.

    `layers_note` says how to get the per-layer table when it was left out by default; `depth` folds
    blocks nested deeper into one row each; `show_legend` puts a line saying what the columns mean
    under each table."""
    headers = summary_columns(measured_devices(report), has_frozen(report))
    rows = summary_rows(report)
    console.print(_by_variant(title(report), headers, rows, console))
    _legend(console, legend("summary", headers, rows), show_legend)
    print_prose(console, savings_sentence(report), style="bold")
    for line in notes(report):
        print_prose(console, line)
    console.print()
    headers, rows = training_columns(training_devices(report)), training_rows(report)
    console.print(_by_variant(training_title(report), headers, rows, console))
    _legend(console, legend("training", headers, rows), show_legend)
    ends_with_table = True  # a table (or its legend) ends with an empty line of its own
    if measured_devices(report) or training_devices(report):
        ends_with_table = _measured(report, console, show_legend)
    if layers:
        table, hidden = _layers(report, console, depth)
        if not ends_with_table:  # measured notes: the table starts a section of its own
            console.print()
        console.print(table)
        shown = [header for header in layer_columns(has_frozen(report)) if header not in hidden]
        _legend(console, legend("layers", shown, []), show_legend)
        ends_with_table = not hidden
        if hidden:
            print_prose(
                console,
                f"Narrow terminal: {', '.join(hidden)} hidden; widen it or use --format markdown.",
                style="dim",
            )
    elif layers_note:
        print_prose(console, layers_note, style="dim")
        ends_with_table = False
    if not ends_with_table:
        console.print()
    print_prose(console, CONVENTION, style="dim")
