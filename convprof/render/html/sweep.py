"""`sweep --format html`: the points, the growth laws and the plots of `--plot`, as SVG in one page."""

from __future__ import annotations

from convprof.graph.variants import VARIANTS
from convprof.metrics import Metric
from convprof.render.common import CONVENTION
from convprof.render.html.charts import Line, compact, legend, loglog_panel
from convprof.render.html.page import attrs, esc, page, section, table
from convprof.render.plot import VARIANT_COLORS
from convprof.render.sweep import (
    cell,
    chart_axis,
    columns,
    footnotes,
    format_seconds,
    growth_sentences,
    skip_notes,
    stability_notes,
    title,
)
from convprof.sweep.fit import format_exponent
from convprof.sweep.model import Sweep, metric_lower_bound, metric_value

__all__ = ["sweep_html"]

#: Dash patterns that tell apart the slices of a grid (the other axes' values), as the plot's styles.
_DASHES = ("", "6 3", "2 3", "8 3 2 3")
_DASH_NAMES = ("solid", "dashed", "dotted", "dash-dot")
#: Stroke width and opacity per variant: local's wide pale line stays visible under conv's MACs.
_LOOKS = {"dense": (1.6, 1.0), "local": (3.6, 0.5), "conv": (1.4, 1.0)}


def _points(sweep: Sweep) -> str:
    """The points table; every figure's cell carries its exact value."""
    headers = columns(sweep)
    body = []
    for point in sweep.points:
        tds = [f"<td>{esc(label)}</td>" for label in point.labels]
        for metric in sweep.metrics:
            for variant in VARIANTS:
                value = metric_value(point.report, metric, variant)
                data = attrs(
                    data_point=point.index,
                    data_variant=variant,
                    data_metric=metric.key,
                    data_value=None if value is None else repr(value),
                    data_bound="1" if metric_lower_bound(point.report, metric, variant) else None,
                )
                tds.append(f'<td class="num"{data}>{esc(cell(sweep, metric, variant, point.index))}</td>')
        body.append("<tr>" + "".join(tds) + "</tr>")
    return table(headers, body, right_from=len(sweep.axes))


def _y_label(metric: Metric) -> object:
    if metric.unit == "seconds":
        return format_seconds
    return lambda value: compact(value, metric.unit)


def _panel(sweep: Sweep, metric: Metric, along: int) -> str:
    axis = sweep.axes[along]
    slices: dict[tuple[str, ...], list[int]] = {}
    for point in sweep.points:
        slices.setdefault(point.labels[:along] + point.labels[along + 1 :], []).append(point.index)
    position = {value.label: i for i, value in enumerate(axis.values)}
    lines = []
    for number, indices in enumerate(slices.values()):
        for variant in VARIANTS:
            points = []
            for i in indices:
                point = sweep.points[i]
                value = metric_value(point.report, metric, variant)
                if value is None or value <= 0:
                    continue
                where = ", ".join(f"{a.name}={v}" for a, v in zip(sweep.axes, point.labels, strict=True))
                mark = ">=" if metric_lower_bound(point.report, metric, variant) else ""
                shown = format_seconds(value) if metric.unit == "seconds" else f"{value:,}"
                points.append((position[point.labels[along]], value, f"{variant} at {where}: {mark}{shown}"))
            width, opacity = _LOOKS[variant]
            dash = _DASHES[number % len(_DASHES)]
            lines.append(Line(variant, VARIANT_COLORS[variant], dash, tuple(points), width, opacity))
    numbers = [v.number for v in axis.values] if axis.numeric else None
    y_label = _y_label(metric)
    assert callable(y_label)
    svg = loglog_panel(
        lines,
        x_labels=[v.label for v in axis.values],
        x_numbers=[n for n in numbers if n is not None] if numbers else None,
        unit=metric.unit,
        metric=metric.key,
        label=f"{metric.title} along {axis.name}",
        x_title=axis.name if axis.numeric else f"{axis.name} (categories)",
        y_label=y_label,
    )
    laws = []
    for variant in VARIANTS:
        fitted = next(
            (f for f in sweep.fits if (f.axis, f.metric, f.variant) == (axis.name, metric.key, variant)), None
        )
        law = variant
        if fitted is not None and fitted.fit is not None:
            law += f" ∝ {axis.name}^{format_exponent(fitted.fit.exponent)}"
            if fitted.lower_bound:
                law += " (of lower bounds)"
        laws.append((law, VARIANT_COLORS[variant]))
    bounded = any(metric_lower_bound(p.report, metric, v) for p in sweep.points for v in VARIANTS)
    heading = f"{metric.title} (log scale)" + (": lower bounds, opaque ops uncounted" if bounded else "")
    return (
        f'<figure class="panel" data-metric="{esc(metric.key)}"><figcaption><strong>{esc(heading)}</strong>'
        f"</figcaption>{svg}{legend(laws)}</figure>"
    )


def sweep_html(sweep: Sweep) -> str:
    """Return the sweep as one self-contained page: its points, how each variant's cost grows, and a
    log-log panel per metric (one line per variant, dashes for the other axes' values)."""
    along = chart_axis(sweep)
    others = [a for i, a in enumerate(sweep.axes) if i != along]
    slices = list(dict.fromkeys(p.labels[:along] + p.labels[along + 1 :] for p in sweep.points))
    key = ""
    if others:
        names = [", ".join(f"{a.name}={v}" for a, v in zip(others, s, strict=True)) for s in slices]
        styles = [f"{_DASH_NAMES[i % len(_DASHES)]}: {name}" for i, name in enumerate(names)]
        key = f'<p class="muted">Line styles: {esc("; ".join(styles))}</p>'
    panels = "".join(_panel(sweep, metric, along) for metric in sweep.metrics)
    laws = (
        '<ul class="notes">' + "".join(f"<li>{esc(line)}</li>" for line in growth_sentences(sweep)) + "</ul>"
    )
    notes = [*skip_notes(sweep), *stability_notes(sweep), *footnotes(sweep), CONVENTION]
    sections = [
        section(
            "growth",
            f"How each variant's cost grows with {sweep.axes[along].name}",
            laws + key + f'<div class="panels">{panels}</div>',
        ),
        section("points", "Points", _points(sweep)),
        '<ul class="notes muted">' + "".join(f"<li>{esc(line)}</li>" for line in notes) + "</ul>",
    ]
    spec = sweep.spec
    subtitle = (spec.description + " — " if spec.description else "") + "counted from the spec at every point"
    return page(
        f"convprof sweep: {spec.name}",
        title(sweep),
        subtitle,
        sections,
        [("growth", "Growth"), ("points", "Points")],
    )
