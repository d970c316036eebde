"""Layer kinds; importing this package registers every one of them."""

from convprof.kinds import activation, conv, linear, merge, norm, pool
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

_MODULES = (activation, conv, linear, merge, norm, pool)  # imported for their registrations
