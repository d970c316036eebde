"""Built-in examples reproduce their published totals exactly, analytically and as built torch models."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from convprof.graph.analyze import analyze
from convprof.graph.build import build_model
from convprof.graph.parse import parse_spec
from convprof.spec import ModelSpec
from convprof.spec.examples import example_names, read_example

ROOT = Path(__file__).resolve().parent.parent

# Published totals, each from its source (see the comment heading each spec):
# parameters of the model as written, and multiply-accumulates at the spec's input where published.
PUBLISHED = {
    # 6 x (5*5*3 + 1): the lecture's "156" corrected for the three input channels.
    "why_convolutions": {"params": 6 * (5 * 5 * 3 + 1)},
    # LeNet-5 with full C3 connections.
    "lenet5": {"params": 61_706},
    # torchvision.models.alexnet (AlexNet_Weights.IMAGENET1K_V1: num_params 61,100,840).
    "alexnet": {"params": 61_100_840},
    # torchvision.models.vgg16: 138,357,544 parameters; 15.47 G MACs at 224x224.
    "vgg16": {"params": 138_357_544, "macs": 15_470_264_320},
    # MobileNet v1 (1.0, 224): 4,231,976 parameters.
    "mobilenet_v1": {"params": 4_231_976},
    # torchvision's models at 3x224x224: parameters are each weights enum's `num_params`; MACs are
    # half the FLOPs FlopCounterMode reports on torchvision's own model (tests/test_torchvision_models.py
    # checks them layer by layer where torchvision can be loaded), which its model cards round to
    # three decimals as "GFLOPS" (PUBLISHED_ROUNDED_MACS).
    "resnet18": {"params": 11_689_512, "macs": 1_814_073_344},
    "resnet50": {"params": 25_557_032, "macs": 4_089_184_256},
    "mobilenet_v2": {"params": 3_504_872, "macs": 300_774_272},
    "mobilenet_v3_small": {"params": 2_542_856, "macs": 56_510_400},
    "efficientnet_b0": {"params": 5_288_548, "macs": 385_814_752},
    # Without the auxiliary heads, whose weights torchvision's num_params leaves out too.
    "googlenet": {"params": 6_624_904, "macs": 1_498_376_192},
    "densenet121": {"params": 7_978_856, "macs": 2_834_161_664},
    "squeezenet1_1": {"params": 1_235_496, "macs": 349_151_936},
    # milesial's Pytorch-UNet, UNet(n_channels=3, n_classes=1, bilinear=False): 31,037,633 parameters
    # (UNetReference below builds it from that repository's layout and counts them).
    "unet": {"params": 31_037_633},
    # ConvNeXt_Tiny_Weights.IMAGENET1K_V1; stochastic depth is the identity at inference.
    "convnext_tiny": {"params": 28_589_128, "macs": 4_455_531_264},
    # LRASPP_MobileNet_V3_Large_Weights.COCO_WITH_VOC_LABELS_V1 (21 classes); its "GFLOPS" 2.086 is
    # at 520x520, the MACs here are FlopCounterMode's on torchvision's model at 224x224.
    "lraspp_mobilenet_v3_large": {"params": 3_221_538, "macs": 379_281_312},
    # torchvision.models.video.r3d_18 (R3D_18_Weights.KINETICS400_V1: num_params 33,371,472) at
    # 3x16x112x112; its "GFLOPS" 40.697 are MACs, exact here as half of FlopCounterMode's count.
    "r3d_18": {"params": 33_371_472, "macs": 40_696_553_472},
    # The torchaudio tutorial's M5(n_input=1, n_output=35): "Number of parameters: 26915"
    # (M5Reference below builds it as the tutorial writes it).
    "m5": {"params": 26_915},
}
#: The precision of torchvision's "GFLOPS" (`_ops`, in G multiply-accumulates, three decimals).
_TORCHVISION_GMACS_PRECISION = 0.0005e9
# Rounded figures from the papers and model cards, checked to their published precision.
PUBLISHED_ROUNDED_MACS = {
    "alexnet": (0.71e9, 0.005e9),
    "mobilenet_v1": (569e6, 0.5e6),
    "resnet18": (1.814e9, _TORCHVISION_GMACS_PRECISION),
    "resnet50": (4.089e9, _TORCHVISION_GMACS_PRECISION),
    "mobilenet_v2": (0.301e9, _TORCHVISION_GMACS_PRECISION),
    "mobilenet_v3_small": (0.057e9, _TORCHVISION_GMACS_PRECISION),
    "efficientnet_b0": (0.386e9, _TORCHVISION_GMACS_PRECISION),
    "googlenet": (1.498e9, _TORCHVISION_GMACS_PRECISION),
    "densenet121": (2.834e9, _TORCHVISION_GMACS_PRECISION),
    "squeezenet1_1": (0.349e9, _TORCHVISION_GMACS_PRECISION),
    "convnext_tiny": (4.456e9, _TORCHVISION_GMACS_PRECISION),
    "r3d_18": (40.697e9, _TORCHVISION_GMACS_PRECISION),
}


def load(name: str) -> ModelSpec:
    data = read_example(name)
    assert data is not None
    return parse_spec(data, name, name)


def test_every_required_example_ships() -> None:
    assert set(PUBLISHED) <= set(example_names())


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_published_totals(name: str) -> None:
    conv = analyze(load(name)).variant("conv")
    assert conv.params == PUBLISHED[name]["params"]
    if "macs" in PUBLISHED[name]:
        assert conv.macs == PUBLISHED[name]["macs"]
    if name in PUBLISHED_ROUNDED_MACS:
        value, tolerance = PUBLISHED_ROUNDED_MACS[name]
        assert abs(conv.macs - value) <= tolerance


def test_why_convolutions_dense_equivalent() -> None:
    report = analyze(load("why_convolutions"))
    assert report.variant("dense").params == 3072 * 4704 + 4704 == 14_455_392
    assert report.variant("local").params == 4704 * 75 + 4704


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_built_conv_model_matches_published_totals(name: str) -> None:
    spec = load(name)
    model = build_model(spec, "conv", "meta")
    assert sum(p.numel() for p in model.parameters()) == PUBLISHED[name]["params"]
    with FlopCounterMode(display=False) as counter:
        model(torch.empty((1, *spec.input), device="meta"))
    assert counter.get_total_flops() == 2 * analyze(spec).variant("conv").macs
    if "macs" in PUBLISHED[name]:
        assert counter.get_total_flops() == 2 * PUBLISHED[name]["macs"]


def test_vgg16_dense_equivalent_is_counted_not_built() -> None:
    """66.8 TB of weights: counted exactly in closed form."""
    report = analyze(load("vgg16"))
    dense = report.variant("dense")
    assert dense.param_bytes == dense.params * 4
    assert dense.param_bytes > 60 * 10**12


def test_peer_reconciliation_network_from_the_readme() -> None:
    """Conv2d(3,6,5)-ReLU-MaxPool2d(2)-Flatten-Linear(1176,10) at 1x3x32x32: 364,560 MACs, 729,120 FLOPs."""
    from tests.specbuild import make_spec

    spec = make_spec(
        (3, 32, 32),
        [
            {"conv2d": {"out_channels": 6, "kernel_size": 5}},
            "relu",
            {"maxpool2d": {"kernel_size": 2}},
            "flatten",
            {"linear": {"out_features": 10}},
        ],
    )
    conv = analyze(spec).variant("conv")
    assert conv.macs == 6 * 28 * 28 * 3 * 25 + 1176 * 10 == 364_560
    model = build_model(spec, "conv", "meta")
    with FlopCounterMode(display=False) as counter:
        model(torch.empty((1, 3, 32, 32), device="meta"))
    assert counter.get_total_flops() == conv.flops == 729_120


def test_counting_every_example_never_imports_torch() -> None:
    """`convprof compare <example> --no-latency` stays on the analytic path for every example."""
    # The CLI's main, which ends each run with SystemExit (the entry point then ends the process).
    code = (
        "import json, sys\n"
        "from convprof.cli import main\n"
        f"for name in {example_names()!r}:\n"
        "    sys.argv = ['convprof', 'compare', name, '--no-latency', '--format', 'json']\n"
        "    try:\n"
        "        main()\n"
        "    except SystemExit as exit:\n"
        "        assert not exit.code, (name, exit.code)\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    decoder, text, names = json.JSONDecoder(), result.stdout, []
    while text.strip():
        report, end = decoder.raw_decode(text.lstrip())
        names.append(report["spec"]["name"])
        text = text.lstrip()[end:]
    assert names == example_names()


class _DoubleConv(torch.nn.Module):
    """Pytorch-UNet's (3x3 conv, batch norm, ReLU) x 2, padded."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        nn = torch.nn
        self.double_conv = nn.Sequential(
            nn.Conv2d(cin, cout, 3, padding=1, bias=False),
            nn.BatchNorm2d(cout),
            nn.ReLU(inplace=True),
            nn.Conv2d(cout, cout, 3, padding=1, bias=False),
            nn.BatchNorm2d(cout),
            nn.ReLU(inplace=True),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.double_conv(x)
        return out


class _Down(torch.nn.Module):
    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.maxpool_conv = torch.nn.Sequential(torch.nn.MaxPool2d(2), _DoubleConv(cin, cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.maxpool_conv(x)
        return out


class _Up(torch.nn.Module):
    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.up = torch.nn.ConvTranspose2d(cin, cin // 2, kernel_size=2, stride=2)
        self.conv = _DoubleConv(cin, cout)

    def forward(self, x1: torch.Tensor, x2: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.conv(torch.cat([x2, self.up(x1)], dim=1))
        return out


class UNetReference(torch.nn.Module):
    """Pytorch-UNet's UNet(n_channels, n_classes, bilinear=False), written here from its layout."""

    def __init__(self, n_channels: int, n_classes: int) -> None:
        super().__init__()
        self.inc = _DoubleConv(n_channels, 64)
        self.down1, self.down2 = _Down(64, 128), _Down(128, 256)
        self.down3, self.down4 = _Down(256, 512), _Down(512, 1024)
        self.up1, self.up2 = _Up(1024, 512), _Up(512, 256)
        self.up3, self.up4 = _Up(256, 128), _Up(128, 64)
        self.outc = torch.nn.Module()
        self.outc.conv = torch.nn.Conv2d(64, n_classes, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x1 = self.inc(x)
        x2 = self.down1(x1)
        x3 = self.down2(x2)
        x4 = self.down3(x3)
        x = self.up1(self.down4(x4), x4)
        x = self.up2(x, x3)
        x = self.up3(x, x2)
        x = self.up4(x, x1)
        out: torch.Tensor = self.outc.conv(x)
        return out


def test_unet_equals_the_reference_module_by_module() -> None:
    spec = load("unet")
    conv = analyze(spec).variant("conv")
    with torch.device("meta"):
        model = UNetReference(3, 1).eval()
    with FlopCounterMode(display=False) as counter:
        y = model(torch.empty((1, *spec.input), device="meta"))
    assert tuple(y.shape[1:]) == spec.output == (1, 256, 256)
    assert sum(p.numel() for p in model.parameters()) == conv.params == 31_037_633
    assert counter.get_total_flops() == conv.flops
    # Every reference module against the report's layers at its path and below.
    for path, module in model.named_modules():
        layers = [
            layer
            for layer in conv.layers
            if not path or layer.path == path or layer.path.startswith(f"{path}.")
        ]
        assert sum(p.numel() for p in module.parameters()) == sum(layer.params for layer in layers), path
        buffers = sum(b.numel() * b.element_size() for b in module.buffers())
        assert buffers == sum(layer.buffer_bytes for layer in layers), path
        if list(module.parameters(recurse=False)):
            (layer,) = [layer for layer in layers if layer.path == path]
            assert layer.kind == type(module).__name__, path
    for key, by_op in counter.get_flop_counts().items():
        if key in ("Global", "UNetReference"):
            continue
        path = key.removeprefix("UNetReference.")
        under = [layer for layer in conv.layers if layer.path == path or layer.path.startswith(f"{path}.")]
        assert sum(by_op.values()) == sum(layer.flops for layer in under), path


def test_unet_up_sampling_counts_follow_the_transposed_convolution_convention() -> None:
    """up1.up: 1024 x 16 x 16 inputs, each meeting 512 output channels x a 2x2 kernel (README)."""
    spec = load("unet")
    (up,) = [layer for layer in analyze(spec).variant("conv").layers if layer.path == "up1.up"]
    assert up.macs == 1024 * 16 * 16 * 512 * 2 * 2
    assert up.params == 1024 * 512 * 2 * 2 + 512


def test_segmentation_output_is_upsampled_back_to_the_input() -> None:
    spec = load("lraspp_mobilenet_v3_large")
    assert spec.output == (21, *spec.input[1:])
    by_path = {node.path: node for node in spec.nodes}
    # The gate multiplies the 14x14 branch by its pooled sigmoid; the product meets the 28x28 features.
    assert by_path["classifier.gate"].input_shapes == ((128, 14, 14), (128, 1, 1))
    assert by_path["classifier.add"].input_shapes == ((21, 28, 28), (21, 28, 28))


def test_convnext_blocks_scale_their_branch_per_channel() -> None:
    report = analyze(load("convnext_tiny")).variant("conv")
    scales = [layer for layer in report.layers if layer.path.endswith(".layer_scale")]
    assert len(scales) == 3 + 3 + 9 + 3
    assert sum(layer.params for layer in scales) == 3 * 96 + 3 * 192 + 9 * 384 + 3 * 768


class M5Reference(torch.nn.Module):
    """The torchaudio speech-command tutorial's M5, as written there."""

    def __init__(self, n_input: int = 1, n_output: int = 35, stride: int = 16, n_channel: int = 32) -> None:
        super().__init__()
        nn = torch.nn
        self.conv1 = nn.Conv1d(n_input, n_channel, kernel_size=80, stride=stride)
        self.bn1 = nn.BatchNorm1d(n_channel)
        self.pool1 = nn.MaxPool1d(4)
        self.conv2 = nn.Conv1d(n_channel, n_channel, kernel_size=3)
        self.bn2 = nn.BatchNorm1d(n_channel)
        self.pool2 = nn.MaxPool1d(4)
        self.conv3 = nn.Conv1d(n_channel, 2 * n_channel, kernel_size=3)
        self.bn3 = nn.BatchNorm1d(2 * n_channel)
        self.pool3 = nn.MaxPool1d(4)
        self.conv4 = nn.Conv1d(2 * n_channel, 2 * n_channel, kernel_size=3)
        self.bn4 = nn.BatchNorm1d(2 * n_channel)
        self.pool4 = nn.MaxPool1d(4)
        self.fc1 = nn.Linear(2 * n_channel, n_output)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        functional = torch.nn.functional
        x = self.pool1(functional.relu(self.bn1(self.conv1(x))))
        x = self.pool2(functional.relu(self.bn2(self.conv2(x))))
        x = self.pool3(functional.relu(self.bn3(self.conv3(x))))
        x = self.pool4(functional.relu(self.bn4(self.conv4(x))))
        x = functional.avg_pool1d(x, x.shape[-1])
        x = self.fc1(x.permute(0, 2, 1))
        return functional.log_softmax(x, dim=2)


def test_m5_equals_the_tutorial_module_by_module() -> None:
    spec = load("m5")
    conv = analyze(spec).variant("conv")
    with torch.device("meta"):
        model = M5Reference().eval()
    with FlopCounterMode(display=False) as counter:
        y = model(torch.empty((1, *spec.input), device="meta"))
    assert tuple(y.shape[1:]) == spec.output == (1, 35)
    assert sum(p.numel() for p in model.parameters()) == conv.params == 26_915
    assert sum(b.numel() * b.element_size() for b in model.buffers()) == conv.buffer_bytes
    assert counter.get_total_flops() == conv.flops
    by_name = {layer.path: layer for layer in conv.layers}
    for path, module in model.named_children():
        assert sum(p.numel() for p in module.parameters()) == by_name[path].params, path
        assert by_name[path].kind == type(module).__name__, path
    for key, by_op in counter.get_flop_counts().items():
        if key in ("Global", "M5Reference"):
            continue
        assert sum(by_op.values()) == by_name[key.removeprefix("M5Reference.")].flops, key
