"""Torch modules for the counterfactual layers; imported only when a model is built."""

from __future__ import annotations

import itertools
import math
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
    "DenseVolume",
    "Div",
    "Einsum",
    "Expand",
    "LayerNorm2d",
    "LocallyConnected",
    "LocallyConnectedTranspose",
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


class LocallyConnected(nn.Module):
    """A convolution's window, stride, padding, dilation and groups with its own weights at every position.

    Works for any number of spatial dimensions: `Tensor.unfold` cuts each one into windows, and one
    batched matrix product applies the per-position weights, so torch's FLOP counter sees exactly
    2 x MACs of a convolution.
    """

    def __init__(
        self,
        in_shape: tuple[int, ...],
        out_shape: tuple[int, ...],
        *,
        kernel_size: tuple[int, ...],
        stride: tuple[int, ...],
        padding: tuple[tuple[int, int], ...],
        dilation: tuple[int, ...],
        groups: int,
        bias: bool,
        padding_mode: str = "zeros",
    ) -> None:
        super().__init__()
        in_channels, out_channels = in_shape[0], out_shape[0]
        self.kernel_size = kernel_size
        self.stride = stride
        self.padding = padding
        self.dilation = dilation
        self.groups = groups
        self.padding_mode = padding_mode
        self.out_shape = tuple(out_shape)
        positions = math.prod(out_shape[1:])
        window = in_channels // groups * math.prod(kernel_size)
        self.weight = nn.Parameter(torch.empty(positions, groups, out_channels // groups, window))
        self.bias = nn.Parameter(torch.empty(*out_shape)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Initialise like a convolution: uniform in +-1/sqrt(fan_in)."""
        bound = 1 / math.sqrt(self.weight.shape[-1])
        nn.init.uniform_(self.weight, -bound, bound)
        if self.bias is not None:
            nn.init.uniform_(self.bias, -bound, bound)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the per-position weights to every window of `x`."""
        rank = len(self.kernel_size)
        pads = [side for before_after in reversed(self.padding) for side in before_after]
        if any(pads):
            mode = "constant" if self.padding_mode == "zeros" else self.padding_mode
            x = F.pad(x, pads, mode=mode)
        for dim, (k, s, d) in enumerate(zip(self.kernel_size, self.stride, self.dilation, strict=True)):
            # Each unfold appends that dimension's window; every d-th element is the dilated kernel.
            x = x.unfold(2 + dim, d * (k - 1) + 1, s)
            if d > 1:
                x = x[..., ::d]
        batch, positions = x.shape[0], math.prod(self.out_shape[1:])
        # (N, C, O..., k...) -> (N, G, C/G, O..., k...) -> (O..., G, N, C/G, k...) -> (P*G, N, window),
        # window ordered (c, k...): one copy, the columns autograd keeps for the weights' gradient.
        x = x.view(batch, self.groups, -1, *x.shape[2:])
        order = [*range(3, 3 + rank), 1, 0, 2, *range(3 + rank, 3 + 2 * rank)]
        cols = x.permute(order).reshape(positions * self.groups, batch, -1)
        if cols._is_view():  # a window as large as the input: still a copy of its own, as always
            cols = cols.clone()
        # An explicit bmm, not einsum: einsum turns degenerate contractions into element-wise
        # products, which then stop being the multiply-accumulates this layer stands for.
        weight = self.weight.transpose(2, 3).reshape(positions * self.groups, -1, self.weight.shape[2])
        out = torch.bmm(cols, weight)  # (P*G, N, out per group)
        out = out.view(positions, self.groups, batch, -1).permute(2, 1, 3, 0)
        # Laid out as any layer's output (a copy unless the product already is), so that what reads
        # it (a flatten) sees the same tensor in every variant.
        out = out.contiguous().view(batch, *self.out_shape)
        if self.bias is not None:
            out = out + self.bias
        return out


class LocallyConnectedTranspose(nn.Module):
    """A transposed convolution's scatter pattern with its own weights at every input position.

    Each input position multiplies its channels by its own (in per group) x (out per group x kernel)
    matrix, in one batched matrix product (2 x MACs for torch's FLOP counter), and adds the result
    into its kernel window of outputs; the padding is then cropped as ConvTranspose does.
    """

    def __init__(
        self,
        in_shape: tuple[int, ...],
        out_shape: tuple[int, ...],
        *,
        kernel_size: tuple[int, ...],
        stride: tuple[int, ...],
        padding: tuple[int, ...],
        dilation: tuple[int, ...],
        groups: int,
        bias: bool,
    ) -> None:
        super().__init__()
        in_channels, out_channels = in_shape[0], out_shape[0]
        self.kernel_size = kernel_size
        self.stride = stride
        self.padding = padding
        self.dilation = dilation
        self.groups = groups
        self.in_sides = tuple(in_shape[1:])
        self.out_shape = tuple(out_shape)
        positions = math.prod(in_shape[1:])
        columns = out_channels // groups * math.prod(kernel_size)
        self.weight = nn.Parameter(torch.empty(positions, groups, in_channels // groups, columns))
        self.bias = nn.Parameter(torch.empty(*out_shape)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Initialise uniform in +-1/sqrt(in per group), the inputs that meet each weight column."""
        bound = 1 / math.sqrt(self.weight.shape[2])
        nn.init.uniform_(self.weight, -bound, bound)
        if self.bias is not None:
            nn.init.uniform_(self.bias, -bound, bound)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Scatter each input position's products into its window of outputs."""
        rank = len(self.kernel_size)
        batch, positions = x.shape[0], math.prod(self.in_sides)
        out_channels = self.out_shape[0]
        # (N, C, I...) -> (P*G, N, in per group)
        rows = x.reshape(batch, self.groups, -1, positions).permute(3, 1, 0, 2)
        rows = rows.reshape(positions * self.groups, batch, -1)
        if rows._is_view():  # one group: a view of the input; a copy of its own, as with groups
            rows = rows.clone()
        weight = self.weight.reshape(positions * self.groups, self.weight.shape[2], -1)
        cols = torch.bmm(rows, weight)  # (P*G, N, out per group x kernel)
        cols = cols.view(*self.in_sides, self.groups, batch, out_channels // self.groups, *self.kernel_size)
        # -> (N, G, out per group, k..., I...) -> (N, out, k..., I...)
        order = [rank + 1, rank, rank + 2, *range(rank + 3, 2 * rank + 3), *range(rank)]
        cols = cols.permute(order).reshape(batch, out_channels, *self.kernel_size, *self.in_sides)
        # Room for every write, and for output_padding past the last one.
        full = [
            max((size - 1) * s + d * (k - 1) + 1, p + o)
            for size, s, d, k, p, o in zip(
                self.in_sides,
                self.stride,
                self.dilation,
                self.kernel_size,
                self.padding,
                self.out_shape[1:],
                strict=True,
            )
        ]
        out = x.new_zeros(batch, out_channels, *full)
        for taps in itertools.product(*(range(k) for k in self.kernel_size)):
            window = tuple(
                slice(u * d, u * d + (size - 1) * s + 1, s)
                for u, d, s, size in zip(taps, self.dilation, self.stride, self.in_sides, strict=True)
            )
            tap: tuple[slice | int, ...] = (slice(None), slice(None), *taps)
            out[(slice(None), slice(None), *window)] += cols[tap]
        crop = tuple(slice(p, p + o) for p, o in zip(self.padding, self.out_shape[1:], strict=True))
        out = out[(slice(None), slice(None), *crop)]
        if self.bias is not None:
            out = out + self.bias
        return out


class DenseVolume(nn.Module):
    """A fully connected layer from a whole input volume to a whole output volume."""

    def __init__(self, in_shape: tuple[int, ...], out_shape: tuple[int, ...], *, bias: bool) -> None:
        super().__init__()
        self.out_shape = tuple(out_shape)
        self.linear = nn.Linear(math.prod(in_shape), math.prod(out_shape), bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Flatten, multiply, and restore the output volume's shape."""
        out: torch.Tensor = self.linear(x.flatten(1))
        return out.view(x.shape[0], *self.out_shape)


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
