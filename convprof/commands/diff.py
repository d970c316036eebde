"""`convprof diff`: what changed between two saved JSON reports."""

from __future__ import annotations

from pathlib import Path

import click

from convprof.commands.base import (
    check_destination,
    deliver_result,
    format_option,
    output_option,
    reports_errors,
)

__all__ = ["diff"]


@click.command()
@click.argument("old", type=click.Path(path_type=Path))
@click.argument("new", type=click.Path(path_type=Path))
@format_option(
    csv=False,
    html=True,
    description="markdown suits a pull-request comment; json carries exact integers; html is one "
    "self-contained page (with -o, or to a pipe).",
)
@output_option
@click.option(
    "--all",
    "everything",
    is_flag=True,
    help="Every variant and every total, changed or not (default: what changed in the conv variant).",
)
@reports_errors
def diff(old: Path, new: Path, fmt: str, output: Path | None, everything: bool) -> None:
    """Show the change from report OLD to report NEW (both from `convprof compare --format json`).

    By default, the totals and layers that changed in the conv variant (the model as written), with a
    line saying whether the local and dense variants changed too; --all lists every variant and
    total. Positions are 0-based, as in the reports' `index`. JSON always holds everything. Exits 0
    whether or not anything changed; 2 when a file is not a report.

    Layers are paired by name: a layer's path in one report is the same layer in the other. A name the
    spec did not give (kind_N, generated: it shifts when a layer of its kind is inserted before it) is
    paired by content instead: its block, kind, output shape and parameters, or its block and kind in
    order where it was edited; such a layer whose name changed is listed as renamed. Each row says how
    it was paired (by name, by content).

    Measured medians carry ~ when unstable. Medians measured under different protocols (threads,
    dtype, batch size, channels-last, compile, the CPU or GPU) are not compared: their change reads
    "not compared", a bold line says why, and stderr warns.
    """
    check_destination(fmt, output)
    from convprof.ci.diff import diff_reports
    from convprof.commands.check import step_summary
    from convprof.render.diff import diff_markdown, protocol_note
    from convprof.render.formats import diff_renderers
    from convprof.report.reportfile import load_report

    before, after = load_report(old), load_report(new)
    result = diff_reports(before, after, f"{before.spec.name} ({old})", f"{after.spec.name} ({new})")
    warning = protocol_note(result)
    if warning is not None:
        click.echo(f"convprof: warning: {warning}", err=True)
    deliver_result(result, diff_renderers(everything=everything), fmt, output)
    step_summary(diff_markdown(result, everything=everything))
