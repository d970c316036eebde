"""The devices a measurement runs on: which ones were asked for, how much memory each may use, how to
wait for one and how to time it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from convprof.errors import UsageError
from convprof.measure.options import (
    CPU_MEMORY_FRACTION,
    CUDA_MEMORY_FRACTION,
    MeasureOptions,
    available_memory,
)
from convprof.measure.timer import Events, Sync
from convprof.units import plural

__all__ = ["cuda_events", "cudnn_benchmark", "memory_limit", "resolve_devices", "synchronizer"]


def resolve_devices(
    requested: tuple[str, ...], asked_by: tuple[tuple[str, str], ...] = ()
) -> tuple[str, ...]:
    """Return the devices to measure; asking for CUDA without it is an error, never a CPU run.

    `asked_by` says what asked for a device (a budget, an option), for that error; `--device` by
    default."""
    asking = dict(asked_by)
    from convprof.measure import load_torch

    torch = load_torch()

    available = torch.cuda.is_available()
    count = torch.cuda.device_count() if available else 0
    devices: list[str] = []
    for entry in requested:
        if entry == "cpu":
            devices.append("cpu")
        elif entry == "auto":
            devices += ["cpu", "cuda:0"] if available else ["cpu"]
        elif entry == "all":
            devices += ["cpu", *(f"cuda:{i}" for i in range(count))]
        else:
            index = int(entry.partition(":")[2] or 0)
            asked = asking.get(entry, f"--device {entry}")
            if not available:
                build = f"with CUDA {torch.version.cuda}" if torch.version.cuda else "for the CPU only"
                raise UsageError(
                    f"{asked}: CUDA is not available here (torch {torch.__version__}, built {build})"
                )
            if index >= count:
                raise UsageError(f"{asked}: only {plural(count, 'CUDA device')} present")
            devices.append(f"cuda:{index}")
    return tuple(dict.fromkeys(devices))


def memory_limit(device: str, options: MeasureOptions) -> int:
    """Return the bytes a variant may take on `device`: `--max-memory`, or a share of what is free."""
    if options.max_memory is not None:
        return options.max_memory
    if device.startswith("cuda"):
        import torch

        free, _total = torch.cuda.mem_get_info(device)
        return int(free * CUDA_MEMORY_FRACTION)
    return int(available_memory() * CPU_MEMORY_FRACTION)


@contextmanager
def cudnn_benchmark(enabled: bool) -> Iterator[None]:
    """Let cuDNN pick the fastest kernels for our fixed shapes; restore the setting afterwards."""
    import torch

    previous = torch.backends.cudnn.benchmark
    torch.backends.cudnn.benchmark = enabled or previous
    try:
        yield
    finally:
        torch.backends.cudnn.benchmark = previous


def synchronizer(device: str) -> Sync:
    """Return what waits for `device` to finish its queued work: CUDA's synchronize, or nothing."""
    import torch

    cuda = device.startswith("cuda")

    def sync() -> None:
        if cuda:
            torch.cuda.synchronize(device)

    return sync


def cuda_events(device: str) -> Events | None:
    """Return a maker of (start, end) CUDA event pairs on a GPU; None on the CPU."""
    if not device.startswith("cuda"):
        return None
    import torch

    def events() -> tuple[Any, Any]:
        start = torch.cuda.Event(enable_timing=True)  # type: ignore[no-untyped-call]
        end = torch.cuda.Event(enable_timing=True)  # type: ignore[no-untyped-call]
        return start, end

    return events
