"""Merges of several tensors: element-wise add and mul (broadcasting as torch does) and cat."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from convprof.kinds.base import ImportStep, LayerKind, ShapeError, register
from convprof.kinds.calls import TENSOR, TorchCall
from convprof.kinds.records import Autograd, LayerCost, ReceptiveField, TrainingStep
from convprof.kinds.strides import Layout
from convprof.spec import Shape, prod
from convprof.spec.args import arg, integer
from convprof.units import format_shape

if TYPE_CHECKING:
    import torch

__all__ = ["Add", "Cat", "Div", "Mul", "Stack", "Sub", "batched_broadcast", "broadcast_shape", "merge_fields"]


@dataclass(frozen=True, slots=True)
class MergeArgs:
    """An element-wise merge has no arguments."""


@dataclass(frozen=True, slots=True)
class CatArgs:
    """torch.cat's argument."""

    dim: int = arg(1, integer)
    """Dimension of the batched tensor to join along (1 = channels); negative counts from the end."""


def _shapes(shapes: tuple[Shape, ...]) -> str:
    return ", ".join(format_shape(shape) for shape in shapes)


def broadcast_shape(shapes: tuple[Shape, ...]) -> Shape | None:
    """Return the shape torch broadcasts per-sample `shapes` to, or None when they do not broadcast."""
    rank = max(len(shape) for shape in shapes)
    result = []
    for position in range(rank):
        sizes = {shape[position - rank + len(shape)] for shape in shapes if position - rank + len(shape) >= 0}
        sizes.discard(1)
        if len(sizes) > 1:
            return None
        result.append(sizes.pop() if sizes else 1)
    return tuple(result)


def batched_broadcast(shapes: tuple[Shape, ...], verb: str) -> Shape:
    """Return the per-sample shape torch broadcasts batched tensors of per-sample `shapes` to, or say
    why it cannot be done sample by sample.

    Batched, each is (N, *shape): torch aligns them from the right, so tensors whose samples have
    different ranks would align one's batch with another's channels or rows, and the result would
    depend on the batch size. The samples must have one rank, and each dimension be equal or 1."""
    ranks = {len(shape) for shape in shapes}
    if len(ranks) != 1:
        raise ShapeError(
            f"cannot {verb} tensors of shapes {_shapes(shapes)} sample by sample: their samples have "
            "different ranks, so torch would broadcast one's batch against another's dimension; "
            "reshape them to one rank first"
        )
    shape = broadcast_shape(shapes)
    if shape is None:
        raise ShapeError(
            f"cannot {verb} tensors of shapes {_shapes(shapes)}: each dimension must be equal "
            "or 1 in all but one of them (torch's broadcasting)"
        )
    return shape


def merge_fields(fields: tuple[ReceptiveField | None, ...]) -> ReceptiveField | None:
    """Return the receptive field of a unit that combines units of several paths: the largest."""
    if any(field is None for field in fields):
        return None
    known = [field for field in fields if field is not None]
    layouts = {(len(field.size), field.lead, field.trail) for field in known}
    if len(layouts) != 1:  # a flatten or a permute on one side: no common extent
        return None
    ((_, lead, trail),) = layouts
    return ReceptiveField(
        size=tuple(max(sizes) for sizes in zip(*(field.size for field in known), strict=True)),
        jump=tuple(max(jumps) for jumps in zip(*(field.jump for field in known), strict=True)),
        lead=lead,
        trail=trail,
    )


class _Elementwise(LayerKind):
    """Adds or multiplies two or more tensors element by element, broadcasting as torch does."""

    keeps_layout = True
    Args = MergeArgs
    arity: ClassVar[tuple[int, int | None]] = (2, None)
    verb: str
    not_importable = ""

    def from_call(self, call: TorchCall) -> tuple[ImportStep, ...] | None:
        """Read `a + b` (or a * b) of two tensors; a scalar operand or torch.add's alpha is not this kind."""
        if call.args != (TENSOR, TENSOR) or call.kwargs:
            return None
        return ((self, MergeArgs()),)

    def node_output_shape(self, args: Any, shapes: tuple[Shape, ...]) -> Shape:
        shape = broadcast_shape(shapes)
        if shape is None:
            raise ShapeError(
                f"cannot {self.verb} tensors of shapes {_shapes(shapes)}: each dimension must be equal "
                "or 1 in all but one of them (torch's broadcasting)"
            )
        return shape

    def node_check_batch(self, args: Any, in_shapes: tuple[Shape, ...], batch_size: int) -> None:
        """Refuse inputs of different ranks at a batch of more than one, as torch runs them.

        torch broadcasts the batched tensors from their last dimensions, so the batch of an input
        with fewer dimensions meets another input's sample dimension: torch fails unless that size is
        1 or the batch's, and then pairs one sample's values with another's. Per sample, the shapes
        broadcast only at a batch of one (stricter than torch, as flatten's start_dim 0 is)."""
        if batch_size == 1 or len({len(shape) for shape in in_shapes}) == 1:
            return
        batched = tuple((batch_size, *shape) for shape in in_shapes)
        if broadcast_shape(batched) is None:
            consequence = "torch cannot broadcast them"
        else:
            consequence = "torch would broadcast one input's batch against another's sample, mixing samples"
        raise ShapeError(
            f"cannot {self.verb} tensors of different ranks ({_shapes(in_shapes)}) at batch {batch_size}: "
            f"batched, {_shapes(batched)} align from their last dimensions and {consequence}; give the "
            "inputs the same rank (reshape or flatten one)"
        )

    def node_cost(self, args: Any, in_shapes: tuple[Shape, ...], out_shape: Shape) -> LayerCost:
        # n inputs take n - 1 binary operations per output element.
        return LayerCost(
            params=0, macs=0, elementwise_ops=prod(out_shape) * (len(in_shapes) - 1), fan_in=len(in_shapes)
        )

    def node_receptive_field(
        self, args: Any, in_shapes: tuple[Shape, ...], fields: tuple[ReceptiveField | None, ...]
    ) -> ReceptiveField | None:
        return merge_fields(fields)


def _partials(in_shapes: tuple[Shape, ...]) -> list[Shape]:
    """Return the shapes of the running results of a left-to-right merge, the output last."""
    shapes = [in_shapes[0]]
    for shape in in_shapes[1:]:
        merged = broadcast_shape((shapes[-1], shape))
        assert merged is not None
        shapes.append(merged)
    return shapes[1:]


def _reduced(in_shapes: tuple[Shape, ...], out_shape: Shape, step: TrainingStep) -> tuple[int, ...]:
    """Return the inputs whose gradient the backward sums down to a broadcast input's shape."""
    return tuple(
        i
        for i, (shape, grad) in enumerate(zip(in_shapes, step.grads, strict=True))
        if grad and shape != out_shape
    )


@register
class Add(_Elementwise):
    """The element-wise sum of its inputs (a residual connection's merge)."""

    name = "Add"
    torch_types = ("convprof.kinds.nn.Add",)
    verb = "add"
    torch_calls = ("operator.add", "operator.iadd", "torch.add", "Tensor.add", "Tensor.add_")

    def node_autograd(
        self, args: MergeArgs, in_shapes: tuple[Shape, ...], out_shape: Shape, step: TrainingStep
    ) -> Autograd:
        """Keep nothing: an input of the output's shape gets the output's gradient itself, a broadcast
        one that gradient summed to its shape. The running sums of three or more inputs live two at
        a time."""
        partials = [step.nbytes(prod(shape)) for shape in _partials(in_shapes)]
        forward = max([partials[-1], *(a + b for a, b in itertools.pairwise(partials))])
        views = tuple(i for i, shape in enumerate(in_shapes) if shape == out_shape)
        return Autograd(grad_views=views, forward_peak=forward)

    def node_build(self, args: MergeArgs, in_shapes: tuple[Shape, ...], out_shape: Shape) -> torch.nn.Module:
        from convprof.kinds.nn import Add as Module

        return Module()


@register
class Mul(_Elementwise):
    """The element-wise product of its inputs (a squeeze-and-excitation gate's merge)."""

    name = "Mul"
    torch_types = ("convprof.kinds.nn.Mul",)
    verb = "multiply"
    torch_calls = ("operator.mul", "operator.imul", "torch.mul", "Tensor.mul", "Tensor.mul_")

    def node_autograd(
        self, args: MergeArgs, in_shapes: tuple[Shape, ...], out_shape: Shape, step: TrainingStep
    ) -> Autograd:
        """Each product keeps its right operand when the left one needs a gradient and the left when the
        right does (the running products of three or more inputs included). The backward makes
        each input's gradient at the output's size, then sums a broadcast one down to its shape."""
        partials = _partials(in_shapes)
        keeps: list[int] = []
        kept_partials: list[int] = []
        for position in range(1, len(in_shapes)):
            left_grad, right_grad = any(step.grads[:position]), step.grads[position]
            if left_grad:
                keeps.append(position)
            if right_grad:
                if position == 1:
                    keeps.append(0)
                else:
                    kept_partials.append(step.nbytes(prod(partials[position - 2])))
        running = sum(step.nbytes(prod(shape)) for shape in partials[:-1])
        output = step.nbytes(prod(out_shape))
        grads = [i for i, grad in enumerate(step.grads) if grad]
        reduced = sum(step.nbytes(prod(in_shapes[i])) for i in _reduced(in_shapes, out_shape, step))
        return Autograd(
            keeps_inputs=tuple(sorted(set(keeps))),
            keeps_new=tuple(kept_partials),
            forward_peak=output + running,
            backward_peak=len(grads) * output + reduced,
        )

    def node_build(self, args: MergeArgs, in_shapes: tuple[Shape, ...], out_shape: Shape) -> torch.nn.Module:
        from convprof.kinds.nn import Mul as Module

        return Module()


@register
class Cat(LayerKind):
    """Its inputs joined along one dimension: a copy, no arithmetic."""

    name = "Cat"
    Args = CatArgs
    torch_types = ("convprof.kinds.nn.Cat",)
    arity = (2, None)
    torch_calls = ("torch.cat", "torch.concat")

    def from_call(self, call: TorchCall) -> tuple[ImportStep, ...] | None:
        """Read torch.cat of two or more tensors along a dimension other than the batch's."""
        tensors, dim = call.arg(0, "tensors", None), call.arg(1, "dim", 0)
        if not isinstance(tensors, list | tuple) or len(tensors) < 2 or any(t is not TENSOR for t in tensors):
            return None
        if not isinstance(dim, int) or dim == 0:
            return None
        return ((self, CatArgs(dim=dim)),)

    def _axis(self, args: CatArgs, shapes: tuple[Shape, ...]) -> int:
        """Return the per-sample axis `dim` names, or say why it cannot be joined along."""
        ranks = {len(shape) for shape in shapes}
        if len(ranks) != 1:
            raise ShapeError(
                f"cannot concatenate tensors of different ranks: {_shapes(shapes)}; "
                "flatten or pool them to the same rank first"
            )
        rank = ranks.pop() + 1  # torch's dimensions include the batch
        dim = args.dim + rank if args.dim < 0 else args.dim
        if not 0 <= dim < rank:
            raise ShapeError(f"dim={args.dim} is outside the {rank} dimensions of the batched inputs")
        if dim == 0:
            raise ShapeError("dim=0 would join along the batch; use dim >= 1 (1 = channels)")
        return dim - 1

    def node_output_shape(self, args: CatArgs, shapes: tuple[Shape, ...]) -> Shape:
        axis = self._axis(args, shapes)
        first = shapes[0]
        for shape in shapes[1:]:
            if any(a != b for i, (a, b) in enumerate(zip(first, shape, strict=True)) if i != axis):
                raise ShapeError(
                    f"cannot concatenate tensors of shapes {_shapes(shapes)} along dim={args.dim}: "
                    "every other dimension must be equal"
                )
        return (*first[:axis], sum(shape[axis] for shape in shapes), *first[axis + 1 :])

    def node_cost(self, args: CatArgs, in_shapes: tuple[Shape, ...], out_shape: Shape) -> LayerCost:
        return LayerCost(params=0, macs=0, elementwise_ops=0, fan_in=1)

    def node_receptive_field(
        self, args: CatArgs, in_shapes: tuple[Shape, ...], fields: tuple[ReceptiveField | None, ...]
    ) -> ReceptiveField | None:
        return merge_fields(fields)

    def node_layout(
        self, args: CatArgs, in_shapes: tuple[Shape, ...], out_shape: Shape, layouts: tuple[Layout, ...]
    ) -> Layout:
        """Laid out like its inputs when they are all channels-last, contiguously otherwise."""
        batched = (layouts[0].shape[0], *out_shape)
        if all(layout.is_channels_last for layout in layouts):
            return Layout.channels_last(batched)
        return Layout.contiguous(batched)

    def node_autograd(
        self, args: CatArgs, in_shapes: tuple[Shape, ...], out_shape: Shape, step: TrainingStep
    ) -> Autograd:
        """Keep nothing: each input's gradient is its slice of the output's gradient."""
        return Autograd(grad_views=tuple(range(len(in_shapes))))

    def node_build(self, args: CatArgs, in_shapes: tuple[Shape, ...], out_shape: Shape) -> torch.nn.Module:
        from convprof.kinds.nn import Cat as Module

        return Module(args.dim)


class _Binary(_Elementwise):
    """An element-wise operation of exactly two tensors, broadcasting as torch does (never across
    the batch)."""

    arity: ClassVar[tuple[int, int | None]] = (2, 2)

    def node_output_shape(self, args: Any, shapes: tuple[Shape, ...]) -> Shape:
        return batched_broadcast(shapes, self.verb)


@register
class Sub(_Binary):
    """The element-wise difference of two tensors (FastViT's and PoolFormer's `pool(x) - x`)."""

    name = "Sub"
    torch_types = ("convprof.kinds.nn.Sub",)
    verb = "subtract"
    torch_calls = (
        "operator.sub",
        "operator.isub",
        "torch.sub",
        "torch.subtract",
        "Tensor.sub",
        "Tensor.sub_",
        "Tensor.subtract",
    )

    def node_autograd(
        self, args: MergeArgs, in_shapes: tuple[Shape, ...], out_shape: Shape, step: TrainingStep
    ) -> Autograd:
        """Keep nothing: the first input's gradient is the output's (summed to its shape when
        broadcast), the second's its negation, a new tensor of the output's size (then summed)."""
        views = (0,) if in_shapes[0] == out_shape else ()
        output = step.nbytes(prod(out_shape))
        summed = sum(step.nbytes(prod(in_shapes[i])) for i in _reduced(in_shapes, out_shape, step))
        negated = output if step.grads[1] else 0
        return Autograd(grad_views=views, backward_peak=negated + summed)

    def node_build(self, args: MergeArgs, in_shapes: tuple[Shape, ...], out_shape: Shape) -> torch.nn.Module:
        from convprof.kinds.nn import Sub as Module

        return Module()


@register
class Div(_Binary):
    """The element-wise quotient of two tensors (EfficientViT's linear attention's normaliser)."""

    name = "Div"
    torch_types = ("convprof.kinds.nn.Div",)
    verb = "divide"
    torch_calls = (
        "operator.truediv",
        "operator.itruediv",
        "torch.div",
        "torch.divide",
        "torch.true_divide",
        "Tensor.div",
        "Tensor.div_",
        "Tensor.divide",
        "Tensor.true_divide",
    )

    def node_autograd(
        self, args: MergeArgs, in_shapes: tuple[Shape, ...], out_shape: Shape, step: TrainingStep
    ) -> Autograd:
        """The numerator's gradient is the output's divided by the denominator, which it keeps; the
        denominator's is -grad * ((a / b) / b), which keeps both. The backward makes each at the
        output's size (the denominator's through three temporaries), then sums a broadcast one down."""
        numerator, denominator = step.grads
        keeps = sorted({*((1,) if numerator else ()), *((0, 1) if denominator else ())})
        output = step.nbytes(prod(out_shape))
        summed = sum(step.nbytes(prod(in_shapes[i])) for i in _reduced(in_shapes, out_shape, step))
        made = output * (numerator + denominator)
        return Autograd(
            keeps_inputs=tuple(keeps),
            backward_peak=max(output * (numerator + 4 * denominator), made + summed),
        )

    def node_build(self, args: MergeArgs, in_shapes: tuple[Shape, ...], out_shape: Shape) -> torch.nn.Module:
        from convprof.kinds.nn import Div as Module

        return Module()


@dataclass(frozen=True, slots=True)
class StackArgs:
    """torch.stack's argument."""

    dim: int = arg(1, integer)
    """Dimension of the batched output the inputs are stacked along (1 = before the channels);
    negative counts from the end."""


@register
class Stack(LayerKind):
    """Its inputs stacked along a new dimension: a copy, no arithmetic (SKNet's branches)."""

    name = "Stack"
    Args = StackArgs
    torch_types = ("convprof.kinds.nn.Stack",)
    arity = (1, None)
    torch_calls = ("torch.stack",)

    def from_call(self, call: TorchCall) -> tuple[ImportStep, ...] | None:
        """Read torch.stack of tensors along a dimension other than the batch's (a stack along dim 0
        that a reduction over dim 0 reads again is that reduction's: see Add)."""
        tensors, dim = call.arg(0, "tensors", None), call.arg(1, "dim", 0)
        if not isinstance(tensors, list | tuple) or not tensors or any(t is not TENSOR for t in tensors):
            return None
        if type(dim) is not int or call.kwargs.get("out") is not None:
            return None
        return ((self, StackArgs(dim=dim)),)

    def _axis(self, args: StackArgs, shapes: tuple[Shape, ...]) -> int:
        """Return the per-sample axis of the new dimension, or say why there is none."""
        if len(set(shapes)) != 1:
            raise ShapeError(f"cannot stack tensors of shapes {_shapes(shapes)}: torch stacks equal shapes")
        rank = len(shapes[0]) + 2  # the batched output's dimensions
        if not -rank <= args.dim < rank:
            raise ShapeError(f"dim={args.dim} is outside the {rank} dimensions of the batched output")
        dim = args.dim % rank
        if dim == 0:
            raise ShapeError("dim=0 would stack before the batch; use dim >= 1")
        return dim - 1

    def node_output_shape(self, args: StackArgs, shapes: tuple[Shape, ...]) -> Shape:
        axis = self._axis(args, shapes)
        first = shapes[0]
        return (*first[:axis], len(shapes), *first[axis:])

    def node_cost(self, args: StackArgs, in_shapes: tuple[Shape, ...], out_shape: Shape) -> LayerCost:
        return LayerCost(params=0, macs=0, elementwise_ops=0, fan_in=1)

    def node_receptive_field(
        self, args: StackArgs, in_shapes: tuple[Shape, ...], fields: tuple[ReceptiveField | None, ...]
    ) -> ReceptiveField | None:
        merged = merge_fields(fields)
        if merged is None or not merged.fits(in_shapes[0]):
            return merged
        axis = self._axis(args, in_shapes)
        # The new dimension goes before, among or after the spatial ones.
        spatial = merged.spatial_axes()
        if axis <= spatial.start:
            return ReceptiveField(merged.size, merged.jump, lead=merged.lead + 1, trail=merged.trail)
        if axis >= spatial.stop:
            return ReceptiveField(merged.size, merged.jump, lead=merged.lead, trail=merged.trail + 1)
        return None  # a new dimension between spatial ones: no box on the input

    def node_autograd(
        self, args: StackArgs, in_shapes: tuple[Shape, ...], out_shape: Shape, step: TrainingStep
    ) -> Autograd:
        """Keep nothing: each input's gradient is its slice of the output's gradient."""
        return Autograd(grad_views=tuple(range(len(in_shapes))))

    def node_build(self, args: StackArgs, in_shapes: tuple[Shape, ...], out_shape: Shape) -> torch.nn.Module:
        from convprof.kinds.nn import Stack as Module

        return Module(args.dim)
