"""Results of several tensors, read piece by piece as the model uses them (`x1, x2 = x.chunk(2, 1)`,
an LSTM's output and state), and what the model computed and never used in a form no kind reads."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from convprof.importing.arguments import Found
from convprof.importing.calls import CallSite
from convprof.importing.graph import base_name
from convprof.importing.running import TRACE_BATCH
from convprof.importing.values import FAILED, Activation, ModelTensor, Piece, Several, per_sample
from convprof.kinds.calls import TorchCall

if TYPE_CHECKING:
    import torch

    from convprof.importing.reader import Reader

__all__ = [
    "Pending",
    "place_name",
    "place_text",
    "places",
    "read_piece",
    "take_several",
    "unread",
]


@dataclass
class Pending:
    """A call whose result is several tensors, read piece by piece."""

    op: str
    """The op's name (a module class's for a leaf module)."""
    scope: str
    """The path of the module whose forward made it (the leaf module's own path)."""
    site: CallSite | None
    """Where the model's code made it."""
    args: Any
    """Its positional arguments, as a TorchCall holds them."""
    kwargs: Any
    """Its keyword arguments, the same way."""
    inputs: tuple[int, ...]
    """The nodes it reads."""
    output: Any
    """What it returned."""
    module: torch.nn.Module | None = None
    """The leaf module, for a module's call."""
    reason: str = ""
    """Why a module's pieces are not read (its kind reads one tensor)."""
    listed: bool = False
    """Whether the call is listed as unsupported (once, whichever piece is read)."""
    names: list[str] = field(default_factory=list)
    """The path each piece's node takes, held when the call is made."""


def places(value: Any, keys: tuple[Any, ...] = ()) -> Any:
    """Yield (keys, item) for each item of a nested dict, list or tuple: (`'out'`,), (1, 0)."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield from places(item, (*keys, key))
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from places(item, (*keys, index))
    else:
        yield keys, value


def place_text(keys: tuple[Any, ...]) -> str:
    """Return where an item sits as Python indexes it: `['out']`, `[1][0]`."""
    return "".join(f"[{key!r}]" for key in keys)


def place_name(keys: tuple[Any, ...]) -> str:
    """Return an output's name from where it sits: `out`, `1.0`; `output` for the tensor itself."""
    text = ".".join(str(key) for key in keys)
    return "".join(c if c.isprintable() else "?" for c in text) or "output"


def take_several(reader: Reader, pending: Pending) -> None:
    """Take a call whose result is several tensors: each is read when the model uses it."""
    several = Several(pending.op, pending)
    reader.pending.append((several, pending))
    if pending.module is None and isinstance(pending.output, list | tuple):
        for _ in pending.output:  # x1, x2 = x.chunk(2): chunk, chunk_1, whichever is read first
            name = reader.graph.fresh_name(pending.scope, base_name(pending.op))
            pending.names.append(name)
            reader.graph.held.add(name)

    def mark(value: Any, where: tuple[int, ...]) -> None:
        import torch

        if isinstance(value, torch.Tensor):
            if reader.values.get(value) is None or not isinstance(
                reader.values.get(value), Activation | ModelTensor
            ):
                reader.values.set(value, Piece(several, where))
        elif isinstance(value, list | tuple):
            for index, item in enumerate(value):
                mark(item, (*where, index))

    mark(pending.output, ())


def read_piece(reader: Reader, piece: Piece, tensor: torch.Tensor) -> int | None:
    """Read one tensor of a call that returned several; None when it cannot be (then listed)."""
    pending: Pending = piece.of.call
    used = piece.of.used
    found = Found(inputs=list(pending.inputs))
    index = None
    shape = per_sample(tuple(tensor.shape))
    if tensor.dim() >= 1 and tensor.shape[0] == TRACE_BATCH:
        if pending.module is None and len(piece.item) == 1:
            call = TorchCall(
                pending.op,
                pending.args,
                pending.kwargs,
                tuple(reader.graph.shape(i) for i in pending.inputs),
                shape,
                item=piece.item[0],
            )
            steps = reader.steps(call)
            if steps == () and len(pending.inputs) == 1:
                index = pending.inputs[0]  # the piece is the whole input (`x.chunk(1, 1)[0]`)
            elif steps:
                name = pending.names[piece.item[0]]
                index = reader.graph.add(
                    name, steps, pending.inputs, shape, pending.scope, pending.op, pending.site
                )
        if index is None and reader.allow_unknown and not used and pending.inputs:
            index = reader.failures.keep_opaque(
                pending.op, pending.scope, found, tensor, pending.module, pending.reason, pending.site
            )
    if index is None:
        if not pending.listed:
            pending.listed = True
            reason = pending.reason or (
                "its result is not one tensor the model uses" if reader.allow_unknown else ""
            )
            if pending.module is None and not reason:
                reason = "its result is not one tensor"
            reader.problems.unsupported_op(pending.op, pending.scope, reason, pending.site)
        reader.values.set(tensor, FAILED)
        return None
    used.append(piece.item)
    reader.values.set(tensor, Activation(index))
    return index


def unread(reader: Reader) -> None:
    """List what the model computed and never used in a form no kind reads: a module's result of
    several tensors (its cost is unknown), a stack whose batch moved."""
    for several, pending in reader.pending:
        if pending.module is not None and not several.used and not pending.listed:
            pending.listed = True  # a module's result the model never uses: its cost is unknown
            reader.problems.unsupported_op(
                pending.op, pending.scope, "its result is never used", pending.site
            )
    for stacked in reader.stacks:
        reader.problems.unsupported_op(
            "torch.stack", stacked.scope, "changes the batch dimension", stacked.site
        )
