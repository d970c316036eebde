"""A leaf module's call (one a kind reads as a whole) as the kind that reads its class."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from convprof.importing.arguments import Found
from convprof.importing.pieces import Pending, take_several
from convprof.importing.running import TRACE_BATCH, ModuleCall, tensors_in
from convprof.importing.tables import ModuleReaders, type_name
from convprof.importing.values import Activation, per_sample
from convprof.kinds import ShapeError
from convprof.kinds.calls import TENSOR, NotImportable
from convprof.spec import Shape

if TYPE_CHECKING:
    import torch

    from convprof.importing.reader import Reader

__all__ = ["read_module", "same_shape"]


def same_shape(readers: ModuleReaders, module: torch.nn.Module) -> Callable[[Shape], bool] | None:
    """Return, for a leaf module a kind reads that lays its output out like its input (an
    activation, a batch norm), whether its output has its input's shape; None for another."""
    kind = readers.kind_of(type(module))
    if kind is None or not kind.keeps_layout or kind.arity != (1, 1):
        return None
    try:
        args = kind.from_module(module)
    except NotImportable:
        return None

    def test(shape: Shape) -> bool:
        try:
            return kind.node_output_shape(args, (shape,)) == shape
        except ShapeError:
            return False

    return test


def read_module(reader: Reader, call: ModuleCall) -> None:
    """Read a leaf module's call: the kind that reads its class, at its path, with its own
    tensors counted once; listed (or opaque) when no kind reads it as called."""
    import torch

    module = call.module
    op = type_name(type(module))
    kind = reader.readers.kind_of(type(module))
    found = Found()
    args = reader.arguments.gather(call.args, found)
    kwargs = reader.arguments.gather(call.kwargs, found)
    output = call.output
    if found.failed:
        reader.failures.mark_failed(output)
        return
    if not isinstance(output, torch.Tensor):
        pieces = list(tensors_in(output))
        if pieces and isinstance(output, list | tuple):
            reason = "its result is not one batched tensor" if kind is not None else ""
            pending = Pending(
                op, call.path, call.site, args, kwargs, tuple(found.inputs), output, module, reason
            )
            take_several(reader, pending)
            return
        reader.failures.fail(
            op, call.path, "its result is not one batched tensor", call.site, found, output, module=module
        )
        return
    if kind is None:
        reader.failures.fail(op, call.path, "", call.site, found, output, module=module)
        return
    if output.dim() < 1 or output.shape[0] != TRACE_BATCH:
        reader.failures.fail(
            op, call.path, "its result is not one batched tensor", call.site, found, output, module=module
        )
        return
    lowest, highest = kind.arity
    if (
        kwargs
        or any(a is not TENSOR for a in args)
        or found.parameters
        or found.buffers
        or found.constants
        or found.derived
        or found.stacked
        or not lowest <= len(found.inputs) <= (highest or len(found.inputs))
    ):
        reason = "called with other arguments than its input tensor"
        if not found.inputs and (found.constants or found.buffers):
            # EdgeNeXt's positional encoding: a convolution of a tensor made from constants (one
            # per sample of the batch). Its cost is per sample, but a spec's layers read activations.
            reason = "called on a tensor the model makes from constants, not on one of its activations"
        reader.failures.fail(op, call.path, reason, call.site, found, output, module=module)
        return
    weights = [id(t) for t in (*module.parameters(), *module.buffers())]
    if any(w in reader.graph.counted for w in weights):
        reader.failures.fail(
            op,
            call.path,
            "its weights are shared with another call",
            call.site,
            found,
            output,
            module=module,
        )
        return
    try:
        module_args = kind.from_module(module)
    except NotImportable as exc:
        reader.failures.fail(op, call.path, str(exc), call.site, found, output, module=module)
        return
    shape = per_sample(tuple(output.shape))
    index = reader.graph.add(
        call.path, ((kind, module_args),), tuple(found.inputs), shape, call.path, op, call.site
    )
    if index is None:
        reader.failures.mark_failed(output)
        return
    reader.graph.counted.update(weights)
    reader.values.set(output, Activation(index))
