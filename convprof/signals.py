"""How SIGINT and SIGTERM end convprof: at once, at any moment, with its temporary files removed.

Under the CLI a signal never raises. An exception raised from a signal handler lands wherever Python
happens to be: inside torch's import, where it crosses C++ and aborts the process ("terminate called
after throwing an instance of 'pybind11::error_already_set'"); in a weakref callback or `__del__`,
where Python prints it and carries on (the signal is lost and the run writes its file); in a class
body, where it comes out as a RuntimeError. Instead the handler ends the process on the spot, from
any of those places, after removing the temporary files registered with `removed_on_stop` (the only
thing a run holds that must not outlive it).

Blocking a signal in the main thread is not enough to keep it out of a critical section: the kernel
hands a signal sent to the process to any thread that does not block it (torch's worker threads
among them), and Python then runs the handler in the main thread at its next instruction. So the
handler itself knows when it must wait: inside `held()` it notes the signal, acted on as the
outermost block ends; after `hold_to_the_end()` (the run's result is in place) it lets it go.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from collections.abc import Iterator
from types import FrameType
from typing import NoReturn

__all__ = [
    "EXIT_INTERRUPTED",
    "EXIT_TERMINATED",
    "finish",
    "held",
    "hold_to_the_end",
    "interruptible",
    "raising_is_unsafe",
    "removed_on_stop",
    "stop",
    "take",
    "taken",
]

#: Exit statuses of a process ended by a signal, as shells report them (128 + signal number).
EXIT_INTERRUPTED = 128 + signal.SIGINT
EXIT_TERMINATED = 128 + signal.SIGTERM
#: The signals convprof ends on.
_STOPPING = frozenset({signal.SIGINT, signal.SIGTERM})
#: Clear the line a transient progress bar drew and show the cursor it hid.
_RESET_TERMINAL = b"\r\x1b[2K\x1b[?25h"


class _State:
    """Whether the CLI owns the signals (library callers keep theirs), and what to remove on a stop."""

    cli_owns_signals = False
    temporaries: set[str] = set()  # noqa: RUF012 - one process-wide registry, by design
    holding = 0  # how many held() blocks are open
    deferred: int | None = None  # a signal that came inside them, acted on as the last one ends
    over = False  # the run's result is in place: a signal no longer ends it


def stop(terminated: bool) -> NoReturn:
    """End the process for Ctrl-C or SIGTERM: temporary files removed, one line, 130 or 143.

    `os._exit` rather than `sys.exit`: nothing may run after a signal (no teardown of a half-loaded
    C extension, no `finally` that writes), and CPython cannot re-kill itself with SIGINT at exit.
    """
    for temporary in list(_State.temporaries):
        with contextlib.suppress(OSError):
            if os.path.isdir(temporary) and not os.path.islink(temporary):
                import shutil  # here: every run loads this module first, few ever stop on a signal

                shutil.rmtree(temporary, ignore_errors=True)
            else:
                os.unlink(temporary)
    for stream in (sys.stdout, sys.stderr):
        # A closed, full or broken stream; or one this signal interrupted mid-write (reentrant).
        with contextlib.suppress(OSError, ValueError, RuntimeError):
            stream.flush()
    try:
        descriptor = sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):  # none, replaced by a stream without one, or closed
        descriptor = 2
    line = b"convprof: terminated\n" if terminated else b"convprof: interrupted\n"
    with contextlib.suppress(OSError):
        os.write(descriptor, (_RESET_TERMINAL if os.isatty(descriptor) else b"") + line)
    os._exit(EXIT_TERMINATED if terminated else EXIT_INTERRUPTED)


def finish(status: object) -> NoReturn:
    """End the process with `status` (a SystemExit's code) once the run is done, at once.

    The interpreter's own shutdown is skipped: it resets the signal handlers to the system's before
    tearing torch down (a second or so), so a SIGTERM then ended the run by the default action (-15)
    rather than with 143; and it would run exit handlers a model's code registered, which can print
    after the result. Nothing of convprof's is left to flush but its two streams."""
    if status is None:
        code = 0
    elif isinstance(status, int):
        code = status
    else:  # sys.exit("message"), as Python reports it
        with contextlib.suppress(OSError, ValueError, RuntimeError):
            print(status, file=sys.stderr)
        code = 1
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError, RuntimeError):
            stream.flush()
    os._exit(code & 0xFF)


def _end_now(signum: int, frame: FrameType | None) -> None:
    if _State.over:
        return
    if _State.holding:
        if _State.deferred is None:
            _State.deferred = signum
        return
    stop(signum == signal.SIGTERM)


def take() -> None:
    """Make SIGINT and SIGTERM end the process at once, then let them in (the CLI's first act).

    Signals held back until now (a parent may start convprof with them blocked) arrive here. An
    ignored SIGINT is a shell shielding a background job from Ctrl-C: it stays ignored.

    SIGXFSZ (a write past `ulimit -f`) is ignored, so that such a write fails with EFBIG and
    convprof says so in one line, with nothing half-written, instead of being killed mid-write.
    """
    if signal.getsignal(signal.SIGINT) is not signal.SIG_IGN:
        signal.signal(signal.SIGINT, _end_now)
    signal.signal(signal.SIGTERM, _end_now)
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    _State.cli_owns_signals = True
    signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOPPING)


@contextlib.contextmanager
def interruptible() -> Iterator[None]:
    """Let SIGINT end the process in the block even where a shell started it ignored (a background
    job): for a wait on someone else with no end (standard input that never closes)."""
    if not _State.cli_owns_signals or signal.getsignal(signal.SIGINT) is not signal.SIG_IGN:
        yield
        return
    signal.signal(signal.SIGINT, _end_now)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)


def taken() -> bool:
    """Return True when the CLI has taken the signals (they end the process and never raise)."""
    return _State.cli_owns_signals


@contextlib.contextmanager
def held() -> Iterator[None]:
    """Hold SIGINT and SIGTERM in the block (blocked in this thread; under the CLI, one another
    thread received waits in the handler): one that came meanwhile is acted on as it ends."""
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, _STOPPING)
    _State.holding += 1
    try:
        yield
    finally:
        _State.holding -= 1
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)  # one pending in this thread is handled here
        if not _State.holding and _State.deferred is not None:
            signum, _State.deferred = _State.deferred, None
            if not _State.over:
                stop(signum == signal.SIGTERM)


def hold_to_the_end() -> None:
    """Under the CLI, let SIGINT and SIGTERM go for the rest of the run: its result is in place, and
    the run ends as it was about to (one that comes now no longer ends it 130 or 143 beside its
    whole result). Library callers keep their signals as they are."""
    if _State.cli_owns_signals:
        _State.over = True
        if threading.current_thread() is threading.main_thread():
            signal.pthread_sigmask(signal.SIG_BLOCK, _STOPPING)


@contextlib.contextmanager
def raising_is_unsafe() -> Iterator[None]:
    """Keep SIGINT and SIGTERM from raising inside the block (a C extension running Python).

    Under the CLI they never raise; elsewhere, or off the main thread, they are blocked and
    delivered as the block ends.
    """
    if _State.cli_owns_signals and threading.current_thread() is threading.main_thread():
        yield
        return
    with held():
        yield


@contextlib.contextmanager
def removed_on_stop(path: str) -> Iterator[None]:
    """Have a signal in the block remove `path` (a temporary file, or a directory and what it holds)
    before the process ends."""
    _State.temporaries.add(path)
    try:
        yield
    finally:
        _State.temporaries.discard(path)
