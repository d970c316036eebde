"""What a measurement is doing, on stderr, drawn only when stderr is a terminal."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol

__all__ = ["Steps", "steps"]


class Steps(Protocol):
    """Say what runs now (loading torch, building conv, timing dense round 2/5) and advance the bar."""

    def __call__(self, description: str) -> None: ...


def _nothing(description: str) -> None:
    del description


@contextmanager
def steps(total: int, enabled: bool) -> Iterator[Steps]:
    """Yield a step function; it draws a transient bar on stderr only when enabled and on a terminal."""
    if not enabled or not sys.stderr.isatty():
        yield _nothing
        return
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(
        TextColumn("{task.description}", markup=False),
        BarColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True, markup=False, emoji=False),  # descriptions are text, not markup
        transient=True,
    ) as bar:
        task = bar.add_task("measuring", total=total)
        started = False

        def advance(description: str) -> None:
            nonlocal started
            # Each step names what starts now, so the one before it is done.
            bar.update(task, advance=1 if started else 0, description=description)
            started = True
            # Steps can be shorter than the bar's refresh interval: draw every one of them.
            bar.refresh()

        yield advance
