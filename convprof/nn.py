"""Torch modules for the counterfactual layers; imported only when a model is built."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "Add",
    "Cat",
    "DenseVolume",
    "LayerNorm2d",
    "LocallyConnected2d",
    "Mul",
    "Permute",
    "Scale",
    "Transpose",
]


class LocallyConnected2d(nn.Module):
    """A convolution's window, stride, padding, dilation and groups with its own weights at every position.

    Input patches come from `unfold`; one batched matrix product applies the per-position weights,
    so torch's FLOP counter sees exactly 2 x MACs of a convolution.
    """

    def __init__(
        self,
        in_shape: tuple[int, ...],
        out_shape: tuple[int, ...],
        *,
        kernel_size: tuple[int, int],
        stride: tuple[int, int],
        padding: tuple[tuple[int, int], tuple[int, int]],
        dilation: tuple[int, int],
        groups: int,
        bias: bool,
    ) -> None:
        super().__init__()
        in_channels = in_shape[0]
        out_channels, out_h, out_w = out_shape
        self.kernel_size = kernel_size
        self.stride = stride
        self.padding = padding
        self.dilation = dilation
        self.groups = groups
        self.out_shape = (out_channels, out_h, out_w)
        positions = out_h * out_w
        window = in_channels // groups * kernel_size[0] * kernel_size[1]
        self.weight = nn.Parameter(torch.empty(positions, groups, out_channels // groups, window))
        self.bias = nn.Parameter(torch.empty(out_channels, out_h, out_w)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Initialise like Conv2d: uniform in +-1/sqrt(fan_in)."""
        bound = 1 / math.sqrt(self.weight.shape[-1])
        nn.init.uniform_(self.weight, -bound, bound)
        if self.bias is not None:
            nn.init.uniform_(self.bias, -bound, bound)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the per-position weights to every window of `x`."""
        (top, bottom), (left, right) = self.padding
        if top or bottom or left or right:
            x = F.pad(x, (left, right, top, bottom))
        cols = F.unfold(x, self.kernel_size, dilation=self.dilation, stride=self.stride)
        batch, positions = x.shape[0], cols.shape[-1]
        # (N, G*window, L) -> (L*G, N, window): one small matrix product per position and group.
        # An explicit bmm, not einsum: einsum turns degenerate contractions into element-wise
        # products, which then stop being the multiply-accumulates this layer stands for.
        cols = cols.view(batch, self.groups, -1, positions).permute(3, 1, 0, 2)
        cols = cols.reshape(positions * self.groups, batch, -1)
        weight = self.weight.transpose(2, 3).reshape(positions * self.groups, -1, self.weight.shape[2])
        out = torch.bmm(cols, weight)  # (L*G, N, out per group)
        out = out.view(positions, self.groups, batch, -1).permute(2, 1, 3, 0)
        out = out.reshape(batch, *self.out_shape)
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


class LayerNorm2d(nn.LayerNorm):
    """LayerNorm over the channels of each position of an (N, C, H, W) tensor (torchvision's ConvNeXt)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Normalise channels-last, then restore the layout."""
        x = x.permute(0, 2, 3, 1)
        x = F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)
        return x.permute(0, 3, 1, 2)


class Scale(nn.Module):
    """Multiplies its input by a learnable tensor that broadcasts per channel (ConvNeXt's layer scale)."""

    def __init__(self, shape: tuple[int, ...], init: float) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.full(shape, init))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Scale each channel."""
        return x * self.weight
