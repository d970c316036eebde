"""Padding of every mode and rank: zero, constant, reflection, replication and circular, 1-D to 3-D."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from convprof.kinds.base import ImportStep, ShapeError, UnaryKind, register
from convprof.kinds.calls import TENSOR, TorchCall
from convprof.kinds.records import Autograd, LayerCost, ReceptiveField, TrainingStep
from convprof.spec import Shape, prod
from convprof.spec.args import REQUIRED, arg, fill_value, integers
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
    value: float = arg(REQUIRED, fill_value)
    """The value padded in: any number, or an infinity (-inf before a max pool, as NASNet pads)."""


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


def _padding(values: Any) -> int | tuple[int, ...] | None:
    """Return torch's padding tuple as the spec writes it (equal amounts as one), or None if it is
    not a tuple of integers."""
    if not isinstance(values, list | tuple) or not all(type(v) is int for v in values):
        return None
    amounts = tuple(values)
    return amounts[0] if amounts and len(set(amounts)) == 1 else amounts


class _Pad(UnaryKind):
    """Pads (or, with negative amounts, crops) the last `dims` dimensions: a copy, no arithmetic."""

    torch_calls = ("torch.nn.functional.pad",)
    torch_class_of_its_name = True
    dims: ClassVar[int]
    """Dimensions padded, counted from the last."""
    mode: ClassVar[str]
    """torch's padding mode."""

    def from_module(self, module: Any) -> Any:
        """Read torch's padding tuple (and a constant padding's value)."""
        values: dict[str, Any] = {"padding": _padding(module.padding)}
        if self.Args is ConstantPadArgs:
            values["value"] = float(module.value)
        return self.Args(**values)

    def from_call(self, call: TorchCall) -> tuple[ImportStep, ...] | None:
        """Read F.pad(x, pad, mode, value) as the kind of that mode and of len(pad) // 2 dimensions:
        constant padding by zero (or None, torch's default) is zero padding."""
        if call.args[:1] != (TENSOR,) or len(call.input_shapes) != 1:
            return None
        pad, mode = call.arg(1, "pad", None), call.arg(2, "mode", "constant")
        value = call.arg(3, "value", None)
        padding = _padding(pad)
        if padding is None or len(pad) != 2 * self.dims or mode != self.mode:
            return None
        if mode != "constant":
            return None if value not in (None, 0) else ((self, PadArgs(padding)),)
        if not isinstance(value, int | float | None) or isinstance(value, bool):
            return None
        zero = value is None or value == 0
        if zero != (self.Args is PadArgs):
            return None
        return ((self, PadArgs(padding) if zero else ConstantPadArgs(padding, float(value or 0))),)

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
            if self.mode == "circular" and max(before, after) > size:
                raise ShapeError(
                    f"circular padding ({before}, {after}) would wrap around the size {size} more than "
                    f"once; use at most {size}"
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
        # Constant padding's backward crops the gradient; reflection and replication read the input;
        # circular padding's backward folds each wrapped slice back, holding two padded gradients.
        if self.mode == "circular":
            return Autograd(backward_peak=2 * step.nbytes(prod(out_shape)))
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
    _define("CircularPad", "circular", _dims, PadArgs)
