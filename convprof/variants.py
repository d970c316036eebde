"""The three variants as transformations of a spec: only convolutions change."""

from __future__ import annotations

from dataclasses import replace

from convprof.kinds import lookup
from convprof.spec import ModelSpec

__all__ = ["VARIANTS", "transform"]

#: Variant names, from the most connected to the model as written.
VARIANTS = ("dense", "local", "conv")


def transform(spec: ModelSpec, variant: str) -> ModelSpec:
    """Return `spec` with each layer replaced by its counterfactual kind in `variant`."""
    if variant not in VARIANTS:
        raise ValueError(f"unknown variant {variant!r}")
    layers = []
    for layer in spec.layers:
        kind = lookup(layer.kind)
        assert kind is not None, layer.kind
        layers.append(layer.with_kind(kind.counterfactuals.get(variant, layer.kind)))
    return replace(spec, layers=tuple(layers))
