"""`convprof compare`: the three variants side by side."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import click

from convprof.commands.base import (
    check_destination,
    deliver_result,
    format_option,
    model_options,
    optimizer_option,
    output_option,
    preset_option,
    reports_errors,
)
from convprof.errors import UsageError
from convprof.graph.analyze import analyze
from convprof.measure.options import (
    CPU_MEMORY_FRACTION,
    CUDA_MEMORY_FRACTION,
    DEFAULT_THREADS,
    DEVICE_CHOICES,
    parse_size,
)
from convprof.spec import DTYPE_BYTES, ModelSpec

if TYPE_CHECKING:
    pass

__all__ = ["compare"]

#: Specs with at most this many layers get the per-layer table unless --no-layers is given.
LAYERS_BY_DEFAULT_UP_TO = 40


def layers_note(spec: ModelSpec) -> str:
    """Say why the per-layer table was left out and how to get it."""
    count = len(spec.nodes)
    fold = " or --depth 0 one row per top-level block" if any(n.depth for n in spec.nodes) else ""
    return (
        f"Per-layer table left out: {count:,} layers is more than {LAYERS_BY_DEFAULT_UP_TO}; "
        f"--layers shows it{fold}."
    )


@click.command()
@click.argument("spec")
@format_option(
    csv=True,
    html=True,
    description="Output format; json and csv carry exact integers; html is one self-contained page "
    "(with -o, or to a pipe).",
)
@output_option
@click.option(
    "--layers/--no-layers",
    default=None,
    help=f"Per-layer table (default: on for specs of at most {LAYERS_BY_DEFAULT_UP_TO} layers).",
)
@click.option(
    "--depth",
    type=click.IntRange(min=0),
    help="Per-layer table as a tree folded below depth N: each block nested deeper is one row with "
    "its totals (0: top-level layers and blocks). Shows the table.",
)
@click.option(
    "--legend/--no-legend",
    "show_legend",
    default=True,
    help="A line under each table (table and markdown) saying what its columns mean.",
)
@optimizer_option
@click.option("--batch-size", type=click.IntRange(min=1), help="Override the spec's batch_size.")
@click.option("--dtype", type=click.Choice(list(DTYPE_BYTES)), help="Override the spec's dtype.")
@click.option("--no-latency", is_flag=True, help="Count only; measure nothing (never imports torch).")
@click.option(
    "--training",
    is_flag=True,
    help="Also time a training step of each variant (forward, backward, --optimizer's step) and measure "
    "its peak memory beside the model's estimate.",
)
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
@preset_option(None)
@click.option("--quick", is_flag=True, help="Alias of --preset quick.")
@click.option("--rigorous", is_flag=True, help="Alias of --preset rigorous.")
@click.option(
    "--max-memory",
    metavar="SIZE",
    help=f"Skip variants whose weights and activations (with --training, the modelled peak of a step) "
    f"exceed SIZE (e.g. 8GiB; default {CPU_MEMORY_FRACTION:.0%} of available memory, "
    f"{CUDA_MEMORY_FRACTION:.0%} of free GPU memory).",
)
@model_options
@reports_errors
def compare(
    spec: str,
    fmt: str,
    output: Path | None,
    layers: bool | None,
    depth: int | None,
    show_legend: bool,
    optimizer: str,
    batch_size: int | None,
    dtype: str | None,
    no_latency: bool,
    training: bool,
    device: str,
    threads: int,
    channels_last: bool,
    compiled: bool,
    preset: str | None,
    quick: bool,
    rigorous: bool,
    max_memory: str | None,
    model_input: tuple[str, ...],
    model_kwargs: str | None,
    allow_unknown: bool,
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
      MACs   multiply-accumulates of conv and linear layers and of products of activations
             (matmul, einsum, attention); bias adds are not MACs.
      FLOPs  2 x MACs, what torch.utils.flop_counter.FlopCounterMode reports.
      Element-wise ops (bias adds, activations, pooling windows, normalisation, arithmetic,
      reductions) are counted apart.
      Params: every learnable tensor; a frozen layer's (frozen: true, requires_grad=False) are
      counted apart and get no gradient or optimizer state in the training step.
      Weights = parameters x dtype size; BatchNorm running statistics are buffers, listed apart.
      Peak activations = the largest input + output pair of any layer.
      Training = the peak of one step: weights, buffers, optimizer state and input, plus the most the
      forward, backward and optimizer step hold at once (activations kept for backward, gradients).

    \b
    Latency (skip with --no-latency): eval mode, inference_mode, the first call timed apart,
    a warm-up, then timed blocks in rounds that interleave conv, local and dense; the median is the
    headline, a result is marked unstable (~) when IQR/median or the rounds' spread exceeds 10%.
    Variants whose analytic memory exceeds --max-memory are skipped before anything is built.

    \b
    Output: tables fit the terminal; sent to a pipe or a file they are as wide as their content
    (COLUMNS sets a pipe's width), and a line under each says what its columns mean (--no-legend).

    \b
    Training step (--training): train mode, the optimizer's state made by a first step (timed
    apart), then zero_grad, forward, backward from a fixed gradient of the output's size and the
    optimizer's step, timed by the same protocol; its peak memory is measured beside the model's
    estimate for the device. Variants whose modelled step exceeds --max-memory are skipped.
    """
    from convprof.commands.sources import ModelOptions, check_model_options, load_spec

    check_destination(fmt, output)
    importing = ModelOptions(model_input, model_kwargs, allow_unknown)
    check_model_options([spec], importing)
    model = load_spec(spec, batch_size, importing)  # each layer checked at the batch that will run
    if batch_size is not None:
        model = replace(model, batch_size=batch_size)
    if dtype is not None:
        model = replace(model, dtype=dtype)
    report = analyze(model, optimizer)
    chosen = {name for name, given in (("quick", quick), ("rigorous", rigorous)) if given}
    if preset is not None:
        chosen.add(preset)
    if len(chosen) > 1:
        raise UsageError(
            f"--quick, --rigorous and --preset ask for different presets "
            f"({', '.join(sorted(chosen))}); give one"
        )
    if training and no_latency:
        raise UsageError(
            "--training measures a training step and --no-latency measures nothing; give one "
            "(the modelled training step is in every report)"
        )
    if not no_latency:
        from convprof.torchdep import require_torch

        require_torch("measuring latency", "or count only with --no-latency")
        from convprof.measure import MeasureOptions, measure_report

        options = MeasureOptions(
            devices=(device,),
            training_devices=(device,) if training else (),
            preset=next(iter(chosen), "default"),
            threads=threads,
            channels_last=channels_last,
            compile=compiled,
            max_memory=None if max_memory is None else parse_size(max_memory),
        )
        report = measure_report(model, report, options, progress=True)
    # CSV is one table: per-layer rows only when asked for, the summary otherwise.
    fits = fmt != "csv" and (depth is not None or len(model.nodes) <= LAYERS_BY_DEFAULT_UP_TO)
    show_layers = layers if layers is not None else fits
    # Left out by default only: a table the user turned off with --no-layers needs no explanation.
    note = layers_note(model) if layers is None and not show_layers else None

    from convprof.render.formats import compare_renderers

    # A page folds its blocks: it has the per-layer tree at any size, unless --no-layers.
    renderers = compare_renderers(
        layers=show_layers,
        layers_note=note,
        depth=depth,
        show_legend=show_legend,
        page_layers=layers is not False,
    )
    deliver_result(report, renderers, fmt, output)
