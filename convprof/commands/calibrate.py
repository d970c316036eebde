"""`convprof calibrate`: measure this machine's roofline (peak FLOP/s and copy bandwidth) and cache it."""

from __future__ import annotations

import click

from convprof.commands.base import reports_errors
from convprof.measure.options import DEFAULT_THREADS, DEVICE_CHOICES
from convprof.spec import DTYPE_BYTES

__all__ = ["calibrate"]


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
@click.option(
    "--seconds",
    type=click.FloatRange(min=0.05),
    default=1.0,
    show_default=True,
    help="Time spent on each of the matmul and the copy (the best run counts).",
)
@reports_errors
def calibrate(device: str, dtype: str, threads: int, seconds: float) -> None:
    """Measure a large matmul's FLOP/s and a large copy's bytes/s per device, and cache them.

    \b
    `convprof compare` then shows each variant's achieved FLOP/s as a fraction of the roofline bound
    min(peak FLOP/s, FLOPs per byte x bandwidth) for the same device, dtype and threads.
    The cache is $XDG_CACHE_HOME/convprof/calibration.json (~/.cache/convprof/ by default).
    """
    from convprof.torchdep import require_torch

    require_torch("calibrating")
    from convprof.measure import torch_noise_silenced
    from convprof.measure.roofline import measure_calibration, save_calibration
    from convprof.measure.runner import resolve_devices
    from convprof.units import format_bytes, format_count, plural

    for name in resolve_devices((device,)):
        with torch_noise_silenced():
            calibration = measure_calibration(name, dtype, threads, seconds)
        path = save_calibration(calibration)
        click.echo(
            f"{name} ({calibration.device_name}, {dtype}, {plural(threads, 'thread')}): "
            f"peak {format_count(round(calibration.peak_flop_per_s))}FLOP/s, "
            f"copy {format_bytes(round(calibration.copy_bytes_per_s))}/s"
        )
    click.echo(f"convprof: calibration cached in {path}", err=True)
