"""Read the calls of a running model as the registry's kinds: the graph's nodes, parameter work, and
what no kind reads (listed, or kept opaque with `--allow-unknown`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from convprof.importing.calls import CallSite
from convprof.importing.functional import FUNCTIONAL_LAYERS, NotALayer, stand_in
from convprof.importing.problems import ModelImportError, Problems, pattern
from convprof.importing.running import TRACE_BATCH, BatchSize, FunctionCall, ModuleCall, tensors_in
from convprof.importing.tables import ModuleReaders, call_table, type_name
from convprof.importing.values import (
    FAILED,
    Activation,
    Constant,
    Derived,
    ModelTensor,
    Piece,
    Several,
    Stacked,
    Values,
    per_sample,
)
from convprof.kinds import LayerKind, ShapeError, lookup
from convprof.kinds.base import CONSTANT, PARAMETER, TENSOR, TRACED, ImportStep, NotImportable, TorchCall
from convprof.kinds.opaque import Opaque, OpaqueArgs
from convprof.spec import NETWORK_INPUT, ParameterWork, Shape
from convprof.units import format_shape

if TYPE_CHECKING:
    import torch

__all__ = ["ImportedNode", "ModelImportError", "Reader", "place_name", "place_text"]

#: Modules running goes through (their children are the nodes), though torch.nn defines them.
_CONTAINERS = ("Sequential", "ModuleList", "ModuleDict")
#: Calls that return their input's values as they are, whatever the tensor (`x.float()` on a float
#: tensor returns the tensor itself; `x.detach()` a view of it): no node.
_SAME_VALUES = frozenset(
    {
        "Tensor.detach",
        "torch.detach",
        "Tensor.data",
        "Tensor.requires_grad_",
        "Tensor.float",
        "Tensor.to",
        "Tensor.type",
        "Tensor.type_as",
    }
)
#: Calls that make a tensor of an activation's shape whose values do not depend on it: constants.
_CONSTANT_MAKERS = frozenset(
    {
        "torch.zeros_like",
        "torch.ones_like",
        "torch.full_like",
        "torch.empty_like",
        "torch.rand_like",
        "torch.randn_like",
        "Tensor.new_zeros",
        "Tensor.new_ones",
        "Tensor.new_full",
        "Tensor.new_empty",
        "Tensor.new_tensor",
    }
)
#: Conversions whose values are their first argument's, the others giving a dtype or a device.
_CONVERSIONS = frozenset({"Tensor.type_as", "Tensor.to"})
#: Reductions that take a stack of activations back to one: `torch.stack(xs).sum(0)` adds them.
_REDUCTIONS = frozenset({"Tensor.sum", "torch.sum", "Tensor.mean", "torch.mean"})
#: Calls that write into their first argument and return nothing to read it by.
_WRITES = frozenset({"operator.setitem", "Tensor.setitem", "Tensor.copy_", "Tensor.index_put_"})
#: Products of two tensors: on parameters alone they are parameter work convprof does not count.
_PRODUCTS = frozenset(
    {
        "torch.matmul",
        "Tensor.matmul",
        "operator.matmul",
        "torch.mm",
        "Tensor.mm",
        "torch.bmm",
        "Tensor.bmm",
        "torch.einsum",
        "torch.nn.functional.linear",
        "torch.addmm",
        "torch.baddbmm",
        "torch.tensordot",
        "torch.nn.functional.conv1d",
        "torch.nn.functional.conv2d",
        "torch.nn.functional.conv3d",
    }
)


@dataclass(frozen=True, slots=True)
class ImportedNode:
    """One node read back from the running model."""

    path: str
    """Its path: the torch module's name, or a name in the scope of the module whose forward called it."""
    kind: LayerKind | None
    """The registry's kind; None for an op no kind reads (the import then fails, listing it)."""
    args: Any
    """The kind's arguments."""
    inputs: tuple[int, ...]
    """Indices of the nodes it reads (negative for the network's inputs), in argument order."""
    output_shape: Shape
    """Per-sample output shape, equal to torch's."""


@dataclass
class _Found:
    """What a call's arguments hold, as its reader sees them."""

    inputs: list[int] = field(default_factory=list)
    """Nodes of the activations it reads, in order."""
    parameters: list[str] = field(default_factory=list)
    """Names of the model's parameters it reads directly (a view of one counts as it)."""
    parameter_shapes: list[Shape] = field(default_factory=list)
    """Shapes of those, as the call sees them."""
    buffers: list[str] = field(default_factory=list)
    """Names of the model's buffers it reads directly."""
    derived: list[Derived] = field(default_factory=list)
    """Parameter work it reads (views of one parameter apart)."""
    work: list[Derived] = field(default_factory=list)
    """Parameter work it reads, views of one parameter included (the ops that made them)."""
    constants: list[Shape] = field(default_factory=list)
    """Shapes of the constants it reads."""
    stacked: list[Stacked] = field(default_factory=list)
    """Stacks of activations it reads."""
    failed: bool = False
    """Whether it reads what an op listed as unsupported computed."""

    @property
    def model_tensors(self) -> list[str]:
        """Names of the model tensors it reads, directly or through parameter work."""
        names = [*self.parameters, *self.buffers]
        for derived in self.derived:
            names += sorted(derived.sources)
        return names


@dataclass
class _Pending:
    """A call whose result is several tensors, read piece by piece."""

    op: str
    scope: str
    site: CallSite | None
    args: Any
    kwargs: Any
    inputs: tuple[int, ...]
    output: Any
    module: torch.nn.Module | None = None
    reason: str = ""
    """Why a module's pieces are not read (its kind reads one tensor)."""
    listed: bool = False
    """Whether the call is listed as unsupported (once, whichever piece is read)."""
    names: list[str] = field(default_factory=list)
    """The path each piece's node takes, held when the call is made."""


def _places(value: Any, keys: tuple[Any, ...] = ()) -> Any:
    """Yield (keys, item) for each item of a nested dict, list or tuple: (`'out'`,), (1, 0)."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _places(item, (*keys, key))
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from _places(item, (*keys, index))
    else:
        yield keys, value


def place_text(keys: tuple[Any, ...]) -> str:
    """Return where an item sits as Python indexes it: `['out']`, `[1][0]`."""
    return "".join(f"[{key!r}]" for key in keys)


def place_name(keys: tuple[Any, ...]) -> str:
    """Return an output's name from where it sits: `out`, `1.0`; `output` for the tensor itself."""
    text = ".".join(str(key) for key in keys)
    return "".join(c if c.isprintable() else "?" for c in text) or "output"


def _base_name(target: str) -> str:
    """Return the name a call's node gets in its scope: operator.iadd -> add, Tensor.relu_ -> relu."""
    name = target.rsplit(".", 1)[-1].strip("_")
    if target.startswith("operator.i") and name[1:] in ("add", "mul", "sub", "truediv", "floordiv", "matmul"):
        name = name[1:]
    return name or "op"


def _in_place(op: str) -> bool:
    name = op.rsplit(".", 1)[-1]
    return (name.endswith("_") and not name.endswith("__")) or (
        op.startswith("operator.i") and op not in ("operator.invert", "operator.index")
    )


class Reader:
    """Reads each call a running model makes (see convprof.importing.running.Listener)."""

    def __init__(self, root: torch.nn.Module, readers: ModuleReaders, allow_unknown: bool) -> None:
        self.root = root
        self.readers = readers
        self.allow_unknown = allow_unknown
        self.calls = call_table()
        self.problems = Problems(allow_unknown)
        self.values = Values()
        self.nodes: list[ImportedNode] = []
        self.input_shapes: list[Shape] = []
        self.claimed: set[str] = set()
        self.node_paths: set[str] = set()
        self.held: set[str] = set()
        """Paths held for the pieces of a call that returned several tensors."""
        self.reserved = {name for name, _ in root.named_modules()}
        self.counted: set[int] = set()
        """Identities of the model tensors a node counts."""
        self.work: list[ParameterWork] = []
        self.pending: list[tuple[Several, _Pending]] = []
        self.stacks: list[Stacked] = []
        self.tensors: dict[str, torch.Tensor] = {}
        for name, parameter in root.named_parameters():
            self.values.set(parameter, ModelTensor(name, True))
            self.tensors[name] = parameter
        for name, buffer in root.named_buffers():
            self.values.set(buffer, ModelTensor(name, False))
            self.tensors[name] = buffer
        self.output_places: list[tuple[tuple[Any, ...], int]] = []
        """Where each output tensor sits in what the model returns (its keys), and its node."""

    # -- the listener ------------------------------------------------------------------------------

    def input(self, tensor: torch.Tensor, index: int) -> None:
        self.values.set(tensor, Activation(NETWORK_INPUT - index))
        self.input_shapes.append(per_sample(tuple(tensor.shape)))

    def claim(self, path: str) -> str:
        base, count = path, 0
        while path in self.claimed:
            count += 1
            path = f"{base}_{count}"
        self.claimed.add(path)
        return path

    def is_leaf(self, module: torch.nn.Module) -> bool:
        cls = type(module)
        if self.readers.kind_of(cls) is not None:
            return True
        return cls.__module__.startswith("torch.nn.") and cls.__name__ not in _CONTAINERS

    def same_shape(self, module: torch.nn.Module) -> Callable[[Shape], bool] | None:
        kind = self.readers.kind_of(type(module))
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

    def batched(self, tensor: torch.Tensor) -> bool:
        return isinstance(self.values.get(tensor), Activation | Piece)

    # -- shapes and names --------------------------------------------------------------------------

    def shape(self, index: int) -> Shape:
        """Return the per-sample output shape of node `index` (an input's for a negative one)."""
        return self.input_shapes[NETWORK_INPUT - index] if index < 0 else self.nodes[index].output_shape

    def fresh_name(self, scope: str, base: str) -> str:
        prefix = f"{scope}." if scope else ""
        name, count = f"{prefix}{base}", 0
        while name in self.node_paths or name in self.reserved or name in self.claimed or name in self.held:
            count += 1
            name = f"{prefix}{base}_{count}"
        return name

    # -- arguments ---------------------------------------------------------------------------------

    def gather(self, value: Any, found: _Found) -> Any:
        """Return a call's argument as a TorchCall holds it, noting what it reads in `found`."""
        import torch

        if isinstance(value, torch.Tensor):
            return self.tensor_argument(value, found)
        if isinstance(value, BatchSize):
            return TRACED
        if isinstance(value, torch.Size):
            return tuple(self.gather(item, found) for item in value)
        if isinstance(value, list | tuple):
            items = [self.gather(item, found) for item in value]
            return items if isinstance(value, list) else tuple(items)
        if isinstance(value, dict):
            return {key: self.gather(item, found) for key, item in value.items()}
        return value

    def tensor_argument(self, tensor: torch.Tensor, found: _Found) -> Any:
        value = self.values.get(tensor)
        if isinstance(value, Piece):
            index = self.piece(value, tensor)
            value = FAILED if index is None else Activation(index)
        if isinstance(value, Activation):
            found.inputs.append(value.node)
            return TENSOR
        if isinstance(value, ModelTensor):
            if value.parameter:
                found.parameters.append(value.name)
                found.parameter_shapes.append(tuple(tensor.shape))
                return PARAMETER
            found.buffers.append(value.name)
            return CONSTANT
        if isinstance(value, Derived):
            found.work.append(value)
            if value.view_of is not None and self.is_parameter(value.view_of):
                found.parameters.append(value.view_of)  # `self.gamma.view(1, -1, 1, 1)`: the parameter
                found.parameter_shapes.append(tuple(tensor.shape))
                return PARAMETER
            if value.view_of is not None:
                found.buffers.append(value.view_of)
                return CONSTANT
            found.derived.append(value)
            return PARAMETER
        if isinstance(value, Stacked):
            found.stacked.append(value)
            return TENSOR
        if value is FAILED:
            found.failed = True
            return TENSOR
        found.constants.append(tuple(tensor.shape))  # made while running, or a module's plain tensor
        return CONSTANT

    def is_parameter(self, name: str) -> bool:
        value = self.values.get(self.tensors[name])
        return isinstance(value, ModelTensor) and value.parameter

    # -- nodes -------------------------------------------------------------------------------------

    def add(
        self,
        path: str,
        steps: tuple[ImportStep, ...],
        reads: tuple[int, ...],
        torch_shape: Shape,
        scope: str,
        op: str,
        site: CallSite | None,
    ) -> int | None:
        """Append the nodes of `steps`, checking each shape; return the last one's index, or None
        when a kind cannot take what it reads (then listed)."""
        for position, (kind, args) in enumerate(steps):
            step_path = (
                path
                if position == 0
                else self.fresh_name(scope, f"{path.rsplit('.', 1)[-1]}_{kind.name.lower()}")
            )
            shapes = tuple(self.shape(i) for i in reads)
            lowest, highest = kind.arity
            if not lowest <= len(shapes) <= (highest or len(shapes)):
                self.problems.unsupported_op(
                    op, scope, f"as {kind.name} it would read {len(shapes)} tensors", site
                )
                return None
            try:
                output = kind.node_output_shape(args, shapes)
            except ShapeError as exc:
                self.problems.unsupported_op(op, scope, f"as {kind.name}: {exc}", site)
                return None
            if position == len(steps) - 1 and output != torch_shape:
                raise ModelImportError(
                    f"{step_path}: convprof's {kind.name} gives {format_shape(output)} where torch gives "
                    f"{format_shape(torch_shape)}; this is a bug in convprof: please report it with the model"
                )
            self.node_paths.add(step_path)
            self.nodes.append(ImportedNode(step_path, kind, args, reads, output))
            reads = (len(self.nodes) - 1,)
        return len(self.nodes) - 1

    def steps(self, call: TorchCall) -> tuple[ImportStep, ...] | None:
        """Return the nodes the first kind that reads `call` makes of it, or None."""
        for kind in self.calls.get(call.target, ()):
            steps = kind.from_call(call)
            if steps is not None:
                return steps
        return None

    def offer(
        self, call: TorchCall, found: _Found, scope: str, site: CallSite | None, output: torch.Tensor
    ) -> bool:
        """Read `call` as the first kind that takes it; return False when none does or it cannot be
        placed (listed, or opaque, then)."""
        op = call.target
        steps = self.steps(call)
        if steps is None:
            if found.parameters:
                self.fail(
                    op,
                    scope,
                    f"reads the module's tensor {pattern(found.parameters[0])} directly",
                    site,
                    found,
                    output,
                )
            else:
                self.fail(op, scope, "", site, found, output)
            return False
        shape = per_sample(tuple(output.shape))
        if not found.parameters:
            index = self.add(
                self.fresh_name(scope, _base_name(op)), steps, tuple(found.inputs), shape, scope, op, site
            )
        else:
            # A kind whose parameter is the node (ConvNeXt's layer scale): the node takes the parameter's
            # path, so that the built model holds it where the original does and loads its state_dict.
            if len(steps) != 1 or not steps[0][0].parameter_at_path or len(found.parameters) != 1:
                reason = f"reads the module's tensor {pattern(found.parameters[0])} directly"
                self.fail(op, scope, reason, site, found, output)
                return False
            (name,) = found.parameters
            parameter = self.tensors[name]
            if id(parameter) in self.counted:
                self.fail(
                    op,
                    scope,
                    f"its parameter {pattern(name)} is used by another call too",
                    site,
                    found,
                    output,
                )
                return False
            if name in self.node_paths:
                self.fail(op, scope, f"a node already has the path {name}", site, found, output)
                return False
            index = self.add(name, steps, tuple(found.inputs), shape, scope, op, site)
            if index is not None:
                self.counted.add(id(parameter))
        if index is None:
            self.mark_failed(output)
            return False
        self.values.set(output, Activation(index))
        return True

    def mark_failed(self, output: Any) -> None:
        for tensor in tensors_in(output):
            if not isinstance(self.values.get(tensor), ModelTensor):
                self.values.set(tensor, FAILED)

    # -- what no kind reads --------------------------------------------------------------------------

    def fail(
        self,
        op: str,
        scope: str,
        reason: str,
        site: CallSite | None,
        found: _Found,
        output: Any,
        *,
        module: torch.nn.Module | None = None,
    ) -> None:
        """Keep the call as an opaque node when unknown ops are allowed and it can be one; otherwise
        list it and read on past it.

        Where torch gave it one batched tensor, it stays in the graph as a node of unknown kind with
        torch's shape, so that every op after it is still read and listed; otherwise what reads it is
        skipped (it follows from this one)."""
        import torch

        why = ""
        target = output if isinstance(output, torch.Tensor) else None
        if target is None:
            why = "its result is not one tensor the model uses"
        elif target.dim() < 2 or target.shape[0] != TRACE_BATCH:
            why, target = "its result is not batched as its input", None
        elif not found.inputs:
            # torch.zeros(x.size(0), ...): nothing of the graph flows in, so it has no place in it.
            why, target = "it reads no tensor of the model's graph", None
        if target is not None and self.allow_unknown:
            self.keep_opaque(op, scope, found, target, module, reason, site)
            return
        if self.allow_unknown and not reason:
            reason = why  # what stops it being an opaque node is the news
        self.problems.unsupported_op(op, scope, reason, site, keepable=target is not None)
        if target is not None:
            self.nodes.append(
                ImportedNode(
                    f"<unknown {len(self.nodes)}>",
                    None,
                    None,
                    tuple(found.inputs),
                    per_sample(tuple(target.shape)),
                )
            )
            self.values.set(target, Activation(len(self.nodes) - 1))
        else:
            self.mark_failed(output)

    def keep_opaque(
        self,
        op: str,
        scope: str,
        found: _Found,
        target: torch.Tensor,
        module: torch.nn.Module | None,
        reason: str,
        site: CallSite | None,
    ) -> int:
        """Append an opaque node standing for `target`, with the parameters and buffers it holds that
        no node counts yet: a module's own, or the model tensors a call reads (each counted once)."""
        import torch

        reads = tuple(dict.fromkeys(found.inputs))
        shapes = tuple(self.shape(i) for i in reads)
        tensors = [*module.parameters(), *module.buffers()] if module is not None else []
        tensors += [self.tensors[name] for name in found.model_tensors]
        params = buffers = fixed = 0
        for tensor in tensors:
            if id(tensor) in self.counted:
                continue
            self.counted.add(id(tensor))
            if isinstance(tensor, torch.nn.Parameter):
                params += tensor.numel()
            elif tensor.is_floating_point():
                buffers += tensor.numel()
            else:
                fixed += tensor.numel() * tensor.element_size()
        shape = per_sample(tuple(target.shape))
        path = scope if module is not None else self.fresh_name(scope, _base_name(op))
        opaque = lookup(Opaque.name)
        assert opaque is not None
        self.node_paths.add(path)
        self.nodes.append(
            ImportedNode(path, opaque, OpaqueArgs(op, shapes, shape, params, buffers, fixed), reads, shape)
        )
        self.values.set(target, Activation(len(self.nodes) - 1))
        self.problems.opaque_op(op, scope, reason, site)
        return len(self.nodes) - 1

    # -- a leaf module's call ----------------------------------------------------------------------

    def module(self, call: ModuleCall) -> None:
        import torch

        module = call.module
        op = type_name(type(module))
        kind = self.readers.kind_of(type(module))
        found = _Found()
        args = self.gather(call.args, found)
        kwargs = self.gather(call.kwargs, found)
        output = call.output
        if found.failed:
            self.mark_failed(output)
            return
        if not isinstance(output, torch.Tensor):
            pieces = list(tensors_in(output))
            if pieces and isinstance(output, list | tuple):
                reason = "its result is not one batched tensor" if kind is not None else ""
                pending = _Pending(
                    op, call.path, call.site, args, kwargs, tuple(found.inputs), output, module, reason
                )
                self.several(pending)
                return
            self.fail(
                op, call.path, "its result is not one batched tensor", call.site, found, output, module=module
            )
            return
        if kind is None:
            self.fail(op, call.path, "", call.site, found, output, module=module)
            return
        if output.dim() < 1 or output.shape[0] != TRACE_BATCH:
            self.fail(
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
            self.fail(op, call.path, reason, call.site, found, output, module=module)
            return
        weights = [id(t) for t in (*module.parameters(), *module.buffers())]
        if any(w in self.counted for w in weights):
            self.fail(
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
            self.fail(op, call.path, str(exc), call.site, found, output, module=module)
            return
        shape = per_sample(tuple(output.shape))
        index = self.add(
            call.path, ((kind, module_args),), tuple(found.inputs), shape, call.path, op, call.site
        )
        if index is None:
            self.mark_failed(output)
            return
        self.counted.update(weights)
        self.values.set(output, Activation(index))

    # -- several tensors ---------------------------------------------------------------------------

    def several(self, pending: _Pending) -> None:
        """Take a call whose result is several tensors: each is read when the model uses it."""
        several = Several(pending.op, pending)
        self.pending.append((several, pending))
        if pending.module is None and isinstance(pending.output, list | tuple):
            for _ in pending.output:  # x1, x2 = x.chunk(2): chunk, chunk_1, whichever is read first
                name = self.fresh_name(pending.scope, _base_name(pending.op))
                pending.names.append(name)
                self.held.add(name)

        def mark(value: Any, where: tuple[int, ...]) -> None:
            import torch

            if isinstance(value, torch.Tensor):
                if self.values.get(value) is None or not isinstance(
                    self.values.get(value), Activation | ModelTensor
                ):
                    self.values.set(value, Piece(several, where))
            elif isinstance(value, list | tuple):
                for index, item in enumerate(value):
                    mark(item, (*where, index))

        mark(pending.output, ())

    def piece(self, piece: Piece, tensor: torch.Tensor) -> int | None:
        """Read one tensor of a call that returned several; None when it cannot be (then listed)."""
        pending: _Pending = piece.of.call
        used = piece.of.used
        found = _Found(inputs=list(pending.inputs))
        index = None
        shape = per_sample(tuple(tensor.shape))
        if tensor.dim() >= 1 and tensor.shape[0] == TRACE_BATCH:
            if pending.module is None and len(piece.item) == 1:
                call = TorchCall(
                    pending.op,
                    pending.args,
                    pending.kwargs,
                    tuple(self.shape(i) for i in pending.inputs),
                    shape,
                    item=piece.item[0],
                )
                for kind in self.calls.get(pending.op, ()):
                    steps = kind.from_call(call)
                    if steps is not None:
                        name = pending.names[piece.item[0]]
                        index = self.add(
                            name, steps, pending.inputs, shape, pending.scope, pending.op, pending.site
                        )
                        break
            if index is None and self.allow_unknown and not used and pending.inputs:
                index = self.keep_opaque(
                    pending.op, pending.scope, found, tensor, pending.module, pending.reason, pending.site
                )
        if index is None:
            if not pending.listed:
                pending.listed = True
                reason = pending.reason or (
                    "its result is not one tensor the model uses" if self.allow_unknown else ""
                )
                if pending.module is None and not reason:
                    reason = "its result is not one tensor"
                self.problems.unsupported_op(pending.op, pending.scope, reason, pending.site)
            self.values.set(tensor, FAILED)
            return None
        used.append(piece.item)
        self.values.set(tensor, Activation(index))
        return index

    # -- a torch call ------------------------------------------------------------------------------

    def function(self, call: FunctionCall) -> None:
        import torch

        op, scope, site = call.op, call.scope.path, call.site
        found = _Found()
        args = self.gather(call.args, found)
        kwargs = self.gather(call.kwargs, found)
        output = call.output
        if found.failed:
            if op not in _WRITES:
                self.mark_failed(output)
            return
        if op in _WRITES or (output is None and _in_place(op)):
            self.write(op, scope, site, found, call)
            return
        if found.stacked:
            self.reduce_stack(call, args, kwargs, found)
            return
        if op in _CONSTANT_MAKERS:  # an activation gives only a shape, a dtype or a device
            for tensor in tensors_in(output):
                self.values.set(tensor, Constant((op,)))
            return
        if op in _CONVERSIONS and call.args and found.inputs:
            own = _Found()
            self.tensor_argument(call.args[0], own)
            if not own.inputs:  # `torch.arange(w).type_as(x)`: x gives its dtype to a constant
                self.no_activation(replace(call, args=call.args[:1], kwargs={}), own)
                return
        if not found.inputs:
            self.no_activation(call, found)
            return
        if not isinstance(output, torch.Tensor):
            pieces = list(tensors_in(output))
            if not pieces:
                return  # shape arithmetic (x.size(0) // 2), a dtype: no node
            if isinstance(output, list | tuple) and all(
                isinstance(t, torch.Tensor) and t.dim() and t.shape[0] == TRACE_BATCH for t in output
            ):
                self.several(_Pending(op, scope, site, args, kwargs, tuple(found.inputs), output))
                return
            self.fail(op, scope, "its result is not one tensor", site, found, output)
            return
        if output.dim() < 1 or output.shape[0] != TRACE_BATCH:
            if op == "torch.stack" and self.stack_dim(call) == 0:
                stacked = Stacked(
                    tuple(call.args[0]) if call.args else tuple(call.kwargs["tensors"]), scope, site
                )
                self.stacks.append(stacked)
                self.values.set(output, stacked)
                return
            self.fail(op, scope, "changes the batch dimension", site, found, output)
            return
        if op in FUNCTIONAL_LAYERS and found.model_tensors:
            self.functional(call, found)
            return
        if found.buffers or found.derived:
            name = found.buffers[0] if found.buffers else sorted(found.derived[0].sources)[0]
            self.fail(op, scope, f"reads the module's tensor {pattern(name)} directly", site, found, output)
            return
        same = any(output is t for t in tensors_in((call.args, call.kwargs))) and not _in_place(op)
        if op in _SAME_VALUES and tuple(output.shape) == tuple(next(tensors_in(call.args)).shape):
            source = self.values.get(next(tensors_in(call.args)))
            if isinstance(source, Activation) and not found.parameters:
                self.values.set(output, source)
                return
        if self.whole_slice(op, call, found, output):
            return
        torch_call = TorchCall(
            op,
            args,
            kwargs,
            tuple(self.shape(i) for i in found.inputs),
            per_sample(tuple(output.shape)),
            self.broadcast(found.parameter_shapes, found.inputs),
            constant_shapes=tuple(found.constants),
        )
        if same and self.steps(torch_call) is None:
            return  # the input itself (x.contiguous() of a contiguous x): its node stands for this too
        self.offer(torch_call, found, scope, site, output)

    def broadcast(self, shapes: list[Shape], inputs: list[int]) -> tuple[Shape, ...]:
        """Return the shapes of parameters as they meet one sample: `self.gamma.view(1, -1, 1, 1)`
        times a batch of 4-dimensional tensors is a (C, 1, 1) scale of each sample."""
        rank = max((len(self.shape(i)) + 1 for i in inputs), default=0)
        return tuple(shape[1:] if len(shape) == rank and shape[:1] == (1,) else shape for shape in shapes)

    def stack_dim(self, call: FunctionCall) -> int | None:
        dim = call.args[1] if len(call.args) > 1 else call.kwargs.get("dim", 0)
        return dim if isinstance(dim, int) else None

    def whole_slice(self, op: str, call: FunctionCall, found: _Found, output: torch.Tensor) -> bool:
        """Read `x[:, :8]` of a tensor with 8 channels as the tensor itself: it keeps everything."""
        if op != "operator.getitem" or len(found.inputs) != 1 or found.parameters or found.constants:
            return False
        source, index = call.args[0], call.args[1]
        items = index if isinstance(index, tuple) else (index,)
        if not all(isinstance(item, slice) or item is Ellipsis for item in items):
            return False
        if any(item.step not in (None, 1) for item in items if isinstance(item, slice)):
            return False
        if tuple(output.shape) != tuple(source.shape):
            return False
        self.values.set(output, Activation(found.inputs[0]))
        return True

    def write(self, op: str, scope: str, site: CallSite | None, found: _Found, call: FunctionCall) -> None:
        """Read a call that writes into a tensor (`x[:, :3] = y`): fine between constants and parameter
        work; listed when an activation is written or written into."""
        if not found.inputs:
            return
        self.problems.unsupported_op(op, scope, "it writes into a tensor in place", site)
        target = call.args[0] if call.args else None
        if target is not None:
            self.mark_failed(target)

    def no_activation(self, call: FunctionCall, found: _Found) -> None:
        """Say what a call reading no activation makes: parameter work or a constant."""
        import torch

        sources = frozenset(found.model_tensors)
        inputs = {id(t) for t in tensors_in((call.args, call.kwargs))}
        if sources and call.op in _PRODUCTS:
            self.problems.unsupported_op(
                call.op, call.scope.path, "a product of the model's tensors alone", call.site
            )
            self.mark_failed(call.output)
            return
        before = sum(d.values for d in found.work)
        ops = tuple(dict.fromkeys(op for d in found.work for op in d.ops))
        views = [*found.parameters, *found.buffers, *(d.view_of for d in found.derived if d.view_of)]
        for tensor in tensors_in(call.output):
            current = self.values.get(tensor)
            if isinstance(current, ModelTensor) or (id(tensor) in inputs and not _in_place(call.op)):
                continue  # the tensor itself (`weight.to(dtype)` of its own dtype)
            if not sources:
                self.values.set(tensor, Constant((call.op,)))
                continue
            view = bool(tensor._is_view()) if isinstance(tensor, torch.Tensor) else False
            view_of = views[0] if view and len(views) == 1 and len(sources) == 1 and not before else None
            made = 0 if view else tensor.numel()
            self.values.set(tensor, Derived(sources, before + made, (*ops, call.op), view_of))

    def reduce_stack(self, call: FunctionCall, args: Any, kwargs: Any, found: _Found) -> None:
        """Read `torch.stack(xs).sum(0)` as the sum of xs (and a mean as that sum divided)."""
        import torch

        (stacked, *_) = found.stacked
        op, scope = call.op, call.scope.path
        dim = args[1] if len(args) > 1 else kwargs.get("dim", None)
        plain = (
            op in _REDUCTIONS
            and len(found.stacked) == 1
            and not found.inputs
            and args[:1] == (TENSOR,)
            and dim in (0, (0,), [0])
            and not kwargs.get("keepdim", args[2] if len(args) > 2 else False)
            and isinstance(call.output, torch.Tensor)
        )
        if not plain:
            self.problems.unsupported_op(
                "torch.stack", stacked.scope, "changes the batch dimension", stacked.site
            )
            self.mark_failed(call.output)
            self.stacks = [s for s in self.stacks if s is not stacked]
            return
        self.stacks = [s for s in self.stacks if s is not stacked]
        pieces = _Found()
        for tensor in stacked.inputs:
            self.tensor_argument(tensor, pieces)
        if pieces.failed or len(pieces.inputs) != len(stacked.inputs):
            self.mark_failed(call.output)
            return
        output = call.output
        shape = per_sample(tuple(output.shape))
        reads = tuple(pieces.inputs)
        pair = TorchCall(
            "operator.add", (TENSOR, TENSOR), {}, (self.shape(reads[0]), self.shape(reads[-1])), shape
        )
        steps = None
        for kind in self.calls.get("operator.add", ()):
            steps = kind.from_call(pair)
            if steps is not None:
                break
        mean = op.endswith("mean")
        if steps is None or len(steps) != 1 or len(reads) < 2:
            self.fail(op, scope, "of a stack", call.site, pieces, output)
            return
        kind, add_args = steps[0]
        name = self.fresh_name(scope, "sum")
        if kind.arity[1] is None or kind.arity[1] >= len(reads):
            index = self.add(name, ((kind, add_args),), reads, shape, scope, op, call.site)
        else:
            index = None
            previous = reads[0]
            for position, other in enumerate(reads[1:]):
                step = name if position == 0 else self.fresh_name(scope, "sum")
                index = self.add(step, ((kind, add_args),), (previous, other), shape, scope, op, call.site)
                if index is None:
                    break
                previous = index
        if index is None:
            self.mark_failed(output)
            return
        if not mean:
            self.values.set(output, Activation(index))
            return
        divide = TorchCall("operator.truediv", (TENSOR, len(reads)), {}, (shape,), shape)
        total = _Found(inputs=[index])
        self.offer(divide, total, scope, call.site, output)

    # -- a functional layer on a module's own tensors ------------------------------------------------

    def functional(self, call: FunctionCall, found: _Found) -> None:
        """Read `F.conv2d(x, self.weight, ...)` and the like as the layer they compute, at the path of
        the module whose tensors they read; arithmetic on its parameters alone is parameter work."""

        op, scope, site, output = call.op, call.scope, call.site, call.output
        try:
            layer = stand_in(op, call.args, call.kwargs)
        except NotALayer as exc:
            self.fail(op, scope.path, str(exc), site, found, output)
            return
        except (TypeError, ValueError, RuntimeError) as exc:  # torch refuses the settings as a layer's
            self.fail(op, scope.path, f"its settings make no layer: {exc}", site, found, output)
            return
        kind = self.readers.kind_of(type(layer.module))
        problem, counted, work = self.layer_tensors(layer, found)
        if kind is None:
            problem = problem or "no kind reads the layer it computes"
        owner = work.path if work is not None else ""
        if problem:
            self.fail(op, scope.path, problem, site, found, output)
            return
        try:
            layer_args = kind.from_module(layer.module)  # type: ignore[union-attr]
        except NotImportable as exc:
            self.fail(op, scope.path, str(exc), site, found, output)
            return
        path = scope.path if owner == scope.name else owner
        if (
            path in self.node_paths or not path
        ):  # a second layer of one module's tensors: F.prelu after F.group_norm
            path = self.fresh_name(path, _base_name(op))
        if found.inputs[0] != found.inputs[-1] or len(set(found.inputs)) != 1:
            self.fail(op, scope.path, "its weights are activations", site, found, output)
            return
        shape = per_sample(tuple(output.shape))
        assert kind is not None
        index = self.add(path, ((kind, layer_args),), (found.inputs[0],), shape, scope.path, op, site)
        if index is None:
            self.mark_failed(output)
            return
        self.counted.update(id(t) for t in counted)
        if work is not None and (work.values or work.params):
            self.work.append(ParameterWork(path, work.ops, work.values, work.params))
        self.values.set(output, Activation(index))

    def layer_tensors(
        self, layer: Any, found: _Found
    ) -> tuple[str, list[torch.Tensor], ParameterWork | None]:
        """Match a stand-in layer's tensors with the model tensors the call read; return why they do
        not match (empty when they do), the model tensors the layer counts, and the parameter work
        (its `path` the owning module's name)."""

        counted: list[torch.Tensor] = []
        extra: list[str] = []
        values = 0
        ops: list[str] = []
        owners: set[str] = set()
        given = layer.tensors
        own = dict(layer.module.named_parameters(recurse=False))
        state = {**own, **dict(layer.module.named_buffers(recurse=False))}
        for name, expected in state.items():
            tensor = given.get(name)
            if tensor is None:
                continue
            value = self.values.get(tensor)
            if isinstance(value, ModelTensor):
                if value.parameter != (name in own):
                    which = "parameter" if value.parameter else "buffer"
                    return (
                        f"its {name} is a {which} of the model, which the layer does not hold as such",
                        [],
                        None,
                    )
                if tensor.numel() != expected.numel():
                    return f"its {name} does not have the layer's shape", [], None
                owners.add(value.name.rpartition(".")[0])
                counted.append(tensor)
            elif isinstance(value, Derived) and name in own:
                same = [
                    s
                    for s in sorted(value.sources)
                    if self.is_parameter(s) and self.tensors[s].numel() == expected.numel()
                ]
                if not same:
                    return f"its {name} is computed from no parameter of its shape", [], None
                primary = same[0]
                owners.add(primary.rpartition(".")[0])
                counted.append(self.tensors[primary])
                extra += [s for s in sorted(value.sources) if s != primary]
                values += value.values
                ops += [op for op in value.ops if op not in ops]
            elif isinstance(value, Activation | Piece):
                return f"its {name} is computed from the input", [], None
            else:
                return f"its {name} is not a tensor of the model (made while running)", [], None
        if len(owners) != 1:
            return "it reads the tensors of several modules", [], None
        (owner,) = owners
        module = self.root.get_submodule(owner) if owner else self.root
        for name in state:
            if given.get(name) is None:  # held by the layer, passed to no argument: num_batches_tracked
                tensor = dict(module.named_buffers(recurse=False)).get(name)
                if tensor is None or tensor.numel() != state[name].numel():
                    return f"its module holds no {name}, which the layer counts", [], None
                counted.append(tensor)
        params: list[tuple[str, Shape]] = []
        for name in dict.fromkeys(extra):
            local = name[len(owner) + 1 :] if owner else name
            if name.rpartition(".")[0] != owner or not self.is_parameter(name):
                return f"its weight is computed from {name}, which is not a parameter of the module", [], None
            counted.append(self.tensors[name])
            params.append((local, tuple(self.tensors[name].shape)))
        if any(id(t) in self.counted for t in counted):
            return "its weights are shared with another call", [], None
        return "", counted, ParameterWork(owner, tuple(ops), values, tuple(params))

    # -- the end -----------------------------------------------------------------------------------

    def finish(self, output: Any) -> None:
        """Read what the model returned as its outputs, and list what is left unread."""
        import torch

        places: list[tuple[tuple[Any, ...], int]] = []
        for keys, item in _places(output):
            if not isinstance(item, torch.Tensor):
                continue
            value = self.values.get(item)
            if isinstance(value, Piece):
                index = self.piece(value, item)
                value = FAILED if index is None else Activation(index)
            if value is FAILED:
                self.unread()
                return
            if not isinstance(value, Activation):
                where = f"output{place_text(keys)}"
                reason = f"the model returns {where}, computed without its input (a constant or parameters)"
                self.problems.unsupported_op("output", "", reason, None)
                self.unread()
                return
            places.append((keys, value.node))
        self.unread()
        if not places:
            self.problems.unsupported_op(
                "output", "", "the model returns something other than a batched tensor", None
            )
            return
        self.output_places = places

    def unread(self) -> None:
        """List what the model computed and never used in a form no kind reads: a module's result of
        several tensors (its cost is unknown), a stack whose batch moved."""
        for several, pending in self.pending:
            if pending.module is not None and not several.used and not pending.listed:
                pending.listed = True  # a module's result the model never uses: its cost is unknown
                self.problems.unsupported_op(
                    pending.op, pending.scope, "its result is never used", pending.site
                )
        for stacked in self.stacks:
            self.problems.unsupported_op(
                "torch.stack", stacked.scope, "changes the batch dimension", stacked.site
            )

    def unused(self, called: frozenset[int]) -> list[tuple[str, int, int, bool]]:
        """Return (module path, parameters, buffer elements, called) for each module holding tensors no
        node counts, each under its outermost module never called (an auxiliary head is one entry)."""
        uncalled = {name for name, module in self.root.named_modules() if name and id(module) not in called}
        totals: dict[str, list[int]] = {}
        seen: set[int] = set(self.counted)
        for name, module in self.root.named_modules():
            params = [p for p in module.parameters(recurse=False) if id(p) not in seen]
            buffers = [b for b in module.buffers(recurse=False) if id(b) not in seen]
            seen.update(id(t) for t in (*params, *buffers))
            if not params and not buffers:
                continue
            owner = name
            while "." in owner and owner.rsplit(".", 1)[0] in uncalled:
                owner = owner.rsplit(".", 1)[0]
            entry = totals.setdefault(owner, [0, 0])
            entry[0] += sum(p.numel() for p in params)
            entry[1] += sum(b.numel() for b in buffers)
        return [(path, p, b, path not in uncalled) for path, (p, b) in totals.items()]
