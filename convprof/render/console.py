"""The consoles commands print through: the terminal's width, or a fixed one where nothing wraps."""

from __future__ import annotations

import os
import re
import textwrap
from collections.abc import Callable
from copy import copy
from io import StringIO
from typing import IO

from rich.cells import cell_len
from rich.console import Console, Group, RenderableType
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

__all__ = [
    "PIPE_WIDTH",
    "UNBOUNDED_WIDTH",
    "file_console",
    "fits",
    "fitted",
    "print_prose",
    "prose_width",
    "stderr_console",
    "stdout_console",
    "strip_lines",
    "to_stdout",
]

#: Width of sentences sent to a pipe, a CI log or a file, where no terminal decides it.
PIPE_WIDTH = 120
#: Width a table may take in a pipe, a CI log or a file where neither a terminal nor COLUMNS sets
#: one: as wide as its content, as git and ripgrep write to a pipe, so that nothing is folded,
#: dropped or turned into records for a narrow terminal that is not there.
UNBOUNDED_WIDTH = 10_000


# Every console here reads the strings it prints as text, never as rich markup (`[link=...]` would
# be a terminal hyperlink, `[bold]` a style) or emoji codes (`:smile:`): markup=False, emoji=False.
# The strings hold names from specs, reports and models.


def stdout_console() -> Console:
    """Return a console for stdout: the terminal's width, else COLUMNS if set, else as wide as each
    table is (sentences wrapped at PIPE_WIDTH). Strings are read as plain text, never as markup."""
    console = Console(markup=False, emoji=False)
    if console.is_terminal or "COLUMNS" in os.environ:
        return console
    return Console(width=UNBOUNDED_WIDTH, markup=False, emoji=False)


def stderr_console() -> Console:
    """Return a console for progress on stderr, reading strings as plain text as stdout's does."""
    return Console(stderr=True, markup=False, emoji=False)


def file_console(file: IO[str], width: int = UNBOUNDED_WIDTH) -> Console:
    """Return a colourless console of `width` writing to `file` (for -o and captured text): by
    default each table as wide as its content, sentences wrapped at PIPE_WIDTH."""
    return Console(file=file, width=width, no_color=True, markup=False, emoji=False)


def prose_width(console: Console) -> int:
    """Return the width sentences wrap at: the console's, or PIPE_WIDTH where tables are unbounded."""
    return PIPE_WIDTH if console.width >= UNBOUNDED_WIDTH else console.width


def strip_lines(text: str) -> str:
    """Remove the spaces rich pads table lines with: files and pipes get no trailing whitespace."""
    return "\n".join(line.rstrip() for line in text.split("\n"))


def to_stdout(draw: Callable[[Console], None]) -> str | None:
    """Draw on the terminal, or return the text for a pipe or file, its lines stripped.

    A terminal gets colour and its own width; anything else gets the same lines as text with no
    trailing spaces, which rich pads every table line with."""
    console = stdout_console()
    if console.is_terminal:
        draw(console)
        return None
    buffer = StringIO()
    draw(file_console(buffer, console.width))
    return strip_lines(buffer.getvalue())


#: A number and its unit (`528 B`, `14.46 M`, `30 ms`), which a line break must never separate.
_NUMBER_UNIT = re.compile(r"(?<=\d) (?=(?:[kMGTPEZY]|[KMGTPEZY]i?B|B|kB|ms|s)\b)")
#: Stands in for the space between a number and its unit while the sentence is wrapped.
_GLUE = "\x00"


def print_prose(console: Console, text: str, style: str | None = None) -> None:
    """Print a sentence wrapped at spaces to the console's width, never between a number and its unit."""
    glued = _NUMBER_UNIT.sub(_GLUE, text)
    width = prose_width(console)
    lines = textwrap.wrap(glued, width, break_long_words=False, break_on_hyphens=False) or [""]
    for line in lines:
        printed = Text(line.replace(_GLUE, " "), style=style or "")
        if len(line) <= width:
            console.print(printed, soft_wrap=True)
        else:  # one word longer than the line (a long path): fold it rather than run past the edge
            console.print(printed, overflow="fold")


def fits(renderable: RenderableType, console: Console) -> bool:
    """Whether `renderable` prints within the console's width without cutting or wrapping anything."""
    if isinstance(renderable, Table):
        renderable = _widest(renderable)
    unbounded = console.options.update(max_width=1 << 16)  # measure() clamps to the console otherwise
    return Measurement.get(console, unbounded, renderable).maximum <= console.width


def _widest(table: Table) -> Table:
    """Return a table as wide as `table` at its widest: the same columns, with one row of each
    column's widest cell (or `table` itself where a cell is not a string).

    A table's widest layout is the sum of its columns' (each the widest of its cells, padded, clamped
    to the column's max_width) and its edges; a string cell is as wide as its longest line, the
    consoles here reading strings as plain text. Measuring one row instead of every row: the
    per-layer table of a large model is measured for each set of columns tried."""
    columns = table.columns
    if not table.rows or not all(isinstance(cell, str) for column in columns for cell in column._cells):
        return table
    probe = copy(table)
    probe.columns = [copy(column) for column in columns]
    probe.rows = probe.rows[:1]
    for column in probe.columns:
        column._cells = [max(column._cells, key=_longest_line)]  # type: ignore[arg-type]
    return probe


def _longest_line(cell: str) -> int:
    return max(map(cell_len, cell.split("\n")))


def fitted(table: Table, console: Console, *, keys: int = 1) -> RenderableType:
    """Return `table` when it fits the console; otherwise its rows as records, no number cut.

    A record is a heading made of the row's first `keys` cells, then one indented `column  value`
    line per other cell (values too long for the line fold onto the next, never into an ellipsis),
    the way `psql \\x` shows a wide row. The title and row styles carry over.
    """
    if fits(table, console):
        return table
    headers = [str(column.header).replace("\n", " ") for column in table.columns]
    cells = [[str(cell) for cell in column.cells] for column in table.columns]
    width = 3 + max((len(header) for header in headers[keys:]), default=0)  # indent and a gap
    parts: list[RenderableType] = []
    if table.title is not None:
        parts.append(Text(str(table.title), style=table.title_style or "bold"))
    for index, row in enumerate(table.rows):
        heading = " · ".join(cells[c][index] for c in range(min(keys, len(headers))))
        parts.append(Text(heading, style=row.style or "bold"))
        record = Table.grid()
        record.add_column(width=width, no_wrap=True)
        record.add_column(overflow="fold")
        for column in range(keys, len(headers)):
            record.add_row("  " + headers[column], cells[column][index])
        parts.append(record)
    return Group(*parts)
