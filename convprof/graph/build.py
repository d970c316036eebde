"""Build the torch model of a spec's variant; the only path that imports torch besides measuring."""

from __future__ import annotations

from typing import TYPE_CHECKING

from convprof.graph.variants import transform
from convprof.kinds import lookup
from convprof.spec import NETWORK_INPUT, ModelSpec

if TYPE_CHECKING:
    import torch
    import torch.fx

__all__ = ["build_model", "torch_dtype"]


def torch_dtype(name: str) -> torch.dtype:
    """Return the torch dtype a spec names."""
    import torch

    dtype = getattr(torch, name)
    assert isinstance(dtype, torch.dtype)
    return dtype


def build_model(spec: ModelSpec, variant: str, device: str | torch.device = "cpu") -> torch.fx.GraphModule:
    """Return the variant as an eval-mode module in the spec's dtype on `device` ('meta' counts).

    The module is a torch.fx.GraphModule that calls one submodule per node, in the spec's order, and
    whose submodules are named by the nodes' paths: `named_modules()` and a per-module FLOP count map
    one to one onto the report's rows.
    """
    import torch
    import torch.fx

    model = transform(spec, variant)
    modules: dict[str, torch.nn.Module] = {}
    graph = torch.fx.Graph()
    values: dict[int, torch.fx.Node] = {NETWORK_INPUT: graph.placeholder("x")}
    with torch.device(device):
        for node in model.nodes:
            kind = lookup(node.kind)
            assert kind is not None, node.kind
            modules[node.path] = kind.node_build(node.args, node.input_shapes, node.output_shape)
            values[node.index] = graph.call_module(node.path, tuple(values[i] for i in node.inputs))
    graph.output(values[model.nodes[-1].index])
    module = torch.fx.GraphModule(modules, graph, class_name=f"{variant.capitalize()}Model")
    return module.to(torch_dtype(spec.dtype)).eval()  # convprof counts and times inference
