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

from convprof.analyze import analyze
from convprof.build import build_model
from convprof.examples import example_names, read_example
from convprof.parse import parse_spec
from convprof.spec import ModelSpec

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
    # ConvNeXt_Tiny_Weights.IMAGENET1K_V1; stochastic depth is the identity at inference.
    "convnext_tiny": {"params": 28_589_128, "macs": 4_455_531_264},
    # LRASPP_MobileNet_V3_Large_Weights.COCO_WITH_VOC_LABELS_V1 (21 classes); its "GFLOPS" 2.086 is
    # at 520x520, the MACs here are FlopCounterMode's on torchvision's model at 224x224.
    "lraspp_mobilenet_v3_large": {"params": 3_221_538, "macs": 379_281_312},
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
    code = (
        "import json, runpy, sys\n"
        f"for name in {example_names()!r}:\n"
        "    sys.argv = ['convprof', 'compare', name, '--no-latency', '--format', 'json']\n"
        "    try:\n"
        "        runpy.run_module('convprof', run_name='__main__')\n"
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


def test_segmentation_output_is_upsampled_back_to_the_input() -> None:
    spec = load("lraspp_mobilenet_v3_large")
    assert spec.output == (21, *spec.input[1:])
    by_path = {node.path: node for node in spec.nodes}
    # The gate multiplies the 14x14 branch by its pooled sigmoid; the product meets the 28x28 features.
    assert by_path["classifier.gate"].input_shapes == ((128, 14, 14), (128, 1, 1))
    assert by_path["classifier.add"].input_shapes == ((21, 28, 28), (21, 28, 28))


def test_convnext_blocks_scale_their_branch_per_channel() -> None:
    report = analyze(load("convnext_tiny")).variant("conv")
    scales = [layer for layer in report.layers if layer.name.endswith(".layer_scale")]
    assert len(scales) == 3 + 3 + 9 + 3
    assert sum(layer.params for layer in scales) == 3 * 96 + 3 * 192 + 9 * 384 + 3 * 768
