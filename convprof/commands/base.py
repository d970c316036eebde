"""What every command shares: ConvprofError turned into one line on stderr and an exit code."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import IO, Any, TypeVar

import click

from convprof.errors import ConvprofError

__all__ = ["reports_errors"]


F = TypeVar("F", bound=Callable[..., Any])


class _Failure(click.ClickException):
    """A ConvprofError as click sees it: one line on stderr and the error's exit code."""

    def __init__(self, error: ConvprofError) -> None:
        super().__init__(str(error))
        # click declares exit_code on the class; each failure carries its error's own code.
        setattr(self, "exit_code", error.exit_code)  # noqa: B010

    def show(self, file: IO[Any] | None = None) -> None:
        click.echo(f"convprof: error: {self.format_message()}", err=True, file=file)


def reports_errors(command: F) -> F:
    """Turn a ConvprofError raised by a command into one line on stderr and its exit code."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except ConvprofError as error:
            raise _Failure(error) from error

    return wrapper  # type: ignore[return-value]
