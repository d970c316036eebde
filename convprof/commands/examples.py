"""`convprof examples`: the built-in specs."""

from __future__ import annotations

import click

from convprof.commands.base import reports_errors
from convprof.errors import UsageError
from convprof.output import write_stdout
from convprof.report.analyze import analyze_variant

__all__ = ["examples"]


@click.command()
@click.argument("name", required=False)
@reports_errors
def examples(name: str | None) -> None:
    """List the built-in example specs, or print the YAML of the one called NAME.

    Run one with `convprof compare NAME`; start a spec of your own from one with
    `convprof examples lenet5 > my.yaml`.
    """
    from rich import box
    from rich.table import Table

    from convprof.graph.parse import parse_spec
    from convprof.render.console import fitted, to_stdout
    from convprof.spec.examples import example_names, read_example
    from convprof.units import format_count, format_shape

    if name is not None:
        text = read_example(name)
        if text is None:
            import difflib

            match = difflib.get_close_matches(name, example_names(), n=1)
            hint = f"did you mean {match[0]}? " if match else ""
            raise UsageError(f"no built-in example {name!r} ({hint}`convprof examples` lists them)")
        write_stdout(text.decode("utf-8"))
        return

    table = Table(
        title="Built-in examples", title_justify="left", box=box.SIMPLE_HEAD, padding=(0, 1), pad_edge=False
    )
    for header in ("Name", "Input", "Layers", "Params", "MACs", "Description"):
        numeric = header in ("Layers", "Params", "MACs")
        # Names are typed back on the command line: never truncate them; descriptions wrap.
        table.add_column(header, justify="right" if numeric else "left", no_wrap=header != "Description")
    for example in example_names():
        data = read_example(example)
        assert data is not None
        spec = parse_spec(data, f"<example:{example}>", example)
        conv = analyze_variant(spec, "conv")  # the spec as written: the other variants are not shown
        table.add_row(
            example,
            format_shape(spec.input),
            str(len(spec.nodes)),
            format_count(conv.params),
            format_count(conv.macs),
            spec.description,
        )
    listing = to_stdout(lambda console: console.print(fitted(table, console)))
    if listing is not None:
        write_stdout(listing)
