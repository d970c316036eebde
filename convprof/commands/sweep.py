"""`convprof sweep`: how each variant's cost grows along the resolution, the width or any spec value."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from convprof.commands.base import (
    allow_unknown_option,
    anchored,
    check_destination,
    deliver_result,
    format_option,
    optimizer_option,
    output_option,
    preset_option,
    reports_errors,
)
from convprof.output import write_atomic
from convprof.report import Report
from convprof.report.analyze import analyze
from convprof.sweep.axes import Axis
from convprof.sweep.points import PointSpec

if TYPE_CHECKING:
    pass

__all__ = ["sweep"]


def _axes(
    spec_input: tuple[int, ...],
    resolution: str | None,
    width: str | None,
    batch_size: str | None,
    sets: tuple[str, ...],
) -> list[Axis]:
    from convprof.sweep.axes import batch_axis, resolution_axis, set_axis, width_axis

    axes = []
    if resolution is not None:
        axes.append(resolution_axis(resolution, spec_input))
    if width is not None:
        axes.append(width_axis(width))
    if batch_size is not None:
        axes.append(batch_axis(batch_size))
    axes += [set_axis(text) for text in sets]
    return axes


def _measure(
    points: tuple[PointSpec, ...],
    reports: list[Report],
    device: str,
    preset: str,
    max_memory: str | None,
    training: bool,
) -> list[Report]:
    """Measure every point's variants (and their training step with `training`), with a progress bar
    over the points when stderr is a terminal."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from convprof.measure import MeasureOptions, measure_report
    from convprof.measure.options import parse_size
    from convprof.render.console import stderr_console

    limit = None if max_memory is None else parse_size(max_memory)
    options = MeasureOptions(
        devices=(device,), training_devices=(device,) if training else (), preset=preset, max_memory=limit
    )
    measured = []
    with Progress(
        TextColumn("measuring sweep points"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=stderr_console(),
        disable=not sys.stderr.isatty(),
        transient=True,
    ) as bar:
        task = bar.add_task("points", total=len(points))
        for point, report in zip(points, reports, strict=True):
            measured.append(measure_report(point.spec, report, options, progress=False))
            bar.advance(task)
    return measured


@click.command()
@click.argument("spec")
@click.option(
    "--resolution",
    "--input",
    "resolution",
    metavar="LIST",
    help="Input sizes: sides of square inputs (32,64,128), HxW (64x96) or whole shapes (3x64x96).",
)
@click.option(
    "--width",
    metavar="LIST",
    help="Multipliers (0.25,0.5,1,2) on every conv's out_channels and every hidden linear's out_features.",
)
@click.option("--batch-size", metavar="LIST", help="Batch sizes (1,8,32).")
@click.option(
    "--set",
    "sets",
    metavar="PATH=LIST",
    multiple=True,
    help="Any spec value by its dotted path: layers.0.conv2d.kernel_size=3,5,7 (repeatable).",
)
@format_option(
    csv=True,
    html=True,
    description="Output format; json and csv carry exact integers and the fitted exponents (json); html "
    "is one self-contained page with the plots as SVG (with -o, or to a pipe).",
)
@output_option
@click.option(
    "--plot",
    type=click.Path(path_type=Path),
    callback=anchored,
    help="Draw the sweep to a .png, .svg or .pdf file (needs matplotlib: pip install matplotlib).",
)
@click.option("--no-chart", is_flag=True, help="Leave out the terminal chart under the table.")
@click.option("--latency", is_flag=True, help="Also measure every point's latency (imports torch).")
@click.option(
    "--training",
    is_flag=True,
    help="Add a training step's FLOPs and modelled peak memory (--optimizer) as metrics; with --latency, "
    "its measured step too.",
)
@click.option(
    "--device",
    type=click.Choice(["cpu", "cuda"]),
    default="cpu",
    show_default=True,
    help="Where --latency measures.",
)
@preset_option("quick")
@click.option(
    "--max-memory",
    metavar="SIZE",
    help="With --latency: skip variants whose weights and activations exceed this (8GiB, 500MB).",
)
@optimizer_option
@click.option(
    "--kwargs",
    "model_kwargs",
    metavar="YAML",
    help="Keyword arguments for a model reference's callable: '{num_classes: 10}'.",
)
@allow_unknown_option
@reports_errors
def sweep(
    spec: str,
    resolution: str | None,
    width: str | None,
    batch_size: str | None,
    sets: tuple[str, ...],
    fmt: str,
    output: Path | None,
    plot: Path | None,
    no_chart: bool,
    latency: bool,
    training: bool,
    device: str,
    preset: str,
    max_memory: str | None,
    optimizer: str,
    model_kwargs: str | None,
    allow_unknown: bool,
) -> None:
    """Sweep SPEC along one or more axes and fit how each variant's cost grows.

    SPEC may be a PyTorch model (package.module:callable): it is imported once at the first --input
    value, which is then a whole shape (3x224x224), and its spec is re-analysed at every point; with
    --allow-unknown it is imported at every --input value, where its opaque ops have their shapes.

    \b
    Each axis is a comma-separated list of values. Several axes make a grid: every combination,
    in the order --resolution, --width, --batch-size, then each --set as given, the last varying
    fastest. Every point is parsed and validated like a spec file; an invalid point stops the sweep
    with the parser's message and the point's values.

    \b
    --width rounds each scaled count half up and keeps it >= 1; the last linear layer (the classes)
    and the input channels stay as they are. A depthwise conv (groups == in_channels) keeps
    groups == its new in_channels and its depth multiplier; another grouped conv rounds
    out_channels to a multiple of groups and lowers groups to gcd(groups, new in_channels).

    \b
    Growth laws: least-squares slopes of log(metric) on log(axis value), fitted along each numeric
    axis with the other axes held fixed. A resolution sits at sqrt(height x width); a [h, w] pair
    given to --set at its geometric mean. Memory = weights + buffers + peak inference activations;
    with --training, Training FLOPs = forward + backward and Training memory = the modelled peak of
    one training step with --optimizer.
    """
    from convprof.commands.sources import ModelOptions, check_model_options, read_source
    from convprof.errors import UsageError
    from convprof.graph.parse import parse_spec
    from convprof.importing.refs import is_reference
    from convprof.sweep.model import build_sweep
    from convprof.sweep.points import point_specs

    check_destination(fmt, output)
    plot_format = None
    if plot is not None:
        from convprof.render.plot import check_plot_path

        plot_format = check_plot_path(plot)
    first = resolution.split(",")[0].strip() if resolution else None
    options = ModelOptions((first,) if first and "x" in first else (), model_kwargs, allow_unknown)
    if is_reference(spec) and not options.input:
        raise UsageError(
            f"{spec}: a model reference is imported at the first --input value, which must then be a "
            "whole shape such as 3x224x224"
        )
    check_model_options([spec], ModelOptions((), model_kwargs, allow_unknown))
    source = read_source(spec, options)  # read once: `-` is standard input, a model is imported once
    base = parse_spec(source.data, source.display, source.stem)
    if base.inputs and resolution is not None:
        raise UsageError(
            f"--resolution: {source.display} has {len(base.inputs)} inputs "
            f"({', '.join(name for name, _ in base.inputs)}); sweep each with --set inputs.NAME=[...]"
        )
    axes = _axes(base.input, resolution, width, batch_size, sets)
    imports = None
    if is_reference(spec) and resolution is not None:
        # What a model computes from its input's size (an up-sampling back to it, an opaque op's
        # shapes) is fixed where it was imported: import it again at every input.
        from dataclasses import replace

        from convprof.sweep.axes import whole_shape

        imports = {
            value.label: read_source(spec, replace(options, input=(whole_shape(value),), notes=False))
            for value in axes[0].values[1:]
        }
    points = point_specs(source, axes, imports)
    reports = [analyze(point.spec, optimizer) for point in points]
    if latency:
        from convprof.torchdep import require_torch

        require_torch("--latency", "a sweep without it counts without torch")
        reports = _measure(points, reports, device, preset, max_memory, training)
    result = build_sweep(
        base,
        axes,
        [(p.labels, r) for p, r in zip(points, reports, strict=True)],
        latency=latency,
        training=training,
    )
    if plot is not None:
        from convprof.render.plot import render_plot

        assert plot_format is not None
        write_atomic(plot, render_plot(result, plot_format))
        click.echo(f"convprof: wrote {plot}", err=True)

    from convprof.render.formats import sweep_renderers

    deliver_result(result, sweep_renderers(chart=plot is None and not no_chart), fmt, output)
