"""The three variants as transformations of a spec's graph: only convolutions change."""

from __future__ import annotations

from dataclasses import replace

from convprof.kinds import lookup
from convprof.spec import ModelSpec

__all__ = ["VARIANTS", "transform"]

#: Variant names, from the most connected to the model as written.
VARIANTS = ("dense", "local", "conv")


def transform(spec: ModelSpec, variant: str) -> ModelSpec:
    """Return `spec` with each node replaced by its counterfactual kind in `variant`.

    A variant changes kinds and never the topology: every node keeps its path, its inputs and its
    output shape, so every later node sees what it saw in the model as written.
    """
    if variant not in VARIANTS:
        raise ValueError(f"unknown variant {variant!r}")
    nodes = []
    for node in spec.nodes:
        kind = lookup(node.kind)
        assert kind is not None, node.kind
        replacement = kind.counterfactuals.get(variant)
        if replacement is None:
            nodes.append(node)
            continue
        counterfactual = lookup(replacement)
        assert counterfactual is not None, replacement
        shape = counterfactual.node_output_shape(node.args, node.input_shapes)
        assert shape == node.output_shape, (
            f"{replacement} changes {node.path}'s shape: the graph must not change"
        )
        nodes.append(node.with_kind(replacement))
    return replace(spec, nodes=tuple(nodes))
