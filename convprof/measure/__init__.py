"""Measured latency and memory of a report's variants; torch is imported only when measuring."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from types import ModuleType
from typing import TYPE_CHECKING

from convprof.measure.options import MeasureOptions

if TYPE_CHECKING:
    from convprof.report import Report
    from convprof.spec import ModelSpec

__all__ = ["MeasureOptions", "load_torch", "measure_report", "torch_noise_silenced"]


@contextmanager
def torch_noise_silenced() -> Iterator[None]:
    """Hide what torch prints that says nothing about a measurement, while measuring.

    torch warns once per process, on first use of its tensor subclasses, when NumPy is not
    installed; convprof never uses NumPy, and a clean stderr is part of its output contract.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Failed to initialize NumPy", category=UserWarning)
        yield


def load_torch() -> ModuleType:
    """Import torch, and the parts of it measuring uses, where a signal cannot break the import.

    Every measuring command comes through here first; later `import torch` statements only look
    the module up.
    """
    from convprof.signals import raising_is_unsafe

    with raising_is_unsafe(), torch_noise_silenced():
        import torch
        import torch.nn
        import torch.utils._python_dispatch
        import torch.utils._pytree  # loaded here for convprof.measure.memory
    return torch


def measure_report(
    spec: ModelSpec, report: Report, options: MeasureOptions, *, progress: bool = False
) -> Report:
    """Return `report` with every variant's latency and memory measured and the environment recorded;
    with `options.training_devices`, a training step's too (`training_latency`).

    `spec` must be the spec `report` was analysed from (same batch size and dtype). With `progress`,
    what runs (loading torch, building, warming up, timing, measuring memory) is drawn on stderr when
    stderr is a terminal.
    """
    from convprof.measure.options import PRESETS
    from convprof.measure.progress import steps
    from convprof.measure.runner import step_count

    total = step_count(options.devices, PRESETS[options.preset].rounds, options.training_devices)
    with steps(total, progress) as step:
        step("loading torch")
        load_torch()  # the slowest step of a quick measurement: named while it runs
        from convprof.measure.runner import run

        with torch_noise_silenced():
            return run(spec, report, options, step=step)
