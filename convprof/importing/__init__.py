"""Read a torch nn.Module as a spec: trace it, map its ops onto the registry's kinds, write the YAML.

The spec is written as text and parsed back, so an imported model and its saved YAML are the same
spec by construction (the round trip is checked on every import). The model's code (its forward, run
by the trace) runs inside `usercode.user_code`, as loading it does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from convprof import __version__
from convprof.importing.tracing import ModelImportError, OpaqueOps, UnusedParameters, trace_module
from convprof.importing.usercode import user_code
from convprof.importing.writer import write_spec
from convprof.spec import ModelSpec, Shape
from convprof.spec.parse import parse_spec
from convprof.units import format_shape

if TYPE_CHECKING:
    import torch

__all__ = [
    "ImportResult",
    "ModelImportError",
    "OpaqueOps",
    "UnusedParameters",
    "from_module",
    "import_module",
]


@dataclass(frozen=True, slots=True)
class ImportResult:
    """An imported module: its spec, the spec's text and what the spec leaves out."""

    spec: ModelSpec
    """The parsed spec, exactly as `text` parses."""
    text: str
    """The spec as YAML."""
    unused: tuple[UnusedParameters, ...]
    """Modules with parameters or buffers the traced graph never uses (not counted)."""
    opaque: tuple[OpaqueOps, ...] = ()
    """Ops kept as opaque nodes (`allow_unknown`), most frequent first."""

    def notes(self) -> list[str]:
        """Return what a command says about the import on stderr: modules never called, opaque ops."""
        lines = [
            f"{entry.path} is never called: its {entry.params:,} parameters and {entry.buffers:,} "
            "buffer elements are not in the spec"
            for entry in self.unused
        ]
        if self.opaque:
            total = sum(entry.count for entry in self.opaque)
            listed = "; ".join(_opaque_entries(self.opaque))
            which = "its" if total == 1 else "their"
            lines.append(
                f"{total} op{'s' if total != 1 else ''} kept opaque (--allow-unknown): {listed}; "
                f"{which} MACs, FLOPs and element-wise ops are unknown, so those totals are lower bounds"
            )
        return lines


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


#: Opaque ops a note or a header names before it says how many more there are.
_LISTED = 12


def _opaque_entries(opaque: tuple[OpaqueOps, ...]) -> list[str]:
    listed = [f"{entry.count} x {entry.op} at {entry.where}" for entry in opaque[:_LISTED]]
    if len(opaque) > _LISTED:
        listed.append(f"and {len(opaque) - _LISTED} more")
    return listed


def _opaque_lines(opaque: tuple[OpaqueOps, ...]) -> list[str]:
    if not opaque:
        return []
    lines = [
        "Kept opaque (--allow-unknown): ops convprof cannot count, with their shapes, parameters and",
        "buffers; their MACs, FLOPs and element-wise ops are unknown, so those totals are lower bounds:",
    ]
    return lines + [f"  {entry}" for entry in _opaque_entries(opaque)]


def import_module(
    module: torch.nn.Module,
    input_shape: Shape,
    *,
    name: str | None = None,
    source: str | None = None,
    allow_unknown: bool = False,
) -> ImportResult:
    """Trace `module` at one sample of `input_shape` and return its spec; raise ModelImportError.

    With `allow_unknown`, an op no kind reads whose result the model uses as one batched tensor is
    kept as an `opaque` node (its shapes, parameters and buffers exact, its arithmetic unknown)
    instead of ending the import; the other unsupported ops still end it."""
    import torch

    shape = tuple(int(size) for size in input_shape)
    origin = source or f"{type(module).__module__}.{type(module).__qualname__}"
    with user_code(f"{origin}: running the model"):  # the trace runs the model's forward
        traced = trace_module(module, shape, allow_unknown=allow_unknown)
    name = name or type(module).__name__.lower()
    header = [
        f"Imported from {origin} at input {format_shape(shape)} by convprof {__version__} "
        f"(torch {torch.__version__}).",
        "Paths are the torch module names; re-import rather than edit to follow the model.",
        *_output_lines(traced.output),
        *_unused_lines(traced.unused),
        *_opaque_lines(traced.opaque),
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
    return ImportResult(spec, text, traced.unused, traced.opaque)


def from_module(module: torch.nn.Module, input_shape: Shape, *, allow_unknown: bool = False) -> ModelSpec:
    """Return the spec of `module` for one sample of `input_shape` (channels first, no batch).

    With `allow_unknown`, ops convprof cannot count are kept as opaque nodes (see `import_module`)."""
    return import_module(module, input_shape, allow_unknown=allow_unknown).spec
