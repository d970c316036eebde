"""One training step of a built variant, as `compare --training` times it and measures its memory.

The step is the one convprof.graph.training models: the model in train mode, the optimizer's state
made by an earlier step, `zero_grad(set_to_none=True)`, the forward, `backward` from a gradient of the
output's size, then the optimizer's step. Timed steps reuse one fixed input and one fixed gradient,
held by the caller throughout. The step whose memory is measured makes its gradient (a copy of the
fixed one) after the forward, as a loss's backward does, so that the gradient counts from there on,
as the model counts it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING

from convprof.measure.memory import module_bytes, tracked_peak
from convprof.report.results import StepMemory

if TYPE_CHECKING:
    import torch

__all__ = ["SGD_LR", "fixed_gradient", "make_optimizer", "measure_step_memory", "training_step"]

#: SGD's learning rate: torch's default (Adam's default is the same 1e-3).
SGD_LR = 1e-3
#: Momentum of the `momentum` optimizer, the usual choice.
MOMENTUM = 0.9


def make_optimizer(name: str, params: list[torch.nn.Parameter]) -> torch.optim.Optimizer:
    """Return the optimizer `name` (sgd, momentum, adam) over `params`, in torch's default
    implementation for their device (single-tensor on the CPU, foreach on CUDA)."""
    import torch

    if name == "sgd":
        return torch.optim.SGD(params, lr=SGD_LR)
    if name == "momentum":
        return torch.optim.SGD(params, lr=SGD_LR, momentum=MOMENTUM)
    if name == "adam":
        return torch.optim.Adam(params)
    raise ValueError(f"unknown optimizer {name!r}")


def fixed_gradient(shape: tuple[int, ...], like: torch.Tensor) -> torch.Tensor:
    """Return the seeded gradient of an output of `shape` every step backpropagates.

    Scaled by 1 / its elements, as the gradient a mean loss hands back, so that thousands of timed
    steps move the weights as little as real training would (none reaches infinity or NaN)."""
    import torch

    generator = torch.Generator().manual_seed(1)
    values = torch.randn(shape, generator=generator) / max(1, math.prod(shape))
    return values.to(like.device, like.dtype)


def _backward(out: object, gradients: tuple[torch.Tensor, ...]) -> None:
    """Backpropagate one gradient per output: the model returns a tensor, or a tuple of several."""
    import torch

    outputs = out if isinstance(out, tuple) else (out,)
    torch.autograd.backward(outputs, gradients)


def training_step(
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    inputs: tuple[torch.Tensor, ...],
    gradients: Callable[[], tuple[torch.Tensor, ...]],
) -> Callable[[], None]:
    """Return one training step of `model` on `inputs` (one tensor per input of the spec);
    `gradients()` gives each output's gradient and is called once the forward has run."""

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        out = model(*inputs)
        _backward(out, gradients())
        del out  # the outputs go before the optimizer's step, as the model has them
        optimizer.step()

    return step


def _held(
    model: torch.nn.Module, optimizer: torch.optim.Optimizer, inputs: tuple[torch.Tensor, ...], device: str
) -> list[torch.Tensor]:
    """Return what is held before a step on `device`: weights, buffers, optimizer state and input."""
    import torch

    state = [
        value
        for per_parameter in optimizer.state.values()
        for value in per_parameter.values()
        if isinstance(value, torch.Tensor)
    ]
    tensors = [*model.parameters(), *model.buffers(), *state, *inputs]
    # Adam keeps its step counts on the CPU whatever the parameters' device.
    return [t for t in tensors if t.device.type == torch.device(device).type]


def measure_step_memory(
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    inputs: tuple[torch.Tensor, ...],
    gradients: tuple[torch.Tensor, ...],
    device: str,
    estimate: int,
) -> StepMemory:
    """Measure the peak memory of one step (the optimizer's state already made) beside `estimate`.

    On CUDA, `torch.cuda.max_memory_allocated` after a reset, less what was allocated before; on the
    CPU, the storages torch's operators return, tracked as for an inference. Either way, plus what
    the step holds before it starts (weights, buffers, optimizer state, input)."""
    import torch

    step = training_step(model, optimizer, inputs, lambda: tuple(g.clone() for g in gradients))
    optimizer.zero_grad(set_to_none=True)  # the gradients of the step before go first, as in any step
    held = _held(model, optimizer, inputs, device)
    held_bytes = module_bytes(held)
    if device.startswith("cuda"):
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        base = torch.cuda.memory_allocated(device)
        step()
        torch.cuda.synchronize(device)
        peak = torch.cuda.max_memory_allocated(device) - base
        return StepMemory(held_bytes, held_bytes + peak, estimate, "cuda.max_memory_allocated")
    peak = tracked_peak(step, held)
    return StepMemory(held_bytes, held_bytes + peak, estimate, "dispatch-tracking")
