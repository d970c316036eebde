"""Max, average and adaptive 2-D pooling, with torch's output-size formulas."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from convprof.args import (
    REQUIRED,
    Pair,
    arg,
    boolean,
    nonneg_pair,
    optional,
    output_size,
    positive_int,
    positive_pair,
)
from convprof.kinds.base import (
    TENSOR,
    ImportStep,
    LayerCost,
    NotImportable,
    ReceptiveField,
    ShapeError,
    TorchCall,
    UnaryKind,
    as_pair,
    prod,
    register,
    spatial_field,
)
from convprof.kinds.conv import spatial_2d
from convprof.kinds.linear import Flatten, FlattenArgs
from convprof.spec import Shape

if TYPE_CHECKING:
    import torch

__all__ = [
    "AdaptiveAvgPool2d",
    "AdaptiveMaxPool2d",
    "AvgPool2d",
    "MaxPool2d",
    "adaptive_window_max",
    "adaptive_window_sum",
    "pool_output_size",
]


def pool_output_size(size: int, kernel: int, pad: int, stride: int, dilation: int, ceil: bool) -> int:
    """Return torch's pooling_output_shape: floor (or ceil) division, no window starting in padding."""
    numerator = size + 2 * pad - dilation * (kernel - 1) - 1 + (stride - 1 if ceil else 0)
    out = numerator // stride + 1
    if ceil and (out - 1) * stride >= size + pad:
        out -= 1
    return out


# Adaptive pooling's output i reads inputs floor(i*n/o) up to ceil((i+1)*n/o), so its window is
# w_i = ceil((i+1)*n/o) - floor(i*n/o). Both functions below are closed forms of the o windows (an
# output size of 10**7 must not build a list): with n = q*o + r and g = gcd(n, o), the residues i*n mod o
# run through every multiple of g below o, which gives the sum and the largest window directly.


def adaptive_window_sum(size: int, out: int) -> int:
    """Return the total length of the `out` adaptive pooling windows over `size` inputs: n + o - gcd."""
    return size + out - math.gcd(size, out)


def adaptive_window_max(size: int, out: int) -> int:
    """Return the longest of the `out` adaptive pooling windows over `size` inputs."""
    quotient, remainder = divmod(size, out)
    if remainder == 0:
        return quotient
    # w_i = q + ceil((i*n mod o + r) / o): 1 extra unless some residue i*n mod o exceeds o - r, which the
    # largest residue (o - g) does exactly when r != g.
    return quotient + (1 if remainder == math.gcd(size, out) else 2)


@dataclass(frozen=True, slots=True)
class MaxPool2dArgs:
    """torch.nn.MaxPool2d's arguments (return_indices is not supported: it changes the output)."""

    kernel_size: Pair = arg(REQUIRED, positive_pair)
    """Window height and width."""
    stride: Pair | None = arg(None, optional(positive_pair))
    """Step between windows; defaults to kernel_size."""
    padding: Pair = arg((0, 0), nonneg_pair)
    """Implicit padding per side (at most half the kernel)."""
    dilation: Pair = arg((1, 1), positive_pair)
    """Spacing between window elements."""
    ceil_mode: bool = arg(False, boolean)
    """Round the output size up instead of down."""


@dataclass(frozen=True, slots=True)
class AvgPool2dArgs:
    """torch.nn.AvgPool2d's arguments."""

    kernel_size: Pair = arg(REQUIRED, positive_pair)
    """Window height and width."""
    stride: Pair | None = arg(None, optional(positive_pair))
    """Step between windows; defaults to kernel_size."""
    padding: Pair = arg((0, 0), nonneg_pair)
    """Implicit zero padding per side (at most half the kernel)."""
    ceil_mode: bool = arg(False, boolean)
    """Round the output size up instead of down."""
    count_include_pad: bool = arg(True, boolean)
    """Count padding zeros in the average."""
    divisor_override: int | None = arg(None, optional(positive_int))
    """Divide by this instead of the window size."""


def _stride(value: Any) -> Pair | None:
    """Return a pooling stride as a pair; torch reads None and [] as the kernel size."""
    return None if value is None or value == [] or value == () else as_pair(value)


def _max_args(kernel: Any, stride: Any, padding: Any, dilation: Any, ceil_mode: Any) -> MaxPool2dArgs:
    return MaxPool2dArgs(
        as_pair(kernel), _stride(stride), as_pair(padding), as_pair(dilation), bool(ceil_mode)
    )


def _avg_args(
    kernel: Any, stride: Any, padding: Any, ceil_mode: Any, include_pad: Any, divisor: Any
) -> AvgPool2dArgs:
    return AvgPool2dArgs(
        as_pair(kernel), _stride(stride), as_pair(padding), bool(ceil_mode), bool(include_pad), divisor
    )


def _output_size(value: Any) -> tuple[int | None, int | None]:
    """Return an adaptive pool's output size as a pair (None keeps the input's size)."""
    if value is None or isinstance(value, int):
        return (value, value)
    first, second = value
    return (first, second)


#: Dimensions of a batched (N, C, H, W) tensor that average over the spatial ones.
_SPATIAL_DIMS = {2, 3}


class _WindowPool(UnaryKind):
    """Shared shape and counting logic of fixed-window pooling."""

    def _dilation(self, args: MaxPool2dArgs | AvgPool2dArgs) -> Pair:
        return args.dilation if isinstance(args, MaxPool2dArgs) else (1, 1)

    def output_shape(self, args: MaxPool2dArgs | AvgPool2dArgs, shape: Shape) -> Shape:
        channels, height, width = spatial_2d(self.name, shape)
        stride = args.stride or args.kernel_size
        for k, p in zip(args.kernel_size, args.padding, strict=True):
            if p > k // 2:
                raise ShapeError(
                    f"padding {p} is more than half the kernel size {k}; use padding <= {k // 2}"
                )
        out = tuple(
            pool_output_size(size, k, p, s, d, args.ceil_mode)
            for size, k, p, s, d in zip(
                (height, width),
                args.kernel_size,
                args.padding,
                stride,
                self._dilation(args),
                strict=True,
            )
        )
        if out[0] < 1 or out[1] < 1:
            sizes = zip((height, width), args.padding, strict=True)
            padded = "x".join(str(size + 2 * p) for size, p in sizes)
            kernel = "x".join(map(str, args.kernel_size))
            raise ShapeError(
                f"window {kernel} does not fit its {padded} padded input (output would be "
                f"{out[0]}x{out[1]}); use a smaller window or more padding"
            )
        return (channels, out[0], out[1])

    def cost(self, args: MaxPool2dArgs | AvgPool2dArgs, in_shape: Shape, out_shape: Shape) -> LayerCost:
        window = prod(args.kernel_size)
        return LayerCost(params=0, macs=0, elementwise_ops=prod(out_shape) * window, fan_in=window)

    def receptive_field(
        self, args: MaxPool2dArgs | AvgPool2dArgs, in_shape: Shape, rf: ReceptiveField | None
    ) -> ReceptiveField | None:
        rf = spatial_field(rf, in_shape)
        if rf is None:
            return None
        stride = args.stride or args.kernel_size
        effective = [d * (k - 1) + 1 for k, d in zip(args.kernel_size, self._dilation(args), strict=True)]
        return ReceptiveField(
            size=tuple(r + (e - 1) * j for r, e, j in zip(rf.size, effective, rf.jump, strict=True)),
            jump=tuple(j * s for j, s in zip(rf.jump, stride, strict=True)),
        )


@register
class MaxPool2d(_WindowPool):
    """Maximum over each window."""

    name = "MaxPool2d"
    Args = MaxPool2dArgs
    torch_types = ("torch.nn.MaxPool2d",)
    torch_calls = ("torch.nn.functional.max_pool2d",)

    def from_module(self, module: Any) -> MaxPool2dArgs:
        if module.return_indices:
            raise NotImportable("return_indices=True: it returns a second tensor")
        return _max_args(module.kernel_size, module.stride, module.padding, module.dilation, module.ceil_mode)

    def from_call(self, call: TorchCall) -> tuple[ImportStep, ...] | None:
        if call.args[:1] != (TENSOR,) or call.arg(6, "return_indices", False):
            return None
        args = _max_args(
            call.arg(1, "kernel_size", None),
            call.arg(2, "stride", None),
            call.arg(3, "padding", 0),
            call.arg(4, "dilation", 1),
            call.arg(5, "ceil_mode", False),
        )
        return ((self, args),)

    def build(self, args: MaxPool2dArgs, in_shape: Shape, out_shape: Shape) -> torch.nn.Module:
        from torch import nn

        return nn.MaxPool2d(
            args.kernel_size, args.stride, args.padding, args.dilation, ceil_mode=args.ceil_mode
        )


@register
class AvgPool2d(_WindowPool):
    """Mean over each window."""

    name = "AvgPool2d"
    Args = AvgPool2dArgs
    torch_types = ("torch.nn.AvgPool2d",)
    torch_calls = ("torch.nn.functional.avg_pool2d",)

    def from_module(self, module: Any) -> AvgPool2dArgs:
        return _avg_args(
            module.kernel_size,
            module.stride,
            module.padding,
            module.ceil_mode,
            module.count_include_pad,
            module.divisor_override,
        )

    def from_call(self, call: TorchCall) -> tuple[ImportStep, ...] | None:
        if call.args[:1] != (TENSOR,):
            return None
        args = _avg_args(
            call.arg(1, "kernel_size", None),
            call.arg(2, "stride", None),
            call.arg(3, "padding", 0),
            call.arg(4, "ceil_mode", False),
            call.arg(5, "count_include_pad", True),
            call.arg(6, "divisor_override", None),
        )
        return ((self, args),)

    def build(self, args: AvgPool2dArgs, in_shape: Shape, out_shape: Shape) -> torch.nn.Module:
        from torch import nn

        return nn.AvgPool2d(
            args.kernel_size,
            args.stride,
            args.padding,
            ceil_mode=args.ceil_mode,
            count_include_pad=args.count_include_pad,
            divisor_override=args.divisor_override,
        )


@dataclass(frozen=True, slots=True)
class AdaptivePool2dArgs:
    """Adaptive pooling's one argument."""

    output_size: tuple[int | None, int | None] = arg(REQUIRED, output_size)
    """Target height and width; null keeps the input's."""


class _AdaptivePool(UnaryKind):
    Args = AdaptivePool2dArgs

    def from_module(self, module: Any) -> AdaptivePool2dArgs:
        if getattr(module, "return_indices", False):
            raise NotImportable("return_indices=True: it returns a second tensor")
        return AdaptivePool2dArgs(_output_size(module.output_size))

    def output_shape(self, args: AdaptivePool2dArgs, shape: Shape) -> Shape:
        channels, height, width = spatial_2d(self.name, shape)
        oh, ow = args.output_size
        return (channels, height if oh is None else oh, width if ow is None else ow)

    def cost(self, args: AdaptivePool2dArgs, in_shape: Shape, out_shape: Shape) -> LayerCost:
        (height, width), (oh, ow) = in_shape[1:], out_shape[1:]
        return LayerCost(
            params=0,
            macs=0,
            elementwise_ops=out_shape[0] * adaptive_window_sum(height, oh) * adaptive_window_sum(width, ow),
            fan_in=adaptive_window_max(height, oh) * adaptive_window_max(width, ow),
        )

    def receptive_field(
        self, args: AdaptivePool2dArgs, in_shape: Shape, rf: ReceptiveField | None
    ) -> ReceptiveField | None:
        rf = spatial_field(rf, in_shape)
        if rf is None:
            return None
        out = self.output_shape(args, in_shape)[1:]
        windows = [adaptive_window_max(size, o) for size, o in zip(in_shape[1:], out, strict=True)]
        # Adaptive windows start at floor(i * size / out): the largest step between starts.
        steps = [max(1, -((-size) // o)) if o > 1 else 1 for size, o in zip(in_shape[1:], out, strict=True)]
        return ReceptiveField(
            size=tuple(r + (w - 1) * j for r, w, j in zip(rf.size, windows, rf.jump, strict=True)),
            jump=tuple(j * s for j, s in zip(rf.jump, steps, strict=True)),
        )


@register
class AdaptiveAvgPool2d(_AdaptivePool):
    """Mean over adaptive windows that tile the input into output_size cells."""

    name = "AdaptiveAvgPool2d"
    torch_types = ("torch.nn.AdaptiveAvgPool2d",)
    torch_calls = ("torch.nn.functional.adaptive_avg_pool2d", "Tensor.mean", "torch.mean")

    def from_call(self, call: TorchCall) -> tuple[ImportStep, ...] | None:
        """Read F.adaptive_avg_pool2d, and a mean over both spatial dimensions as a pool to 1x1."""
        if call.args[:1] != (TENSOR,) or len(call.input_shapes) != 1:
            return None
        if call.target.endswith("adaptive_avg_pool2d"):
            return ((self, AdaptivePool2dArgs(_output_size(call.arg(1, "output_size", None)))),)
        dims = call.arg(1, "dim", None)
        if len(call.input_shapes[0]) != 3 or call.arg(3, "dtype", None) is not None:
            return None
        dims = [dims] if isinstance(dims, int) else list(dims or ())
        if {d % 4 for d in dims} != _SPATIAL_DIMS or len(dims) != len(_SPATIAL_DIMS):
            return None
        pool = (self, AdaptivePool2dArgs((1, 1)))
        if call.arg(2, "keepdim", False):
            return (pool,)
        return (pool, (Flatten(), FlattenArgs(1, -1)))  # keepdim=False drops the two 1x1 dimensions

    def build(self, args: AdaptivePool2dArgs, in_shape: Shape, out_shape: Shape) -> torch.nn.Module:
        from torch import nn

        return nn.AdaptiveAvgPool2d(args.output_size)


@register
class AdaptiveMaxPool2d(_AdaptivePool):
    """Maximum over adaptive windows that tile the input into output_size cells."""

    name = "AdaptiveMaxPool2d"
    torch_types = ("torch.nn.AdaptiveMaxPool2d",)
    torch_calls = ("torch.nn.functional.adaptive_max_pool2d",)

    def from_call(self, call: TorchCall) -> tuple[ImportStep, ...] | None:
        if call.args[:1] != (TENSOR,) or call.arg(2, "return_indices", False):
            return None
        return ((self, AdaptivePool2dArgs(_output_size(call.arg(1, "output_size", None)))),)

    def build(self, args: AdaptivePool2dArgs, in_shape: Shape, out_shape: Shape) -> torch.nn.Module:
        from torch import nn

        return nn.AdaptiveMaxPool2d(args.output_size)
