"""The roofline: its bound, the calibration cache, and arithmetic intensity from the report."""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import asdict, replace
from pathlib import Path

import pytest
from click.testing import CliRunner

from convprof.cli import cli
from convprof.commands.sources import load_spec
from convprof.measure.roofline import (
    Calibration,
    CalibrationCacheError,
    arithmetic_intensity,
    bound,
    cache_path,
    calibration_key,
    changes,
    load_calibrations,
    save_calibration,
)
from convprof.report.analyze import analyze
from tests.processes import CONVPROF

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
    with pytest.raises(CalibrationCacheError, match="not valid"):
        load_calibrations()


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


ROOT = Path(__file__).resolve().parent.parent
GOOD = asdict(CALIBRATION)


def _cache(tmp_path: Path) -> Path:
    path = tmp_path / "convprof" / "calibration.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        (json.dumps({"cpu/float32/threads=1": {**GOOD, "peak_flop_per_s": 0}}), "peak_flop_per_s is 0"),
        (
            json.dumps({"cpu/float32/threads=1": {**GOOD, "copy_bytes_per_s": None}}),
            "copy_bytes_per_s is None",
        ),
        (json.dumps({"cpu/float32/threads=1": {**GOOD, "peak_flop_per_s": -5.0}}), "peak_flop_per_s is -5.0"),
        ('{"cpu/float32/threads=1": {"peak_flop_per_s": NaN}}', "NaN is not a number"),
        ('{"cpu/float32/threads=1": {"peak_flop_per_s": Infinity}}', "Infinity is not a number"),
        (json.dumps({"cpu/float32/threads=1": {**GOOD, "threads": 0}}), "threads is 0"),
        (json.dumps({"cpu/float32/threads=1": {**GOOD, "colour": "red"}}), "unknown fields colour"),
        (json.dumps([1, 2]), "not a JSON object"),
        ("\xff\xfe", "not UTF-8"),
    ],
)
def test_bad_cache_entries_are_refused(tmp_path: Path, text: str, fragment: str) -> None:
    path = _cache(tmp_path)
    path.write_bytes(text.encode("latin-1"))
    with pytest.raises(CalibrationCacheError, match=fragment):
        load_calibrations(path)


def test_cache_that_is_a_fifo_a_directory_or_huge_is_refused_without_reading(tmp_path: Path) -> None:
    path = _cache(tmp_path)
    os.mkfifo(path)  # no writer: a blocking open would wait forever
    with pytest.raises(CalibrationCacheError, match="not a regular file"):
        load_calibrations(path)
    path.unlink()
    path.mkdir()
    with pytest.raises(CalibrationCacheError):
        load_calibrations(path)
    path.rmdir()
    with open(path, "wb") as handle:
        handle.truncate(2 * 1024**3)  # sparse: 2 GiB long, no disk used
    with pytest.raises(CalibrationCacheError, match="2,147,483,648 bytes"):
        load_calibrations(path)


def test_changes_name_figures_that_moved_more_than_a_fifth() -> None:
    slower = replace(CALIBRATION, peak_flop_per_s=70e9, copy_bytes_per_s=9e9)
    assert changes(CALIBRATION, slower) == ["peak FLOP/s -30%"]
    assert changes(CALIBRATION, replace(CALIBRATION, peak_flop_per_s=119e9)) == []
    faster = replace(CALIBRATION, peak_flop_per_s=250e9, copy_bytes_per_s=13e9)
    assert changes(CALIBRATION, faster) == ["peak FLOP/s +150%", "copy bandwidth +30%"]


def _convprof(args: list[str], cache: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "XDG_CACHE_HOME": str(cache), "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [*CONVPROF, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        check=False,
    )


def test_calibrate_refuses_a_bad_cache_with_exit_2(tmp_path: Path) -> None:
    path = _cache(tmp_path)
    os.mkfifo(path)
    result = _convprof(["calibrate", "--device", "cpu", "--seconds", "0.05"], tmp_path, timeout=60)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith("convprof: error: calibration cache ")
    assert "not a regular file" in result.stderr


@pytest.mark.slow
def test_measuring_ignores_a_nan_cache_with_one_warning_and_writes_valid_json(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    _cache(tmp_path).write_text('{"cpu/float32/threads=1": {"peak_flop_per_s": NaN}}', encoding="utf-8")
    args = ["compare", "why_convolutions", "--preset", "quick", "--device", "cpu", "--format", "json"]
    result = _convprof(args, tmp_path)
    assert result.returncode == 0, result.stderr
    warnings = [line for line in result.stderr.splitlines() if line]
    assert len(warnings) == 1
    assert warnings[0].startswith("convprof: warning: calibration cache ")

    def refuse(name: str) -> None:
        raise AssertionError(f"{name} in the JSON report")

    report = json.loads(result.stdout, parse_constant=refuse)
    assert report["environment"]["calibration"] == {}
    assert report["variants"]["conv"]["latency"]["cpu"]["roofline_fraction"] is None
    args = ["sweep", "why_convolutions", "--resolution", "8,16", "--latency", "--format", "json"]
    swept = _convprof(args, tmp_path)
    assert swept.returncode == 0, swept.stderr
    assert swept.stderr.count("convprof: warning: calibration cache ") == 1  # once, not once per point
    json.loads(swept.stdout, parse_constant=refuse)


def test_a_new_calibration_far_from_the_cached_one_is_reported(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    # A cached peak of 1 FLOP/s: any real machine's matmul is billions of times faster.
    slow = {**GOOD, "peak_flop_per_s": 1.0, "copy_bytes_per_s": 1.0}
    _cache(tmp_path).write_text(json.dumps({"cpu/float32/threads=1": slow}), encoding="utf-8")
    result = _convprof(["calibrate", "--device", "cpu", "--preset", "quick"], tmp_path)
    assert result.returncode == 0, result.stderr
    assert "against the cached calibration of " in result.stderr
    assert "peak FLOP/s +" in result.stderr
    assert "copy bandwidth +" in result.stderr
    assert "(IQR " in result.stdout
    entry = json.loads(_cache(tmp_path).read_text(encoding="utf-8"))["cpu/float32/threads=1"]
    assert entry["peak_flop_per_s"] > 1e6  # the new figure replaced the old
    assert entry["flop_spread"] >= 0
    assert entry["copy_spread"] >= 0
