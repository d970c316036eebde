"""Build the torch model of a spec's variant; the only path that imports torch besides measuring."""

from __future__ import annotations

from typing import TYPE_CHECKING

from convprof.errors import SpecError
from convprof.graph.variants import transform
from convprof.kinds import lookup
from convprof.spec import ModelSpec, input_index

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

    It takes one tensor per input of the spec, in order, and returns the output, or a tuple of the
    outputs in the order `outputs` names them where the spec has several.

    The module is a torch.fx.GraphModule that calls one submodule per node, in the spec's order, and
    whose submodules are named by the nodes' paths: `named_modules()` and a per-module FLOP count map
    one to one onto the report's rows. A kind that is one parameter and a call (`parameter_at_path`:
    ConvNeXt's layer scale) is that parameter at the node's path and a call of its function, as the
    model it is imported from holds it, so that the original's state_dict loads by path. A frozen
    node's parameters do not require a gradient.
    """
    import torch
    import torch.fx

    from convprof.kinds.nn import ParameterCall

    model = transform(spec, variant)
    work = {entry.path: entry for entry in spec.parameter_work}
    modules: dict[str, torch.nn.Module | torch.nn.Parameter] = {}
    graph = torch.fx.Graph()
    count = len(spec.network_inputs)
    values: dict[int, torch.fx.Node] = {
        input_index(position): graph.placeholder("x" if count == 1 else f"x{position}")
        for position in range(count)
    }
    with torch.device(device):
        for node in model.nodes:
            kind = lookup(node.kind)
            assert kind is not None, node.kind
            module = kind.node_build(node.args, node.input_shapes, node.output_shape)
            if node.frozen:  # `frozen: true`: its parameters get no gradient, as the spec says
                module.requires_grad_(False)
            inputs = tuple(values[i] for i in node.inputs)
            if kind.parameter_at_path:
                assert isinstance(module, ParameterCall), node.kind
                modules[node.path] = module.weight
                weight = graph.get_attr(node.path)
                if module.view is not None:  # the model reads a view of it: `self.gamma.view(1, -1, 1, 1)`
                    weight = graph.call_method("view", (weight, module.view))
                values[node.index] = graph.call_function(type(module).function, (weight, *inputs))
                continue
            for name, shape in work[node.path].params if node.path in work else ():
                # A parameter the original's parameter work reads (ScaledStdConv2d's gain): held
                # where the original holds it, so that its state_dict loads.
                if name in dict(module.named_parameters(recurse=False)) or hasattr(module, name):
                    raise SpecError(
                        f"parameter_work: {node.path} already holds a tensor named {name!r}", spec.path
                    )
                module.register_parameter(name, torch.nn.Parameter(torch.zeros(shape)))
            modules[node.path] = module
            values[node.index] = graph.call_module(node.path, inputs)
    returned = [values[index] for index in spec.output_nodes]
    graph.output(returned[0] if len(returned) == 1 else tuple(returned))
    module = torch.fx.GraphModule(modules, graph, class_name=f"{variant.capitalize()}Model")
    return module.to(torch_dtype(spec.dtype)).eval()  # convprof counts and times inference
