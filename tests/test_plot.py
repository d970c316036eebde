"""--plot: real images of the requested format, and a clear message without matplotlib."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from convprof.cli import cli
from convprof.graph.analyze import analyze
from convprof.spec.sources import load_spec, read_source
from convprof.sweep import build_sweep, point_specs, resolution_axis
from convprof.sweep.plot import render_plot

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
        "convprof: error: --plot needs matplotlib, an optional extra: pip install 'convprof[plot]'"
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
