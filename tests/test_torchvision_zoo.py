"""torchvision's zoo imported: exact counts, output shapes and outputs of the rebuilt model.

Counts are checked for every model below, built on the meta device; outputs with real weights for
one model of each family (OUTPUTS), at a small input, so that the test stays within a minute or two.

torchvision's model code is loaded as tests/torchvision_code.py says (without `import torchvision`,
which fails on a CPU-only torch); the test is skipped, with the reason, where it cannot be loaded.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from convprof.graph.analyze import analyze
from convprof.graph.build import build_model
from convprof.graph.parse import parse_spec
from convprof.importing import import_module
from convprof.spec.examples import read_example
from tests.torchvision_code import builder
from tests.training_oracle import saved_bytes, step_peak

#: Tolerance of the rebuilt model's outputs against the original's.
TOLERANCE = 1e-5
#: Side of the input the outputs are compared at: small, so that real forward passes stay cheap
#: (counts are compared at the model's own input, on the meta device).
OUTPUT_SIDE = 64
#: Without auxiliary heads or input transforms; init_weights=False only skips torchvision's warning.
_PLAIN = {"aux_logits": False, "transform_input": False, "init_weights": False}
#: Model -> (torchvision.models module, keyword arguments, input).
ZOO: dict[str, tuple[str, dict[str, Any], tuple[int, ...]]] = {
    "alexnet": ("alexnet", {}, (3, 224, 224)),
    **{
        name: ("vgg", {}, (3, 224, 224))
        for name in ("vgg11", "vgg11_bn", "vgg16", "vgg16_bn", "vgg19", "vgg19_bn")
    },
    **{
        name: ("resnet", {}, (3, 224, 224))
        for name in (
            "resnet18",
            "resnet34",
            "resnet50",
            "resnet101",
            "resnet152",
            "resnext50_32x4d",
            "wide_resnet50_2",
        )
    },
    "mobilenet_v2": ("mobilenetv2", {}, (3, 224, 224)),
    "mobilenet_v3_small": ("mobilenetv3", {}, (3, 224, 224)),
    "mobilenet_v3_large": ("mobilenetv3", {}, (3, 224, 224)),
    **{
        name: ("efficientnet", {}, (3, 224, 224))
        for name in (
            "efficientnet_b0",
            "efficientnet_b1",
            "efficientnet_b2",
            "efficientnet_b3",
            "efficientnet_v2_s",
        )
    },
    "regnet_y_400mf": ("regnet", {}, (3, 224, 224)),
    "mnasnet1_0": ("mnasnet", {}, (3, 224, 224)),
    "squeezenet1_1": ("squeezenet", {}, (3, 224, 224)),
    "densenet121": ("densenet", {}, (3, 224, 224)),
    "googlenet": ("googlenet", _PLAIN, (3, 224, 224)),
    "inception_v3": ("inception", _PLAIN, (3, 299, 299)),
    "shufflenet_v2_x1_0": ("shufflenetv2", {}, (3, 224, 224)),
    "convnext_tiny": ("convnext", {}, (3, 224, 224)),
    # Video: 16 frames of 112x112.
    "r3d_18": ("video.resnet", {}, (3, 16, 112, 112)),
    "r2plus1d_18": ("video.resnet", {}, (3, 16, 112, 112)),
    # Segmentation, without fetching a pretrained backbone (weights change values, never counts); they
    # return {"out": logits}, read as the spec's output.
    "fcn_resnet50": ("segmentation.fcn", {"weights_backbone": None, "aux_loss": False}, (3, 224, 224)),
    "lraspp_mobilenet_v3_large": ("segmentation.lraspp", {"weights_backbone": None}, (3, 224, 224)),
}


#: One model of each family (the largest left out): their outputs are compared with real weights.
OUTPUTS = (
    "alexnet",
    "vgg11_bn",
    "resnet18",
    "resnext50_32x4d",
    "mobilenet_v2",
    "mobilenet_v3_small",
    "efficientnet_b0",
    "regnet_y_400mf",
    "mnasnet1_0",
    "squeezenet1_1",
    "densenet121",
    "googlenet",
    "inception_v3",
    "shufflenet_v2_x1_0",
    "convnext_tiny",
    "r3d_18",
    "lraspp_mobilenet_v3_large",
)
#: Inputs the outputs are compared at where the square OUTPUT_SIDE does not fit: Inception needs at
#: least 75; a video model takes frames too.
OUTPUT_SHAPES = {"inception_v3": (3, 96, 96), "r3d_18": (3, 4, 32, 32), "r2plus1d_18": (3, 4, 32, 32)}


def _model(name: str, device: str) -> nn.Module:
    """Build a zoo model on `device`; meta where torchvision's builder can run there (it costs nothing)."""
    module, kwargs, _ = ZOO[name]
    build = builder(module, name)
    if isinstance(build, str):
        pytest.skip(build)
    torch.manual_seed(0)
    if device == "meta":
        try:
            with torch.device("meta"):
                return build(**kwargs).eval()  # type: ignore[no-any-return]
        except NotImplementedError:  # regnet computes its widths with tensors: build it, then move it
            return build(**kwargs).to("meta").eval()  # type: ignore[no-any-return]
    model: nn.Module = build(**kwargs)
    with torch.no_grad():
        for sub in model.modules():  # statistics other than 0 and 1, so that a mix-up would show
            if isinstance(sub, nn.modules.batchnorm._BatchNorm):
                sub.running_mean.uniform_(-0.1, 0.1)
                sub.running_var.uniform_(0.9, 1.1)
        for path, parameter in model.named_parameters():  # ConvNeXt's are all 1e-6 at first
            if path.endswith("layer_scale"):
                parameter.uniform_(0.5, 1.5)
    return model.eval()


def _output(output: Any) -> torch.Tensor:
    """Return a model's output tensor: a segmentation model returns it as {"out": ...}."""
    if isinstance(output, dict):
        output = output["out"]
    assert isinstance(output, torch.Tensor)
    return output


@pytest.mark.parametrize("name", sorted(ZOO))
def test_imported_zoo_model_counts_what_torch_counts(name: str) -> None:
    model = _model(name, "meta")
    shape = ZOO[name][2]
    result = import_module(model, shape, name=name)
    assert result.unused == ()
    spec = parse_spec(result.text.encode(), f"{name}.yaml", name)  # the saved spec, as CI reads it
    conv = analyze(spec).variant("conv")
    assert conv.params == sum(p.numel() for p in model.parameters())
    assert conv.buffer_bytes == sum(b.numel() * b.element_size() for b in model.buffers())
    with FlopCounterMode(display=False) as counter:
        output = _output(model(torch.empty((1, *shape), device="meta")))
    assert conv.flops == counter.get_total_flops()
    assert spec.output == tuple(output.shape[1:])


@pytest.mark.slow
@pytest.mark.parametrize("name", OUTPUTS)
def test_rebuilt_zoo_model_with_the_original_weights_computes_its_outputs(name: str) -> None:
    model = _model(name, "cpu")
    shape = OUTPUT_SHAPES.get(name, (3, OUTPUT_SIDE, OUTPUT_SIDE))
    rebuilt = build_model(import_module(model, shape).spec, "conv")
    rebuilt.load_state_dict(model.state_dict())  # every key, by path
    x = torch.randn(2, *shape)
    with torch.no_grad():
        assert torch.allclose(rebuilt(x), _output(model(x)), atol=TOLERANCE, rtol=TOLERANCE)


#: Models whose training step, imported and rebuilt, is checked against torch measuring it: the
#: layouts that decide views and copies (channel shuffle, ConvNeXt's channels-last), grouped and
#: depthwise blocks, Inception's branches, a video model, a segmentation head.
TRAINING = (
    "shufflenet_v2_x1_0",
    "convnext_tiny",
    "regnet_y_400mf",
    "inception_v3",
    "r2plus1d_18",
    "fcn_resnet50",
)


@pytest.mark.parametrize("name", TRAINING)
def test_an_imported_model_trains_as_modelled(name: str) -> None:
    """What autograd keeps and the peak of a training step (batch 2, sgd) equal torch's, measured."""
    model = _model(name, "meta")
    shape = OUTPUT_SHAPES.get(name, (3, OUTPUT_SIDE, OUTPUT_SIDE))
    spec = replace(import_module(model, shape).spec, batch_size=2)
    conv = analyze(spec, "sgd").variant("conv")
    rebuilt = build_model(spec, "conv")
    x = torch.randn(2, *shape)
    assert conv.saved_activation_bytes == saved_bytes(rebuilt.train(), x)
    assert conv.training_bytes == step_peak(rebuilt, x, "sgd")


#: Built-in examples written in torchvision's layout by hand, before the importer could read them.
EXAMPLES = ("convnext_tiny", "r3d_18", "lraspp_mobilenet_v3_large")


def _graph(spec: Any) -> list[int]:
    """Return each node as a hash of its kind, output shape, counts and, recursively, what it reads: equal
    sorted lists are the same graph, whatever order its independent branches are written in.

    An identity node is its input: torchvision's stochastic depth computes nothing in eval mode, so a
    running model makes no node of it where the example writes one."""
    layers = analyze(spec).variant("conv").layers
    signatures: list[int] = []
    kept: list[int] = []
    for node, layer in zip(spec.nodes, layers, strict=True):
        reads = sorted(signatures[i] if i >= 0 else 0 for i in node.inputs)
        if node.kind == "Identity":
            signatures.append(reads[0])
            continue
        counts = (layer.params, layer.buffer_bytes, layer.macs, layer.elementwise_ops, layer.receptive_field)
        signatures.append(hash((node.kind, node.output_shape, counts, *reads)))
        kept.append(signatures[-1])
    return kept


@pytest.mark.parametrize("name", EXAMPLES)
def test_an_imported_model_is_its_built_in_example_layer_by_layer(name: str) -> None:
    """The same graph of the same kinds, shapes and counts, with the same paths wherever a layer holds
    parameters (merges and stochastic depth, which hold none, are named apart: `add_1` written, `add`
    imported)."""
    example = parse_spec(read_example(name) or b"", name, name)
    imported = import_module(_model(name, "meta"), ZOO[name][2]).spec
    assert _graph(imported)[-1] == _graph(example)[-1]  # the output, and all it depends on
    assert sorted(_graph(imported)) == sorted(_graph(example))
    written, read = analyze(example).variant("conv").layers, analyze(imported).variant("conv").layers
    assert {layer.path for layer in read if layer.params} == {layer.path for layer in written if layer.params}
