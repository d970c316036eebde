"""Torch modules for what the kinds compute and torch has no module for (merges, layouts, reductions,
indexing, arithmetic, fixed filters); imported only when a model is built. The counterfactual
layers' modules are convprof.kinds.counterfactual."""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "Add",
    "Amax",
    "Amin",
    "Arithmetic",
    "Cat",
    "Clamp",
    "Contiguous",
    "Div",
    "Einsum",
    "Expand",
    "LayerNorm2d",
    "MatMul",
    "Max",
    "Mean",
    "Min",
    "Mul",
    "Narrow",
    "ParameterCall",
    "Permute",
    "Reshape",
    "Roll",
    "Scale",
    "ScaledDotProductAttention",
    "Select",
    "Slice",
    "Stack",
    "Sub",
    "Sum",
    "Tile",
    "Transpose",
]


class Add(nn.Module):
    """The sum of its inputs, so that a graph's merge is a module with a path like any layer."""

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        """Add the inputs left to right, broadcasting as torch does."""
        out = inputs[0] + inputs[1]
        for tensor in inputs[2:]:
            out = out + tensor
        return out


class Mul(nn.Module):
    """The element-wise product of its inputs."""

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        """Multiply the inputs left to right, broadcasting as torch does."""
        out = inputs[0] * inputs[1]
        for tensor in inputs[2:]:
            out = out * tensor
        return out


class Cat(nn.Module):
    """Its inputs concatenated along `dim` of the batched tensors."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        """Join the inputs in order."""
        return torch.cat(inputs, self.dim)


class Permute(nn.Module):
    """The input with its dimensions reordered (torchvision's Permute)."""

    def __init__(self, dims: tuple[int, ...]) -> None:
        super().__init__()
        self.dims = dims

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return a permuted view."""
        return torch.permute(x, self.dims)


class Transpose(nn.Module):
    """The input with two dimensions swapped."""

    def __init__(self, dim0: int, dim1: int) -> None:
        super().__init__()
        self.dim0 = dim0
        self.dim1 = dim1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return a transposed view."""
        return torch.transpose(x, self.dim0, self.dim1)


class Reshape(nn.Module):
    """Each sample reshaped, the batch kept first (a view where torch's view would be one)."""

    def __init__(self, shape: tuple[int, ...]) -> None:
        super().__init__()
        self.shape = shape

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return the input with each sample in the new shape."""
        return x.reshape(x.shape[0], *self.shape)


class Narrow(nn.Module):
    """A contiguous run of one dimension of the input (torch.narrow)."""

    def __init__(self, dim: int, start: int, length: int) -> None:
        super().__init__()
        self.dim = dim
        self.start = start
        self.length = length

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return a narrowed view."""
        return torch.narrow(x, self.dim, self.start, self.length)


class LayerNorm2d(nn.LayerNorm):
    """LayerNorm over the channels of each position of an (N, C, H, W) tensor (torchvision's ConvNeXt)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Normalise channels-last, then restore the layout."""
        x = x.permute(0, 2, 3, 1)
        x = F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)
        return x.permute(0, 3, 1, 2)


class ParameterCall(nn.Module):
    """A node that is one learnable tensor and a function of it and the input.

    A built model holds the tensor at the node's own path, as the model it may come from does
    (ConvNeXt's `features.1.0.layer_scale`), and calls `function(weight, x)` (graph/build.py), so
    that it loads that model's state_dict; alone, this module computes the same."""

    weight: nn.Parameter
    #: The shape the tensor is viewed as before the function reads it (None: as it is held).
    view: tuple[int, ...] | None = None
    #: The function of the tensor and the input: a torch callable, which the importer reads back.
    function: ClassVar[Callable[[torch.Tensor, torch.Tensor], torch.Tensor]]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the function to the tensor (viewed) and the input."""
        weight = self.weight if self.view is None else self.weight.view(self.view)
        return type(self).function(weight, x)


class Scale(ParameterCall):
    """Multiplies its input by a learnable tensor (ConvNeXt's layer scale), viewed as `view` first
    where one is given."""

    function = operator.mul  # layer_scale * x, as ConvNeXt writes it

    def __init__(self, shape: tuple[int, ...], init: float, view: tuple[int, ...] | None = None) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.full(shape, init))
        self.view = view


class Shift(ParameterCall):
    """Adds a learnable tensor to its input (HGNetV2's learnable bias), viewed as `view` first where
    one is given."""

    function = operator.add  # x + self.bias

    def __init__(self, shape: tuple[int, ...], init: float, view: tuple[int, ...] | None = None) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.full(shape, init))
        self.view = view


def _fixed(module: nn.Module) -> None:
    """Hold a convolution's weight and bias as buffers, so that it learns nothing: a filter of ones
    and a bias of zeros, left out of the state_dict (the filter's values are not in a spec, as a
    constant's are not: counts and memory are the original's, outputs are not)."""
    for name, fill in (("weight", torch.ones_like), ("bias", torch.zeros_like)):
        tensor = module._parameters.pop(name, None)
        module.register_buffer(name, None if tensor is None else fill(tensor.detach()), persistent=False)


class FixedConv1d(nn.Conv1d):
    """A 1-D convolution with a fixed filter: its weight and bias are buffers."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _fixed(self)


class FixedConv2d(nn.Conv2d):
    """A 2-D convolution with a fixed filter (a blur before a strided layer): weight and bias are buffers."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _fixed(self)


class FixedConv3d(nn.Conv3d):
    """A 3-D convolution with a fixed filter: its weight and bias are buffers."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _fixed(self)


class Contiguous(nn.Module):
    """The input laid out contiguously (Tensor.contiguous): itself when it already is, else a copy."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return a contiguous tensor with the input's values."""
        return x.contiguous()


class Sub(nn.Module):
    """The difference of its two inputs, broadcasting as torch does."""

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """Return a - b."""
        return a - b


class Div(nn.Module):
    """The quotient of its two inputs, broadcasting as torch does."""

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """Return a / b."""
        return a / b


class Stack(nn.Module):
    """Its inputs stacked along a new dimension `dim` of the batched output."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        """Stack the inputs in order."""
        return torch.stack(inputs, self.dim)


class Arithmetic(nn.Module):
    """An element-wise operation of the input and a constant: a number, or a constant tensor.

    A constant tensor's values are not in a spec (the model it comes from was run without data):
    it is held as a buffer of ones, left out of the state_dict, so that counts and memory are the
    original's and its outputs are not."""

    def __init__(
        self,
        op: str,
        other: float | None,
        other_shape: tuple[int, ...] | None,
        reverse: bool,
        inplace: bool,
    ) -> None:
        super().__init__()
        self.op = op
        self.other = other
        self.other_shape = other_shape
        self.reverse = reverse
        self.inplace = inplace
        self.constant: torch.Tensor | None
        if other_shape is not None:
            self.register_buffer("constant", torch.ones(other_shape), persistent=False)
        else:
            self.constant = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the operation as torch's operators do (`x * c`, `c - x`, `x.mul_(c)`)."""
        other: torch.Tensor | float = self.constant if self.constant is not None else float(self.other or 0)
        if self.inplace:
            method: Callable[[torch.Tensor | float], torch.Tensor] = getattr(x, f"{self.op}_")
            return method(other)
        function = _OPERATORS[self.op]
        return function(other, x) if self.reverse else function(x, other)


#: The Python operators Arithmetic applies, as a model's code writes them.
_OPERATORS: dict[str, Callable[[torch.Tensor | float, torch.Tensor | float], torch.Tensor]] = {
    "add": operator.add,
    "sub": operator.sub,
    "mul": operator.mul,
    "div": operator.truediv,
    "pow": operator.pow,
}


class _Reduce(nn.Module):
    """A reduction of the input over dimensions of the batched tensor."""

    #: torch's reduction of this name.
    function: ClassVar[str]

    def __init__(self, dim: int | tuple[int, ...], keepdim: bool) -> None:
        super().__init__()
        self.dim = dim
        self.keepdim = keepdim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Reduce the input as the method of its name does."""
        result: torch.Tensor = getattr(x, self.function)(self.dim, keepdim=self.keepdim)
        return result


class Sum(_Reduce):
    """x.sum(dim, keepdim)."""

    function = "sum"


class Mean(_Reduce):
    """x.mean(dim, keepdim)."""

    function = "mean"


class Amax(_Reduce):
    """x.amax(dim, keepdim)."""

    function = "amax"


class Amin(_Reduce):
    """x.amin(dim, keepdim)."""

    function = "amin"


class _Selecting(nn.Module):
    """The values of torch.max or torch.min over one dimension."""

    function: ClassVar[str]

    def __init__(self, dim: int, keepdim: bool) -> None:
        super().__init__()
        self.dim = dim
        self.keepdim = keepdim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return the values (the indices are made, as torch makes them, and dropped)."""
        values: torch.Tensor = getattr(x, self.function)(self.dim, keepdim=self.keepdim)[0]
        return values


class Max(_Selecting):
    """x.max(dim, keepdim).values."""

    function = "max"


class Min(_Selecting):
    """x.min(dim, keepdim).values."""

    function = "min"


class MatMul(nn.Module):
    """The matrix product of its two inputs (torch.matmul)."""

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """Return a @ b."""
        return torch.matmul(a, b)


class ScaledDotProductAttention(nn.Module):
    """torch's scaled-dot-product attention of a query, a key and a value, without mask or dropout."""

    def __init__(self, is_causal: bool, scale: float | None) -> None:
        super().__init__()
        self.is_causal = is_causal
        self.scale = scale

    def forward(self, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor) -> torch.Tensor:
        """Return softmax(query @ key^T * scale) @ value."""
        return F.scaled_dot_product_attention(query, key, value, is_causal=self.is_causal, scale=self.scale)


class Slice(nn.Module):
    """Every `step`-th entry of `start:end` along one dimension of the input (a view)."""

    def __init__(self, dim: int, start: int, end: int | None, step: int) -> None:
        super().__init__()
        self.dim = dim
        self.start = start
        self.end = end
        self.step = step

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return x[..., start:end:step, ...] along `dim`."""
        index = [slice(None)] * (self.dim % x.dim()) + [slice(self.start, self.end, self.step)]
        return x[tuple(index)]


class Select(nn.Module):
    """One entry of one dimension of the input, that dimension dropped (torch.select: a view)."""

    def __init__(self, dim: int, index: int) -> None:
        super().__init__()
        self.dim = dim
        self.index = index

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return x.select(dim, index)."""
        return x.select(self.dim, self.index)


class Expand(nn.Module):
    """The input expanded to each sample's `shape` (a view); with a second input, to its shape."""

    def __init__(self, shape: tuple[int, ...]) -> None:
        super().__init__()
        self.shape = shape

    def forward(self, x: torch.Tensor, like: torch.Tensor | None = None) -> torch.Tensor:
        """Return x.expand_as(like), or x.expand(batch, *shape)."""
        if like is not None:
            return x.expand_as(like)
        return x.expand(x.shape[0], *self.shape)


class Tile(nn.Module):
    """The input tiled `repeats` times along each dimension of each sample (a copy)."""

    def __init__(self, repeats: tuple[int, ...]) -> None:
        super().__init__()
        self.repeats = repeats

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return x.repeat(1, *repeats)."""
        return x.repeat(1, *self.repeats)


class Roll(nn.Module):
    """The input rolled along dimensions of each sample (torch.roll)."""

    def __init__(self, shifts: int | tuple[int, ...], dims: int | tuple[int, ...]) -> None:
        super().__init__()
        self.shifts = shifts
        self.dims = dims

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return torch.roll(x, shifts, dims)."""
        return torch.roll(x, self.shifts, self.dims)


class Clamp(nn.Module):
    """The input limited to [min, max] (torch.clamp); either bound may be None."""

    def __init__(self, min: float | None, max: float | None, inplace: bool) -> None:
        super().__init__()
        self.min = min
        self.max = max
        self.inplace = inplace

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return x.clamp(min, max) (clamp_ in place)."""
        if self.inplace:
            return x.clamp_(self.min, self.max)
        return x.clamp(self.min, self.max)


class Einsum(nn.Module):
    """torch.einsum of two inputs with an equation."""

    def __init__(self, equation: str) -> None:
        super().__init__()
        self.equation = equation

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """Return torch.einsum(equation, a, b)."""
        return torch.einsum(self.equation, a, b)
