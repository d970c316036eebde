"""Opaque: an op convprof cannot count, kept with what is exactly known of it (`import --allow-unknown`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from convprof.errors import ConvprofError, SpecError
from convprof.kinds.base import LayerKind, ShapeError, register
from convprof.kinds.records import FULL, Autograd, LayerCost, ReceptiveField, TrainingStep
from convprof.spec import Shape
from convprof.spec.args import REQUIRED, arg, nonneg_int, shape, shapes, string
from convprof.spec.yamlnode import Node
from convprof.units import clip, format_shape

if TYPE_CHECKING:
    import torch

__all__ = ["MAX_OP_NAME", "NotBuildable", "Opaque", "OpaqueArgs"]

#: Longest op name an opaque node takes: a dotted torch name fits many times over.
MAX_OP_NAME = 200


class NotBuildable(ConvprofError):
    """A spec node torch cannot be given (an opaque op): measuring skips such specs before building."""


def op_name(node: Node, path: str) -> str:
    """The op's name, as the importer lists it: one line of printable text."""
    text = string(node, path)
    if not text.strip() or len(text) > MAX_OP_NAME or not text.isprintable():
        raise SpecError(
            f"expected an op's name (one line of at most {MAX_OP_NAME} printable characters, such as "
            f"torch.nn.functional.grid_sample), got {clip(text)}",
            path,
            node.line,
            node.column,
        )
    return text


@dataclass(frozen=True, slots=True)
class OpaqueArgs:
    """What is exactly known of an op convprof cannot count: its name, shapes and tensors."""

    op: str = arg(REQUIRED, op_name)
    """The op: a torch module class (`torch.nn.MultiheadAttention`), function or Tensor method."""
    input_shapes: tuple[Shape, ...] = arg(REQUIRED, shapes, verbatim=True)
    """Per-sample shape of each tensor it reads, in `from` order: its output shape holds for these only."""
    output_shape: Shape = arg(REQUIRED, shape, verbatim=True)
    """Per-sample shape of its one output tensor, as torch gave it."""
    params: int = arg(0, nonneg_int)
    """Elements of the parameters it holds (a module's own, or a module tensor a call reads directly)."""
    buffers: int = arg(0, nonneg_int)
    """Elements of its floating-point buffers, held in the spec's dtype like BatchNorm's statistics."""
    fixed_buffer_bytes: int = arg(0, nonneg_int)
    """Bytes of its other buffers (integer counters), whose size does not follow the dtype."""


@register
class Opaque(LayerKind):
    """An op whose shapes, parameters and buffers are known and whose arithmetic is not.

    Its MACs, element-wise ops and fan-in are unknown, never 0: every total over it is a lower bound.
    Its receptive field is the whole input (the bound), its output a new tensor, and it is the same
    in every variant (it has no counterfactual). It cannot be built in torch.
    """

    name = "Opaque"
    Args = OpaqueArgs
    arity = (1, None)
    not_importable = "the importer writes it itself, under --allow-unknown, for an op no other kind counts"
    not_buildable = "an opaque op's arithmetic is unknown, so torch cannot rebuild it from a spec"

    def node_output_shape(self, args: OpaqueArgs, shapes: tuple[Shape, ...]) -> Shape:
        if shapes != args.input_shapes:
            given = ", ".join(format_shape(s) for s in args.input_shapes)
            found = ", ".join(format_shape(s) for s in shapes)
            raise ShapeError(
                f"{args.op} was imported reading {given} and here reads {found}; its output "
                "shape is known only for the inputs it was imported with: import the model again "
                "at this input"
            )
        return args.output_shape

    def node_cost(self, args: OpaqueArgs, in_shapes: tuple[Shape, ...], out_shape: Shape) -> LayerCost:
        return LayerCost(
            params=args.params,
            macs=None,
            elementwise_ops=None,
            fan_in=None,
            buffer_elements=args.buffers,
            buffer_fixed_bytes=args.fixed_buffer_bytes,
        )

    def node_receptive_field(
        self, args: OpaqueArgs, in_shapes: tuple[Shape, ...], fields: tuple[ReceptiveField | None, ...]
    ) -> ReceptiveField | None:
        return FULL  # unknown: the whole input bounds it

    def node_param_tensors(
        self, args: OpaqueArgs, in_shapes: tuple[Shape, ...], out_shape: Shape
    ) -> tuple[int, ...]:
        # How they split into tensors is unknown: one tensor, the fewest they can be.
        return (args.params,) if args.params else ()

    def node_autograd(
        self, args: OpaqueArgs, in_shapes: tuple[Shape, ...], out_shape: Shape, step: TrainingStep
    ) -> Autograd:
        return Autograd(known=False)  # what it keeps and allocates is unknown: left out, a lower bound

    def node_build(self, args: OpaqueArgs, in_shapes: tuple[Shape, ...], out_shape: Shape) -> torch.nn.Module:
        raise NotBuildable(f"{args.op} (opaque): {self.not_buildable}")
