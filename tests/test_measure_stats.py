"""Statistics of latency samples, checked exactly on known sample sets."""

from __future__ import annotations

import pytest

from convprof.report.stats import IQR_WARN_THRESHOLD, ROUND_SPREAD_THRESHOLD, quantile, summarize


def test_quantile_interpolates_linearly_like_numpy() -> None:
    numpy = pytest.importorskip("numpy")
    data = [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0]
    for q in (0, 0.1, 0.25, 0.5, 0.75, 0.9, 1):
        assert quantile(data, q) == pytest.approx(float(numpy.quantile(data, q)), abs=0, rel=1e-15)


def test_known_sample_set() -> None:
    stats = summarize([5.0, 1.0, 4.0, 2.0, 3.0])
    assert stats.median_ms == 3.0
    assert stats.p25_ms == 2.0
    assert stats.p75_ms == 4.0
    assert stats.iqr_ms == 2.0
    assert stats.p10_ms == pytest.approx(1.4)
    assert stats.p90_ms == pytest.approx(4.6)
    assert stats.min_ms == 1.0
    assert stats.max_ms == 5.0
    assert stats.mean_ms == 3.0
    assert stats.samples == 5
    assert stats.raw_ms == (5.0, 1.0, 4.0, 2.0, 3.0)
    assert stats.stable is False  # IQR is 67% of the median


def test_even_count_median_is_the_midpoint() -> None:
    assert summarize([1.0, 2.0, 3.0, 10.0]).median_ms == 2.5


def test_tight_samples_are_stable() -> None:
    stats = summarize([10.0, 10.1, 9.9, 10.0, 10.05, 9.95], rounds=[0, 0, 1, 1, 2, 2])
    assert stats.stable
    assert stats.round_spread == pytest.approx((10.05 - 9.95) / 10.0)  # round medians 10.05, 9.95, 10


def test_rounds_that_disagree_are_unstable_even_with_a_small_iqr() -> None:
    # Each round is tight; the last drifted 20%: IQR/median stays under the threshold, the spread not.
    raw = [10.0] * 16 + [12.0] * 4
    rounds = [index // 4 for index in range(20)]
    stats = summarize(raw, rounds)
    assert stats.iqr_ms / stats.median_ms <= IQR_WARN_THRESHOLD
    assert stats.round_spread == pytest.approx(0.2)
    assert stats.round_spread > ROUND_SPREAD_THRESHOLD
    assert not stats.stable


def test_single_sample() -> None:
    stats = summarize([7.0])
    assert (stats.median_ms, stats.p10_ms, stats.p90_ms, stats.iqr_ms, stats.round_spread) == (7, 7, 7, 0, 0)
    assert stats.stable


def test_no_samples_is_an_error() -> None:
    with pytest.raises(ValueError, match="no samples"):
        summarize([])
    with pytest.raises(ValueError, match="length"):
        summarize([1.0], rounds=[0, 1])
