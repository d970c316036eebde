"""The torchvision-layout examples against torchvision's own models, module by module.

torchvision is not a dependency of convprof or of its tests: these tests run where it is installed
and are skipped, with the reason, where it is not. Its model code is pure Python, but the wheels the
package index serves are CUDA builds whose `import torchvision` fails on a CPU-only torch ("operator
torchvision::nms does not exist": its package `__init__` loads compiled operators). So the model
files are loaded without running that `__init__`: `torchvision` and `torchvision.models` are entered
in `sys.modules` as bare packages whose `__path__` points at the installed folders, and the model
modules (which import only pure-Python parts: ops.misc, transforms presets, utils) are imported
through them. `sys.modules` is restored afterwards, so nothing else sees the bare packages.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import cache
from typing import Any

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from convprof.graph.analyze import analyze
from convprof.graph.parse import parse_spec
from convprof.report import LayerReport
from convprof.spec.examples import read_example

#: Examples written before graphs, with generated layer names: compared in total only.
UNNAMED = {"alexnet", "vgg16"}
#: Example name -> (torchvision model module, builder, keyword arguments as the example is written).
MODELS: dict[str, tuple[str, str, dict[str, Any]]] = {
    "alexnet": ("alexnet", "alexnet", {}),
    "vgg16": ("vgg", "vgg16", {}),
    "resnet18": ("resnet", "resnet18", {}),
    "resnet50": ("resnet", "resnet50", {}),
    "mobilenet_v2": ("mobilenetv2", "mobilenet_v2", {}),
    "mobilenet_v3_small": ("mobilenetv3", "mobilenet_v3_small", {}),
    "efficientnet_b0": ("efficientnet", "efficientnet_b0", {}),
    # No auxiliary heads, no input transform; init_weights=False only skips the random
    # initialisation (and torchvision's warning that its default will change).
    "googlenet": (
        "googlenet",
        "googlenet",
        {"aux_logits": False, "transform_input": False, "init_weights": False},
    ),
    "densenet121": ("densenet", "densenet121", {}),
    "squeezenet1_1": ("squeezenet", "squeezenet1_1", {}),
    "convnext_tiny": ("convnext", "convnext_tiny", {}),
    # No pretrained backbone is fetched: weights only change values, never counts.
    "lraspp_mobilenet_v3_large": (
        "segmentation.lraspp",
        "lraspp_mobilenet_v3_large",
        {"weights": None, "weights_backbone": None, "num_classes": 21},
    ),
    "r3d_18": ("video.resnet", "r3d_18", {}),
}


@contextmanager
def _restored_modules() -> Iterator[None]:
    """Restore every `torchvision` entry of sys.modules on leaving."""
    saved = {name: module for name, module in sys.modules.items() if name.split(".")[0] == "torchvision"}
    try:
        yield
    finally:
        for name in [name for name in sys.modules if name.split(".")[0] == "torchvision"]:
            del sys.modules[name]
        sys.modules.update(saved)


@cache
def _builders() -> dict[str, Callable[..., torch.nn.Module]] | str:
    """Return torchvision's model builders by example name, or why they cannot be loaded."""
    found = importlib.util.find_spec("torchvision")
    if found is None or not found.submodule_search_locations:
        return "torchvision is not installed"
    (root,) = found.submodule_search_locations
    with _restored_modules():
        for name, folder in (("torchvision", root), ("torchvision.models", f"{root}/models")):
            package = types.ModuleType(name)
            package.__path__ = [folder]
            sys.modules[name] = package
        try:
            modules = {
                module: importlib.import_module(f"torchvision.models.{module}")
                for module, _, _ in MODELS.values()
            }
        except Exception as exc:  # any failure to load an optional oracle is a reason to skip
            return f"torchvision's model code cannot be loaded: {type(exc).__name__}: {exc}"
    return {example: getattr(modules[module], builder) for example, (module, builder, _) in MODELS.items()}


def _torchvision_model(name: str) -> torch.nn.Module:
    builders = _builders()
    if isinstance(builders, str):
        pytest.skip(builders)
    with torch.device("meta"):
        return builders[name](**MODELS[name][2]).eval()


def _under(layers: tuple[LayerReport, ...], path: str) -> list[LayerReport]:
    """Return the report's layers at `path` or inside it ('' is the whole model)."""
    return [layer for layer in layers if not path or layer.path == path or layer.path.startswith(f"{path}.")]


@pytest.mark.parametrize("name", sorted(MODELS))
def test_example_equals_torchvision_model_module_by_module(name: str) -> None:
    model = _torchvision_model(name)
    data = read_example(name)
    assert data is not None
    spec = parse_spec(data, name, name)
    conv = analyze(spec).variant("conv")
    with FlopCounterMode(display=False) as counter:
        y = model(torch.empty((1, *spec.input), device="meta"))
    if isinstance(y, dict):  # segmentation models return their outputs by name
        y = y["out"]
    assert tuple(y.shape[1:]) == spec.output
    assert counter.get_total_flops() == conv.flops
    assert sum(p.numel() for p in model.parameters()) == conv.params
    assert sum(b.numel() * b.element_size() for b in model.buffers()) == conv.buffer_bytes
    if name in UNNAMED:
        return
    # Every torchvision module, leaf or block, against the report's layers at its path and below:
    # the paths are torchvision's, so reports line up with its state_dict keys and profiler rows.
    for path, module in model.named_modules():
        layers = _under(conv.layers, path)
        assert sum(p.numel() for p in module.parameters()) == sum(layer.params for layer in layers), path
        buffers = sum(b.numel() * b.element_size() for b in module.buffers())
        assert buffers == sum(layer.buffer_bytes for layer in layers), path
        # A leaf with weights is a node. A block may hold weights of its own too (ConvNeXt's layer
        # scale), which a node inside it holds: the sums above check them.
        if list(module.parameters(recurse=False)) and not list(module.children()):
            (layer,) = [layer for layer in layers if layer.path == path]
            # Its class, or the torch.nn class it derives from (video ResNets' Conv3DSimple is a Conv3d).
            mro = type(module).__mro__
            names = {mro[0].__name__} | {c.__name__ for c in mro if c.__module__.startswith("torch.nn.")}
            assert layer.kind in names, path
    root = type(model).__name__
    for key, by_op in counter.get_flop_counts().items():
        if key in ("Global", root):
            continue
        path = key.removeprefix(f"{root}.")
        assert sum(by_op.values()) == sum(layer.flops for layer in _under(conv.layers, path)), path
