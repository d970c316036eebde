"""Layer kinds; importing this package registers every one of them."""

from convprof.kinds import (
    activation,
    conv,
    layout,
    linear,
    merge,
    norm,
    opaque,
    pad,
    pool,
    resample,
    samplenorm,
)
from convprof.kinds.base import (
    LayerCost,
    LayerKind,
    ReceptiveField,
    ShapeError,
    UnaryKind,
    all_kinds,
    lookup,
)

__all__ = ["LayerCost", "LayerKind", "ReceptiveField", "ShapeError", "UnaryKind", "all_kinds", "lookup"]

_MODULES = (
    activation,
    conv,
    layout,
    linear,
    merge,
    norm,
    opaque,
    pad,
    pool,
    resample,
    samplenorm,
)  # imported for their registrations
