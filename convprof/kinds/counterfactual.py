"""Torch modules of the counterfactual layers: locally connected (a convolution's window with its own
weights at every output position, and its transpose) and dense (a fully connected map between the
same volumes); imported only when a model is built."""

from __future__ import annotations

import itertools
import math

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["DenseVolume", "LocallyConnected", "LocallyConnectedTranspose"]


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
