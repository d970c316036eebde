"""Element-wise layers: activations, identity and dropout."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from convprof.args import arg, boolean, choice, probability, real
from convprof.kinds.base import LayerCost, ReceptiveField, UnaryKind, prod, register
from convprof.spec import Shape

if TYPE_CHECKING:
    import torch

__all__ = [
    "GELU",
    "Dropout",
    "Hardsigmoid",
    "Hardswish",
    "Identity",
    "LeakyReLU",
    "ReLU",
    "ReLU6",
    "SiLU",
    "Sigmoid",
    "Tanh",
]


@dataclass(frozen=True, slots=True)
class NoArgs:
    """A layer without arguments."""


@dataclass(frozen=True, slots=True)
class InplaceArgs:
    """An activation whose only argument is `inplace`."""

    inplace: bool = arg(False, boolean)
    """Overwrite the input instead of allocating an output."""


@dataclass(frozen=True, slots=True)
class LeakyReLUArgs:
    """torch.nn.LeakyReLU's arguments."""

    negative_slope: float = arg(0.01, real)
    """Slope for negative inputs."""
    inplace: bool = arg(False, boolean)
    """Overwrite the input instead of allocating an output."""


@dataclass(frozen=True, slots=True)
class GELUArgs:
    """torch.nn.GELU's argument."""

    approximate: str = arg("none", choice("none", "tanh"))
    """'none' for the exact erf form, 'tanh' for the approximation."""


@dataclass(frozen=True, slots=True)
class DropoutArgs:
    """torch.nn.Dropout's arguments."""

    p: float = arg(0.5, probability)
    """Probability of zeroing an element in training."""
    inplace: bool = arg(False, boolean)
    """Overwrite the input instead of allocating an output."""


class _Elementwise(UnaryKind):
    """A layer that maps each element to one element: shape kept, no parameters."""

    ops_per_element: ClassVar[int] = 1
    """Element-wise ops counted per output element."""

    def output_shape(self, args: Any, shape: Shape) -> Shape:
        return shape

    def cost(self, args: Any, in_shape: Shape, out_shape: Shape) -> LayerCost:
        return LayerCost(params=0, macs=0, elementwise_ops=self.ops_per_element * prod(out_shape), fan_in=1)

    def receptive_field(self, args: Any, in_shape: Shape, rf: ReceptiveField | None) -> ReceptiveField | None:
        return rf

    def aliases_input(self, args: Any, training: bool) -> bool:
        return bool(getattr(args, "inplace", False))

    def build(self, args: Any, in_shape: Shape, out_shape: Shape) -> torch.nn.Module:
        from torch import nn

        module: type[torch.nn.Module] = getattr(nn, self.name)
        fields = {name: getattr(args, name) for name in getattr(args, "__slots__", ())}
        return module(**fields)


@register
class ReLU(_Elementwise):
    """max(0, x)."""

    name = "ReLU"
    Args = InplaceArgs


@register
class ReLU6(_Elementwise):
    """min(max(0, x), 6)."""

    name = "ReLU6"
    Args = InplaceArgs


@register
class LeakyReLU(_Elementwise):
    """x if x > 0 else negative_slope * x."""

    name = "LeakyReLU"
    Args = LeakyReLUArgs


@register
class GELU(_Elementwise):
    """x * Phi(x)."""

    name = "GELU"
    Args = GELUArgs


@register
class SiLU(_Elementwise):
    """x * sigmoid(x)."""

    name = "SiLU"
    Args = InplaceArgs


@register
class Sigmoid(_Elementwise):
    """1 / (1 + exp(-x))."""

    name = "Sigmoid"
    Args = NoArgs


@register
class Hardswish(_Elementwise):
    """x * relu6(x + 3) / 6 (MobileNetV3's cheap swish)."""

    name = "Hardswish"
    Args = InplaceArgs


@register
class Hardsigmoid(_Elementwise):
    """relu6(x + 3) / 6 (MobileNetV3's cheap sigmoid)."""

    name = "Hardsigmoid"
    Args = InplaceArgs


@register
class Tanh(_Elementwise):
    """Hyperbolic tangent."""

    name = "Tanh"
    Args = NoArgs


@register
class Identity(_Elementwise):
    """Returns its input: no ops, no new memory."""

    name = "Identity"
    Args = NoArgs
    ops_per_element = 0

    def aliases_input(self, args: Any, training: bool) -> bool:
        return True


@register
class Dropout(_Elementwise):
    """Zeroes elements in training; the identity at inference, which is what convprof counts."""

    name = "Dropout"
    Args = DropoutArgs
    ops_per_element = 0

    def aliases_input(self, args: DropoutArgs, training: bool) -> bool:
        return not training or args.inplace
