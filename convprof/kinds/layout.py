"""Permute and Transpose: reorder the dimensions of each sample (views, no arithmetic)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from convprof.kinds.base import (
    Autograd,
    LayerCost,
    ReceptiveField,
    ShapeError,
    TrainingStep,
    UnaryKind,
    register,
)
from convprof.spec import Shape
from convprof.spec.args import REQUIRED, arg, integer, integers
from convprof.units import format_shape

if TYPE_CHECKING:
    import torch

__all__ = ["Permute", "Transpose", "moved_field"]


@dataclass(frozen=True, slots=True)
class PermuteArgs:
    """torch.permute's argument, as torchvision's Permute module takes it."""

    dims: int | tuple[int, ...] = arg(REQUIRED, integers())
    """New order of the batched tensor's dimensions; the batch (0) stays first."""


@dataclass(frozen=True, slots=True)
class TransposeArgs:
    """torch.transpose's arguments."""

    dim0: int = arg(REQUIRED, integer)
    """First dimension of the batched tensor to swap (1 = channels); negative counts from the end."""
    dim1: int = arg(REQUIRED, integer)
    """Second dimension to swap."""


def _axis(dim: int, rank: int, shape: Shape) -> int:
    if not -rank <= dim < rank:
        raise ShapeError(
            f"dim {dim} is outside the {rank} dimensions of a batched {format_shape(shape)} input"
        )
    return dim % rank


def moved_field(order: tuple[int, ...], rf: ReceptiveField | None) -> ReceptiveField | None:
    """Return the receptive field after the per-sample axes are reordered as `order`.

    Only moving the channels between first and last (ConvNeXt's channels-last linears) keeps the
    field meaningful; any other reordering mixes spatial axes, reported as the whole input."""
    if rf is None or order == tuple(range(len(order))):
        return rf
    last = len(order) - 1
    channels = last if rf.channels_last else 0
    position = order.index(channels)
    spatial = [axis for axis in order if axis != channels]
    if spatial != sorted(spatial) or position not in (0, last):
        return None
    return ReceptiveField(rf.size, rf.jump, channels_last=position == last)


class _Reorder(UnaryKind):
    """A permutation of each sample's dimensions: a view of its input."""

    def order(self, args: Any, shape: Shape) -> tuple[int, ...]:
        """Return the per-sample axes in their new order."""
        raise NotImplementedError

    def output_shape(self, args: Any, shape: Shape) -> Shape:
        return tuple(shape[axis] for axis in self.order(args, shape))

    def cost(self, args: Any, in_shape: Shape, out_shape: Shape) -> LayerCost:
        return LayerCost(params=0, macs=0, elementwise_ops=0, fan_in=1)

    def receptive_field(self, args: Any, in_shape: Shape, rf: ReceptiveField | None) -> ReceptiveField | None:
        return moved_field(self.order(args, in_shape), rf)

    def aliases_input(self, args: Any, training: bool) -> bool:
        return True

    def autograd(self, args: Any, in_shape: Shape, out_shape: Shape, step: TrainingStep) -> Autograd:
        return Autograd(grad_views=(0,))  # the gradient is reordered back, a view


@register
class Permute(_Reorder):
    """Reorders the batched tensor's dimensions, the batch staying first (torchvision's Permute)."""

    name = "Permute"
    not_importable = "a Tensor method (x.permute) in torch, which the importer does not read yet"
    Args = PermuteArgs

    def order(self, args: PermuteArgs, shape: Shape) -> tuple[int, ...]:
        rank = len(shape) + 1
        dims = (args.dims,) if isinstance(args.dims, int) else args.dims
        if len(dims) != rank:
            raise ShapeError(
                f"dims has {len(dims)} entries but a batched {format_shape(shape)} input "
                f"has {rank} dimensions"
            )
        axes = tuple(_axis(dim, rank, shape) for dim in dims)
        if sorted(axes) != list(range(rank)):
            raise ShapeError(f"dims {list(dims)} repeats a dimension; name each of the {rank} once")
        if axes[0] != 0:
            raise ShapeError(f"dims {list(dims)} moves the batch; keep 0 first")
        return tuple(axis - 1 for axis in axes[1:])

    def build(self, args: PermuteArgs, in_shape: Shape, out_shape: Shape) -> torch.nn.Module:
        from convprof.graph.nn import Permute as Module

        return Module((0, *(axis + 1 for axis in self.order(args, in_shape))))


@register
class Transpose(_Reorder):
    """Swaps two dimensions of the batched tensor, neither of them the batch."""

    name = "Transpose"
    not_importable = "a Tensor method (x.transpose) in torch, which the importer does not read yet"
    Args = TransposeArgs

    def order(self, args: TransposeArgs, shape: Shape) -> tuple[int, ...]:
        rank = len(shape) + 1
        first, second = _axis(args.dim0, rank, shape), _axis(args.dim1, rank, shape)
        if 0 in (first, second):
            raise ShapeError("transposing dimension 0 would move the batch; use dims >= 1")
        axes = list(range(len(shape)))
        axes[first - 1], axes[second - 1] = axes[second - 1], axes[first - 1]
        return tuple(axes)

    def build(self, args: TransposeArgs, in_shape: Shape, out_shape: Shape) -> torch.nn.Module:
        from convprof.graph.nn import Transpose as Module

        return Module(args.dim0, args.dim1)
