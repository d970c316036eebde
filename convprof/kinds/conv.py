"""Conv2d and the two counterfactuals the variants put in its place."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, ClassVar

from convprof.args import REQUIRED, Pair, arg, boolean, padding, positive_int, positive_pair
from convprof.kinds.base import (
    LayerCost,
    NotImportable,
    ReceptiveField,
    ShapeError,
    UnaryKind,
    as_pair,
    prod,
    register,
    round_width,
    spatial_field,
)
from convprof.spec import Shape

if TYPE_CHECKING:
    import torch

__all__ = ["Conv2d", "Conv2dArgs", "DenseConv2d", "LocallyConnected2d", "conv_padding"]


@dataclass(frozen=True, slots=True)
class Conv2dArgs:
    """torch.nn.Conv2d's arguments; in_channels is inferred."""

    out_channels: int = arg(REQUIRED, positive_int)
    """Output channels (filters)."""
    kernel_size: Pair = arg(REQUIRED, positive_pair)
    """Kernel height and width."""
    stride: Pair = arg((1, 1), positive_pair)
    """Step between windows."""
    padding: Pair | str = arg((0, 0), padding)
    """Zero padding per side, or 'same' / 'valid'."""
    dilation: Pair = arg((1, 1), positive_pair)
    """Spacing between kernel elements."""
    groups: int = arg(1, positive_int)
    """Blocked connections from input to output channels."""
    bias: bool = arg(True, boolean)
    """Whether the layer adds a learnable bias."""


def conv_padding(args: Conv2dArgs) -> tuple[tuple[int, int], tuple[int, int]]:
    """Return (before, after) padding per spatial dimension, resolving 'same' as torch does."""
    if args.padding == "valid":
        return ((0, 0), (0, 0))
    if args.padding == "same":
        result = []
        for k, d in zip(args.kernel_size, args.dilation, strict=True):
            total = d * (k - 1)
            result.append((total // 2, total - total // 2))  # torch puts the odd pixel after
        return (result[0], result[1])
    assert isinstance(args.padding, tuple)
    ph, pw = args.padding
    return ((ph, ph), (pw, pw))


def spatial_2d(kind: str, shape: Shape) -> tuple[int, int, int]:
    """Return (C, H, W) of a per-sample shape, or say which input the kind needs."""
    if len(shape) != 3:
        dims = "x".join(map(str, shape))
        raise ShapeError(f"{kind} needs a channels x height x width input, got {dims}")
    return shape[0], shape[1], shape[2]


@register
class Conv2d(UnaryKind):
    """A 2-D convolution with weights shared across positions."""

    name = "Conv2d"
    Args = Conv2dArgs
    counterfactuals: ClassVar[Mapping[str, str]] = {"local": "LocallyConnected2d", "dense": "DenseConv2d"}
    torch_types: ClassVar[tuple[str, ...]] = ("torch.nn.Conv2d",)

    def from_module(self, module: Any) -> Conv2dArgs:
        mode = getattr(module, "padding_mode", "zeros")
        if mode != "zeros":
            raise NotImportable(f"padding_mode={mode!r}: convprof counts zero padding only")
        padding = module.padding
        return Conv2dArgs(
            out_channels=int(module.out_channels),
            kernel_size=as_pair(module.kernel_size),
            stride=as_pair(module.stride),
            padding=padding if isinstance(padding, str) else as_pair(padding),
            dilation=as_pair(module.dilation),
            groups=int(module.groups),
            bias=module.bias is not None,
        )

    def output_shape(self, args: Conv2dArgs, shape: Shape) -> Shape:
        channels, height, width = spatial_2d(self.name, shape)
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
        if args.padding == "same" and args.stride != (1, 1):
            raise ShapeError("padding='same' needs stride 1 (as in torch); give the padding as numbers")
        pads = conv_padding(args)
        padded = [size + before + after for size, (before, after) in zip((height, width), pads, strict=True)]
        effective = [d * (k - 1) + 1 for k, d in zip(args.kernel_size, args.dilation, strict=True)]
        if any(e > p for e, p in zip(effective, padded, strict=True)):
            kernel = "x".join(map(str, effective))
            if args.dilation != (1, 1):
                kernel += " (dilated)"
            raise ShapeError(
                f"kernel {kernel} is larger than its {padded[0]}x{padded[1]} padded input; "
                "use a smaller kernel or more padding"
            )
        out = tuple((p - e) // s + 1 for p, e, s in zip(padded, effective, args.stride, strict=True))
        return (args.out_channels, out[0], out[1])

    def cost(self, args: Conv2dArgs, in_shape: Shape, out_shape: Shape) -> LayerCost:
        window = in_shape[0] // args.groups * prod(args.kernel_size)
        outputs = prod(out_shape)
        bias = args.out_channels if args.bias else 0
        return LayerCost(
            params=args.out_channels * window + bias,
            macs=outputs * window,
            elementwise_ops=outputs if args.bias else 0,
            fan_in=window,
        )

    def receptive_field(
        self, args: Conv2dArgs, in_shape: Shape, rf: ReceptiveField | None
    ) -> ReceptiveField | None:
        rf = spatial_field(rf, in_shape)
        if rf is None:
            return None
        effective = [d * (k - 1) + 1 for k, d in zip(args.kernel_size, args.dilation, strict=True)]
        return ReceptiveField(
            size=tuple(r + (e - 1) * j for r, e, j in zip(rf.size, effective, rf.jump, strict=True)),
            jump=tuple(j * s for j, s in zip(rf.jump, args.stride, strict=True)),
        )

    def scale_width(
        self, args: Conv2dArgs, old_input: Shape, new_input: Shape, multiplier: float
    ) -> Conv2dArgs:
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

    def build(self, args: Conv2dArgs, in_shape: Shape, out_shape: Shape) -> torch.nn.Module:
        from torch import nn

        return nn.Conv2d(
            in_shape[0],
            args.out_channels,
            args.kernel_size,
            stride=args.stride,
            padding=args.padding,
            dilation=args.dilation,
            groups=args.groups,
            bias=args.bias,
        )


@register
class LocallyConnected2d(Conv2d):
    """Conv2d's window, stride, padding, dilation and groups, with unshared weights per position."""

    name = "LocallyConnected2d"
    counterfactuals: ClassVar[Mapping[str, str]] = {}
    torch_types = ()  # only variants make it
    public = False

    def cost(self, args: Conv2dArgs, in_shape: Shape, out_shape: Shape) -> LayerCost:
        window = in_shape[0] // args.groups * prod(args.kernel_size)
        outputs = prod(out_shape)
        return LayerCost(
            params=outputs * window + (outputs if args.bias else 0),
            macs=outputs * window,
            elementwise_ops=outputs if args.bias else 0,
            fan_in=window,
        )

    def build(self, args: Conv2dArgs, in_shape: Shape, out_shape: Shape) -> torch.nn.Module:
        from convprof.nn import LocallyConnected2d as Module

        return Module(
            in_shape,
            out_shape,
            kernel_size=args.kernel_size,
            stride=args.stride,
            padding=conv_padding(args),
            dilation=args.dilation,
            groups=args.groups,
            bias=args.bias,
        )


@register
class DenseConv2d(Conv2d):
    """A fully connected layer from Conv2d's whole input volume to its whole output volume."""

    name = "DenseConv2d"
    counterfactuals: ClassVar[Mapping[str, str]] = {}
    torch_types = ()  # only variants make it
    public = False

    def cost(self, args: Conv2dArgs, in_shape: Shape, out_shape: Shape) -> LayerCost:
        inputs, outputs = prod(in_shape), prod(out_shape)
        return LayerCost(
            params=inputs * outputs + (outputs if args.bias else 0),
            macs=inputs * outputs,
            elementwise_ops=outputs if args.bias else 0,
            fan_in=inputs,
        )

    def receptive_field(
        self, args: Conv2dArgs, in_shape: Shape, rf: ReceptiveField | None
    ) -> ReceptiveField | None:
        return None

    def build(self, args: Conv2dArgs, in_shape: Shape, out_shape: Shape) -> torch.nn.Module:
        from convprof.nn import DenseVolume

        return DenseVolume(in_shape, out_shape, bias=args.bias)
