"""Writing output files atomically: a report is whole or absent, never half-written."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from convprof.errors import UsageError
from convprof.signals import held

__all__ = ["write_atomic"]


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_atomic(path: Path, data: str | bytes) -> None:
    """Write `data` (text as UTF-8, or bytes such as an image) to `path` through a temporary file in
    the same directory and a rename."""
    directory = path.parent if str(path.parent) else Path(".")
    if not directory.is_dir():
        raise UsageError(f"cannot write {path}: directory {directory} does not exist; create it first")
    if path.is_dir():
        raise UsageError(f"cannot write {path}: it is a directory; give a file name")
    temporary: str | None = None
    try:
        # A signal between creating the temporary file and knowing its name would leave it behind.
        with held():
            fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
            handle = os.fdopen(fd, "wb")
        with handle:
            handle.write(data.encode("utf-8") if isinstance(data, str) else data)
        # mkstemp creates the file 0600; give the report the permissions any new file would get.
        os.chmod(temporary, 0o666 & ~_umask())
        os.replace(temporary, path)
    except BaseException as exc:
        if temporary is not None:
            handle.close()
            Path(temporary).unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise UsageError(f"cannot write {path}: {exc.strerror}; choose a writable location") from exc
        raise
