"""Human units: exact below a thousand, two decimals above, never scientific notation."""

from __future__ import annotations

import pytest

from convprof.units import format_bytes, format_count, format_ratio, format_shape


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
