"""Hostile inputs of measuring: each ends in exit 2 or a skipped variant with one clear line."""

from __future__ import annotations

import json
import os
import resource
import subprocess
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.processes import CONVPROF

pytest.importorskip("torch")

#: A number no machine holds: 10^400.
HUGE = str(10**400)


def _convprof(*args: str, address_space: int | None = None) -> subprocess.CompletedProcess[str]:
    def limit() -> None:
        if address_space is not None:
            resource.setrlimit(resource.RLIMIT_AS, (address_space, address_space))

    return subprocess.run(
        [*CONVPROF, *args],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=180,
        preexec_fn=limit,  # the child sets its own limit just before exec
        check=False,
    )


def _one_error(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 2, result.stderr
    assert result.stdout == ""
    assert result.stderr.startswith("convprof: error: ")
    assert result.stderr.count("\n") == 1, result.stderr
    return result.stderr


@pytest.mark.parametrize("threads", ["100000", HUGE])
def test_impossible_thread_counts_are_refused_before_torch_starts_them(threads: str) -> None:
    error = _one_error(_convprof("compare", "lenet5", "--preset", "quick", "--threads", threads))
    assert "--threads" in error
    assert "give 1 to 1024" in error
    _one_error(_convprof("calibrate", "--device", "cpu", "--threads", threads))


def test_an_input_larger_than_memory_is_never_allocated() -> None:
    # why_convolutions takes 3x32x32 float32 inputs: 12,288 bytes each, 122.88 GB for ten million.
    result = _convprof("compare", "why_convolutions", "--batch-size", "10000000", "--format", "json")
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    variants = json.loads(result.stdout)["variants"]
    for name, variant in variants.items():
        assert variant["latency"] == {"cpu": None}
        assert variant["skipped"]["cpu"].startswith(f"{name} not built: the input batch needs 114.44 GiB")


def test_a_batch_of_ten_to_the_400_skips_every_variant() -> None:
    result = _convprof("compare", "why_convolutions", "--batch-size", HUGE, "--preset", "quick")
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    flat = " ".join(result.stdout.split())
    assert "Skipped on cpu: dense not built: the input batch needs about 10^404 bytes" in flat


def test_a_max_memory_of_ten_to_the_400_is_a_size() -> None:
    result = _convprof("compare", "lenet5", "--preset", "quick", "--max-memory", HUGE, "--format", "json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["environment"]["cpu_memory_limit_bytes"] == 10**400


def test_a_variant_admitted_that_cannot_be_allocated_is_skipped_with_the_reason(tmp_path: Path) -> None:
    # A 1x1 conv over 256x256 positions: its dense equivalent holds 65,536^2 float32 weights (16 GiB),
    # admitted by --max-memory 1TiB but beyond the 6 GiB of address space the process may map.
    spec = tmp_path / "wide.yaml"
    spec.write_text(
        "name: wide\ninput: [1, 256, 256]\nlayers:\n  - conv2d: {out_channels: 1, kernel_size: 1}\n",
        encoding="utf-8",
    )
    args = ("compare", str(spec), "--preset", "quick", "--max-memory", "1TiB", "--format", "json")
    result = _convprof(*args, address_space=6 * 1024**3)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    variants = json.loads(result.stdout)["variants"]
    reason = variants["dense"]["skipped"]["cpu"]
    assert reason.startswith(
        "dense could not be allocated on cpu although the guard admitted it (limit 1.00 TiB): "
    )
    assert "17179869184 bytes" in reason
    assert variants["dense"]["latency"] == {"cpu": None}
    for name in ("local", "conv"):
        assert variants[name]["latency"]["cpu"]["median_ms"] > 0


@pytest.mark.parametrize("seconds", ["1e400", "nan", "0.001"])
def test_calibration_times_that_never_end_or_cannot_sample_are_refused(seconds: str) -> None:
    error = _one_error(_convprof("calibrate", "--device", "cpu", "--seconds", seconds))
    assert f"--seconds {float(seconds)}: give 0.05 to 600" in error
