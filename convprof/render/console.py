"""The consoles commands print through: the terminal's width, or a fixed one where nothing wraps."""

from __future__ import annotations

import os
from typing import IO

from rich.console import Console

__all__ = ["PIPE_WIDTH", "file_console", "stdout_console"]

#: Width of tables sent to a pipe, a CI log or a file, where no terminal decides it and nothing wraps.
PIPE_WIDTH = 120


def stdout_console() -> Console:
    """Return a console for stdout: the terminal's width, else COLUMNS if set, else PIPE_WIDTH."""
    console = Console()
    if console.is_terminal or "COLUMNS" in os.environ:
        return console
    return Console(width=PIPE_WIDTH)


def file_console(file: IO[str]) -> Console:
    """Return a colourless console of PIPE_WIDTH writing to `file` (for -o and captured text)."""
    return Console(file=file, width=PIPE_WIDTH, no_color=True)
