"""What every command shares: errors as one line and an exit code, output to stdout or -o."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, TypeVar

import click

from convprof.errors import ConvprofError, UsageError
from convprof.measure.options import PRESETS
from convprof.output import write_atomic, write_stdout
from convprof.render.formats import FORMATS, PAGE_FORMATS
from convprof.report.analyze import OPTIMIZER_STATES
from convprof.safetext import printable

if TYPE_CHECKING:
    from rich.console import Console

    from convprof.render.formats import Renderers

__all__ = [
    "allow_unknown_option",
    "anchored",
    "check_destination",
    "deliver",
    "deliver_result",
    "format_option",
    "model_options",
    "optimizer_option",
    "output_option",
    "preset_option",
    "reports_errors",
    "say",
]


F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")


def anchored(ctx: click.Context, param: click.Parameter, value: Path | None) -> Path | None:
    """Make a path the user gave for output absolute as written (links kept), as click reads it:
    before any model code runs, which may change the working directory."""
    del ctx, param
    if value is None or value.is_absolute():
        return value
    return Path.cwd() / value


#: `-o/--output`, the same on every command that prints a result: written atomically.
output_option = click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path),
    callback=anchored,
    help="Write to this file instead of stdout (atomically: the whole result or nothing).",
)


def format_option(*, csv: bool, description: str, html: bool = False) -> Callable[[F], F]:
    """`--format`, its choices those of convprof.render.formats (csv only where the result has rows,
    html where it has a page)."""
    left_out = {"csv": not csv, "html": not html}
    return click.option(
        "--format",
        "fmt",
        type=click.Choice([f for f in FORMATS if not left_out.get(f, False)]),
        default="table",
        show_default=True,
        help=description,
    )


#: `--optimizer`, the same wherever training memory is reported (compare, check, sweep).
optimizer_option = click.option(
    "--optimizer",
    type=click.Choice(list(OPTIMIZER_STATES)),
    default="adam",
    show_default=True,
    help="Optimizer whose state training memory includes.",
)


def preset_option(default: str | None) -> Callable[[F], F]:
    """`--preset quick|default|rigorous`, the same wherever latency is measured (compare, check, sweep)."""
    shown = default if default is not None else "default"
    return click.option(
        "--preset",
        type=click.Choice(list(PRESETS)),
        default=default,
        help=f"Time spent measuring latency: quick (a rough figure), default or rigorous (steadier). "
        f"[default: {shown}]",
    )


#: `--allow-unknown`, wherever a SPEC may be a model reference (import, compare, check, sweep).
allow_unknown_option = click.option(
    "--allow-unknown",
    is_flag=True,
    help="For a model reference: keep each op convprof cannot count as an opaque node (MACs unknown, "
    "totals lower bounds) instead of ending with exit 2.",
)


def model_options(command: F) -> F:
    """Add `--input`, `--kwargs` and `--allow-unknown`, with which a SPEC argument may name a PyTorch
    model instead."""
    command = allow_unknown_option(command)
    command = click.option(
        "--kwargs",
        "model_kwargs",
        metavar="YAML",
        help="Keyword arguments for a model reference's callable: '{num_classes: 10}'.",
    )(command)
    return click.option(
        "--input",
        "model_input",
        metavar="SHAPE",
        multiple=True,
        help="One sample's shape for a model reference (package.module:callable): 3x224x224; once "
        "per tensor its forward takes, in order.",
    )(command)


class _Failure(click.ClickException):
    """A ConvprofError as click sees it: one line on stderr and the error's exit code."""

    def __init__(self, error: ConvprofError) -> None:
        super().__init__(str(error))
        # click declares exit_code on the class; each failure carries its error's own code.
        setattr(self, "exit_code", error.exit_code)  # noqa: B010

    def show(self, file: IO[Any] | None = None) -> None:
        # One line whatever it quotes: names and messages from specs, reports and models are escaped.
        click.echo(printable(f"convprof: error: {self.format_message()}"), err=True, file=file)


def say(line: str) -> None:
    """Print one line on stderr (a note, a warning, what was written), escaped: it may quote a name from
    a spec, a report or a model."""
    click.echo(printable(line), err=True)


def reports_errors(command: F) -> F:
    """Turn a ConvprofError raised by a command into one line on stderr and its exit code."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except ConvprofError as error:
            raise _Failure(error) from error

    return wrapper  # type: ignore[return-value]


def deliver(text: str | None, draw: Callable[[Console], None], output: Path | None) -> None:
    """Send a command's result to stdout or to `output` (-o), written atomically.

    `text` is the result in a text format (JSON, CSV, Markdown); None means a table, which `draw`
    prints on a console: the terminal's, or a plain one as wide as each table, captured for the file.
    """
    if text is None:
        from io import StringIO

        from convprof.render.console import file_console, strip_lines, to_stdout

        if output is None:
            text = to_stdout(draw)
            if text is None:  # drawn on the terminal
                return
        else:
            buffer = StringIO()
            draw(file_console(buffer))
            text = strip_lines(buffer.getvalue())
    if output is None:
        write_stdout(text)
        return
    write_atomic(output, text, result=True)
    say(f"convprof: wrote {output}")


def check_destination(fmt: str, output: Path | None) -> None:
    """Refuse a page (--format html) for a terminal, before any work: it goes to -o, or to standard
    output only when that is a pipe or a file."""
    if fmt in PAGE_FORMATS and output is None and _stdout_is_terminal():
        raise UsageError(
            f"--format {fmt} writes a web page, not text for a terminal: give -o report.{fmt}, or send "
            "standard output to a pipe or a file"
        )


def _stdout_is_terminal() -> bool:
    try:
        return sys.stdout is not None and sys.stdout.isatty()
    except (ValueError, OSError):  # closed or detached: not a terminal
        return False


def deliver_result(result: T, renderers: Renderers[T], fmt: str, output: Path | None) -> None:
    """Render `result` in format `fmt` through the one format dispatch and deliver it (stdout or -o)."""
    check_destination(fmt, output)
    rendered = renderers.render(result, fmt)
    deliver(rendered.text, rendered.draw, output)
