"""Power-law fits on log-log axes."""

from __future__ import annotations

import math

import pytest

from convprof.sweep.fit import fit_power, format_exponent


def test_exact_power_law_gives_its_exponent() -> None:
    fit = fit_power([[(x, 3 * x**2.5) for x in (1, 2, 4, 8, 16)]])
    assert fit is not None
    assert fit.exponent == pytest.approx(2.5)
    assert fit.least_squares == pytest.approx(2.5)
    assert fit.r2 == pytest.approx(1.0)
    assert fit.points == 5
    assert not fit.constant


def test_constant_is_zero_and_reads_constant() -> None:
    fit = fit_power([[(x, 456) for x in (16, 32, 64)]])
    assert fit is not None
    assert fit.exponent == 0.0
    assert fit.constant
    assert fit.r2 == 1.0


def test_slices_share_the_slope_not_the_intercept() -> None:
    groups = [[(x, c * x**4) for x in (2, 4, 8)] for c in (1, 1000, 1e6)]
    fit = fit_power(groups)
    assert fit is not None
    assert fit.exponent == pytest.approx(4.0)
    assert fit.least_squares == pytest.approx(4.0)


def test_top_of_range_slope_against_least_squares() -> None:
    # y = x^2 (x - 4)^2: the top segment is near 4, the whole-range least squares well above it.
    xs = [16, 32, 64, 128, 256]
    fit = fit_power([[(x, x**2 * (x - 4) ** 2) for x in xs]])
    assert fit is not None
    top = math.log(256**2 * 252**2 / (128**2 * 124**2)) / math.log(2)
    assert fit.exponent == pytest.approx(top)
    mean_x = sum(math.log(x) for x in xs) / 5
    ys = [math.log(x**2 * (x - 4) ** 2) for x in xs]
    mean_y = sum(ys) / 5
    slope = sum((math.log(x) - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True)) / sum(
        (math.log(x) - mean_x) ** 2 for x in xs
    )
    assert fit.least_squares == pytest.approx(slope)


def test_points_without_logarithm_are_left_out() -> None:
    assert fit_power([[(1, 0), (2, 0)]]) is None
    assert fit_power([[(1, 5)]]) is None
    fit = fit_power([[(1, 0), (2, 4), (4, 16)]])
    assert fit is not None
    assert fit.points == 2
    assert fit.exponent == pytest.approx(2.0)


@pytest.mark.parametrize(
    ("value", "text"),
    [(4.0, "4.0"), (4.046, "4.05"), (1.86, "1.86"), (2.5, "2.5"), (-0.001, "0.0"), (-1.0, "-1.0")],
)
def test_format_exponent(value: float, text: str) -> None:
    assert format_exponent(value) == text
