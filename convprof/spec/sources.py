"""Read a spec's bytes from a path, a built-in example's name or `-` (standard input).

A path always wins over an example's name. A model reference is read above this floor, where the
importer is (`convprof.commands.sources`)."""

from __future__ import annotations

import difflib
import sys
from dataclasses import dataclass
from pathlib import Path

from convprof import signals
from convprof.errors import UsageError
from convprof.inputs import NotAFile, read_limited
from convprof.spec.examples import example_names, read_example

__all__ = ["MAX_SPEC_BYTES", "STDIN", "SpecSource", "read_spec_text"]

#: Largest spec file read; a 10,000-layer spec is about 0.5 MB.
MAX_SPEC_BYTES = 16 * 1024 * 1024
#: The SPEC argument that reads the spec from standard input.
STDIN = "-"


@dataclass(frozen=True, slots=True)
class SpecSource:
    """The text of a spec and how to name it."""

    data: bytes
    """The file's bytes."""
    display: str
    """The path as the user gave it, `<example:NAME>` or `<stdin>`."""
    stem: str
    """The default spec name: the file's stem, the example's name, or `stdin`."""


def _too_large(display: str) -> UsageError:
    return UsageError(
        f"{display}: larger than {MAX_SPEC_BYTES // 2**20} MiB; a spec is a short list of layers"
    )


def _read_stdin() -> SpecSource:
    """Read a spec piped to standard input, up to the same limit as a file."""
    stream = sys.stdin
    if stream is None:
        raise UsageError(
            "-: no standard input to read the spec from; pipe one in (convprof compare - < net.yaml)"
        )
    if stream.isatty():  # waiting for a spec typed at the keyboard would look like a hang
        raise UsageError("-: standard input is a terminal; pipe a spec in (convprof compare - < net.yaml)")
    try:
        with signals.interruptible():  # a writer that never ends is stopped by Ctrl-C, always
            data = stream.buffer.read(MAX_SPEC_BYTES + 1)
    except OSError as exc:
        raise UsageError(f"<stdin>: cannot read: {exc.strerror}") from exc
    if len(data) > MAX_SPEC_BYTES:
        raise _too_large("<stdin>")
    return SpecSource(data, "<stdin>", "stdin")


def read_spec_text(argument: str) -> SpecSource:
    """Read a spec from a path, standard input (`-`) or the built-in example of that name."""
    if argument == STDIN:
        return _read_stdin()
    path = Path(argument)
    if path.exists():
        try:
            # Only a regular file, looked at before it is opened: an oversized one is refused
            # unread, and a FIFO (which would wait for a writer) or a device unopened.
            data = read_limited(path, MAX_SPEC_BYTES)
        except NotAFile as exc:
            if exc.kind == "a directory":
                raise UsageError(f"{argument}: is a directory; give a spec file (.yaml)") from None
            raise UsageError(
                f"{argument}: is {exc.kind}, not a regular file; give a spec file, or pipe the spec to "
                "`-` (convprof compare - < FILE)"
            ) from None
        except OSError as exc:
            raise UsageError(f"{argument}: cannot read: {exc.strerror}") from exc
        if data is None:
            raise _too_large(argument)
        return SpecSource(data, argument, path.stem)
    example = read_example(argument)
    if example is not None:
        return SpecSource(example, f"<example:{argument}>", argument)
    names = example_names()
    match = difflib.get_close_matches(argument, names, n=1)
    hint = f"did you mean {match[0]}? " if match else ""
    raise UsageError(
        f"{argument}: no such file or built-in example ({hint}`convprof examples` lists them; a "
        "PyTorch model is named package.module:callable)"
    )
