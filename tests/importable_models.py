"""Small PyTorch models for the importer's tests; loaded by model reference (file.py:callable) too."""

from __future__ import annotations

import operator

import torch
import torch.nn.functional as F
from torch import nn


class Functional(nn.Module):
    """The functional forms: F.relu, operator.add, torch.cat, x.mean, view, F.max_pool2d, F.dropout."""

    def __init__(self, classes: int = 10) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(8)
        self.left = nn.Conv2d(8, 8, 3, padding=1)
        self.right = nn.Conv2d(8, 4, 1)
        self.gate = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(12, 12, 1), nn.Sigmoid())
        self.fc = nn.Linear(12, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.bn(self.stem(x)), inplace=True)
        x = F.max_pool2d(x, 2)
        y = operator.add(self.left(x), x)
        y = torch.cat([y.relu(), self.right(x)], 1)
        y = y * self.gate(y)
        y = F.dropout(y, 0.2, self.training)
        y = y.mean([2, 3])
        return self.fc(y.view(y.size(0), -1))


class Pooled(nn.Module):
    """Modules and methods: Flatten, x.flatten, reshape, F.adaptive_avg_pool2d, contiguous, Identity."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 6, 5, stride=2, padding=2), nn.LeakyReLU(0.1), nn.AvgPool2d(2, ceil_mode=True)
        )
        self.head = nn.Sequential(nn.Identity(), nn.Flatten(), nn.Linear(6 * 4 * 4, 5))
        self.out = nn.Linear(5, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.adaptive_avg_pool2d(self.features(x).contiguous(), 4)
        x = self.head(x.reshape(x.shape[0], 6, 4, 4))
        return self.out(torch.tanh(x)).flatten(1)


class Block(nn.Module):
    """A residual block as torchvision writes one: one ReLU module called twice."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        out += x
        return self.relu(out)


class Stages(nn.Module):
    """Two stages of two blocks, and an auxiliary head forward never calls."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1)
        self.layer1 = nn.Sequential(Block(8), Block(8))
        self.layer2 = nn.Sequential(Block(8), Block(8))
        self.aux = nn.Sequential(nn.Conv2d(8, 2, 1), nn.BatchNorm2d(2))
        self.fc = nn.Linear(8, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.layer2(self.layer1(self.conv1(x)))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, (1, 1)), 1))


class Attention(nn.Module):
    """An op no kind counts: scaled dot-product attention."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.scaled_dot_product_attention(x, x, x)


class Encoder(nn.Module):
    """Three attention layers between linear ones: three unsupported calls at one path pattern."""

    def __init__(self) -> None:
        super().__init__()
        self.layers = nn.ModuleList(
            [nn.ModuleDict({"fc": nn.Linear(8, 8), "attn": Attention()}) for _ in range(3)]
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            x = layer["attn"](layer["fc"](x))
        return x


class Branching(nn.Module):
    """Control flow on tensor values: fx cannot trace it."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.relu() if x.sum() > 0 else x.sigmoid()


class Shared(nn.Module):
    """One convolution applied twice: its weights would be counted twice."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(4, 4, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(self.conv(x))


class Huge(nn.Module):
    """Ten billion parameters: only importable because it is built on the meta device."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(100_000, 100_000)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x)


def not_a_model() -> int:
    """A callable that returns something else than a module."""
    return 3


def broken() -> nn.Module:
    """A callable that fails."""
    raise ValueError("no weights here")


#: An nn.Module instance, for `file.py:attribute` references.
instance = Pooled()


class Scaled(nn.Module):
    """A parameter read directly in forward."""

    def __init__(self) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.ones(3, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.scale


class BatchMixing(nn.Module):
    """A view that merges the batch into the features."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.view(-1).relu()


class Indices(nn.Module):
    """Max pooling that returns its indices too."""

    def __init__(self) -> None:
        super().__init__()
        self.pool = nn.MaxPool2d(2, return_indices=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        values, _ = self.pool(x)
        return values


class EarlierOutput(nn.Module):
    """Returns a tensor computed before its last op (whose result is unused)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = x.relu()
        torch.sigmoid(x)
        return y


class Mixer(nn.Module):
    """A custom op no kind reads: an einsum over its own weight, read directly twice in forward."""

    def __init__(self, channels: int = 8) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(channels, channels))

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        return torch.einsum("oc,ncl->nol", self.weight, t) + torch.einsum("oc,ncl->nol", self.weight, t)


class AttentionCNN(nn.Module):
    """A small CNN with ops no kind counts: scaled dot-product attention over the channels (as tokens),
    the custom Mixer and an nn.MultiheadAttention whose attention weights are left unused; and an
    auxiliary head forward never calls."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.bn = nn.BatchNorm2d(8)
        self.pool = nn.MaxPool2d(2)
        self.mixer = Mixer(8)
        self.attn = nn.MultiheadAttention(16, 2, batch_first=True)
        self.fc = nn.Linear(128, 10)
        self.aux = nn.Linear(128, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(F.relu(self.bn(self.conv(x))))  # 8x4x4
        t = x.flatten(2)  # 8 tokens of 16 features
        t = F.scaled_dot_product_attention(t, t, t)
        t = self.mixer(t)
        t, _ = self.attn(t, t, t)
        return self.fc(t.flatten(1))


class Chunked(nn.Module):
    """An op whose result is two tensors, both used: no opaque node can stand for it."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a, b = x.chunk(2, dim=1)
        return a.relu() + b.sigmoid()


class Recurrent(nn.Module):
    """An LSTM, whose output and state are both used: not one tensor."""

    def __init__(self) -> None:
        super().__init__()
        self.rnn = nn.LSTM(4, 4, batch_first=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, (h, _) = self.rnn(x)
        return out + h.transpose(0, 1)


class Reduced(nn.Module):
    """A sum over the whole batch: its result has no batch dimension."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.relu() * x.sum()


class SpatialAttention(nn.Module):
    """Attention over each channel's rows (an op no kind counts) in a CNN that takes any input size."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.fc = nn.Linear(8, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.conv(x))
        x = F.scaled_dot_product_attention(x, x, x)
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))
