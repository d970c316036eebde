"""The locally connected layer computes what its definition says: checked against explicit loops."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
import torch

from convprof.kinds.counterfactual import DenseVolume, LocallyConnected, LocallyConnectedTranspose


def slow_local(
    x: torch.Tensor,
    layer: LocallyConnected,
) -> torch.Tensor:
    """out[n, o, i, j] = sum_{c, u, v} xpad[n, c, i*s + u*d, j*s + v*d] * W[(i, j), g, o, (c, u, v)] + b."""
    (top, bottom), (left, right) = layer.padding
    xpad = torch.nn.functional.pad(x, (left, right, top, bottom))
    batch = x.shape[0]
    out_channels, out_h, out_w = layer.out_shape
    groups = layer.groups
    in_per_group = x.shape[1] // groups
    out_per_group = out_channels // groups
    kh, kw = layer.kernel_size
    (sh, sw), (dh, dw) = layer.stride, layer.dilation
    out = torch.zeros(batch, out_channels, out_h, out_w, dtype=x.dtype)
    for i, j in itertools.product(range(out_h), range(out_w)):
        position = i * out_w + j
        for g in range(groups):
            weight = layer.weight[position, g].view(out_per_group, in_per_group, kh, kw)
            for o in range(out_per_group):
                total = torch.zeros(batch, dtype=x.dtype)
                for c, u, v in itertools.product(range(in_per_group), range(kh), range(kw)):
                    value = xpad[:, g * in_per_group + c, i * sh + u * dh, j * sw + v * dw]
                    total += value * weight[o, c, u, v]
                out[:, g * out_per_group + o, i, j] = total
    if layer.bias is not None:
        out += layer.bias
    return out


@pytest.mark.parametrize(
    ("in_shape", "out_channels", "kernel", "stride", "padding", "dilation", "groups", "bias"),
    [
        ((3, 6, 7), 4, (3, 3), (1, 1), ((0, 0), (0, 0)), (1, 1), 1, True),
        ((4, 7, 5), 6, (2, 3), (2, 1), ((1, 1), (0, 2)), (1, 1), 2, False),
        ((2, 8, 8), 2, (3, 2), (1, 2), ((2, 2), (1, 1)), (2, 1), 2, True),
        ((3, 5, 5), 3, (1, 1), (1, 1), ((0, 1), (1, 0)), (1, 1), 3, True),
    ],
)
def test_locally_connected_equals_slow_reference(
    in_shape: tuple[int, int, int],
    out_channels: int,
    kernel: tuple[int, int],
    stride: tuple[int, int],
    padding: tuple[tuple[int, int], tuple[int, int]],
    dilation: tuple[int, int],
    groups: int,
    bias: bool,
) -> None:
    torch.manual_seed(0)
    _, height, width = in_shape
    padded = (height + sum(padding[0]), width + sum(padding[1]))
    out_h, out_w = (
        (size - d * (k - 1) - 1) // s + 1
        for size, k, s, d in zip(padded, kernel, stride, dilation, strict=True)
    )
    layer = LocallyConnected(
        in_shape,
        (out_channels, out_h, out_w),
        kernel_size=kernel,
        stride=stride,
        padding=padding,
        dilation=dilation,
        groups=groups,
        bias=bias,
    ).double()
    x = torch.randn(2, *in_shape, dtype=torch.float64)
    torch.testing.assert_close(layer(x), slow_local(x, layer))


def test_locally_connected_with_shared_weights_is_a_convolution() -> None:
    """One conv kernel copied to every position makes the local layer equal Conv2d: only sharing differs."""
    torch.manual_seed(1)
    conv = torch.nn.Conv2d(4, 6, 3, stride=2, padding=1, groups=2).double()
    local = LocallyConnected(
        (4, 9, 9),
        (6, 5, 5),
        kernel_size=(3, 3),
        stride=(2, 2),
        padding=((1, 1), (1, 1)),
        dilation=(1, 1),
        groups=2,
        bias=True,
    ).double()
    with torch.no_grad():
        shared = conv.weight.view(2, 3, -1)  # (groups, out per group, window)
        local.weight.copy_(shared.expand(25, -1, -1, -1))
        local.bias.copy_(conv.bias.view(6, 1, 1).expand(6, 5, 5))
    x = torch.randn(3, 4, 9, 9, dtype=torch.float64)
    torch.testing.assert_close(local(x), conv(x))


def test_dense_volume_is_a_matrix_product_over_whole_volumes() -> None:
    torch.manual_seed(2)
    dense = DenseVolume((2, 3, 4), (5, 2, 2), bias=True).double()
    x = torch.randn(3, 2, 3, 4, dtype=torch.float64)
    expected = (x.reshape(3, 24) @ dense.linear.weight.T + dense.linear.bias).reshape(3, 5, 2, 2)
    torch.testing.assert_close(dense(x), expected)


def slow_local_nd(x: torch.Tensor, layer: LocallyConnected) -> torch.Tensor:
    """out[n, o, i...] = sum_{c, u...} xpad[n, c, i*s + u*d ...] * W[pos(i), g, o, (c, u...)] + b."""
    pads = [side for before_after in reversed(layer.padding) for side in before_after]
    mode = "constant" if layer.padding_mode == "zeros" else layer.padding_mode
    xpad = torch.nn.functional.pad(x, pads, mode=mode)
    batch, groups = x.shape[0], layer.groups
    out_channels, *out_sides = layer.out_shape
    in_per_group, out_per_group = x.shape[1] // groups, out_channels // groups
    out = torch.zeros(batch, *layer.out_shape, dtype=x.dtype)
    for position, i in enumerate(itertools.product(*(range(n) for n in out_sides))):
        for g, o in itertools.product(range(groups), range(out_per_group)):
            weight = layer.weight[position, g, o].view(in_per_group, *layer.kernel_size)
            total = torch.zeros(batch, dtype=x.dtype)
            for c in range(in_per_group):
                for u in itertools.product(*(range(k) for k in layer.kernel_size)):
                    at = tuple(
                        a * s + b * d for a, b, s, d in zip(i, u, layer.stride, layer.dilation, strict=True)
                    )
                    total += xpad[(slice(None), g * in_per_group + c, *at)] * weight[(c, *u)]
            out[(slice(None), g * out_per_group + o, *i)] = total
    if layer.bias is not None:
        out += layer.bias
    return out


def out_sides(
    sides: tuple[int, ...],
    kernel: tuple[int, ...],
    stride: tuple[int, ...],
    padding: Any,
    dilation: tuple[int, ...],
) -> tuple[int, ...]:
    return tuple(
        (n + sum(p) - d * (k - 1) - 1) // s + 1
        for n, k, s, p, d in zip(sides, kernel, stride, padding, dilation, strict=True)
    )


@pytest.mark.parametrize(
    ("in_shape", "out_channels", "kernel", "stride", "padding", "dilation", "groups", "mode"),
    [
        ((3, 9), 4, (3,), (2,), ((1, 2),), (1,), 1, "zeros"),
        ((4, 10), 2, (2,), (1,), ((2, 2),), (3,), 2, "reflect"),
        ((2, 4, 5, 3), 4, (2, 3, 1), (1, 2, 1), ((1, 0), (1, 1), (0, 0)), (2, 1, 1), 2, "zeros"),
        ((3, 3, 4, 4), 3, (3, 2, 2), (1, 1, 2), ((1, 1), (0, 1), (1, 1)), (1, 2, 1), 1, "circular"),
        ((2, 3, 3, 3), 2, (1, 1, 1), (1, 1, 1), ((0, 0), (0, 0), (0, 0)), (1, 1, 1), 1, "replicate"),
    ],
)
def test_locally_connected_of_every_rank_equals_slow_reference(
    in_shape: tuple[int, ...],
    out_channels: int,
    kernel: tuple[int, ...],
    stride: tuple[int, ...],
    padding: tuple[tuple[int, int], ...],
    dilation: tuple[int, ...],
    groups: int,
    mode: str,
) -> None:
    torch.manual_seed(3)
    sides = out_sides(in_shape[1:], kernel, stride, padding, dilation)
    layer = LocallyConnected(
        in_shape,
        (out_channels, *sides),
        kernel_size=kernel,
        stride=stride,
        padding=padding,
        dilation=dilation,
        groups=groups,
        bias=True,
        padding_mode=mode,
    ).double()
    x = torch.randn(2, *in_shape, dtype=torch.float64)
    torch.testing.assert_close(layer(x), slow_local_nd(x, layer))


def slow_local_transpose(x: torch.Tensor, layer: LocallyConnectedTranspose) -> torch.Tensor:
    """Each input position (i...) adds x[n, c, i] * W[pos(i), g, c, (o, u...)] to output i*s - p + u*d."""
    batch, groups = x.shape[0], layer.groups
    out_channels, *sides = layer.out_shape
    in_per_group, out_per_group = x.shape[1] // groups, out_channels // groups
    out = torch.zeros(batch, *layer.out_shape, dtype=x.dtype)
    for position, i in enumerate(itertools.product(*(range(n) for n in layer.in_sides))):
        for g, c in itertools.product(range(groups), range(in_per_group)):
            weight = layer.weight[position, g, c].view(out_per_group, *layer.kernel_size)
            value = x[(slice(None), g * in_per_group + c, *i)]
            for o in range(out_per_group):
                for u in itertools.product(*(range(k) for k in layer.kernel_size)):
                    at = tuple(
                        a * s - p + b * d
                        for a, b, s, p, d in zip(
                            i, u, layer.stride, layer.padding, layer.dilation, strict=True
                        )
                    )
                    if all(0 <= t < n for t, n in zip(at, sides, strict=True)):
                        out[(slice(None), g * out_per_group + o, *at)] += value * weight[(o, *u)]
    if layer.bias is not None:
        out += layer.bias
    return out


@pytest.mark.parametrize(
    ("in_shape", "out_channels", "kernel", "stride", "padding", "output_padding", "dilation", "groups"),
    [
        ((3, 5), 4, (4,), (2,), (1,), (0,), (1,), 1),
        ((4, 4), 2, (3,), (2,), (0,), (1,), (1,), 2),
        ((2, 3, 4), 4, (2, 3), (2, 1), (0, 1), (1, 0), (1, 2), 2),
        ((2, 2, 3, 2), 2, (2, 2, 3), (2, 1, 3), (1, 0, 1), (0, 0, 2), (1, 1, 1), 1),
        ((3, 2, 2, 2), 3, (1, 1, 1), (3, 3, 3), (0, 0, 0), (2, 0, 1), (1, 1, 1), 3),
    ],
)
def test_locally_connected_transpose_equals_slow_reference(
    in_shape: tuple[int, ...],
    out_channels: int,
    kernel: tuple[int, ...],
    stride: tuple[int, ...],
    padding: tuple[int, ...],
    output_padding: tuple[int, ...],
    dilation: tuple[int, ...],
    groups: int,
) -> None:
    torch.manual_seed(4)
    sides = tuple(
        (n - 1) * s - 2 * p + d * (k - 1) + o + 1
        for n, k, s, p, o, d in zip(
            in_shape[1:], kernel, stride, padding, output_padding, dilation, strict=True
        )
    )
    layer = LocallyConnectedTranspose(
        in_shape,
        (out_channels, *sides),
        kernel_size=kernel,
        stride=stride,
        padding=padding,
        dilation=dilation,
        groups=groups,
        bias=True,
    ).double()
    x = torch.randn(2, *in_shape, dtype=torch.float64)
    torch.testing.assert_close(layer(x), slow_local_transpose(x, layer))


@pytest.mark.parametrize("rank", [1, 2, 3])
def test_locally_connected_transpose_with_shared_weights_is_a_transposed_convolution(rank: int) -> None:
    """One kernel copied to every input position gives ConvTranspose: only sharing differs."""
    torch.manual_seed(5)
    cls = getattr(torch.nn, f"ConvTranspose{rank}d")
    conv = cls(4, 6, 3, stride=2, padding=1, output_padding=1, groups=2).double()
    in_sides = (3, 4, 2)[:rank]
    x = torch.randn(2, 4, *in_sides, dtype=torch.float64)
    expected = conv(x)
    local = LocallyConnectedTranspose(
        (4, *in_sides),
        tuple(expected.shape[1:]),
        kernel_size=(3,) * rank,
        stride=(2,) * rank,
        padding=(1,) * rank,
        dilation=(1,) * rank,
        groups=2,
        bias=True,
    ).double()
    positions = 1
    for n in in_sides:
        positions *= n
    with torch.no_grad():
        shared = conv.weight.reshape(2, 2, -1)  # (groups, in per group, out per group x kernel)
        local.weight.copy_(shared.expand(positions, -1, -1, -1))
        local.bias.copy_(conv.bias.view(6, *(1,) * rank).expand(*expected.shape[1:]))
    torch.testing.assert_close(local(x), expected)
