"""Writing output files atomically: a report is whole or absent, never half-written."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from convprof.errors import UsageError
from convprof.signals import held, removed_on_stop

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
    with contextlib.ExitStack() as stack:
        # No signal between creating the temporary file and registering it for removal on a stop.
        with held():
            try:
                fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
            except OSError as exc:
                raise UsageError(f"cannot write {path}: {exc.strerror}; choose a writable location") from exc
            stack.enter_context(removed_on_stop(temporary))
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data.encode("utf-8") if isinstance(data, str) else data)
            # mkstemp creates the file 0600; give the report the permissions any new file would get.
            os.chmod(temporary, 0o666 & ~_umask())
            os.replace(temporary, path)
        except BaseException as exc:
            Path(temporary).unlink(missing_ok=True)
            if isinstance(exc, OSError):
                raise UsageError(f"cannot write {path}: {exc.strerror}; choose a writable location") from exc
            raise
