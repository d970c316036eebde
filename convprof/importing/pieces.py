"""Results of several tensors, read piece by piece as the model uses them (`x1, x2 = x.chunk(2, 1)`,
an LSTM's output and state), and stacks of activations read when a reduction takes them back
(`torch.stack(xs).sum(0)`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from convprof.importing.arguments import Found
from convprof.importing.calls import CallSite
from convprof.importing.graph import base_name
from convprof.importing.running import TRACE_BATCH, FunctionCall
from convprof.importing.values import FAILED, Activation, ModelTensor, Piece, Several, per_sample
from convprof.kinds.base import TENSOR, TorchCall

if TYPE_CHECKING:
    import torch

    from convprof.importing.reader import Reader

__all__ = [
    "Pending",
    "place_name",
    "place_text",
    "places",
    "read_piece",
    "reduce_stack",
    "take_several",
    "unread",
]

#: Reductions that take a stack of activations back to one: `torch.stack(xs).sum(0)` adds them.
REDUCTIONS = frozenset({"Tensor.sum", "torch.sum", "Tensor.mean", "torch.mean"})


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
            for kind in reader.calls.get(pending.op, ()):
                steps = kind.from_call(call)
                if steps is not None:
                    name = pending.names[piece.item[0]]
                    index = reader.graph.add(
                        name, steps, pending.inputs, shape, pending.scope, pending.op, pending.site
                    )
                    break
        if index is None and reader.allow_unknown and not used and pending.inputs:
            index = reader.keep_opaque(
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


def reduce_stack(reader: Reader, call: FunctionCall, args: Any, kwargs: Any, found: Found) -> None:
    """Read `torch.stack(xs).sum(0)` as the sum of xs (and a mean as that sum divided)."""
    import torch

    (stacked, *_) = found.stacked
    op, scope = call.op, call.scope.path
    dim = args[1] if len(args) > 1 else kwargs.get("dim", None)
    plain = (
        op in REDUCTIONS
        and len(found.stacked) == 1
        and not found.inputs
        and args[:1] == (TENSOR,)
        and dim in (0, (0,), [0])
        and not kwargs.get("keepdim", args[2] if len(args) > 2 else False)
        and isinstance(call.output, torch.Tensor)
    )
    if not plain:
        reader.problems.unsupported_op(
            "torch.stack", stacked.scope, "changes the batch dimension", stacked.site
        )
        reader.mark_failed(call.output)
        reader.stacks = [s for s in reader.stacks if s is not stacked]
        return
    reader.stacks = [s for s in reader.stacks if s is not stacked]
    pieces = Found()
    for tensor in stacked.inputs:
        reader.arguments.tensor(tensor, pieces)
    if pieces.failed or len(pieces.inputs) != len(stacked.inputs):
        reader.mark_failed(call.output)
        return
    output = call.output
    shape = per_sample(tuple(output.shape))
    reads = tuple(pieces.inputs)
    pair = TorchCall(
        "operator.add",
        (TENSOR, TENSOR),
        {},
        (reader.graph.shape(reads[0]), reader.graph.shape(reads[-1])),
        shape,
    )
    steps = None
    for kind in reader.calls.get("operator.add", ()):
        steps = kind.from_call(pair)
        if steps is not None:
            break
    mean = op.endswith("mean")
    if steps is None or len(steps) != 1 or len(reads) < 2:
        reader.fail(op, scope, "of a stack", call.site, pieces, output)
        return
    kind, add_args = steps[0]
    name = reader.graph.fresh_name(scope, "sum")
    if kind.arity[1] is None or kind.arity[1] >= len(reads):
        index = reader.graph.add(name, ((kind, add_args),), reads, shape, scope, op, call.site)
    else:
        index = None
        previous = reads[0]
        for position, other in enumerate(reads[1:]):
            step = name if position == 0 else reader.graph.fresh_name(scope, "sum")
            index = reader.graph.add(
                step, ((kind, add_args),), (previous, other), shape, scope, op, call.site
            )
            if index is None:
                break
            previous = index
    if index is None:
        reader.mark_failed(output)
        return
    if not mean:
        reader.values.set(output, Activation(index))
        return
    divide = TorchCall("operator.truediv", (TENSOR, len(reads)), {}, (shape,), shape)
    total = Found(inputs=[index])
    reader.offer(divide, total, scope, call.site, output)


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
