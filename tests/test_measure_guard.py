"""Never build what does not fit: the analytic memory is checked against the limit first."""

from __future__ import annotations

import time

import pytest

from convprof.commands.sources import load_spec
from convprof.graph.analyze import analyze
from convprof.measure import MeasureOptions, measure_report
from convprof.measure.guard import admit, memory_need
from convprof.measure.options import PRESETS, Preset, parse_size

FAST = Preset("quick", warmup_s=0.001, block_s=0.001, rounds=2, blocks_per_round=1, budget_s=0.05)

# A dense variant of terabytes: 3x512x512 input to 64x512x512 output, all-to-all.
HUGE = b"""
name: huge
input: [3, 512, 512]
layers:
  - conv2d: {out_channels: 64, kernel_size: 3, padding: 1}
"""


def test_vgg16_dense_is_refused_by_arithmetic() -> None:
    report = analyze(load_spec("vgg16"))
    start = time.perf_counter()
    reasons = admit(report.variants, parse_size("9.6GiB"))
    assert time.perf_counter() - start < 1  # pure arithmetic on the report, nothing allocated
    assert reasons["dense"] == "dense needs 60.78 TiB of weights; limit 9.60 GiB"
    assert reasons["local"] is not None
    assert reasons["local"].startswith("local needs 57.68 GiB of weights")
    assert reasons["conv"] is None


def test_variants_timed_together_must_fit_together() -> None:
    report = analyze(load_spec("why_convolutions"))
    conv, local, dense = (report.variant(n) for n in ("conv", "local", "dense"))
    alone = memory_need(dense)
    reasons = admit(report.variants, alone)  # dense fits alone, not beside conv and local
    assert reasons["conv"] is None
    assert reasons["local"] is None
    assert reasons["dense"] is not None
    assert "beside the smaller variants" in reasons["dense"]
    assert admit(report.variants, alone + local.param_bytes + conv.param_bytes) == {
        "dense": None,
        "local": None,
        "conv": None,
    }


def test_activations_count_toward_the_limit() -> None:
    report = analyze(load_spec("why_convolutions"))
    conv = report.variant("conv")
    reasons = admit([conv], conv.param_bytes + 1)
    assert reasons["conv"] is not None
    assert "of weights and activations" in reasons["conv"]


def test_terabyte_dense_is_skipped_in_seconds(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("torch")
    from convprof.graph.parse import parse_spec

    monkeypatch.setitem(PRESETS, "quick", FAST)
    spec = parse_spec(HUGE, "huge.yaml", "huge")
    report = analyze(spec)
    assert report.variant("dense").param_bytes > 10**13  # 52.8 TB
    options = MeasureOptions(devices=("cpu",), preset="quick", max_memory=parse_size("256MiB"))
    measured = measure_report(spec, report, options).to_dict()["variants"]
    assert measured["dense"]["latency"] == {"cpu": None}
    assert measured["dense"]["skipped"]["cpu"].startswith("dense needs ")
    assert measured["dense"]["skipped"]["cpu"].endswith(" TiB of weights; limit 256.00 MiB")
    assert measured["local"]["latency"]["cpu"] is None
    assert measured["conv"]["latency"]["cpu"]["median_ms"] > 0
    assert measured["conv"]["skipped"] == {}


@pytest.mark.parametrize(
    ("text", "expected"),
    [("1024", 1024), ("8GiB", 8 * 2**30), ("500MB", 500 * 10**6), ("8G", 8 * 2**30), ("1.5 KiB", 1536)],
)
def test_parse_size(text: str, expected: int) -> None:
    assert parse_size(text) == expected


@pytest.mark.parametrize("text", ["", "lots", "-5GiB", "0", "8 GiBs"])
def test_parse_size_rejects(text: str) -> None:
    from convprof.errors import UsageError

    with pytest.raises(UsageError):
        parse_size(text)
