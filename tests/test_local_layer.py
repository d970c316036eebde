"""The locally connected layer computes what its definition says: checked against explicit loops."""

from __future__ import annotations

import itertools

import pytest
import torch

from convprof.nn import DenseVolume
from convprof.nn import LocallyConnected as LocallyConnected2d


def slow_local(
    x: torch.Tensor,
    layer: LocallyConnected2d,
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
    layer = LocallyConnected2d(
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
    local = LocallyConnected2d(
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
