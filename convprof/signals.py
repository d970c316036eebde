"""How SIGINT and SIGTERM end convprof: cleanly at any moment, never as an exception inside C++.

Two regimes. Where the program holds something to clean up (temporary files, half-built reports), a
signal raises `KeyboardInterrupt` (`Terminated` for SIGTERM) in Python code and the clean-up runs in
the `finally` blocks it unwinds through. Where raising is unsafe, while a C extension runs Python
(torch's import does: an exception there crosses C++ and aborts the process with "terminate called
after throwing an instance of 'pybind11::error_already_set'", or is swallowed and the signal lost),
the CLI ends the process on the spot instead: nothing is held there, so nothing needs cleaning.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from types import FrameType
from typing import NoReturn

__all__ = [
    "EXIT_INTERRUPTED",
    "EXIT_TERMINATED",
    "Terminated",
    "end_at_once",
    "held",
    "install",
    "raising_is_unsafe",
    "stop",
]

#: Exit statuses of a process ended by a signal, as shells report them (128 + signal number).
EXIT_INTERRUPTED = 128 + signal.SIGINT
EXIT_TERMINATED = 128 + signal.SIGTERM
#: The signals convprof ends on.
_STOPPING = frozenset({signal.SIGINT, signal.SIGTERM})

_Handler = Callable[[int, FrameType | None], object] | int | signal.Handlers | None


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where the program is so that the same clean-up as Ctrl-C runs."""


class _State:
    """Whether the CLI owns the signals (library callers keep theirs untouched)."""

    cli_owns_signals = False


def stop(terminated: bool) -> NoReturn:
    """End the process for Ctrl-C or SIGTERM: one line, then 130 or 143 and nothing else.

    `os._exit` rather than `sys.exit`: no interpreter teardown runs C++ destructors of a half-loaded
    extension, and CPython cannot re-kill itself with SIGINT at exit (which an interrupt that crossed
    C code leaves armed, and which would replace 130 by "killed by signal 2").
    """
    line = b"convprof: terminated\n" if terminated else b"convprof: interrupted\n"
    for stream in (sys.stdout, sys.stderr):
        # A closed, full or broken stream; or one this signal interrupted mid-write (reentrant).
        with contextlib.suppress(OSError, ValueError, RuntimeError):
            stream.flush()
    try:
        descriptor = sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):  # none, replaced by a stream without one, or closed
        descriptor = 2
    with contextlib.suppress(OSError):
        os.write(descriptor, line)
    os._exit(EXIT_TERMINATED if terminated else EXIT_INTERRUPTED)


def _end_now(signum: int, frame: FrameType | None) -> NoReturn:
    stop(signum == signal.SIGTERM)


def _raise_terminated(signum: int, frame: FrameType | None) -> NoReturn:
    raise Terminated


def _set_handlers(sigint: _Handler, sigterm: _Handler) -> None:
    # An ignored SIGINT is the shell shielding a background job from Ctrl-C: leave it ignored.
    if signal.getsignal(signal.SIGINT) is not signal.SIG_IGN:
        signal.signal(signal.SIGINT, sigint)
    signal.signal(signal.SIGTERM, sigterm)


def end_at_once() -> None:
    """Make SIGINT and SIGTERM end the process on the spot, then let them in (the entry point's first act).

    Signals held back since the process started (a parent may start it with them blocked) arrive
    here and end it with 130 or 143 before any other module loads.
    """
    _set_handlers(_end_now, _end_now)
    _State.cli_owns_signals = True
    signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOPPING)


def install() -> None:
    """Make SIGINT raise KeyboardInterrupt and SIGTERM raise `Terminated`, so that clean-up runs."""
    _set_handlers(signal.default_int_handler, _raise_terminated)
    _State.cli_owns_signals = True
    signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOPPING)


@contextlib.contextmanager
def raising_is_unsafe() -> Iterator[None]:
    """Keep SIGINT and SIGTERM from raising inside the block (a C extension running Python).

    Under the CLI a signal ends the process at once (the block must hold nothing to clean up);
    elsewhere, or off the main thread, both are blocked and delivered as soon as the block ends.
    """
    if _State.cli_owns_signals and threading.current_thread() is threading.main_thread():
        previous = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
        _set_handlers(_end_now, _end_now)
        try:
            yield
        finally:
            if previous[0] is not signal.SIG_IGN:
                signal.signal(signal.SIGINT, previous[0])
            signal.signal(signal.SIGTERM, previous[1])
        return
    with held():
        yield


@contextlib.contextmanager
def held() -> Iterator[None]:
    """Block SIGINT and SIGTERM in the block; one that came meanwhile is acted on as it ends."""
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, _STOPPING)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
