"""Human units: exact below a thousand, two decimals above, never scientific notation."""

from __future__ import annotations

import re
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from convprof.units import format_bytes, format_count, format_ratio, format_shape, plural


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0, "0"),
        (456, "456"),
        (999, "999"),
        (1000, "1.00 k"),
        (61_706, "61.71 k"),
        (14_455_392, "14.46 M"),
        (999_999, "1.00 M"),
        (138_357_544, "138.36 M"),
        (15_470_264_320, "15.47 G"),
        (16_707_136_347_112, "16.71 T"),
        (10**18, "1.00 E"),
        (2**64, "18.45 E"),
    ],
)
def test_format_count(value: int, text: str) -> None:
    assert format_count(value) == text


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0, "0 B"),
        (1023, "1023 B"),
        (1024, "1.00 KiB"),
        (1824, "1.78 KiB"),
        (57_821_568, "55.14 MiB"),
        (1024**3 - 1, "1.00 GiB"),
        (66_828_545_388_448, "60.78 TiB"),
        (10**18, "888.18 PiB"),
    ],
)
def test_format_bytes(value: int, text: str) -> None:
    assert format_bytes(value) == text


@pytest.mark.parametrize(
    ("ratio", "text"),
    [(1.0, "1.00x"), (6.857, "6.86x"), (40.43, "40.4x"), (784.0, "784x"), (31704.0, "31,704x")],
)
def test_format_ratio(ratio: float, text: str) -> None:
    assert format_ratio(ratio) == text


def test_format_shape() -> None:
    assert format_shape((6, 28, 28)) == "6x28x28"
    assert format_shape((10,)) == "10"


def test_ratios_of_exact_counts_stay_exact_at_any_size() -> None:
    # dense / conv parameters of a 10^12-channel conv on 3x224x224 (tests/test_robustness.py):
    # a float would print digits past its 16th that are not there.
    dense, conv = 150_528 * 10**12 * 222 * 222 + 10**12 * 222 * 222, 10**12 * 28
    exact = (2 * dense + conv) // (2 * conv)
    assert format_ratio(Fraction(dense, conv)) == f"{exact:,}x"
    assert format_ratio(Fraction(10**30)) == "1," + ",".join(["000"] * 10) + "x"
    assert format_ratio(Fraction(1569, 2)) == "785x"  # halves round up


_COUNT = re.compile(r"^(\d{1,3}|\d{1,3}\.\d\d [kMGTPE])$")
_BYTES = re.compile(r"^(\d{1,4} B|\d{1,4}\.\d\d [KMGTPE]iB)$")
_FACTORS = {"": 1, "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15, "E": 10**18}


@given(st.integers(min_value=0, max_value=10**18))
def test_every_count_up_to_10_18_prints_short_and_close(value: int) -> None:
    text = format_count(value)
    assert _COUNT.match(text), text
    number, _, unit = text.partition(" ")
    shown = Fraction(number) * _FACTORS[unit]
    assert abs(shown - value) <= Fraction(value, 200)  # two decimals from 1.00: within 0.5%


@given(st.integers(min_value=0, max_value=10**18))
def test_every_byte_size_up_to_10_18_prints_short_and_close(value: int) -> None:
    text = format_bytes(value)
    assert _BYTES.match(text), text
    number, unit = text.split(" ")
    shown = Fraction(number) * 1024 ** " KMGTPE".index(unit[0] if unit != "B" else " ")
    assert abs(shown - value) <= Fraction(value, 200)


def test_plural() -> None:
    assert plural(0, "check") == "0 checks"
    assert plural(1, "thread") == "1 thread"
    assert plural(1_000, "spec") == "1,000 specs"
