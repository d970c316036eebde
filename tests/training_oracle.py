"""Independent measurements of a training step, the oracles of convprof's training model.

What torch itself can tell about a built model, measured here with none of convprof's measuring
code and none of its ways:

- `backward_flops`: FlopCounterMode around the backward of one module;
- `saved_bytes`: the storages `torch.autograd.graph.saved_tensors_hooks` sees in one forward, each
  once, parameters and buffers left out;
- `step_peak`: the peak bytes of a whole step (forward, backward from a gradient of ones for each
  output, optimizer step) after a first step has made the optimizer's state: the storages held
  before the step (weights, buffers, optimizer state, input) plus the most that the storages torch's
  operators create during it hold at once, each from the operator that returns it until the storage
  itself is freed (`StorageLedger`);
- `step_timeline`: the same step over time: that peak while each module's forward runs, over the
  whole backward, and over the optimizer's step.

A storage's life is read from the storage: torch keeps one Python object per storage, so a weak
reference to it ends exactly when its memory goes back to the allocator, however many tensors viewed
it and whoever held them (Python, or autograd alone).
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves
from torch.utils.flop_counter import FlopCounterMode

__all__ = [
    "StepTimeline",
    "StorageLedger",
    "backward_flops",
    "inputs_on",
    "make_optimizer",
    "saved_bytes",
    "step_peak",
    "step_timeline",
]

Inputs = torch.Tensor | tuple[torch.Tensor, ...]


def inputs_on(device: str, shape: tuple[int, ...], requires_grad: bool = False) -> torch.Tensor:
    """An input of `shape` on `device`: values on the CPU (none are left uninitialised), none on meta."""
    if device == "meta":
        return torch.empty(shape, device="meta", requires_grad=requires_grad)
    return torch.rand(shape, device=device, requires_grad=requires_grad)


def backward_flops(
    module: torch.nn.Module,
    in_shapes: tuple[tuple[int, ...], ...],
    batch: int,
    grads: bool,
    device: str = "meta",
) -> int:
    """Return FlopCounterMode's FLOPs of the module's backward on inputs on `device` (meta unless
    given) that need a gradient or not."""
    # A leaf that needs a gradient cannot be overwritten in place; a copy of it can, as any layer's output.
    inputs = [inputs_on(device, (batch, *shape), grads) for shape in in_shapes]
    # Eval mode: the same products, and no running-average update (which meta tensors cannot do).
    y = module.eval()(*(x.clone() if grads else x for x in inputs))
    if not y.requires_grad:
        return 0
    with FlopCounterMode(display=False) as counter:
        y.backward(torch.ones_like(y))
    return int(counter.get_total_flops())


def saved_bytes(model: torch.nn.Module, x: Inputs) -> int:
    """Return the bytes of the storages autograd keeps in one forward, each once, weights left out
    (`x`: the input, or a tuple of one per input)."""
    inputs = x if isinstance(x, tuple) else (x,)
    weights = {t.untyped_storage().data_ptr() for t in (*model.parameters(), *model.buffers())}
    seen: dict[int, int] = {}
    # Each storage counted is held until the forward ends: one saved by a branch nothing reads is
    # freed with that branch at once, and another storage could then start at its address and be
    # taken for it (how often depends on the allocator's history: the count would be flaky).
    held: list[torch.UntypedStorage] = []

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        storage = tensor.untyped_storage()
        if storage.data_ptr() not in weights and storage.data_ptr() not in seen:
            seen[storage.data_ptr()] = storage.nbytes()
            held.append(storage)
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


class StorageLedger(TorchDispatchMode):  # type: ignore[misc]
    """While active, the bytes held by the storages torch's operators return, each from the operator
    that returns it until the storage is freed; storages that existed before are never counted."""

    @classmethod
    def _should_skip_dynamo(cls) -> bool:
        # torch would wrap the mode in dynamo.disable, whose first call imports torch._dynamo (seconds
        # per test process); the ledger runs only on eager modules.
        return False

    def __init__(self, before: Iterable[torch.Tensor]) -> None:
        super().__init__()
        self.before = {t.untyped_storage().data_ptr() for t in before}
        self.live: dict[int, int] = {}  # data pointer of each storage counted and not yet freed -> bytes
        self.now = 0
        self.peak = 0
        self.window = 0  # the peak since the last `open_window`

    def open_window(self) -> None:
        """Start a new window: its peak starts at what is held now."""
        self.window = self.now

    def _freed(self, pointer: int) -> None:
        self.now -= self.live.pop(pointer)

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        out = func(*args, **(kwargs or {}))
        for leaf in tree_leaves(out):
            if not isinstance(leaf, torch.Tensor):
                continue
            storage = leaf.untyped_storage()
            pointer, size = storage.data_ptr(), storage.nbytes()
            if size == 0 or pointer in self.before or pointer in self.live:
                continue  # nothing held, held before the step, or a view of a storage counted already
            self.live[pointer] = size
            self.now += size
            self.peak = max(self.peak, self.now)
            self.window = max(self.window, self.now)
            weakref.finalize(storage, self._freed, pointer)
        return out


def _step(
    model: torch.nn.Module,
    inputs: tuple[torch.Tensor, ...],
    opt: torch.optim.Optimizer,
    moment: Callable[[str], None],
) -> None:
    """Run one step; `moment` is told as the backward ("backward") and the optimizer ("optimizer") begin."""
    opt.zero_grad(set_to_none=True)
    out = model(*inputs)
    outs = out if isinstance(out, tuple) else (out,)
    moment("backward")
    torch.autograd.backward(outs, tuple(torch.ones_like(o) for o in outs))
    del out, outs  # the outputs go before the optimizer's step
    moment("optimizer")
    opt.step()


def _nothing(phase: str) -> None:
    del phase


@dataclass(frozen=True)
class StepTimeline:
    """A measured training step over time, each figure the storages held before the step plus the
    most that torch's operators held at once (see the module)."""

    forward: dict[str, int]
    """While each module (by its path) ran its forward."""
    backward: int
    """Over the backward, from the making of the outputs' gradients to its end."""
    optimizer: int
    """Over the optimizer's step."""
    peak: int
    """Over the whole step."""


def step_timeline(
    model: torch.nn.Module, x: Inputs, optimizer: str, paths: Sequence[str] = ()
) -> StepTimeline:
    """Return one training step of `model` on `x` (the input, or a tuple of one per input) in train mode,
    measured over time (see the module), with the forward of each module at `paths` apart."""
    inputs = x if isinstance(x, tuple) else (x,)
    model.train()
    opt = make_optimizer(optimizer, list(model.parameters()))
    _step(model, inputs, opt, _nothing)  # the optimizer's state, as in any step but the first
    state = [value for per in opt.state.values() for value in per.values() if isinstance(value, torch.Tensor)]
    held = [*model.parameters(), *model.buffers(), *inputs, *state]
    resident = sum({t.untyped_storage().data_ptr(): t.untyped_storage().nbytes() for t in held}.values())
    ledger = StorageLedger(held)
    forward: dict[str, int] = {}
    backward: list[int] = []

    def moment(phase: str) -> None:
        if phase == "optimizer":
            backward.append(ledger.window)
        ledger.open_window()

    def after(path: str) -> Callable[..., None]:
        def hook(module: torch.nn.Module, args: Any, out: Any) -> None:
            forward[path] = resident + ledger.window

        return hook

    named = dict(model.named_modules())
    handles = []
    for path in paths:
        if path in named:  # a bare parameter and a call (a layer scale) has no module
            handles.append(named[path].register_forward_pre_hook(lambda module, args: ledger.open_window()))
            handles.append(named[path].register_forward_hook(after(path)))
    try:
        with ledger:
            _step(model, inputs, opt, moment)
    finally:
        for handle in handles:
            handle.remove()
    return StepTimeline(forward, resident + backward[0], resident + ledger.window, resident + ledger.peak)


def step_peak(model: torch.nn.Module, x: Inputs, optimizer: str) -> int:
    """Return the peak bytes of one training step of `model` on `x` in train mode (see the module);
    `x` is the input, or a tuple of one per input, and each output gets a gradient of ones."""
    return step_timeline(model, x, optimizer).peak
