"""Writing output files: whole or absent, never half-written, and only at the path asked for.

A path the user named (`-o`) is followed through a link; a name convprof chose inside a directory
(`--write-reports DIR`) never is: whatever is there is replaced by a regular file, or refused.

A regular file (or a new path) is replaced atomically: the data goes to a temporary file in the same
directory, which is renamed over it. A symbolic link to a regular file stays a link: its target is
replaced, in the target's directory. Anything else that already exists (a character device such as
/dev/null, a FIFO, a terminal) is written in place, since renaming a file over it would replace the
device rather than write to it; a directory is refused.

The temporary file is anonymous where the system allows (Linux's O_TMPFILE): a process killed while
writing leaves nothing behind. Elsewhere it is named `.NAME.PID.RANDOM.tmp`, and files of that naming
left by processes that no longer run are removed by the next write beside them.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import resource
import secrets
import stat
import sys
from pathlib import Path

from convprof.errors import ReaderGone, UsageError
from convprof.signals import held, hold_to_the_end, removed_on_stop

__all__ = [
    "TEMPORARY_SUFFIX",
    "append_text",
    "temporary_prefix",
    "write_atomic",
    "write_stdout",
]

#: Suffix of the named temporary files written beside a target.
TEMPORARY_SUFFIX = ".tmp"
#: Where Linux shows a process's open files; an unnamed file is given its name through it.
_FD_DIRECTORY = "/proc/self/fd"
#: Characters of the target's name kept in a temporary file's name (file names stop at 255 bytes).
_NAME_CHARS = 100


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _failure(path: Path, exc: OSError) -> UsageError:
    return UsageError(f"cannot write {path}: {exc.strerror or exc}; choose a writable location")


def temporary_prefix(target: Path) -> str:
    """Return the start of the names of temporary files written for `target`: `.NAME.`."""
    return f".{target.name[:_NAME_CHARS]}."


def _write_all(fd: int, payload: bytes) -> None:
    view = memoryview(payload)
    while view:
        view = view[os.write(fd, view) :]


def _remove_stale(directory: Path, target: Path) -> None:
    """Remove temporary files for `target` whose writing process has ended (killed mid-write)."""
    prefix = temporary_prefix(target)
    try:
        entries = [entry.name for entry in os.scandir(directory)]
    except OSError:
        return
    for name in entries:
        if not (name.startswith(prefix) and name.endswith(TEMPORARY_SUFFIX)):
            continue
        pid_text = name[len(prefix) :].split(".", 1)[0]
        if not pid_text.isdigit() or int(pid_text) == os.getpid():
            continue
        try:
            os.kill(int(pid_text), 0)
        except ProcessLookupError:  # its writer is gone: the file can only be a leftover
            with contextlib.suppress(OSError):
                (directory / name).unlink()
        except OSError:  # alive but not ours (EPERM): leave it
            continue


def _anonymous(directory: Path, mode: int) -> int | None:
    """Open an unnamed file in `directory`, or return None where the system or filesystem has none."""
    flag = getattr(os, "O_TMPFILE", None)
    if flag is None or not os.path.isdir(_FD_DIRECTORY):  # the file is named later through /proc
        return None
    try:
        return os.open(directory, flag | os.O_WRONLY | getattr(os, "O_CLOEXEC", 0), mode)
    except OSError as exc:
        if exc.errno in (errno.EOPNOTSUPP, errno.EISDIR, errno.EINVAL, errno.ENOENT):
            return None
        raise


def _name(fd: int, temporary: Path) -> None:
    """Link the unnamed file open as `fd` into its directory as `temporary`."""
    directory = os.open(temporary.parent, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        # A directory descriptor makes os.link call linkat(), whose AT_SYMLINK_FOLLOW reaches the file
        # behind /proc/self/fd/N; plain link() would try to link the /proc entry itself.
        os.link(f"{_FD_DIRECTORY}/{fd}", temporary.name, dst_dir_fd=directory, follow_symlinks=True)
    finally:
        os.close(directory)


def _replace(target: Path, payload: bytes, shown: Path, *, last: bool = False) -> None:
    """Write `payload` to a temporary file beside `target` and rename it over `target` (with `last`,
    the signals held from the rename on: see write_atomic)."""
    directory = target.parent if str(target.parent) else Path(".")
    if not directory.is_dir():
        raise UsageError(f"cannot write {shown}: directory {directory} does not exist; create it first")
    _remove_stale(directory, target)
    mode = 0o666 & ~_umask()  # the permissions any new file would get
    temporary = (
        directory / f"{temporary_prefix(target)}{os.getpid()}.{secrets.token_hex(4)}{TEMPORARY_SUFFIX}"
    )
    with contextlib.ExitStack() as stack:
        try:
            # No signal between creating a named temporary file and registering it for removal on a
            # stop (a signal ends the process at once under the CLI, removing what is registered).
            with held():
                fd = _anonymous(directory, mode)
                named = fd is None
                if fd is None:
                    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
                    fd = os.open(temporary, flags, mode)
                    stack.enter_context(removed_on_stop(str(temporary)))
        except OSError as exc:
            raise _failure(shown, exc) from exc
        try:
            try:
                _write_all(fd, payload)
                if not named:  # give the finished file a name only now: nothing to leave behind before
                    with held():
                        _name(fd, temporary)
                        named = True
                        stack.enter_context(removed_on_stop(str(temporary)))
            finally:
                os.close(fd)
            os.chmod(temporary, mode)
            if last:
                hold_to_the_end()
            os.replace(temporary, target)
        except BaseException as exc:
            if named:
                temporary.unlink(missing_ok=True)
            if isinstance(exc, OSError):
                raise _failure(shown, exc) from exc
            raise


def _write_in_place(path: Path, payload: bytes, truncate: bool = False) -> None:
    """Write to something that is not a regular file (a device, a FIFO) without replacing it."""
    flags = os.O_WRONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0) | (os.O_TRUNC if truncate else 0)
    try:
        # Non-blocking open: a FIFO nobody reads is refused (ENXIO) rather than waited on forever.
        fd = os.open(path, flags)
    except OSError as exc:
        if exc.errno == errno.ENXIO:
            raise UsageError(f"cannot write {path}: nothing is reading it; start its reader first") from exc
        raise _failure(path, exc) from exc
    try:
        fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) & ~os.O_NONBLOCK)
        _write_all(fd, payload)
    except OSError as exc:
        raise _failure(path, exc) from exc
    finally:
        os.close(fd)


def _write_entry(path: Path, payload: bytes) -> None:
    """Write `payload` as the regular file `path` names in its directory, never through a link.

    A link there is replaced by the file (not followed: its target is untouched); a directory, a
    FIFO, a device or a socket is refused, never written into or replaced."""
    try:
        status = os.lstat(path)
    except FileNotFoundError:
        status = None
    except OSError as exc:
        raise _failure(path, exc) from exc
    if status is not None and stat.S_ISDIR(status.st_mode):
        raise UsageError(f"cannot write {path}: it is a directory; remove it or write elsewhere")
    if status is not None and not (stat.S_ISREG(status.st_mode) or stat.S_ISLNK(status.st_mode)):
        raise UsageError(f"cannot write {path}: it is not a regular file; remove it or write elsewhere")
    _replace(path, payload, path)  # renaming over a link replaces the link itself


def write_atomic(path: Path, data: str | bytes, *, follow_links: bool = True, result: bool = False) -> None:
    """Write `data` (text as UTF-8, or bytes such as an image) to `path`, replacing a regular file
    atomically and writing anything else that exists (a device, a FIFO) in place.

    With `follow_links` False (a name convprof chose, not the user), `path` is written as a regular
    file in its own directory whatever is there: a link is replaced, never followed.

    `result`: this is the run's result (-o), its last act. Under the CLI, SIGINT and SIGTERM are held
    from the instant before the rename to the end of the run: a signal from then on (the run has
    little left: a line on stderr, its exit) no longer ends it 130 or 143 with its whole result in
    place; it ends as it would have, and the signal goes with it."""
    payload = data.encode("utf-8") if isinstance(data, str) else data
    if not follow_links:
        _write_entry(path, payload)
        return
    try:
        status: os.stat_result | None = os.stat(path)  # through links: what would be written to
    except FileNotFoundError:
        status = None
    except OSError as exc:  # a loop of links, a name too long, a directory we may not enter
        raise _failure(path, exc) from exc
    if status is None:
        # A new file; through a dangling link, the file the link names.
        _replace(Path(os.path.realpath(path)) if path.is_symlink() else path, payload, path, last=result)
    elif stat.S_ISDIR(status.st_mode):
        raise UsageError(f"cannot write {path}: it is a directory; give a file name")
    elif not stat.S_ISREG(status.st_mode):
        _write_in_place(path, payload)
    elif not path.is_symlink():
        _replace(path, payload, path, last=result)
    else:
        target = Path(os.path.realpath(path))
        try:
            same = os.path.samestat(os.stat(target), status)
        except OSError:
            same = False
        if same:
            _replace(target, payload, path, last=result)
        else:  # a link with no path to rename over (/proc/self/fd/N to a deleted file): in place
            _write_in_place(path, payload, truncate=True)


def _size_limit() -> int | None:
    """Return the largest file this process may write (`ulimit -f`), or None when unlimited."""
    soft, _hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    return None if soft == resource.RLIM_INFINITY else soft


def _write_whole(fd: int, payload: bytes, action: str) -> None:
    """Write all of `payload` to the open `fd`, or nothing: a regular file is cut back to its size
    before the write when the write fails (past the file-size limit, on a full disk).

    A pipe or a terminal cannot be cut back; a pipe whose reader has gone raises ReaderGone."""
    status = os.fstat(fd)
    regular = stat.S_ISREG(status.st_mode)
    if regular:
        appending = bool(fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_APPEND)
        start = status.st_size if appending else os.lseek(fd, 0, os.SEEK_CUR)
        limit = _size_limit()
        if limit is not None and start + len(payload) > limit:  # refused before a byte is written
            raise UsageError(
                f"cannot {action}: the result ({len(payload):,} bytes) would pass the file-size "
                f"limit ({limit:,} bytes, ulimit -f); raise the limit or write elsewhere"
            )
    try:
        _write_all(fd, payload)
    except BrokenPipeError as exc:
        raise ReaderGone from exc
    except OSError as exc:
        if regular:
            with contextlib.suppress(OSError):
                if os.fstat(fd).st_size > status.st_size:  # only what this write added
                    os.ftruncate(fd, status.st_size)
        raise UsageError(f"cannot {action}: {exc.strerror or exc}") from exc


def write_stdout(text: str) -> None:
    """Write a command's result to standard output whole, or fail with one line and nothing written.

    Python's own buffered stdout drops the rest of a write the kernel cut short (a file past
    `ulimit -f`) without an error; this writes the encoded text to the descriptor directly. A stdout
    that has none (a test's captured stream) is written as any stream is."""
    stream = sys.stdout
    try:
        fd = stream.fileno()
    except (AttributeError, OSError, ValueError):  # io.UnsupportedOperation is a ValueError and OSError
        stream.write(text)
        stream.flush()
        return
    stream.flush()  # anything printed before goes first
    payload = text.encode(stream.encoding or "utf-8", stream.errors or "strict")
    _write_whole(fd, payload, "write to standard output")


def append_text(path: Path, text: str, shown: str) -> None:
    """Append `text` to `path` (named `shown` in messages) whole or not at all: a regular file, or a
    FIFO or device written in place when something reads it; never waiting on a FIFO nobody reads."""
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0)
    try:
        fd = os.open(path, flags | getattr(os, "O_CLOEXEC", 0), 0o666)
    except OSError as exc:
        if exc.errno == errno.ENXIO:
            raise UsageError(
                f"cannot append to {shown}: nothing is reading it; start its reader first"
            ) from exc
        raise UsageError(f"cannot append to {shown}: {exc.strerror or exc}") from exc
    try:
        fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) & ~os.O_NONBLOCK)
        _write_whole(fd, text.encode("utf-8"), f"append to {shown}")
    finally:
        os.close(fd)
