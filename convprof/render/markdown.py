"""Markdown for pull requests, notebooks and documentation."""

from __future__ import annotations

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
from convprof.render.latency import measured_devices, measured_notes, measured_tables
from convprof.report import Report

__all__ = ["to_markdown"]


def _table(headers: list[str], rows: list[list[str]], right_from: int) -> list[str]:
    def escape(cell: str) -> str:
        # Table cells are one line in Markdown: a two-line terminal header becomes one.
        return cell.replace("|", "\\|").replace("\n", " ")

    align = ["---" if i < right_from else "---:" for i in range(len(headers))]
    lines = ["| " + " | ".join(escape(h) for h in headers) + " |", "| " + " | ".join(align) + " |"]
    lines += ["| " + " | ".join(escape(c) for c in row) + " |" for row in rows]
    return lines


def to_markdown(report: Report, *, layers: bool, layers_note: str | None = None) -> str:
    """Return the comparison as GitHub-flavoured Markdown (`layers_note` where layers were left out)."""
    lines = [f"### {title(report)}", ""]
    lines += _table(summary_columns(report.optimizer, measured_devices(report)), summary_rows(report), 1)
    lines += ["", f"**{savings_sentence(report)}**", ""]
    lines += [f"- {line}" for line in notes(report)]
    if measured_devices(report):
        for heading, headers, rows in measured_tables(report):
            lines += ["", f"#### {heading}", ""]
            lines += _table(headers, rows, 2)
        lines += [""] + [f"- {line}" for line in measured_notes(report)]
    if layers:
        conv, local, dense = (report.variant(n) for n in ("conv", "local", "dense"))
        rows = [layer_row(*row) for row in zip(conv.layers, local.layers, dense.layers, strict=True)]
        lines += ["", "#### Layers (conv variant)", ""]
        lines += _table(layer_columns(), rows, 4)
    elif layers_note:
        lines += ["", f"_{layers_note}_"]
    lines += ["", f"_{CONVENTION}_", ""]
    return "\n".join(lines)
