"""The timing protocol: warm-up, blocks of calls sized to the timer, rounds interleaving the variants."""

from __future__ import annotations

import gc
import math
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from convprof.measure.options import Preset

__all__ = ["Samples", "cpu_threads", "gc_paused", "run_rounds", "time_once"]

#: Sync = wait for the device to finish queued work (a no-op on the CPU).
Sync = Callable[[], None]
#: Events = make a (start, end) pair of CUDA events; None on the CPU.
Events = Callable[[], tuple[Any, Any]]


@dataclass(frozen=True, slots=True)
class Samples:
    """Raw timings of one variant, per call, in milliseconds."""

    calls_per_sample: int
    """Calls timed together in each sample."""
    raw_ms: tuple[float, ...]
    """End-to-end time of each block divided by its calls, in the order taken."""
    rounds: tuple[int, ...]
    """Round of each sample."""
    device_ms: tuple[float, ...]
    """Device time of each block per call (CUDA events); empty on the CPU."""


@contextmanager
def cpu_threads(count: int) -> Iterator[None]:
    """Set torch's intra-op CPU threads for the block and restore the previous value afterwards."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


@contextmanager
def gc_paused() -> Iterator[None]:
    """Keep Python's garbage collector out of timed regions, as timeit and pyperf do."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def time_once(call: Callable[[], object], sync: Sync) -> float:
    """Return the milliseconds of one call, waiting for the device before and after."""
    sync()
    start = time.perf_counter()
    call()
    sync()
    return (time.perf_counter() - start) * 1000


def _warm_up(call: Callable[[], object], sync: Sync, seconds: float) -> float:
    """Call until `seconds` pass (at least twice); return the seconds per call seen."""
    sync()
    start = time.perf_counter()
    calls = 0
    while True:
        call()
        calls += 1
        sync()
        elapsed = time.perf_counter() - start
        if calls >= 2 and elapsed >= seconds:
            return elapsed / calls


def _ignore(description: str) -> None:
    del description


def run_rounds(
    calls: Mapping[str, Callable[[], object]],
    preset: Preset,
    sync: Sync,
    events: Events | None = None,
    on_step: Callable[[str], None] | None = None,
) -> dict[str, Samples]:
    """Warm every variant up, then time blocks of calls in rounds that interleave the variants.

    A block holds enough calls to last `preset.block_s`, so perf_counter's own cost (under a
    microsecond) stays far below 0.1% of it. Variants too slow for the budget get fewer blocks per
    round, never fewer rounds, so that drift on a shared machine still hits every variant alike.
    `on_step` is told what starts: each variant's warm-up, then each variant's blocks in each round.
    """
    step = on_step if on_step is not None else _ignore
    plan: dict[str, tuple[int, int]] = {}
    for name, call in calls.items():
        step(f"warming up {name}")
        per_call = _warm_up(call, sync, preset.warmup_s)
        block_calls = max(1, math.ceil(preset.block_s / per_call)) if per_call > 0 else 1
        blocks = preset.blocks_per_round
        while blocks > 1 and blocks * block_calls * per_call * preset.rounds > preset.budget_s:
            blocks -= 1
        plan[name] = (block_calls, blocks)
    raw: dict[str, list[float]] = {name: [] for name in calls}
    rounds: dict[str, list[int]] = {name: [] for name in calls}
    device: dict[str, list[float]] = {name: [] for name in calls}
    with gc_paused():
        for index in range(preset.rounds):
            for name, call in calls.items():
                step(f"timing {name}, round {index + 1}/{preset.rounds}")
                block_calls, blocks = plan[name]
                for _ in range(blocks):
                    pair = events() if events is not None else None
                    sync()
                    start = time.perf_counter()
                    if pair is not None:
                        pair[0].record()
                    for _ in range(block_calls):
                        call()
                    if pair is not None:
                        pair[1].record()
                    sync()
                    elapsed = time.perf_counter() - start
                    raw[name].append(elapsed * 1000 / block_calls)
                    rounds[name].append(index)
                    if pair is not None:
                        device[name].append(pair[0].elapsed_time(pair[1]) / block_calls)
    return {
        name: Samples(plan[name][0], tuple(raw[name]), tuple(rounds[name]), tuple(device[name]))
        for name in calls
    }
