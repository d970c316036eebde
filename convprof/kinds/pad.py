"""Padding of every mode and rank: zero, constant, reflection and replication, 1-D to 3-D."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

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
from convprof.spec.args import REQUIRED, arg, integers, real
from convprof.units import format_shape

if TYPE_CHECKING:
    import torch

__all__ = ["pad_amounts"]


@dataclass(frozen=True, slots=True)
class PadArgs:
    """torch.nn.ZeroPad/ReflectionPad/ReplicationPad's argument."""

    padding: int | tuple[int, ...] = arg(REQUIRED, integers())
    """One int for every side, or torch's tuple: (left, right[, top, bottom[, front, back]])."""


@dataclass(frozen=True, slots=True)
class ConstantPadArgs:
    """torch.nn.ConstantPad's arguments."""

    padding: int | tuple[int, ...] = arg(REQUIRED, integers())
    """One int for every side, or torch's tuple: (left, right[, top, bottom[, front, back]])."""
    value: float = arg(REQUIRED, real)
    """The value padded in."""


def pad_amounts(padding: int | tuple[int, ...], dims: int) -> tuple[tuple[int, int], ...]:
    """Return (before, after) per padded dimension, first to last, from torch's last-first tuple."""
    if isinstance(padding, int):
        return ((padding, padding),) * dims
    if len(padding) != 2 * dims:
        raise ShapeError(
            f"padding needs {2 * dims} entries (before and after each of the last {dims} dimensions, "
            f"the last dimension first), got {len(padding)}"
        )
    pairs = [(padding[2 * i], padding[2 * i + 1]) for i in range(dims)]
    return tuple(reversed(pairs))


class _Pad(UnaryKind):
    """Pads (or, with negative amounts, crops) the last `dims` dimensions: a copy, no arithmetic."""

    not_importable = "no reader yet (torch keeps the padding as a tuple in its own order)"
    dims: ClassVar[int]
    """Dimensions padded, counted from the last."""
    mode: ClassVar[str]
    """torch's padding mode."""

    def _takes(self, rank: int) -> bool:
        # Reflection and replication take an unbatched or batched tensor, so a sample has dims or
        # dims + 1 dimensions; constant padding takes any rank that keeps the batch unpadded.
        if self.mode == "constant":
            return rank >= self.dims
        return rank in (self.dims, self.dims + 1)

    def output_shape(self, args: Any, shape: Shape) -> Shape:
        if not self._takes(len(shape)):
            raise ShapeError(
                f"{self.name} pads the last {self.dims} dimensions of a {self.dims}- or "
                f"{self.dims + 1}-dimensional sample{' or more' if self.mode == 'constant' else ''}, "
                f"got {format_shape(shape)}"
            )
        amounts = pad_amounts(args.padding, self.dims)
        lead = shape[: len(shape) - self.dims]
        sizes = shape[len(shape) - self.dims :]
        out = []
        for size, (before, after) in zip(sizes, amounts, strict=True):
            if self.mode == "reflect" and max(before, after) >= size:
                raise ShapeError(
                    f"reflection padding ({before}, {after}) must be less than the size {size} it reflects"
                )
            padded = size + before + after
            if padded < 1:
                raise ShapeError(f"padding ({before}, {after}) leaves nothing of a dimension of size {size}")
            out.append(padded)
        return (*lead, *out)

    def cost(self, args: Any, in_shape: Shape, out_shape: Shape) -> LayerCost:
        return LayerCost(params=0, macs=0, elementwise_ops=0, fan_in=1)

    def receptive_field(self, args: Any, in_shape: Shape, rf: ReceptiveField | None) -> ReceptiveField | None:
        # Padding moves no unit relative to the input (the field counts padding as part of it).
        return rf

    def autograd(self, args: Any, in_shape: Shape, out_shape: Shape, step: TrainingStep) -> Autograd:
        # Constant padding's backward crops the gradient; reflection and replication read the input.
        return Autograd() if self.mode == "constant" else Autograd(keeps_inputs=(0,))

    def build(self, args: Any, in_shape: Shape, out_shape: Shape) -> torch.nn.Module:
        from torch import nn

        module: type[torch.nn.Module] = getattr(nn, self.name)
        padding = args.padding
        if isinstance(args, ConstantPadArgs):
            return module(padding, args.value)
        return module(padding)


def _define(prefix: str, mode: str, dims: int, args: type) -> None:
    """Register one padding kind, e.g. ReflectionPad2d."""
    register(
        type(
            f"{prefix}{dims}d",
            (_Pad,),
            {
                "__doc__": f"torch.nn.{prefix}{dims}d: {mode} padding of the last {dims} dimensions.",
                "name": f"{prefix}{dims}d",
                "Args": args,
                "dims": dims,
                "mode": mode,
            },
        )
    )


for _dims in (1, 2, 3):
    _define("ZeroPad", "constant", _dims, PadArgs)
    _define("ConstantPad", "constant", _dims, ConstantPadArgs)
    _define("ReflectionPad", "reflect", _dims, PadArgs)
    _define("ReplicationPad", "replicate", _dims, PadArgs)
