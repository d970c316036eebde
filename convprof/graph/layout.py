"""How each node's output lies in memory, as far as torch's copies and views depend on it.

A flatten or a reshape views its input where torch can and copies it otherwise; a linear layer folds
an input of several dimensions into a matrix the same way (see convprof.kinds.strides). The layouts
follow from the kinds: permutes reorder strides, narrowed slices leave gaps, element-wise layers,
pools and batch norm lay out their output like their input (`LayerKind.node_layout`).
"""

from __future__ import annotations

from convprof.kinds import lookup
from convprof.kinds.strides import Layout
from convprof.spec import ModelSpec, NodeSpec

__all__ = ["input_layouts", "node_layouts"]


def _network(spec: ModelSpec, index: int) -> Layout:
    """Return the layout of the network input a negative index reads: contiguous."""
    return Layout.contiguous((spec.batch_size, *spec.shape_of(index)))


def node_layouts(spec: ModelSpec) -> list[Layout]:
    """Return the layout of every node's output, the network's inputs being contiguous."""
    layouts: list[Layout] = []
    for node in spec.nodes:
        kind = lookup(node.kind)
        assert kind is not None, node.kind
        inputs = tuple(_network(spec, i) if i < 0 else layouts[i] for i in node.inputs)
        layouts.append(kind.node_layout(node.args, node.input_shapes, node.output_shape, inputs))
    return layouts


def input_layouts(spec: ModelSpec, layouts: list[Layout], node: NodeSpec) -> tuple[Layout, ...]:
    """Return the layouts of the tensors `node` reads."""
    return tuple(_network(spec, i) if i < 0 else layouts[i] for i in node.inputs)
