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
    from rich import box
    from rich.table import Table

    from convprof.examples import example_names, read_example
    from convprof.parse import parse_spec
    from convprof.render.console import fitted, stdout_console
    from convprof.units import format_count, format_shape

    table = Table(
        title="Built-in examples", title_justify="left", box=box.SIMPLE_HEAD, padding=(0, 1), pad_edge=False
    )
    for header in ("Name", "Input", "Layers", "Params", "MACs", "Description"):
        numeric = header in ("Layers", "Params", "MACs")
        # Names are typed back on the command line: never truncate them; descriptions wrap.
        table.add_column(header, justify="right" if numeric else "left", no_wrap=header != "Description")
    for name in example_names():
        data = read_example(name)
        assert data is not None
        spec = parse_spec(data, f"<example:{name}>", name)
        conv = analyze(spec).variant("conv")
        table.add_row(
            name,
            format_shape(spec.input),
            str(len(spec.nodes)),
            format_count(conv.params),
            format_count(conv.macs),
            spec.description,
        )
    console = stdout_console()
    console.print(fitted(table, console))
