"""The counterfactuals of a convolution of any rank: the locally connected variant (the same
connections, unshared weights) and the dense one (a fully connected map between the same volumes).
Each is a mixin that changes how weights are counted and built; convprof.kinds.conv makes one of
each for every convolution kind."""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from convprof.kinds.convbase import Convolution, conv_padding
from convprof.kinds.records import (
    Autograd,
    LayerCost,
    ReceptiveField,
    TrainingStep,
)
from convprof.kinds.strides import Layout
from convprof.spec import Shape, prod

if TYPE_CHECKING:
    import torch

__all__ = ["DenseVariant", "LocalVariant"]


class LocalVariant(Convolution):
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


class DenseVariant(Convolution):
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
