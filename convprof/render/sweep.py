"""A finished Sweep as a rich table with growth laws and a terminal chart, Markdown, CSV or JSON."""

from __future__ import annotations

import csv
import io
import math

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from convprof.graph.variants import VARIANTS
from convprof.metrics import Metric
from convprof.render.common import CONVENTION, LOWER_BOUND_MARK, io_text
from convprof.render.console import fits, fitted, print_prose
from convprof.render.jsonfmt import dumps
from convprof.render.latency import UNSTABLE_MARK, unstable_note
from convprof.render.markdown import markdown_row
from convprof.safetext import markdown_text, printable
from convprof.sweep.axes import Axis
from convprof.sweep.fit import format_exponent
from convprof.sweep.model import (
    TRAINING_LATENCY,
    Sweep,
    latency_stable,
    metric_lower_bound,
    metric_value,
    skip_reason,
)

__all__ = [
    "MEMORY_NOTE",
    "TRAINING_NOTE",
    "cell",
    "chart_axis",
    "footnotes",
    "growth_sentences",
    "render_sweep",
    "sweep_to_csv",
    "sweep_to_json",
    "sweep_to_markdown",
]

#: What the memory column counts, stated under every human-readable sweep.
MEMORY_NOTE = "Memory: weights + buffers + peak inference activations, for the point's batch."
#: What the training columns count, stated under a sweep with --training.
TRAINING_NOTE = (
    "Training FLOPs: forward + backward of one training step; Training memory: its modelled peak "
    "(weights, buffers, optimizer state and input, plus the most the step holds at once)"
)


def footnotes(sweep: Sweep) -> list[str]:
    """Return what the memory (and training) columns count."""
    if not sweep.training:
        return [MEMORY_NOTE]
    step = "; Step: the measured median training step" if TRAINING_LATENCY in sweep.metrics else ""
    optimizer = sweep.points[0].report.optimizer if sweep.points else "adam"
    return [MEMORY_NOTE, f"{TRAINING_NOTE}, with {optimizer}{step}."]


#: Growth laws state the slope at the top of the range; a whole-range least-squares slope this far
#: from it is shown too, since the law then bends (a valid convolution's edge effect at small sizes).
BENT_BY = 0.1
#: Sparkline levels, lowest first.
_BLOCKS = "▁▂▃▄▅▆▇█"
#: Colour of each variant in the chart (and the plot).
VARIANT_STYLES = {"dense": "red", "local": "yellow", "conv": "green"}


def format_seconds(seconds: float) -> str:
    """Return a duration in the unit that keeps three significant digits: 812 µs, 1.23 ms, 2.5 s."""
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6)):
        if seconds >= scale:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds / 1e-9:.3g} ns"


def _compact(value: float, base: int, suffixes: tuple[str, ...]) -> str:
    """Three significant digits and a unit prefix, narrow enough for nine columns: 14.5 M, 456."""
    if value < base:
        return f"{value:.0f}{suffixes[0]}" if float(value).is_integer() else f"{value:.3g}{suffixes[0]}"
    index = 0
    while value >= base and index + 1 < len(suffixes):
        value /= base
        index += 1
    digits = 0 if value >= 99.95 else 1 if value >= 9.995 else 2
    if value >= 999.5 and base == 1000 and index + 1 < len(suffixes):  # 999.7 k reads 1.00 M
        value /= base
        index += 1
        digits = 2
    return f"{value:.{digits}f}{suffixes[index]}"


def format_value(metric: Metric, value: float | None) -> str:
    """Return a metric value in compact human units; '-' when there is none."""
    if value is None:
        return "-"
    if metric.unit == "bytes":
        return _compact(value, 1024, (" B", " KiB", " MiB", " GiB", " TiB", " PiB", " EiB"))
    if metric.unit == "seconds":
        return format_seconds(value)
    return _compact(value, 1000, ("", " k", " M", " G", " T", " P", " E"))


def title(sweep: Sweep) -> str:
    """Return the heading line: spec, axes and number of points."""
    axes = " x ".join(f"{a.name} ({len(a.values)})" for a in sweep.axes)
    spec = sweep.spec
    return (
        f"{printable(spec.name)}: sweep over {axes}, {len(sweep.points)} points "
        f"(spec: {io_text(spec)}, batch {spec.batch_size}, {spec.dtype})"
    )


def cell(sweep: Sweep, metric: Metric, variant: str, index: int) -> str:
    """Return one figure of the points table: a point's metric of a variant in human units."""
    report = sweep.points[index].report
    value = metric_value(report, metric, variant)
    if metric.unit != "seconds":
        mark = LOWER_BOUND_MARK if metric_lower_bound(report, metric, variant) else ""
        return mark + format_value(metric, value)
    training = metric == TRAINING_LATENCY
    if value is None:
        return "skipped" if skip_reason(report, variant, training) else "-"
    mark = UNSTABLE_MARK if latency_stable(report, variant, training) is False else ""
    return mark + format_value(metric, value)


def stability_notes(sweep: Sweep) -> list[str]:
    """Return the line explaining the unstable mark when any point's latency carries it."""
    unstable = any(
        latency_stable(point.report, variant, training) is False
        for point in sweep.points
        for variant in VARIANTS
        for training in (False, True)
    )
    return [unstable_note()] if unstable and any(m.unit == "seconds" for m in sweep.metrics) else []


def columns(sweep: Sweep) -> list[str]:
    """Return the table's headers: the axes, then each metric for each variant."""
    return [a.name for a in sweep.axes] + [f"{m.short}\n{v}" for m in sweep.metrics for v in VARIANTS]


def rows(sweep: Sweep) -> list[list[str]]:
    """Return one row of human units per point."""
    return [
        [*point.labels, *(cell(sweep, m, v, point.index) for m in sweep.metrics for v in VARIANTS)]
        for point in sweep.points
    ]


def growth_sentences(sweep: Sweep) -> list[str]:
    """Say how each metric of each variant grows along each fitted axis, in words and numbers."""
    lines = []
    fitted = {f.axis for f in sweep.fits}
    for axis in sweep.axes:
        if axis.name not in fitted:
            continue
        for metric in sweep.metrics:
            parts: list[str] = []
            bent: list[str] = []
            for variant in VARIANTS:
                fit = sweep.fit(axis.name, metric.key, variant)
                if fit is None:
                    parts.append(f"{variant} has too few measured points")
                    continue
                if fit.constant:
                    parts.append(f"{variant} stay constant")
                else:  # each variant its own verb: one may shrink while another grows
                    verb = "grow" if fit.exponent > 0 else "shrink"
                    parts.append(f"{variant} {verb} as {axis.name}^{format_exponent(fit.exponent)}")
                if abs(fit.least_squares - fit.exponent) >= BENT_BY:
                    bent.append(f"{variant} {format_exponent(fit.least_squares)}")
            line = f"{metric.title}: {', '.join(parts)}."
            if bent:
                line += f" (Least squares over all points: {', '.join(bent)}; small values bend the line.)"
            bounded = [v for v in VARIANTS if _fit_over_bounds(sweep, axis.name, metric.key, v)]
            if bounded:
                line += (
                    f" Fitted over lower bounds ({', '.join(bounded)}): opaque ops' counts are unknown and "
                    "left out, so this is the growth of the counted part only."
                )
            lines.append(line)
    for axis in sweep.axes:
        if axis.name not in fitted:
            why = "its values are not all positive numbers" if not axis.numeric else "it has one value"
            lines.append(f"No growth law along {axis.name}: {why}.")
    return lines


def _fit_over_bounds(sweep: Sweep, axis: str, metric: str, variant: str) -> bool:
    return any(f.lower_bound for f in sweep.fits if (f.axis, f.metric, f.variant) == (axis, metric, variant))


def skip_notes(sweep: Sweep) -> list[str]:
    """Return one line per point and variant whose latency (or training step) was skipped, with the
    reason."""
    lines = []
    for point in sweep.points:
        where = ", ".join(f"{a.name}={v}" for a, v in zip(sweep.axes, point.labels, strict=True))
        for training, what in ((False, "Latency"), (True, "Training step")):
            for variant in VARIANTS:
                reason = skip_reason(point.report, variant, training)
                if reason:
                    lines.append(f"{what} of {variant} at {where} skipped: {reason}")
    return lines


def chart_axis(sweep: Sweep) -> int:
    """Return the position of the axis charts run along: the first numeric one, else the first."""
    return next((i for i, a in enumerate(sweep.axes) if a.numeric and len(a.values) > 1), 0)


def _slices(sweep: Sweep, along: int) -> dict[tuple[str, ...], list[int]]:
    """Group point indices by their values on every axis but `along`, in grid order."""
    groups: dict[tuple[str, ...], list[int]] = {}
    for point in sweep.points:
        others = point.labels[:along] + point.labels[along + 1 :]
        groups.setdefault(others, []).append(point.index)
    return groups


def _spark(values: list[float | None], low: float, high: float, cell: int) -> str:
    out = []
    for value in values:
        if value is None or value <= 0:
            out.append("·" * cell)
            continue
        level = 0 if high == low else round((math.log(value) - low) / (high - low) * (len(_BLOCKS) - 1))
        out.append(_BLOCKS[level] * cell)
    return "".join(out)


def render_chart(sweep: Sweep, console: Console) -> None:
    """Print a log-scale sparkline per variant per metric along the chart axis."""
    along = chart_axis(sweep)
    axis: Axis = sweep.axes[along]
    others = [a for i, a in enumerate(sweep.axes) if i != along]
    slices = _slices(sweep, along)
    cell = 2 if len(axis.values) <= 24 else 1
    first, last = axis.values[0].label, axis.values[-1].label
    for metric in sweep.metrics:
        values = {
            (key, v): [metric_value(sweep.points[i].report, metric, v) for i in indices]
            for key, indices in slices.items()
            for v in VARIANTS
        }
        logs = [math.log(x) for series in values.values() for x in series if x is not None and x > 0]
        if not logs:
            continue
        low, high = min(logs), max(logs)
        console.print(Text(f"{metric.title} (log scale) along {axis.name} {first} → {last}", style="bold"))
        for key in slices:
            if others:
                console.print("  " + ", ".join(f"{a.name}={v}" for a, v in zip(others, key, strict=True)))
            for variant in VARIANTS:
                series = values[(key, variant)]
                present = [x for x in series if x is not None]
                span = (
                    f"{format_value(metric, present[0])} → {format_value(metric, present[-1])}"
                    if present
                    else "not measured"
                )
                line = Text(f"  {variant:<6}")
                line.append(_spark(series, low, high, cell), style=VARIANT_STYLES[variant])
                line.append(f"  {span}")
                console.print(line)
    console.print(Text("Shared log scale per metric: ▁ is its smallest value, █ its largest.", style="dim"))


def _points_table(sweep: Sweep, heading: str, metrics: tuple[Metric, ...]) -> Table:
    table = Table(
        title=heading,
        title_justify="left",
        title_style="bold",
        box=box.SIMPLE_HEAD,
        padding=(0, 1),
        pad_edge=False,
        collapse_padding=True,
    )
    for axis in sweep.axes:
        table.add_column(axis.name, no_wrap=True)
    for metric in metrics:
        for variant in VARIANTS:
            table.add_column(f"{metric.short}\n{variant}", justify="right", no_wrap=True)
    for point in sweep.points:
        cells = [cell(sweep, m, v, point.index) for m in metrics for v in VARIANTS]
        table.add_row(*point.labels, *cells)
    return table


def render_sweep(sweep: Sweep, console: Console, *, chart: bool) -> None:
    """Print the points table (one per metric when all of them do not fit), growth laws and a chart."""
    table = _points_table(sweep, title(sweep), sweep.metrics)
    if fits(table, console):
        console.print(table)
    else:  # a narrow terminal: truncated numbers would mislead, so split rather than squeeze
        console.print(Text(title(sweep), style="bold"))
        for metric in sweep.metrics:
            table = _points_table(sweep, metric.title, (metric,))
            console.print(fitted(table, console, keys=len(sweep.axes)))
    for line in growth_sentences(sweep):
        print_prose(console, line, style="bold")
    for line in skip_notes(sweep):
        print_prose(console, line)
    for line in stability_notes(sweep):
        print_prose(console, line)
    if chart:
        console.print()
        render_chart(sweep, console)
    console.print()
    for line in footnotes(sweep):
        print_prose(console, line, style="dim")
    print_prose(console, CONVENTION, style="dim")


def sweep_to_markdown(sweep: Sweep) -> str:
    """Return the sweep as GitHub-flavoured Markdown."""
    headers = [h.replace("\n", " ") for h in columns(sweep)]
    lines = [f"### {markdown_text(title(sweep))}", ""]
    lines.append(markdown_row(headers))
    lines.append(
        "| " + " | ".join("---" if i < len(sweep.axes) else "---:" for i in range(len(headers))) + " |"
    )
    lines += [markdown_row(row) for row in rows(sweep)]
    lines.append("")
    lines += [f"- {line}" for line in growth_sentences(sweep)]
    lines += [f"- {line}" for line in skip_notes(sweep)]
    lines += [f"- {line}" for line in stability_notes(sweep)]
    lines += ["", f"_{' '.join(footnotes(sweep))} {CONVENTION}_", ""]
    return "\n".join(lines)


def sweep_to_csv(sweep: Sweep) -> str:
    """Return one row per point: axis values, then each metric of each variant as exact numbers."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    header = [a.name for a in sweep.axes]
    for metric in sweep.metrics:
        header += [f"{v}_{metric.key}" for v in VARIANTS]
    timed = [
        (prefix, metric == TRAINING_LATENCY)
        for metric, prefix in ((m, m.key.removesuffix("_s")) for m in sweep.metrics)
        if metric.unit == "seconds"
    ]
    for prefix, _training in timed:
        header += [f"{v}_{prefix}_skipped" for v in VARIANTS]
        header += [f"{v}_{prefix}_stable" for v in VARIANTS]
    writer.writerow(header)
    for point in sweep.points:
        cells: list[object] = list(point.labels)
        for metric in sweep.metrics:
            for variant in VARIANTS:
                value = metric_value(point.report, metric, variant)
                mark = LOWER_BOUND_MARK if metric_lower_bound(point.report, metric, variant) else ""
                cells.append("" if value is None else f"{mark}{value}" if mark else value)
        for _prefix, training in timed:
            cells += [skip_reason(point.report, v, training) or "" for v in VARIANTS]
            for v in VARIANTS:
                stable = latency_stable(point.report, v, training)
                cells.append("" if stable is None else str(stable).lower())
        writer.writerow(cells)
    return out.getvalue()


def sweep_to_json(sweep: Sweep) -> str:
    """Return the sweep as indented JSON with a trailing newline."""
    return dumps(sweep.to_dict())
