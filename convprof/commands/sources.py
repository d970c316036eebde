"""Resolve a SPEC argument to a spec: a path, a built-in example's name, `-`, or a model reference.

An argument that is no path and reads `module:callable` (or `file.py:callable`) is a PyTorch model,
imported (running its code) and written as a spec, so every command that takes a SPEC takes a model
the same way. This sits above both the spec format and the importer."""

from __future__ import annotations

import sys
from dataclasses import dataclass

from convprof.errors import UsageError
from convprof.graph.parse import parse_spec
from convprof.safetext import printable
from convprof.spec import ModelSpec
from convprof.spec.sources import STDIN, SpecSource, read_spec_text

__all__ = ["ModelOptions", "check_model_options", "load_spec", "read_source"]


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


def read_source(argument: str, model: ModelOptions | None = None) -> SpecSource:
    """Read a spec from a path, standard input (`-`), the built-in example of that name, or a model
    reference imported with `model`'s options."""
    if argument != STDIN and _is_reference(argument):
        return _import(argument, model or ModelOptions())
    return read_spec_text(argument)


def load_spec(argument: str, batch_size: int | None = None, model: ModelOptions | None = None) -> ModelSpec:
    """Read and parse the spec `argument` names; `batch_size` replaces the spec's own."""
    source = read_source(argument, model)
    return parse_spec(source.data, source.display, source.stem, batch_size)
