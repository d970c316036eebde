"""The training step, modelled (convprof.graph.training) against torch measuring the models convprof builds.

- What autograd keeps: the report's saved bytes equal the storages saved_tensors_hooks sees, for
  every public kind (first in the network, and after a layer with parameters, so that its input
  needs a gradient), every variant and every block form.
- Peak memory of a step (forward, backward, optimizer step): equal to the tracked peak for every
  kind, and for the built-in examples with each optimizer; the few kinds whose backward torch
  composes from many operators (LPPool, circular padding, the local variants) are modelled from
  above, within the bounds stated here.
- Backward FLOPs per kind are checked against FlopCounterMode in the oracle tests (test_oracle*.py);
  here whole networks, and torch's over-count of grouped convolutions.
"""

from __future__ import annotations

import os
from dataclasses import replace
from typing import Any

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from convprof.graph.analyze import analyze
from convprof.graph.build import build_model
from convprof.graph.parse import parse_spec
from convprof.graph.training import optimizer_state_bytes, parameter_order
from convprof.graph.variants import VARIANTS, transform
from convprof.kinds import all_kinds, lookup
from convprof.spec import ModelSpec
from convprof.spec.examples import read_example
from tests.specbuild import make_spec
from tests.test_oracle_tensor_ops import CASES as TENSOR_OP_CASES
from tests.training_oracle import make_optimizer, saved_bytes, step_timeline

BATCH = 2

#: One or more configurations of every public kind, on a per-sample input (channels first).
KIND_CASES: list[tuple[tuple[int, ...], Any]] = [
    ((4, 6, 6), {"conv2d": {"out_channels": 6, "kernel_size": 3}}),
    ((4, 6, 6), {"conv2d": {"out_channels": 6, "kernel_size": 3, "groups": 2, "padding": 1, "stride": 2}}),
    ((4, 7, 6), {"conv2d": {"out_channels": 4, "kernel_size": 3, "dilation": 2, "groups": 4}}),
    ((4, 6, 6), {"conv2d": {"out_channels": 4, "kernel_size": 3, "padding": 1, "padding_mode": "reflect"}}),
    ((4, 6, 6), {"conv2d": {"out_channels": 4, "kernel_size": 3, "padding": 1, "padding_mode": "replicate"}}),
    ((4, 6, 6), {"conv2d": {"out_channels": 4, "kernel_size": 3, "padding": 1, "padding_mode": "circular"}}),
    ((4, 6, 6), {"conv2d": {"out_channels": 4, "kernel_size": 4, "padding": "same"}}),
    ((4, 6), {"conv1d": {"out_channels": 6, "kernel_size": 3, "padding": 1}}),
    ((2, 4, 5, 4), {"conv3d": {"out_channels": 3, "kernel_size": 2}}),
    ((4, 3, 3), {"convtranspose2d": {"out_channels": 6, "kernel_size": 3, "stride": 2}}),
    ((4, 5), {"convtranspose1d": {"out_channels": 4, "kernel_size": 3, "stride": 2, "groups": 2}}),
    ((2, 3, 3, 2), {"convtranspose3d": {"out_channels": 2, "kernel_size": 2}}),
    ((4, 6), {"linear": {"out_features": 5}}),
    ((24,), {"linear": {"out_features": 5, "bias": False}}),
    ((4, 6, 6), "flatten"),
    ((4, 6, 6), {"fixedconv2d": {"out_channels": 4, "kernel_size": 3, "stride": 2, "groups": 4}}),
    ((4, 6), {"fixedconv1d": {"out_channels": 2, "kernel_size": 3, "bias": False}}),
    (
        (2, 3, 3, 3),
        {"fixedconv3d": {"out_channels": 2, "kernel_size": 2, "padding_mode": "reflect", "padding": 1}},
    ),
    ((4, 6, 6), "scale"),
    ((4, 6, 6), {"scale": {"shape": [1]}}),
    ((6, 6, 4), {"scale": {"shape": [4]}}),
    ((4, 6, 6), {"scale": {"shape": [4], "view": [1, 4, 1, 1]}}),
    ((4, 6, 6), {"shift": {"shape": [1]}}),
    ((4, 6, 6), {"shift": {"shape": [4, 1, 1]}}),
    ((4,), {"batchnorm1d": {}}),
    ((4, 6, 6), {"batchnorm2d": {}}),
    ((4, 6, 6), {"batchnorm2d": {"affine": False}}),
    ((2, 3, 4, 4), {"batchnorm3d": {"track_running_stats": False}}),
    ((4, 6), {"instancenorm1d": {}}),
    ((4, 6, 6), {"instancenorm2d": {"affine": True}}),
    ((2, 3, 4, 4), {"instancenorm3d": {"affine": True, "track_running_stats": True}}),
    ((4, 6, 6), {"groupnorm": {"num_groups": 2}}),
    ((4, 6, 6), {"groupnorm": {"num_groups": 4, "affine": False}}),
    ((4, 6, 6), {"layernorm": {"normalized_shape": 6}}),
    ((4, 6, 6), {"layernorm": {"normalized_shape": [6, 6], "bias": False}}),
    ((4, 6, 6), {"layernorm2d": {}}),
    ((4, 6, 6), {"localresponsenorm": {"size": 3}}),
    ((4, 6, 6), "relu"),
    ((4, 6, 6), {"relu": {"inplace": True}}),
    ((4, 6, 6), "relu6"),
    ((4, 6, 6), {"relu6": {"inplace": True}}),
    ((4, 6, 6), "leakyrelu"),
    ((4, 6, 6), {"leakyrelu": {"inplace": True}}),
    ((4, 6, 6), "gelu"),
    ((4, 6, 6), "silu"),
    ((4, 6, 6), {"silu": {"inplace": True}}),
    ((4, 6, 6), "sigmoid"),
    ((4, 6, 6), "hardswish"),
    ((4, 6, 6), {"hardswish": {"inplace": True}}),
    ((4, 6, 6), "hardsigmoid"),
    ((4, 6, 6), "tanh"),
    ((4, 6, 6), "identity"),
    ((4, 6, 6), "dropout"),
    ((4, 6, 6), {"dropout": {"inplace": True}}),
    ((4, 6, 6), {"dropout": {"p": 0}}),
    ((4, 6, 6), {"dropout": {"p": 1}}),
    ((4, 6, 6), "elu"),
    ((4, 6, 6), {"elu": {"inplace": True}}),
    ((4, 6, 6), "selu"),
    ((4, 6, 6), "celu"),
    ((4, 6, 6), "prelu"),
    ((4, 6, 6), {"prelu": {"num_parameters": 4}}),
    ((4, 6, 6), "hardtanh"),
    ((4, 6, 6), {"hardtanh": {"inplace": True}}),
    ((4, 6, 6), "mish"),
    ((4, 6, 6), "softplus"),
    ((4, 6, 6), {"softmax": {"dim": 1}}),
    ((4, 6, 6), {"logsoftmax": {"dim": 3}}),
    ((4, 6), "dropout1d"),
    ((4,), "dropout1d"),
    ((4, 6, 6), "dropout2d"),
    ((4, 6, 6), "dropout3d"),
    ((4, 3, 4, 4), {"dropout3d": {"inplace": True}}),
    ((4, 6, 6), "alphadropout"),
    ((4, 6, 6), {"alphadropout": {"inplace": True}}),
    ((4, 6, 6), {"permute": {"dims": [0, 2, 3, 1]}}),
    ((4, 6, 6), {"transpose": {"dim0": 1, "dim1": 2}}),
    ((4, 6), {"zeropad1d": {"padding": 1}}),
    ((4, 6), {"constantpad1d": {"padding": [1, 2], "value": 1.0}}),
    ((4, 6), {"reflectionpad1d": {"padding": 1}}),
    ((4, 6), {"replicationpad1d": {"padding": 2}}),
    ((4, 6, 6), {"zeropad2d": {"padding": -1}}),
    ((4, 6, 6), {"constantpad2d": {"padding": 1, "value": 2.0}}),
    ((4, 6, 6), {"reflectionpad2d": {"padding": [1, 0, 2, 1]}}),
    ((4, 6, 6), {"replicationpad2d": {"padding": 1}}),
    ((2, 3, 4, 4), {"zeropad3d": {"padding": 1}}),
    ((2, 3, 4, 4), {"constantpad3d": {"padding": 1, "value": 2.0}}),
    ((2, 3, 4, 4), {"reflectionpad3d": {"padding": 1}}),
    ((2, 3, 4, 4), {"replicationpad3d": {"padding": 1}}),
    ((4, 6), {"maxpool1d": {"kernel_size": 2}}),
    ((4, 6, 6), {"maxpool2d": {"kernel_size": 3, "stride": 2, "padding": 1}}),
    ((2, 4, 4, 4), {"maxpool3d": {"kernel_size": 2}}),
    ((4, 6), {"avgpool1d": {"kernel_size": 2}}),
    ((4, 6, 6), {"avgpool2d": {"kernel_size": 2}}),
    ((2, 4, 4, 4), {"avgpool3d": {"kernel_size": 2}}),
    ((4, 6), {"lppool1d": {"norm_type": 2, "kernel_size": 2}}),
    ((4, 6, 6), {"lppool2d": {"norm_type": 2, "kernel_size": 2}}),
    ((2, 4, 4, 4), {"lppool3d": {"norm_type": 1.5, "kernel_size": 2}}),
    ((4, 6), {"adaptiveavgpool1d": {"output_size": 1}}),
    ((4, 6), {"adaptiveavgpool1d": {"output_size": 4}}),
    ((4, 6, 6), {"adaptiveavgpool2d": {"output_size": 1}}),
    ((4, 6, 6), {"adaptiveavgpool2d": {"output_size": [2, 3]}}),
    ((2, 4, 4, 4), {"adaptiveavgpool3d": {"output_size": 2}}),
    ((4, 6), {"adaptivemaxpool1d": {"output_size": 3}}),
    ((4, 6, 6), {"adaptivemaxpool2d": {"output_size": 2}}),
    ((2, 4, 4, 4), {"adaptivemaxpool3d": {"output_size": 1}}),
    ((4, 6), {"upsample": {"scale_factor": 2, "mode": "linear"}}),
    ((4, 6, 6), {"upsample": {"scale_factor": 2}}),
    ((4, 6, 6), {"upsample": {"size": [9, 7], "mode": "bilinear", "align_corners": True}}),
    ((4, 6, 6), {"upsample": {"scale_factor": 2, "mode": "bicubic"}}),
    ((2, 3, 3, 3), {"upsample": {"scale_factor": 2, "mode": "trilinear"}}),
    ((4, 6, 6), {"pixelshuffle": {"upscale_factor": 2}}),
    ((4, 6, 6), {"pixelunshuffle": {"downscale_factor": 2}}),
    ((4, 6), {"circularpad1d": {"padding": 2}}),
    ((4, 6, 6), {"circularpad2d": {"padding": [1, 0, 2, 1]}}),
    ((2, 3, 4, 4), {"circularpad3d": {"padding": 1}}),
    ((4, 6, 6), {"reshape": {"shape": [2, 2, 36]}}),
    ((4, 6, 6), {"narrow": {"dim": 1, "start": 1, "length": 2}}),
    ((4, 6, 6), {"narrow": {"dim": 3, "start": 0, "length": 4}}),
    ((4, 6, 6), "contiguous"),
    # products, reductions, indexing, tiling, arithmetic with constants, clamping (each a network)
    *TENSOR_OP_CASES,
]

#: Layers after which torch's memory layout decides what is viewed and what is copied.
LAYOUT_CASES: list[tuple[tuple[int, ...], list[Any]]] = [
    ((4, 6, 6), [{"permute": {"dims": [0, 2, 3, 1]}}, {"linear": {"out_features": 5}}]),
    ((4, 6, 6), [{"permute": {"dims": [0, 2, 3, 1]}}, "gelu", {"reshape": {"shape": [144]}}]),
    ((4, 6, 6), [{"transpose": {"dim0": 1, "dim1": 3}}, "contiguous", "flatten"]),
    ((4, 6, 6), [{"narrow": {"dim": 1, "start": 0, "length": 2}}, "relu", "flatten"]),
    ((4, 6, 6), [{"narrow": {"dim": 1, "start": 0, "length": 2}}, "flatten"]),
    (
        (4, 6, 6),
        ["layernorm2d", {"conv2d": {"out_channels": 4, "kernel_size": 1}}, {"batchnorm2d": {}}, "flatten"],
    ),
    (
        (4, 6, 6),
        [
            {"reshape": {"shape": [2, 2, 6, 6]}},
            {"transpose": {"dim0": 1, "dim1": 2}},
            "contiguous",
            {"reshape": {"shape": [4, 6, 6]}},
        ],
    ),
]

#: Kinds whose peak is modelled from above (their backward composes many operators), and by how
#: much it may exceed the measured peak of these small networks: relative to the measured peak.
UPPER_BOUNDS: dict[str, float] = {
    "LPPool1d": 0.05,
    "LPPool2d": 0.05,
    "LPPool3d": 0.05,
    "circular": 0.12,
    "LocallyConnected": 0.2,
    "LocallyConnectedTranspose": 0.6,
}


def _surroundings(shape: tuple[int, ...]) -> tuple[Any, list[Any]]:
    """A 1x1 layer with parameters that keeps `shape`, to put before a layer; a flatten and a linear
    layer, to put after it."""
    rank = len(shape) - 1
    before: Any = (
        {f"conv{rank}d": {"out_channels": shape[0], "kernel_size": 1}}
        if rank
        else {"linear": {"out_features": shape[0]}}
    )
    return before, ["flatten", {"linear": {"out_features": 3}}]


def _networks(shape: tuple[int, ...], layer: Any) -> list[tuple[str, ModelSpec]]:
    """The layer (or layers) first, its input needing no gradient, and after a 1x1 layer with
    parameters; then a flatten and a linear layer."""
    layers = layer if isinstance(layer, list) else [layer]
    before, after = _surroundings(shape)
    return [
        ("first", make_spec(shape, [*layers, *after], batch_size=BATCH)),
        ("after", make_spec(shape, [before, *layers, *after], batch_size=BATCH)),
    ]


def _case_id(case: tuple[tuple[int, ...], Any]) -> str:
    shape, layer = case
    return f"{'x'.join(map(str, shape))}-{layer}"


def _bound(spec: ModelSpec, variant: str) -> float:
    """The relative excess the model may show over the measured peak of this network (0: exact)."""
    bound = 0.0
    for node in transform(spec, variant).nodes:
        for name, excess in UPPER_BOUNDS.items():
            if node.kind.startswith(name) or (
                name == "circular" and getattr(node.args, "padding_mode", "") == name
            ):
                bound = max(bound, excess)
    return bound


def assert_trains_as_modelled(
    spec: ModelSpec, optimizer: str, label: str, variants: tuple[str, ...] = VARIANTS
) -> None:
    """What autograd keeps equals what the report says, for each variant, and so does the peak of a
    step (from above, within `_bound`, for the kinds modelled so)."""
    report = analyze(spec, optimizer)
    for variant in variants:
        torch.manual_seed(0)
        model = build_model(spec, variant)
        x = torch.randn((spec.batch_size, *spec.input))
        counted = report.variant(variant)
        where = f"{label} {variant} {optimizer}"
        assert counted.saved_activation_bytes == saved_bytes(model.train(), x), where
        measured = step_timeline(model, x, optimizer, [layer.path for layer in counted.layers])
        bound = _bound(spec, variant)
        assert measured.peak <= counted.training_bytes <= measured.peak * (1 + bound), (
            f"{where}: modelled {counted.training_bytes:,}, measured {measured.peak:,}"
        )
        # Over time: while each layer's forward runs, over the backward, over the optimizer's step.
        layers = counted.layers
        backward = max(layer.step_backward_bytes or 0 for layer in layers)
        moments = [
            *((layer.path, layer.step_forward_bytes, measured.forward.get(layer.path)) for layer in layers),
            ("backward", backward, measured.backward),
            ("optimizer step", counted.step_optimizer_bytes, measured.optimizer),
        ]
        for moment, modelled, torch_says in moments:
            if torch_says is None:  # a bare parameter's call: no module to hook
                continue
            assert modelled is not None
            assert torch_says <= modelled <= torch_says * (1 + bound), (
                f"{where} {moment}: modelled {modelled:,}, measured {torch_says:,}"
            )


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel:UserWarning")
@pytest.mark.parametrize("case", KIND_CASES, ids=_case_id)
def test_every_kind_keeps_and_peaks_as_torch_does(case: tuple[tuple[int, ...], Any]) -> None:
    for where, spec in _networks(*case):
        assert_trains_as_modelled(spec, "sgd", f"{where} {case[1]}")


@pytest.mark.parametrize("case", LAYOUT_CASES, ids=lambda case: "-".join(str(layer) for layer in case[1]))
def test_layouts_decide_views_and_copies_as_in_torch(case: tuple[tuple[int, ...], list[Any]]) -> None:
    for where, spec in _networks(*case):
        assert_trains_as_modelled(spec, "sgd", f"{where} {case[1]}")


def test_every_public_kind_has_a_training_case() -> None:
    covered = set()
    for shape, layer in KIND_CASES:
        spec = make_spec(shape, layer if isinstance(layer, list) else [layer], batch_size=BATCH)
        covered |= {node.kind for node in spec.nodes}
    for layers in BLOCKS:  # the merges: add, mul (a gate) and cat
        covered |= {node.kind for node in make_spec((3, 6, 6), layers, batch_size=BATCH).nodes}
    public = {kind.name for kind in all_kinds() if kind.public}
    # An opaque op cannot be built; what the training model makes of it (lower bounds) is tested in
    # tests/test_allow_unknown.py.
    assert public - covered == {"Opaque"}


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel:UserWarning")
def test_parameter_tensors_sum_to_the_parameters_in_torchs_order() -> None:
    for shape, layer in KIND_CASES:
        for _, spec in _networks(shape, layer):
            for variant in VARIANTS:
                model = build_model(spec, variant, device="meta")
                sizes = [p.numel() for p in model.parameters()]
                modelled = [size for _, size in parameter_order(transform(spec, variant))]
                assert modelled == sizes, f"{variant} {layer}"


BLOCKS: list[Any] = [
    [  # a residual block with a projection shortcut, then a gate (squeeze and excitation)
        {"conv2d": {"out_channels": 4, "kernel_size": 3, "padding": 1}},
        {
            "residual": {
                "body": [
                    {"conv2d": {"out_channels": 6, "kernel_size": 3, "padding": 1}},
                    {"batchnorm2d": {}},
                    "relu",
                    {"conv2d": {"out_channels": 6, "kernel_size": 3, "padding": 1}},
                ],
                "shortcut": [{"conv2d": {"out_channels": 6, "kernel_size": 1}}],
                "after": ["relu"],
            }
        },
        {
            "gate": {
                "body": [
                    {"adaptiveavgpool2d": {"output_size": 1}},
                    {"conv2d": {"out_channels": 2, "kernel_size": 1}},
                    "relu",
                    {"conv2d": {"out_channels": 6, "kernel_size": 1}},
                    "hardsigmoid",
                ]
            }
        },
    ],
    [  # branches joined by cat, then by add; a long skip read by name
        {"conv2d": {"out_channels": 4, "kernel_size": 1, "name": "stem"}},
        {
            "branches": {
                "merge": "cat",
                "paths": [
                    [{"conv2d": {"out_channels": 2, "kernel_size": 1}}],
                    [{"maxpool2d": {"kernel_size": 3, "stride": 1, "padding": 1}}, "relu"],
                    [{"dropout": {"p": 0.5}}],
                ],
            }
        },
        {
            "branches": {
                "name": "mix",
                "merge": "add",
                "paths": [[{"conv2d": {"out_channels": 10, "kernel_size": 1}}], ["identity"]],
            }
        },
        {"cat": {"from": ["stem", "mix.add_1"]}},
        {"residual": {"body": ["relu", {"conv2d": {"out_channels": 14, "kernel_size": 3, "padding": 1}}]}},
    ],
    [  # a branch nobody reads: its parameters get no gradient and the optimizer skips them
        {"conv2d": {"out_channels": 4, "kernel_size": 1, "name": "stem"}},
        {"conv2d": {"out_channels": 6, "kernel_size": 3, "padding": 1, "name": "unused"}},
        {"conv2d": {"out_channels": 4, "kernel_size": 1, "from": "stem"}},
        "relu",
    ],
]


@pytest.mark.parametrize("layers", BLOCKS, ids=["residual-gate", "branches-cat-add", "unread-branch"])
@pytest.mark.parametrize("optimizer", ["sgd", "momentum", "adam"])
def test_block_forms_keep_and_peak_as_torch_does(layers: list[Any], optimizer: str) -> None:
    spec = make_spec((3, 6, 6), [*layers, "flatten", {"linear": {"out_features": 3}}], batch_size=BATCH)
    assert_trains_as_modelled(spec, optimizer, "block")


def _example(name: str) -> ModelSpec:
    text = read_example(name)
    assert text is not None, name
    return parse_spec(text, f"{name}.yaml", name)


#: Built-in examples measured in every run (a few seconds each), per variant and optimizer.
QUICK_EXAMPLES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "lenet5": (VARIANTS, ("sgd", "momentum", "adam")),
    "why_convolutions": (VARIANTS, ("sgd", "momentum", "adam")),
    "m5": (("local", "conv"), ("sgd", "adam")),
    "resnet18": (("conv",), ("adam",)),
}
#: Set to `all` to measure every built-in example with every optimizer (about two minutes here);
#: benchmarks/training.py records the same comparison for every example.
EVERY_EXAMPLE = os.environ.get("CONVPROF_TRAINING_EXAMPLES", "")
#: Every built-in example whose conv variant fits in a few hundred MB (the slow test).
ALL_EXAMPLES = (
    "alexnet",
    "convnext_tiny",
    "densenet121",
    "efficientnet_b0",
    "googlenet",
    "lraspp_mobilenet_v3_large",
    "mobilenet_v1",
    "mobilenet_v2",
    "r3d_18",
    "resnet18",
    "resnet50",
    "squeezenet1_1",
    "unet",
    "vgg16",
)


def _check_example(name: str, variants: tuple[str, ...], optimizers: tuple[str, ...]) -> None:
    spec = _example(name)
    for optimizer in optimizers:
        assert_trains_as_modelled(spec, optimizer, name, variants)


@pytest.mark.parametrize("name", sorted(QUICK_EXAMPLES))
def test_small_examples_train_as_modelled(name: str) -> None:
    _check_example(name, *QUICK_EXAMPLES[name])


@pytest.mark.slow
@pytest.mark.skipif(EVERY_EXAMPLE != "all", reason="set CONVPROF_TRAINING_EXAMPLES=all")
@pytest.mark.parametrize("name", ALL_EXAMPLES)
def test_every_example_trains_as_modelled(name: str) -> None:
    _check_example(name, ("conv",), ("sgd", "momentum", "adam"))


@pytest.mark.parametrize("optimizer", ["sgd", "momentum", "adam"])
def test_optimizer_state_is_what_torch_keeps(optimizer: str) -> None:
    spec = _example("lenet5")
    model = build_model(spec, "conv").train()
    params = list(model.parameters())
    opt = make_optimizer(optimizer, params)
    model(torch.randn((1, *spec.input))).sum().backward()
    opt.step()
    kept = sum(
        value.untyped_storage().nbytes()
        for state in opt.state.values()
        for value in state.values()
        if isinstance(value, torch.Tensor)
    )
    tensors = tuple(p.numel() for p in params)
    assert optimizer_state_bytes(optimizer, tensors, 4) == kept
    assert analyze(spec, optimizer).variant("conv").optimizer_bytes == kept


def _training_flops(model: torch.nn.Module, spec: ModelSpec) -> tuple[int, int]:
    """Return FlopCounterMode's (forward, backward) FLOPs of the model on meta."""
    x = torch.empty((spec.batch_size, *spec.input), device="meta")
    with FlopCounterMode(display=False) as forward:
        y = model(x)
    with FlopCounterMode(display=False) as backward:
        y.backward(torch.empty_like(y))
    return int(forward.get_total_flops()), int(backward.get_total_flops())


@pytest.mark.parametrize("name", ["lenet5", "alexnet", "resnet18", "why_convolutions", "m5"])
def test_whole_networks_backward_flops_equal_flop_counter(name: str) -> None:
    # No grouped convolutions here, where torch's count is right: backward FLOPs are the weights'
    # gradients everywhere and the inputs' gradients after the first layer with parameters.
    spec = _example(name)
    report = analyze(spec)
    for variant in VARIANTS:
        if name in ("alexnet", "resnet18") and variant != "conv":
            continue  # their local and dense variants are too large to build even on meta quickly
        model = build_model(spec, variant, device="meta").train()
        forward, backward = _training_flops(model, spec)
        counted = report.variant(variant)
        assert (forward, backward) == (counted.flops, counted.backward_flops), (name, variant)
        assert counted.training_flops == forward + backward
        first = next(layer for layer in counted.layers if layer.macs)
        assert first.backward_flops == first.flops  # no input gradient for the first layer
        assert sum(layer.backward_flops for layer in counted.layers) == counted.backward_flops


def test_torch_over_counts_the_backward_of_a_depthwise_convolution() -> None:
    # torch 2.13's FlopCounterMode counts the weights' gradient of a grouped convolution as if every
    # group saw every input channel: groups x too much. A 32-channel depthwise 3x3 convolution after a
    # layer with parameters: backward 33x its forward where it is 2x (the input's gradient and the
    # weights', each as costly as the forward). When torch fixes it, this test fails: update it.
    spec = make_spec(
        (32, 16, 16),
        [
            {"conv2d": {"out_channels": 32, "kernel_size": 1}},
            {"conv2d": {"out_channels": 32, "kernel_size": 3, "padding": 1, "groups": 32, "name": "dw"}},
        ],
        batch_size=BATCH,
    )
    layer = next(node for node in spec.nodes if node.path == "dw")
    kind = lookup(layer.kind)
    assert kind is not None
    with torch.device("meta"):
        module = kind.node_build(layer.args, layer.input_shapes, layer.output_shape)
    x = torch.empty((BATCH, *layer.input_shape), device="meta", requires_grad=True)
    with FlopCounterMode(display=False) as forward:
        y = module(x)
    with FlopCounterMode(display=False) as backward:
        y.backward(torch.empty_like(y))
    counted = next(row for row in analyze(spec).variant("conv").layers if row.path == "dw")
    assert counted.flops == forward.get_total_flops()
    assert backward.get_total_flops() == 33 * counted.flops
    assert counted.backward_flops == 2 * counted.flops


def test_mobilenet_training_flops_where_torch_over_counts() -> None:
    spec = _example("mobilenet_v1")
    counted = analyze(spec).variant("conv")
    model = build_model(spec, "conv", device="meta").train()
    forward, backward = _training_flops(model, spec)
    assert forward == counted.flops
    # convprof: three times the forward but the first layer's input gradient.
    first = next(layer for layer in counted.layers if layer.macs)
    assert counted.training_flops == 3 * counted.flops - first.flops
    assert round(counted.training_flops / 1e9, 2) == 3.39
    assert round((forward + backward) / 1e9, 1) == 11.9  # torch's count, depthwise layers x groups


# -- frozen layers (requires_grad=False): weights without gradients or optimizer state ----------------


def _frozen(layer: Any) -> Any:
    """The layer with `frozen: true`."""
    if isinstance(layer, str):
        return {layer: {"frozen": True}}
    ((kind, args),) = layer.items()
    return {kind: {**args, "frozen": True}}


def _has_parameters(shape: tuple[int, ...], layer: Any) -> bool:
    """Whether a case of one layer has parameters (a case that is a network of tensor ops has none:
    freezing it changes nothing)."""
    if isinstance(layer, list):
        spec = make_spec(shape, layer, batch_size=BATCH)
        assert analyze(spec).variant("conv").params == 0
        return False
    node = make_spec(shape, [layer], batch_size=BATCH).nodes[0]
    kind = lookup(node.kind)
    assert kind is not None
    return bool(kind.node_param_tensors(node.args, node.input_shapes, node.output_shape))


#: Every kind case with parameters: what freezing it changes.
FROZEN_CASES = [case for case in KIND_CASES if _has_parameters(*case)]


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel:UserWarning")
@pytest.mark.parametrize("case", FROZEN_CASES, ids=_case_id)
def test_a_frozen_layer_keeps_and_peaks_as_torch_does(case: tuple[tuple[int, ...], Any]) -> None:
    # Frozen first (nothing before it learns: it is not even recorded), frozen after a layer that
    # learns (its input needs a gradient, its weights none), and trainable after a frozen one.
    shape, layer = case
    before, after = _surroundings(shape)
    for where, layers in (
        ("frozen first", [_frozen(layer), *after]),
        ("frozen after", [before, _frozen(layer), *after]),
        ("after a frozen one", [_frozen(before), layer, *after]),
    ):
        spec = make_spec(shape, layers, batch_size=BATCH)
        assert any(node.frozen for node in spec.nodes)
        assert_trains_as_modelled(spec, "adam", f"{where} {layer}")


def _frozen_example(name: str, frozen: tuple[str, ...]) -> ModelSpec:
    """A built-in example with the layers named in `frozen` frozen (fine-tuning its head)."""
    spec = _example(name)
    paths = set(frozen)
    return replace(spec, nodes=tuple(replace(node, frozen=node.path in paths) for node in spec.nodes))


@pytest.mark.parametrize("optimizer", ["sgd", "momentum", "adam"])
def test_a_network_with_frozen_layers_trains_as_modelled(optimizer: str) -> None:
    spec = _frozen_example("lenet5", ("c1", "c3"))
    assert_trains_as_modelled(spec, optimizer, "lenet5 with c1, c3 frozen")


def test_frozen_parameters_get_no_optimizer_state_and_no_gradient() -> None:
    spec = _frozen_example("lenet5", ("c1", "c3", "c5"))
    model = build_model(spec, "conv").train()
    assert sorted(name for name, p in model.named_parameters() if not p.requires_grad) == [
        "c1.bias",
        "c1.weight",
        "c3.bias",
        "c3.weight",
        "c5.bias",
        "c5.weight",
    ]
    opt = make_optimizer("adam", list(model.parameters()))
    model(torch.randn((1, *spec.input))).sum().backward()
    opt.step()
    kept = sum(
        value.untyped_storage().nbytes()
        for state in opt.state.values()
        for value in state.values()
        if isinstance(value, torch.Tensor)
    )
    counted = analyze(spec, "adam").variant("conv")
    trainable = [p.numel() for p in model.parameters() if p.requires_grad]
    assert counted.optimizer_bytes == kept == optimizer_state_bytes("adam", tuple(trainable), 4)
    assert counted.trainable_params == sum(trainable) == 10_164 + 850
    assert counted.frozen_params == 156 + 2_416 + 48_120
    assert counted.params == counted.trainable_params + counted.frozen_params == 61_706


def test_frozen_layers_backward_flops_equal_flop_counter() -> None:
    # A frozen layer computes no weights' gradient; before the first layer that learns, no input's
    # gradient either: the frozen c1 and c3 of LeNet-5 have no backward at all, c5 only its weights'.
    spec = _frozen_example("lenet5", ("c1", "c3"))
    counted = analyze(spec).variant("conv")
    model = build_model(spec, "conv", device="meta").train()
    forward, backward = _training_flops(model, spec)
    assert (forward, backward) == (counted.flops, counted.backward_flops)
    rows = {layer.path: layer for layer in counted.layers}
    assert rows["c1"].backward_flops == rows["c3"].backward_flops == 0
    assert rows["c5"].backward_flops == rows["c5"].flops
    assert rows["f6"].backward_flops == 2 * rows["f6"].flops
    frozen_after = _frozen_example("lenet5", ("f6",))
    rows = {layer.path: layer for layer in analyze(frozen_after).variant("conv").layers}
    assert rows["f6"].backward_flops == rows["f6"].flops  # its input's gradient only
    model = build_model(frozen_after, "conv", device="meta").train()
    assert _training_flops(model, frozen_after)[1] == analyze(frozen_after).variant("conv").backward_flops
