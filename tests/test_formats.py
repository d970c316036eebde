"""The one format dispatch: every command's --format and -o come from convprof.render.formats."""

from __future__ import annotations

import click
import pytest

from convprof.cli import cli
from convprof.render.formats import FORMATS, MERGE
from tests.conftest import ROOT


def test_every_command_formats_through_the_one_dispatch() -> None:
    """No command branches on its format: each hands its result to convprof.render.formats."""
    for command in ("compare", "diff", "merge", "sweep", "check"):
        source = (ROOT / "convprof" / "commands" / f"{command}.py").read_text(encoding="utf-8")
        assert "deliver_result(" in source, command
        assert "fmt ==" not in source, command
        assert 'click.Choice(["table"' not in source, command
        loaded = cli.get_command(click.Context(cli), command)
        assert loaded is not None
        choices = loaded.params
        (option,) = [p for p in choices if p.name == "fmt"]
        assert isinstance(option.type, click.Choice)
        expected = {
            "compare": FORMATS,
            "sweep": FORMATS,
            "diff": ("table", "json", "markdown", "html"),
        }.get(command, ("table", "json", "markdown"))
        assert tuple(option.type.choices) == expected, command
        assert any(p.name == "output" for p in choices), command


def test_a_renderer_refuses_a_format_its_result_has_not() -> None:
    assert MERGE.formats == ("table", "json", "markdown")
    with pytest.raises(ValueError, match="format 'csv' is not one of table, json, markdown"):
        MERGE.render(None, "csv")  # type: ignore[arg-type]
