"""Untrusted text made safe to show: on a terminal or in a log, in Markdown, in a spreadsheet.

Strings from a spec, a saved report or a model (names, paths, kinds, devices, environment fields,
descriptions, a model's exception message) are data. Shown raw, an escape sequence in one could
retitle a terminal or hide what follows (OSC, CSI, CR, BS, a C1 control, U+202E), a newline could
forge a row of a table, a `<img>` or a `[link](...)` would render in a job summary, and `=cmd` would
be a formula in a spreadsheet. Each output shows such a string through one of these helpers:

- `printable` for terminals, logs and every one-line message: anything that is not a printable
  character is written as its Python escape (`\\x1b`, `\\u202e`, `\\n`), so the text stays on its
  line and reads as it is;
- `markdown_text` for Markdown (which GitHub renders as HTML): `printable`, then every character
  Markdown or HTML would interpret is backslash-escaped;
- `csv_text` for CSV cells: `printable`, and a leading `=`, `+`, `-` or `@` (a formula to a
  spreadsheet) is quoted with `'`.

Names in a spec are identifiers, so the parser refuses them with control or format characters
(`control_character` finds one); free text (a description, a report read from a file, a model's
message) is kept as written and escaped wherever it is shown.
"""

from __future__ import annotations

import re

__all__ = ["control_character", "csv_text", "markdown_text", "printable"]

#: What Markdown (GitHub's, CommonMark with its extensions) or HTML would read as markup in running
#: text or a table cell: escapes, code, emphasis, links and images, tags and entities, cell
#: separators, strikethrough; `_` only where it can open or close emphasis (not inside a word, as in
#: `conv2d_1`); and what starts an autolink: the dot of `www.`, the colon of `://`, the `@` of an address.
_MARKDOWN = re.compile(r"[\\`*\[\]<&|~@]|(?<![^\W_])_|_(?![^\W_])|(?<=[wW]{3})\.|:(?=//)")
#: Cell starts a spreadsheet reads as a formula (OWASP's CSV injection list; tab and CR are escaped).
_FORMULA_START = ("=", "+", "-", "@")


def _escaped(char: str) -> str:
    return repr(char)[1:-1]


def printable(text: str) -> str:
    """Return `text` with each character that is not printable written as its escape (`\\x1b`).

    Printable is Python's `str.isprintable`: no C0 or C1 control, DEL, format character (the bidi
    overrides and isolates, zero-width ones), line or paragraph separator, surrogate or unassigned
    code point; a space is printable, a tab or a newline is not. Idempotent."""
    if text.isprintable():
        return text
    return "".join(char if char.isprintable() else _escaped(char) for char in text)


def markdown_text(text: str) -> str:
    """Return `text` for Markdown: printable, with everything Markdown or HTML would interpret escaped
    by a backslash (which CommonMark allows before any ASCII punctuation), so it renders as written."""
    return _MARKDOWN.sub(lambda match: "\\" + match.group(), printable(text))


def csv_text(text: str) -> str:
    """Return `text` for a CSV cell: printable, and quoted with `'` where a spreadsheet would read a
    formula."""
    shown = printable(text)
    return "'" + shown if shown.startswith(_FORMULA_START) else shown


def control_character(text: str) -> str | None:
    """Return the first character of `text` that is not printable (a control, a bidi override), as
    `U+XXXX`; None when there is none."""
    if text.isprintable():
        return None
    char = next(char for char in text if not char.isprintable())
    return f"U+{ord(char):04X}"
