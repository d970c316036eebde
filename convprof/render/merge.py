"""Merged reports as a rich table or Markdown: one row per machine and device."""

from __future__ import annotations

from rich import box
from rich.console import Console
from rich.table import Table

from convprof.ci.merge import MergedReports
from convprof.render.console import fitted
from convprof.render.latency import UNSTABLE_MARK, unstable_note
from convprof.units import plural

__all__ = ["merged_markdown", "merged_rows", "render_merged"]

_COLUMNS = ("Environment", "Device", "dense ms", "local ms", "conv ms", "Report")


def _ms(value: float | None, stable: bool | None) -> str:
    if value is None:
        return "skipped"
    return ("" if stable is not False else UNSTABLE_MARK) + f"{value:.3f}"


def merged_rows(merged: MergedReports) -> list[list[str]]:
    """Return one row of text per machine and device; an unstable median carries the mark."""
    rows = []
    for row in merged.rows:
        stable = dict(row.stable)
        cells = [_ms(ms, stable.get(name)) for name, ms in row.medians_ms]
        rows.append([row.environment, row.device, *cells, row.source])
    return rows


def _notes(merged: MergedReports) -> list[str]:
    unstable = any(flag is False for row in merged.rows for _, flag in row.stable)
    lines = [unstable_note()] if unstable else []
    if merged.unknown_ops:
        ops = plural(merged.unknown_ops, "opaque op")
        lines.append(
            f"{merged.spec} has {ops}: its MACs and FLOPs are lower bounds, and torch cannot rebuild "
            "an opaque op, so no variant of it was built and timed."
        )
    return lines


def _title(merged: MergedReports) -> str:
    return f"{merged.spec}: median latency by environment"


def render_merged(merged: MergedReports, console: Console) -> None:
    """Print the merged table."""
    table = Table(title=_title(merged), title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
    for index, header in enumerate(_COLUMNS):
        table.add_column(header, justify="right" if 2 <= index <= 4 else "left")
    for row in merged_rows(merged):
        table.add_row(*row)
    console.print(fitted(table, console, keys=2))
    for line in _notes(merged):
        console.print(line)


def merged_markdown(merged: MergedReports) -> str:
    """Return the merged table as Markdown."""
    lines = [f"### {_title(merged)}", "", "| " + " | ".join(_COLUMNS) + " |"]
    lines.append("| " + " | ".join("---:" if 2 <= i <= 4 else "---" for i in range(len(_COLUMNS))) + " |")
    lines += ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in merged_rows(merged)]
    notes = _notes(merged)
    if notes:
        lines += ["", *notes]
    return "\n".join([*lines, ""])
