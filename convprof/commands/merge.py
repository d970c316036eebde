"""`convprof merge`: one spec's reports from several machines in one table."""

from __future__ import annotations

from pathlib import Path

import click

from convprof.commands.base import deliver_result, format_option, output_option, reports_errors

__all__ = ["merge"]


@click.command()
@click.argument("reports", nargs=-1, required=True, type=click.Path(path_type=Path), metavar="REPORT...")
@format_option(csv=False, description="Output format.")
@output_option
@reports_errors
def merge(reports: tuple[Path, ...], fmt: str, output: Path | None) -> None:
    """Combine JSON reports of one spec measured on different machines (a CI matrix) into one table.

    Rows are keyed by environment: CPU model or GPU name, threads and torch version, from each report's
    `environment`. Reports of different specs or schema versions are refused (exit 2).
    """
    from convprof.ci.merge import merge_reports
    from convprof.render.formats import MERGE
    from convprof.report.reportfile import load_report

    merged = merge_reports([(str(path), load_report(path)) for path in reports])
    deliver_result(merged, MERGE, fmt, output)
