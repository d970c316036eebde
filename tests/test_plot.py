"""--plot: real images of the requested format, and a clear message without matplotlib."""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from click.testing import CliRunner

from convprof.cli import cli
from convprof.commands.sources import load_spec, read_source
from convprof.graph.variants import VARIANTS
from convprof.render.plot import SKIPPED_LABEL, UNSTABLE_LABEL, plot_figure, render_plot
from convprof.report.analyze import analyze
from convprof.report.results import DeviceLatency
from convprof.sweep.axes import resolution_axis
from convprof.sweep.model import Sweep, build_sweep
from convprof.sweep.points import point_specs
from tests.reports import SAMPLES, latency, measured

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

pytest.importorskip("matplotlib")

MAGIC = {".png": b"\x89PNG\r\n\x1a\n", ".pdf": b"%PDF-", ".svg": b"<?xml"}


@pytest.mark.parametrize("suffix", [".png", ".svg", ".pdf"])
def test_plot_files_are_images_of_the_format(tmp_path: Path, suffix: str) -> None:
    target = tmp_path / f"sweep{suffix}"
    result = CliRunner().invoke(
        cli, ["sweep", "lenet5", "--resolution", "32,64", "--width", "0.5,1", "--plot", str(target)]
    )
    assert result.exit_code == 0, result.stderr
    data = target.read_bytes()
    assert data.startswith(MAGIC[suffix])
    assert len(data) > 10_000
    if suffix == ".svg":
        assert b"<svg" in data[:2000]
    assert f"wrote {target}" in result.stderr
    assert "(log scale) along" not in result.stdout  # the image replaces the terminal chart
    assert not list(tmp_path.glob(".*.tmp"))


def test_latency_panel_without_measurements_says_so() -> None:
    base = load_spec("why_convolutions")
    axes = [resolution_axis("16,32", base.input)]
    points = point_specs(read_source("why_convolutions"), axes)
    sweep = build_sweep(base, axes, [(p.labels, analyze(p.spec)) for p in points], latency=True)
    data = render_plot(sweep, "svg")
    assert b"not measured" in data


def test_unknown_suffix_exits_2(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["sweep", "lenet5", "--width", "1,2", "--plot", str(tmp_path / "s.jpg")])
    assert result.exit_code == 2
    assert "--plot" in result.stderr
    assert ".png, .svg, .pdf" in result.stderr
    assert not (tmp_path / "s.jpg").exists()


def test_missing_matplotlib_says_how_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # makes `import matplotlib` raise ImportError
    result = CliRunner().invoke(cli, ["sweep", "lenet5", "--width", "1,2", "--plot", str(tmp_path / "s.png")])
    assert result.exit_code == 2
    assert result.stderr.strip() == (
        "convprof: error: --plot needs matplotlib, an optional extra: pip install matplotlib"
    )
    assert result.stdout == ""


def test_a_training_sweep_draws_a_panel_per_metric_in_rows(tmp_path: Path) -> None:
    target = tmp_path / "training.svg"
    result = CliRunner().invoke(
        cli, ["sweep", "lenet5", "--resolution", "32,64", "--training", "--plot", str(target)]
    )
    assert result.exit_code == 0, result.stderr
    data = target.read_text(encoding="utf-8")
    for title in ("Parameters", "MACs", "Memory", "Training FLOPs", "Training memory"):
        assert f"<!-- {title} -->" in data, title


# -- the latency panel: its legend beside the data, skipped and unstable points marked ------------------

#: Samples whose median is 2.0 ms but whose spread is far above 10% of it: an unstable median.
SPREAD_MS = [1.0, 1.5, 2.0, 3.0, 4.0]


def _measured_sweep() -> Sweep:
    """why_convolutions at 16, 32 and 64: conv and local timed (local's 32 unstable), dense timed at
    16 only and skipped above (too large)."""
    base = load_spec("why_convolutions")
    axes = [resolution_axis("16,32,64", base.input)]
    points = point_specs(read_source("why_convolutions"), axes)
    measured = []
    for number, point in enumerate(points):
        report = analyze(point.spec)
        timings = {
            "conv": latency("cpu", [0.1 * (number + 1)] * SAMPLES),
            "local": latency("cpu", SPREAD_MS if number == 1 else [1.0 * (number + 1)] * SAMPLES),
            "dense": latency("cpu", [5.0] * SAMPLES)
            if number == 0
            else DeviceLatency("cpu", "dense too large"),
        }
        variants = tuple(replace(v, latency=(timings[v.name],)) for v in report.variants)
        measured.append((point.labels, replace(report, variants=variants)))
    return build_sweep(base, axes, measured, latency=True)


def _drawn(figure: Figure) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(figure).draw()  # lays out and draws: every extent is final


def _latency_axes(figure: Figure) -> Axes:
    return next(ax for ax in figure.axes if ax.get_visible() and ax.get_title() == "Latency")


def test_every_panels_legend_lies_outside_its_data() -> None:
    figure = plot_figure(_measured_sweep())
    _drawn(figure)
    panels = [ax for ax in figure.axes if ax.get_visible()]
    assert [ax.get_title() for ax in panels] == ["Parameters", "MACs", "Memory", "Latency"]
    for ax in panels:
        legend = ax.get_legend()
        assert legend is not None, ax.get_title()
        assert not legend.get_window_extent().overlaps(ax.get_window_extent()), ax.get_title()


def test_the_latency_panel_rings_unstable_medians_and_marks_skipped_points() -> None:
    sweep = _measured_sweep()
    figure = plot_figure(sweep)
    _drawn(figure)
    ax = _latency_axes(figure)
    collections = {collection.get_label(): collection for collection in ax.collections}
    ring = collections[UNSTABLE_LABEL]
    side_32 = next(v.number for v in sweep.axes[0].values if v.label == "32")
    assert ring.get_offsets().tolist() == [[side_32, 0.002]]  # local at 32: 2.0 ms, unstable
    crosses = collections[SKIPPED_LABEL]
    sides = sorted(v.number for v in sweep.axes[0].values if v.label in ("32", "64"))
    assert sorted(x for x, _ in crosses.get_offsets().tolist()) == sides  # dense, skipped at 32 and 64
    assert crosses.get_offset_transform() == ax.get_xaxis_transform()  # at the panel's foot, not a value
    labels = [text.get_text() for text in ax.get_legend().get_texts()]
    assert UNSTABLE_LABEL in labels
    assert SKIPPED_LABEL in labels
    # Each variant's measured line is drawn, local's included, under no legend.
    lines = {line.get_label(): line for line in ax.get_lines()}
    assert {label.split(" ")[0] for label in lines} == {"dense", "local", "conv"}
    local = next(line for label, line in lines.items() if label.startswith("local"))
    assert len(local.get_xdata()) == 3


def test_a_sweep_without_unstable_or_skipped_points_marks_none() -> None:
    base = load_spec("why_convolutions")
    axes = [resolution_axis("16,32", base.input)]
    points = point_specs(read_source("why_convolutions"), axes)
    steady = [
        (point.labels, measured(analyze(point.spec), {v: {"cpu": 1.0 + i} for v in VARIANTS}))
        for i, point in enumerate(points)
    ]
    figure = plot_figure(build_sweep(base, axes, steady, latency=True))
    _drawn(figure)
    assert not _latency_axes(figure).collections
