"""The one door through which a model's own code runs: importing it, building it, running its forward.

Importing a model reference runs code convprof did not write. Whatever that code does, convprof's
own output and files stay as the user asked for them. Every run of it (loading the module or file,
calling the callable, tracing or running the forward, whatever tracer does it) goes inside
`user_code(what)`, which

- sends the code's standard output to stderr, both Python's `sys.stdout` and file descriptor 1 (a C
  extension's printf), so that a model that prints leaves the spec or JSON on stdout intact;
- puts the working directory back as it was when the code returns, so that a model that changes
  directory moves no relative path the user gave (commands also make their output paths absolute
  before any model code runs);
- points torch's compile cache (TORCHINDUCTOR_CACHE_DIR, unless the user set it) at a private
  temporary directory, removed when the outermost block ends or a signal ends the run, so that the
  `torchinductor_<user>` directory torch makes in TMPDIR when a model's code imports torch._dynamo is
  not left behind;
- writes no bytecode for the modules the code imports (Python would leave `__pycache__/` beside a
  model's file or package; bytecode already there is still read);
- turns a BaseException that is not an Exception (SystemExit, KeyboardInterrupt raised by the code
  itself, GeneratorExit, a class of the model's own) into one UsageError, `WHAT raised NAME: first
  line`: under the CLI a real Ctrl-C never raises, it ends the process (a library caller's
  KeyboardInterrupt is left alone). An ordinary Exception is left to the caller, who says best what
  failed.

Blocks nest: the outermost does the redirections; each converts what its own code raised.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator

from convprof import signals
from convprof.errors import ConvprofError, UsageError

__all__ = ["CACHE_VARIABLE", "first_line", "user_code"]

#: Where torch's inductor and dynamo keep their cache; torch makes `TMPDIR/torchinductor_<user>`
#: when it is unset.
CACHE_VARIABLE = "TORCHINDUCTOR_CACHE_DIR"
#: Characters of a model's message a line quotes: its first line, cut short.
_MESSAGE_CHARS = 300


class _Depth:
    """How many `user_code` blocks are open (the outermost does the redirections)."""

    open = 0


def first_line(error: BaseException) -> str:
    """Return `Name: first line of its message`, cut short, as messages quote a model's exception."""
    lines = [line for line in str(error).strip().splitlines() if line.strip()]
    if not lines:
        return type(error).__name__
    text = lines[0].strip()
    if len(text) > _MESSAGE_CHARS:
        text = text[: _MESSAGE_CHARS - 3] + "..."
    return f"{type(error).__name__}: {text}"


@contextlib.contextmanager
def _stdout_to_stderr() -> Iterator[None]:
    """Send what is written to stdout (by Python or through descriptor 1) to stderr in the block."""
    original = sys.stdout
    with contextlib.suppress(OSError, ValueError, AttributeError):
        original.flush()  # what convprof wrote before goes to stdout first
    try:
        saved: int | None = os.dup(1)
        os.dup2(2, 1)
    except OSError:  # no descriptor 1 or 2 to work with: Python's stream alone is redirected
        saved = None
    sys.stdout = sys.stderr
    try:
        yield
    finally:
        # Flush while descriptor 1 still leads to stderr: the code may hold the original stream.
        for stream in (sys.stdout, original, sys.__stdout__, sys.stderr):
            with contextlib.suppress(OSError, ValueError, AttributeError):
                if stream is not None:
                    stream.flush()
        sys.stdout = original
        if saved is not None:
            os.dup2(saved, 1)
            os.close(saved)


@contextlib.contextmanager
def _private_torch_cache() -> Iterator[None]:
    """Point torch's compile cache at a temporary directory for the block, then remove it."""
    if os.environ.get(CACHE_VARIABLE):
        yield
        return
    directory = tempfile.mkdtemp(prefix="convprof-torch-")
    try:
        with signals.removed_on_stop(directory):
            os.environ[CACHE_VARIABLE] = directory
            try:
                yield
            finally:
                os.environ.pop(CACHE_VARIABLE, None)
    finally:
        shutil.rmtree(directory, ignore_errors=True)


@contextlib.contextmanager
def _no_bytecode_written() -> Iterator[None]:
    """Import the model's modules without writing their bytecode (`__pycache__/` beside the code)."""
    before = sys.dont_write_bytecode
    sys.dont_write_bytecode = True
    try:
        yield
    finally:
        sys.dont_write_bytecode = before


@contextlib.contextmanager
def user_code(what: str) -> Iterator[None]:
    """Run the block as a model's own code (see the module's docstring); `what` names it in messages,
    e.g. `net.py:build: calling build`."""
    outermost = _Depth.open == 0
    _Depth.open += 1
    directory = os.getcwd() if outermost else None
    try:
        with contextlib.ExitStack() as stack:
            if outermost:
                stack.enter_context(_private_torch_cache())
                stack.enter_context(_stdout_to_stderr())
                stack.enter_context(_no_bytecode_written())
            yield
    except (ConvprofError, Exception):
        raise
    except KeyboardInterrupt:
        if not signals.taken():  # a library caller's own Ctrl-C: theirs to handle
            raise
        raise UsageError(f"{what} raised KeyboardInterrupt") from None
    except BaseException as exc:  # the model's own: SystemExit, GeneratorExit, a class of its own
        raise UsageError(f"{what} raised {first_line(exc)}") from None
    finally:
        _Depth.open -= 1
        if directory is not None:
            with contextlib.suppress(OSError):  # removed by the code meanwhile: paths are absolute
                os.chdir(directory)
