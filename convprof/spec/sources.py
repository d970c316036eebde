"""Resolve a SPEC argument to its bytes: a path, a built-in example's name, `-`, or a model reference.

A path always wins over an example's name; an argument that is neither and reads `module:callable`
(or `file.py:callable`) is a PyTorch model, imported (running its code) and written as a spec, so
every command that takes a SPEC takes a model the same way."""

from __future__ import annotations

import difflib
import sys
from dataclasses import dataclass
from pathlib import Path

from convprof import signals
from convprof.errors import UsageError
from convprof.inputs import NotAFile, read_limited
from convprof.safetext import printable
from convprof.spec import ModelSpec
from convprof.spec.examples import example_names, read_example
from convprof.spec.parse import parse_spec

__all__ = [
    "MAX_SPEC_BYTES",
    "STDIN",
    "ModelOptions",
    "SpecSource",
    "check_model_options",
    "load_spec",
    "read_source",
]

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


@dataclass(frozen=True, slots=True)
class ModelOptions:
    """How a model reference is imported: `--input` and `--kwargs` as given."""

    input: tuple[str, ...] = ()
    """One sample's shape (3x224x224), once per tensor the model's forward takes; a reference needs it."""
    kwargs: str | None = None
    """Keyword arguments of the reference's callable, as YAML or JSON."""
    allow_unknown: bool = False
    """Keep ops convprof cannot count as opaque nodes (`--allow-unknown`) instead of failing."""
    notes: bool = True
    """Say on stderr what the import left out or kept opaque (a sweep's later imports do not repeat it)."""


def _is_reference(argument: str) -> bool:
    if ":" not in argument:  # a spec's path or an example's name: the importer is not even loaded
        return False
    from convprof.importing.refs import is_reference

    return is_reference(argument)


def check_model_options(arguments: list[str] | tuple[str, ...], options: ModelOptions) -> None:
    """Refuse --input or --kwargs when no argument is a model reference (a spec writes its input)."""
    given = [
        flag
        for flag, value in (
            ("--input", options.input),
            ("--kwargs", options.kwargs),
            ("--allow-unknown", options.allow_unknown),
        )
        if value
    ]
    if given and not any(_is_reference(argument) for argument in arguments):
        raise UsageError(
            f"{' and '.join(given)} {'is' if len(given) == 1 else 'are'} for a model reference "
            "(package.module:callable or file.py:callable); a spec writes its own input"
        )


def _import(reference: str, options: ModelOptions) -> SpecSource:
    """Import the model `reference` names and return its spec's text."""
    from convprof.importing import import_module
    from convprof.importing.refs import load_reference, parse_input, parse_kwargs, reference_name

    if not options.input:
        raise UsageError(
            f"{reference}: a model reference needs --input, one sample's shape such as 3x224x224"
        )
    shapes = [parse_input(text) for text in options.input]
    model = load_reference(reference, parse_kwargs(options.kwargs))
    name = reference_name(reference)
    result = import_module(model, shapes, name=name, source=reference, allow_unknown=options.allow_unknown)
    for line in result.notes() if options.notes else ():
        print(printable(f"convprof: note: {line}"), file=sys.stderr)
    return SpecSource(result.text.encode(), f"<import:{reference}>", name)


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


def read_source(argument: str, model: ModelOptions | None = None) -> SpecSource:
    """Read a spec from a path, standard input (`-`), the built-in example of that name, or a model
    reference imported with `model`'s options."""
    if argument == STDIN:
        return _read_stdin()
    if _is_reference(argument):
        return _import(argument, model or ModelOptions())
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


def load_spec(argument: str, batch_size: int | None = None, model: ModelOptions | None = None) -> ModelSpec:
    """Read and parse the spec `argument` names; `batch_size` replaces the spec's own."""
    source = read_source(argument, model)
    return parse_spec(source.data, source.display, source.stem, batch_size)
