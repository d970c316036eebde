"""Human quantities to exact numbers: `100k`, `1.5M`, `512KiB`, `64MB`, `5ms`, `15%`."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from fractions import Fraction

from convprof.units import clip

__all__ = ["parse_bytes", "parse_count", "parse_milliseconds", "parse_percent"]

#: Decimal multipliers a count or a byte size may carry; `K` is accepted as `k`.
_DECIMAL = {"": 1, "k": 10**3, "K": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15}
#: Byte units: decimal (kB, MB, ...) and binary (KiB, MiB, ...), exactly as the IEC and SI write them.
_BYTE_UNITS = {
    "B": 1,
    "kB": 10**3,
    "KB": 10**3,
    "MB": 10**6,
    "GB": 10**9,
    "TB": 10**12,
    "PB": 10**15,
    "KiB": 2**10,
    "MiB": 2**20,
    "GiB": 2**30,
    "TiB": 2**40,
    "PiB": 2**50,
}
#: Time units a latency may carry, in milliseconds.
_TIME_UNITS = {"": Fraction(1), "ms": Fraction(1), "us": Fraction(1, 1000), "s": Fraction(1000)}

#: Digits a quantity may have: more than any limit needs (2**63 has 19), few enough that every value,
#: times its largest unit, stays exact and converts to a float.
MAX_DIGITS = 30

_NUMBER = re.compile(r"^([0-9][0-9_]*(?:\.[0-9]+)?)\s*([A-Za-z]*)$")


def _split(text: str) -> tuple[Decimal, str]:
    match = _NUMBER.match(text.strip())
    if match is None:
        raise ValueError(f"{clip(text)} is not a number with an optional unit")
    digits = sum(char.isdigit() for char in match.group(1))
    if digits > MAX_DIGITS:
        raise ValueError(f"a number of {digits:,} digits; a limit has at most {MAX_DIGITS}")
    try:
        number = Decimal(match.group(1).replace("_", ""))
    except InvalidOperation:  # pragma: no cover - the pattern admits only valid decimals
        raise ValueError(f"{clip(text)} is not a number") from None
    return number, match.group(2)


def _whole(number: Decimal, multiplier: int, text: str) -> int:
    value = number * multiplier
    if value != value.to_integral_value():
        raise ValueError(f"{clip(text)} is not a whole number; write it with fewer decimals")
    return int(value)


def parse_count(text: str) -> int:
    """Return a count written as `61706`, `100k`, `1.5M` or `2G` (decimal multipliers), exactly."""
    number, unit = _split(text)
    if unit not in _DECIMAL:
        if unit in _BYTE_UNITS:
            raise ValueError(f"{clip(text)} is a byte size; a count takes k, M, G or T, e.g. 100k")
        raise ValueError(f"unknown unit {clip(unit)} in {clip(text)}; a count takes k, M, G or T, e.g. 1.5M")
    return _whole(number, _DECIMAL[unit], text)


def parse_bytes(text: str) -> int:
    """Return a byte size written as `4096`, `512KiB`, `4MiB`, `1GiB` (binary), `64MB` or `2G` (decimal)."""
    number, unit = _split(text)
    multiplier = _BYTE_UNITS.get(unit, _DECIMAL.get(unit))
    if multiplier is None:
        raise ValueError(
            f"unknown unit {clip(unit)} in {clip(text)}; "
            "use B, KiB, MiB, GiB (binary) or kB, MB, GB (decimal)"
        )
    return _whole(number, multiplier, text)


def parse_milliseconds(text: str) -> Fraction:
    """Return a positive duration in milliseconds, written as `5`, `0.5`, `5ms`, `500us` or `1s`."""
    number, unit = _split(text)
    if unit not in _TIME_UNITS:
        raise ValueError(f"unknown unit {clip(unit)} in {clip(text)}; a latency is in ms (default), us or s")
    value = Fraction(number) * _TIME_UNITS[unit]
    if value <= 0:
        raise ValueError(f"{clip(text)} is not a positive duration")
    return value


def parse_percent(text: str) -> Fraction:
    """Return a non-negative percentage written as `5%`, `2.5%` or `0` (the `%` is optional)."""
    stripped = text.strip()
    if stripped.endswith("%"):
        stripped = stripped[:-1]
    number, unit = _split(stripped)
    if unit:
        raise ValueError(f"{clip(text)} is not a percentage such as 5%")
    return Fraction(number)
