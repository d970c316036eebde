"""`convprof schema`: the JSON Schema of the report and of every command's JSON output."""

from __future__ import annotations

import json

import click

from convprof.commands.base import reports_errors

__all__ = ["schema"]

#: The documents `convprof schema` describes; kept in step with convprof.render.schemas.SCHEMAS.
_DOCUMENTS = ("report", "check", "diff", "merge", "sweep")


@click.command()
@click.argument("document", type=click.Choice(_DOCUMENTS), default="report")
@reports_errors
def schema(document: str) -> None:
    """Print the JSON Schema of DOCUMENT: the report (`compare --format json`, the default) or the
    JSON output of check, diff, merge or sweep. Each carries a `schema_version`."""
    from convprof.output import write_stdout
    from convprof.render.schemas import SCHEMAS

    write_stdout(json.dumps(SCHEMAS[document](), indent=2) + "\n")
