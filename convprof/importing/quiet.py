"""Run a model's own code without letting what it prints, logs or warns reach convprof's output."""

from __future__ import annotations

import contextlib
import io
import logging
import os
import sys
import warnings
from collections.abc import Iterator

__all__ = ["quiet"]


def _flush() -> None:
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()


@contextlib.contextmanager
def _descriptors() -> Iterator[None]:
    """Point file descriptors 1 and 2 at the null device (a logging handler that holds the real
    stdout, or C code, writes there), where they are real descriptors."""
    saved: list[tuple[int, int]] = []
    try:
        null = os.open(os.devnull, os.O_WRONLY)
    except OSError:
        yield
        return
    try:
        for stream in (sys.__stdout__, sys.__stderr__):
            try:
                fd = stream.fileno() if stream is not None else -1
            except (OSError, ValueError, io.UnsupportedOperation):
                continue
            if fd >= 0:
                saved.append((fd, os.dup(fd)))
                os.dup2(null, fd)
        yield
    finally:
        _flush()
        for fd, copy in saved:
            os.dup2(copy, fd)
            os.close(copy)
        os.close(null)


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Swallow what the code run inside prints, logs and warns (a model's build table, torch's own
    log of a failed shape check); its exceptions still propagate."""
    _flush()
    with contextlib.ExitStack() as stack:
        stack.enter_context(_descriptors())
        stack.enter_context(contextlib.redirect_stdout(io.StringIO()))
        stack.enter_context(contextlib.redirect_stderr(io.StringIO()))
        stack.enter_context(warnings.catch_warnings())
        warnings.simplefilter("ignore")
        previous = logging.root.manager.disable
        logging.disable(logging.CRITICAL)
        try:
            yield
        finally:
            logging.disable(previous)
