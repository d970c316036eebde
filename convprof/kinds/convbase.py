"""What convolutions of every rank share (1-D, 2-D, 3-D, transposed or not): their arguments, the
ranks and padding modes, their geometry, and the base class of every convolution kind and of its
counterfactuals (convprof.kinds.conv and convprof.kinds.convvariants)."""

from __future__ import annotations

import math
from dataclasses import field, fields, make_dataclass, replace
from typing import Any, ClassVar

from convprof.kinds.base import ShapeError, UnaryKind
from convprof.kinds.records import (
    Autograd,
    LayerCost,
    TrainingStep,
    round_width,
)
from convprof.kinds.strides import Layout
from convprof.spec import Shape, prod
from convprof.spec.args import (
    DIMENSIONS,
    REQUIRED,
    arg,
    boolean,
    choice,
    conv_padding_arg,
    positive_int,
    sizes,
)

__all__ = [
    "CONV_ARGS",
    "PADDING_MODES",
    "RANKS",
    "TRANSPOSE_ARGS",
    "Convolution",
    "conv_padding",
    "spatial",
    "spatial_2d",
]

RANKS = (1, 2, 3)

#: torch's padding modes: how a convolution fills its padding (counts are the same for each).
PADDING_MODES = ("zeros", "reflect", "replicate", "circular")


def _frozen(name: str, fields: list[tuple[str, Any, Any]]) -> type:
    """Return a frozen, slotted dataclass of `fields` that belongs to this module."""
    cls = make_dataclass(name, fields, frozen=True, slots=True)
    cls.__module__ = __name__
    return cls


def _conv_args(rank: int) -> type:
    """Return torch.nn.Conv{rank}d's arguments as a frozen dataclass; in_channels is inferred."""
    one = (1,) * rank
    return _frozen(
        f"Conv{rank}dArgs",
        [
            ("out_channels", int, arg(REQUIRED, positive_int)),
            ("kernel_size", tuple[int, ...], arg(REQUIRED, sizes(rank, 1))),
            ("stride", tuple[int, ...], arg(one, sizes(rank, 1))),
            ("padding", tuple[int, ...] | str, arg((0,) * rank, conv_padding_arg(rank))),
            ("dilation", tuple[int, ...], arg(one, sizes(rank, 1))),
            ("groups", int, arg(1, positive_int)),
            ("bias", bool, arg(True, boolean)),
            ("padding_mode", str, arg("zeros", choice(*PADDING_MODES))),
        ],
    )


def _transpose_args(rank: int) -> type:
    """Return torch.nn.ConvTranspose{rank}d's arguments as a frozen dataclass; in_channels is inferred."""
    one, zero = (1,) * rank, (0,) * rank
    return _frozen(
        f"ConvTranspose{rank}dArgs",
        [
            ("out_channels", int, arg(REQUIRED, positive_int)),
            ("kernel_size", tuple[int, ...], arg(REQUIRED, sizes(rank, 1))),
            ("stride", tuple[int, ...], arg(one, sizes(rank, 1))),
            ("padding", tuple[int, ...], arg(zero, sizes(rank, 0))),
            ("output_padding", tuple[int, ...], arg(zero, sizes(rank, 0))),
            ("groups", int, arg(1, positive_int)),
            ("bias", bool, arg(True, boolean)),
            ("dilation", tuple[int, ...], arg(one, sizes(rank, 1))),
            # torch builds transposed convolutions with zero padding only.
            ("padding_mode", str, field(default="zeros", metadata={"coerce": choice("zeros")})),
        ],
    )


#: Argument dataclasses by rank.
CONV_ARGS: dict[int, type] = {rank: _conv_args(rank) for rank in RANKS}
TRANSPOSE_ARGS: dict[int, type] = {rank: _transpose_args(rank) for rank in RANKS}


def conv_padding(args: Any) -> tuple[tuple[int, int], ...]:
    """Return (before, after) padding per spatial dimension, resolving 'same' as torch does."""
    rank = len(args.kernel_size)
    if args.padding == "valid":
        return ((0, 0),) * rank
    if args.padding == "same":
        result = []
        for k, d in zip(args.kernel_size, args.dilation, strict=True):
            total = d * (k - 1)
            result.append((total // 2, total - total // 2))  # torch puts the odd pixel after
        return tuple(result)
    return tuple((p, p) for p in args.padding)


def spatial(kind: str, shape: Shape, rank: int) -> tuple[int, tuple[int, ...]]:
    """Return (channels, spatial sizes) of a per-sample shape, or say which input the kind needs."""
    if len(shape) != rank + 1:
        dims = "x".join(map(str, shape))
        needs = " x ".join(("channels", *DIMENSIONS[rank]))
        raise ShapeError(f"{kind} needs a {needs} input, got {dims}")
    return shape[0], tuple(shape[1:])


def spatial_2d(kind: str, shape: Shape) -> tuple[int, int, int]:
    """Return (C, H, W) of a per-sample shape, or say which input the kind needs."""
    channels, (height, width) = spatial(kind, shape, 2)
    return channels, height, width


#: Convolution arguments torch holds as one size per spatial dimension.
_SIZED = ("kernel_size", "stride", "padding", "output_padding", "dilation")


class Convolution(UnaryKind):
    """What every convolution shares: channel checks, shared-weight counts and width scaling."""

    torch_class_of_its_name = True

    rank: ClassVar[int]
    transposed: ClassVar[bool] = False

    def from_module(self, module: Any) -> Any:
        """Read a torch convolution's arguments (its attributes carry torch's names)."""
        values: dict[str, Any] = {}
        for item in fields(self.Args):
            value = getattr(module, item.name)
            if item.name == "bias":
                value = value is not None
            elif item.name in _SIZED and not isinstance(value, str):
                value = (value,) * self.rank if isinstance(value, int) else tuple(int(v) for v in value)
            elif item.name in ("out_channels", "groups"):
                value = int(value)
            values[item.name] = value
        return self.Args(**values)

    def _check_channels(self, args: Any, channels: int) -> None:
        if channels % args.groups:
            raise ShapeError(
                f"groups={args.groups} does not divide the {channels} input channels; "
                f"use a divisor of {channels}"
            )
        if args.out_channels % args.groups:
            raise ShapeError(
                f"groups={args.groups} does not divide out_channels={args.out_channels}; "
                f"use a multiple of {args.groups}"
            )

    def macs(self, args: Any, in_shape: Shape, out_shape: Shape) -> int:
        """Multiply-accumulates of the shared-weight layer, which the local variant keeps."""
        groups: int = args.groups
        kernel = prod(args.kernel_size)
        if self.transposed:  # every input element meets out_channels / groups x kernel weights
            out_channels: int = args.out_channels
            return prod(in_shape) * (out_channels // groups) * kernel
        return prod(out_shape) * (in_shape[0] // groups) * kernel

    def fan_in(self, args: Any, in_shape: Shape) -> int:
        """Input units each output unit is connected to (at most, for a transposed convolution)."""
        groups: int = args.groups
        per_group = in_shape[0] // groups
        if not self.transposed:
            return per_group * prod(args.kernel_size)
        # Kernel taps u land on an output o when u * dilation = o + padding (mod stride): at most
        # ceil(k / (stride / gcd(stride, dilation))) of them, and no more than the inputs there are.
        taps = 1
        for k, s, d, size in zip(args.kernel_size, args.stride, args.dilation, in_shape[1:], strict=True):
            period = s // math.gcd(s, d)
            taps *= min(-(-k // period), size)
        return per_group * taps

    def cost(self, args: Any, in_shape: Shape, out_shape: Shape) -> LayerCost:
        weights = in_shape[0] * (args.out_channels // args.groups) * prod(args.kernel_size)
        bias = args.out_channels if args.bias else 0
        return LayerCost(
            params=weights + bias,
            macs=self.macs(args, in_shape, out_shape),
            elementwise_ops=prod(out_shape) if args.bias else 0,
            fan_in=self.fan_in(args, in_shape),
        )

    def param_tensors(self, args: Any, in_shape: Shape, out_shape: Shape) -> tuple[int, ...]:
        cost = self.cost(args, in_shape, out_shape)
        bias = self._bias_elements(args, out_shape)
        return (cost.params - bias, bias) if bias else (cost.params,)

    def _bias_elements(self, args: Any, out_shape: Shape) -> int:
        """Elements of the bias: one per output channel (the local and dense variants: per output)."""
        return int(args.out_channels) if args.bias else 0

    def autograd(self, args: Any, in_shape: Shape, out_shape: Shape, step: TrainingStep) -> Autograd:
        """Keep the input (for the weights' gradient); the backward returns the input's gradient when
        it is needed, and the weights' and bias's. On a channels-last input torch computes the
        weights' gradient channels-last too, and copies it into the weights' own layout."""
        if step.layouts and step.layouts[0].is_channels_last and step.trainable:
            weight = self.param_tensors(args, in_shape, out_shape)[0]
            return Autograd(keeps_inputs=(0,), backward_after=weight * step.itemsize)
        return Autograd(keeps_inputs=(0,))

    def node_layout(
        self, args: Any, in_shapes: tuple[Shape, ...], out_shape: Shape, layouts: tuple[Layout, ...]
    ) -> Layout:
        """torch's convolutions answer a channels-last input (channels innermost in memory) with a
        channels-last output, and any other with a contiguous one."""
        batched = (layouts[0].shape[0], *out_shape)
        return Layout.channels_last(batched) if layouts[0].is_channels_last else Layout.contiguous(batched)

    def scale_width(self, args: Any, old_input: Shape, new_input: Shape, multiplier: float) -> Any:
        """Scale out_channels; grouped convs keep a valid grouping (see `convprof sweep --width`).

        - groups == 1: out_channels -> round(out_channels x multiplier), at least 1.
        - depthwise (groups == in_channels): groups follows the new in_channels and out_channels keeps
          the depth multiplier (out_channels / groups), so it tracks the width of the layer before.
        - other grouped convs: out_channels rounds to a multiple of groups (at least groups); groups
          drops to gcd(groups, new in_channels) when the new input channels no longer divide.
        """
        old_in, new_in = old_input[0], new_input[0]
        groups, out = args.groups, args.out_channels
        if groups == 1:
            new_out, new_groups = round_width(out * multiplier), 1
        elif groups == old_in:
            new_groups = new_in
            new_out = new_in * (out // groups)
        else:
            new_out = groups * round_width(out * multiplier / groups)
            new_groups = math.gcd(groups, new_in)
        return replace(args, out_channels=new_out, groups=new_groups)
