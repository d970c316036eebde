"""Merged reports as a rich table or Markdown: one row per machine and device."""

from __future__ import annotations

from rich import box
from rich.console import Console
from rich.table import Table

from convprof.ci.merge import MergedReports
from convprof.render.console import fitted, print_prose
from convprof.render.latency import UNSTABLE_MARK, unstable_note
from convprof.render.markdown import markdown_row
from convprof.safetext import markdown_text, printable
from convprof.units import plural

__all__ = ["merged_markdown", "merged_rows", "render_merged"]

_COLUMNS = ("Environment", "Device", "dense ms", "local ms", "conv ms", "Report")
#: With training steps: each variant's median step beside its latency.
_TRAINING_COLUMNS = (
    *("Environment", "Device", "dense ms", "local ms", "conv ms"),
    *("dense step ms", "local step ms", "conv step ms", "Report"),
)


def _columns(merged: MergedReports) -> tuple[str, ...]:
    return _TRAINING_COLUMNS if merged.training else _COLUMNS


def _right(merged: MergedReports, index: int) -> bool:
    """True for the columns of medians (right-aligned)."""
    return 2 <= index < len(_columns(merged)) - 1


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
        if merged.training:
            steps = dict(row.training_stable)
            timed = row.training_ms or tuple((name, None) for name, _ in row.medians_ms)
            cells += [_ms(ms, steps.get(name)) if row.training_ms else "-" for name, ms in timed]
        # Environment and device come from the report files, as written there.
        rows.append([printable(row.environment), printable(row.device), *cells, printable(row.source)])
    return rows


def _notes(merged: MergedReports) -> list[str]:
    unstable = any(flag is False for row in merged.rows for _, flag in (*row.stable, *row.training_stable))
    lines = [unstable_note()] if unstable else []
    if merged.unknown_ops:
        ops = plural(merged.unknown_ops, "opaque op")
        lines.append(
            f"The spec {printable(merged.spec)} has {ops}: its MACs and FLOPs are lower bounds, and torch "
            "cannot rebuild an opaque op, so no variant of it was built and timed."
        )
    return lines


def _title(merged: MergedReports) -> str:
    steps = " and training step" if merged.training else ""
    return f"{printable(merged.spec)}: median latency{steps} by environment"


def render_merged(merged: MergedReports, console: Console) -> None:
    """Print the merged table."""
    table = Table(title=_title(merged), title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
    for index, header in enumerate(_columns(merged)):
        table.add_column(header, justify="right" if _right(merged, index) else "left")
    for row in merged_rows(merged):
        table.add_row(*row)
    console.print(fitted(table, console, keys=2))
    for line in _notes(merged):
        print_prose(console, line)


def merged_markdown(merged: MergedReports) -> str:
    """Return the merged table as Markdown."""
    columns = _columns(merged)
    lines = [f"### {markdown_text(_title(merged))}", "", "| " + " | ".join(columns) + " |"]
    lines.append(
        "| " + " | ".join("---:" if _right(merged, i) else "---" for i in range(len(columns))) + " |"
    )
    lines += [markdown_row(row) for row in merged_rows(merged)]
    notes = _notes(merged)
    if notes:
        lines += ["", *(markdown_text(note) for note in notes)]
    return "\n".join([*lines, ""])
