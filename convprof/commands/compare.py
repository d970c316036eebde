"""`convprof compare`: the three variants side by side."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import click

from convprof.analyze import analyze
from convprof.commands.base import deliver, model_options, optimizer_option, reports_errors
from convprof.errors import UsageError
from convprof.measure.options import (
    CPU_MEMORY_FRACTION,
    CUDA_MEMORY_FRACTION,
    DEFAULT_THREADS,
    DEVICE_CHOICES,
    parse_size,
)
from convprof.report import Report
from convprof.spec import DTYPE_BYTES

if TYPE_CHECKING:
    from rich.console import Console

__all__ = ["compare"]

#: Specs with at most this many layers get the per-layer table unless --no-layers is given.
LAYERS_BY_DEFAULT_UP_TO = 40


def layers_note(count: int) -> str:
    """Say why the per-layer table is missing and how to get it."""
    return (
        f"Per-layer table left out: {count:,} layers is more than {LAYERS_BY_DEFAULT_UP_TO}; "
        "--layers shows it."
    )


def _text(report: Report, fmt: str, layers: bool, note: str | None) -> str | None:
    """Return the report in a text format, or None for the table."""
    if fmt == "json":
        from convprof.render.machine import to_json

        return to_json(report)
    if fmt == "csv":
        from convprof.render.machine import to_csv

        return to_csv(report, layers=layers)
    if fmt == "markdown":
        from convprof.render.markdown import to_markdown

        return to_markdown(report, layers=layers, layers_note=note)
    return None


@click.command()
@click.argument("spec")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "json", "markdown", "csv"]),
    default="table",
    show_default=True,
    help="Output format; json and csv carry exact integers.",
)
@click.option("-o", "--output", type=click.Path(path_type=Path), help="Write to this file instead of stdout.")
@click.option(
    "--layers/--no-layers",
    default=None,
    help=f"Per-layer table (default: on for specs of at most {LAYERS_BY_DEFAULT_UP_TO} layers).",
)
@optimizer_option
@click.option("--batch-size", type=click.IntRange(min=1), help="Override the spec's batch_size.")
@click.option("--dtype", type=click.Choice(list(DTYPE_BYTES)), help="Override the spec's dtype.")
@click.option("--no-latency", is_flag=True, help="Count only; measure nothing (never imports torch).")
@click.option(
    "--device",
    type=click.Choice(list(DEVICE_CHOICES)),
    default="auto",
    show_default=True,
    help="Where to measure: auto = CPU, plus the GPU when CUDA is present; cuda without one is an error.",
)
@click.option(
    "--threads",
    type=click.IntRange(min=1),
    default=DEFAULT_THREADS,
    show_default=True,
    help="CPU intra-op threads; one gives stable medians on a shared machine, more may go bimodal.",
)
@click.option("--channels-last", is_flag=True, help="Run 4-D tensors in channels-last memory format.")
@click.option(
    "--compile", "compiled", is_flag=True, help="Measure torch.compile'd variants (compile time apart)."
)
@click.option("--quick", is_flag=True, help="Fewer, shorter rounds: a rough figure in about a second.")
@click.option("--rigorous", is_flag=True, help="More, longer rounds: steadier figures, several seconds each.")
@click.option(
    "--max-memory",
    metavar="SIZE",
    help=f"Skip variants whose weights and activations exceed SIZE (e.g. 8GiB; default "
    f"{CPU_MEMORY_FRACTION:.0%} of available memory, {CUDA_MEMORY_FRACTION:.0%} of free GPU memory).",
)
@model_options
@reports_errors
def compare(
    spec: str,
    fmt: str,
    output: Path | None,
    layers: bool | None,
    optimizer: str,
    batch_size: int | None,
    dtype: str | None,
    no_latency: bool,
    device: str,
    threads: int,
    channels_last: bool,
    compiled: bool,
    quick: bool,
    rigorous: bool,
    max_memory: str | None,
    model_input: str | None,
    model_kwargs: str | None,
) -> None:
    """Compare SPEC (a YAML file, a built-in example's name, - for stdin, or a PyTorch model
    package.module:callable with --input) with its local and dense equivalents. Layer positions (#)
    count from 0, as in JSON, CSV and `--set layers.N`.

    \b
    dense: every conv becomes a fully connected layer over the same input and output volumes.
    local: every conv becomes a locally connected layer (same windows, unshared weights).
    conv:  the spec as written.

    \b
    Counting convention:
      MACs   multiply-accumulates of conv and linear layers (bias adds are not MACs).
      FLOPs  2 x MACs, what torch.utils.flop_counter.FlopCounterMode reports.
      Element-wise ops (bias adds, activations, pooling windows, normalisation) are counted apart.
      Weights = parameters x dtype size; BatchNorm running statistics are buffers, listed apart.
      Peak activations = the largest input + output pair of any layer.
      Training = weights + gradients + optimizer state + buffers + activations kept for backward.

    \b
    Latency (skip with --no-latency): eval mode, inference_mode, the first call timed apart,
    a warm-up, then timed blocks in rounds that interleave conv, local and dense; the median is the
    headline, a result is marked unstable (~) when IQR/median or the rounds' spread exceeds 10%.
    Variants whose analytic memory exceeds --max-memory are skipped before anything is built.
    """
    from convprof.sources import ModelOptions, check_model_options, load_spec

    importing = ModelOptions(model_input, model_kwargs)
    check_model_options([spec], importing)
    model = load_spec(spec, batch_size, importing)  # each layer checked at the batch that will run
    if batch_size is not None:
        model = replace(model, batch_size=batch_size)
    if dtype is not None:
        model = replace(model, dtype=dtype)
    report = analyze(model, optimizer)
    if quick and rigorous:
        raise UsageError("--quick and --rigorous contradict each other; give one")
    if not no_latency:
        from convprof.torchdep import require_torch

        require_torch("measuring latency", "or count only with --no-latency")
        from convprof.measure import MeasureOptions, measure_report

        options = MeasureOptions(
            devices=(device,),
            preset="quick" if quick else "rigorous" if rigorous else "default",
            threads=threads,
            channels_last=channels_last,
            compile=compiled,
            max_memory=None if max_memory is None else parse_size(max_memory),
        )
        report = measure_report(model, report, options, progress=True)
    # CSV is one table: per-layer rows only when asked for, the summary otherwise.
    fits = fmt != "csv" and len(model.nodes) <= LAYERS_BY_DEFAULT_UP_TO
    show_layers = layers if layers is not None else fits
    # Left out by default only: a table the user turned off with --no-layers needs no explanation.
    note = layers_note(len(model.nodes)) if layers is None and not show_layers else None

    def draw(console: Console) -> None:
        from convprof.render.table import render_compare

        render_compare(report, console, layers=show_layers, layers_note=note)

    deliver(_text(report, fmt, show_layers, note), draw, output)
