"""Read the calls of a running model as the registry's kinds: the graph's nodes, parameter work, and
what no kind reads (listed, or kept opaque with `--allow-unknown`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from convprof.importing.arguments import Arguments, Found
from convprof.importing.calls import CallSite
from convprof.importing.failures import Failures
from convprof.importing.functional import FUNCTIONAL_LAYERS, NotALayer, fixed_filter, match_tensors, stand_in
from convprof.importing.graph import Graph, ImportedNode, base_name
from convprof.importing.modules import read_module, same_shape
from convprof.importing.pieces import Pending, place_text, places, read_piece, take_several, unread
from convprof.importing.problems import ModelImportError, Problems, pattern
from convprof.importing.running import TRACE_BATCH, FunctionCall, ModuleCall, tensors_in
from convprof.importing.tables import ModuleReaders, call_table
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
from convprof.kinds.base import ImportStep
from convprof.kinds.calls import NotImportable, TorchCall
from convprof.spec import NETWORK_INPUT, ParameterWork, Shape

if TYPE_CHECKING:
    import torch

__all__ = ["ImportedNode", "ModelImportError", "Reader"]

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


#: Calls that lay a tensor's values out in another shape.
_RESHAPES = frozenset(
    {"Tensor.view", "Tensor.reshape", "torch.reshape", "Tensor.flatten", "torch.flatten", "Tensor.unflatten"}
)


def _batch_change(op: str, output: torch.Tensor) -> str:
    """Say how a call's result left the batch: folded rows of each sample into it (a reshape to
    `batch * k` rows, as MobileViT's patches and ConvTasNet's sources are), or otherwise changed it."""
    first = int(output.shape[0]) if output.dim() else 0
    if op in _RESHAPES and output.dim() >= 2 and first > TRACE_BATCH and first % TRACE_BATCH == 0:
        rows = first // TRACE_BATCH
        return (
            f"folds {rows} rows of each sample into the batch: the layers after it run {rows} times per "
            "sample on rows that are no sample, which a spec counting each layer once per sample cannot say"
        )
    return "changes the batch dimension"


def _in_place(op: str) -> bool:
    name = op.rsplit(".", 1)[-1]
    return (name.endswith("_") and not name.endswith("__")) or (
        op.startswith("operator.i") and op not in ("operator.invert", "operator.index")
    )


class Reader:
    """Reads each call a running model makes (see convprof.importing.running.Listener): what each
    tensor is, and each call as the kinds read it."""

    def __init__(self, root: torch.nn.Module, readers: ModuleReaders, allow_unknown: bool) -> None:
        self.root = root
        self.readers = readers
        self.allow_unknown = allow_unknown
        self.calls = call_table()
        self.problems = Problems(allow_unknown)
        self.graph = Graph(root, self.problems)
        self.values = Values()
        self.tensors: dict[str, torch.Tensor] = {}
        for name, parameter in root.named_parameters():
            self.values.set(parameter, ModelTensor(name, True))
            self.tensors[name] = parameter
        for name, buffer in root.named_buffers():
            self.values.set(buffer, ModelTensor(name, False))
            self.tensors[name] = buffer
        self.arguments = Arguments(
            self.values, self.tensors, lambda piece, tensor: read_piece(self, piece, tensor)
        )
        self.work: list[ParameterWork] = []
        self.pending: list[tuple[Several, Pending]] = []
        self.stacks: list[Stacked] = []
        self.output_places: list[tuple[tuple[Any, ...], int]] = []
        """Where each output tensor sits in what the model returns (its keys), and its node."""
        self.failures = Failures(self.problems, self.graph, self.values, self.tensors, allow_unknown)
        """What no kind reads: each such call listed, or kept as an opaque node."""

    # -- the listener ------------------------------------------------------------------------------

    def input(self, tensor: torch.Tensor, index: int) -> None:
        self.values.set(tensor, Activation(NETWORK_INPUT - index))
        self.graph.input_shapes.append(per_sample(tuple(tensor.shape)))

    def claim(self, path: str) -> str:
        return self.graph.claim(path)

    def is_leaf(self, module: torch.nn.Module) -> bool:
        cls = type(module)
        if self.readers.kind_of(cls) is not None:
            return True
        return cls.__module__.startswith("torch.nn.") and cls.__name__ not in _CONTAINERS

    def same_shape(self, module: torch.nn.Module) -> Callable[[Shape], bool] | None:
        return same_shape(self.readers, module)

    def batched(self, tensor: torch.Tensor) -> bool:
        return isinstance(self.values.get(tensor), Activation | Piece)

    # -- reading ---------------------------------------------------------------------------------

    def steps(self, call: TorchCall, stack: bool = False) -> tuple[ImportStep, ...] | None:
        """Return the nodes the first kind that reads `call` makes of it, or None; with `stack`,
        only kinds that read a call on a stack before the batch are offered it."""
        for kind in self.calls.get(call.target, ()):
            if stack and not kind.reads_stacks:
                continue
            steps = kind.from_call(call)
            if steps is not None:
                return steps
        return None

    def offer(
        self,
        call: TorchCall,
        found: Found,
        scope: str,
        site: CallSite | None,
        output: torch.Tensor,
        steps: tuple[ImportStep, ...] | None = None,
    ) -> bool:
        """Read `call` as the first kind that takes it (or as `steps`, where already read); return
        False when none does or it cannot be placed (listed, or opaque, then)."""
        op = call.target
        steps = self.steps(call) if steps is None else steps
        if steps == () and len(set(found.inputs)) == 1 and not found.parameters:
            self.values.set(output, Activation(found.inputs[0]))  # its input as it is: no node
            return True
        if not steps:
            if found.parameters:
                self.failures.fail(
                    op,
                    scope,
                    f"reads the module's tensor {pattern(found.parameters[0])} directly",
                    site,
                    found,
                    output,
                )
            else:
                self.failures.fail(op, scope, "", site, found, output)
            return False
        shape = per_sample(tuple(output.shape))
        if not found.parameters:
            index = self.graph.add(
                self.graph.fresh_name(scope, base_name(op)),
                steps,
                tuple(found.inputs),
                shape,
                scope,
                op,
                site,
            )
        else:
            # A kind whose parameter is the node (ConvNeXt's layer scale): the node takes the parameter's
            # path, so that the built model holds it where the original does and loads its state_dict.
            if len(steps) != 1 or not steps[0][0].parameter_at_path or len(found.parameters) != 1:
                reason = f"reads the module's tensor {pattern(found.parameters[0])} directly"
                self.failures.fail(op, scope, reason, site, found, output)
                return False
            (name,) = found.parameters
            parameter = self.tensors[name]
            if id(parameter) in self.graph.counted:
                self.failures.fail(
                    op,
                    scope,
                    f"its parameter {pattern(name)} is used by another call too",
                    site,
                    found,
                    output,
                )
                return False
            if name in self.graph.node_paths:
                self.failures.fail(op, scope, f"a node already has the path {name}", site, found, output)
                return False
            index = self.graph.add(name, steps, tuple(found.inputs), shape, scope, op, site)
            if index is not None:
                self.graph.counted.add(id(parameter))
        if index is None:
            self.failures.mark_failed(output)
            return False
        self.values.set(output, Activation(index))
        return True

    # -- a leaf module's call ----------------------------------------------------------------------

    def module(self, call: ModuleCall) -> None:
        read_module(self, call)

    # -- a torch call ------------------------------------------------------------------------------

    def function(self, call: FunctionCall) -> None:
        import torch

        op, scope, site = call.op, call.scope.path, call.site
        found = Found()
        args = self.arguments.gather(call.args, found)
        kwargs = self.arguments.gather(call.kwargs, found)
        output = call.output
        if found.failed:
            if op not in _WRITES:
                self.failures.mark_failed(output)
            return
        if op in _WRITES or (output is None and _in_place(op)):
            self.write(op, scope, site, found, call)
            return
        if found.stacked:
            self.read_stack(call, args, kwargs, found)
            return
        if op == "torch.stack" and found.inputs and self.stack_dim(call) == 0:
            # A new dimension before the batch: read when a reduction takes it away again.
            tensors = call.args[0] if call.args else call.kwargs.get("tensors", ())
            stacked = Stacked(tuple(tensors), scope, site)
            self.stacks.append(stacked)
            self.values.set(output, stacked)
            return
        if op in _CONSTANT_MAKERS:  # an activation gives only a shape, a dtype or a device
            for tensor in tensors_in(output):
                self.values.set(tensor, Constant((op,)))
            return
        if op in _CONVERSIONS and call.args and found.inputs:
            own = Found()
            self.arguments.tensor(call.args[0], own)
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
                take_several(self, Pending(op, scope, site, args, kwargs, tuple(found.inputs), output))
                return
            self.failures.fail(op, scope, "its result is not one tensor", site, found, output)
            return
        if output.dim() < 1 or output.shape[0] != TRACE_BATCH:
            self.failures.fail(op, scope, _batch_change(op, output), site, found, output)
            return
        if op in FUNCTIONAL_LAYERS and found.model_tensors:
            self.functional(call, found)
            return
        if found.buffers or found.derived:
            name = found.buffers[0] if found.buffers else sorted(found.derived[0].sources)[0]
            self.failures.fail(
                op, scope, f"reads the module's tensor {pattern(name)} directly", site, found, output
            )
            return
        same = any(output is t for t in tensors_in((call.args, call.kwargs))) and not _in_place(op)
        first = next(tensors_in(call.args), None)
        if (
            op in _SAME_VALUES
            and first is not None
            and (first.shape, first.dtype) == (output.shape, output.dtype)
        ):
            # The values as they are (a cast to another dtype is not: the spec has one dtype).
            source = self.values.get(first)
            if isinstance(source, Activation) and not found.parameters:
                self.values.set(output, source)
                return
        torch_call = TorchCall(
            op,
            args,
            kwargs,
            tuple(self.graph.shape(i) for i in found.inputs),
            per_sample(tuple(output.shape)),
            tuple(found.parameter_shapes),
            tuple(tuple(int(size) for size in self.tensors[name].shape) for name in found.parameters),
        )
        if same and self.steps(torch_call) is None:
            return  # the input itself (x.contiguous() of a contiguous x): its node stands for this too
        self.offer(torch_call, found, scope, site, output)

    def stack_dim(self, call: FunctionCall) -> int | None:
        """Return the dimension `torch.stack` stacks along, counted on its output (-1 is the last)."""
        dim = call.args[1] if len(call.args) > 1 else call.kwargs.get("dim", 0)
        tensors = call.args[0] if call.args else call.kwargs.get("tensors", ())
        first = next(tensors_in(tensors), None)
        if not isinstance(dim, int) or first is None:
            return None
        return dim % (first.dim() + 1) if -first.dim() - 1 <= dim <= first.dim() else None

    def read_stack(self, call: FunctionCall, args: Any, kwargs: Any, found: Found) -> None:
        """Read a call on `torch.stack(xs)` along a new dimension 0 as the kinds that read stacks
        take it (`torch.stack(xs).sum(0)`, smp's FPN merge, is the add of xs); otherwise the stack
        is listed: it moved the batch."""
        import torch

        op, scope, site, output = call.op, call.scope.path, call.site, call.output
        self.stacks = [s for s in self.stacks if all(s is not t for t in found.stacked)]
        steps = None
        if isinstance(output, torch.Tensor) and output.dim() and output.shape[0] == TRACE_BATCH:
            torch_call = TorchCall(
                op,
                args,
                kwargs,
                tuple(self.graph.shape(i) for i in found.inputs),
                per_sample(tuple(output.shape)),
            )
            steps = self.steps(torch_call, stack=True)
        if steps is None or found.parameters or found.buffers or found.derived or found.constants:
            for stacked in found.stacked:
                self.problems.unsupported_op(
                    "torch.stack", stacked.scope, "changes the batch dimension", stacked.site
                )
            self.failures.mark_failed(output)
            return
        self.offer(torch_call, found, scope, site, output, steps)

    def write(self, op: str, scope: str, site: CallSite | None, found: Found, call: FunctionCall) -> None:
        """Read a call that writes into a tensor (`x[:, :3] = y`): fine between constants and parameter
        work; listed when an activation is written or written into."""
        if not found.inputs:
            return
        self.problems.unsupported_op(op, scope, "it writes into a tensor in place", site)
        target = call.args[0] if call.args else None
        if target is not None:
            self.failures.mark_failed(target)

    def no_activation(self, call: FunctionCall, found: Found) -> None:
        """Say what a call reading no activation makes: parameter work or a constant."""
        import torch

        sources = frozenset(found.model_tensors)
        inputs = {id(t) for t in tensors_in((call.args, call.kwargs))}
        if sources and call.op in _PRODUCTS:
            self.problems.unsupported_op(
                call.op, call.scope.path, "a product of the model's tensors alone", call.site
            )
            self.failures.mark_failed(call.output)
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

    # -- a functional layer on a module's own tensors ------------------------------------------------

    def functional(self, call: FunctionCall, found: Found) -> None:
        """Read `F.conv2d(x, self.weight, ...)` and the like as the layer they compute, at the path of
        the module whose tensors they read; arithmetic on its parameters alone is parameter work."""
        op, scope, site, output = call.op, call.scope, call.site, call.output
        try:
            layer = stand_in(op, call.args, call.kwargs)
        except NotALayer as exc:
            self.failures.fail(op, scope.path, str(exc), site, found, output)
            return
        except (TypeError, ValueError, RuntimeError) as exc:  # torch refuses the settings as a layer's
            self.failures.fail(op, scope.path, f"its settings make no layer: {exc}", site, found, output)
            return
        match = match_tensors(layer, self.root, self.values, self.tensors)
        given = layer.tensors.get("weight")
        weight = self.values.get(given) if given is not None else None
        if match.problem and isinstance(weight, ModelTensor) and not weight.parameter:
            try:  # a buffer as its weight: a fixed filter (BlurPool's blur)
                fixed = fixed_filter(layer)
            except NotALayer as exc:
                self.failures.fail(op, scope.path, str(exc), site, found, output)
                return
            layer, match = fixed, match_tensors(fixed, self.root, self.values, self.tensors)
        kind = self.readers.kind_of(type(layer.module))
        problem = match.problem
        if not problem and any(id(t) in self.graph.counted for t in match.counted):
            problem = "its weights are shared with another call"
        if not problem and len(set(found.inputs)) != 1:
            problem = "its weights are activations"
        if not problem and kind is None:
            problem = "no kind reads the layer it computes"
        if problem or kind is None:
            self.failures.fail(op, scope.path, problem, site, found, output)
            return
        try:
            layer_args = kind.from_module(layer.module)
        except NotImportable as exc:
            self.failures.fail(op, scope.path, str(exc), site, found, output)
            return
        path = scope.path if match.owner == scope.name else match.owner
        if path in self.graph.node_paths or not path:  # a second layer of one module's tensors
            path = self.graph.fresh_name(path, base_name(op))
        shape = per_sample(tuple(output.shape))
        index = self.graph.add(path, ((kind, layer_args),), (found.inputs[0],), shape, scope.path, op, site)
        if index is None:
            self.failures.mark_failed(output)
            return
        self.graph.counted.update(id(t) for t in match.counted)
        if match.work is not None:
            self.work.append(ParameterWork(path, match.work.ops, match.work.values, match.work.params))
        self.values.set(output, Activation(index))

    # -- the end -----------------------------------------------------------------------------------

    def finish(self, output: Any) -> None:
        """Read what the model returned as its outputs, and list what is left unread."""
        import torch

        found: list[tuple[tuple[Any, ...], int]] = []
        for keys, item in places(output):
            if not isinstance(item, torch.Tensor):
                continue
            value = self.values.get(item)
            if isinstance(value, Piece):
                index = read_piece(self, value, item)
                value = FAILED if index is None else Activation(index)
            if value is FAILED:
                unread(self)
                return
            if not isinstance(value, Activation):
                where = f"output{place_text(keys)}"
                reason = f"the model returns {where}, computed without its input (a constant or parameters)"
                self.problems.unsupported_op("output", "", reason, None)
                unread(self)
                return
            found.append((keys, value.node))
        unread(self)
        if not found:
            self.problems.unsupported_op(
                "output", "", "the model returns something other than a batched tensor", None
            )
            return
        self.output_places = found
