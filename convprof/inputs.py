"""Reading input files (specs, reports): regular files only, bounded, never waiting on a FIFO.

A path is looked at (stat) before it is opened: a FIFO with no writer would block an open for reading
forever, and a device could be read without end. Anything but a regular file is refused unopened;
the file is then opened without blocking and checked again, so that one swapped for a FIFO in
between is refused too. Standard input is read by its own command-line argument (`-`), never as a
path.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

__all__ = ["NotAFile", "read_limited"]

#: What a file type is called in messages.
_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


class NotAFile(Exception):
    """The path names something other than a regular file."""

    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self.kind = kind
        """What it is: `a directory`, `a FIFO (named pipe)`, `a character device`, ..."""


def _kind(mode: int) -> str | None:
    """Return what a file of `mode` is when it is not a regular file, None when it is one."""
    if stat.S_ISREG(mode):
        return None
    return next((name for test, name in _KINDS if test(mode)), "not a regular file")


def read_limited(path: Path, limit: int) -> bytes | None:
    """Return the regular file at `path` (through links), or None when it is larger than `limit` bytes
    (then it is not read). Raises NotAFile for anything else, found without opening it for reading,
    and OSError (FileNotFoundError, PermissionError, ...) as the system reports it."""
    kind = _kind(os.stat(path).st_mode)
    if kind is not None:
        raise NotAFile(kind)
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_CLOEXEC", 0)
    fd = os.open(path, flags)
    try:
        status = os.fstat(fd)
        kind = _kind(status.st_mode)
        if kind is not None:  # swapped since it was looked at
            raise NotAFile(kind)
        if status.st_size > limit:
            return None
        chunks: list[bytes] = []
        remaining = limit + 1  # one byte past the limit tells a file that grew meanwhile
        while remaining > 0:
            chunk = os.read(fd, min(remaining, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            remaining -= len(chunk)
        data = b"".join(chunks)
        return None if len(data) > limit else data
    finally:
        os.close(fd)
