"""Resampling: Upsample (interpolation by mode) and PixelShuffle / PixelUnshuffle."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from convprof.kinds.base import ImportStep, ShapeError, UnaryKind, register
from convprof.kinds.calls import TENSOR, NotImportable, TorchCall
from convprof.kinds.records import Autograd, LayerCost, ReceptiveField, TrainingStep, spatial_field
from convprof.spec import Shape, prod
from convprof.spec.args import (
    REQUIRED,
    arg,
    boolean,
    choice,
    integers,
    optional,
    positive_int,
    positive_reals,
)
from convprof.units import format_shape

if TYPE_CHECKING:
    import torch

__all__ = ["PixelShuffle", "PixelUnshuffle", "Upsample", "interpolation_taps"]

T = TypeVar("T", int, float)

#: Spatial dimensions each mode takes (torch's interpolate raises for the others).
_MODE_DIMS: dict[str, tuple[int, ...]] = {
    "nearest": (1, 2, 3),
    "nearest-exact": (1, 2, 3),
    "linear": (1,),
    "bilinear": (2,),
    "bicubic": (2,),
    "trilinear": (3,),
}
#: Input values each mode reads per output value along one dimension.
_TAPS_PER_DIM = {"nearest": 1, "nearest-exact": 1, "linear": 2, "bilinear": 2, "bicubic": 4, "trilinear": 2}


def interpolation_taps(mode: str, spatial: int) -> int:
    """Return the input values one output value of `mode` reads over `spatial` dimensions."""
    return int(_TAPS_PER_DIM[mode] ** spatial)


@dataclass(frozen=True, slots=True)
class UpsampleArgs:
    """torch.nn.Upsample's arguments (exactly one of size and scale_factor)."""

    size: int | tuple[int, ...] | None = arg(None, optional(integers(1)))
    """Output size: an int for every spatial dimension or one per dimension."""
    scale_factor: float | tuple[float, ...] | None = arg(None, optional(positive_reals))
    """Multiplier of the spatial sizes, one or one per dimension; outputs are floored as in torch."""
    mode: str = arg("nearest", choice(*_MODE_DIMS))
    """Interpolation: nearest, nearest-exact, linear (1-D), bilinear, bicubic (2-D), trilinear (3-D)."""
    align_corners: bool | None = arg(None, optional(boolean))
    """Align corner pixels (interpolating modes only); null is torch's false."""


def _ints(value: Any) -> int | tuple[int, ...] | None:
    """Return torch's int, sequence of ints or None as the spec writes it: equal sizes as one."""
    if value is None or type(value) is int:
        return value
    sizes = tuple(int(item) for item in value)
    return sizes[0] if len(set(sizes)) == 1 else sizes


def _floats(value: Any) -> float | tuple[float, ...] | None:
    """Return torch's number, sequence of numbers or None as the spec writes it: equal ones as one,
    or None where it is none of these (a value computed while tracing)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, list | tuple) and value and all(isinstance(item, int | float) for item in value):
        factors = tuple(float(item) for item in value)
        return factors[0] if len(set(factors)) == 1 else factors
    return None


def _per_dim(value: T | tuple[T, ...], spatial: int, label: str) -> tuple[T, ...]:
    """Return one value per spatial dimension: a tuple checked for length, a scalar repeated."""
    if isinstance(value, tuple):
        if len(value) != spatial:
            raise ShapeError(
                f"{label} has {len(value)} entries but the input has {spatial} spatial dimensions"
            )
        return value
    return (value,) * spatial


@register
class Upsample(UnaryKind):
    """Resizes the spatial dimensions by interpolation."""

    keeps_layout = True
    name = "Upsample"
    Args = UpsampleArgs
    # nn.UpsamplingNearest2d and nn.UpsamplingBilinear2d derive from nn.Upsample with only their
    # own constructor: the importer reads them as this kind too.
    torch_types = ("torch.nn.Upsample",)
    torch_calls = ("torch.nn.functional.interpolate", "torch.nn.functional.upsample")

    def from_module(self, module: Any) -> UpsampleArgs:
        if module.recompute_scale_factor:
            raise NotImportable("recompute_scale_factor=True: its sizes come from the input it meets")
        return UpsampleArgs(
            size=_ints(module.size),
            scale_factor=None if module.scale_factor is None else _floats(module.scale_factor),
            mode=module.mode,
            align_corners=module.align_corners,
        )

    def from_call(self, call: TorchCall) -> tuple[ImportStep, ...] | None:
        """Read F.interpolate: a size computed while tracing (`x.shape[-2:]`) is the size torch gave.

        With recompute_scale_factor=True torch interpolates at the output size it computed, so that is
        the size too; antialiasing and the `area` mode are other computations."""
        if call.args[:1] != (TENSOR,) or len(call.input_shapes) != 1:
            return None
        size, scale = call.arg(1, "size", None), call.arg(2, "scale_factor", None)
        mode, align = call.arg(3, "mode", "nearest"), call.arg(4, "align_corners", None)
        recompute, antialias = call.arg(5, "recompute_scale_factor", None), call.arg(6, "antialias", False)
        if mode not in _MODE_DIMS or antialias is not False or align not in (None, True, False):
            return None
        if size is not None or recompute:
            size, scale = _ints(call.output_shape[1:]), None
        else:
            scale = _floats(scale)
            if scale is None:
                return None
        return ((self, UpsampleArgs(size=size, scale_factor=scale, mode=mode, align_corners=align)),)

    def output_shape(self, args: UpsampleArgs, shape: Shape) -> Shape:
        spatial = len(shape) - 1
        if spatial not in _MODE_DIMS[args.mode]:
            wanted = " or ".join(f"{d}-D" for d in _MODE_DIMS[args.mode])
            raise ShapeError(f"mode {args.mode!r} takes {wanted} spatial inputs, got {format_shape(shape)}")
        if args.align_corners is not None and _TAPS_PER_DIM[args.mode] == 1:
            raise ShapeError(
                f"align_corners applies to interpolating modes only, not {args.mode!r}; remove it"
            )
        if (args.size is None) == (args.scale_factor is None):
            raise ShapeError("give exactly one of size and scale_factor")
        if args.size is not None:
            sizes = _per_dim(args.size, spatial, "size")
        else:
            assert args.scale_factor is not None
            factors = _per_dim(args.scale_factor, spatial, "scale_factor")
            # torch floors the double product, as Python's float product does.
            sizes = tuple(math.floor(n * f) for n, f in zip(shape[1:], factors, strict=True))
            if min(sizes) < 1:
                raise ShapeError(
                    f"scale_factor {args.scale_factor} makes an empty {format_shape(sizes)} output from "
                    f"{format_shape(shape[1:])}; use a larger factor"
                )
        return (shape[0], *sizes)

    def cost(self, args: UpsampleArgs, in_shape: Shape, out_shape: Shape) -> LayerCost:
        taps = interpolation_taps(args.mode, len(in_shape) - 1)
        # Each output value is a weighted sum of its taps: taps multiplies and taps - 1 adds; nearest
        # modes copy one value and cost nothing.
        ops = 0 if taps == 1 else 2 * taps - 1
        return LayerCost(params=0, macs=0, elementwise_ops=ops * prod(out_shape), fan_in=taps)

    def receptive_field(
        self, args: UpsampleArgs, in_shape: Shape, rf: ReceptiveField | None
    ) -> ReceptiveField | None:
        rf = spatial_field(rf, in_shape)
        if rf is None:
            return None
        out_shape = self.output_shape(args, in_shape)
        extra = _TAPS_PER_DIM[args.mode] - 1
        return ReceptiveField(
            size=tuple(r + extra * j for r, j in zip(rf.size, rf.jump, strict=True)),
            # Neighbouring outputs are in/out input units apart; rounded up to whole units.
            jump=tuple(-(-j * n // o) for j, n, o in zip(rf.jump, in_shape[1:], out_shape[1:], strict=True)),
        )

    def autograd(self, args: UpsampleArgs, in_shape: Shape, out_shape: Shape, step: TrainingStep) -> Autograd:
        return Autograd()  # the backward needs only sizes

    def build(self, args: UpsampleArgs, in_shape: Shape, out_shape: Shape) -> torch.nn.Module:
        from torch import nn

        return nn.Upsample(
            size=args.size, scale_factor=args.scale_factor, mode=args.mode, align_corners=args.align_corners
        )


@dataclass(frozen=True, slots=True)
class PixelShuffleArgs:
    """torch.nn.PixelShuffle's argument."""

    upscale_factor: int = arg(REQUIRED, positive_int)
    """r: C*r*r channels become C channels r times as high and as wide."""


@dataclass(frozen=True, slots=True)
class PixelUnshuffleArgs:
    """torch.nn.PixelUnshuffle's argument."""

    downscale_factor: int = arg(REQUIRED, positive_int)
    """r: C channels become C*r*r channels r times lower and narrower."""


def _needs_image(kind: str, shape: Shape) -> None:
    # torch shuffles the last three dimensions of any tensor; on a sample of fewer it would move the
    # batch into the channels.
    if len(shape) < 3:
        raise ShapeError(f"{kind} needs a channels x height x width input, got {format_shape(shape)}")


@register
class PixelShuffle(UnaryKind):
    """Moves channels into space: [C*r*r, H, W] -> [C, H*r, W*r], a copy."""

    name = "PixelShuffle"
    torch_types = ("torch.nn.PixelShuffle",)
    Args = PixelShuffleArgs

    def output_shape(self, args: PixelShuffleArgs, shape: Shape) -> Shape:
        _needs_image(self.name, shape)
        *lead, channels, height, width = shape
        r = args.upscale_factor
        if channels % (r * r):
            raise ShapeError(f"its {channels} channels are not divisible by upscale_factor^2 = {r * r}")
        return (*lead, channels // (r * r), height * r, width * r)

    def cost(self, args: PixelShuffleArgs, in_shape: Shape, out_shape: Shape) -> LayerCost:
        return LayerCost(params=0, macs=0, elementwise_ops=0, fan_in=1)

    def receptive_field(
        self, args: PixelShuffleArgs, in_shape: Shape, rf: ReceptiveField | None
    ) -> ReceptiveField | None:
        rf = spatial_field(rf, in_shape) if len(in_shape) == 3 else None
        if rf is None:
            return None
        r = args.upscale_factor
        return ReceptiveField(size=rf.size, jump=tuple(-(-j // r) for j in rf.jump))

    def autograd(
        self, args: PixelShuffleArgs, in_shape: Shape, out_shape: Shape, step: TrainingStep
    ) -> Autograd:
        return Autograd()  # the backward needs only sizes

    def build(self, args: PixelShuffleArgs, in_shape: Shape, out_shape: Shape) -> torch.nn.Module:
        from torch import nn

        return nn.PixelShuffle(args.upscale_factor)


@register
class PixelUnshuffle(UnaryKind):
    """Moves space into channels: [C, H*r, W*r] -> [C*r*r, H, W], a copy."""

    name = "PixelUnshuffle"
    torch_types = ("torch.nn.PixelUnshuffle",)
    Args = PixelUnshuffleArgs

    def output_shape(self, args: PixelUnshuffleArgs, shape: Shape) -> Shape:
        _needs_image(self.name, shape)
        *lead, channels, height, width = shape
        r = args.downscale_factor
        if height % r or width % r:
            raise ShapeError(f"its {height}x{width} positions are not divisible by downscale_factor={r}")
        return (*lead, channels * r * r, height // r, width // r)

    def cost(self, args: PixelUnshuffleArgs, in_shape: Shape, out_shape: Shape) -> LayerCost:
        return LayerCost(params=0, macs=0, elementwise_ops=0, fan_in=1)

    def receptive_field(
        self, args: PixelUnshuffleArgs, in_shape: Shape, rf: ReceptiveField | None
    ) -> ReceptiveField | None:
        rf = spatial_field(rf, in_shape) if len(in_shape) == 3 else None
        if rf is None:
            return None
        r = args.downscale_factor
        # The channels at one output position come from an r x r block of input positions.
        return ReceptiveField(
            size=tuple(s + (r - 1) * j for s, j in zip(rf.size, rf.jump, strict=True)),
            jump=tuple(j * r for j in rf.jump),
        )

    def autograd(
        self, args: PixelUnshuffleArgs, in_shape: Shape, out_shape: Shape, step: TrainingStep
    ) -> Autograd:
        return Autograd()  # the backward needs only sizes

    def build(self, args: PixelUnshuffleArgs, in_shape: Shape, out_shape: Shape) -> torch.nn.Module:
        from torch import nn

        return nn.PixelUnshuffle(args.downscale_factor)
