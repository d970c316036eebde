"""Statistics of raw latency samples: median, spread and a stability verdict."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = [
    "IQR_WARN_THRESHOLD",
    "ROUND_SPREAD_THRESHOLD",
    "UNSTABLE_MARK",
    "LatencyStats",
    "is_stable",
    "quantile",
    "spreads",
    "summarize",
]

#: A result is unstable when its interquartile range exceeds this share of its median.
IQR_WARN_THRESHOLD = 0.1
#: Put before a median whose samples were too spread out to trust, wherever it is shown.
UNSTABLE_MARK = "~"
#: A result is unstable when its rounds' medians differ by more than this share of the overall median.
ROUND_SPREAD_THRESHOLD = 0.1


@dataclass(frozen=True, slots=True)
class LatencyStats:
    """What the raw samples of one variant on one device say; times are per call, in milliseconds."""

    median_ms: float
    """Median of the samples: the headline figure."""
    p10_ms: float
    """10th percentile."""
    p25_ms: float
    """25th percentile."""
    p75_ms: float
    """75th percentile."""
    p90_ms: float
    """90th percentile."""
    iqr_ms: float
    """Interquartile range, p75 - p25."""
    min_ms: float
    """Fastest sample."""
    max_ms: float
    """Slowest sample."""
    mean_ms: float
    """Arithmetic mean."""
    samples: int
    """Number of samples (timed blocks)."""
    round_spread: float
    """(largest - smallest round median) / median; 0 with a single round."""
    stable: bool
    """False when IQR/median or the round spread exceeds its threshold."""
    raw_ms: tuple[float, ...]
    """Every sample in the order taken: a block's time divided by its calls."""
    rounds: tuple[int, ...]
    """The round each sample was taken in, parallel to raw_ms."""


def quantile(ordered: Sequence[float], q: float) -> float:
    """Return the q-quantile of sorted data, interpolating linearly (numpy's default method)."""
    if not ordered:
        raise ValueError("quantile of no data")
    if not 0 <= q <= 1:
        raise ValueError(f"quantile {q} outside [0, 1]")
    position = q * (len(ordered) - 1)
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def spreads(raw_ms: Sequence[float], rounds: Sequence[int] | None = None) -> tuple[float, float]:
    """Return (IQR / median, (largest - smallest round median) / median) of samples taken in rounds."""
    if not raw_ms:
        raise ValueError("no samples")
    rounds = tuple(rounds) if rounds is not None else (0,) * len(raw_ms)
    if len(rounds) != len(raw_ms):
        raise ValueError("rounds and samples differ in length")
    ordered = sorted(raw_ms)
    median = quantile(ordered, 0.5)
    if median <= 0:
        return 0.0, 0.0
    by_round: dict[int, list[float]] = {}
    for value, index in zip(raw_ms, rounds, strict=True):
        by_round.setdefault(index, []).append(value)
    round_medians = [quantile(sorted(values), 0.5) for values in by_round.values()]
    iqr = quantile(ordered, 0.75) - quantile(ordered, 0.25)
    return iqr / median, (max(round_medians) - min(round_medians)) / median


def is_stable(raw_ms: Sequence[float], rounds: Sequence[int] | None = None) -> bool:
    """Decide whether samples agree enough to trust their median: the one rule every output uses."""
    iqr, spread = spreads(raw_ms, rounds)
    return iqr <= IQR_WARN_THRESHOLD and spread <= ROUND_SPREAD_THRESHOLD


def summarize(raw_ms: Sequence[float], rounds: Sequence[int] | None = None) -> LatencyStats:
    """Return the statistics of per-call sample times taken in the given rounds (all round 0 if None)."""
    if not raw_ms:
        raise ValueError("no samples")
    rounds = tuple(rounds) if rounds is not None else (0,) * len(raw_ms)
    if len(rounds) != len(raw_ms):
        raise ValueError("rounds and samples differ in length")
    ordered = sorted(raw_ms)
    median = quantile(ordered, 0.5)
    p25, p75 = quantile(ordered, 0.25), quantile(ordered, 0.75)
    _iqr_share, spread = spreads(raw_ms, rounds)
    iqr = p75 - p25
    stable = is_stable(raw_ms, rounds)
    return LatencyStats(
        median_ms=median,
        p10_ms=quantile(ordered, 0.1),
        p25_ms=p25,
        p75_ms=p75,
        p90_ms=quantile(ordered, 0.9),
        iqr_ms=iqr,
        min_ms=ordered[0],
        max_ms=ordered[-1],
        mean_ms=math.fsum(ordered) / len(ordered),
        samples=len(ordered),
        round_spread=spread,
        stable=stable,
        raw_ms=tuple(raw_ms),
        rounds=rounds,
    )
