"""`convprof merge`: one spec's reports from several machines in one table."""

from __future__ import annotations

from pathlib import Path

import click

from convprof.commands.base import deliver, reports_errors
from convprof.render.jsonfmt import dumps

__all__ = ["merge"]


@click.command()
@click.argument("reports", nargs=-1, required=True, type=click.Path(path_type=Path), metavar="REPORT...")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "markdown", "json"]),
    default="table",
    show_default=True,
    help="Output format.",
)
@click.option("-o", "--output", type=click.Path(path_type=Path), help="Write to this file instead of stdout.")
@reports_errors
def merge(reports: tuple[Path, ...], fmt: str, output: Path | None) -> None:
    """Combine JSON reports of one spec measured on different machines (a CI matrix) into one table.

    Rows are keyed by environment: CPU model or GPU name, threads and torch version, from each report's
    `environment`. Reports of different specs or schema versions are refused (exit 2).
    """
    from convprof.merge import merge_reports
    from convprof.render.merge import merged_markdown, render_merged
    from convprof.reportfile import load_report

    merged = merge_reports([(str(path), load_report(path)) for path in reports])
    text: str | None = None  # the table
    if fmt == "json":
        text = dumps(merged.to_dict())
    elif fmt == "markdown":
        text = merged_markdown(merged)
    deliver(text, lambda console: render_merged(merged, console), output)
