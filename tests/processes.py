"""convprof in child processes: the command that starts it, the fork server behind that command, and
explicit dispositions for tests that signal it, none left running.

`CONVPROF` starts convprof through this test process's fork server (tests/forkserver.py): a real
process, as `python -m convprof` would be, without paying the interpreter's start and torch's import
each time. `FRESH` starts a new interpreter, for the tests of start-up itself (a signal at any
instant from the first, what is imported when).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

#: The fork server's program (also its client).
FORKSERVER = Path(__file__).resolve().with_name("forkserver.py")
#: Where this process's fork server listens.
SOCKET = Path(tempfile.gettempdir()) / f"convprof-forkserver-{os.getpid()}.sock"
#: Set to run every command in a new interpreter: the server is not started.
FRESH_VARIABLE = "CONVPROF_TEST_FRESH"


def served(module: str) -> list[str]:
    """The command that runs `python -m MODULE` as a child of the fork server (or, where the server
    cannot stand in for a new interpreter, becomes one). -I -S: the client itself imports nothing
    from the environment or site-packages."""
    return [sys.executable, "-I", "-S", str(FORKSERVER), str(SOCKET), module]


#: convprof's command line, through the fork server.
CONVPROF = served("convprof")
#: convprof's command line in a new interpreter.
FRESH = [sys.executable, "-m", "convprof"]


@contextmanager
def fork_server() -> Iterator[subprocess.Popen[bytes] | None]:
    """Run this process's fork server for the block (none under CONVPROF_TEST_FRESH); it ends, with
    any child still running, when the block ends."""
    if os.environ.get(FRESH_VARIABLE) or not hasattr(os, "pidfd_open"):
        yield None
        return
    SOCKET.unlink(missing_ok=True)
    with open(SOCKET.with_suffix(".log"), "wb") as log:
        server = subprocess.Popen(
            [sys.executable, str(FORKSERVER), "--serve", str(SOCKET)],
            stdin=subprocess.PIPE,
            stdout=log,
            stderr=log,
            start_new_session=True,  # a Ctrl-C at the terminal reaches the tests, not the server's children
        )
    try:
        yield server
    finally:
        assert server.stdin is not None
        server.stdin.close()  # the server's signal to end
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        SOCKET.unlink(missing_ok=True)


#: The signals convprof ends on.
STOPPING = {signal.SIGINT, signal.SIGTERM}


def as_a_foreground_job() -> None:
    """Give the child, before it runs, what an interactive shell gives a foreground job.

    Whatever the test runner inherited: a non-interactive shell starts background jobs with SIGINT
    ignored, and children inherit that. Both signals are also held until convprof's entry point
    takes them, so that one sent in the interpreter's own start-up (the ~50 ms before convprof's
    first line, where no program can answer it) is answered by convprof.
    """
    for signum in STOPPING:
        signal.signal(signum, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_BLOCK, STOPPING)


def as_a_background_job() -> None:
    """Give the child what a non-interactive shell gives a background job: SIGINT ignored."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_BLOCK, STOPPING)


def reap(process: subprocess.Popen[str]) -> None:
    """Kill `process` if it still runs, wait for it and close its pipes: nothing outlives a test."""
    if process.poll() is None:
        process.kill()
    for stream in (process.stdin, process.stdout, process.stderr):
        if stream is not None:
            stream.close()
    process.wait()


@contextmanager
def started(
    args: list[str],
    cwd: Path | None = None,
    *,
    command: list[str] | None = None,
    preexec: Callable[[], None] = as_a_foreground_job,
) -> Iterator[subprocess.Popen[str]]:
    """Run convprof (or `command` + `args`) with piped output; reaped when the block ends, however."""
    process = subprocess.Popen(
        [*(command or CONVPROF), *args],
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=preexec,  # dispositions and mask can only be set in the child
    )
    try:
        yield process
    finally:
        reap(process)
