"""Reductions over dimensions of each sample: Sum, Mean, Amax, Amin, and the values of Max and Min."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from convprof.kinds.base import ImportStep, ShapeError, UnaryKind, lookup, register
from convprof.kinds.calls import TENSOR, TorchCall
from convprof.kinds.records import INDEX_BYTES, Autograd, LayerCost, ReceptiveField, TrainingStep
from convprof.kinds.strides import Layout
from convprof.spec import Shape, prod
from convprof.spec.args import REQUIRED, arg, boolean, integer, integers
from convprof.units import format_shape

if TYPE_CHECKING:
    import torch

__all__ = ["Amax", "Amin", "Max", "Mean", "Min", "Sum", "reduced_axes"]


@dataclass(frozen=True, slots=True)
class ReduceArgs:
    """torch.sum's, mean's, amax's and amin's arguments."""

    dim: int | tuple[int, ...] = arg(REQUIRED, integers())
    """Dimension or dimensions of the batched tensor reduced (1 = channels); never the batch."""
    keepdim: bool = arg(False, boolean)
    """Keep each reduced dimension with size 1."""


@dataclass(frozen=True, slots=True)
class SelectingArgs:
    """torch.max's and torch.min's arguments when they reduce one dimension."""

    dim: int = arg(REQUIRED, integer)
    """Dimension of the batched tensor reduced (1 = channels); never the batch."""
    keepdim: bool = arg(False, boolean)
    """Keep the reduced dimension with size 1."""


def reduced_axes(dim: int | tuple[int, ...], shape: Shape) -> tuple[int, ...]:
    """Return the per-sample axes `dim` names on a batched `shape` input, sorted, or say why not."""
    rank = len(shape) + 1
    dims = (dim,) if isinstance(dim, int) else dim
    axes = []
    for value in dims:
        if not -rank <= value < rank:
            raise ShapeError(
                f"dim {value} is outside the {rank} dimensions of a batched {format_shape(shape)} input"
            )
        axes.append(value % rank)
    if len(set(axes)) != len(axes):
        raise ShapeError(f"dim {list(dims)} names a dimension twice (torch refuses it)")
    if 0 in axes:
        raise ShapeError("reducing dimension 0 would mix the samples of the batch; use dims >= 1")
    return tuple(sorted(axis - 1 for axis in axes))


def _reduced_shape(axes: tuple[int, ...], keepdim: bool, shape: Shape) -> Shape:
    if keepdim:
        return tuple(1 if axis in axes else size for axis, size in enumerate(shape))
    return tuple(size for axis, size in enumerate(shape) if axis not in axes)


def reduced_field(
    axes: tuple[int, ...], keepdim: bool, in_shape: Shape, rf: ReceptiveField | None
) -> ReceptiveField | None:
    """Return the receptive field after `axes` of each sample are reduced.

    Reducing a spatial dimension reads all of it: the whole input along it, reported as the whole
    input (as a softmax over one). Reducing others keeps each unit's field; without keepdim the
    dimensions around the spatial ones are fewer."""
    if rf is None or not rf.fits(in_shape):
        return None
    spatial = rf.spatial_axes()
    if any(axis in spatial for axis in axes):
        return None
    if keepdim:
        return rf
    before = sum(1 for axis in axes if axis < spatial.start)
    return ReceptiveField(rf.size, rf.jump, lead=rf.lead - before, trail=rf.trail - (len(axes) - before))


def _dims(call: TorchCall) -> Any:
    """Return the dimensions a reduction call names (positional or `dim`/`axis`), or None."""
    dim = call.arg(1, "dim", call.kwargs.get("axis"))
    if type(dim) is int:
        return dim
    if isinstance(dim, list | tuple) and dim and all(type(d) is int for d in dim):
        return tuple(dim)
    return None


class _Reduce(UnaryKind):
    """A reduction over named dimensions of each sample: one op per input element read."""

    Args = ReduceArgs

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "name" in cls.__dict__:  # the module convprof builds for it, of the kind's own name
            cls.torch_types = (f"convprof.kinds.nn.{cls.name}",)

    def from_call(self, call: TorchCall) -> tuple[ImportStep, ...] | None:
        """Read torch.X(x, dim, keepdim) and x.X(dim, keepdim) over dimensions other than the batch."""
        if call.args[:1] != (TENSOR,) or len(call.input_shapes) != 1:
            return None
        dims = _dims(call)
        keepdim = call.arg(2, "keepdim", False)
        if dims is None or type(keepdim) is not bool or call.arg(3, "dtype", None) is not None:
            return None
        if call.kwargs.get("out") is not None:
            return None
        return ((self, ReduceArgs(dims, keepdim)),)

    def output_shape(self, args: ReduceArgs, shape: Shape) -> Shape:
        return _reduced_shape(reduced_axes(args.dim, shape), args.keepdim, shape)

    def cost(self, args: ReduceArgs, in_shape: Shape, out_shape: Shape) -> LayerCost:
        axes = reduced_axes(args.dim, in_shape)
        return LayerCost(
            params=0,
            macs=0,
            elementwise_ops=prod(in_shape),
            fan_in=prod(tuple(in_shape[axis] for axis in axes)),
        )

    def receptive_field(
        self, args: ReduceArgs, in_shape: Shape, rf: ReceptiveField | None
    ) -> ReceptiveField | None:
        return reduced_field(reduced_axes(args.dim, in_shape), args.keepdim, in_shape, rf)

    def node_layout(
        self, args: Any, in_shapes: tuple[Shape, ...], out_shape: Shape, layouts: tuple[Layout, ...]
    ) -> Layout:
        return Layout.contiguous((layouts[0].shape[0], *out_shape))

    def build(self, args: ReduceArgs, in_shape: Shape, out_shape: Shape) -> torch.nn.Module:
        from convprof.kinds import nn

        module: torch.nn.Module = getattr(nn, self.name)(args.dim, args.keepdim)
        return module


def _stacked(call: TorchCall, kind: str) -> tuple[ImportStep, ...] | None:
    """Read a sum or mean over dimension 0 of `torch.stack(xs)` (smp's FPN: `torch.stack(xs).sum(0)`)
    as the add of the stacked tensors (divided by their count for a mean).

    The importer passes the stacked tensors' list in place of the stack they made: stacked along
    dimension 0, the stack's first dimension is not the batch, and only the reduction that takes it
    away makes a tensor of the samples again."""
    tensors = call.args[0] if call.args else None
    if not isinstance(tensors, list | tuple) or not tensors or any(t is not TENSOR for t in tensors):
        return None
    dim = call.arg(1, "dim", call.kwargs.get("axis"))
    dim = dim[0] if isinstance(dim, list | tuple) and len(dim) == 1 else dim
    if dim != 0 or type(dim) is not int or call.arg(2, "keepdim", False) or call.arg(3, "dtype", None):
        return None
    shapes = set(call.input_shapes)
    if len(shapes) != 1 or call.output_shape not in shapes:
        return None
    if len(tensors) == 1:
        return ()  # the one tensor stacked, as it was
    add, arithmetic = lookup("Add"), lookup("Arithmetic")
    assert add is not None
    assert arithmetic is not None
    steps: list[ImportStep] = [(add, add.Args())]
    if kind == "mean":
        steps.append((arithmetic, arithmetic.Args("div", float(len(tensors)))))
    return tuple(steps)


@register
class Sum(_Reduce):
    """The sum over dimensions of each sample (SKNet's and ResNeSt's branches summed back)."""

    name = "Sum"
    torch_calls = ("torch.sum", "Tensor.sum")
    reads_stacks = True

    def from_call(self, call: TorchCall) -> tuple[ImportStep, ...] | None:
        stacked = _stacked(call, "sum")
        return stacked if stacked is not None else super().from_call(call)

    def autograd(self, args: ReduceArgs, in_shape: Shape, out_shape: Shape, step: TrainingStep) -> Autograd:
        """Keep nothing: the input's gradient is the output's, expanded (a view that repeats it along
        the reduced dimensions, which a node before it may have to copy)."""
        axes = reduced_axes(args.dim, in_shape)
        kept = tuple(1 if axis in axes else size for axis, size in enumerate(in_shape))
        strides = Layout.contiguous((step.batch, *kept)).strides
        expanded = Layout(
            (step.batch, *in_shape),
            tuple(
                0 if axis - 1 in axes and in_shape[axis - 1] != 1 else stride
                for axis, stride in enumerate(strides)
            ),
        )
        return Autograd(grad_views=(0,), expanded_grads=((0, expanded),))


@register
class Mean(_Reduce):
    """The mean over dimensions of each sample (a head's mean over tokens or positions)."""

    name = "Mean"
    torch_calls = ("torch.mean", "Tensor.mean")
    reads_stacks = True

    def from_call(self, call: TorchCall) -> tuple[ImportStep, ...] | None:
        stacked = _stacked(call, "mean")
        return stacked if stacked is not None else super().from_call(call)

    def autograd(self, args: ReduceArgs, in_shape: Shape, out_shape: Shape, step: TrainingStep) -> Autograd:
        """Keep nothing: the input's gradient is the output's expanded and divided, a new tensor."""
        return Autograd()


class _Extreme(_Reduce):
    """The largest or smallest value over dimensions of each sample."""

    def autograd(self, args: ReduceArgs, in_shape: Shape, out_shape: Shape, step: TrainingStep) -> Autograd:
        """Keep the input and the output: the backward spreads the gradient evenly over the inputs
        equal to the extreme, through a mask of them (one byte each), their count per output
        (int64) and the gradient divided by it."""
        inputs, outputs = step.nbytes(prod(in_shape)), step.nbytes(prod(out_shape))
        mask = prod(in_shape) * step.batch
        counts = prod(out_shape) * step.batch * INDEX_BYTES
        return Autograd(keeps_inputs=(0,), keeps_output=True, backward_peak=mask + counts + outputs + inputs)


@register
class Amax(_Extreme):
    """The largest value over dimensions of each sample."""

    name = "Amax"
    torch_calls = ("torch.amax", "Tensor.amax")


@register
class Amin(_Extreme):
    """The smallest value over dimensions of each sample."""

    name = "Amin"
    torch_calls = ("torch.amin", "Tensor.amin")


class _Selecting(UnaryKind):
    """The values of torch.max or torch.min over one dimension (their indices are not read)."""

    Args = SelectingArgs

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "name" in cls.__dict__:
            cls.torch_types = (f"convprof.kinds.nn.{cls.name}",)

    def from_call(self, call: TorchCall) -> tuple[ImportStep, ...] | None:
        """Read the values (the first tensor) of x.max(dim) or torch.max(x, dim, keepdim)."""
        if call.args[:1] != (TENSOR,) or len(call.input_shapes) != 1 or call.item != 0:
            return None
        dim, keepdim = call.arg(1, "dim", None), call.arg(2, "keepdim", False)
        if type(dim) is not int or type(keepdim) is not bool:
            return None
        return ((self, SelectingArgs(dim, keepdim)),)

    def output_shape(self, args: SelectingArgs, shape: Shape) -> Shape:
        return _reduced_shape(reduced_axes(args.dim, shape), args.keepdim, shape)

    def cost(self, args: SelectingArgs, in_shape: Shape, out_shape: Shape) -> LayerCost:
        (axis,) = reduced_axes(args.dim, in_shape)
        return LayerCost(params=0, macs=0, elementwise_ops=prod(in_shape), fan_in=in_shape[axis])

    def receptive_field(
        self, args: SelectingArgs, in_shape: Shape, rf: ReceptiveField | None
    ) -> ReceptiveField | None:
        return reduced_field(reduced_axes(args.dim, in_shape), args.keepdim, in_shape, rf)

    def node_layout(
        self, args: Any, in_shapes: tuple[Shape, ...], out_shape: Shape, layouts: tuple[Layout, ...]
    ) -> Layout:
        return Layout.contiguous((layouts[0].shape[0], *out_shape))

    def autograd(
        self, args: SelectingArgs, in_shape: Shape, out_shape: Shape, step: TrainingStep
    ) -> Autograd:
        """Keep where each value came from (int64 indices, one per output element), made with the
        values; the backward makes zeros of the input's size and scatters the gradient into a copy."""
        indices = prod(out_shape) * step.batch * INDEX_BYTES
        outputs = step.nbytes(prod(out_shape))
        return Autograd(
            keeps_new=(indices,),
            forward_peak=outputs + indices,
            backward_peak=2 * step.nbytes(prod(in_shape)),
        )

    def build(self, args: SelectingArgs, in_shape: Shape, out_shape: Shape) -> torch.nn.Module:
        from convprof.kinds import nn

        module: torch.nn.Module = getattr(nn, self.name)(args.dim, args.keepdim)
        return module


@register
class Max(_Selecting):
    """The largest value over one dimension of each sample: torch.max(x, dim)'s values."""

    name = "Max"
    torch_calls = ("torch.max", "Tensor.max")


@register
class Min(_Selecting):
    """The smallest value over one dimension of each sample: torch.min(x, dim)'s values."""

    name = "Min"
    torch_calls = ("torch.min", "Tensor.min")
