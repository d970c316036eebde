"""Typed coercion of YAML argument nodes, each failure located at the offending node."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import MISSING, field
from typing import Any

from convprof.errors import SpecError
from convprof.spec.yamlnode import Mapping, Node, Scalar, Sequence
from convprof.units import clip

__all__ = [
    "DIMENSIONS",
    "MAX_INT",
    "REQUIRED",
    "Coercer",
    "Pair",
    "arg",
    "boolean",
    "choice",
    "constant_shape",
    "conv_padding_arg",
    "describe",
    "dims_label",
    "equation",
    "fill_value",
    "integer",
    "integers",
    "nonneg_float",
    "nonneg_int",
    "nonneg_pair",
    "optional",
    "output_size",
    "output_sizes",
    "padding",
    "positive_float",
    "positive_int",
    "positive_pair",
    "positive_reals",
    "probability",
    "real",
    "shape",
    "shape_sizes",
    "shapes",
    "sizes",
    "string",
]

Pair = tuple[int, int]
Coercer = Callable[[Node, str], Any]

#: Largest integer a spec may give anywhere: torch's sizes are int64, so nothing larger can be built.
MAX_INT = 2**63 - 1

#: Marks an argument a layer cannot do without (torch's positional arguments).
REQUIRED: Any = MISSING


def arg(default: Any, coerce: Coercer, *, verbatim: bool = False) -> Any:
    """Declare an argument field: its torch default and how a YAML node becomes its value.

    With `verbatim`, an importer writes a tuple value as the list it is, never a tuple of equal
    sizes folded into one number (which a shape's coercer would not read back)."""
    return field(default=default, metadata={"coerce": coerce, "verbatim": verbatim})


def describe(node: Node) -> str:
    """Name what a node holds, for messages: `string 'abc'`, `float 2.5`, `a list`; a long string is cut
    to a short excerpt (escaped, as every quote of a file is)."""
    if isinstance(node, Mapping):
        return "a mapping"
    if isinstance(node, Sequence):
        return "a list"
    if node.tag == "str" or node.tag == "timestamp":
        return f"string {clip(node.text)}"
    if node.tag == "null":
        return "nothing (null)"
    return f"{node.tag} {node.text}"


def _fail(node: Node, path: str, expected: str) -> SpecError:
    return SpecError(f"expected {expected}, got {describe(node)}", path, node.line, node.column)


def _int(node: Node, path: str, minimum: int, expected: str) -> int:
    if isinstance(node, Scalar) and node.tag == "str" and node.text.strip().lstrip("+-").isdigit():
        raise _fail(node, path, f"{expected} (remove the quotes)")
    if not isinstance(node, Scalar) or node.tag != "int":
        raise _fail(node, path, expected)
    value = node.value
    assert isinstance(value, int)
    if value < minimum:
        raise _fail(node, path, expected)
    if abs(value) > MAX_INT:
        raise SpecError(
            f"{node.text} is larger than {MAX_INT:,} (2**63 - 1, torch's int64 maximum); "
            "give a smaller value",
            path,
            node.line,
            node.column,
        )
    return value


def integer(node: Node, path: str) -> int:
    """Any integer (a dimension index may be negative)."""
    return _int(node, path, -(2**63), "an integer")


def positive_int(node: Node, path: str) -> int:
    """An integer >= 1."""
    return _int(node, path, 1, "a positive integer")


def nonneg_int(node: Node, path: str) -> int:
    """An integer >= 0."""
    return _int(node, path, 0, "a non-negative integer")


#: The names of the spatial dimensions of each rank, for messages.
DIMENSIONS: dict[int, tuple[str, ...]] = {
    1: ("length",),
    2: ("height", "width"),
    3: ("depth", "height", "width"),
}
_GROUP = {1: "list of one", 2: "pair", 3: "triple"}


def dims_label(rank: int) -> str:
    """Name a rank's list of sizes: `[height, width] pair`, `[depth, height, width] triple`."""
    return f"[{', '.join(DIMENSIONS[rank])}] {_GROUP[rank]}"


def _sizes(node: Node, path: str, minimum: int, what: str, rank: int) -> tuple[int, ...]:
    label = dims_label(rank)
    expected = f"{what} or a {label} of them"
    if isinstance(node, Sequence):
        if len(node.items) != rank:
            raise SpecError(
                f"expected a {label}, got a list of {len(node.items)}",
                path,
                node.line,
                node.column,
            )
        return tuple(_int(item, path, minimum, what) for item in node.items)
    value = _int(node, path, minimum, expected)
    return (value,) * rank


def _pair(node: Node, path: str, minimum: int, what: str) -> Pair:
    first, second = _sizes(node, path, minimum, what, 2)
    return (first, second)


def positive_pair(node: Node, path: str) -> Pair:
    """A positive int or a [h, w] pair of them, as torch's `_pair` accepts."""
    return _pair(node, path, 1, "a positive integer")


def nonneg_pair(node: Node, path: str) -> Pair:
    """A non-negative int or a [h, w] pair of them."""
    return _pair(node, path, 0, "a non-negative integer")


def sizes(rank: int, minimum: int) -> Coercer:
    """An int (the same on every spatial dimension) or a list of `rank` of them, each >= `minimum`."""
    what = "a positive integer" if minimum == 1 else "a non-negative integer"

    def coerce(node: Node, path: str) -> tuple[int, ...]:
        return _sizes(node, path, minimum, what, rank)

    return coerce


def conv_padding_arg(rank: int) -> Coercer:
    """Convolution padding for `rank` spatial dimensions: an int, a list of them, `same` or `valid`."""
    label = dims_label(rank)

    def coerce(node: Node, path: str) -> tuple[int, ...] | str:
        if isinstance(node, Scalar) and node.tag == "str":
            if node.value in ("same", "valid"):
                return node.text
            raise SpecError(
                f"padding must be an integer, a {label}, 'same' or 'valid', got {clip(node.text)}",
                path,
                node.line,
                node.column,
            )
        return _sizes(node, path, 0, "a non-negative integer", rank)

    return coerce


def output_sizes(rank: int) -> Coercer:
    """Adaptive pooling's output size: an int, or a list of `rank` whose entries may be null (rank > 1)."""
    label = dims_label(rank)

    def coerce(node: Node, path: str) -> tuple[int | None, ...]:
        if isinstance(node, Sequence):
            if len(node.items) != rank:
                raise SpecError(
                    f"expected a {label}, got a list of {len(node.items)}",
                    path,
                    node.line,
                    node.column,
                )
            # torch's 1-D adaptive pools take no null (keep the input's length) as the others do.
            inner = positive_int if rank == 1 else optional(positive_int)
            return tuple(inner(item, path) for item in node.items)
        value = positive_int(node, path)
        return (value,) * rank

    return coerce


def shape(node: Node, path: str) -> tuple[int, ...]:
    """One sample's tensor shape: a non-empty list of positive integers, channels first."""
    if not isinstance(node, Sequence) or not node.items:
        raise _fail(node, path, "a shape: a non-empty list of positive integers such as [64, 8, 8]")
    return tuple(_int(item, path, 1, "a positive integer in a shape") for item in node.items)


def constant_shape(node: Node, path: str) -> tuple[int, ...]:
    """A constant tensor's whole shape: a list of positive integers, empty for a 0-d tensor."""
    if not isinstance(node, Sequence):
        raise _fail(node, path, "a constant tensor's shape: a list of positive integers such as [1, 2, 8400]")
    return tuple(_int(item, path, 1, "a positive integer in a shape") for item in node.items)


def shapes(node: Node, path: str) -> tuple[tuple[int, ...], ...]:
    """A non-empty list of shapes, such as [[64, 8, 8], [64, 8, 8]]."""
    if not isinstance(node, Sequence) or not node.items:
        raise _fail(node, path, "a non-empty list of shapes such as [[64, 8, 8]]")
    return tuple(shape(item, path) for item in node.items)


def boolean(node: Node, path: str) -> bool:
    """true or false."""
    if not isinstance(node, Scalar) or node.tag != "bool":
        raise _fail(node, path, "true or false")
    return bool(node.value)


#: Exponent notation without a decimal point (1e-3), which YAML 1.1 reads as a string.
_EXPONENT = re.compile(r"[-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)[eE][-+]?[0-9]+")


def _number(node: Node, path: str, expected: str) -> float:
    if isinstance(node, Scalar) and not node.quoted and _EXPONENT.fullmatch(node.text):
        return float(node.text)
    if not isinstance(node, Scalar) or node.tag not in ("int", "float"):
        raise _fail(node, path, expected)
    assert isinstance(node.value, (int, float))
    return float(node.value)


def real(node: Node, path: str) -> float:
    """Any finite number."""
    value = _number(node, path, "a number")
    if not math.isfinite(value):
        raise SpecError(
            f"expected a finite number, got {node.text if isinstance(node, Scalar) else value}",
            path,
            node.line,
            node.column,
        )
    return value


def fill_value(node: Node, path: str) -> float:
    """A number to fill with: finite, or an infinity (.inf, -.inf: a max pool's padding); not NaN."""
    value = _number(node, path, "a number (or .inf, -.inf)")
    if math.isnan(value):
        raise _fail(node, path, "a number (or .inf, -.inf), not NaN")
    return value


def nonneg_float(node: Node, path: str) -> float:
    """A number >= 0."""
    value = real(node, path)
    if value < 0:
        raise _fail(node, path, "a number of at least 0")
    return value


def positive_float(node: Node, path: str) -> float:
    """A number > 0."""
    value = real(node, path)
    if value <= 0:
        raise _fail(node, path, "a number greater than 0")
    return value


def probability(node: Node, path: str) -> float:
    """A number in [0, 1]."""
    value = _number(node, path, "a probability between 0 and 1")
    if not 0.0 <= value <= 1.0:
        raise _fail(node, path, "a probability between 0 and 1")
    return value


def string(node: Node, path: str) -> str:
    """A plain string."""
    if not isinstance(node, Scalar) or node.tag not in ("str", "timestamp"):
        raise _fail(node, path, "a string (quote numbers: '123')")
    return node.text


#: Longest einsum equation a spec takes: far more than any two operands need.
MAX_EQUATION = 200


def equation(node: Node, path: str) -> str:
    """An einsum equation: subscripts of letters, `,`, `->` and `...`, on one line."""
    text = string(node, path)
    allowed = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ,.-> ")
    if not text.strip() or len(text) > MAX_EQUATION or not set(text) <= allowed:
        raise SpecError(
            f"expected an einsum equation of letters, ',', '->' and '...' (such as bhqd,bhkd->bhqk), "
            f"got {text[:40]!r}{'...' if len(text) > 40 else ''}",
            path,
            node.line,
            node.column,
        )
    return text


def choice(*values: str) -> Coercer:
    """One of a fixed set of strings."""

    def coerce(node: Node, path: str) -> str:
        if isinstance(node, Scalar) and node.tag == "str" and node.text in values:
            return node.text
        options = ", ".join(repr(v) for v in values)
        raise _fail(node, path, f"one of {options}")

    return coerce


def integers(minimum: int | None = None) -> Coercer:
    """An int (kept as an int: torch repeats it) or a non-empty list of ints, each at least `minimum`."""
    what = "an integer" if minimum is None else f"an integer of at least {minimum}"

    def coerce(node: Node, path: str) -> int | tuple[int, ...]:
        low = -(2**63) if minimum is None else minimum
        if isinstance(node, Sequence):
            if not node.items:
                raise _fail(node, path, f"{what} or a non-empty list of them")
            return tuple(_int(item, path, low, what) for item in node.items)
        return _int(node, path, low, f"{what} or a list of them")

    return coerce


def shape_sizes(node: Node, path: str) -> tuple[int, ...]:
    """A non-empty list of sizes, each a positive integer or -1 (inferred, as torch's reshape takes)."""
    what = "a positive integer or -1"
    if not isinstance(node, Sequence) or not node.items:
        raise _fail(node, path, f"a non-empty list of sizes, each {what}")
    values = tuple(_int(item, path, -1, what) for item in node.items)
    for item, value in zip(node.items, values, strict=True):
        if value == 0:
            raise _fail(item, path, what)
    return values


def positive_reals(node: Node, path: str) -> float | tuple[float, ...]:
    """A number > 0 (torch repeats it) or a non-empty list of them."""
    if isinstance(node, Sequence):
        if not node.items:
            raise _fail(node, path, "a number greater than 0 or a non-empty list of them")
        return tuple(positive_float(item, path) for item in node.items)
    return positive_float(node, path)


def optional(inner: Coercer) -> Coercer:
    """`null` (torch's None) or what `inner` accepts."""

    def coerce(node: Node, path: str) -> Any:
        if isinstance(node, Scalar) and node.tag == "null":
            return None
        return inner(node, path)

    return coerce


#: Conv2d's padding: an int, a [height, width] pair, `same` or `valid`.
padding = conv_padding_arg(2)

#: Adaptive 2-D pooling's output size: an int, or a [height, width] pair whose entries may be null.
output_size = output_sizes(2)
