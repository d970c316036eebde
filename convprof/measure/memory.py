"""Peak memory of one call, measured: CUDA's allocator statistics, or tensor tracking on the CPU.

The CPU has no allocator statistics, so a TorchDispatchMode watches every aten op's outputs: a storage
counts from the op that creates it until the last tensor viewing it is garbage. This sees every tensor
torch allocates (temporaries inside composite ops included) but not scratch space a kernel library
keeps to itself (oneDNN's workspaces), so it is a lower bound of what the process's RSS would show.
"""

from __future__ import annotations

import functools
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from convprof.report.results import MemoryMeasurement

if TYPE_CHECKING:
    import torch

__all__ = ["measure_memory", "module_bytes", "tracked_peak"]


def module_bytes(tensors: list[torch.Tensor]) -> int:
    """Return the bytes of the tensors' storages, each storage counted once."""
    seen: dict[int, int] = {}
    for tensor in tensors:
        storage = tensor.untyped_storage()
        seen[storage.data_ptr()] = storage.nbytes()
    return sum(seen.values())


@functools.cache
def _tracker_type() -> type[Any]:
    """Return the TorchDispatchMode that tracks storages (made once: torch is imported lazily)."""
    import torch
    from torch.utils._python_dispatch import TorchDispatchMode
    from torch.utils._pytree import tree_leaves

    class _Tracker(TorchDispatchMode):  # type: ignore[no-untyped-call]
        @classmethod
        def _should_skip_dynamo(cls) -> bool:
            # By default torch wraps a mode's __torch_dispatch__ in dynamo.disable, whose first call
            # imports torch._dynamo: about 2 s, most of a quick measurement. The tracker runs only on
            # eager modules (compiled variants are measured before torch.compile), so it needs none.
            return False

        def __init__(self, known: set[int]) -> None:
            super().__init__()  # type: ignore[no-untyped-call]
            self.known = known  # storages held before the call: never counted
            self.owners: dict[int, int] = {}  # storage address -> live tensors viewing it
            self.sizes: dict[int, int] = {}
            self.tensors: set[int] = set()
            self.current = 0
            self.peak = 0

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
                    continue  # a weight, the input, optimizer state, or an empty tensor
                if address not in self.owners:
                    self.owners[address] = 0
                    self.sizes[address] = storage.nbytes()
                    self.current += storage.nbytes()
                    self.peak = max(self.peak, self.current)
                self.owners[address] += 1
                self.tensors.add(id(tensor))
                weakref.finalize(tensor, self._release, address, id(tensor))
            return out

    return _Tracker


def tracked_peak(call: Callable[[], object], held: list[torch.Tensor]) -> int:
    """Return the peak bytes of storages torch's operators create during `call`, each counted from
    the operator that returns it until its last tensor is garbage; the storages of `held` (there
    before the call) are left out."""
    known = {t.untyped_storage().data_ptr() for t in held}
    tracker = _tracker_type()(known)
    with tracker:
        call()
    return int(tracker.peak)


def _cpu_peak(model: torch.nn.Module, inputs: tuple[torch.Tensor, ...]) -> int:
    """Return the peak bytes of storages created during one call of `model` on `inputs`."""
    return tracked_peak(lambda: model(*inputs), [*model.parameters(), *model.buffers(), *inputs])


def measure_memory(
    model: torch.nn.Module, inputs: tuple[torch.Tensor, ...], device: str
) -> MemoryMeasurement:
    """Return the weights, buffers and peak activation memory (inputs included) of one call."""
    import torch

    weights = module_bytes(list(model.parameters()))
    buffers = module_bytes(list(model.buffers()))
    input_bytes = sum(x.untyped_storage().nbytes() for x in inputs)
    if device.startswith("cuda"):
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        base = torch.cuda.memory_allocated(device)
        out = model(*inputs)
        torch.cuda.synchronize(device)
        peak = torch.cuda.max_memory_allocated(device) - base
        del out
        return MemoryMeasurement(weights, buffers, peak + input_bytes, "cuda.max_memory_allocated")
    return MemoryMeasurement(weights, buffers, _cpu_peak(model, inputs) + input_bytes, "dispatch-tracking")
