"""Element-wise layers: activations, identity and dropout."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any, ClassVar

from convprof.args import arg, boolean, choice, probability, real
from convprof.kinds.base import (
    TENSOR,
    ImportStep,
    LayerCost,
    ReceptiveField,
    TorchCall,
    UnaryKind,
    prod,
    register,
)
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

    def from_call(self, call: TorchCall) -> tuple[ImportStep, ...] | None:
        """Read a functional form: its arguments follow the input in the module's order (F.leaky_relu)."""
        if call.args[:1] != (TENSOR,) or len(call.input_shapes) != 1:
            return None
        values: dict[str, Any] = {}
        for position, item in enumerate(fields(self.Args), start=1):
            value = call.arg(position, item.name, item.default)
            if isinstance(item.default, float) and isinstance(value, int) and not isinstance(value, bool):
                value = float(value)
            values[item.name] = value
        if call.target.endswith("_") and "inplace" in values:  # torch.relu_, Tensor.relu_
            values["inplace"] = True
        return ((self, self.Args(**values)),)

    def build(self, args: Any, in_shape: Shape, out_shape: Shape) -> torch.nn.Module:
        from torch import nn

        module: type[torch.nn.Module] = getattr(nn, self.name)
        fields = {name: getattr(args, name) for name in getattr(args, "__slots__", ())}
        return module(**fields)


@register
class ReLU(_Elementwise):
    """max(0, x)."""

    name = "ReLU"
    torch_types = ("torch.nn.ReLU",)
    torch_calls = (
        "torch.nn.functional.relu",
        "torch.nn.functional.relu_",
        "torch.relu",
        "torch.relu_",
        "Tensor.relu",
        "Tensor.relu_",
    )
    Args = InplaceArgs


@register
class ReLU6(_Elementwise):
    """min(max(0, x), 6)."""

    name = "ReLU6"
    torch_types = ("torch.nn.ReLU6",)
    torch_calls = ("torch.nn.functional.relu6",)
    Args = InplaceArgs


@register
class LeakyReLU(_Elementwise):
    """x if x > 0 else negative_slope * x."""

    name = "LeakyReLU"
    torch_types = ("torch.nn.LeakyReLU",)
    torch_calls = ("torch.nn.functional.leaky_relu", "torch.nn.functional.leaky_relu_")
    Args = LeakyReLUArgs


@register
class GELU(_Elementwise):
    """x * Phi(x)."""

    name = "GELU"
    torch_types = ("torch.nn.GELU",)
    torch_calls = ("torch.nn.functional.gelu",)
    Args = GELUArgs


@register
class SiLU(_Elementwise):
    """x * sigmoid(x)."""

    name = "SiLU"
    torch_types = ("torch.nn.SiLU",)
    torch_calls = ("torch.nn.functional.silu",)
    Args = InplaceArgs


@register
class Sigmoid(_Elementwise):
    """1 / (1 + exp(-x))."""

    name = "Sigmoid"
    torch_types = ("torch.nn.Sigmoid",)
    torch_calls = ("torch.nn.functional.sigmoid", "torch.sigmoid", "Tensor.sigmoid")
    Args = NoArgs


@register
class Hardswish(_Elementwise):
    """x * relu6(x + 3) / 6 (MobileNetV3's cheap swish)."""

    name = "Hardswish"
    torch_types = ("torch.nn.Hardswish",)
    torch_calls = ("torch.nn.functional.hardswish",)
    Args = InplaceArgs


@register
class Hardsigmoid(_Elementwise):
    """relu6(x + 3) / 6 (MobileNetV3's cheap sigmoid)."""

    name = "Hardsigmoid"
    torch_types = ("torch.nn.Hardsigmoid",)
    torch_calls = ("torch.nn.functional.hardsigmoid",)
    Args = InplaceArgs


@register
class Tanh(_Elementwise):
    """Hyperbolic tangent."""

    name = "Tanh"
    torch_types = ("torch.nn.Tanh",)
    torch_calls = ("torch.nn.functional.tanh", "torch.tanh", "Tensor.tanh")
    Args = NoArgs


@register
class Identity(_Elementwise):
    """Returns its input: no ops, no new memory."""

    name = "Identity"
    Args = NoArgs
    ops_per_element = 0
    torch_types = ("torch.nn.Identity",)
    torch_calls = (
        "Tensor.contiguous",
        "torch.cat",
        "torch.concat",
        "torchvision.ops.stochastic_depth.stochastic_depth",
    )

    def from_call(self, call: TorchCall) -> tuple[ImportStep, ...] | None:
        """Read the calls that return their input's values unchanged at inference."""
        if len(call.input_shapes) != 1:
            return None
        if call.target == "Tensor.contiguous" and call.args == (TENSOR,) and not call.kwargs:
            return ((self, NoArgs()),)
        if call.target in ("torch.cat", "torch.concat") and call.arg(0, "tensors", None) == [TENSOR]:
            return ((self, NoArgs()),)  # a list of one tensor (DenseNet's first layer): its copy
        if call.target.endswith("stochastic_depth") and call.arg(3, "training", True) is False:
            return ((self, NoArgs()),)  # torchvision's StochasticDepth is the identity in eval mode
        return None

    def aliases_input(self, args: Any, training: bool) -> bool:
        return True


@register
class Dropout(_Elementwise):
    """Zeroes elements in training; the identity at inference, which is what convprof counts."""

    name = "Dropout"
    Args = DropoutArgs
    ops_per_element = 0
    torch_types = ("torch.nn.Dropout",)
    torch_calls = ("torch.nn.functional.dropout",)

    def from_call(self, call: TorchCall) -> tuple[ImportStep, ...] | None:
        """Read F.dropout traced in eval mode (training=False); a dropout active at inference is not."""
        if call.args[:1] != (TENSOR,) or call.arg(2, "training", True) is not False:
            return None
        p = float(call.arg(1, "p", 0.5))
        return ((self, DropoutArgs(p=p, inplace=bool(call.arg(3, "inplace", False)))),)

    def aliases_input(self, args: DropoutArgs, training: bool) -> bool:
        return not training or args.inplace
