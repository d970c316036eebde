"""The roofline: its bound, the calibration cache, and arithmetic intensity from the report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from convprof.analyze import analyze
from convprof.cli import cli
from convprof.measure.roofline import (
    Calibration,
    arithmetic_intensity,
    bound,
    cache_path,
    calibration_key,
    load_calibrations,
    save_calibration,
)
from convprof.sources import load_spec

CALIBRATION = Calibration("cpu", "float32", 1, 100e9, 10e9, "test cpu", 0.0)


def test_bound_is_memory_then_compute() -> None:
    assert bound(CALIBRATION, 1.0) == 10e9  # 1 FLOP/B x 10 GB/s: memory-bound
    assert bound(CALIBRATION, 10.0) == 100e9  # the ridge point
    assert bound(CALIBRATION, 1000.0) == 100e9  # compute-bound


def test_intensity_counts_weights_input_and_outputs_once() -> None:
    report = analyze(load_spec("why_convolutions"))
    conv = report.variant("conv")
    moved = 456 * 4 + 3 * 32 * 32 * 4 + 6 * 28 * 28 * 4
    assert arithmetic_intensity(report, conv) == conv.flops / moved
    dense = report.variant("dense")
    assert arithmetic_intensity(report, dense) < 1 < arithmetic_intensity(report, conv)


def test_cache_round_trip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert cache_path() == tmp_path / "convprof" / "calibration.json"
    assert load_calibrations() == {}
    save_calibration(CALIBRATION)
    other = Calibration("cuda:0", "float16", 1, 1e15, 3e12, "a gpu", 0.0)
    save_calibration(other)
    assert load_calibrations() == {
        calibration_key("cpu", "float32", 1): CALIBRATION,
        calibration_key("cuda:0", "float16", 8): other,
    }
    cache_path().write_text("not json", encoding="utf-8")
    assert load_calibrations() == {}


def test_calibrate_command_writes_the_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("torch")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    result = CliRunner().invoke(cli, ["calibrate", "--device", "cpu", "--seconds", "0.05"])
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith("cpu (")
    assert "FLOP/s" in result.stdout
    data = json.loads((tmp_path / "convprof" / "calibration.json").read_text(encoding="utf-8"))
    entry = data["cpu/float32/threads=1"]
    assert entry["peak_flop_per_s"] > 0
    assert entry["copy_bytes_per_s"] > 0
