"""The roofline: a machine's calibrated peak FLOP/s and copy bandwidth, and how close a variant runs."""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from convprof.errors import UsageError
from convprof.report import Report, VariantReport
from convprof.signals import removed_on_stop
from convprof.spec import DTYPE_BYTES

if TYPE_CHECKING:
    import torch

__all__ = [
    "Calibration",
    "arithmetic_intensity",
    "bound",
    "cache_path",
    "calibration_key",
    "load_calibrations",
    "measure_calibration",
    "save_calibration",
]


@dataclass(frozen=True, slots=True)
class Calibration:
    """One device's measured peak at one dtype and thread count."""

    device: str
    """cpu or cuda:N."""
    dtype: str
    """Element type of the matmul and the copy."""
    threads: int
    """CPU intra-op threads used (the GPU ignores it)."""
    peak_flop_per_s: float
    """Best FLOP/s of a large square matmul."""
    copy_bytes_per_s: float
    """Best bytes/s of a large tensor copy, counting the read and the write."""
    device_name: str
    """CPU model or GPU name, so a cache copied between machines is noticed."""
    measured_at: float
    """Unix time of the calibration."""


def cache_path() -> Path:
    """Return the calibration cache: $XDG_CACHE_HOME/convprof/calibration.json or ~/.cache/..."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "convprof" / "calibration.json"


def calibration_key(device: str, dtype: str, threads: int) -> str:
    """Return the cache key of a calibration: the GPU ignores the thread count."""
    return f"{device}/{dtype}" if device.startswith("cuda") else f"{device}/{dtype}/threads={threads}"


def load_calibrations(path: Path | None = None) -> dict[str, Calibration]:
    """Return the cached calibrations by key; an absent or unreadable cache holds none."""
    path = path or cache_path()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return {key: Calibration(**value) for key, value in data.items()}
    except (OSError, ValueError, TypeError, AttributeError):
        return {}


def save_calibration(calibration: Calibration, path: Path | None = None) -> Path:
    """Add `calibration` to the cache, replacing one with the same key; return the cache's path."""
    path = path or cache_path()
    data = {key: asdict(value) for key, value in load_calibrations(path).items()}
    data[calibration_key(calibration.device, calibration.dtype, calibration.threads)] = asdict(calibration)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(".tmp")
        with removed_on_stop(str(temporary)):
            temporary.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
            temporary.replace(path)
    except OSError as exc:
        raise UsageError(f"{path}: cannot write the calibration cache: {exc.strerror}") from exc
    return path


def bound(calibration: Calibration, intensity: float) -> float:
    """Return the roofline's FLOP/s bound at `intensity` FLOPs per byte."""
    return min(calibration.peak_flop_per_s, intensity * calibration.copy_bytes_per_s)


def arithmetic_intensity(report: Report, variant: VariantReport) -> float:
    """Return FLOPs per byte moved: weights, buffers, the input and every layer's output, each once."""
    input_bytes = math.prod(report.spec.input) * report.spec.batch_size * DTYPE_BYTES[report.spec.dtype]
    moved = (
        variant.param_bytes
        + variant.buffer_bytes
        + input_bytes
        + sum(layer.activation_bytes for layer in variant.layers)
    )
    return variant.flops / moved if moved else 0.0


def _best_seconds(run: Callable[[], object], wait: Callable[[], None], seconds: float) -> float:
    run()
    wait()
    best = float("inf")
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        start = time.perf_counter()
        run()
        wait()
        best = min(best, time.perf_counter() - start)
    return best


def _matmul(n: int, kind: torch.dtype, device: str) -> Callable[[], object]:
    import torch

    a = torch.randn(n, n, device=device).to(kind)
    b = torch.randn(n, n, device=device).to(kind)
    out = torch.empty(n, n, device=device, dtype=kind)
    return lambda: torch.matmul(a, b, out=out)


def measure_calibration(device: str, dtype: str, threads: int, seconds: float = 1.0) -> Calibration:
    """Measure a large matmul's FLOP/s and a large copy's bytes/s on `device` (best of `seconds` each)."""
    import torch

    from convprof.build import torch_dtype
    from convprof.measure.environment import cpu_model
    from convprof.measure.timer import cpu_threads

    cuda = device.startswith("cuda")
    kind = torch_dtype(dtype)
    n = 8192 if cuda else 1024
    copy_elements = (1 << 30 if cuda else 1 << 26) // torch.finfo(kind).bits * 8

    def sync() -> None:
        if cuda:
            torch.cuda.synchronize(device)

    with cpu_threads(threads), torch.inference_mode():
        matmul = _best_seconds(_matmul(n, kind, device), sync, seconds)
        source = torch.empty(copy_elements, device=device, dtype=kind)
        target = torch.empty_like(source)
        source.fill_(1)
        target.fill_(0)
        copy = _best_seconds(lambda: target.copy_(source), sync, seconds)
        moved = 2 * source.numel() * source.element_size()
    name = torch.cuda.get_device_name(device) if cuda else cpu_model()
    return Calibration(device, dtype, threads, 2 * n**3 / matmul, moved / copy, name, time.time())
