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
    """An op no kind counts: a cumulative sum over the features."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cumsum(x, dim=-1)


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


class Shifted(nn.Module):
    """A parameter added in forward whose first size meets the batch's: each sample gets another
    shift, which no per-sample spec can say (a shift of [3, 1, 1] is a `shift` layer)."""

    def __init__(self) -> None:
        super().__init__()
        self.shift = nn.Parameter(torch.ones(2, 3, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.shift


class LayerScaled(nn.Module):
    """ConvNeXt's layer scale: a block's own parameter of one value per channel times its branch."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.layer_scale = nn.Parameter(torch.rand(4, 1, 1) + 0.5)
        self.head = nn.Conv2d(4, 2, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.layer_scale * self.conv(x))


class ScaledTwice(LayerScaled):
    """One layer scale multiplied twice: its parameter would be counted twice."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.layer_scale * self.conv(x)
        return self.head(y * self.layer_scale)


def channel_shuffle(x: torch.Tensor, groups: int) -> torch.Tensor:
    """ShuffleNet's channel shuffle, as torchvision writes it."""
    batch, channels, height, width = x.size()
    x = x.view(batch, groups, channels // groups, height, width)
    x = torch.transpose(x, 1, 2).contiguous()
    return x.view(batch, -1, height, width)


class Shuffled(nn.Module):
    """ShuffleNet V2's unit: half the channels through a branch, concatenated back, shuffled."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1)
        self.branch = nn.Sequential(nn.Conv2d(4, 4, 1), nn.BatchNorm2d(4), nn.ReLU())
        self.head = nn.Conv2d(8, 2, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x1, x2 = self.stem(x).chunk(2, dim=1)
        out = torch.cat((x1, self.branch(x2)), dim=1)
        return self.head(channel_shuffle(out, 2))


class Sliced(nn.Module):
    """Pieces of tensors: slices, split by sections, unbind, narrow, squeeze and unsqueeze."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 6, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)
        a, b = torch.split(y, [2, 4], dim=1)
        c = y[:, 1:5, ..., :-1]
        d = y.unbind(2)[-1].unsqueeze(2)
        e = torch.narrow(b, 1, 1, 2).unsqueeze(-1).squeeze(-1)
        out = torch.cat([a, e], 1) + c[..., :1] * d[:, 1:5, :, :1]
        return out.permute(0, 2, 3, 1).swapaxes(1, 2)


class Resized(nn.Module):
    """Up-sampling of every form: modules, F.interpolate by a traced size and by a factor, F.pad."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, stride=2, padding=1)
        self.bilinear = nn.UpsamplingBilinear2d(scale_factor=2)
        self.nearest = nn.Upsample(size=(6, 5))
        self.norm = nn.LayerNorm(4, eps=1e-3)
        self.prelu = nn.PReLU(4, init=0.1)
        self.pad = nn.ReflectionPad2d((1, 0, 2, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)
        up = F.interpolate(self.prelu(y), size=x.shape[-2:], mode="bilinear", align_corners=False)
        up = up + self.bilinear(y)
        small = F.interpolate(F.pad(self.nearest(y), (1, 1, 0, 2), value=0.5), scale_factor=1.5)
        z = self.norm(up.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
        z = F.layer_norm(F.pad(z, (1, 1, 1, 1), mode="circular"), (10,))
        return self.pad(z)[:, :, :2, :2] + small[:, :, :2, :2]


class Segmenter(nn.Module):
    """A segmentation model's interface: logits up-sampled to the input's size, returned by name."""

    def __init__(self) -> None:
        super().__init__()
        self.backbone = nn.Sequential(nn.Conv2d(3, 4, 3, stride=2, padding=1), nn.ReLU())
        self.classifier = nn.Conv2d(4, 5, 1)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        out = self.classifier(self.backbone(x))
        return {"out": F.interpolate(out, size=x.shape[-2:], mode="bilinear", align_corners=False)}


class TwoHeads(Segmenter):
    """Two outputs by name: a spec has one."""

    def __init__(self) -> None:
        super().__init__()
        self.aux = nn.Conv2d(4, 5, 1)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:  # type: ignore[override]
        features = self.backbone(x)
        return {"out": self.classifier(features), "aux": self.aux(features)}


class Conv2dWithInit(nn.Conv2d):
    """A torch.nn class with its own constructor only (torchvision's Conv3DSimple): computes what it
    derives from."""

    def __init__(self, channels: int) -> None:
        super().__init__(channels, channels, 3, padding=1, bias=False)

    @staticmethod
    def stride_of(depth: int) -> int:
        return depth


class Conv2dScaledWeights(nn.Conv2d):
    """A torch.nn class whose convolution reads its weight otherwise: not what it derives from."""

    def _conv_forward(
        self, input: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None
    ) -> torch.Tensor:
        return super()._conv_forward(input, weight * 2, bias)


class Subclassed(nn.Module):
    """Subclasses of torch.nn classes: one read as a convolution, the other traced into."""

    def __init__(self, overriding: bool = False) -> None:
        super().__init__()
        self.conv = Conv2dScaledWeights(3, 3, 1) if overriding else Conv2dWithInit(3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x).relu()


class Summed(nn.Module):
    """A sum over the whole batch: one number, not a tensor per sample."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.relu().sum()


class Mixer(nn.Module):
    """A custom op no kind reads: an einsum over its own weight, read directly twice in forward."""

    def __init__(self, channels: int = 8) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(channels, channels))

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        return torch.einsum("oc,ncl->nol", self.weight, t) + torch.einsum("oc,ncl->nol", self.weight, t)


class AttentionCNN(nn.Module):
    """A small CNN with ops no kind counts: a cumulative sum over the channels (as tokens), the
    custom Mixer and an nn.MultiheadAttention whose attention weights are left unused; and an
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
        t = torch.cumsum(t, dim=-1)
        t = self.mixer(t)
        t, _ = self.attn(t, t, t)
        return self.fc(t.flatten(1))


class Sorted(nn.Module):
    """An op whose result is two tensors, both used (values and indices): no opaque node can stand
    for it."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        values, indices = torch.sort(x, dim=1)
        return values.relu() + indices.float()


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
    """A cumulative sum along each channel's rows (an op no kind counts) in a CNN that takes any input
    size."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.fc = nn.Linear(8, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.conv(x))
        x = torch.cumsum(x, dim=-1)
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


class Checked(nn.Module):
    """Python that looks at what a layer returned: `b` runs only when `a` gave a tensor, as torch runs
    it (a symbolic tracer saw a proxy there, skipped `b` and counted half)."""

    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Conv2d(4, 4, 3, padding=1)
        self.b = nn.Conv2d(4, 4, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.a(x)
        if isinstance(y, torch.Tensor):
            y = self.b(y)
        return y


class TwoInputs(nn.Module):
    """An image and a mask, each through its own convolution, concatenated; `attn_mask` has a
    default, so it is not an input."""

    def __init__(self) -> None:
        super().__init__()
        self.image = nn.Conv2d(3, 4, 3, padding=1)
        self.mask = nn.Conv2d(1, 4, 1)
        self.head = nn.Conv2d(8, 2, 1)

    def forward(
        self, image: torch.Tensor, mask: torch.Tensor, attn_mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        assert attn_mask is None
        return self.head(torch.cat([self.image(image), self.mask(mask)], 1))


class ConvBlock(nn.Module):
    """Ultralytics' Conv: every instance calls one SiLU module shared by the class."""

    default_act = nn.SiLU()

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.act = self.default_act

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.conv(x))


class Reentered(nn.Module):
    """Scopes entered again after another ran: a shared SiLU (ultralytics), a function call between
    calls of one ModuleList's members, and a list of up-samplers called in a loop between other
    layers (MONAI's SegResNet up_samples), with a container reused at each turn (hrnet's fuse)."""

    def __init__(self) -> None:
        super().__init__()
        self.blocks = nn.ModuleList([ConvBlock(4) for _ in range(3)])
        self.up_samples = nn.ModuleList(
            [nn.Sequential(nn.Conv2d(4, 4, 1), nn.Upsample(scale_factor=2)) for _ in range(2)]
        )
        self.up_layers = nn.ModuleList([nn.Conv2d(4, 4, 3, padding=1) for _ in range(2)])
        self.fuse = nn.ModuleList([nn.Conv2d(4, 4, 1) for _ in range(2)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.blocks:
            x = F.relu(block(x))  # a call between calls of one ModuleList's members
        skip = x
        for up, layer, fuse in zip(self.up_samples, self.up_layers, self.fuse, strict=True):
            x = layer(up(x))
            skip = fuse(F.interpolate(skip, scale_factor=2.0))  # one container, each turn
            x = x + skip
        return x


class OwnConv(nn.Module):
    """A convolution of the module's own tensors, written with F.conv2d (no torch.nn class)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(channels, channels, 3, 3) * 0.1)
        self.bias = nn.Parameter(torch.randn(channels) * 0.1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight, self.bias, padding=1)


class BatchNormAct(nn.BatchNorm2d):
    """timm's BatchNormAct2d: a BatchNorm2d whose forward is F.batch_norm on its own tensors, then an
    activation module of its own."""

    def __init__(self, channels: int) -> None:
        super().__init__(channels)
        self.act = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.batch_norm(
            x, self.running_mean, self.running_var, self.weight, self.bias, False, self.momentum, self.eps
        )
        return self.act(x)


class LayerNorm2d(nn.LayerNorm):
    """timm's LayerNorm2d: F.layer_norm over the channels, between two permutes."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.permute(0, 2, 3, 1)
        x = F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)
        return x.permute(0, 3, 1, 2)


class Linear(nn.Linear):
    """timm's Linear: F.linear on its own weight, through a cast to the input's dtype."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight.to(dtype=x.dtype), self.bias)


class GroupNormPReLU(nn.Module):
    """F.group_norm with the module's weights, then F.prelu with its own slope per channel."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.rand(channels) + 0.5)
        self.bias = nn.Parameter(torch.randn(channels) * 0.1)
        self.slope = nn.Parameter(torch.rand(channels) * 0.2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.prelu(F.group_norm(x, 2, self.weight, self.bias, 1e-5), self.slope)


class Functionals(nn.Module):
    """Functional layers on modules' own tensors: each is the torch layer it computes."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = OwnConv(4)
        self.bn = BatchNormAct(4)
        self.norm = LayerNorm2d(4)
        self.mix = GroupNormPReLU(4)
        self.fc = Linear(4 * 6 * 6, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.mix(self.norm(self.bn(self.conv(x))))
        return self.fc(x.flatten(1))


class StdConv(nn.Conv2d):
    """timm's StdConv2d: the weight standardized (from itself alone) before the convolution."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weight = F.batch_norm(
            self.weight.reshape(1, self.out_channels, -1), None, None, training=True, momentum=0.0, eps=1e-6
        ).reshape_as(self.weight)
        return F.conv2d(x, weight, self.bias, self.stride, self.padding, self.dilation, self.groups)


class ScaledStdConv(nn.Conv2d):
    """timm's ScaledStdConv2d: the standardization scaled by a gain of its own, per output channel."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__(in_channels, out_channels, 3, padding=1)
        self.gain = nn.Parameter(torch.ones(out_channels, 1, 1, 1))
        self.scale = (in_channels * 9) ** -0.5

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weight = F.batch_norm(
            self.weight.reshape(1, self.out_channels, -1),
            None,
            None,
            weight=(self.gain * self.scale).view(-1),
            training=True,
            momentum=0.0,
            eps=1e-6,
        ).reshape_as(self.weight)
        return F.conv2d(x, weight, self.bias, self.stride, self.padding, self.dilation, self.groups)


class Standardized(nn.Module):
    """Two standardized convolutions (BiT, NFNet): parameter work on each weight, once per step."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = StdConv(3, 4, 3, padding=1)
        self.body = ScaledStdConv(4, 6)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(self.stem(x).relu())


class Merged(nn.Module):
    """smp's FPN merge: torch.stack(xs).sum(0) adds the pyramid's levels; and a slice that keeps all
    8 channels of a convolution (GhostNet's `x[:, :self.out_chs]`)."""

    def __init__(self) -> None:
        super().__init__()
        self.convs = nn.ModuleList([nn.Conv2d(3, 8, 1) for _ in range(3)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        levels = [conv(x)[:, :8] for conv in self.convs]
        return torch.stack(levels).sum(dim=0)


class Anchored(nn.Module):
    """YOLO's anchors: a constant made from torch.arange while the model runs, added to a head's
    output: the constant is memory, not an input."""

    def __init__(self) -> None:
        super().__init__()
        self.head = nn.Conv2d(3, 2, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[2:]
        grid = torch.stack(torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")).to(x.dtype)
        return self.head(x) + grid


class TwoUnknown(nn.Module):
    """Two ops no kind reads, the second after the first: both are listed."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x).cumsum(1)
        return y.flip(2)


class Chatty(nn.Module):
    """A model that prints, logs and warns while it is built and while it runs."""

    def __init__(self) -> None:
        super().__init__()
        import logging
        import warnings

        print("building Chatty")
        logging.getLogger("chatty").warning("a log line while building")
        warnings.warn("a warning while building", UserWarning, stacklevel=1)
        self.conv = nn.Conv2d(3, 2, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        import sys

        print("running Chatty")
        print("on stderr", file=sys.stderr)
        return self.conv(x)


class HalfWay(nn.Module):
    """A cast to another dtype in the middle: the spec has one dtype, so it is listed."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x).detach().float()  # the values as they are: no node
        return y.to(torch.float64).relu()
