"""`convprof calibrate`: measure this machine's roofline (peak FLOP/s and copy bandwidth) and cache it."""

from __future__ import annotations

import click

from convprof.commands.base import preset_option, reports_errors
from convprof.errors import UsageError
from convprof.measure.options import DEFAULT_THREADS, DEVICE_CHOICES
from convprof.spec import DTYPE_BYTES

__all__ = ["calibrate"]

#: Shortest time per kernel that still gives every round a sample or two.
MIN_SECONDS = 0.05
#: Longest time per kernel; beyond it a typo (1e400 is infinity) would measure forever.
MAX_SECONDS = 600.0
#: Seconds per kernel for each --preset, the vocabulary every measuring command shares.
PRESET_SECONDS = {"quick": 0.25, "default": 1.0, "rigorous": 5.0}


@click.command()
@click.option(
    "--device",
    type=click.Choice(list(DEVICE_CHOICES)),
    default="auto",
    show_default=True,
    help="Devices to calibrate: auto = the CPU, plus the GPU when CUDA is present.",
)
@click.option("--dtype", type=click.Choice(list(DTYPE_BYTES)), default="float32", show_default=True)
@click.option(
    "--threads",
    type=click.IntRange(min=1),
    default=DEFAULT_THREADS,
    show_default=True,
    help="CPU intra-op threads; use the count you will measure with.",
)
@preset_option(None)
@click.option(
    "--seconds",
    type=float,
    help="Time spent on each of the matmul and the copy, over 5 rounds (the median sample counts); "
    "default by --preset: quick 0.25, default 1, rigorous 5.",
)
@reports_errors
def calibrate(device: str, dtype: str, threads: int, preset: str | None, seconds: float | None) -> None:
    """Measure a large matmul's FLOP/s and a large copy's bytes/s per device, and cache them.

    \b
    Each figure is the median of samples taken in 5 rounds that alternate the matmul and the copy,
    shown with its spread (IQR/median, ~ when unstable). A figure more than 20% away from the cached
    one is reported before the cache is updated.

    \b
    `convprof compare` then shows each variant's achieved FLOP/s as a fraction of the roofline bound
    min(peak FLOP/s, FLOPs per byte x bandwidth) for the same device, dtype and threads.
    The cache is $XDG_CACHE_HOME/convprof/calibration.json (~/.cache/convprof/ by default).
    """
    from convprof.torchdep import require_torch

    require_torch("calibrating")
    from convprof.measure import torch_noise_silenced
    from convprof.measure.devices import resolve_devices
    from convprof.measure.options import check_threads
    from convprof.measure.roofline import (
        RECALIBRATION_WARN,
        calibration_key,
        changes,
        load_calibrations,
        measure_calibration,
        save_calibration,
    )
    from convprof.report.stats import IQR_WARN_THRESHOLD, ROUND_SPREAD_THRESHOLD, UNSTABLE_MARK
    from convprof.units import format_bytes, format_count, plural

    check_threads(threads)
    if seconds is not None and preset is not None:
        raise UsageError("--seconds and --preset both set the time; give one")
    if seconds is None:
        seconds = PRESET_SECONDS[preset or "default"]
    if not MIN_SECONDS <= seconds <= MAX_SECONDS:  # NaN fails both comparisons too
        raise UsageError(f"--seconds {seconds}: give {MIN_SECONDS} to {MAX_SECONDS:g}")
    cached = load_calibrations()  # a broken cache stops here, before a second of measuring
    for name in resolve_devices((device,)):
        with torch_noise_silenced():
            calibration = measure_calibration(name, dtype, threads, seconds)
        mark = "" if calibration.stable else UNSTABLE_MARK
        click.echo(
            f"{name} ({calibration.device_name}, {dtype}, {plural(threads, 'thread')}): "
            f"peak {mark}{format_count(round(calibration.peak_flop_per_s))}FLOP/s "
            f"(IQR {calibration.flop_spread:.0%}), "
            f"copy {mark}{format_bytes(round(calibration.copy_bytes_per_s))}/s "
            f"(IQR {calibration.copy_spread:.0%})"
        )
        if not calibration.stable:
            click.echo(
                f"convprof: warning: {name}: {UNSTABLE_MARK} unstable calibration (IQR/median over "
                f"{IQR_WARN_THRESHOLD:.0%} or rounds differing by over {ROUND_SPREAD_THRESHOLD:.0%}); "
                "close other work or give --seconds more time",
                err=True,
            )
        previous = cached.get(calibration_key(name, dtype, threads))
        moved = [] if previous is None else changes(previous, calibration)
        if previous is not None and moved:
            click.echo(
                f"convprof: warning: {name}: {', '.join(moved)} against the cached calibration of "
                f"{_when(previous.measured_at)} (more than {RECALIBRATION_WARN:.0%}); the machine's load or "
                "clock changed: the new figures replace the old",
                err=True,
            )
        path = save_calibration(calibration)
    click.echo(f"convprof: calibration cached in {path}", err=True)


def _when(timestamp: float) -> str:
    import time

    return time.strftime("%Y-%m-%d %H:%M", time.localtime(timestamp))
