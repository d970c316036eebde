"""Independent measurements of a training step, the oracles of convprof's training model.

Three things torch itself can tell about a built model, measured here without any of convprof's own
measuring code:

- `backward_flops`: FlopCounterMode around the backward of one module;
- `saved_bytes`: the storages `torch.autograd.graph.saved_tensors_hooks` sees in one forward, each
  once, parameters and buffers left out;
- `step_peak`: the peak bytes of a whole step (forward, backward from a gradient of the output's
  size, optimizer step) after a first step has made the optimizer's state: the tensors held before
  the step (weights, buffers, optimizer state, input) plus the largest sum of the storages that torch's
  operators return during it, each counted until its last tensor is garbage;
- `step_timeline`: the same step over time: that peak while each module's forward runs, over the
  whole backward, and over the optimizer's step.
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves
from torch.utils.flop_counter import FlopCounterMode

__all__ = [
    "StepTimeline",
    "Tracker",
    "backward_flops",
    "make_optimizer",
    "saved_bytes",
    "step_peak",
    "step_timeline",
]


def backward_flops(
    module: torch.nn.Module, in_shapes: tuple[tuple[int, ...], ...], batch: int, grads: bool
) -> int:
    """Return FlopCounterMode's FLOPs of the module's backward on meta inputs that need a gradient or not."""
    # A leaf that needs a gradient cannot be overwritten in place; a copy of it can, as any layer's output.
    inputs = [torch.empty((batch, *shape), device="meta", requires_grad=grads) for shape in in_shapes]
    # Eval mode: the same products, and no running-average update (which meta tensors cannot do).
    y = module.eval()(*(x.clone() if grads else x for x in inputs))
    if not y.requires_grad:
        return 0
    with FlopCounterMode(display=False) as counter:
        y.backward(torch.empty_like(y))
    return int(counter.get_total_flops())


def saved_bytes(model: torch.nn.Module, x: torch.Tensor | tuple[torch.Tensor, ...]) -> int:
    """Return the bytes of the storages autograd keeps in one forward, each once, weights left out
    (`x`: the input, or a tuple of one per input)."""
    inputs = x if isinstance(x, tuple) else (x,)
    weights = {t.untyped_storage().data_ptr() for t in (*model.parameters(), *model.buffers())}
    seen: dict[int, int] = {}

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        storage = tensor.untyped_storage()
        if storage.data_ptr() not in weights:
            seen[storage.data_ptr()] = storage.nbytes()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        model(*inputs)
    return sum(seen.values())


def make_optimizer(name: str, params: list[torch.nn.Parameter]) -> torch.optim.Optimizer:
    """Return torch's optimizer `name` (sgd, momentum, adam) with its default implementation."""
    if name == "sgd":
        return torch.optim.SGD(params, lr=0.01)
    if name == "momentum":
        return torch.optim.SGD(params, lr=0.01, momentum=0.9)
    return torch.optim.Adam(params)


class Tracker(TorchDispatchMode):  # type: ignore[misc]
    """Counts each storage an operator returns from then until its last tensor is garbage."""

    @classmethod
    def _should_skip_dynamo(cls) -> bool:
        return False

    def __init__(self, known: set[int]) -> None:
        super().__init__()
        self.known = known
        self.owners: dict[int, int] = {}
        self.sizes: dict[int, int] = {}
        self.tensors: set[int] = set()
        self.current = 0
        self.peak = 0
        self.window = 0  # the peak since the last `open_window`

    def open_window(self) -> None:
        """Start a new window: its peak starts at what is held now."""
        self.window = self.current

    def _release(self, address: int, tensor_id: int) -> None:
        self.tensors.discard(tensor_id)
        self.owners[address] -= 1
        if not self.owners[address]:
            del self.owners[address]
            self.current -= self.sizes.pop(address)

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        out = func(*args, **(kwargs or {}))
        for tensor in tree_leaves(out):
            if not isinstance(tensor, torch.Tensor) or id(tensor) in self.tensors:
                continue
            storage = tensor.untyped_storage()
            address = storage.data_ptr()
            if address in self.known or not address:
                continue
            if address not in self.owners:
                self.owners[address] = 0
                self.sizes[address] = storage.nbytes()
                self.current += storage.nbytes()
                self.peak = max(self.peak, self.current)
                self.window = max(self.window, self.current)
            self.owners[address] += 1
            self.tensors.add(id(tensor))
            weakref.finalize(tensor, self._release, address, id(tensor))
        return out


def step_peak(model: torch.nn.Module, x: torch.Tensor | tuple[torch.Tensor, ...], optimizer: str) -> int:
    """Return the peak bytes of one training step of `model` on `x` in train mode (see the module);
    `x` is the input, or a tuple of one per input, and each output gets a gradient of ones."""
    inputs = x if isinstance(x, tuple) else (x,)
    model.train()
    params = list(model.parameters())
    opt = make_optimizer(optimizer, params)

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        out = model(*inputs)
        outs = out if isinstance(out, tuple) else (out,)
        gradients = tuple(torch.ones_like(o) for o in outs)
        torch.autograd.backward(outs, gradients)
        del out, outs, gradients
        opt.step()

    step()  # the optimizer's state, as in any step but the first
    held = [*params, *model.buffers(), *inputs]
    held += [v for state in opt.state.values() for v in state.values() if isinstance(v, torch.Tensor)]
    storages = {t.untyped_storage().data_ptr(): t.untyped_storage().nbytes() for t in held}
    opt.zero_grad(set_to_none=True)
    tracker = Tracker(set(storages))
    with tracker:
        step()
    return sum(storages.values()) + tracker.peak


@dataclass(frozen=True)
class StepTimeline:
    """A measured training step over time, each figure the tensors held before the step plus the
    most that torch's operators held at once (see the module)."""

    forward: dict[str, int]
    """While each module (by its path) ran its forward."""
    backward: int
    """Over the backward, from the making of the output's gradient to its end."""
    optimizer: int
    """Over the optimizer's step."""
    peak: int
    """Over the whole step: `step_peak`."""


def step_timeline(
    model: torch.nn.Module, x: torch.Tensor, optimizer: str, paths: Sequence[str]
) -> StepTimeline:
    """Return one training step of `model` on `x` measured over time (see the module), with the forward
    of each module at `paths` apart."""
    model.train()
    params = list(model.parameters())
    opt = make_optimizer(optimizer, params)
    output = model(x)
    output.backward(torch.ones_like(output))
    del output
    opt.step()  # the optimizer's state, as in any step but the first
    held = [*params, *model.buffers(), x]
    held += [v for state in opt.state.values() for v in state.values() if isinstance(v, torch.Tensor)]
    storages = {t.untyped_storage().data_ptr(): t.untyped_storage().nbytes() for t in held}
    resident = sum(storages.values())
    opt.zero_grad(set_to_none=True)
    tracker = Tracker(set(storages))
    forward: dict[str, int] = {}

    def before(module: torch.nn.Module, args: Any) -> None:
        tracker.open_window()

    def after(path: str) -> Any:
        def hook(module: torch.nn.Module, args: Any, out: Any) -> None:
            forward[path] = resident + tracker.window

        return hook

    named = dict(model.named_modules())
    handles = []
    for path in paths:
        if path in named:  # a bare parameter and a call (a layer scale) has no module
            handles.append(named[path].register_forward_pre_hook(before))
            handles.append(named[path].register_forward_hook(after(path)))
    with tracker:
        output = model(x)
        for handle in handles:
            handle.remove()
        tracker.open_window()
        gradient = torch.ones_like(output)
        output.backward(gradient)
        del output, gradient
        backward = resident + tracker.window
        tracker.open_window()
        opt.step()
        stepped = resident + tracker.window
    return StepTimeline(forward, backward, stepped, resident + tracker.peak)
