"""Power laws fitted on log-log axes by least squares: pure Python, no numpy."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["CONSTANT_BELOW", "PowerFit", "fit_power", "format_exponent"]

#: Exponents smaller than this in magnitude read as "constant" (they print as 0.0 anyway).
CONSTANT_BELOW = 0.005


@dataclass(frozen=True, slots=True)
class PowerFit:
    """y ~ c * x**k on log-log axes: the slope at the top of the range and over the whole range."""

    exponent: float
    """Slope between the two largest x: the growth rate that edge effects at small sizes distort
    least (a valid 5x5 conv's output side is r - 4, so its slope over 16..256 overstates r**2)."""
    least_squares: float
    """Least-squares slope through every point."""
    r2: float
    """Share of the variance of log y the least-squares line explains; 1.0 when y does not vary."""
    points: int
    """Points the fit used."""

    @property
    def constant(self) -> bool:
        """True when both slopes are zero to the printed precision."""
        return abs(self.exponent) < CONSTANT_BELOW and abs(self.least_squares) < CONSTANT_BELOW


def _logs(group: Sequence[tuple[float, float]]) -> list[tuple[float, float]]:
    return [(math.log(x), math.log(y)) for x, y in group if x > 0 and y > 0]


def _pooled(groups: Sequence[Sequence[tuple[float, float]]]) -> tuple[float, float, float, int]:
    """Return (sxx, sxy, syy, n) of log-log points, each group centred on its own means."""
    sxx = sxy = syy = 0.0
    used = 0
    for logs in groups:
        if len({lx for lx, _ in logs}) < 2:
            continue
        mean_x = math.fsum(lx for lx, _ in logs) / len(logs)
        mean_y = math.fsum(ly for _, ly in logs) / len(logs)
        sxx += math.fsum((lx - mean_x) ** 2 for lx, _ in logs)
        sxy += math.fsum((lx - mean_x) * (ly - mean_y) for lx, ly in logs)
        syy += math.fsum((ly - mean_y) ** 2 for _, ly in logs)
        used += len(logs)
    return sxx, sxy, syy, used


def _top_two(logs: list[tuple[float, float]]) -> list[tuple[float, float]]:
    top = sorted({lx for lx, _ in logs})[-2:]
    return [(lx, ly) for lx, ly in logs if lx in top]


def fit_power(groups: Sequence[Sequence[tuple[float, float]]]) -> PowerFit | None:
    """Fit one exponent to groups of (x, y) points, each group with its own constant factor.

    A single group is the ordinary log-log regression. Several groups (the slices of a grid along one
    axis, the other axes held fixed) share the slope but not the intercept, so a separable law
    y = f(other axes) * x**k gives k exactly. Points with x or y <= 0 have no logarithm and are left
    out; None when no group keeps two distinct x.
    """
    logged = [_logs(group) for group in groups]
    sxx, sxy, syy, used = _pooled(logged)
    if used == 0:
        return None
    slope = sxy / sxx
    residual = max(syy - slope * sxy, 0.0)
    r2 = 1.0 if syy <= 1e-24 else 1.0 - residual / syy
    top_sxx, top_sxy, _, _ = _pooled([_top_two(logs) for logs in logged])
    return PowerFit(exponent=top_sxy / top_sxx, least_squares=slope, r2=r2, points=used)


def format_exponent(exponent: float) -> str:
    """Return an exponent with two decimals, trailing zeros dropped to one: 4.0, 1.86, -0.5."""
    text = f"{exponent:.2f}"
    if text in ("-0.00", "0.00"):
        return "0.0"
    return text[:-1] if text.endswith("0") else text
