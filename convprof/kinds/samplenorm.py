"""Normalisations by each sample's own statistics: GroupNorm, LayerNorm, LayerNorm2d, LocalResponseNorm."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from convprof.kinds.base import ImportStep, ShapeError, UnaryKind, register
from convprof.kinds.calls import TENSOR, TorchCall
from convprof.kinds.norm import needs_rank, normalisation_ops
from convprof.kinds.records import Autograd, LayerCost, ReceptiveField, TrainingStep
from convprof.kinds.strides import Layout
from convprof.spec import Shape, prod
from convprof.spec.args import REQUIRED, arg, boolean, integers, nonneg_float, positive_int, real
from convprof.units import format_shape

if TYPE_CHECKING:
    import torch

__all__ = ["GroupNorm", "LayerNorm", "LayerNorm2d", "LocalResponseNorm"]

#: Element-wise ops per element of local response normalisation besides its window reads: a square,
#: then a multiply by alpha / size, an add of k, a power and the divide.
LRN_OPS_PER_ELEMENT = 5


class _PerSampleNorm(UnaryKind):
    """Normalises with statistics of each sample, so it keeps the shape and needs no buffers."""

    torch_class_of_its_name = True

    def receptive_field(
        self, args: object, in_shape: Shape, rf: ReceptiveField | None
    ) -> ReceptiveField | None:
        # Statistics over positions are a per-sample context, not a window: as receptive-field
        # calculations do, the layer is treated as point-wise (see docs/counting.md).
        return rf


def _statistics(step: TrainingStep, groups: int) -> Autograd:
    """Keep the input and a mean and an inverse deviation per normalised group of each sample."""
    per_group = step.nbytes(groups)
    return Autograd(keeps_inputs=(0,), keeps_new=(per_group, per_group))


@dataclass(frozen=True, slots=True)
class GroupNormArgs:
    """torch.nn.GroupNorm's arguments; num_channels is inferred."""

    num_groups: int = arg(REQUIRED, positive_int)
    """Groups the channels are split into; each is normalised over its channels and positions."""
    eps: float = arg(1e-5, nonneg_float)
    """Added to the variance for numerical stability."""
    affine: bool = arg(True, boolean)
    """Learnable per-channel scale and shift."""


@register
class GroupNorm(_PerSampleNorm):
    """Normalises each group of channels of each sample over its channels and positions."""

    name = "GroupNorm"
    Args = GroupNormArgs

    def output_shape(self, args: GroupNormArgs, shape: Shape) -> Shape:
        if shape[0] % args.num_groups:
            raise ShapeError(
                f"its {shape[0]} channels do not split into num_groups={args.num_groups} equal groups; "
                "use a divisor of the channels"
            )
        return shape

    def check_batch(self, args: GroupNormArgs, in_shape: Shape, batch_size: int) -> None:
        # torch's _verify_batch_size: a group of one value has no variance.
        if batch_size * (in_shape[0] // args.num_groups) * prod(in_shape[1:]) == 1:
            raise ShapeError(
                f"each group holds a single value at batch {batch_size} x {format_shape(in_shape)}; "
                "torch needs more than one to normalise; use fewer groups or a larger input"
            )

    def cost(self, args: GroupNormArgs, in_shape: Shape, out_shape: Shape) -> LayerCost:
        return LayerCost(
            params=2 * in_shape[0] if args.affine else 0,
            macs=0,
            elementwise_ops=normalisation_ops(prod(out_shape), True),
            fan_in=1,
        )

    def param_tensors(self, args: GroupNormArgs, in_shape: Shape, out_shape: Shape) -> tuple[int, ...]:
        return (in_shape[0], in_shape[0]) if args.affine else ()

    def autograd(
        self, args: GroupNormArgs, in_shape: Shape, out_shape: Shape, step: TrainingStep
    ) -> Autograd:
        return _statistics(step, args.num_groups)

    def build(self, args: GroupNormArgs, in_shape: Shape, out_shape: Shape) -> torch.nn.Module:
        from torch import nn

        return nn.GroupNorm(args.num_groups, in_shape[0], eps=args.eps, affine=args.affine)


@dataclass(frozen=True, slots=True)
class LayerNormArgs:
    """torch.nn.LayerNorm's arguments."""

    normalized_shape: int | tuple[int, ...] = arg(REQUIRED, integers(1))
    """The last dimensions of each sample normalised together (an int is one dimension)."""
    eps: float = arg(1e-5, nonneg_float)
    """Added to the variance for numerical stability."""
    elementwise_affine: bool = arg(True, boolean)
    """Learnable scale (and bias) per element of normalized_shape."""
    bias: bool = arg(True, boolean)
    """Whether the affine part has a bias."""


def _normalized(args: LayerNormArgs) -> tuple[int, ...]:
    shape = args.normalized_shape
    return (shape,) if isinstance(shape, int) else shape


def _affine(module: Any) -> dict[str, Any]:
    """Return a torch LayerNorm's eps, elementwise_affine and bias (a tensor or None in torch)."""
    affine = bool(module.elementwise_affine)
    # Without the affine part torch keeps no bias either; the flag then changes nothing: its default.
    return {
        "eps": float(module.eps),
        "elementwise_affine": affine,
        "bias": module.bias is not None or not affine,
    }


def _affine_params(elements: int, affine: bool, bias: bool) -> int:
    return elements * (1 + bias) if affine else 0


@register
class LayerNorm(_PerSampleNorm):
    """Normalises each sample over its last dimensions, as torch applies it."""

    name = "LayerNorm"
    Args = LayerNormArgs
    torch_calls = ("torch.nn.functional.layer_norm",)

    def from_module(self, module: Any) -> LayerNormArgs:
        shape = tuple(int(size) for size in module.normalized_shape)
        return LayerNormArgs(normalized_shape=shape[0] if len(shape) == 1 else shape, **_affine(module))

    def from_call(self, call: TorchCall) -> tuple[ImportStep, ...] | None:
        """Read F.layer_norm without weights (the module reads its own: read as the module)."""
        if call.args[:1] != (TENSOR,) or len(call.input_shapes) != 1:
            return None
        shape = call.arg(1, "normalized_shape", None)
        shape = (shape,) if type(shape) is int else shape
        weight, bias = call.arg(2, "weight", None), call.arg(3, "bias", None)
        eps = call.arg(4, "eps", 1e-5)
        if not isinstance(shape, list | tuple) or not all(type(size) is int for size in shape):
            return None
        if weight is not None or bias is not None or not isinstance(eps, int | float):
            return None
        normalized = shape[0] if len(shape) == 1 else tuple(shape)
        return ((self, LayerNormArgs(normalized, float(eps), elementwise_affine=False)),)

    def output_shape(self, args: LayerNormArgs, shape: Shape) -> Shape:
        normalized = _normalized(args)
        # torch would also normalise over the batch dimension when normalized_shape names it; the
        # counts would then depend on the batch, so the batch is kept out.
        if len(normalized) > len(shape) or shape[len(shape) - len(normalized) :] != normalized:
            raise ShapeError(
                f"normalized_shape {format_shape(normalized)} is not the last dimensions of its "
                f"{format_shape(shape)} input; give the trailing sizes, e.g. {shape[-1]}"
            )
        return shape

    def cost(self, args: LayerNormArgs, in_shape: Shape, out_shape: Shape) -> LayerCost:
        return LayerCost(
            params=_affine_params(prod(_normalized(args)), args.elementwise_affine, args.bias),
            macs=0,
            elementwise_ops=normalisation_ops(prod(out_shape), True),
            fan_in=1,
        )

    def param_tensors(self, args: LayerNormArgs, in_shape: Shape, out_shape: Shape) -> tuple[int, ...]:
        if not args.elementwise_affine:
            return ()
        elements = prod(_normalized(args))
        return (elements, elements) if args.bias else (elements,)

    def autograd(
        self, args: LayerNormArgs, in_shape: Shape, out_shape: Shape, step: TrainingStep
    ) -> Autograd:
        return _statistics(step, prod(in_shape) // prod(_normalized(args)))

    def build(self, args: LayerNormArgs, in_shape: Shape, out_shape: Shape) -> torch.nn.Module:
        from torch import nn

        return nn.LayerNorm(
            _normalized(args), eps=args.eps, elementwise_affine=args.elementwise_affine, bias=args.bias
        )


@dataclass(frozen=True, slots=True)
class LayerNorm2dArgs:
    """LayerNorm's arguments but normalized_shape, which is the channels."""

    eps: float = arg(1e-5, nonneg_float)
    """Added to the variance for numerical stability (ConvNeXt uses 1e-6)."""
    elementwise_affine: bool = arg(True, boolean)
    """Learnable per-channel scale (and bias)."""
    bias: bool = arg(True, boolean)
    """Whether the affine part has a bias."""


@register
class LayerNorm2d(_PerSampleNorm):
    """LayerNorm over the channels of each position of a [C, H, W] sample (torchvision's ConvNeXt)."""

    name = "LayerNorm2d"
    # torchvision's ConvNeXt's, whose forward is this kind's: channels moved last, F.layer_norm over
    # them, moved back (named, not imported: a class matches by its name).
    torch_types = ("torchvision.models.convnext.LayerNorm2d", "convprof.kinds.nn.LayerNorm2d")
    Args = LayerNorm2dArgs

    def from_module(self, module: Any) -> LayerNorm2dArgs:
        return LayerNorm2dArgs(**_affine(module))

    def output_shape(self, args: LayerNorm2dArgs, shape: Shape) -> Shape:
        needs_rank(self.name, shape, (3,))
        return shape

    def cost(self, args: LayerNorm2dArgs, in_shape: Shape, out_shape: Shape) -> LayerCost:
        return LayerCost(
            params=_affine_params(in_shape[0], args.elementwise_affine, args.bias),
            macs=0,
            elementwise_ops=normalisation_ops(prod(out_shape), True),
            fan_in=1,
        )

    def param_tensors(self, args: LayerNorm2dArgs, in_shape: Shape, out_shape: Shape) -> tuple[int, ...]:
        if not args.elementwise_affine:
            return ()
        return (in_shape[0], in_shape[0]) if args.bias else (in_shape[0],)

    def autograd(
        self, args: LayerNorm2dArgs, in_shape: Shape, out_shape: Shape, step: TrainingStep
    ) -> Autograd:
        return _statistics(step, prod(in_shape[1:]))

    def node_layout(
        self, args: Any, in_shapes: tuple[Shape, ...], out_shape: Shape, layouts: tuple[Layout, ...]
    ) -> Layout:
        # Normalised channels-last, then viewed channels-first: channels innermost.
        return Layout.channels_last((layouts[0].shape[0], *out_shape))

    def build(self, args: LayerNorm2dArgs, in_shape: Shape, out_shape: Shape) -> torch.nn.Module:
        from convprof.kinds.nn import LayerNorm2d as Module

        return Module(in_shape[0], eps=args.eps, elementwise_affine=args.elementwise_affine, bias=args.bias)


@dataclass(frozen=True, slots=True)
class LocalResponseNormArgs:
    """torch.nn.LocalResponseNorm's arguments."""

    size: int = arg(REQUIRED, positive_int)
    """Neighbouring channels the normalisation sums over."""
    alpha: float = arg(1e-4, real)
    """Multiplicative factor."""
    beta: float = arg(0.75, real)
    """Exponent."""
    k: float = arg(1.0, real)
    """Additive factor."""


#: F.local_response_norm's arguments after `size`: position, name, torch's default.
_LRN_FACTORS = ((2, "alpha", 1e-4), (3, "beta", 0.75), (4, "k", 1.0))


@register
class LocalResponseNorm(_PerSampleNorm):
    """Divides each element by a power of the summed squares of its neighbouring channels (AlexNet)."""

    keeps_layout = True
    name = "LocalResponseNorm"
    Args = LocalResponseNormArgs
    torch_calls = ("torch.nn.functional.local_response_norm",)

    def from_call(self, call: TorchCall) -> tuple[ImportStep, ...] | None:
        """Read F.local_response_norm(x, size, alpha, beta, k): what the module's forward calls."""
        if call.args[:1] != (TENSOR,) or len(call.input_shapes) != 1:
            return None
        size = call.arg(1, "size", None)
        factors = [call.arg(position, name, default) for position, name, default in _LRN_FACTORS]
        if type(size) is not int or size < 1:
            return None
        if not all(isinstance(value, int | float) and not isinstance(value, bool) for value in factors):
            return None
        alpha, beta, k = (float(value) for value in factors)
        return ((self, LocalResponseNormArgs(size, alpha, beta, k)),)

    def output_shape(self, args: LocalResponseNormArgs, shape: Shape) -> Shape:
        if len(shape) < 2:
            raise ShapeError(
                f"{self.name} needs channels and at least one spatial dimension, got {format_shape(shape)}"
            )
        return shape

    def cost(self, args: LocalResponseNormArgs, in_shape: Shape, out_shape: Shape) -> LayerCost:
        return LayerCost(
            params=0,
            macs=0,
            elementwise_ops=prod(out_shape) * (args.size + LRN_OPS_PER_ELEMENT),
            fan_in=min(args.size, in_shape[0]),
        )

    def autograd(
        self, args: LocalResponseNormArgs, in_shape: Shape, out_shape: Shape, step: TrainingStep
    ) -> Autograd:
        """torch composes it: squares, pads them by size - 1 channels, averages windows, then scales,
        raises to beta and divides. Autograd keeps the input, the padded squares (for the average's
        backward), the scaled sum (for the power's) and the divisor; the backward holds four
        tensors of the input's size at its peak. Unrecorded, each step's result goes once read."""
        elements = step.nbytes(prod(in_shape))
        padded = step.nbytes((in_shape[0] + args.size - 1) * prod(in_shape[1:]))
        if not step.recorded:  # each step's result goes once the next has read it
            return Autograd(
                keeps_new=(padded, elements, elements), forward_peak=max(3 * elements, elements + padded)
            )
        return Autograd(keeps_inputs=(0,), keeps_new=(padded, elements, elements), backward_peak=4 * elements)

    def build(self, args: LocalResponseNormArgs, in_shape: Shape, out_shape: Shape) -> torch.nn.Module:
        from torch import nn

        return nn.LocalResponseNorm(args.size, alpha=args.alpha, beta=args.beta, k=args.k)
