"""Read a torch nn.Module as a spec: trace it, map its ops onto the registry's kinds, write the YAML.

The spec is written as text and parsed back, so an imported model and its saved YAML are the same
spec by construction (the round trip is checked on every import).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from convprof import __version__
from convprof.importing.tracing import ModelImportError, UnusedParameters, trace_module
from convprof.importing.writer import write_spec
from convprof.spec import ModelSpec, Shape
from convprof.spec.parse import parse_spec
from convprof.units import format_shape

if TYPE_CHECKING:
    import torch

__all__ = ["ImportResult", "ModelImportError", "UnusedParameters", "from_module", "import_module"]


@dataclass(frozen=True, slots=True)
class ImportResult:
    """An imported module: its spec, the spec's text and what the spec leaves out."""

    spec: ModelSpec
    """The parsed spec, exactly as `text` parses."""
    text: str
    """The spec as YAML."""
    unused: tuple[UnusedParameters, ...]
    """Modules with parameters or buffers the traced graph never uses (not counted)."""


def _output_lines(place: str) -> list[str]:
    if not place:
        return []
    return [f"The spec's output is the model's output{place}, the one tensor it returns."]


def _unused_lines(unused: tuple[UnusedParameters, ...]) -> list[str]:
    if not unused:
        return []
    lines = ["Not counted: modules the traced forward never uses (parameters, buffers):"]
    lines += [
        f"  {entry.path}: {entry.params:,} parameters, {entry.buffers:,} buffer elements" for entry in unused
    ]
    return lines


def import_module(
    module: torch.nn.Module, input_shape: Shape, *, name: str | None = None, source: str | None = None
) -> ImportResult:
    """Trace `module` at one sample of `input_shape` and return its spec; raise ModelImportError."""
    import torch

    shape = tuple(int(size) for size in input_shape)
    traced = trace_module(module, shape)
    name = name or type(module).__name__.lower()
    origin = source or f"{type(module).__module__}.{type(module).__qualname__}"
    header = [
        f"Imported from {origin} at input {format_shape(shape)} by convprof {__version__} "
        f"(torch {torch.__version__}).",
        "Paths are the torch module names; re-import rather than edit to follow the model.",
        *_output_lines(traced.output),
        *_unused_lines(traced.unused),
    ]
    text = write_spec(name, f"imported from {origin}", shape, traced.nodes, header)
    spec = parse_spec(text.encode(), f"<import:{origin}>", name)
    written = [(n.path, n.kind.name if n.kind else "", n.args, n.inputs) for n in traced.nodes]
    parsed = [(n.path, n.kind, n.args, n.inputs) for n in spec.nodes]
    if written != parsed:  # the writer and the parser disagree: a bug, never the user's
        first = next(i for i, (a, b) in enumerate(zip(written, parsed, strict=False)) if a != b)
        raise ModelImportError(
            f"{written[first][0]}: the written spec reads back differently; this is a bug in convprof: "
            "please report it with the model"
        )
    return ImportResult(spec, text, traced.unused)


def from_module(module: torch.nn.Module, input_shape: Shape) -> ModelSpec:
    """Return the spec of `module` for one sample of `input_shape` (channels first, no batch)."""
    return import_module(module, input_shape).spec
