"""Max, average, power-average and adaptive pooling of every rank, with torch's output-size formulas."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import fields as dataclass_fields
from dataclasses import make_dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from convprof.kinds.base import ImportStep, ShapeError, UnaryKind, register
from convprof.kinds.calls import TENSOR, NotImportable, TorchCall
from convprof.kinds.convbase import RANKS, spatial
from convprof.kinds.linear import Flatten, FlattenArgs
from convprof.kinds.records import (
    INDEX_BYTES,
    Autograd,
    LayerCost,
    ReceptiveField,
    TrainingStep,
    spatial_field,
)
from convprof.spec import Shape, prod
from convprof.spec.args import (
    REQUIRED,
    arg,
    boolean,
    optional,
    output_sizes,
    positive_float,
    positive_int,
    sizes,
)

if TYPE_CHECKING:
    import torch

__all__ = [
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


def _frozen(name: str, fields: list[tuple[str, Any, Any]]) -> type:
    """Return a frozen, slotted dataclass of `fields` that belongs to this module."""
    cls = make_dataclass(name, fields, frozen=True, slots=True)
    cls.__module__ = __name__
    return cls


def _window_args(kind: str, rank: int) -> type:
    """Return torch.nn.{kind}{rank}d's arguments (not return_indices: it changes the output)."""
    fields: list[tuple[str, Any, Any]]
    window: list[tuple[str, Any, Any]] = [
        ("kernel_size", tuple[int, ...], arg(REQUIRED, sizes(rank, 1))),
        ("stride", tuple[int, ...] | None, arg(None, optional(sizes(rank, 1)))),
    ]
    ceil: tuple[str, Any, Any] = ("ceil_mode", bool, arg(False, boolean))
    padding: tuple[str, Any, Any] = ("padding", tuple[int, ...], arg((0,) * rank, sizes(rank, 0)))
    if kind == "MaxPool":
        fields = [*window, padding, ("dilation", tuple[int, ...], arg((1,) * rank, sizes(rank, 1))), ceil]
    elif kind == "AvgPool":
        fields = [*window, padding, ceil, ("count_include_pad", bool, arg(True, boolean))]
        if rank > 1:  # torch.nn.AvgPool1d has no divisor_override
            fields.append(("divisor_override", int | None, arg(None, optional(positive_int))))
    else:
        fields = [("norm_type", float, arg(REQUIRED, positive_float)), *window, ceil]
    return _frozen(f"{kind}{rank}dArgs", fields)


def _adaptive_args(rank: int) -> type:
    """Return adaptive pooling's one argument for `rank` spatial dimensions."""
    return _frozen(
        f"AdaptivePool{rank}dArgs",
        [("output_size", tuple[int | None, ...], arg(REQUIRED, output_sizes(rank)))],
    )


def _sizes(value: Any, rank: int) -> tuple[int, ...]:
    """Return torch's int-or-tuple size argument as one size per spatial dimension."""
    if isinstance(value, int):
        return (value,) * rank
    return tuple(int(v) for v in value)


def _window_values(kind: _WindowPool, values: dict[str, Any]) -> Any:
    """Return `kind`'s Args from torch's values of its arguments (a module's attributes or a call's)."""
    names = {f.name for f in dataclass_fields(kind.Args)}
    read: dict[str, Any] = {}
    for name, value in values.items():
        if name not in names:
            continue
        if name in ("kernel_size", "padding", "dilation"):
            value = _sizes(value, kind.rank)
        elif name == "stride":  # torch reads None and [] as the kernel size
            value = None if value is None or value in ([], ()) else _sizes(value, kind.rank)
        elif name in ("ceil_mode", "count_include_pad"):
            value = bool(value)
        elif name == "norm_type":
            value = float(value)
        read[name] = value
    if read.get("stride") == read.get("kernel_size"):  # torch stores a stride left out as the kernel
        read["stride"] = None
    return kind.Args(**read)


def _output_size(value: Any, rank: int) -> tuple[int | None, ...]:
    """Return an adaptive pool's output size, one per spatial dimension (None keeps the input's)."""
    if value is None or isinstance(value, int):
        return (value,) * rank
    return tuple(None if v is None else int(v) for v in value)


#: torch's names of window pooling arguments, as module attributes and call keywords.
_TORCH_WINDOW_ARGS = (
    "norm_type",
    "kernel_size",
    "stride",
    "padding",
    "dilation",
    "ceil_mode",
    "count_include_pad",
    "divisor_override",
)
#: Dimensions of a batched (N, C, H, W) tensor that average over the spatial ones.


class _WindowPool(UnaryKind):
    """Shared shape and counting logic of fixed-window pooling of any rank."""

    keeps_layout = True
    torch_class_of_its_name = True

    rank: ClassVar[int]

    def from_module(self, module: Any) -> Any:
        if getattr(module, "return_indices", False):
            raise NotImportable("return_indices=True: it returns a second tensor")
        values = {name: getattr(module, name) for name in _TORCH_WINDOW_ARGS if hasattr(module, name)}
        return _window_values(self, values)

    def _dilation(self, args: Any) -> tuple[int, ...]:
        return getattr(args, "dilation", (1,) * self.rank)

    def _padding(self, args: Any) -> tuple[int, ...]:
        return getattr(args, "padding", (0,) * self.rank)

    #: torch's 3-D average pooling (and so LPPool3d) also needs each unpadded side >= the window.
    needs_whole_window: ClassVar[bool] = False

    def output_shape(self, args: Any, shape: Shape) -> Shape:
        channels, sides = spatial(self.name, shape, self.rank)
        if (
            self.needs_whole_window
            and self.rank == 3
            and any(k > n for k, n in zip(args.kernel_size, sides, strict=True))
        ):
            raise ShapeError(
                f"window {'x'.join(map(str, args.kernel_size))} is larger than its "
                f"{'x'.join(map(str, sides))} input (torch's 3-D average pooling refuses it even with "
                "padding or ceil_mode); use a smaller window"
            )
        stride = args.stride or args.kernel_size
        padding = self._padding(args)
        for k, p in zip(args.kernel_size, padding, strict=True):
            if p > k // 2:
                raise ShapeError(
                    f"padding {p} is more than half the kernel size {k}; use padding <= {k // 2}"
                )
        out = tuple(
            pool_output_size(size, k, p, s, d, args.ceil_mode)
            for size, k, p, s, d in zip(
                sides, args.kernel_size, padding, stride, self._dilation(args), strict=True
            )
        )
        if any(o < 1 for o in out):
            padded = "x".join(str(size + 2 * p) for size, p in zip(sides, padding, strict=True))
            kernel = "x".join(map(str, args.kernel_size))
            raise ShapeError(
                f"window {kernel} does not fit its {padded} padded input (output would be "
                f"{'x'.join(map(str, out))}); use a smaller window or more padding"
            )
        return (channels, *out)

    def cost(self, args: Any, in_shape: Shape, out_shape: Shape) -> LayerCost:
        window = prod(args.kernel_size)
        return LayerCost(params=0, macs=0, elementwise_ops=prod(out_shape) * window, fan_in=window)

    def receptive_field(self, args: Any, in_shape: Shape, rf: ReceptiveField | None) -> ReceptiveField | None:
        rf = spatial_field(rf, in_shape)
        if rf is None:
            return None
        stride = args.stride or args.kernel_size
        effective = [d * (k - 1) + 1 for k, d in zip(args.kernel_size, self._dilation(args), strict=True)]
        return ReceptiveField(
            size=tuple(r + (e - 1) * j for r, e, j in zip(rf.size, effective, rf.jump, strict=True)),
            jump=tuple(j * s for j, s in zip(rf.jump, stride, strict=True)),
        )


def _keeps_indices(out_shape: Shape, step: TrainingStep) -> Autograd:
    """Keep the input and where each maximum came from (int64 indices, one per output element)."""
    return Autograd(keeps_inputs=(0,), keeps_new=(prod(out_shape) * step.batch * INDEX_BYTES,))


class _MaxPool(_WindowPool):
    """Maximum over each window."""

    def from_call(self, call: TorchCall) -> tuple[ImportStep, ...] | None:
        if call.args[:1] != (TENSOR,) or call.arg(6, "return_indices", False):
            return None
        names = ("kernel_size", "stride", "padding", "dilation", "ceil_mode")
        defaults = (None, None, 0, 1, False)
        values = {n: call.arg(i + 1, n, d) for i, (n, d) in enumerate(zip(names, defaults, strict=True))}
        return ((self, _window_values(self, values)),)

    def autograd(self, args: Any, in_shape: Shape, out_shape: Shape, step: TrainingStep) -> Autograd:
        return _keeps_indices(out_shape, step)

    def build(self, args: Any, in_shape: Shape, out_shape: Shape) -> torch.nn.Module:
        from torch import nn

        module: torch.nn.Module = getattr(nn, f"MaxPool{self.rank}d")(
            args.kernel_size, args.stride, args.padding, args.dilation, ceil_mode=args.ceil_mode
        )
        return module


class _AvgPool(_WindowPool):
    """Mean over each window."""

    needs_whole_window = True

    def from_call(self, call: TorchCall) -> tuple[ImportStep, ...] | None:
        if call.args[:1] != (TENSOR,):
            return None
        names = ("kernel_size", "stride", "padding", "ceil_mode", "count_include_pad", "divisor_override")
        defaults = (None, None, 0, False, True, None)
        values = {n: call.arg(i + 1, n, d) for i, (n, d) in enumerate(zip(names, defaults, strict=True))}
        return ((self, _window_values(self, values)),)

    def autograd(self, args: Any, in_shape: Shape, out_shape: Shape, step: TrainingStep) -> Autograd:
        return Autograd(keeps_inputs=(0,))  # torch's backward reads the input's sizes from it

    def build(self, args: Any, in_shape: Shape, out_shape: Shape) -> torch.nn.Module:
        from torch import nn

        extra = {"divisor_override": args.divisor_override} if self.rank > 1 else {}
        module: torch.nn.Module = getattr(nn, f"AvgPool{self.rank}d")(
            args.kernel_size,
            args.stride,
            args.padding,
            ceil_mode=args.ceil_mode,
            count_include_pad=args.count_include_pad,
            **extra,
        )
        return module


class _LPPool(_WindowPool):
    """The p-norm of each window: (sum of x^p)^(1/p), computed by torch as an average pool of x^p."""

    needs_whole_window = True

    def cost(self, args: Any, in_shape: Shape, out_shape: Shape) -> LayerCost:
        window, outputs = prod(args.kernel_size), prod(out_shape)
        # A power per input element, a read per window element, a root per output.
        return LayerCost(
            params=0, macs=0, elementwise_ops=prod(in_shape) + outputs * window + outputs, fan_in=window
        )

    def autograd(self, args: Any, in_shape: Shape, out_shape: Shape, step: TrainingStep) -> Autograd:
        """torch composes it: x^p, an average pool, then sign(y) * relu(|y|) scaled and raised to 1/p.
        Autograd keeps the input, x^p and four tensors of the output's size; late in the backward,
        the power's gradient holds four of the input's size while the rest is gone."""
        inputs, outputs = step.nbytes(prod(in_shape)), step.nbytes(prod(out_shape))
        kept = (inputs, outputs, outputs, outputs, outputs)
        if not step.recorded:  # each step's result goes once read: x^p with the average, or four outputs
            return Autograd(keeps_new=kept, forward_peak=max(inputs + outputs, 4 * outputs))
        return Autograd(
            keeps_inputs=(0,), keeps_new=kept, backward_peak=max(3 * outputs, 3 * inputs - 4 * outputs)
        )

    def build(self, args: Any, in_shape: Shape, out_shape: Shape) -> torch.nn.Module:
        from torch import nn

        kernel, stride = args.kernel_size, args.stride
        if self.rank == 1:  # torch's lp_pool1d multiplies by kernel_size, which must be an int there
            kernel, stride = kernel[0], None if stride is None else stride[0]
        module: torch.nn.Module = getattr(nn, f"LPPool{self.rank}d")(
            args.norm_type, kernel, stride, ceil_mode=args.ceil_mode
        )
        return module


class _AdaptivePool(UnaryKind):
    """Pooling to a given output size, in windows that tile the input."""

    keeps_layout = True
    torch_class_of_its_name = True
    rank: ClassVar[int]

    def from_module(self, module: Any) -> Any:
        if getattr(module, "return_indices", False):
            raise NotImportable("return_indices=True: it returns a second tensor")
        return self.Args(_output_size(module.output_size, self.rank))

    def output_shape(self, args: Any, shape: Shape) -> Shape:
        channels, sides = spatial(self.name, shape, self.rank)
        return (
            channels,
            *(size if o is None else o for size, o in zip(sides, args.output_size, strict=True)),
        )

    def cost(self, args: Any, in_shape: Shape, out_shape: Shape) -> LayerCost:
        pairs = list(zip(in_shape[1:], out_shape[1:], strict=True))
        return LayerCost(
            params=0,
            macs=0,
            elementwise_ops=out_shape[0] * prod(tuple(adaptive_window_sum(n, o) for n, o in pairs)),
            fan_in=prod(tuple(adaptive_window_max(n, o) for n, o in pairs)),
        )

    def receptive_field(self, args: Any, in_shape: Shape, rf: ReceptiveField | None) -> ReceptiveField | None:
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


class _AdaptiveAvgPool(_AdaptivePool):
    """Mean over adaptive windows that tile the input into output_size cells."""

    def from_call(self, call: TorchCall) -> tuple[ImportStep, ...] | None:
        """Read F.adaptive_avg_pool2d, and a mean over both spatial dimensions as a pool to 1x1."""
        if call.args[:1] != (TENSOR,) or len(call.input_shapes) != 1:
            return None
        if call.target.endswith(f"adaptive_avg_pool{self.rank}d"):
            return ((self, self.Args(_output_size(call.arg(1, "output_size", None), self.rank))),)
        dims = call.arg(1, "dim", None)
        if len(call.input_shapes[0]) != self.rank + 1 or call.arg(3, "dtype", None) is not None:
            return None
        dims = [dims] if isinstance(dims, int) else list(dims or ())
        spatial_dims = set(range(2, self.rank + 2))  # of the batched input
        if {d % (self.rank + 2) for d in dims} != spatial_dims or len(dims) != len(spatial_dims):
            return None
        pool = (self, self.Args((1,) * self.rank))
        if call.arg(2, "keepdim", False):
            return (pool,)
        return (pool, (Flatten(), FlattenArgs(1, -1)))  # keepdim=False drops the 1x1 dimensions

    def autograd(self, args: Any, in_shape: Shape, out_shape: Shape, step: TrainingStep) -> Autograd:
        # To a single cell torch takes the mean, whose backward needs no tensor; otherwise its
        # backward reads the input.
        return Autograd() if all(side == 1 for side in out_shape[1:]) else Autograd(keeps_inputs=(0,))

    def build(self, args: Any, in_shape: Shape, out_shape: Shape) -> torch.nn.Module:
        from torch import nn

        module: torch.nn.Module = getattr(nn, f"AdaptiveAvgPool{self.rank}d")(args.output_size)
        return module


class _AdaptiveMaxPool(_AdaptivePool):
    """Maximum over adaptive windows that tile the input into output_size cells."""

    def from_call(self, call: TorchCall) -> tuple[ImportStep, ...] | None:
        if call.args[:1] != (TENSOR,) or call.arg(2, "return_indices", False):
            return None
        return ((self, self.Args(_output_size(call.arg(1, "output_size", None), self.rank))),)

    def autograd(self, args: Any, in_shape: Shape, out_shape: Shape, step: TrainingStep) -> Autograd:
        return _keeps_indices(out_shape, step)

    def build(self, args: Any, in_shape: Shape, out_shape: Shape) -> torch.nn.Module:
        from torch import nn

        module: torch.nn.Module = getattr(nn, f"AdaptiveMaxPool{self.rank}d")(args.output_size)
        return module


#: The functional calls the importer reads as a pool, by rank (modules of every rank are read by
#: their class).
_Calls = Mapping[int, tuple[str, ...]]
#: Each pool family: its base class, its name's stem, what it does to a window (for the kind's doc)
#: and its functional calls.
_FAMILIES: tuple[tuple[type[UnaryKind], str, str, _Calls], ...] = (
    (_MaxPool, "MaxPool", "Maximum over each window of", {2: ("torch.nn.functional.max_pool2d",)}),
    (_AvgPool, "AvgPool", "Mean over each window of", {2: ("torch.nn.functional.avg_pool2d",)}),
    (_LPPool, "LPPool", "The p-norm of each window of", {}),
    (
        _AdaptiveAvgPool,
        "AdaptiveAvgPool",
        "Adaptive-window mean of",
        {2: ("torch.nn.functional.adaptive_avg_pool2d", "Tensor.mean", "torch.mean")},
    ),
    (
        _AdaptiveMaxPool,
        "AdaptiveMaxPool",
        "Adaptive-window maximum of",
        {2: ("torch.nn.functional.adaptive_max_pool2d",)},
    ),
)


def _define(base: type[UnaryKind], stem: str, what: str, calls: _Calls, rank: int) -> None:
    """Register one pool of one rank, e.g. MaxPool2d (as pad.py makes its kinds)."""
    name = f"{stem}{rank}d"
    fields: dict[str, Any] = {
        "__doc__": f"{what} a {rank}-D input (torch.nn.{name}).",
        "name": name,
        "rank": rank,
        "Args": _window_args(stem, rank) if issubclass(base, _WindowPool) else _adaptive_args(rank),
    }
    if rank in calls:
        fields["torch_calls"] = calls[rank]
    register(type(name, (base,), fields))


for _family in _FAMILIES:
    for _rank in RANKS:
        _define(*_family, _rank)
