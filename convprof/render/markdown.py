"""Markdown for pull requests, notebooks and documentation."""

from __future__ import annotations

from convprof.render.common import (
    CONVENTION,
    layer_columns,
    layer_rows,
    notes,
    savings_sentence,
    summary_columns,
    summary_rows,
    title,
    training_columns,
    training_rows,
    training_title,
)
from convprof.render.latency import measured_devices, measured_notes, measured_tables, training_devices
from convprof.report import Report
from convprof.safetext import markdown_text

__all__ = ["markdown_row", "to_markdown"]

#: Markdown collapses leading spaces in a table cell; no-break spaces keep a block's layers indented.
_MARKDOWN_INDENT = "\u00a0\u00a0"


def _cell(text: str) -> str:
    """One table cell: escaped for Markdown, its indentation (no-break spaces) kept."""
    body = text.lstrip(_MARKDOWN_INDENT[0])
    return text[: len(text) - len(body)] + markdown_text(body)


def markdown_row(cells: list[str] | tuple[str, ...]) -> str:
    """Return one row of a Markdown table, every cell escaped (names in it come from specs and reports)."""
    return "| " + " | ".join(_cell(cell) for cell in cells) + " |"


def _table(headers: list[str], rows: list[list[str]], right_from: int) -> list[str]:
    align = ["---" if i < right_from else "---:" for i in range(len(headers))]
    # Table cells are one line in Markdown: a two-line terminal header becomes one.
    lines = [markdown_row([h.replace("\n", " ") for h in headers]), "| " + " | ".join(align) + " |"]
    lines += [markdown_row(row) for row in rows]
    return lines


def to_markdown(
    report: Report, *, layers: bool, layers_note: str | None = None, depth: int | None = None
) -> str:
    """Return the comparison as GitHub-flavoured Markdown (`layers_note` where layers were left out).

    `depth` folds blocks nested deeper into one row each, as in the table."""
    lines = [f"### {markdown_text(title(report))}", ""]
    lines += _table(summary_columns(measured_devices(report)), summary_rows(report), 1)
    lines += ["", f"**{savings_sentence(report)}**", ""]
    lines += [f"- {markdown_text(line)}" for line in notes(report)]
    lines += ["", f"#### {training_title(report)}", ""]
    lines += _table(training_columns(training_devices(report)), training_rows(report), 1)
    if measured_devices(report) or training_devices(report):
        for heading, headers, rows in measured_tables(report):
            lines += ["", f"#### {heading}", ""]
            lines += _table(headers, rows, 2)
        lines += [""] + [f"- {line}" for line in measured_notes(report)]
    if layers:
        rows = layer_rows(report, depth, _MARKDOWN_INDENT)
        lines += ["", "#### Layers (conv variant)", ""]
        lines += _table(layer_columns(), rows, 4)
    elif layers_note:
        lines += ["", f"_{layers_note}_"]
    lines += ["", f"_{CONVENTION}_", ""]
    return "\n".join(lines)
