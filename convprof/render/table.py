"""Rich tables for the terminal."""

from __future__ import annotations

from rich import box
from rich.console import Console
from rich.table import Table

from convprof.render.common import (
    CONVENTION,
    layer_columns,
    layer_row,
    notes,
    savings_sentence,
    summary_columns,
    summary_rows,
    title,
)
from convprof.report import Report

__all__ = ["render_compare"]


def _table(heading: str) -> Table:
    return Table(
        title=heading,
        title_justify="left",
        title_style="bold",
        box=box.SIMPLE_HEAD,
        padding=(0, 1),
        pad_edge=False,
    )


def render_compare(report: Report, console: Console, *, layers: bool) -> None:
    """Print the summary table, the savings sentence and optionally the per-layer table."""
    summary = _table(title(report))
    for index, header in enumerate(summary_columns(report.optimizer)):
        summary.add_column(header, justify="left" if index == 0 else "right", no_wrap=True)
    for row in summary_rows(report):
        summary.add_row(*row)
    console.print(summary)
    console.print(savings_sentence(report), style="bold")
    for line in notes(report):
        console.print(line)
    if layers:
        conv, local, dense = (report.variant(n) for n in ("conv", "local", "dense"))
        table = _table("Layers (conv variant)")
        for index, header in enumerate(layer_columns()):
            right = index in (0, 4, 5, 6, 8, 9, 10)
            table.add_column(header, justify="right" if right else "left", no_wrap=index != 1)
        for layer in zip(conv.layers, local.layers, dense.layers, strict=True):
            table.add_row(*layer_row(*layer))
        console.print(table)
    console.print()
    console.print(CONVENTION, style="dim")
