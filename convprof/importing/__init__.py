"""Read a torch nn.Module as a spec: trace it, map its ops onto the registry's kinds, write the YAML.

The spec is written as text and parsed back, so an imported model and its saved YAML are the same
spec by construction (the round trip is checked on every import). The model's code (its forward, run
by the trace) runs inside `usercode.user_code`, as loading it does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from convprof.graph.parse import parse_spec
from convprof.importing.tracing import (
    ImportedNode,
    ModelImportError,
    OpaqueOps,
    TracedModel,
    UnusedParameters,
    shapes_of,
    trace_module,
)
from convprof.importing.usercode import user_code
from convprof.importing.writer import write_spec
from convprof.spec import ModelSpec, Shape
from convprof.units import format_shape
from convprof.version import __version__

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
    frozen: int = 0
    """Layers whose parameters are frozen (requires_grad=False), written `frozen: true`."""

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
        if self.frozen:
            layers = f"{self.frozen} layer{'s' if self.frozen != 1 else ''}"
            lines.append(
                f"{layers} with requires_grad=False written frozen: true: counted apart as frozen "
                "parameters, with no gradient or optimizer state in the training step"
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


def _frozen(module: torch.nn.Module, traced: TracedModel) -> tuple[frozenset[str], frozenset[str]]:
    """Return the paths of the nodes whose parameters are frozen (requires_grad=False), and of those
    whose parameters are trainable; ModelImportError for a node with both, which no spec can say.

    A node's parameters are the module's (or the parameter) at its path, as the tracer named it; the
    parameters of an opaque call read directly by name are those no path and no unused module holds."""
    paths = {node.path for node in traced.nodes}
    found: dict[str, list[torch.nn.Parameter]] = {}
    for node in traced.nodes:
        try:
            sub = module.get_submodule(node.path)
        except AttributeError:
            try:
                found[node.path] = [module.get_parameter(node.path)]
            except AttributeError:
                found[node.path] = []
            continue
        # A module may hold weights and children that are nodes of their own (a layer's path shared
        # by a group): those children's parameters are theirs.
        found[node.path] = [
            p for name, p in sub.named_parameters() if not _under_another(node.path, name, paths)
        ]
    held = {id(p) for parameters in found.values() for p in parameters}
    for entry in traced.unused:
        held.update(id(p) for p in module.get_submodule(entry.path).parameters())
    read_directly = [p for p in module.parameters() if id(p) not in held]
    for node in traced.nodes:
        held_by_name = getattr(node.args, "params", None)  # an opaque op's, read by name in forward
        if not found[node.path] and isinstance(held_by_name, int) and held_by_name > 0:
            found[node.path] = read_directly
    frozen: set[str] = set()
    learned: set[str] = set()
    for path, parameters in found.items():
        if not parameters:
            continue
        states = {p.requires_grad for p in parameters}
        if len(states) > 1:
            names = [name for name, p in _named(module, path, parameters) if not p.requires_grad]
            raise ModelImportError(
                f"{path}: its parameters are partly frozen ({', '.join(names)} with requires_grad=False, "
                "the others trainable); a spec freezes a layer's parameters together: set requires_grad "
                "alike for each module's parameters"
            )
        (frozen if states == {False} else learned).add(path)
    return frozenset(frozen), frozenset(learned)


def _under_another(path: str, name: str, paths: set[str]) -> bool:
    """Return True when parameter `name` of the module at `path` belongs to a submodule that is a node
    of its own."""
    parts = name.split(".")[:-1]
    prefix = f"{path}." if path else ""
    return any(f"{prefix}{'.'.join(parts[:end])}" in paths for end in range(1, len(parts) + 1))


def _named(
    module: torch.nn.Module, path: str, parameters: list[torch.nn.Parameter]
) -> list[tuple[str, torch.nn.Parameter]]:
    """Return `parameters` with their names relative to `path` (their full names where they are not
    under it)."""
    ids = {id(p) for p in parameters}
    named = [(name, p) for name, p in module.named_parameters() if id(p) in ids]
    prefix = f"{path}."
    return [(name.removeprefix(prefix), p) for name, p in named]


def _frozen_lines(frozen: frozenset[str]) -> list[str]:
    if not frozen:
        return []
    count = f"{len(frozen)} layer{'s' if len(frozen) != 1 else ''}"
    return [
        f"Frozen: {count} whose parameters have requires_grad=False, written frozen: true (no gradient",
        "and no optimizer state in a training step).",
    ]


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

    origin = source or f"{type(module).__module__}.{type(module).__qualname__}"
    with user_code(f"{origin}: running the model"):  # the trace runs the model's forward
        traced = trace_module(module, input_shape, allow_unknown=allow_unknown)
    shapes = shapes_of(input_shape)
    name = name or type(module).__name__.lower()
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
    frozen, learned = _frozen(module, traced)
    header += _frozen_lines(frozen)
    outputs = tuple((output, index) for output, index, _ in traced.outputs)
    description = f"imported from {origin}"
    text = write_spec(
        name, description, inputs, traced.nodes, header, traced.work, outputs, frozen=frozen, learned=learned
    )
    spec = parse_spec(text.encode(), f"<import:{origin}>", name)
    written = [
        (n.path, n.kind.name if n.kind else "", n.args, n.inputs, n.path in frozen) for n in traced.nodes
    ]
    parsed = [(n.path, n.kind, n.args, n.inputs, n.frozen) for n in spec.nodes]
    if written != parsed or spec.parameter_work != traced.work or spec.outputs != outputs:
        # The writer and the parser disagree: a bug, never the user's.
        first = next((i for i, (a, b) in enumerate(zip(written, parsed, strict=False)) if a != b), 0)
        raise ModelImportError(
            f"{written[first][0] if written else name}: the written spec reads back differently; this is "
            "a bug in convprof: please report it with the model"
        )
    return ImportResult(spec, text, traced.unused, traced.opaque, len(frozen))


def from_module(
    module: torch.nn.Module, input_shape: Shape | Sequence[Shape], *, allow_unknown: bool = False
) -> ModelSpec:
    """Return the spec of `module` for one sample of `input_shape` (channels first, no batch; one
    shape per tensor the forward takes, where it takes several).

    With `allow_unknown`, ops convprof cannot count are kept as opaque nodes (see `import_module`)."""
    return import_module(module, input_shape, allow_unknown=allow_unknown).spec
