"""Inline SVG charts: bars on a log axis, series over time, log-log panels. Presentation only: they
place the figures they are given and compute none."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from convprof.render.html.page import attrs, esc
from convprof.units import format_bytes, format_count

__all__ = [
    "Bar",
    "BarRow",
    "Line",
    "Marker",
    "Series",
    "bar_chart",
    "compact",
    "full",
    "legend",
    "line_chart",
    "log_ticks",
    "loglog_panel",
    "nice_ticks",
]

#: Binary prefixes of byte sizes on an axis, and decimal ones of counts.
_BYTE_UNITS = ("B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB")
_COUNT_UNITS = ("", "k", "M", "G", "T", "P", "E", "Z", "Y")


def compact(value: float, unit: str) -> str:
    """Return an axis label: 3 significant digits and a prefix (`1.5 MiB`, `20 G`)."""
    base, names = (1024, _BYTE_UNITS) if unit == "bytes" else (1000, _COUNT_UNITS)
    index = 0
    while value >= base and index + 1 < len(names):
        value /= base
        index += 1
    text = f"{value:.0f}" if value >= 100 else f"{value:.3g}"
    return f"{text} {names[index]}".rstrip()


def full(value: int, unit: str) -> str:
    """Return a figure in human units with its exact value: `4.10 k (4,096)`."""
    human = format_bytes(value) if unit == "bytes" else format_count(value)
    return human if str(value) == human else f"{human} ({value:,})"


def log_ticks(top: float, unit: str = "count") -> list[int]:
    """Return ticks of a log axis from 1 to the first at or above `top`, at most about eight: powers
    of ten for counts, of 1024 (and 32 between) for bytes."""
    if unit == "bytes":
        ticks = [1]
        while ticks[-1] < top:
            ticks.append(ticks[-1] * 32)
        if len(ticks) > 9:
            ticks = [1024**k for k in range(0, (len(ticks) + 1) // 2 + 1)]
        return ticks
    decades = max(1, math.ceil(math.log10(top))) if top > 1 else 1
    step = max(1, math.ceil(decades / 7))
    return [10**k for k in range(0, decades + 1, step)] + ([10**decades] if decades % step else [])


def nice_ticks(top: float, unit: str, count: int = 5) -> list[float]:
    """Return round ticks from 0 to at least `top` (1, 2 or 5 times a power of the unit's base)."""
    if top <= 0:
        return [0.0, 1.0]
    base = 1024 if unit == "bytes" else 1000
    scale = 1.0
    while top / scale >= base:
        scale *= base
    rough = top / scale / count
    magnitude = 10 ** math.floor(math.log10(rough)) if rough > 0 else 1
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= rough) * scale
    ticks = [0.0]
    while ticks[-1] < top:
        ticks.append(ticks[-1] + step)
    return ticks


@dataclass(frozen=True, slots=True)
class Bar:
    """One bar: a variant's figure for one row."""

    variant: str
    """dense, local or conv (its colour)."""
    value: int | None
    """The figure; None when unknown (drawn hatched, never as zero)."""
    lower_bound: bool
    """The figure leaves unknown counts out: at least this."""


@dataclass(frozen=True, slots=True)
class BarRow:
    """One row of a bar chart: a layer (or a folded block) and its bars per panel."""

    label: str
    """The row's name."""
    path: str
    """The layer's or block's path (the row's identity in the page's data)."""
    panels: tuple[tuple[Bar, ...], ...]
    """Per panel, the row's bars."""
    tip: str
    """What the row's tooltip says (every figure of its bars)."""


_LABEL_WIDTH = 200
#: Characters of a row's label shown; a longer one keeps its end (the layer's own name).
_LABEL_CHARS = 32
_PANEL_WIDTH = 270
_PANEL_GAP = 18
_BAR_HEIGHT = 5
_ROW_GAP = 6
_HEAD = 34


def bar_chart(rows: Sequence[BarRow], panels: Sequence[tuple[str, str, str]], colours: dict[str, str]) -> str:
    """Return rows of bars in side-by-side panels (key, title, unit), each on its own log axis from 1
    to the first power of ten above its largest figure; a 0 has no bar, an unknown is hatched."""
    bars_per_row = max((len(bars) for row in rows for bars in row.panels), default=1)
    row_height = bars_per_row * _BAR_HEIGHT + _ROW_GAP
    width = _LABEL_WIDTH + len(panels) * (_PANEL_WIDTH + _PANEL_GAP)
    height = _HEAD + len(rows) * row_height + 6
    parts = [f'<svg width="{width}" height="{height}" role="img" aria-label="bars per layer">']
    tops = []
    for index, (key, title, unit) in enumerate(panels):
        values = [bar.value for row in rows for bar in row.panels[index] if bar.value]
        ticks = log_ticks(max(values, default=1), unit)
        tops.append(ticks[-1])
        left = _LABEL_WIDTH + index * (_PANEL_WIDTH + _PANEL_GAP)
        parts.append(f'<text x="{left}" y="12" font-weight="600">{esc(title)} (log scale)</text>')
        for tick in ticks:
            x = left + (_log_x(tick, ticks[-1]) if tick > 1 else 0.0)
            anchor = "start" if tick == 1 else "end" if tick == ticks[-1] else "middle"
            parts.append(
                f'<line class="grid" x1="{x:.1f}" x2="{x:.1f}" y1="{_HEAD - 6}" y2="{height - 4}"/>'
                f'<text class="muted" x="{x:.1f}" y="{_HEAD - 9}" text-anchor="{anchor}">'
                f"{esc(compact(tick, unit))}</text>"
            )
        parts.append(f'<g data-panel="{esc(key)}"></g>')
    for number, row in enumerate(rows):
        top = _HEAD + number * row_height
        parts.append(
            f"<g{attrs(data_path=row.path, data_tip=row.tip)}>"
            f'<rect x="0" y="{top}" width="{width}" height="{row_height}" fill="transparent"/>'
        )
        label = row.label if len(row.label) <= _LABEL_CHARS else "…" + row.label[1 - _LABEL_CHARS :]
        parts.append(
            f'<text x="4" y="{top + row_height / 2 + 1:.1f}" dominant-baseline="middle">{esc(label)}</text>'
        )
        for index, (key, _title, _unit) in enumerate(panels):
            left = _LABEL_WIDTH + index * (_PANEL_WIDTH + _PANEL_GAP)
            for slot, bar in enumerate(row.panels[index]):
                y = top + slot * _BAR_HEIGHT
                common = attrs(
                    data_variant=bar.variant,
                    data_metric=key,
                    data_value="" if bar.value is None else bar.value,
                    data_bound="1" if bar.lower_bound else None,
                )
                if bar.value is None:
                    parts.append(
                        f'<rect class="unknown" x="{left}" y="{y}" width="{_PANEL_WIDTH}" '
                        f'height="{_BAR_HEIGHT - 1}"{common}/>'
                    )
                    continue
                length = _log_x(bar.value, tops[index]) if bar.value else 0.0
                parts.append(
                    f'<rect x="{left}" y="{y}" width="{max(length, 0.0):.1f}" height="{_BAR_HEIGHT - 1}" '
                    f'fill="{colours[bar.variant]}"{common}/>'
                )
        parts.append("</g>")
    parts.append("</svg>")
    return "\n".join(parts)


def _log_x(value: float, top: float) -> float:
    """Where `value` sits on a log axis from 1 (0 px) to `top` (the panel's width)."""
    if value <= 1 or top <= 1:
        return 1.0 if value >= 1 else 0.0
    return max(1.0, math.log10(value) / math.log10(top) * _PANEL_WIDTH)


@dataclass(frozen=True, slots=True)
class Series:
    """A line of a chart: one variant's figures at each point."""

    name: str
    """Legend name (a variant)."""
    colour: str
    """Stroke colour."""
    values: tuple[int | None, ...]
    """The figure at each point; None: no point there."""
    width: float = 1.6
    """Stroke width: a wide pale line shows under a thin one it coincides with."""
    opacity: float = 1.0
    """Stroke opacity."""


@dataclass(frozen=True, slots=True)
class Marker:
    """A labelled point (the peak) or level (a measured peak) on a chart."""

    label: str
    """Its text, drawn beside it."""
    value: int
    """Its figure (the y position)."""
    at: int | None
    """The point it marks; None: a horizontal level across the chart."""
    colour: str
    """Its colour."""
    metric: str
    """What it marks, for the page's data (`peak`, `measured`)."""


_CHART_LEFT = 78
#: Series of at most this many points have a dot at each.
_DOTS_UP_TO = 40
_CHART_RIGHT = 18
_CHART_TOP = 16
_CHART_BOTTOM = 30


def line_chart(
    series: Sequence[Series],
    *,
    points: int,
    tips: Sequence[str],
    unit: str,
    markers: Sequence[Marker] = (),
    bands: Sequence[tuple[int, int, str, str]] = (),
    floor: tuple[int, str] | None = None,
    width: int = 1000,
    height: int = 230,
    label: str,
    x_label: str,
) -> str:
    """Return series over `points` positions on a linear axis from 0, a tooltip per point (from
    `tips`), shaded `bands` (first, last, label, colour), a `floor` (a level held
    throughout and its label) and `markers`."""
    plot_width = width - _CHART_LEFT - _CHART_RIGHT
    plot_height = height - _CHART_TOP - _CHART_BOTTOM
    values = [v for s in series for v in s.values if v is not None] + [m.value for m in markers]
    ticks = nice_ticks(max(values, default=1), unit)
    top = ticks[-1] or 1.0
    step = plot_width / max(points - 1, 1)

    def x(position: int) -> float:
        return _CHART_LEFT + (position * step if points > 1 else plot_width / 2)

    def y(value: float) -> float:
        return _CHART_TOP + plot_height * (1 - value / top)

    parts = [f'<svg width="{width}" height="{height}" role="img"{attrs(aria_label=label)}>']
    bottom = _CHART_TOP + plot_height
    for first, last, _name, colour in bands:
        left, right = max(x(first) - step / 2, _CHART_LEFT), min(x(last) + step / 2, width - _CHART_RIGHT)
        parts.append(
            f'<rect x="{left:.1f}" y="{_CHART_TOP}" width="{max(right - left, 1):.1f}" '
            f'height="{plot_height}" fill="{colour}"/>'
        )
    if floor is not None:
        level, name = floor
        parts.append(
            f'<rect x="{_CHART_LEFT}" y="{y(level):.1f}" width="{plot_width}" '
            f'height="{bottom - y(level):.1f}" fill="#dfe3e8" fill-opacity="0.75"{attrs(data_tip=name)}/>'
            f'<text class="muted" x="{width - _CHART_RIGHT - 4}" y="{y(level) + 12:.1f}" text-anchor="end">'
            f"{esc(name)}</text>"
        )
    for first, last, name, _colour in bands:
        left = max(x(first) - step / 2, _CHART_LEFT)
        # A band too narrow for its name (the optimizer's one moment) is named from its right edge.
        narrow = (last - first + 1) * step < 8 * len(name)
        anchor, at = (
            ("end", min(x(last) + step / 2, width - _CHART_RIGHT) - 3) if narrow else ("start", left + 4)
        )
        parts.append(
            f'<text class="muted" x="{at:.1f}" y="{bottom - 5}" text-anchor="{anchor}">{esc(name)}</text>'
        )
    for tick in ticks:
        parts.append(
            f'<line class="grid" x1="{_CHART_LEFT}" x2="{width - _CHART_RIGHT}" y1="{y(tick):.1f}" '
            f'y2="{y(tick):.1f}"/><text class="muted" x="{_CHART_LEFT - 6}" y="{y(tick) + 4:.1f}" '
            f'text-anchor="end">{esc(compact(tick, unit))}</text>'
        )
    parts.append(
        f'<line class="axis" x1="{_CHART_LEFT}" x2="{width - _CHART_RIGHT}" y1="{bottom}" y2="{bottom}"/>'
        f'<text class="muted" x="{_CHART_LEFT + plot_width / 2:.1f}" y="{height - 8}" '
        f'text-anchor="middle">{esc(x_label)}</text>'
    )
    for line in series:
        coordinates = " ".join(f"{x(i):.1f},{y(v):.1f}" for i, v in enumerate(line.values) if v is not None)
        parts.append(
            f'<polyline fill="none" stroke="{line.colour}" stroke-width="{line.width}" '
            f'stroke-opacity="{line.opacity}" stroke-linejoin="round" points="{coordinates}"'
            f"{attrs(data_series=line.name)}/>"
        )
        if points <= _DOTS_UP_TO:  # a few points: each drawn, a single one visible at all
            parts += [
                f'<circle cx="{x(i):.1f}" cy="{y(v):.1f}" r="2.5" fill="{line.colour}"/>'
                for i, v in enumerate(line.values)
                if v is not None
            ]
    # One hover box over every point, its tooltips in one list (JSON, read by the page's script):
    # thousands of points need not be thousands of elements.
    left, right = x(0) - step / 2, x(points - 1) + step / 2
    parts.append(
        f'<rect class="hover" x="{left:.1f}" y="{_CHART_TOP}" width="{max(right - left, 1.0):.1f}" '
        f'height="{plot_height}" fill="transparent"{attrs(data_tips=json.dumps(list(tips)))}/>'
    )
    for marker in markers:
        common = attrs(data_marker=marker.metric, data_value=marker.value, data_tip=marker.label)
        if marker.at is None:
            # Named below the line at its left end: the peak's own label sits above the series.
            parts.append(
                f'<line x1="{_CHART_LEFT}" x2="{width - _CHART_RIGHT}" y1="{y(marker.value):.1f}" '
                f'y2="{y(marker.value):.1f}" stroke="{marker.colour}" stroke-dasharray="6 4" '
                f'stroke-width="1.5"{common}/><text x="{_CHART_LEFT + 4}" '
                f'y="{y(marker.value) + 13:.1f}" fill="{marker.colour}">{esc(marker.label)}</text>'
            )
            continue
        cx, cy = x(marker.at), y(marker.value)
        anchor = "end" if cx > _CHART_LEFT + plot_width * 0.6 else "start"
        dx = -8 if anchor == "end" else 8
        parts.append(
            f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="4.5" fill="none" stroke="{marker.colour}" '
            f'stroke-width="2"{common}/><text x="{cx + dx:.1f}" y="{max(cy - 6, _CHART_TOP + 10):.1f}" '
            f'text-anchor="{anchor}" font-weight="600">{esc(marker.label)}</text>'
        )
    parts.append("</svg>")
    return "\n".join(parts)


def legend(entries: Sequence[tuple[str, str]]) -> str:
    """Return a line of colour swatches and their names."""
    swatches = "".join(
        f'<span class="swatch" style="background:{esc(colour)}"></span>{esc(name)}'
        for name, colour in entries
    )
    return f'<div class="legend">{swatches}</div>'


@dataclass(frozen=True, slots=True)
class Line:
    """A line of a log-log panel: one variant's figures along the axis, for one slice of the grid."""

    variant: str
    """dense, local or conv."""
    colour: str
    """Stroke colour."""
    dash: str
    """SVG dash pattern telling slices apart ('' for solid)."""
    points: tuple[tuple[int, float, str], ...]
    """(position on the axis, figure, tooltip) of each point that has a figure above 0."""
    width: float = 1.6
    """Stroke width."""
    opacity: float = 1.0
    """Stroke opacity."""


_PANEL_W = 360
_PANEL_H = 250
_PAD_LEFT = 62
_PAD_BOTTOM = 34
_PAD_TOP = 10
_PAD_RIGHT = 14


def loglog_panel(
    lines: Sequence[Line],
    *,
    x_labels: Sequence[str],
    x_numbers: Sequence[float] | None,
    unit: str,
    metric: str,
    label: str,
    x_title: str,
    y_label: Callable[[float], str],
) -> str:
    """Return one panel of lines on log axes (the x axis evenly spaced when `x_numbers` is None: a
    categorical axis); every point carries its exact figure."""
    figures = [value for line in lines for _, value, _ in line.points]
    plot_w = _PANEL_W - _PAD_LEFT - _PAD_RIGHT
    plot_h = _PANEL_H - _PAD_TOP - _PAD_BOTTOM
    parts = [f'<svg width="{_PANEL_W}" height="{_PANEL_H}" role="img"{attrs(aria_label=label)}>']
    if not figures:
        parts.append(
            f'<text class="muted" x="{_PANEL_W / 2}" y="{_PANEL_H / 2}" text-anchor="middle">'
            "not measured</text></svg>"
        )
        return "\n".join(parts)
    # Gridlines at powers of ten, or of 32 for bytes (1 KiB, 32 KiB, 1 MiB...), around the figures.
    base = 32 if unit == "bytes" else 10
    low = math.floor(math.log(min(figures), base) + 1e-9)
    high = max(math.ceil(math.log(max(figures), base) - 1e-9), low + 1)
    if x_numbers is not None:
        left, right = math.log10(min(x_numbers)), math.log10(max(x_numbers))
        span = right - left or 1.0
        xs = [
            _PAD_LEFT + plot_w * ((math.log10(n) - left) / span if right > left else 0.5) for n in x_numbers
        ]
    else:
        count = len(x_labels)
        xs = [_PAD_LEFT + (plot_w * i / (count - 1) if count > 1 else plot_w / 2) for i in range(count)]

    def y(value: float) -> float:
        return _PAD_TOP + plot_h * (1 - (math.log(value, base) - low) / (high - low))

    step = max(1, math.ceil((high - low) / 6))
    for power in range(low, high + 1, step):
        at = y(float(base) ** power)
        parts.append(
            f'<line class="grid" x1="{_PAD_LEFT}" x2="{_PANEL_W - _PAD_RIGHT}" y1="{at:.1f}" y2="{at:.1f}"/>'
            f'<text class="muted" x="{_PAD_LEFT - 5}" y="{at + 4:.1f}" text-anchor="end">'
            f"{esc(y_label(float(base) ** power))}</text>"
        )
    bottom = _PAD_TOP + plot_h
    shown = range(0, len(x_labels), max(1, math.ceil(len(x_labels) / 8)))
    for i in shown:
        parts.append(
            f'<line class="grid" x1="{xs[i]:.1f}" x2="{xs[i]:.1f}" y1="{_PAD_TOP}" y2="{bottom}"/>'
            f'<text class="muted" x="{xs[i]:.1f}" y="{bottom + 14}" text-anchor="middle">'
            f"{esc(x_labels[i])}</text>"
        )
    parts.append(
        f'<line class="axis" x1="{_PAD_LEFT}" x2="{_PANEL_W - _PAD_RIGHT}" y1="{bottom}" y2="{bottom}"/>'
        f'<text class="muted" x="{_PAD_LEFT + plot_w / 2:.1f}" y="{_PANEL_H - 4}" text-anchor="middle">'
        f"{esc(x_title)}</text>"
    )
    for line in lines:
        coordinates = " ".join(f"{xs[i]:.1f},{y(v):.1f}" for i, v, _ in line.points)
        dash = f' stroke-dasharray="{line.dash}"' if line.dash else ""
        parts.append(
            f'<polyline fill="none" stroke="{line.colour}" stroke-width="{line.width}" '
            f'stroke-opacity="{line.opacity}"{dash} points="{coordinates}"/>'
        )
        for i, value, tip in line.points:
            data = attrs(data_variant=line.variant, data_metric=metric, data_value=repr(value), data_tip=tip)
            parts.append(f'<circle cx="{xs[i]:.1f}" cy="{y(value):.1f}" r="3" fill="{line.colour}"{data}/>')
    parts.append("</svg>")
    return "\n".join(parts)
