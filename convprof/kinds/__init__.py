"""Layer kinds; importing this package registers every one of them."""

from convprof.kinds import (
    activation,
    arith,
    conv,
    dropout,
    index,
    layout,
    linear,
    matmul,
    merge,
    norm,
    opaque,
    pad,
    pool,
    reduce,
    resample,
    samplenorm,
)
from convprof.kinds.base import LayerKind, ShapeError, UnaryKind, all_kinds, lookup
from convprof.kinds.records import LayerCost, ReceptiveField

__all__ = ["LayerCost", "LayerKind", "ReceptiveField", "ShapeError", "UnaryKind", "all_kinds", "lookup"]

_MODULES = (
    activation,
    arith,
    conv,
    dropout,
    index,
    layout,
    linear,
    matmul,
    merge,
    norm,
    opaque,
    pad,
    pool,
    reduce,
    resample,
    samplenorm,
)  # imported for their registrations
