"""The points of a sweep: every combination of the axes' values written into the spec's YAML tree,
each parsed and validated as a spec file is."""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from convprof.errors import SpecError, UsageError
from convprof.graph.parse import WidthRule, parse_nodes
from convprof.spec import ModelSpec
from convprof.spec.sources import SpecSource
from convprof.spec.yamledit import edit
from convprof.spec.yamlnode import Node, load_nodes
from convprof.sweep.axes import Axis, check_overlaps

__all__ = ["MAX_POINTS", "PointSpec", "point_specs"]

#: Largest grid a sweep builds; a bigger one is almost always a typo in a value list.
MAX_POINTS = 10_000


def _edit(node: Node, path: tuple[str, ...], new: Node, option: str) -> Node:
    """Return `node` with `new` written at `path`; a bad path is a usage error naming the option."""
    return edit(node, path, new, lambda message: UsageError(f"{option}: {message}"))


@dataclass(frozen=True, slots=True)
class PointSpec:
    """One grid point's values and its validated spec."""

    labels: tuple[str, ...]
    """The point's value on each axis, as written."""
    spec: ModelSpec
    """The spec with the point's values in place."""


def _describe_point(axes: Sequence[Axis], labels: Sequence[str]) -> str:
    return ", ".join(f"{a.name}={label}" for a, label in zip(axes, labels, strict=True))


def point_specs(
    source: SpecSource, axes: Sequence[Axis], imports: Mapping[str, SpecSource] | None = None
) -> tuple[PointSpec, ...]:
    """Build and validate every point's spec; the first invalid point raises, naming it.

    `imports` maps a `--resolution` value to the spec of a model imported at that input: a point of
    that value starts from it instead of writing its `input` (a model's opaque ops have shapes only
    where it was imported)."""
    if not axes:
        raise UsageError(
            "give at least one axis: --resolution, --width, --batch-size or --set PATH=V1,V2,..."
        )
    check_overlaps(axes)
    names = [a.name for a in axes]
    for name in names:
        if names.count(name) > 1:
            raise UsageError(f"{name} is swept twice; give one list of values for it")
    total = math.prod(len(a.values) for a in axes)
    if total > MAX_POINTS:
        sizes = " x ".join(str(len(a.values)) for a in axes)
        raise UsageError(f"the grid has {sizes} = {total:,} points, over {MAX_POINTS:,}; sweep fewer values")
    root = load_nodes(source.data, source.display)
    parse_nodes(root, source.display, source.stem)  # the spec itself must be valid before any point is
    roots = {label: (load_nodes(s.data, s.display), s.display) for label, s in (imports or {}).items()}
    points = []
    for number, combination in enumerate(itertools.product(*(a.values for a in axes)), start=1):
        labels = tuple(v.label for v in combination)
        tree, display = root, source.display
        width: float | None = None
        for axis, value in zip(axes, combination, strict=True):
            if axis.name == "resolution" and value.label in roots:
                tree, display = roots[value.label]  # resolution is the first axis: nothing is lost
            elif value.node is None:
                width = value.number
            else:
                tree = _edit(tree, axis.path, value.node, axis.option)
        try:
            spec = parse_nodes(tree, display, source.stem)
            if width is not None:
                spec = parse_nodes(tree, display, source.stem, WidthRule.of(spec, width))
        except SpecError as exc:
            where = _describe_point(axes, labels)
            options = ", ".join(a.option for a in axes)
            raise UsageError(
                f"sweep point {number} of {total} ({where}) is not a valid spec: {exc}; "
                f"change or drop that value of {options}"
            ) from exc
        points.append(PointSpec(labels, spec))
    return tuple(points)
