"""Read a torch module by running it once on tensors without data, as the registry's kinds.

The model runs as torch runs it (convprof.importing.running), so any Python it holds runs: control
flow on shapes, loops over lists of tensors, `isinstance` checks, asserts. Each module call keeps its
path (torch's module name) and each call inside a module's forward is read as the kinds read it
(convprof.importing.reader), with the shapes torch gave.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

from convprof.importing.graph import ImportedNode
from convprof.importing.pieces import place_name, place_text
from convprof.importing.problems import ModelImportError, OpaqueOps
from convprof.importing.reader import Reader
from convprof.importing.running import TRACE_BATCH, forward_names, run_model
from convprof.importing.tables import ModuleReaders
from convprof.spec import ParameterWork, Shape
from convprof.units import clip, format_shape

if TYPE_CHECKING:
    import torch

__all__ = [
    "TRACE_BATCH",
    "ImportedNode",
    "ModelImportError",
    "OpaqueOps",
    "TracedModel",
    "UnusedParameters",
    "shapes_of",
    "trace_module",
]


@dataclass(frozen=True, slots=True)
class UnusedParameters:
    """Parameters and buffers of a module no node counts (not in the spec)."""

    path: str
    """The module's name (the outermost one never called)."""
    params: int
    """Elements of its parameters."""
    buffers: int
    """Elements of its buffers."""
    called: bool = False
    """True when the module ran but never read these tensors; False when it never ran."""


@dataclass(frozen=True, slots=True)
class TracedModel:
    """A module read back as nodes in topological order."""

    nodes: tuple[ImportedNode, ...]
    """The nodes; the last one is the output."""
    unused: tuple[UnusedParameters, ...]
    """Modules holding parameters or buffers that no node uses."""
    output: str = ""
    """Where the model's output tensor sits when the model returns a container holding one tensor
    (`['out']` of a dict, `[0]` of a tuple); empty when it returns the tensor itself."""
    opaque: tuple[OpaqueOps, ...] = ()
    """Ops kept as opaque nodes, most frequent first; empty unless unknown ops were allowed."""
    work: tuple[ParameterWork, ...] = ()
    """Arithmetic on parameters alone, by the node whose parameters it computes."""
    outputs: tuple[tuple[str, int, str], ...] = ()
    """Where the model returns several tensors: each one's name, node and place in what it returns
    (`1.0`, its node, `[1][0]`); empty when it returns one."""
    input_names: tuple[str, ...] = ()
    """The name of each input (the forward's argument), where the model takes several."""


def _first_line(error: BaseException) -> str:
    lines = [line.strip() for line in str(error).strip().splitlines() if line.strip()]
    return lines[0] if lines else type(error).__name__


def _data_dependent(error: BaseException) -> bool:
    """Return True when the model's code asked for a value a tensor without data does not have."""
    text = str(error)
    names = {cls.__name__ for cls in type(error).__mro__}
    return bool(names & {"DataDependentOutputException", "DynamicOutputShapeException"}) or (
        "meta tensors" in text or "data-dependent" in text or "Cannot access data pointer" in text
    )


def _refusal(module: torch.nn.Module, shapes: Sequence[Shape], error: BaseException) -> ModelImportError:
    """Return the error for a model whose forward raised, in its own words, at its own line."""
    site = getattr(error, "convprof_site", None)
    where = ""
    if site is not None:
        code = site.code()
        where = f" at {site}" + (f" ({clip(code)})" if code else "")
    name = type(module).__name__
    inputs = ", ".join(format_shape(shape) for shape in shapes)
    noun = "input" if len(shapes) == 1 else "inputs"
    if _data_dependent(error):
        return ModelImportError(
            f"{name} cannot run on tensors without data: its code reads a tensor's values{where}; "
            "convprof runs the model on shapes only (meta or fake tensors), so import a submodule "
            "whose forward does not branch on values, or fix the value the code reads"
        )
    return ModelImportError(f"{name} cannot run on a {inputs} {noun}{where}: {_first_line(error)}")


def trace_module(
    module: torch.nn.Module, input_shape: Shape | Sequence[Shape], *, allow_unknown: bool = False
) -> TracedModel:
    """Run `module` for one sample of each input shape and read it back; raise ModelImportError
    listing every op it cannot read.

    With `allow_unknown`, an op no kind reads whose result the model uses as one batched tensor
    becomes an opaque node (shapes, parameters and buffers known, arithmetic not) instead."""
    shapes = shapes_of(input_shape)
    forward_names(module, len(shapes))  # as many inputs as the forward takes tensors
    readers = ModuleReaders()
    reader = Reader(module, readers, allow_unknown)
    try:
        run = run_model(module, shapes, reader)
    except ModelImportError:
        raise
    except Exception as exc:  # the model's own code refused: say so in its words
        raise _refusal(module, shapes, exc) from exc
    reader.finish(run.output)
    if reader.problems:
        raise ModelImportError(reader.problems.message(), reader.problems.ops())
    places = reader.output_places
    if all(node < 0 for _, node in places) and not reader.graph.nodes:
        raise ModelImportError(f"{type(module).__name__} has no op to count: its output is its input")
    from torch import nn

    identity = readers.kind_of(nn.Identity)  # the kind that reads nn.Identity back
    assert identity is not None

    def node_of(result: int, name: str) -> int:
        """Return the node an output is: an identity reading an input the model returns as it is."""
        if result >= 0:
            return result
        path = reader.graph.fresh_name("", name)
        reader.graph.nodes.append(
            ImportedNode(path, identity, identity.Args(), (result,), reader.graph.shape(result))
        )
        reader.graph.node_paths.add(path)
        return len(reader.graph.nodes) - 1

    outputs: tuple[tuple[str, int, str], ...] = ()
    place = ""
    if len(places) == 1:
        ((keys, result),) = places
        place = place_text(keys)
        if result != len(reader.graph.nodes) - 1:
            # The model returns an earlier tensor: an identity node makes it the spec's last one.
            path = reader.graph.fresh_name("", "output")
            reader.graph.nodes.append(
                ImportedNode(path, identity, identity.Args(), (result,), reader.graph.shape(result))
            )
    else:
        outputs = tuple(
            (place_name(keys), node_of(result, "output"), place_text(keys)) for keys, result in places
        )
    called = reader.graph.unused(run.called)
    unused = tuple(UnusedParameters(path or "<top>", p, b, ran) for path, p, b, ran in called)
    names = forward_names(module, len(shapes)) if len(shapes) > 1 else ()
    return TracedModel(
        tuple(reader.graph.nodes), unused, place, reader.problems.kept(), tuple(reader.work), outputs, names
    )


def shapes_of(input_shape: Shape | Sequence[Shape]) -> tuple[Shape, ...]:
    """Return one shape or several as a tuple of shapes."""
    items = list(input_shape)
    if items and all(isinstance(size, int) for size in items):
        return (tuple(int(size) for size in cast("Shape", input_shape)),)
    return tuple(tuple(int(size) for size in shape) for shape in cast("Sequence[Shape]", input_shape))
