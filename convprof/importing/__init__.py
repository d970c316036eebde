"""Read a torch nn.Module as a spec: trace it, map its ops onto the registry's kinds, write the YAML.

The spec is written as text and parsed back, so an imported model and its saved YAML are the same
spec by construction (the round trip is checked on every import).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from convprof import __version__
from convprof.importing.tracing import (
    ImportedNode,
    ModelImportError,
    OpaqueOps,
    UnusedParameters,
    shapes_of,
    trace_module,
)
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
            f"{entry.path} runs but never reads {entry.params:,} of its parameters and {entry.buffers:,} "
            "of its buffer elements: they are not in the spec"
            if entry.called
            else f"{entry.path} is never called: its {entry.params:,} parameters and {entry.buffers:,} "
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


def _input_names(names: tuple[str, ...], nodes: tuple[ImportedNode, ...]) -> tuple[str, ...]:
    """Return the spec's names of several inputs: the forward's arguments, unless a layer already
    has one of them as its name (then `input_` before each)."""
    taken = {node.path.rsplit(".", 1)[-1] for node in nodes} | {"input"}
    if any(name in taken for name in names):
        return tuple(f"input_{name}" for name in names)
    return names


def _outputs_lines(outputs: tuple[tuple[str, int, str], ...]) -> list[str]:
    if not outputs:
        return []
    listed = ", ".join(f"{name} is output{place}" for name, _, place in outputs[:_LISTED])
    more = f" and {len(outputs) - _LISTED} more" if len(outputs) > _LISTED else ""
    return [
        f"The spec's {len(outputs)} outputs are the tensors the model returns, named by where they sit: "
        f"{listed}{more}."
    ]


def import_module(
    module: torch.nn.Module,
    input_shape: Shape | Sequence[Shape],
    *,
    name: str | None = None,
    source: str | None = None,
    allow_unknown: bool = False,
) -> ImportResult:
    """Run `module` once at one sample of each input shape and return its spec; raise ModelImportError.

    `input_shape` is one shape, or one per tensor the forward takes. With `allow_unknown`, an op no
    kind reads whose result the model uses as one batched tensor is kept as an `opaque` node (its
    shapes, parameters and buffers exact, its arithmetic unknown) instead of ending the import; the
    other unsupported ops still end it."""
    import torch

    traced = trace_module(module, input_shape, allow_unknown=allow_unknown)
    shapes = shapes_of(input_shape)
    name = name or type(module).__name__.lower()
    origin = source or f"{type(module).__module__}.{type(module).__qualname__}"
    inputs: Shape | tuple[tuple[str, Shape], ...] = shapes[0]
    if len(shapes) > 1:
        inputs = tuple(zip(_input_names(traced.input_names, traced.nodes), shapes, strict=True))
    at = ", ".join(format_shape(shape) for shape in shapes)
    header = [
        f"Imported from {origin} at input{'s' if len(shapes) > 1 else ''} {at} by convprof {__version__} "
        f"(torch {torch.__version__}).",
        "Paths are the torch module names; re-import rather than edit to follow the model.",
        *_output_lines(traced.output),
        *_outputs_lines(traced.outputs),
        *_unused_lines(traced.unused),
        *_opaque_lines(traced.opaque),
    ]
    outputs = tuple((output, index) for output, index, _ in traced.outputs)
    description = f"imported from {origin}"
    text = write_spec(name, description, inputs, traced.nodes, header, traced.work, outputs)
    spec = parse_spec(text.encode(), f"<import:{origin}>", name)
    written = [(n.path, n.kind.name if n.kind else "", n.args, n.inputs) for n in traced.nodes]
    parsed = [(n.path, n.kind, n.args, n.inputs) for n in spec.nodes]
    if written != parsed or spec.parameter_work != traced.work or spec.outputs != outputs:
        # The writer and the parser disagree: a bug, never the user's.
        first = next((i for i, (a, b) in enumerate(zip(written, parsed, strict=False)) if a != b), 0)
        raise ModelImportError(
            f"{written[first][0] if written else name}: the written spec reads back differently; this is "
            "a bug in convprof: please report it with the model"
        )
    return ImportResult(spec, text, traced.unused, traced.opaque)


def from_module(
    module: torch.nn.Module, input_shape: Shape | Sequence[Shape], *, allow_unknown: bool = False
) -> ModelSpec:
    """Return the spec of `module` for one sample of `input_shape` (channels first, no batch; one
    shape per tensor the forward takes, where it takes several).

    With `allow_unknown`, ops convprof cannot count are kept as opaque nodes (see `import_module`)."""
    return import_module(module, input_shape, allow_unknown=allow_unknown).spec
