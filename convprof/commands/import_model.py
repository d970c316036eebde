"""convprof import: write the spec of a PyTorch model."""

from __future__ import annotations

from pathlib import Path

import click

from convprof.commands.base import deliver, output_option, reports_errors, say

__all__ = ["import_model"]


@click.command(name="import")
@click.argument("reference", metavar="REF")
@click.option(
    "--input",
    "input_shape",
    required=True,
    multiple=True,
    metavar="SHAPE",
    help="One sample's shape, channels first: 3x224x224; once per tensor the model's forward takes, "
    "in order.",
)
@click.option(
    "--kwargs",
    metavar="YAML",
    help="Keyword arguments for REF's callable, as YAML or JSON: '{num_classes: 10}'.",
)
@click.option("--name", help="The spec's name (default: REF's callable or attribute).")
@click.option(
    "--allow-unknown",
    is_flag=True,
    help="Keep each op convprof cannot count as an opaque node (its shapes, parameters and buffers "
    "exact, its MACs unknown: totals become lower bounds) instead of ending with exit 2.",
)
@output_option
@reports_errors
def import_model(
    reference: str,
    input_shape: tuple[str, ...],
    kwargs: str | None,
    name: str | None,
    allow_unknown: bool,
    output: Path | None,
) -> None:
    """Write the spec of the PyTorch model REF (package.module:callable, file.py:callable or
    ...:instance); loading REF runs its code.

    An op convprof cannot count ends the import with exit 2 and one line listing each such op with
    its path and count; with --allow-unknown an op whose result the model uses as one batched tensor
    is kept as an opaque node instead, and every total over it is marked as a lower bound. A module
    whose parameters have requires_grad=False is written frozen: true (a group of them once); one
    with only some of them frozen ends the import with exit 2."""
    from convprof.importing import import_module
    from convprof.importing.refs import load_reference, parse_input, parse_kwargs, reference_name

    shapes = [parse_input(text) for text in input_shape]
    arguments = parse_kwargs(kwargs)
    model = load_reference(reference, arguments)
    result = import_module(
        model, shapes, name=name or reference_name(reference), source=reference, allow_unknown=allow_unknown
    )
    for line in result.notes():
        say(f"convprof: note: {line}")
    deliver(result.text, lambda console: None, output)
