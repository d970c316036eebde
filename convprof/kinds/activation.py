"""Element-wise layers: activations, identity and dropout."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any, ClassVar

from convprof.kinds.base import ImportStep, ShapeError, UnaryKind, register
from convprof.kinds.calls import TENSOR, TorchCall
from convprof.kinds.records import Autograd, LayerCost, ReceptiveField, TrainingStep
from convprof.kinds.strides import Layout
from convprof.spec import Shape, prod
from convprof.spec.args import arg, boolean, choice, integer, optional, positive_int, real
from convprof.units import format_shape

if TYPE_CHECKING:
    import torch

__all__ = [
    "CELU",
    "ELU",
    "GELU",
    "SELU",
    "Clamp",
    "Elementwise",
    "Hardsigmoid",
    "Hardswish",
    "Hardtanh",
    "Identity",
    "LeakyReLU",
    "LogSoftmax",
    "Mish",
    "PReLU",
    "ReLU",
    "ReLU6",
    "SiLU",
    "Sigmoid",
    "Softmax",
    "Softplus",
    "Tanh",
]


#: Element-wise ops per element of a softmax or log-softmax: a comparison for the maximum, a
#: subtraction of it, an exponential, an add into the sum and a divide (log-softmax: a subtraction of
#: the sum's logarithm).
SOFTMAX_OPS_PER_ELEMENT = 5


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


class Elementwise(UnaryKind):
    """A layer that maps each element to one element: shape kept, no parameters."""

    keeps_layout = True
    torch_class_of_its_name = True

    ops_per_element: ClassVar[int] = 1
    """Element-wise ops counted per output element."""
    keeps: ClassVar[str] = "input"
    """What torch's backward formula reads: the layer's `input` or its `output`."""
    inplace_keeps_copy: ClassVar[bool] = False
    """Whether the in-place form keeps a copy of its input (its formula reads the input, which the
    layer overwrites: relu6, silu, hardswish, hardsigmoid, hardtanh, mish); the others read their
    result, which is the input's storage."""

    def output_shape(self, args: Any, shape: Shape) -> Shape:
        return shape

    def cost(self, args: Any, in_shape: Shape, out_shape: Shape) -> LayerCost:
        return LayerCost(params=0, macs=0, elementwise_ops=self.ops_per_element * prod(out_shape), fan_in=1)

    def receptive_field(self, args: Any, in_shape: Shape, rf: ReceptiveField | None) -> ReceptiveField | None:
        return rf

    def aliases_input(self, args: Any, training: bool, layout: Layout | None = None) -> bool:
        return bool(getattr(args, "inplace", False))

    def autograd(self, args: Any, in_shape: Shape, out_shape: Shape, step: TrainingStep) -> Autograd:
        """Keep what the backward formula reads; its gradient is a new tensor of the input's size."""
        if getattr(args, "inplace", False):
            if self.inplace_keeps_copy:
                # The copy is autograd's: where nothing records the layer, torch makes none.
                return Autograd(keeps_new=(step.nbytes(prod(in_shape)),) if step.recorded else ())
            return Autograd(keeps_output=True)
        return Autograd(keeps_output=True) if self.keeps == "output" else Autograd(keeps_inputs=(0,))

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
        if call.target.endswith("_") and "inplace" in values:  # torch.relu_, Tensor.relu_, F.elu_
            values["inplace"] = True
        return ((self, self.Args(**values)),)

    def build(self, args: Any, in_shape: Shape, out_shape: Shape) -> torch.nn.Module:
        from torch import nn

        module: type[torch.nn.Module] = getattr(nn, self.name)
        fields = {name: getattr(args, name) for name in getattr(args, "__slots__", ())}
        return module(**fields)


@register
class ReLU(Elementwise):
    """max(0, x)."""

    name = "ReLU"
    keeps = "output"
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
class ReLU6(Elementwise):
    """min(max(0, x), 6)."""

    name = "ReLU6"
    inplace_keeps_copy = True
    torch_calls = ("torch.nn.functional.relu6",)
    Args = InplaceArgs


@register
class LeakyReLU(Elementwise):
    """x if x > 0 else negative_slope * x."""

    name = "LeakyReLU"
    torch_calls = ("torch.nn.functional.leaky_relu", "torch.nn.functional.leaky_relu_")
    Args = LeakyReLUArgs


@register
class GELU(Elementwise):
    """x * Phi(x)."""

    name = "GELU"
    torch_calls = ("torch.nn.functional.gelu",)
    Args = GELUArgs


@register
class SiLU(Elementwise):
    """x * sigmoid(x)."""

    name = "SiLU"
    inplace_keeps_copy = True
    torch_calls = ("torch.nn.functional.silu",)
    Args = InplaceArgs


@register
class Sigmoid(Elementwise):
    """1 / (1 + exp(-x))."""

    name = "Sigmoid"
    keeps = "output"
    torch_calls = ("torch.nn.functional.sigmoid", "torch.sigmoid", "Tensor.sigmoid")
    Args = NoArgs

    def from_call(self, call: TorchCall) -> tuple[ImportStep, ...] | None:
        """Read F.sigmoid(x), torch.sigmoid(x) and x.sigmoid() (without an `out` tensor)."""
        if call.args != (TENSOR,) or any(value is not None for value in call.kwargs.values()):
            return None
        return ((self, NoArgs()),)


@register
class Hardswish(Elementwise):
    """x * relu6(x + 3) / 6 (MobileNetV3's cheap swish)."""

    name = "Hardswish"
    inplace_keeps_copy = True
    torch_calls = ("torch.nn.functional.hardswish",)
    Args = InplaceArgs


@register
class Hardsigmoid(Elementwise):
    """relu6(x + 3) / 6 (MobileNetV3's cheap sigmoid)."""

    name = "Hardsigmoid"
    inplace_keeps_copy = True
    torch_calls = ("torch.nn.functional.hardsigmoid",)
    Args = InplaceArgs


@register
class Tanh(Elementwise):
    """Hyperbolic tangent."""

    name = "Tanh"
    keeps = "output"
    torch_calls = ("torch.nn.functional.tanh", "torch.tanh", "Tensor.tanh")
    Args = NoArgs

    def from_call(self, call: TorchCall) -> tuple[ImportStep, ...] | None:
        """Read F.tanh(x), torch.tanh(x) and x.tanh() (without an `out` tensor)."""
        if call.args != (TENSOR,) or any(value is not None for value in call.kwargs.values()):
            return None
        return ((self, NoArgs()),)


@register
class Identity(Elementwise):
    """Returns its input: no ops, no new memory."""

    name = "Identity"
    Args = NoArgs
    ops_per_element = 0
    torch_calls = (
        "torch.cat",
        "torch.concat",
        "torchvision.ops.stochastic_depth.stochastic_depth",
    )

    def from_call(self, call: TorchCall) -> tuple[ImportStep, ...] | None:
        """Read the calls that return their input's values unchanged at inference."""
        if len(call.input_shapes) != 1:
            return None
        if call.target in ("torch.cat", "torch.concat") and call.arg(0, "tensors", None) == [TENSOR]:
            return ((self, NoArgs()),)  # a list of one tensor (DenseNet's first layer): its copy
        if call.target.endswith("stochastic_depth") and call.arg(3, "training", True) is False:
            return ((self, NoArgs()),)  # torchvision's StochasticDepth is the identity in eval mode
        return None

    def aliases_input(self, args: Any, training: bool, layout: Layout | None = None) -> bool:
        return True

    def autograd(self, args: Any, in_shape: Shape, out_shape: Shape, step: TrainingStep) -> Autograd:
        """The output is the input itself: its gradient passes through untouched."""
        return Autograd(grad_views=(0,))


@dataclass(frozen=True, slots=True)
class AlphaArgs:
    """torch.nn.ELU's and CELU's arguments."""

    alpha: float = arg(1.0, real)
    """Scale of the negative part."""
    inplace: bool = arg(False, boolean)
    """Overwrite the input instead of allocating an output."""


@register
class ELU(Elementwise):
    """x if x > 0 else alpha * (exp(x) - 1)."""

    name = "ELU"
    torch_calls = ("torch.nn.functional.elu", "torch.nn.functional.elu_")
    Args = AlphaArgs


@register
class SELU(Elementwise):
    """A fixed scale times ELU with a fixed alpha (self-normalising networks)."""

    name = "SELU"
    torch_calls = ("torch.nn.functional.selu", "torch.selu", "torch.selu_")
    Args = InplaceArgs


@register
class CELU(Elementwise):
    """x if x > 0 else alpha * (exp(x / alpha) - 1)."""

    name = "CELU"
    torch_calls = ("torch.nn.functional.celu", "torch.celu", "torch.celu_")
    Args = AlphaArgs

    def output_shape(self, args: AlphaArgs, shape: Shape) -> Shape:
        if args.alpha == 0:
            raise ShapeError("alpha: 0 divides by zero (torch refuses it); use a non-zero alpha")
        return shape


@dataclass(frozen=True, slots=True)
class PReLUArgs:
    """torch.nn.PReLU's arguments."""

    num_parameters: int = arg(1, positive_int)
    """Learnable slopes: 1 shared, or one per channel."""
    init: float = arg(0.25, real)
    """Initial slope."""


@register
class PReLU(Elementwise):
    """x if x > 0 else a * x, with learnable slopes a."""

    name = "PReLU"
    Args = PReLUArgs

    def output_shape(self, args: PReLUArgs, shape: Shape) -> Shape:
        if args.num_parameters not in (1, shape[0]):
            raise ShapeError(
                f"num_parameters={args.num_parameters} must be 1 or the input's {shape[0]} channels"
            )
        return shape

    def cost(self, args: PReLUArgs, in_shape: Shape, out_shape: Shape) -> LayerCost:
        return LayerCost(params=args.num_parameters, macs=0, elementwise_ops=prod(out_shape), fan_in=1)

    def param_tensors(self, args: PReLUArgs, in_shape: Shape, out_shape: Shape) -> tuple[int, ...]:
        return (args.num_parameters,)

    def autograd(self, args: PReLUArgs, in_shape: Shape, out_shape: Shape, step: TrainingStep) -> Autograd:
        """Keep the input; the backward makes the input's gradient (needed or not) and the slopes' at
        the input's size, then sums the slopes' per slope (after dropping an unneeded input's), but
        for frozen slopes."""
        elements = step.nbytes(prod(in_shape))
        slopes = args.num_parameters * step.itemsize if any(step.grads) and step.trainable else 0
        return Autograd(keeps_inputs=(0,), backward_peak=2 * elements + slopes)


@dataclass(frozen=True, slots=True)
class HardtanhArgs:
    """torch.nn.Hardtanh's arguments."""

    min_val: float = arg(-1.0, real)
    """Lower bound."""
    max_val: float = arg(1.0, real)
    """Upper bound; above min_val."""
    inplace: bool = arg(False, boolean)
    """Overwrite the input instead of allocating an output."""


@register
class Hardtanh(Elementwise):
    """x clamped to [min_val, max_val]."""

    name = "Hardtanh"
    inplace_keeps_copy = True
    torch_calls = ("torch.nn.functional.hardtanh", "torch.nn.functional.hardtanh_")
    Args = HardtanhArgs

    def output_shape(self, args: HardtanhArgs, shape: Shape) -> Shape:
        if args.max_val <= args.min_val:
            raise ShapeError(
                f"max_val={args.max_val} must be above min_val={args.min_val}, as torch requires"
            )
        return shape


@dataclass(frozen=True, slots=True)
class ClampArgs:
    """torch.clamp's arguments: numbers, either of them may be left out."""

    min: float | None = arg(None, optional(real))
    """Lower bound; null: none."""
    max: float | None = arg(None, optional(real))
    """Upper bound; null: none."""
    inplace: bool = arg(False, boolean)
    """Overwrite the input instead of allocating an output (clamp_)."""


@register
class Clamp(Elementwise):
    """x limited to [min, max] (torch.clamp, clip, clamp_min, clamp_max): one op per element."""

    name = "Clamp"
    torch_class_of_its_name = False
    torch_types = ("convprof.kinds.nn.Clamp",)
    inplace_keeps_copy = True
    torch_calls = (
        "torch.clamp",
        "torch.clamp_",
        "torch.clip",
        "torch.clip_",
        "torch.clamp_min",
        "torch.clamp_max",
        "Tensor.clamp",
        "Tensor.clamp_",
        "Tensor.clip",
        "Tensor.clip_",
        "Tensor.clamp_min",
        "Tensor.clamp_min_",
        "Tensor.clamp_max",
        "Tensor.clamp_max_",
    )
    Args = ClampArgs

    def from_call(self, call: TorchCall) -> tuple[ImportStep, ...] | None:
        """Read bounds given as numbers (tensor bounds are not read)."""
        if call.args[:1] != (TENSOR,) or len(call.input_shapes) != 1:
            return None
        name = call.target.rsplit(".", 1)[-1]
        if name.startswith("clamp_min"):
            low, high = call.arg(1, "min", None), None
        elif name.startswith("clamp_max"):
            low, high = None, call.arg(1, "max", None)
        else:
            low, high = call.arg(1, "min", None), call.arg(2, "max", None)
        bounds = (low, high)
        if all(b is None for b in bounds) or call.kwargs.get("out") is not None:
            return None
        if any(b is not None and (isinstance(b, bool) or not isinstance(b, int | float)) for b in bounds):
            return None
        low, high = (None if b is None else float(b) for b in bounds)
        return ((self, ClampArgs(low, high, call.target.endswith("_"))),)

    def output_shape(self, args: ClampArgs, shape: Shape) -> Shape:
        if args.min is None and args.max is None:
            raise ShapeError("give min, max or both (torch refuses a clamp without bounds)")
        return shape

    def autograd(self, args: ClampArgs, in_shape: Shape, out_shape: Shape, step: TrainingStep) -> Autograd:
        """Keep the input (a copy of it in place); the backward selects the gradient where the input
        was inside the bounds: a zero scalar, a mask per bound (one byte per element), then the
        gradient."""
        record = super().autograd(args, in_shape, out_shape, step)
        elements = prod(in_shape) * step.batch
        bounds = (args.min is not None) + (args.max is not None)
        return Autograd(
            keeps_inputs=record.keeps_inputs,
            keeps_new=record.keeps_new,
            backward_peak=step.itemsize + elements * bounds + step.nbytes(prod(in_shape)),
        )

    def build(self, args: ClampArgs, in_shape: Shape, out_shape: Shape) -> torch.nn.Module:
        from convprof.kinds.nn import Clamp as Module

        return Module(args.min, args.max, args.inplace)


@register
class Mish(Elementwise):
    """x * tanh(softplus(x))."""

    name = "Mish"
    inplace_keeps_copy = True
    torch_calls = ("torch.nn.functional.mish",)
    Args = InplaceArgs


@dataclass(frozen=True, slots=True)
class SoftplusArgs:
    """torch.nn.Softplus's arguments."""

    beta: float = arg(1.0, real)
    """Sharpness: log(1 + exp(beta * x)) / beta."""
    threshold: float = arg(20.0, real)
    """Above beta * x > threshold the layer returns x."""


@register
class Softplus(Elementwise):
    """log(1 + exp(beta * x)) / beta, linear above the threshold."""

    name = "Softplus"
    torch_calls = ("torch.nn.functional.softplus",)
    Args = SoftplusArgs


@dataclass(frozen=True, slots=True)
class SoftmaxArgs:
    """torch.nn.Softmax's and LogSoftmax's argument."""

    dim: int | None = arg(None, optional(integer))
    """Dimension of the batched tensor normalised over (1 = channels); null lets torch choose."""


def softmax_axis(dim: int | None, shape: Shape) -> int:
    """Return the per-sample axis a softmax over batched `dim` normalises, or refuse the batch."""
    rank = len(shape) + 1  # torch's dimensions include the batch
    if dim is None:
        # torch's legacy choice (_get_softmax_dim), which it warns about: 0 for 1-D and 3-D tensors.
        resolved = 0 if rank in (1, 3) else 1
    elif not -rank <= dim < rank:
        raise ShapeError(
            f"dim={dim} is outside the {rank} dimensions of a batched {format_shape(shape)} input"
        )
    else:
        resolved = dim % rank
    if resolved == 0:
        chosen = "dim=0" if dim is not None else "without dim, torch picks dim=0 here, which"
        raise ShapeError(f"{chosen} normalises across the batch; give dim >= 1 (1 = channels)")
    return resolved - 1


class _Softmax(Elementwise):
    """Normalises exponentials along one dimension: a classifier's head."""

    Args = SoftmaxArgs
    ops_per_element = SOFTMAX_OPS_PER_ELEMENT
    keeps = "output"

    def output_shape(self, args: SoftmaxArgs, shape: Shape) -> Shape:
        softmax_axis(args.dim, shape)
        return shape

    def cost(self, args: SoftmaxArgs, in_shape: Shape, out_shape: Shape) -> LayerCost:
        axis = softmax_axis(args.dim, in_shape)
        return LayerCost(
            params=0, macs=0, elementwise_ops=self.ops_per_element * prod(out_shape), fan_in=in_shape[axis]
        )

    def receptive_field(
        self, args: SoftmaxArgs, in_shape: Shape, rf: ReceptiveField | None
    ) -> ReceptiveField | None:
        axis = softmax_axis(args.dim, in_shape)
        # Along channels a unit still sees the same positions; along a spatial axis, all of them.
        if rf is None or not rf.fits(in_shape) or axis in rf.spatial_axes():
            return None
        return rf

    def from_call(self, call: TorchCall) -> tuple[ImportStep, ...] | None:
        """Read F.softmax(x, dim), torch.softmax(x, dim) and x.softmax(dim) (and log-softmax's) in
        the input's dtype; F.softmax's `_stacklevel` changes nothing."""
        if call.args[:1] != (TENSOR,) or len(call.input_shapes) != 1:
            return None
        dim = call.arg(1, "dim", None)
        dtype = call.arg(3 if call.target.startswith("torch.nn.functional.") else 2, "dtype", None)
        if (dim is not None and type(dim) is not int) or dtype is not None:
            return None
        return ((self, SoftmaxArgs(dim)),)

    def build(self, args: SoftmaxArgs, in_shape: Shape, out_shape: Shape) -> torch.nn.Module:
        from torch import nn

        module: type[torch.nn.Module] = getattr(nn, self.name)
        # The dimension torch would choose, given explicitly: the same result without its warning.
        return module(dim=softmax_axis(args.dim, in_shape) + 1)


@register
class Softmax(_Softmax):
    """exp(x) / sum(exp(x)) along `dim`."""

    name = "Softmax"
    torch_types = ("torch.nn.Softmax", "torch.nn.Softmax2d")
    torch_calls = ("torch.nn.functional.softmax", "torch.softmax", "Tensor.softmax")

    def from_module(self, module: torch.nn.Module) -> SoftmaxArgs:
        """Read nn.Softmax(dim), and nn.Softmax2d as the softmax over the channels it is: dim -3."""
        from torch import nn

        if isinstance(module, nn.Softmax2d):
            return SoftmaxArgs(-3)
        return SoftmaxArgs(module.dim)  # type: ignore[arg-type]


@register
class LogSoftmax(_Softmax):
    """log(softmax(x)) along `dim`."""

    name = "LogSoftmax"
    torch_calls = ("torch.nn.functional.log_softmax", "torch.log_softmax", "Tensor.log_softmax")
