"""`convprof schema`: the JSON Schema every JSON report satisfies."""

from __future__ import annotations

import json

import click

from convprof.commands.base import reports_errors

__all__ = ["schema"]


@click.command()
@reports_errors
def schema() -> None:
    """Print the JSON Schema of the report `convprof compare --format json` writes."""
    from convprof.schema import report_schema

    click.echo(json.dumps(report_schema(), indent=2))
