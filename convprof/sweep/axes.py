"""The axes of a sweep: the values each of --resolution, --width, --batch-size and --set PATH=...
gives, as YAML nodes to write at a path of the spec's tree."""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

from convprof.errors import SpecError, UsageError
from convprof.spec.args import MAX_INT
from convprof.spec.yamledit import scalar
from convprof.spec.yamlnode import Node, Scalar, load_nodes
from convprof.spec.yamlnode import Sequence as SeqNode
from convprof.units import clip

__all__ = [
    "MAX_WIDTH",
    "Axis",
    "AxisValue",
    "batch_axis",
    "check_overlaps",
    "resolution_axis",
    "set_axis",
    "whole_shape",
    "width_axis",
]

#: Largest --width multiplier: times any channel count it passes torch's int64 (2**63).
MAX_WIDTH = float(2**63)


@dataclass(frozen=True, slots=True)
class AxisValue:
    """One value of an axis."""

    label: str
    """The value as the user wrote it."""
    number: float | None
    """Its position on a log axis (a resolution's side, a kernel's size); None when not a number."""
    node: Node | None
    """The YAML node written at the axis' path; None for width, which is no single node."""


@dataclass(frozen=True, slots=True)
class Axis:
    """One dimension of the grid."""

    name: str
    """resolution, width, batch_size or the dotted path a --set edits."""
    option: str
    """The option that gave it, for messages: --resolution, --set layers.0.conv2d.kernel_size."""
    path: tuple[str, ...]
    """Where its nodes go in the YAML tree; empty for width."""
    values: tuple[AxisValue, ...]
    """Its values in the order given."""

    @property
    def numeric(self) -> bool:
        """True when every value is a positive number, so a growth law can be fitted along it."""
        return all(v.number is not None and v.number > 0 for v in self.values)


def _split(text: str) -> list[str]:
    """Split a value list at commas outside brackets: `3,[3, 5],7` -> ['3', '[3, 5]', '7']."""
    parts: list[str] = []
    current: list[str] = []
    depth = 0
    for char in text:
        if char in "[{":
            depth += 1
        elif char in "]}":
            depth -= 1
        if char == "," and depth == 0:
            parts.append("".join(current).strip())
            current = []
        else:
            current.append(char)
    parts.append("".join(current).strip())
    return parts


def _values(option: str, text: str, example: str) -> list[str]:
    parts = _split(text)
    if any(not p for p in parts):
        raise UsageError(
            f"{option}: empty value in {clip(text)}; give a comma-separated list such as {example}"
        )
    seen: set[str] = set()
    for part in parts:
        if part in seen:
            raise UsageError(f"{option}: {clip(part, quoted=False)} is given twice; give each value once")
        seen.add(part)
    return parts


def _int_node(value: int) -> Scalar:
    return scalar(str(value))


_SIZE = re.compile(r"^\d+(x\d+){0,3}$")


def _size(option: str, label: str, digits: str) -> int:
    """Return a size written in decimal digits; UsageError past MAX_INT (no tensor can be that big)."""
    if len(digits.lstrip("0")) > len(str(MAX_INT)) or int(digits) > MAX_INT:
        raise UsageError(
            f"{option}: {clip(label)} is larger than {MAX_INT:,} (2**63 - 1); give smaller sizes"
        )
    return int(digits)


def resolution_axis(text: str, base_input: tuple[int, ...]) -> Axis:
    """Read `--resolution`: sides (`32,64`: every spatial side), spatial shapes or whole inputs.

    For a 2-D input `64x96` is height x width and `3x64x96` a whole input; for a 1-D input `1000`
    is the length and `1x1000` a whole input; for a 3-D input `16x112x112` is frames x height x width
    and `3x16x112x112` a whole input.
    """
    option = "--resolution"
    rank = len(base_input) - 1
    values = []
    for label in _values(option, text, "32,64,128,224"):
        if not _SIZE.match(label.lower()):
            raise UsageError(
                f"{option}: {clip(label)} is not a size; give sides such as 32,64,128 "
                "or shapes such as 64x96 or 3x64x96"
            )
        dims = [_size(option, label, d) for d in label.lower().split("x")]
        if any(d < 1 for d in dims):
            raise UsageError(f"{option}: {clip(label)} has a zero dimension; sizes start at 1")
        if rank not in (1, 2, 3) and len(dims) < 3:
            shape = "x".join(map(str, base_input))
            raise UsageError(
                f"{option}: the spec's input {shape} is not channels x height x width; "
                "give whole shapes such as 3x64x96, or sweep its entries with --set input.1=..."
            )
        if len(dims) == 1 and rank in (1, 2, 3):
            shape_dims = [base_input[0], *dims * rank]
        elif len(dims) == rank and rank > 1:
            shape_dims = [base_input[0], *dims]
        elif len(dims) == rank + 1 or rank not in (1, 2, 3):
            shape_dims = dims
        else:
            raise UsageError(
                f"{option}: {clip(label)} does not fit the spec's {rank}-D input "
                f"{'x'.join(map(str, base_input))}; give {_RESOLUTION_FORMS[rank]}"
            )
        node = SeqNode(tuple(_int_node(d) for d in shape_dims), 0, 0)
        # The side of the square (cube) of equal area (volume), so 64x96 and 78x78 sit at one place.
        sides = shape_dims[1:]
        values.append(AxisValue(label, math.prod(sides) ** (1 / len(sides)) if sides else 1.0, node))
    return Axis("resolution", option, ("input",), tuple(values))


#: What --resolution takes for an input of each rank.
_RESOLUTION_FORMS = {
    1: "lengths such as 1000,2000 or whole inputs such as 1x1000",
    2: "sides such as 32,64, shapes such as 64x96 or whole inputs such as 3x64x96",
    3: "sides such as 32,64, frames x height x width such as 16x112x112 or whole inputs such as 3x16x112x112",
}


def width_axis(text: str) -> Axis:
    """Read `--width 0.25,0.5,1,2`: multipliers on every conv's and hidden linear's outputs."""
    option = "--width"
    values = []
    for label in _values(option, text, "0.25,0.5,1,2"):
        try:
            number = float(label)
        except ValueError:
            number = math.nan
        if not (number > 0 and math.isfinite(number)):
            raise UsageError(
                f"{option}: {clip(label)} is not a positive multiplier; give values such as 0.5,1,2"
            )
        if number > MAX_WIDTH:
            raise UsageError(f"{option}: {clip(label)} is over 2**63; no layer could be that wide")
        values.append(AxisValue(label, number, None))
    return Axis("width", option, (), tuple(values))


def batch_axis(text: str) -> Axis:
    """Read `--batch-size 1,8,32`."""
    option = "--batch-size"
    values = []
    for label in _values(option, text, "1,8,32"):
        if not label.isdigit() or _size(option, label, label) < 1:
            raise UsageError(f"{option}: {clip(label)} is not a positive integer; give values such as 1,8,32")
        values.append(AxisValue(label, float(int(label)), _int_node(int(label))))
    return Axis("batch_size", option, ("batch_size",), tuple(values))


def _node_number(node: Node) -> float | None:
    """Return where a value sits on a log axis; None when it is no positive finite number."""
    if isinstance(node, Scalar):
        if node.tag in ("int", "float") and isinstance(node.value, (int, float)):
            return float(node.value)
        return None
    if isinstance(node, SeqNode) and node.items:
        numbers = [_node_number(item) for item in node.items]
        if all(n is not None and n > 0 for n in numbers):
            # A [height, width] pair sits at its geometric mean, as a resolution does.
            mean = math.prod(n for n in numbers if n is not None) ** (1 / len(numbers))
            return mean if math.isfinite(mean) else None
    return None


def set_axis(text: str) -> Axis:
    """Read `--set PATH=V1,V2,...`: YAML values written at a dotted path of the spec."""
    example = "layers.0.conv2d.kernel_size=3,5,7"
    path_text, equals, values_text = text.partition("=")
    path_text = path_text.strip()
    if not equals or not path_text or not values_text.strip():
        raise UsageError(f"--set expects PATH=V1,V2,... such as {example}; got {clip(text)}")
    path = tuple(path_text.split("."))
    if any(not segment for segment in path):
        raise UsageError(f"--set {path_text}: empty segment in the path; write it as {example.split('=')[0]}")
    option = f"--set {path_text}"
    values = []
    for label in _values(option, values_text, "3,5,7"):
        try:
            node = load_nodes(label.encode("utf-8"), option)
        except SpecError as exc:
            raise UsageError(
                f"{option}: {clip(label)} is not a YAML value ({exc.message}); "
                "write numbers, strings or lists such as [3, 5]"
            ) from exc
        values.append(AxisValue(label, _node_number(node), node))
    return Axis(path_text, option, path, tuple(values))


def check_overlaps(axes: Sequence[Axis]) -> None:
    """Refuse two axes that write the same part of the tree (one inside the other)."""
    for first, second in itertools.combinations(axes, 2):
        if not first.path or not second.path:
            continue
        shorter = min(len(first.path), len(second.path))
        if first.path[:shorter] == second.path[:shorter]:
            raise UsageError(
                f"{second.option} and {first.option} both change {'.'.join(second.path[:shorter])}; "
                "keep one of them"
            )


def whole_shape(value: AxisValue) -> str:
    """Return a `--resolution` value as the whole input shape it writes: 3x64x64."""
    assert isinstance(value.node, SeqNode)
    return "x".join(item.text for item in value.node.items if isinstance(item, Scalar))
