"""Convolutions of every rank (1-D, 2-D, 3-D, transposed or not) and the counterfactuals of each.

One implementation parametrised by rank: each public kind (Conv1d ... ConvTranspose3d) only names its
rank, and each variant (local, dense) is a mixin that changes how weights are counted and built.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from dataclasses import field, fields, make_dataclass, replace
from typing import TYPE_CHECKING, Any, ClassVar

from convprof.kinds.base import ShapeError, UnaryKind, register
from convprof.kinds.records import (
    Autograd,
    LayerCost,
    ReceptiveField,
    TrainingStep,
    round_width,
    spatial_field,
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

if TYPE_CHECKING:
    import torch

__all__ = [
    "CONV_ARGS",
    "TRANSPOSE_ARGS",
    "conv_padding",
    "spatial",
    "spatial_2d",
]

#: The ranks convolutions and pools come in: 1-D ([C, L]), 2-D ([C, H, W]) and 3-D ([C, D, H, W]).
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


def _effective(args: Any) -> list[int]:
    """Return each dimension's dilated kernel extent, d * (k - 1) + 1."""
    return [d * (k - 1) + 1 for k, d in zip(args.kernel_size, args.dilation, strict=True)]


#: Convolution arguments torch holds as one size per spatial dimension.
_SIZED = ("kernel_size", "stride", "padding", "output_padding", "dilation")


class _Convolution(UnaryKind):
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


class _Conv(_Convolution):
    """A convolution with weights shared across positions: torch's formulas for every rank."""

    def output_shape(self, args: Any, shape: Shape) -> Shape:
        channels, sides = spatial(self.name, shape, self.rank)
        self._check_channels(args, channels)
        if args.padding == "same" and any(s != 1 for s in args.stride):
            raise ShapeError("padding='same' needs stride 1 (as in torch); give the padding as numbers")
        pads = conv_padding(args)
        if args.padding_mode != "zeros":
            # torch pads with F.pad first: reflection needs a pad below the side, circular at most it.
            for size, (before, after) in zip(sides, pads, strict=True):
                most = size - 1 if args.padding_mode == "reflect" else size
                if max(before, after) > most and args.padding_mode != "replicate":
                    raise ShapeError(
                        f"padding {max(before, after)} is too large for padding_mode="
                        f"'{args.padding_mode}' on a side of {size}; use padding <= {most}"
                    )
        padded = [size + before + after for size, (before, after) in zip(sides, pads, strict=True)]
        effective = _effective(args)
        if any(e > p for e, p in zip(effective, padded, strict=True)):
            kernel = "x".join(map(str, effective))
            if any(d != 1 for d in args.dilation):
                kernel += " (dilated)"
            raise ShapeError(
                f"kernel {kernel} is larger than its {'x'.join(map(str, padded))} padded input; "
                "use a smaller kernel or more padding"
            )
        out = tuple((p - e) // s + 1 for p, e, s in zip(padded, effective, args.stride, strict=True))
        return (args.out_channels, *out)

    def receptive_field(self, args: Any, in_shape: Shape, rf: ReceptiveField | None) -> ReceptiveField | None:
        rf = spatial_field(rf, in_shape)
        if rf is None:
            return None
        return ReceptiveField(
            size=tuple(r + (e - 1) * j for r, e, j in zip(rf.size, _effective(args), rf.jump, strict=True)),
            jump=tuple(j * s for j, s in zip(rf.jump, args.stride, strict=True)),
        )

    def autograd(self, args: Any, in_shape: Shape, out_shape: Shape, step: TrainingStep) -> Autograd:
        """Keep the input, or the padded copy torch convolves instead of it.

        torch pads in a separate step for a padding mode other than zeros (all of the padding) and for
        padding='same' with an odd total along some dimension (the extra unit after); the convolution
        then keeps that copy, and reflection and replication keep the input too. The backward makes
        the copy's gradient, then crops or folds it into the input's."""
        pads = conv_padding(args)
        if args.padding_mode != "zeros":
            sides = tuple(
                size + before + after for size, (before, after) in zip(in_shape[1:], pads, strict=True)
            )
        elif args.padding == "same" and any((before + after) % 2 for before, after in pads):
            sides = tuple(
                size + (before + after) % 2 for size, (before, after) in zip(in_shape[1:], pads, strict=True)
            )
        else:
            return super().autograd(args, in_shape, out_shape, step)
        padded = step.nbytes(in_shape[0] * prod(sides))
        params = sum(self.param_tensors(args, in_shape, out_shape)) * step.itemsize if step.trainable else 0
        reads_input = args.padding_mode in ("reflect", "replicate") and any(step.grads)
        # The circular pad's backward folds each wrapped slice back in, holding a second copy.
        copies = 2 if args.padding_mode == "circular" else 1
        return Autograd(
            keeps_inputs=(0,) if reads_input else (),
            keeps_new=(padded,),
            backward_peak=(copies * padded if any(step.grads) else 0) + params,
        )

    def module_class(self) -> Any:
        """Return the torch module class the layer is built as."""
        from torch import nn

        return getattr(nn, f"Conv{self.rank}d")

    def build(self, args: Any, in_shape: Shape, out_shape: Shape) -> torch.nn.Module:
        module: torch.nn.Module = self.module_class()(
            in_shape[0],
            args.out_channels,
            args.kernel_size,
            stride=args.stride,
            padding=args.padding,
            dilation=args.dilation,
            groups=args.groups,
            bias=args.bias,
            padding_mode=args.padding_mode,
        )
        return module


class _ConvTranspose(_Convolution):
    """A transposed convolution: each input element scatters its kernel window of outputs."""

    transposed = True

    def output_shape(self, args: Any, shape: Shape) -> Shape:
        channels, sides = spatial(self.name, shape, self.rank)
        self._check_channels(args, channels)
        for op, s, d in zip(args.output_padding, args.stride, args.dilation, strict=True):
            if op >= s and op >= d:
                raise ShapeError(
                    f"output_padding {op} must be smaller than the stride ({s}) or the dilation ({d}), "
                    "as in torch"
                )
        out = tuple(
            (size - 1) * s - 2 * p + e + op
            for size, s, p, e, op in zip(
                sides, args.stride, args.padding, _effective(args), args.output_padding, strict=True
            )
        )
        if any(o < 1 for o in out):
            raise ShapeError(
                f"padding {'x'.join(map(str, args.padding))} crops the whole output "
                f"(it would be {'x'.join(map(str, out))}); use less padding"
            )
        return (args.out_channels, *out)

    def receptive_field(self, args: Any, in_shape: Shape, rf: ReceptiveField | None) -> ReceptiveField | None:
        """Return the field: an output reads at most ceil(extent / stride) neighbouring inputs.

        Neighbouring output units sit jump / stride input units apart.

        The jump is rounded up (at least 1), so a stride-2 down-sampling followed by a stride-2
        transposed convolution comes back to the jump it started from.
        """
        rf = spatial_field(rf, in_shape)
        if rf is None:
            return None
        reach = [-(-e // s) for e, s in zip(_effective(args), args.stride, strict=True)]
        return ReceptiveField(
            size=tuple(r + (w - 1) * j for r, w, j in zip(rf.size, reach, rf.jump, strict=True)),
            jump=tuple(max(1, -(-j // s)) for j, s in zip(rf.jump, args.stride, strict=True)),
        )

    def build(self, args: Any, in_shape: Shape, out_shape: Shape) -> torch.nn.Module:
        from torch import nn

        module: torch.nn.Module = getattr(nn, f"ConvTranspose{self.rank}d")(
            in_shape[0],
            args.out_channels,
            args.kernel_size,
            stride=args.stride,
            padding=args.padding,
            output_padding=args.output_padding,
            groups=args.groups,
            bias=args.bias,
            dilation=args.dilation,
        )
        return module


class _Local(_Convolution):
    """The local variant: the same connections with unshared weights (one set per output, or per input)."""

    counterfactuals: ClassVar[Mapping[str, str]] = {}
    torch_types = ()  # only variants make it
    public = False

    def cost(self, args: Any, in_shape: Shape, out_shape: Shape) -> LayerCost:
        macs, outputs = self.macs(args, in_shape, out_shape), prod(out_shape)
        return LayerCost(
            params=macs + (outputs if args.bias else 0),  # one weight per multiply-accumulate
            macs=macs,
            elementwise_ops=outputs if args.bias else 0,
            fan_in=self.fan_in(args, in_shape),
        )

    def _bias_elements(self, args: Any, out_shape: Shape) -> int:
        return prod(out_shape) if args.bias else 0

    def node_layout(
        self, args: Any, in_shapes: tuple[Shape, ...], out_shape: Shape, layouts: tuple[Layout, ...]
    ) -> Layout:
        return Layout.contiguous((layouts[0].shape[0], *out_shape))  # convprof's module makes it so

    def autograd(self, args: Any, in_shape: Shape, out_shape: Shape, step: TrainingStep) -> Autograd:
        """Keep the columns the batched product reads (see convprof.kinds.counterfactual).

        A local layer copies every input window into columns (output positions x batch x in_channels
        x kernel) and keeps them for the weights' gradient; a transposed one copies its input into
        rows, multiplies, then adds each kernel tap's products into a zeroed output before cropping
        it. The backward makes the product's gradients, the weights' (copied into the weights'
        layout), and undoes each window or tap. The peaks below hold every one of those at once,
        which bounds what torch holds from above."""
        # The transposed product reads its weights through a copy whether they learn or not.
        weights = sum(self.param_tensors(args, in_shape, out_shape)) * step.itemsize
        output = step.nbytes(prod(out_shape))
        inputs = step.nbytes(prod(in_shape))
        grads = any(step.grads)
        if self.transposed:
            products = step.nbytes(prod(in_shape[1:]) * args.out_channels * prod(args.kernel_size))
            full = step.nbytes(
                args.out_channels
                * prod(
                    tuple(
                        max((size - 1) * s + d * (k - 1) + 1, p + o)
                        for size, s, d, k, p, o in zip(
                            in_shape[1:],
                            args.stride,
                            args.dilation,
                            args.kernel_size,
                            args.padding,
                            out_shape[1:],
                            strict=True,
                        )
                    )
                )
            )
            return Autograd(
                keeps_new=(inputs,) if step.trainable else (),
                forward_peak=inputs + 2 * products + full + output,
                backward_peak=full + 2 * products + 2 * weights + (inputs if grads else 0),
            )
        return self._columns_autograd(args, in_shape, out_shape, step)

    def _columns_autograd(self, args: Any, in_shape: Shape, out_shape: Shape, step: TrainingStep) -> Autograd:
        """The local layer of a convolution, step by step as kinds/counterfactual.py's LocallyConnected runs.

        Forward: pad (when padded), cut windows (views), copy them into columns (kept), one batched
        product, then the output (a view of the product unless groups, batch and outputs per group
        all exceed 1) and the bias. Backward: the bias's gradient, the product's gradient when that
        view needs a copy, the weights' and the columns' (when the input needs one), the weights'
        copied into their layout (unless a dimension of the product is 1), then each window undone
        (and each dilated one, and the padding) from the last dimension to the first."""
        itemsize, batch, groups = step.itemsize, step.batch, int(args.groups)
        channels, kernel = in_shape[0], tuple(args.kernel_size)
        sides, outs = in_shape[1:], out_shape[1:]
        pads = conv_padding(args)
        padded_sides = tuple(n + a + b for n, (a, b) in zip(sides, pads, strict=True))
        is_padded = any(a or b for a, b in pads)
        output = step.nbytes(prod(out_shape))
        columns = step.nbytes(prod(outs) * channels * prod(kernel))
        padded = step.nbytes(channels * prod(padded_sides)) if is_padded else 0
        weight, *bias_tensor = self.param_tensors(args, in_shape, out_shape)
        # Frozen weights get no gradient: the columns are made for the product but not kept.
        trained = step.trainable
        weights, bias = weight * itemsize * trained, sum(bias_tensor) * itemsize * trained
        kept = columns if trained else 0
        per_group_out = int(args.out_channels) // groups
        # The product (positions, groups, batch, outputs per group) is reordered to (batch, groups,
        # outputs per group, positions): a copy unless that moves only dimensions of size 1.
        sizes = (prod(outs), groups, batch, per_group_out)  # the product's dimensions, in memory order
        moved = [dim for dim in (2, 1, 3, 0) if sizes[dim] > 1]
        copies_output = moved != sorted(moved)
        grads = any(step.grads)
        # Backward: the product's gradient, then the weights' in their own layout.
        product_grad = output if groups > 1 else 0
        relayout = weights if per_group_out > 1 and channels // groups * prod(kernel) > 1 else 0
        first = bias + product_grad + weights + (columns if grads else 0)
        second = bias + product_grad + weights + relayout + (columns if grads else 0) - kept
        peak = max(first, second)
        if grads:
            # Each window undone: the gradients of a step's input and output live together.
            chain = [columns]
            for dim in reversed(range(len(sides))):
                done = prod(outs[:dim]) * prod(kernel[:dim]) * prod(padded_sides[dim + 1 :])
                before = batch * channels * done * itemsize
                if args.dilation[dim] > 1:
                    chain.append(before * (args.dilation[dim] * (kernel[dim] - 1) + 1) * outs[dim] // 1)
                chain.append(before * padded_sides[dim])
            if is_padded:
                chain.append(step.nbytes(prod(in_shape)))
            pairs = max(a + b for a, b in itertools.pairwise(chain))
            peak = max(peak, bias + product_grad + weights + relayout - kept + pairs)
        reads_input = args.padding_mode in ("reflect", "replicate") and is_padded and grads
        return Autograd(
            keeps_inputs=(0,) if reads_input else (),
            keeps_new=(columns,) if trained else (),
            forward_peak=padded + columns + output * (2 if args.bias or copies_output else 1),
            backward_peak=peak,
        )

    def build(self, args: Any, in_shape: Shape, out_shape: Shape) -> torch.nn.Module:
        from convprof.kinds import counterfactual

        if self.transposed:
            return counterfactual.LocallyConnectedTranspose(
                in_shape,
                out_shape,
                kernel_size=args.kernel_size,
                stride=args.stride,
                padding=args.padding,
                dilation=args.dilation,
                groups=args.groups,
                bias=args.bias,
            )
        return counterfactual.LocallyConnected(
            in_shape,
            out_shape,
            kernel_size=args.kernel_size,
            stride=args.stride,
            padding=conv_padding(args),
            dilation=args.dilation,
            groups=args.groups,
            bias=args.bias,
            padding_mode=args.padding_mode,
        )


class _Dense(_Convolution):
    """The dense variant: a fully connected map from the whole input volume to the whole output volume."""

    counterfactuals: ClassVar[Mapping[str, str]] = {}
    torch_types = ()  # only variants make it
    public = False

    def cost(self, args: Any, in_shape: Shape, out_shape: Shape) -> LayerCost:
        inputs, outputs = prod(in_shape), prod(out_shape)
        return LayerCost(
            params=inputs * outputs + (outputs if args.bias else 0),
            macs=inputs * outputs,
            elementwise_ops=outputs if args.bias else 0,
            fan_in=inputs,
        )

    def receptive_field(self, args: Any, in_shape: Shape, rf: ReceptiveField | None) -> ReceptiveField | None:
        return None

    def _bias_elements(self, args: Any, out_shape: Shape) -> int:
        return prod(out_shape) if args.bias else 0

    def node_layout(
        self, args: Any, in_shapes: tuple[Shape, ...], out_shape: Shape, layouts: tuple[Layout, ...]
    ) -> Layout:
        return Layout.contiguous((layouts[0].shape[0], *out_shape))  # a view of a linear layer's output

    def autograd(self, args: Any, in_shape: Shape, out_shape: Shape, step: TrainingStep) -> Autograd:
        """A linear layer on the flattened input: it keeps the input, which the flatten views when
        it is contiguous and copies otherwise (the copy is then what it keeps); frozen weights need
        none of it (the input's gradient reads the weights)."""
        if step.views((step.batch, prod(in_shape))):
            return Autograd(keeps_inputs=(0,) if step.trainable else ())
        copy = step.nbytes(prod(in_shape))
        kept = (copy,) if step.trainable else ()
        return Autograd(keeps_new=kept, forward_peak=copy + step.nbytes(prod(out_shape)))

    def node_grad_copy(self, args: Any, in_shapes: tuple[Shape, ...], out_shape: Shape, grad: Layout) -> bool:
        """Its output is a view of a linear layer's: the backward views the gradient as a matrix."""
        return grad.view((grad.shape[0], prod(out_shape))) is None

    def build(self, args: Any, in_shape: Shape, out_shape: Shape) -> torch.nn.Module:
        from convprof.kinds.counterfactual import DenseVolume

        return DenseVolume(in_shape, out_shape, bias=args.bias)


class _Fixed(_Conv):
    """A convolution whose filter is fixed: its weight (and bias) are buffers the model holds, not
    parameters it learns (BlurPool's binomial blur before a strided layer, TResNet's anti-aliasing).

    Its arithmetic is a convolution's (MACs as FlopCounterMode counts them); its filter is buffer
    memory. It learns nothing, so like a pooling window it is the same in every variant."""

    counterfactuals: ClassVar[Mapping[str, str]] = {}
    torch_class_of_its_name = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "name" in cls.__dict__:  # the module convprof builds for it, of the kind's own name
            cls.torch_types = (f"convprof.kinds.nn.{cls.name}",)

    def cost(self, args: Any, in_shape: Shape, out_shape: Shape) -> LayerCost:
        learned = super().cost(args, in_shape, out_shape)
        return replace(learned, params=0, buffer_elements=learned.params)

    def param_tensors(self, args: Any, in_shape: Shape, out_shape: Shape) -> tuple[int, ...]:
        return ()

    def node_backward_macs(
        self,
        args: Any,
        in_shapes: tuple[Shape, ...],
        out_shape: Shape,
        grads: tuple[bool, ...],
        trainable: bool = True,
    ) -> int | None:
        """The input's gradient only, where it needs one: the filter learns nothing."""
        macs = self.node_cost(args, in_shapes, out_shape).macs
        return macs * any(grads) if macs is not None else None

    def autograd(self, args: Any, in_shape: Shape, out_shape: Shape, step: TrainingStep) -> Autograd:
        """Keep the input as a convolution does (torch's convolution keeps it whatever needs a
        gradient); the backward makes only the input's gradient."""
        record = super().autograd(args, in_shape, out_shape, step)
        return replace(record, backward_after=0)

    def module_class(self) -> Any:
        from convprof.kinds import nn

        return getattr(nn, self.name)


def _kind(name: str, bases: tuple[type, ...], doc: str, **fields: Any) -> type:
    """Register and return the kind `name`: a class of `bases` with `fields` (as pad.py makes its kinds)."""
    return register(type(name, bases, {"__doc__": doc, "name": name, **fields}))


def _define(stem: str, rank: int) -> None:
    """Register one convolution of one rank and its variants: Conv2d, LocallyConnected2d,
    DenseConv2d and FixedConv2d (`stem` ""), or ConvTranspose2d and its local and dense variants
    (`stem` "Transpose")."""
    shared = f"Conv{stem}{rank}d"
    local, dense = f"LocallyConnected{stem}{rank}d", f"DenseConv{stem}{rank}d"
    counterfactuals: Mapping[str, str] = {"local": local, "dense": dense}
    if stem:
        conv = _kind(
            shared,
            (_ConvTranspose,),
            f"A {rank}-D transposed convolution (up-sampling) with shared weights.",
            rank=rank,
            Args=TRANSPOSE_ARGS[rank],
            counterfactuals=counterfactuals,
        )
        _kind(local, (_Local, conv), f"{shared}'s scatter pattern with unshared weights per input position.")
    else:
        conv = _kind(
            shared,
            (_Conv,),
            f"A {rank}-D convolution with weights shared across positions.",
            rank=rank,
            Args=CONV_ARGS[rank],
            counterfactuals=counterfactuals,
        )
        _kind(
            local,
            (_Local, conv),
            f"{shared}'s window, stride, padding, dilation and groups, with unshared weights per position.",
        )
    _kind(
        dense,
        (_Dense, conv),
        f"A fully connected layer from {shared}'s whole input volume to its whole output volume.",
    )
    if not stem:
        _kind(
            f"FixedConv{rank}d",
            (_Fixed, conv),
            f"A {rank}-D convolution with a fixed filter: its weight and bias are buffers, not parameters.",
        )


for _stem in ("", "Transpose"):
    for _rank in RANKS:
        _define(_stem, _rank)
