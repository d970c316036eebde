"""The roofline: a machine's calibrated peak FLOP/s and copy bandwidth, and how close a variant runs."""

from __future__ import annotations

import json
import math
import os
import stat
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from convprof.errors import UsageError
from convprof.report import Report, VariantReport
from convprof.report.stats import summarize
from convprof.signals import removed_on_stop
from convprof.spec import DTYPE_BYTES

if TYPE_CHECKING:
    import torch

__all__ = [
    "CALIBRATION_ROUNDS",
    "MAX_CACHE_BYTES",
    "RECALIBRATION_WARN",
    "Calibration",
    "CalibrationCacheError",
    "arithmetic_intensity",
    "bound",
    "cache_path",
    "calibration_key",
    "changes",
    "load_calibrations",
    "measure_calibration",
    "save_calibration",
]


#: Rounds of a calibration; each times the matmul, then the copy, so drift hits both alike.
CALIBRATION_ROUNDS = 5
#: A new calibration that differs from the cached one by more than this share is reported.
RECALIBRATION_WARN = 0.2
#: The cache holds a few entries of a few hundred bytes; anything this large is not one.
MAX_CACHE_BYTES = 1 << 20


class CalibrationCacheError(UsageError):
    """The calibration cache is not a readable file of valid calibrations."""


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
    """FLOP/s of a large square matmul, from the median of its timed samples."""
    copy_bytes_per_s: float
    """Bytes/s of a large tensor copy, counting the read and the write, from the median sample."""
    device_name: str
    """CPU model or GPU name, so a cache copied between machines is noticed."""
    measured_at: float
    """Unix time of the calibration."""
    flop_spread: float = 0.0
    """IQR / median of the matmul's samples."""
    copy_spread: float = 0.0
    """IQR / median of the copy's samples."""
    stable: bool = True
    """Whether both kernels' samples were stable by the rule latency uses."""


def cache_path() -> Path:
    """Return the calibration cache: $XDG_CACHE_HOME/convprof/calibration.json or ~/.cache/..."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "convprof" / "calibration.json"


def calibration_key(device: str, dtype: str, threads: int) -> str:
    """Return the cache key of a calibration: the GPU ignores the thread count."""
    return f"{device}/{dtype}" if device.startswith("cuda") else f"{device}/{dtype}/threads={threads}"


def _read_bounded(path: Path) -> str | None:
    """Return a regular file's text, None when absent; never blocks on a FIFO, never reads unbounded."""
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise CalibrationCacheError(f"calibration cache {path}: cannot read it: {exc.strerror}") from exc
    try:
        info = os.fstat(descriptor)
        if not stat.S_ISREG(info.st_mode):
            raise CalibrationCacheError(f"calibration cache {path} is not a regular file")
        if info.st_size > MAX_CACHE_BYTES:
            raise CalibrationCacheError(
                f"calibration cache {path} is {info.st_size:,} bytes, far beyond any real cache"
            )
        data = os.read(descriptor, MAX_CACHE_BYTES + 1)
    except OSError as exc:
        raise CalibrationCacheError(f"calibration cache {path}: cannot read it: {exc.strerror}") from exc
    finally:
        os.close(descriptor)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CalibrationCacheError(f"calibration cache {path} is not UTF-8 text") from exc


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number JSON allows")


def _positive(value: object) -> bool:
    return (
        isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value > 0
    )


def _entry(key: str, value: object) -> Calibration:
    """Return one cached calibration, or raise ValueError saying what is wrong with it."""
    if not isinstance(value, dict):
        raise ValueError(f"{key!r} is not a mapping")
    names = {f.name for f in fields(Calibration)}
    unknown = set(value) - names
    if unknown:
        raise ValueError(f"{key!r} has unknown fields {', '.join(sorted(unknown))}")
    for name in ("peak_flop_per_s", "copy_bytes_per_s"):
        if not _positive(value.get(name)):
            raise ValueError(f"{key!r}: {name} is {value.get(name)!r}, not a positive finite number")
    for name in ("device", "dtype", "device_name"):
        if not isinstance(value.get(name), str):
            raise ValueError(f"{key!r}: {name} is not text")
    threads = value.get("threads")
    if not isinstance(threads, int) or isinstance(threads, bool) or threads < 1:
        raise ValueError(f"{key!r}: threads is {threads!r}, not a positive integer")
    for name in ("measured_at", "flop_spread", "copy_spread"):
        number = value.get(name, 0.0)
        if not isinstance(number, (int, float)) or isinstance(number, bool) or not math.isfinite(number):
            raise ValueError(f"{key!r}: {name} is {number!r}, not a finite number")
    if not isinstance(value.get("stable", True), bool):
        raise ValueError(f"{key!r}: stable is not true or false")
    return Calibration(**value)


def load_calibrations(path: Path | None = None) -> dict[str, Calibration]:
    """Return the cached calibrations by key; none when there is no cache.

    CalibrationCacheError when the cache is not a regular file, is too large, or holds anything
    but valid calibrations (zero, negative, null, NaN or infinite figures included).
    """
    path = path or cache_path()
    text = _read_bounded(path)
    if text is None:
        return {}
    try:
        data = json.loads(text, parse_constant=_refuse_constant)
        if not isinstance(data, dict):
            raise ValueError("it is not a JSON object")
        return {key: _entry(key, value) for key, value in data.items()}
    except ValueError as exc:  # json.JSONDecodeError is a ValueError
        raise CalibrationCacheError(f"calibration cache {path} is not valid: {exc}") from None


def changes(old: Calibration, new: Calibration) -> list[str]:
    """Return how `new` differs from `old` where a figure moved by more than RECALIBRATION_WARN."""
    moved = []
    for label, before, after in (
        ("peak FLOP/s", old.peak_flop_per_s, new.peak_flop_per_s),
        ("copy bandwidth", old.copy_bytes_per_s, new.copy_bytes_per_s),
    ):
        change = (after - before) / before
        if abs(change) > RECALIBRATION_WARN:
            moved.append(f"{label} {change:+.0%}")
    return moved


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
    spec = report.spec
    input_bytes = (
        sum(math.prod(shape) for shape in spec.input_shapes) * spec.batch_size * DTYPE_BYTES[spec.dtype]
    )
    moved = (
        variant.param_bytes
        + variant.buffer_bytes
        + input_bytes
        + sum(layer.activation_bytes for layer in variant.layers)
    )
    return variant.flops / moved if moved else 0.0


def _time_for(run: Callable[[], object], wait: Callable[[], None], seconds: float) -> list[float]:
    """Return the seconds of each call of `run` made within `seconds` (at least one)."""
    samples: list[float] = []
    deadline = time.perf_counter() + seconds
    while not samples or time.perf_counter() < deadline:
        start = time.perf_counter()
        run()
        wait()
        samples.append(time.perf_counter() - start)
    return samples


def _matmul(n: int, kind: torch.dtype, device: str) -> Callable[[], object]:
    import torch

    a = torch.randn(n, n, device=device).to(kind)
    b = torch.randn(n, n, device=device).to(kind)
    out = torch.empty(n, n, device=device, dtype=kind)
    return lambda: torch.matmul(a, b, out=out)


def measure_calibration(device: str, dtype: str, threads: int, seconds: float = 1.0) -> Calibration:
    """Measure a large matmul's FLOP/s and a large copy's bytes/s on `device`.

    The protocol latency uses: one untimed call of each, then CALIBRATION_ROUNDS rounds that time
    the matmul and then the copy for `seconds / rounds` each; the median sample is the figure and
    IQR / median its spread.
    """
    import torch

    from convprof.graph.build import torch_dtype
    from convprof.measure.environment import cpu_model
    from convprof.measure.timer import cpu_threads

    cuda = device.startswith("cuda")
    kind = torch_dtype(dtype)
    n = 8192 if cuda else 1024
    copy_elements = (1 << 30 if cuda else 1 << 26) // torch.finfo(kind).bits * 8

    def sync() -> None:
        if cuda:
            torch.cuda.synchronize(device)

    matmul_ms: list[float] = []
    copy_ms: list[float] = []
    rounds: list[int] = []
    copy_rounds: list[int] = []
    share = seconds / CALIBRATION_ROUNDS
    with cpu_threads(threads), torch.inference_mode():
        matmul = _matmul(n, kind, device)
        source = torch.empty(copy_elements, device=device, dtype=kind)
        target = torch.empty_like(source)
        source.fill_(1)
        target.fill_(0)

        def copy() -> object:
            return target.copy_(source)

        for warm_up in (matmul, copy):  # first calls allocate and pick kernels: untimed
            warm_up()
            sync()
        for index in range(CALIBRATION_ROUNDS):
            found = _time_for(matmul, sync, share)
            matmul_ms += [s * 1000 for s in found]
            rounds += [index] * len(found)
            found = _time_for(copy, sync, share)
            copy_ms += [s * 1000 for s in found]
            copy_rounds += [index] * len(found)
        moved = 2 * source.numel() * source.element_size()
    flop, copied = summarize(matmul_ms, rounds), summarize(copy_ms, copy_rounds)
    name = torch.cuda.get_device_name(device) if cuda else cpu_model()
    return Calibration(
        device,
        dtype,
        threads,
        2 * n**3 / (flop.median_ms / 1000),
        moved / (copied.median_ms / 1000),
        name,
        time.time(),
        flop.iqr_ms / flop.median_ms,
        copied.iqr_ms / copied.median_ms,
        flop.stable and copied.stable,
    )
