"""The command line: the only module that reads files, prints and chooses exit codes."""

from __future__ import annotations

import click

from convprof import __version__

__all__ = ["cli", "main"]


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="convprof")
def cli() -> None:
    """Profile a CNN spec against its locally connected and dense equivalents."""


def _register() -> None:
    # Each command lives in its own module under convprof.commands; heavy imports stay inside them.
    from convprof.commands.calibrate import calibrate
    from convprof.commands.check import check
    from convprof.commands.compare import compare
    from convprof.commands.diff import diff
    from convprof.commands.examples import examples
    from convprof.commands.merge import merge
    from convprof.commands.schema import schema
    from convprof.commands.sweep import sweep

    for command in (compare, examples, calibrate, check, diff, merge, schema, sweep):
        cli.add_command(command)


_register()


def main() -> None:
    """Run the command line."""
    cli(prog_name="convprof")


if __name__ == "__main__":  # pragma: no cover
    main()
