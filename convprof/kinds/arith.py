"""Arithmetic of a tensor and a constant: a number (`x * 0.17`, `x / 2`, `2 - x`) or a constant
tensor made while running (YOLO's `anchors - lt`, `* strides`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from convprof.kinds.base import ImportStep, ShapeError, UnaryKind, register
from convprof.kinds.calls import TENSOR, Constant, TorchCall
from convprof.kinds.merge import broadcast_shape
from convprof.kinds.records import Autograd, LayerCost, ReceptiveField, TrainingStep
from convprof.kinds.strides import Layout
from convprof.spec import Shape, prod
from convprof.spec.args import REQUIRED, arg, boolean, choice, constant_shape, optional, real
from convprof.units import format_shape

if TYPE_CHECKING:
    import torch

__all__ = ["OPERATORS", "Arithmetic", "ArithmeticArgs"]

#: The operations, by the names a spec gives them.
OPERATORS = ("add", "sub", "mul", "div", "pow")
#: Operations whose constant may come first (`2 - x`, `1 / x`, `2 ** x`); add and mul commute.
_ORDERED = ("sub", "div", "pow")


@dataclass(frozen=True, slots=True)
class ArithmeticArgs:
    """An element-wise operation of the input and a constant."""

    op: str = arg(REQUIRED, choice(*OPERATORS))
    """add, sub, mul, div or pow."""
    other: float | None = arg(None, optional(real))
    """The constant, a number (`x * 0.17`); null when it is a tensor (`other_shape`)."""
    other_shape: tuple[int, ...] | None = arg(None, optional(constant_shape), verbatim=True)
    """The whole shape of a constant tensor made while running (no batch: the same for every sample,
    broadcast against the batched input as torch does); its values are not in the spec."""
    reverse: bool = arg(False, boolean)
    """The constant is the left operand (`2 - x`, `1 / x`, `2 ** x`); sub, div and pow only."""
    inplace: bool = arg(False, boolean)
    """Overwrite the input (`x.mul_(0.5)`, `x += 1`)."""


#: What each call's name says about its operation: (op, reversed).
_CALLS: dict[str, tuple[str, bool]] = {}
for _op, _names in {
    "add": ("operator.add", "operator.iadd", "torch.add", "Tensor.add", "Tensor.add_"),
    "sub": ("operator.sub", "operator.isub", "torch.sub", "torch.subtract", "Tensor.sub", "Tensor.sub_"),
    "mul": (
        "operator.mul",
        "operator.imul",
        "torch.mul",
        "torch.multiply",
        "Tensor.mul",
        "Tensor.mul_",
        "Tensor.multiply",
    ),
    "div": (
        "operator.truediv",
        "operator.itruediv",
        "torch.div",
        "torch.divide",
        "torch.true_divide",
        "Tensor.div",
        "Tensor.div_",
        "Tensor.divide",
        "Tensor.true_divide",
    ),
    "pow": ("operator.pow", "operator.ipow", "torch.pow", "Tensor.pow", "Tensor.pow_"),
}.items():
    for _name in _names:
        _CALLS[_name] = (_op, False)
# `2 - x` reaches a reader as `operator.sub(2, x)`: the importer names Tensor's reflected operators
# (`x.__rsub__(2)`) by the operator they apply, operands in the order the code wrote them.
_CALLS["torch.rsub"] = ("sub", True)
#: Calls that overwrite their input.
_INPLACE = ("operator.iadd", "operator.isub", "operator.imul", "operator.itruediv", "operator.ipow")


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


@register
class Arithmetic(UnaryKind):
    """An element-wise operation of the input and a constant: one op per output element."""

    name = "Arithmetic"
    Args = ArithmeticArgs
    keeps_layout = True
    torch_types = ("convprof.kinds.nn.Arithmetic",)
    torch_calls = tuple(_CALLS)

    def from_call(self, call: TorchCall) -> tuple[ImportStep, ...] | None:
        """Read a tensor and a number or a constant tensor, in either order, as torch's operators,
        functions and methods take them (`x * 0.5`, `0.5 * x`, `2 - x`, `torch.sub(2, x)`,
        `torch.rsub(x, 2)`, `anchors - x`, `anchors.sub(x)`)."""
        found = _CALLS.get(call.target)
        if found is None or len(call.input_shapes) != 1 or len(call.args) < 2:
            return None
        op, reverse = found
        first, second = call.args[0], call.args[1]
        extra = {key: value for key, value in call.kwargs.items() if value is not None}
        if len(call.args) > 2 or extra.pop("alpha", 1) != 1 or extra:
            return None  # torch.add's alpha, div's rounding_mode, an out tensor
        if first is TENSOR:
            constant = second
        elif second is TENSOR and not reverse:
            # 2 - x, torch.sub(2, x); and `anchors - x` when running, a method of the constant
            constant, reverse = first, op in _ORDERED
        else:
            return None
        if op in ("add", "mul"):
            reverse = False
        name = call.target.rsplit(".", 1)[-1]
        inplace = call.target in _INPLACE or (name.endswith("_") and not name.startswith("__"))
        if _number(constant):
            return ((self, ArithmeticArgs(op, float(constant), None, reverse, inplace)),)
        if isinstance(constant, Constant) and op != "pow":
            return ((self, ArithmeticArgs(op, None, tuple(constant.shape), reverse, inplace)),)
        return None

    def _other(self, args: ArithmeticArgs, shape: Shape) -> Shape:
        """Return the per-sample shape the constant broadcasts as, or say why it cannot be."""
        if (args.other is None) == (args.other_shape is None):
            raise ShapeError(
                "give the constant as `other` (a number) or as `other_shape` (a constant tensor's "
                "shape), one of the two"
            )
        if args.reverse and args.op not in _ORDERED:
            raise ShapeError(f"reverse applies to sub, div and pow; {args.op} gives the same either way")
        if args.op == "pow" and args.other_shape is not None:
            raise ShapeError("pow is read with a number (a power of a constant tensor is not)")
        if args.other_shape is None:
            return ()
        constant = args.other_shape
        # Batched, the input is (N, *shape): a constant of one more dimension meets the batch with
        # its first, which must be 1; one of more would move the batch.
        if len(constant) > len(shape) + 1 or (len(constant) == len(shape) + 1 and constant[0] != 1):
            raise ShapeError(
                f"a constant of shape {format_shape(constant) if constant else '[]'} would broadcast "
                f"against the batch of a {format_shape(shape)} input; its dimensions beyond the "
                "sample's must be a leading 1"
            )
        return constant[1:] if len(constant) == len(shape) + 1 else constant

    def output_shape(self, args: ArithmeticArgs, shape: Shape) -> Shape:
        other = self._other(args, shape)
        out = broadcast_shape((shape, other)) if other else shape
        if out is None:
            raise ShapeError(
                f"a constant of shape {format_shape(args.other_shape or ())} does not broadcast "
                f"against a {format_shape(shape)} input: each dimension must be equal or 1"
            )
        if args.inplace and out != shape:
            raise ShapeError(
                f"in place, the {format_shape(out)} result cannot be written into the "
                f"{format_shape(shape)} input (torch refuses it)"
            )
        if args.inplace and args.reverse:
            raise ShapeError("torch has no in-place form with the constant on the left")
        return out

    def cost(self, args: ArithmeticArgs, in_shape: Shape, out_shape: Shape) -> LayerCost:
        constant = prod(args.other_shape) if args.other_shape is not None else 0
        return LayerCost(
            params=0, macs=0, elementwise_ops=prod(out_shape), fan_in=1, buffer_elements=constant
        )

    def receptive_field(
        self, args: ArithmeticArgs, in_shape: Shape, rf: ReceptiveField | None
    ) -> ReceptiveField | None:
        return rf  # each output element reads one input element

    def aliases_input(self, args: ArithmeticArgs, training: bool, layout: Layout | None = None) -> bool:
        return args.inplace

    def autograd(
        self, args: ArithmeticArgs, in_shape: Shape, out_shape: Shape, step: TrainingStep
    ) -> Autograd:
        """What torch's formula reads: nothing for add and sub (the input's gradient is the output's,
        negated for `c - x`), the constant for mul and div (a constant tensor is held anyway; a number
        is no tensor), the reciprocal torch computes first for `c / x` (the input for a constant
        tensor's), the input for `x ** c`, the input and the output for `c ** x`."""
        inputs, outputs = step.nbytes(prod(in_shape)), step.nbytes(prod(out_shape))
        summed = inputs if out_shape != in_shape else 0  # a gradient summed down to a broadcast input
        if args.op in ("add", "sub") and not args.reverse:
            return Autograd(grad_views=(0,) if not summed else ())
        if args.op in ("add", "sub", "mul") or (args.op == "div" and not args.reverse):
            return Autograd(backward_peak=outputs + summed)
        if args.op == "div" and args.other is not None:
            # c / x is x.reciprocal() * c: the reciprocal is kept; the backward's product by c
            # consumes the output's gradient, then -grad * r * r takes three temporaries.
            return Autograd(keeps_new=(inputs,), forward_peak=inputs + outputs, backward_peak=3 * inputs)
        if args.op == "div":  # a constant tensor over x: -grad * ((c / x) / x), keeping x
            return Autograd(keeps_inputs=(0,), backward_peak=4 * outputs + summed)
        if not args.reverse:  # x ** c: c * x ** (c - 1) * grad
            return Autograd(keeps_inputs=(0,), backward_peak=3 * outputs + summed)
        # c ** x: grad * result * log(c), keeping the input and the result
        return Autograd(keeps_inputs=(0,), keeps_output=True, backward_peak=2 * outputs)

    def build(self, args: ArithmeticArgs, in_shape: Shape, out_shape: Shape) -> torch.nn.Module:
        from convprof.kinds.nn import Arithmetic as Module

        return Module(args.op, args.other, args.other_shape, args.reverse, args.inplace)
