"""Build the torch model of a spec's variant; the only path that imports torch besides measuring."""

from __future__ import annotations

from typing import TYPE_CHECKING

from convprof.kinds import lookup
from convprof.spec import ModelSpec
from convprof.variants import transform

if TYPE_CHECKING:
    import torch

__all__ = ["build_model", "torch_dtype"]


def torch_dtype(name: str) -> torch.dtype:
    """Return the torch dtype a spec names."""
    import torch

    dtype = getattr(torch, name)
    assert isinstance(dtype, torch.dtype)
    return dtype


def build_model(spec: ModelSpec, variant: str, device: str | torch.device = "cpu") -> torch.nn.Sequential:
    """Return the variant as an eval-mode nn.Sequential in the spec's dtype on `device` ('meta' counts)."""
    import torch
    from torch import nn

    model = transform(spec, variant)
    modules: list[nn.Module] = []
    with torch.device(device):
        for layer in model.layers:
            kind = lookup(layer.kind)
            assert kind is not None, layer.kind
            modules.append(kind.build(layer.args, layer.input_shape, layer.output_shape))
    sequential = nn.Sequential(*modules).to(torch_dtype(spec.dtype))
    return sequential.eval()  # convprof counts and times inference
