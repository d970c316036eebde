"""A progress bar on stderr while measuring, drawn only when stderr is a terminal."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol

__all__ = ["Steps", "steps"]


class Steps(Protocol):
    """Advance a progress display by one step, naming what runs next."""

    def __call__(self, description: str = "") -> None: ...


@contextmanager
def steps(total: int, enabled: bool) -> Iterator[Steps]:
    """Yield a step function; it draws a transient bar on stderr only when enabled and on a terminal."""
    if not enabled or not sys.stderr.isatty():

        def nothing(description: str = "") -> None:
            del description

        yield nothing
        return
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
    ) as bar:
        task = bar.add_task("measuring", total=total)

        def advance(description: str = "") -> None:
            if description:
                bar.update(task, advance=1, description=description)
            else:
                bar.advance(task)

        yield advance
