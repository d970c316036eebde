"""A sweep as an image: one log-log panel per metric, one line per variant (matplotlib, optional)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from convprof.errors import UsageError
from convprof.graph.variants import VARIANTS
from convprof.sweep.fit import format_exponent
from convprof.sweep.model import (
    TRAINING_LATENCY,
    Sweep,
    latency_stable,
    metric_lower_bound,
    metric_value,
    skip_reason,
)

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = [
    "PLOT_FORMATS",
    "SKIPPED_LABEL",
    "UNSTABLE_LABEL",
    "VARIANT_COLORS",
    "check_plot_path",
    "plot_figure",
    "render_plot",
]

#: Image formats --plot writes, by file suffix.
PLOT_FORMATS = {".png": "png", ".svg": "svg", ".pdf": "pdf"}
#: How to get matplotlib, in every message about its absence.
INSTALL_HINT = "pip install matplotlib"
#: Legend entry of the ring around a median that is unstable (`~` in the tables).
UNSTABLE_LABEL = "unstable median (~)"
#: Legend entry of the cross at the foot of a panel where a variant was not measured.
SKIPPED_LABEL = "skipped (not measured)"
#: Line colour of each variant: the same hues as the terminal chart and the HTML report.
VARIANT_COLORS = {"dense": "#d62728", "local": "#e6a700", "conv": "#2ca02c"}
#: Line styles that tell apart the slices of a grid (the other axes' values).
_STYLES: tuple[Literal["-", "--", ":", "-."], ...] = ("-", "--", ":", "-.")
#: Line width, marker and opacity per variant: local's wide pale line stays visible where conv's
#: MACs lie exactly on it.
_LOOKS = {"dense": (1.6, "o", 1.0), "local": (3.4, "s", 0.55), "conv": (1.4, "^", 1.0)}
#: Axis label of each unit.
_UNIT_LABELS = {"count": "count", "bytes": "bytes", "seconds": "seconds (median)"}
#: Resolution of raster output; small enough for a README, sharp enough to read.
_DPI = 110
#: Panels side by side before a new row starts (a sweep with --training and --latency has seven).
_PANELS_PER_ROW = 4


def check_plot_path(path: Path) -> str:
    """Return the image format of `path` or say which suffixes work; check matplotlib is installed."""
    fmt = PLOT_FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise UsageError(
            f"--plot {path}: cannot tell the image type from {path.suffix or 'no suffix'!r}; "
            f"end the name in {', '.join(PLOT_FORMATS)}"
        )
    try:
        import matplotlib  # noqa: F401 - only checking that it is there
    except ImportError as exc:
        raise UsageError(f"--plot needs matplotlib, an optional extra: {INSTALL_HINT}") from exc
    return fmt


def _panel(ax: Axes, sweep: Sweep, metric_index: int, along: int) -> None:
    metric = sweep.metrics[metric_index]
    axis = sweep.axes[along]
    numeric = axis.numeric
    position = {v.label: (v.number if numeric else float(i)) for i, v in enumerate(axis.values)}
    slices: dict[tuple[str, ...], list[int]] = {}
    for point in sweep.points:
        slices.setdefault(point.labels[:along] + point.labels[along + 1 :], []).append(point.index)
    drawn = False
    measured = metric.unit == "seconds"
    training = metric == TRAINING_LATENCY
    unstable: dict[str, tuple[list[float], list[float]]] = {v: ([], []) for v in VARIANTS}
    skipped: dict[str, list[float]] = {v: [] for v in VARIANTS}
    for number, indices in enumerate(slices.values()):
        for variant in VARIANTS:
            xs, ys = [], []
            for i in indices:
                report = sweep.points[i].report
                value = metric_value(report, metric, variant)
                x = position[sweep.points[i].labels[along]]
                assert x is not None
                if value is not None and value > 0:
                    xs.append(x)
                    ys.append(float(value))
                    if measured and latency_stable(report, variant, training) is False:
                        unstable[variant][0].append(x)
                        unstable[variant][1].append(float(value))
                elif measured and skip_reason(report, variant, training) is not None:
                    skipped[variant].append(x)
            if not ys:
                continue
            label = variant
            fitted = next(
                (
                    f.fit
                    for f in sweep.fits
                    if (f.axis, f.metric, f.variant) == (axis.name, metric.key, variant)
                ),
                None,
            )
            if fitted is not None:
                label += f" (∝ {axis.name}^{format_exponent(fitted.exponent)})"
            width, marker, alpha = _LOOKS[variant]
            ax.plot(
                xs,
                ys,
                marker=marker,
                markersize=4,
                linewidth=width,
                alpha=alpha,
                color=VARIANT_COLORS[variant],
                linestyle=_STYLES[number % len(_STYLES)],
                label=label if number == 0 else None,
            )
            drawn = True
    _marks(ax, unstable, skipped)
    bounded = any(metric_lower_bound(p.report, metric, v) for p in sweep.points for v in VARIANTS)
    ax.set_title(f"{metric.title} (lower bounds: opaque ops uncounted)" if bounded else metric.title)
    ax.set_xlabel(axis.name if numeric else f"{axis.name} (categories)")
    ax.set_ylabel(f"{metric.title} ({_UNIT_LABELS[metric.unit]}, log scale)")
    if not drawn:
        ax.text(0.5, 0.5, "not measured", ha="center", va="center", transform=ax.transAxes)
        if not any(skipped.values()):
            return
    else:
        ax.set_yscale("log")
    if numeric:
        ax.set_xscale("log")
        ticks = sorted({v.number for v in axis.values if v.number is not None})
        if len(ticks) <= 12:
            ax.set_xticks(ticks, [v.label for v in sorted(axis.values, key=lambda v: v.number or 0)])
            ax.minorticks_off()
    else:
        ax.set_xticks([float(i) for i in range(len(axis.values))], [v.label for v in axis.values])
    ax.grid(True, which="major", alpha=0.3)
    # Beside the panel, never over its data: a legend inside covered the local line of the latency
    # panel, where the lines cross it.
    ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0)


def _marks(
    ax: Axes, unstable: dict[str, tuple[list[float], list[float]]], skipped: dict[str, list[float]]
) -> None:
    """Ring each unstable median, and put a cross at the foot of the panel where a variant was not
    measured (it has no value to plot): each said once in the legend."""
    labelled = set()
    for variant in VARIANTS:
        xs, ys = unstable[variant]
        if xs:
            ax.scatter(
                xs,
                ys,
                s=110,
                facecolors="none",
                edgecolors=VARIANT_COLORS[variant],
                linewidths=1.4,
                zorder=3,
                label=None if "unstable" in labelled else UNSTABLE_LABEL,
            )
            labelled.add("unstable")
        if skipped[variant]:
            ax.scatter(
                skipped[variant],
                [0.04] * len(skipped[variant]),
                marker="x",
                s=40,
                color=VARIANT_COLORS[variant],
                transform=ax.get_xaxis_transform(),  # x as data, y at the foot of the panel
                clip_on=False,
                zorder=3,
                label=None if "skipped" in labelled else SKIPPED_LABEL,
            )
            labelled.add("skipped")


def render_plot(sweep: Sweep, fmt: str) -> bytes:
    """Return the sweep drawn as a `fmt` image (png, svg or pdf)."""
    figure = plot_figure(sweep)
    buffer = io.BytesIO()
    # Fixed metadata keeps the file the same from run to run (no creation date in SVG and PDF).
    metadata = {"png": {"Software": None}, "svg": {"Date": None}, "pdf": {"CreationDate": None}}[fmt]
    figure.savefig(buffer, format=fmt, dpi=_DPI, metadata=metadata)
    return buffer.getvalue()


def plot_figure(sweep: Sweep) -> Figure:
    """Return the sweep drawn on a matplotlib Figure: one log-log panel per metric."""
    # The object-oriented API with no pyplot: no global backend or figure state, no display needed.
    from matplotlib.figure import Figure

    from convprof.render.sweep import chart_axis  # rich's tables only where a figure is drawn

    along = chart_axis(sweep)
    count = len(sweep.metrics)
    columns = min(count, _PANELS_PER_ROW)
    rows = -(-count // columns)
    figure = Figure(figsize=(4.2 * columns, 3.8 * rows), layout="constrained")
    panels = figure.subplots(rows, columns, squeeze=False).flatten()
    for index, ax in enumerate(panels):
        if index < count:
            _panel(ax, sweep, index, along)
        else:
            ax.set_visible(False)  # a grid's last row may have room to spare
    others = [a for i, a in enumerate(sweep.axes) if i != along]
    if others:
        # The other axes' values tell the lines of one colour apart: one legend of line styles.
        from matplotlib.lines import Line2D

        keys = list(dict.fromkeys(p.labels[:along] + p.labels[along + 1 :] for p in sweep.points))
        handles = [
            Line2D([], [], color="0.3", linestyle=_STYLES[i % len(_STYLES)])
            for i in range(min(len(keys), len(_STYLES)))
        ]
        names = [", ".join(f"{a.name}={v}" for a, v in zip(others, key, strict=True)) for key in keys]
        figure.legend(handles, names[: len(handles)], loc="outside lower center", ncols=len(handles))
    spec = sweep.spec
    figure.suptitle(f"{spec.name}: how each variant's cost grows with {sweep.axes[along].name}")
    return figure
