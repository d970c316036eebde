"""convprof in child processes for tests that signal them: explicit dispositions, none left running."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

CONVPROF = [sys.executable, "-m", "convprof"]
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
