"""`convprof examples`: the built-in specs."""

from __future__ import annotations

import click

from convprof.analyze import analyze
from convprof.commands.base import reports_errors

__all__ = ["examples"]


@click.command()
@reports_errors
def examples() -> None:
    """List the built-in example specs; run one with `convprof compare NAME`."""
    from rich.console import Console
    from rich.table import Table

    from convprof.examples import example_names, read_example
    from convprof.parse import parse_spec
    from convprof.units import format_count, format_shape

    table = Table(title="Built-in examples", title_justify="left")
    for header in ("Name", "Input", "Layers", "Params", "MACs", "Description"):
        table.add_column(header, justify="right" if header in ("Layers", "Params", "MACs") else "left")
    for name in example_names():
        data = read_example(name)
        assert data is not None
        spec = parse_spec(data, f"<example:{name}>", name)
        conv = analyze(spec).variant("conv")
        table.add_row(
            name,
            format_shape(spec.input),
            str(len(spec.layers)),
            format_count(conv.params),
            format_count(conv.macs),
            spec.description,
        )
    Console().print(table)
