"""The one exception hierarchy: the CLI turns each into one line and an exit code."""

from __future__ import annotations

__all__ = ["ConvprofError", "ReaderGone", "SpecError", "UsageError"]


class ConvprofError(Exception):
    """Base of every error convprof reports to a user; `exit_code` is what the CLI returns."""

    exit_code = 2


class SpecError(ConvprofError):
    """An invalid spec, located at a file, line and column (both 1-based)."""

    def __init__(self, message: str, path: str, line: int = 0, column: int = 0) -> None:
        self.message = message
        self.path = path
        self.line = line
        self.column = column
        super().__init__(str(self))

    def __str__(self) -> str:
        if self.line:
            return f"{self.path}:{self.line}:{self.column}: {self.message}"
        return f"{self.path}: {self.message}"


class UsageError(ConvprofError):
    """A bad command line or environment (a missing file, an unwritable output)."""


class ReaderGone(Exception):
    """Standard output is a pipe whose reader has gone (`convprof ... | head -1`).

    Not an OSError, which click would turn into exit 1 itself: the CLI ends quietly with 141, as a
    shell reports a process that SIGPIPE ended."""
