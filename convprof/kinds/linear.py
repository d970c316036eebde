"""Linear, Flatten, and Scale and Shift (a learnable tensor times or plus the input)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from convprof.kinds.base import ImportStep, ShapeError, UnaryKind, register
from convprof.kinds.calls import PARAMETER, TENSOR, TorchCall
from convprof.kinds.records import (
    Autograd,
    LayerCost,
    ReceptiveField,
    TrainingStep,
    reshaped_field,
    round_width,
)
from convprof.kinds.strides import Layout
from convprof.spec import Shape, prod
from convprof.spec.args import REQUIRED, arg, boolean, constant_shape, integer, optional, positive_int, real
from convprof.units import format_shape

if TYPE_CHECKING:
    import torch

__all__ = ["Flatten", "Linear", "Scale", "Shift"]


@dataclass(frozen=True, slots=True)
class LinearArgs:
    """torch.nn.Linear's arguments; in_features is inferred from the last dimension."""

    out_features: int = arg(REQUIRED, positive_int)
    """Output units."""
    bias: bool = arg(True, boolean)
    """Whether the layer adds a learnable bias."""


@register
class Linear(UnaryKind):
    """A fully connected layer over the last dimension, as torch applies it."""

    name = "Linear"
    Args = LinearArgs
    torch_types = ("torch.nn.Linear",)

    def from_module(self, module: Any) -> LinearArgs:
        return LinearArgs(out_features=int(module.out_features), bias=module.bias is not None)

    def output_shape(self, args: LinearArgs, shape: Shape) -> Shape:
        return (*shape[:-1], args.out_features)

    def cost(self, args: LinearArgs, in_shape: Shape, out_shape: Shape) -> LayerCost:
        in_features = in_shape[-1]
        outputs = prod(out_shape)
        return LayerCost(
            params=in_features * args.out_features + (args.out_features if args.bias else 0),
            macs=outputs * in_features,
            elementwise_ops=outputs if args.bias else 0,
            fan_in=in_features,
        )

    def param_tensors(self, args: LinearArgs, in_shape: Shape, out_shape: Shape) -> tuple[int, ...]:
        weight = in_shape[-1] * args.out_features
        return (weight, args.out_features) if args.bias else (weight,)

    def autograd(self, args: LinearArgs, in_shape: Shape, out_shape: Shape, step: TrainingStep) -> Autograd:
        """Keep the input (for the weights' gradient); torch computes that gradient in the weights'
        own layout, so it needs no copy. An input of more than one dimension per sample is folded into
        a matrix, which copies it when it is not contiguous: the copy is then what is kept. On such
        an input torch adds the bias out of place, after the product (both held for a moment). Frozen
        weights need no gradient, and torch keeps nothing for the input's (it reads the weights)."""
        if len(in_shape) > 1 and not step.views((step.batch * prod(in_shape[:-1]), in_shape[-1])):
            copy = step.nbytes(prod(in_shape))
            products = 2 if args.bias else 1
            kept = (copy,) if step.trainable else ()
            return Autograd(keeps_new=kept, forward_peak=copy + products * step.nbytes(prod(out_shape)))
        return Autograd(keeps_inputs=(0,) if step.trainable else ())

    def receptive_field(
        self, args: LinearArgs, in_shape: Shape, rf: ReceptiveField | None
    ) -> ReceptiveField | None:
        # On channels moved last (a permute before it), it mixes the channels of one position only.
        if rf is not None and rf.fits(in_shape) and rf.trail:
            return rf
        return None

    def scale_width(
        self, args: LinearArgs, old_input: Shape, new_input: Shape, multiplier: float
    ) -> LinearArgs:
        """Scale out_features (the sweep keeps the network's last linear layer: the classes)."""
        return replace(args, out_features=round_width(args.out_features * multiplier))

    def is_classifier(self, args: LinearArgs) -> bool:
        return True

    def build(self, args: LinearArgs, in_shape: Shape, out_shape: Shape) -> torch.nn.Module:
        from torch import nn

        return nn.Linear(in_shape[-1], args.out_features, bias=args.bias)


def flatten_range(before: Shape, after: Shape) -> tuple[int, int] | None:
    """Return (start_dim, end_dim) of the flatten that turns per-sample `before` into `after`, if any."""
    rank = len(before)
    for kept in range(len(after)):
        tail = len(after) - 1 - kept  # dimensions after the merged one, kept as they are
        merged = before[kept : rank - tail]
        if (
            merged
            and before[:kept] == after[:kept]
            and before[rank - tail :] == after[kept + 1 :]
            and prod(merged) == after[kept]
        ):
            return kept + 1, (-1 if tail == 0 else rank - tail)
    return None


@dataclass(frozen=True, slots=True)
class FlattenArgs:
    """torch.nn.Flatten's arguments, as dimensions of the batched tensor."""

    start_dim: int = arg(1, integer)
    """First dimension to flatten (1 = the first after the batch)."""
    end_dim: int = arg(-1, integer)
    """Last dimension to flatten; negative counts from the end."""


@register
class Flatten(UnaryKind):
    """Merges dimensions start_dim..end_dim into one; a view, so no new memory."""

    name = "Flatten"
    Args = FlattenArgs
    torch_types = ("torch.nn.Flatten",)
    torch_calls = ("torch.flatten", "Tensor.flatten", "Tensor.view", "Tensor.reshape", "torch.reshape")

    def from_call(self, call: TorchCall) -> tuple[ImportStep, ...] | None:
        """Read torch.flatten and x.flatten, and a view or reshape whose result is a flatten."""
        if call.args[:1] != (TENSOR,) or len(call.input_shapes) != 1:
            return None
        if call.target.endswith("flatten"):
            start, end = call.arg(1, "start_dim", 0), call.arg(2, "end_dim", -1)
            if not isinstance(start, int) or not isinstance(end, int):
                return None
            return None if start == 0 else ((self, FlattenArgs(start, end)),)
        merged = flatten_range(call.input_shapes[0], call.output_shape)
        return None if merged is None else ((self, FlattenArgs(*merged)),)

    def _range(self, args: FlattenArgs, shape: Shape) -> tuple[int, int]:
        rank = len(shape) + 1  # torch's dimensions include the batch
        start = args.start_dim + rank if args.start_dim < 0 else args.start_dim
        end = args.end_dim + rank if args.end_dim < 0 else args.end_dim
        if not 0 <= start < rank or not 0 <= end < rank:
            raise ShapeError(
                f"start_dim={args.start_dim}, end_dim={args.end_dim} are outside the "
                f"{rank} dimensions of a batched {'x'.join(map(str, shape))} input"
            )
        if start == 0:
            raise ShapeError("start_dim=0 would merge the batch into the features; use start_dim >= 1")
        if start > end:
            raise ShapeError(f"start_dim={args.start_dim} comes after end_dim={args.end_dim}")
        return start - 1, end - 1

    def output_shape(self, args: FlattenArgs, shape: Shape) -> Shape:
        start, end = self._range(args, shape)
        return (*shape[:start], prod(shape[start : end + 1]), *shape[end + 1 :])

    def cost(self, args: FlattenArgs, in_shape: Shape, out_shape: Shape) -> LayerCost:
        return LayerCost(params=0, macs=0, elementwise_ops=0, fan_in=1)

    def receptive_field(
        self, args: FlattenArgs, in_shape: Shape, rf: ReceptiveField | None
    ) -> ReceptiveField | None:
        # Merging dimensions around the spatial ones keeps the layout (ShuffleNet's groups of channels
        # merged back); merging spatial ones keeps each unit's own field, but the field no longer
        # fits the shape, so that a later window or mix of positions is the whole input.
        if rf is None or not rf.fits(in_shape):
            return rf
        return reshaped_field(in_shape, self.output_shape(args, in_shape), rf) or rf

    def aliases_input(self, args: FlattenArgs, training: bool, layout: Layout | None = None) -> bool:
        # torch views the input where the merged dimensions lie one after another, else copies.
        return layout is None or layout.views_sample(self.output_shape(args, layout.shape[1:]))

    def node_layout(
        self, args: FlattenArgs, in_shapes: tuple[Shape, ...], out_shape: Shape, layouts: tuple[Layout, ...]
    ) -> Layout:
        return layouts[0].reshape((layouts[0].shape[0], *out_shape))

    def autograd(self, args: FlattenArgs, in_shape: Shape, out_shape: Shape, step: TrainingStep) -> Autograd:
        return Autograd(grad_views=(0,))

    def node_grad_copy(
        self, args: FlattenArgs, in_shapes: tuple[Shape, ...], out_shape: Shape, grad: Layout
    ) -> bool:
        """The backward views the gradient in the input's shape, a copy where strides forbid it."""
        return grad.view((grad.shape[0], *in_shapes[0])) is None

    def node_grad_view(
        self, args: FlattenArgs, in_shapes: tuple[Shape, ...], out_shape: Shape, grad: Layout
    ) -> Layout | None:
        return grad.view((grad.shape[0], *in_shapes[0]))

    def build(self, args: FlattenArgs, in_shape: Shape, out_shape: Shape) -> torch.nn.Module:
        from torch import nn

        return nn.Flatten(args.start_dim, args.end_dim)


@dataclass(frozen=True, slots=True)
class ScaleArgs:
    """A learnable tensor's arguments: its initial value, its shape and how it meets the input."""

    init: float = arg(1.0, real)
    """Initial value of every entry (ConvNeXt's layer scale starts at 1e-6)."""
    shape: tuple[int, ...] | None = arg(None, optional(constant_shape), verbatim=True)
    """The tensor's shape as the model holds it: [64, 1, 1] for ConvNeXt's layer scale, [64] for a
    gamma of channels-last tokens (EdgeNeXt), [1] for a learnable scalar (HGNetV2); null: one
    value per channel, [channels, 1, ...]. It broadcasts against one sample as torch broadcasts it
    against the batch (aligned from the right), and never grows the input."""
    view: tuple[int, ...] | None = arg(None, optional(constant_shape), verbatim=True)
    """The shape the tensor is viewed as where it meets the input (`self.gamma.view(1, -1, 1, 1)`:
    [1, 64, 1, 1], as many elements as `shape`); null: as it is held."""


class _Learned(UnaryKind):
    """One learnable tensor and an element-wise operation of it and the input, at the tensor's own
    path (`parameter_at_path`): one op per output element, as many parameters as the tensor has."""

    keeps_layout = True
    Args = ScaleArgs
    parameter_at_path = True

    def from_call(self, call: TorchCall) -> tuple[ImportStep, ...] | None:
        """Read the operation of a parameter of the model (or a view of it) and a tensor, in either
        order, where the parameter broadcasts against each sample without growing it."""
        if call.args not in ((TENSOR, PARAMETER), (PARAMETER, TENSOR)) or len(call.held_shapes) != 1:
            return None
        if (
            any(value is not None for key, value in call.kwargs.items() if key != "alpha")
            or call.kwargs.get("alpha", 1) != 1
        ):
            return None
        ((shape,), (seen,), (held,)) = call.input_shapes, call.parameter_shapes, call.held_shapes
        per_channel = (shape[0], *(1 for _ in shape[1:])) if shape else ()
        args = ScaleArgs(
            shape=None if held == seen == per_channel else held, view=None if seen == held else seen
        )
        try:
            if self.output_shape(args, shape) != call.output_shape:
                return None
        except ShapeError:
            return None
        return ((self, args),)

    def held(self, args: ScaleArgs, shape: Shape) -> Shape:
        """Return the tensor's shape as held (one value per channel where the spec gives none)."""
        if args.shape is not None:
            return args.shape
        return (shape[0], *(1 for _ in shape[1:])) if shape else ()

    def meets(self, args: ScaleArgs, shape: Shape) -> Shape:
        """Return the per-sample shape the tensor broadcasts as against a `shape` sample, or say why
        it cannot."""
        held = self.held(args, shape)
        if args.view is not None and prod(args.view) != prod(held):
            raise ShapeError(
                f"view {list(args.view)} has {prod(args.view):,} elements, but the tensor of shape "
                f"{list(held)} has {prod(held):,}"
            )
        seen = args.view if args.view is not None else held
        if len(seen) == len(shape) + 1 and seen[0] == 1:
            seen = seen[1:]  # a leading 1 meets the batch
        grown = len(seen) > len(shape) or any(
            size not in (1, other) for size, other in zip(reversed(seen), reversed(shape), strict=False)
        )
        if grown:
            raise ShapeError(
                f"a learnable tensor seen as {list(seen)} does not broadcast against a "
                f"{format_shape(shape)} sample without growing it or reaching the batch"
            )
        return seen

    def output_shape(self, args: ScaleArgs, shape: Shape) -> Shape:
        self.meets(args, shape)
        return shape

    def cost(self, args: ScaleArgs, in_shape: Shape, out_shape: Shape) -> LayerCost:
        return LayerCost(
            params=prod(self.held(args, in_shape)), macs=0, elementwise_ops=prod(out_shape), fan_in=1
        )

    def param_tensors(self, args: ScaleArgs, in_shape: Shape, out_shape: Shape) -> tuple[int, ...]:
        return (prod(self.held(args, in_shape)),)

    def receptive_field(
        self, args: ScaleArgs, in_shape: Shape, rf: ReceptiveField | None
    ) -> ReceptiveField | None:
        return rf

    def module(self, args: ScaleArgs, in_shape: Shape) -> Any:
        """Return the torch module's class."""
        raise NotImplementedError

    def build(self, args: ScaleArgs, in_shape: Shape, out_shape: Shape) -> torch.nn.Module:
        module: torch.nn.Module = self.module(args, in_shape)(self.held(args, in_shape), args.init, args.view)
        return module


@register
class Scale(_Learned):
    """Multiplies the input by a learnable tensor: ConvNeXt's layer scale (one value per channel),
    EdgeNeXt's gamma over channels-last tokens, HGNetV2's learnable scalar."""

    name = "Scale"
    torch_calls = ("operator.mul", "operator.imul", "torch.mul", "Tensor.mul", "Tensor.mul_")

    def autograd(self, args: ScaleArgs, in_shape: Shape, out_shape: Shape, step: TrainingStep) -> Autograd:
        """Keep the input; the tensor's gradient is made at the input's size, then summed to the
        tensor's shape. A frozen tensor needs neither: the input's gradient reads the tensor alone."""
        elements = step.nbytes(prod(in_shape))
        grads = elements if any(step.grads) else 0
        if not step.trainable:
            return Autograd(backward_peak=grads)
        held = prod(self.held(args, in_shape)) * step.itemsize
        return Autograd(keeps_inputs=(0,), backward_peak=grads + elements + held)

    def module(self, args: ScaleArgs, in_shape: Shape) -> Any:
        from convprof.kinds.nn import Scale as Module

        return Module


@register
class Shift(_Learned):
    """Adds a learnable tensor to the input: HGNetV2's learnable bias (`self.scale * x + self.bias`)."""

    name = "Shift"
    torch_calls = ("operator.add", "operator.iadd", "torch.add", "Tensor.add", "Tensor.add_")

    def autograd(self, args: ScaleArgs, in_shape: Shape, out_shape: Shape, step: TrainingStep) -> Autograd:
        """Keep nothing: the input's gradient is the output's; the tensor's is that summed to its shape."""
        return Autograd(grad_views=(0,))

    def module(self, args: ScaleArgs, in_shape: Shape) -> Any:
        from convprof.kinds.nn import Shift as Module

        return Module
