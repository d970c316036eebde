"""The measurement protocol on tiny specs with quick settings; no timed assertions (machines are noisy)."""

from __future__ import annotations

import gc
import math

import pytest

from convprof.graph.parse import parse_spec
from convprof.measure import MeasureOptions, measure_report
from convprof.measure.options import PRESETS, Preset
from convprof.measure.timer import cpu_threads, run_rounds
from convprof.report.analyze import analyze

torch = pytest.importorskip("torch")

TINY = b"""
name: tiny
input: [2, 8, 8]
layers:
  - conv2d: {out_channels: 3, kernel_size: 3}
  - relu
  - flatten
  - linear: {out_features: 4}
"""

#: A preset fast enough for tests: the protocol's every step runs, briefly.
FAST = Preset("quick", warmup_s=0.001, block_s=0.001, rounds=3, blocks_per_round=2, budget_s=0.05)


def tiny():
    return parse_spec(TINY, "tiny.yaml", "tiny")


def test_rounds_interleave_variants_in_order() -> None:
    order: list[str] = []
    calls = {name: (lambda n=name: order.append(n)) for name in ("conv", "local", "dense")}
    samples = run_rounds(calls, FAST, sync=lambda: None)
    timed = [name for index, name in enumerate(order) if index > 0 and order[index - 1] != name]
    # After the warm-ups, each round times conv, then local, then dense, and starts again.
    assert timed[-3 * FAST.rounds :] == ["conv", "local", "dense"] * FAST.rounds
    for result in samples.values():
        assert len(result.raw_ms) == len(result.rounds)
        assert sorted(set(result.rounds)) == list(range(FAST.rounds))
        assert all(value > 0 for value in result.raw_ms)
        assert result.calls_per_sample >= 1
        assert result.device_ms == ()


def test_slow_variants_get_fewer_blocks_never_fewer_rounds() -> None:
    import time

    samples = run_rounds({"conv": lambda: time.sleep(0.01)}, FAST, sync=lambda: None)
    assert samples["conv"].calls_per_sample == 1
    assert samples["conv"].rounds == (0, 1, 2)


def test_threads_are_restored() -> None:
    before = torch.get_num_threads()
    with cpu_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before


def test_measuring_leaves_the_processs_frozen_objects_frozen(monkeypatch: pytest.MonkeyPatch) -> None:
    # Measuring hides torch's objects from the garbage collector meanwhile (gc.freeze) and shows them
    # again after; a process that froze objects itself (as a pre-forking server does, and as this
    # suite's workers do) finds them still frozen, where gc.unfreeze() used to thaw them all.
    monkeypatch.setitem(PRESETS, "quick", FAST)
    spec = tiny()
    options = MeasureOptions(devices=("cpu",), preset="quick")
    gc.collect()
    gc.freeze()
    frozen = gc.get_freeze_count()
    measure_report(spec, analyze(spec), options)
    assert gc.get_freeze_count() > frozen // 2  # still frozen, less what was freed meanwhile (thawed: 0)
    gc.unfreeze()
    try:
        measure_report(spec, analyze(spec), options)
        assert gc.get_freeze_count() == 0  # what measuring froze, it unfroze
    finally:
        gc.freeze()


def test_measure_report_fills_every_variant(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(PRESETS, "quick", FAST)
    spec = tiny()
    before = torch.get_num_threads()
    report = measure_report(spec, analyze(spec), MeasureOptions(devices=("cpu",), preset="quick"))
    assert torch.get_num_threads() == before
    assert report.environment is not None
    assert report.environment.threads == 1
    assert report.environment.preset == "quick"
    for variant in report.variants:
        assert variant.latency is not None
        (result,) = variant.latency
        assert result.device == "cpu"
        assert result.skipped is None
        assert result.stats is not None
        stats = result.stats
        assert stats.min_ms <= stats.p10_ms <= stats.median_ms <= stats.p90_ms <= stats.max_ms
        assert stats.samples == len(stats.raw_ms) >= FAST.rounds
        assert result.first_call_ms is not None
        assert result.first_call_ms > 0
        assert result.compile_ms is None
        assert result.achieved_flop_per_s == pytest.approx(variant.flops / (stats.median_ms / 1000))
        assert result.arithmetic_intensity is not None
        assert result.arithmetic_intensity > 0
        assert result.roofline_fraction is None or result.roofline_fraction > 0


def test_channels_last_and_bfloat16_run(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(PRESETS, "quick", FAST)
    from dataclasses import replace

    spec = replace(tiny(), dtype="bfloat16", batch_size=2)
    options = MeasureOptions(devices=("cpu",), preset="quick", channels_last=True)
    report = measure_report(spec, analyze(spec), options)
    assert report.environment is not None
    assert report.environment.channels_last
    for variant in report.variants:
        assert variant.latency is not None
        (result,) = variant.latency
        assert result.stats is not None or result.skipped is not None


def test_cuda_without_a_gpu_is_an_error_not_a_cpu_run() -> None:
    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    from convprof.errors import UsageError

    spec = tiny()
    with pytest.raises(UsageError, match="CUDA is not available"):
        measure_report(spec, analyze(spec), MeasureOptions(devices=("cuda",), preset="quick"))


@pytest.mark.gpu
def test_cuda_protocol(monkeypatch: pytest.MonkeyPatch) -> None:
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    monkeypatch.setitem(PRESETS, "quick", FAST)
    spec = tiny()
    report = measure_report(spec, analyze(spec), MeasureOptions(devices=("cuda",), preset="quick"))
    assert report.environment is not None
    (gpu,) = report.environment.cuda
    assert gpu.cudnn_benchmark
    for variant in report.variants:
        assert variant.latency is not None
        (result,) = variant.latency
        assert result.device == "cuda:0"
        assert result.stats is not None
        assert result.device_stats is not None
        assert result.memory is not None
        assert result.memory.method == "cuda.max_memory_allocated"
        assert result.memory.weight_bytes == variant.param_bytes
        assert math.isfinite(result.stats.median_ms)


@pytest.mark.slow
# torch.compile's own imports touch torch.jit APIs that warn of their deprecation; not ours to fix.
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_compile_time_is_reported_apart(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(PRESETS, "quick", FAST)
    spec = tiny()
    options = MeasureOptions(devices=("cpu",), preset="quick", compile=True)
    report = measure_report(spec, analyze(spec), options)
    assert report.environment is not None
    assert report.environment.compiled
    conv = report.variant("conv").latency
    assert conv is not None
    (result,) = conv
    assert result.compile_ms is not None
    assert result.stats is not None
    assert result.compile_ms > 0
    assert result.first_call_ms is not None
