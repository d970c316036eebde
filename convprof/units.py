"""Human units for tables; machine formats always carry exact integers instead."""

from __future__ import annotations

from fractions import Fraction

__all__ = ["clip", "format_bytes", "format_count", "format_ratio", "format_shape", "plural"]

_SI = ("", " k", " M", " G", " T", " P", " E", " Z", " Y")
_BINARY = (" B", " KiB", " MiB", " GiB", " TiB", " PiB", " EiB", " ZiB", " YiB")


def _scaled(value: int, base: int, suffixes: tuple[str, ...], exact_below: int) -> str:
    if value < 0:
        return "-" + _scaled(-value, base, suffixes, exact_below)
    if value < exact_below:
        return f"{value}{suffixes[0]}"
    # Integer arithmetic until the last step: floats lose digits past 2**53.
    index = 0
    scale = 1
    while index + 1 < len(suffixes) and value >= scale * base:
        scale *= base
        index += 1
    hundredths = (value * 100 + scale // 2) // scale
    if hundredths >= base * 100 and index + 1 < len(suffixes):
        scale *= base
        index += 1
        hundredths = (value * 100 + scale // 2) // scale
    return f"{hundredths // 100}.{hundredths % 100:02d}{suffixes[index]}"


def format_count(value: int) -> str:
    """Return a count in decimal SI units: 456, 14.46 M, 15.47 G."""
    return _scaled(value, 1000, _SI, 1000)


def format_bytes(value: int) -> str:
    """Return a byte size in binary units: 512 B, 1.82 KiB, 55.14 MiB."""
    return _scaled(value, 1024, _BINARY, 1024)


def format_ratio(ratio: float | Fraction) -> str:
    """Return a ratio with precision that shrinks as it grows: 1.00x, 40.4x, 784x, 31,704x.

    A Fraction (a ratio of two exact counts) stays exact however large: 117,345,128,887x, with no
    float digits invented past the 16th."""
    if ratio >= 100:
        if isinstance(ratio, Fraction):
            return f"{(2 * ratio.numerator + ratio.denominator) // (2 * ratio.denominator):,}x"
        return f"{ratio:,.0f}x"
    ratio = float(ratio)  # below 100, a float's 16 digits are plenty (and Fraction has no format spec)
    if ratio >= 10:
        return f"{ratio:.1f}x"
    return f"{ratio:.2f}x"


def plural(count: int, noun: str) -> str:
    """Return `1 thread`, `2 threads`: a count and its noun in the right number."""
    return f"{count:,} {noun}" if count == 1 else f"{count:,} {noun}s"


#: Characters of user text a one-line message quotes before cutting it short.
CLIP_CHARS = 40


def clip(text: str, quoted: bool = True) -> str:
    """Return user text as a message shows it: cut to CLIP_CHARS characters with `...`, as a repr."""
    short = text if len(text) <= CLIP_CHARS else text[: CLIP_CHARS - 3] + "..."
    return repr(short) if quoted else short


def format_shape(shape: tuple[int, ...]) -> str:
    """Return a per-sample shape as 6x28x28."""
    return "x".join(str(d) for d in shape)
