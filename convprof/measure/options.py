"""What a measurement is asked to do: devices, preset, threads, memory format, memory limit."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from fractions import Fraction

from convprof.errors import UsageError

__all__ = [
    "CPU_MEMORY_FRACTION",
    "CUDA_MEMORY_FRACTION",
    "DEFAULT_THREADS",
    "DEVICE_CHOICES",
    "MAX_THREADS",
    "PRESETS",
    "MeasureOptions",
    "Preset",
    "available_memory",
    "check_threads",
    "parse_size",
]

#: CPU intra-op threads by default. On a shared 2-core machine the median of a small net was bimodal
#: with every core (7 ms in one process, 120 ms in the next: threads fighting other work for cores)
#: and stable with one thread, so one thread is the reproducible default; raise it with --threads.
DEFAULT_THREADS = 1
#: Most CPU threads a measurement may ask for. OpenMP's runtime crashes the process (a segfault, no
#: message) when asked for 100,000 threads; a thousand is far beyond any CPU while still safe to start.
MAX_THREADS = 1024
#: Share of the memory available now that a CPU measurement may use by default. The rest is headroom
#: for other processes on a shared machine and for temporaries the analytic estimate leaves out
#: (the local variant's unfolded input windows, kernels' scratch space).
CPU_MEMORY_FRACTION = 0.4
#: Share of a GPU's free memory a CUDA measurement may use by default (a GPU is rarely shared).
CUDA_MEMORY_FRACTION = 0.8
#: What --device accepts: auto = the CPU, plus the first GPU when CUDA is present; all = the CPU and
#: every GPU; cpu and cuda name one device (cuda is an error without CUDA, never a silent CPU run).
DEVICE_CHOICES = ("auto", "cpu", "cuda", "all")


@dataclass(frozen=True, slots=True)
class Preset:
    """How much time a measurement spends for how much confidence."""

    name: str
    """quick, default or rigorous."""
    warmup_s: float
    """Seconds of untimed calls per variant after the first call."""
    block_s: float
    """Target seconds of one timed block; its calls are timed together so the timer's cost vanishes."""
    rounds: int
    """Rounds; each times every variant in turn (conv, local, dense, conv, ...)."""
    blocks_per_round: int
    """Timed blocks of each variant per round."""
    budget_s: float
    """Most seconds of timed blocks per variant; slow variants get fewer blocks, never fewer rounds."""


#: The presets, from fastest to most thorough.
PRESETS: dict[str, Preset] = {
    "quick": Preset("quick", warmup_s=0.02, block_s=0.005, rounds=3, blocks_per_round=2, budget_s=0.5),
    "default": Preset("default", warmup_s=0.1, block_s=0.02, rounds=5, blocks_per_round=4, budget_s=3.0),
    "rigorous": Preset("rigorous", warmup_s=0.5, block_s=0.05, rounds=10, blocks_per_round=10, budget_s=30.0),
}


@dataclass(frozen=True, slots=True)
class MeasureOptions:
    """What to measure and how; the CLI and sweeps build one, measure_report honours it."""

    devices: tuple[str, ...] = ("auto",)
    """Requested devices for inference: entries of DEVICE_CHOICES or `cuda:N`, resolved when
    measuring; empty to time no inference."""
    training_devices: tuple[str, ...] = ()
    """Requested devices for a training step, as `devices`; empty (the default) to time none."""
    preset: str = "default"
    """A key of PRESETS."""
    threads: int = DEFAULT_THREADS
    """CPU intra-op threads while measuring; the previous setting is restored afterwards."""
    channels_last: bool = False
    """Run every variant's 4-D tensors in channels-last memory format."""
    compile: bool = False
    """Wrap each variant in torch.compile; compile time is reported apart from latency."""
    max_memory: int | None = None
    """Bytes a variant's weights and activations (for a training step, its modelled peak) may take;
    None for a share of what is available."""
    asked_by: tuple[tuple[str, str], ...] = ()
    """(device, what asked for it) for messages, e.g. ("cuda", "budget latency_ms.cuda of net.yaml");
    a device not listed was asked for by `--device`."""

    def __post_init__(self) -> None:
        if self.preset not in PRESETS:
            raise UsageError(f"unknown preset {self.preset!r}; choose one of {', '.join(PRESETS)}")
        check_threads(self.threads)
        if self.max_memory is not None and self.max_memory < 1:
            raise UsageError(f"max_memory must be positive, not {self.max_memory}")
        for device in (*self.devices, *self.training_devices):
            if device not in DEVICE_CHOICES and not re.fullmatch(r"cuda:\d+", device):
                raise UsageError(f"unknown device {device!r}; choose auto, cpu, cuda, cuda:N or all")
        if self.compile and self.training_devices:
            raise UsageError(
                "--compile times compiled inference; a training step is timed eagerly only: measure "
                "it in a run without --compile"
            )


def check_threads(threads: int) -> None:
    """Refuse a thread count torch's runtime cannot start (below 1 or above MAX_THREADS)."""
    if not 1 <= threads <= MAX_THREADS:
        shown = str(threads) if threads < 10**9 else "a number that large"
        raise UsageError(f"--threads {shown}: give 1 to {MAX_THREADS}")


_SIZE = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*(kB|[KMGTP]i?B|[kKMGTP]|B)?\s*$")
_UNIT: dict[str | None, int] = {
    None: 1,
    "B": 1,
    **{f"{p}B": 1000 ** (i + 1) for i, p in enumerate("KMGTP")},
    "kB": 1000,
    **{f"{p}iB": 1024 ** (i + 1) for i, p in enumerate("KMGTP")},
    **{p: 1024 ** (i + 1) for i, p in enumerate("KMGTP")},
    "k": 1024,
}


def parse_size(text: str) -> int:
    """Return the bytes in `512MiB`, `8GB`, `8G` (binary, like `free -g`) or a plain integer."""
    match = _SIZE.match(text)
    if match is None:
        raise UsageError(f"{text!r} is not a size; write e.g. 8GiB, 500MB or 1073741824")
    # Exact arithmetic: float() would turn a 400-digit size into inf, which int() cannot take.
    value = int(Fraction(match.group(1)) * _UNIT[match.group(2)])
    if value < 1:
        raise UsageError(f"{text!r} is not a positive size")
    return value


def available_memory() -> int:
    """Return the bytes of memory available now (MemAvailable), or the physical total without it."""
    try:
        with open("/proc/meminfo", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError):  # pragma: no cover - platforms without sysconf
        return 8 * 1024**3
