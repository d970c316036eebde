"""Markdown for pull requests, notebooks and documentation."""

from __future__ import annotations

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
from convprof.render.latency import measured_devices, measured_notes, measured_tables, training_devices
from convprof.report import Report
from convprof.safetext import markdown_text

__all__ = ["markdown_row", "to_markdown"]

#: Markdown collapses leading spaces in a table cell; no-break spaces keep a block's layers indented.
_MARKDOWN_INDENT = "\u00a0\u00a0"


def _legend(text: str, shown: bool) -> list[str]:
    return ["", f"_{text}_"] if shown and text else []


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
    report: Report,
    *,
    layers: bool,
    layers_note: str | None = None,
    depth: int | None = None,
    show_legend: bool = True,
) -> str:
    """Return the comparison as GitHub-flavoured Markdown (`layers_note` where layers were left out).

    `depth` folds blocks nested deeper into one row each, as in the table; `show_legend` puts a line
    saying what the columns mean under each table."""
    lines = [f"### {markdown_text(title(report))}", ""]
    headers = summary_columns(measured_devices(report), has_frozen(report))
    rows = summary_rows(report)
    lines += _table(headers, rows, 1)
    lines += _legend(legend("summary", headers, rows), show_legend)
    lines += ["", f"**{savings_sentence(report)}**", ""]
    lines += [f"- {markdown_text(line)}" for line in notes(report)]
    lines += ["", f"#### {training_title(report)}", ""]
    headers, rows = training_columns(training_devices(report)), training_rows(report)
    lines += _table(headers, rows, 1)
    lines += _legend(legend("training", headers, rows), show_legend)
    if measured_devices(report) or training_devices(report):
        for heading, headers, rows in measured_tables(report):
            lines += ["", f"#### {heading}", ""]
            lines += _table(headers, rows, 2)
            lines += _legend(legend(heading, headers, rows), show_legend)
        lines += [""] + [f"- {line}" for line in measured_notes(report)]
    if layers:
        rows = layer_rows(report, depth, _MARKDOWN_INDENT)
        lines += ["", "#### Layers (conv variant)", ""]
        headers = layer_columns(has_frozen(report))
        lines += _table(headers, rows, 4)
        lines += _legend(legend("layers", headers, []), show_legend)
    elif layers_note:
        lines += ["", f"_{layers_note}_"]
    lines += ["", f"_{CONVENTION}_", ""]
    return "\n".join(lines)
