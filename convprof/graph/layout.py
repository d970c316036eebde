"""How each node's output lies in memory, as far as torch's copies and views depend on it.

A flatten or a reshape views a contiguous tensor and copies any other; a linear layer folds a
non-contiguous input of several dimensions into a copy. Whether a tensor is contiguous follows from
the kinds before it: permutes and transposes reorder memory, element-wise layers, pools and batch
norm lay out their output as their input, a narrowed slice has gaps (see `LayerKind.node_layout`).
"""

from __future__ import annotations

from convprof.kinds import lookup
from convprof.kinds.base import Layout, is_contiguous
from convprof.spec import ModelSpec, NodeSpec

__all__ = ["contiguous_inputs", "node_layouts"]


def node_layouts(spec: ModelSpec) -> list[Layout]:
    """Return the layout of every node's output, the network's input being contiguous."""
    network = tuple(range(len(spec.input) + 1))
    layouts: list[Layout] = []
    for node in spec.nodes:
        kind = lookup(node.kind)
        assert kind is not None, node.kind
        inputs = tuple(network if i < 0 else layouts[i] for i in node.inputs)
        layouts.append(kind.node_layout(node.args, node.input_shapes, node.output_shape, inputs, spec.batch_size))
    return layouts


def contiguous_inputs(spec: ModelSpec, layouts: list[Layout], node: NodeSpec) -> tuple[bool, ...]:
    """Return, per input of `node`, whether it is contiguous."""
    network = tuple(range(len(spec.input) + 1))
    return tuple(
        is_contiguous(network if i < 0 else layouts[i], (spec.batch_size, *shape))
        for i, shape in zip(node.inputs, node.input_shapes, strict=True)
    )
