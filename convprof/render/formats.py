"""The one format dispatch: which renderer draws a command's result as a table, JSON, Markdown, CSV or HTML.

Every command that prints a result hands it here with the format asked for; each result type says
once, in a `Renderers`, how it is drawn in each format it supports. Renderers stay pure (a string,
or drawing on a given console); the command's `deliver` decides where the text goes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Generic, TypeVar

if TYPE_CHECKING:
    from rich.console import Console

    from convprof.ci.diff import ReportDiff
    from convprof.ci.gate import CheckResults
    from convprof.ci.merge import MergedReports
    from convprof.report import Report
    from convprof.sweep.model import Sweep

__all__ = [
    "FORMATS",
    "MERGE",
    "PAGE_FORMATS",
    "Rendered",
    "Renderers",
    "check_renderers",
    "compare_renderers",
    "diff_renderers",
    "sweep_renderers",
]

#: Every output format, in the order help texts list them; `table` draws on a console.
FORMATS = ("table", "json", "markdown", "csv", "html")
#: Formats that make a page for a browser, not text for a terminal: written with -o or to a pipe.
PAGE_FORMATS = ("html",)

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Rendered:
    """A result in the format asked for: text, or (for a table) how to draw it on a console."""

    text: str | None
    """The result as JSON, Markdown, CSV or HTML; None for a table."""
    draw: Callable[[Console], None]
    """Draws the table on a console; used only when `text` is None."""


@dataclass(frozen=True, slots=True)
class Renderers(Generic[T]):
    """How one result type is drawn in each format it supports."""

    table: Callable[[T, Console], None]
    """Draws the result as rich tables and prose."""
    json: Callable[[T], str]
    """Returns the result as versioned JSON with exact integers."""
    markdown: Callable[[T], str]
    """Returns the result as GitHub-flavoured Markdown."""
    csv: Callable[[T], str] | None = None
    """Returns the result as CSV; None when the result has no tabular form."""
    html: Callable[[T], str] | None = None
    """Returns the result as one self-contained HTML page; None when it has none."""

    @property
    def formats(self) -> tuple[str, ...]:
        """The formats this result can be written in, in FORMATS order."""
        optional = {"csv": self.csv, "html": self.html}
        return tuple(f for f in FORMATS if optional.get(f, self.table) is not None)

    def render(self, result: T, fmt: str) -> Rendered:
        """Return `result` in format `fmt` (one of `formats`)."""
        if fmt not in self.formats:
            raise ValueError(f"format {fmt!r} is not one of {', '.join(self.formats)}")

        def draw(console: Console) -> None:
            self.table(result, console)

        if fmt == "table":
            return Rendered(None, draw)
        text = {"json": self.json, "markdown": self.markdown, "csv": self.csv, "html": self.html}[fmt]
        assert text is not None  # formats lists csv only where there is a renderer
        return Rendered(text(result), draw)


# -- the renderers of each command's result ------------------------------------------------------------


def compare_renderers(
    *,
    layers: bool,
    layers_note: str | None,
    depth: int | None,
    show_legend: bool = True,
    page_layers: bool | None = None,
) -> Renderers[Report]:
    """How `compare` draws a Report: the per-layer table when `layers`, folded below `depth`, and a
    legend under each table when `show_legend`; a page has its tree when `page_layers` (a page folds
    its blocks, so at any size; None: as `layers`).

    Each renderer is imported when it draws: JSON never pays for rich's tables."""

    def table(report: Report, console: Console) -> None:
        from convprof.render.table import render_compare

        render_compare(
            report, console, layers=layers, layers_note=layers_note, depth=depth, show_legend=show_legend
        )

    def json(report: Report) -> str:
        from convprof.render.machine import to_json

        return to_json(report)

    def markdown(report: Report) -> str:
        from convprof.render.markdown import to_markdown

        return to_markdown(
            report, layers=layers, layers_note=layers_note, depth=depth, show_legend=show_legend
        )

    def csv(report: Report) -> str:
        from convprof.render.machine import to_csv

        return to_csv(report, layers=layers)

    def html(report: Report) -> str:
        from convprof.render.html.compare import compare_html

        return compare_html(report, layers=layers if page_layers is None else page_layers, depth=depth)

    return Renderers(table=table, json=json, markdown=markdown, csv=csv, html=html)


def diff_renderers(*, everything: bool) -> Renderers[ReportDiff]:
    """How `diff` draws a ReportDiff: every variant and total with `everything`."""
    from convprof.render.diff import diff_markdown, render_diff
    from convprof.render.jsonfmt import dumps

    def html(diff: ReportDiff) -> str:
        from convprof.render.html.diff import diff_html

        return diff_html(diff, everything=everything)

    return Renderers(
        table=lambda diff, console: render_diff(diff, console, everything=everything),
        json=lambda diff: dumps(diff.to_dict()),
        markdown=lambda diff: diff_markdown(diff, everything=everything),
        html=html,
    )


def _merged_table(merged: MergedReports, console: Console) -> None:
    from convprof.render.merge import render_merged

    render_merged(merged, console)


def _merged_json(merged: MergedReports) -> str:
    from convprof.render.jsonfmt import dumps

    return dumps(merged.to_dict())


def _merged_markdown(merged: MergedReports) -> str:
    from convprof.render.merge import merged_markdown

    return merged_markdown(merged)


#: How `merge` draws MergedReports.
MERGE: Renderers[MergedReports] = Renderers(table=_merged_table, json=_merged_json, markdown=_merged_markdown)


def sweep_renderers(*, chart: bool) -> Renderers[Sweep]:
    """How `sweep` draws a Sweep: with a terminal chart under the table when `chart`."""
    from convprof.render.sweep import render_sweep, sweep_to_csv, sweep_to_json, sweep_to_markdown

    def html(sweep: Sweep) -> str:
        from convprof.render.html.sweep import sweep_html

        return sweep_html(sweep)

    return Renderers(
        table=lambda sweep, console: render_sweep(sweep, console, chart=chart),
        json=sweep_to_json,
        markdown=sweep_to_markdown,
        csv=sweep_to_csv,
        html=html,
    )


def check_renderers() -> Renderers[CheckResults]:
    """How `check` draws its CheckResults."""
    from convprof.render.checks import checks_json, checks_markdown, render_checks

    return Renderers(
        table=lambda found, console: render_checks(found.checks, found.unchecked, console),
        json=lambda found: checks_json(found.checks, found.unchecked),
        markdown=lambda found: checks_markdown(found.checks, found.unchecked),
    )
