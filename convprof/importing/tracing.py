"""Trace a torch module with torch.fx and read its nodes back as the registry's kinds.

torch.fx symbolic tracing, not torch.export: it keeps torch's module tree (a node's path is the name of
the module that made it), records the calls as written (`F.relu`, `x.flatten`, `operator.add`) where
export decomposes them into ATen operators, and needs no example values, so the tensors it propagates
to check shapes can be on the meta device: a model of any size costs no memory to import.
"""

from __future__ import annotations

import operator
import re
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from convprof.errors import ConvprofError
from convprof.importing.tables import ModuleReaders, call_table, callable_name, type_name
from convprof.kinds import LayerKind, ShapeError, lookup
from convprof.kinds.base import PARAMETER, TENSOR, TRACED, ImportStep, NotImportable, TorchCall
from convprof.kinds.opaque import Opaque, OpaqueArgs
from convprof.spec import NETWORK_INPUT, Shape
from convprof.units import format_shape

if TYPE_CHECKING:
    import torch
    import torch.fx

__all__ = [
    "TRACE_BATCH",
    "ImportedNode",
    "ModelImportError",
    "OpaqueOps",
    "TracedModel",
    "UnusedParameters",
    "trace_module",
]

#: Samples in the tensor shapes are propagated with: 2, not 1, so that an op that mixes the batch into
#: another dimension (x.view(-1)) shows as a changed batch instead of passing unnoticed.
TRACE_BATCH = 2
#: Calls that read a tensor's metadata, not its values: they cost nothing and make no node.
_SHAPE_QUERIES = frozenset(
    {"Tensor.size", "Tensor.dim", "Tensor.numel", "builtins.getattr", "Tensor.ndimension"}
)
#: Modules tracing goes through (their children are the nodes), though torch.nn defines them.
_CONTAINERS = ("Sequential", "ModuleList", "ModuleDict")
#: Unsupported ops listed in one message, most frequent first; the rest are counted.
_MAX_LISTED = 12


class ModelImportError(ConvprofError):
    """A torch module convprof cannot read as a spec: untraceable, or with ops it cannot count."""


@dataclass(frozen=True, slots=True)
class ImportedNode:
    """One node read back from the traced graph."""

    path: str
    """Its path: the torch module's name, or a name in the scope of the module whose forward called it."""
    kind: LayerKind | None
    """The registry's kind; None for an op no kind reads (the import then fails, listing it)."""
    args: Any
    """The kind's arguments."""
    inputs: tuple[int, ...]
    """Indices of the nodes it reads (NETWORK_INPUT for the input), in argument order."""
    output_shape: Shape
    """Per-sample output shape, equal to torch's."""


@dataclass(frozen=True, slots=True)
class UnusedParameters:
    """Parameters and buffers of a module the traced graph never calls (not in the spec)."""

    path: str
    """The module's name (the outermost one never called)."""
    params: int
    """Elements of its parameters."""
    buffers: int
    """Elements of its buffers."""


@dataclass(frozen=True, slots=True)
class OpaqueOps:
    """Calls of one op at one path pattern kept as opaque nodes (`--allow-unknown`)."""

    op: str
    """The op, with the reason no kind reads it where there is one."""
    where: str
    """The path pattern of its calls: `encoder.layers.*.attn`."""
    count: int
    """How many calls."""


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


def _pattern(path: str) -> str:
    """Return a path with its numbered segments as `*`: encoder.layers.3.attn -> encoder.layers.*.attn."""
    return ".".join("*" if re.fullmatch(r"\d+", part) else part for part in path.split(".")) or "<top>"


def _first_line(error: BaseException) -> str:
    lines = [line.strip() for line in str(error).strip().splitlines() if line.strip()]
    return lines[0] if lines else type(error).__name__


def _base_name(target: str) -> str:
    """Return the name a call's node gets in its scope: operator.iadd -> add, Tensor.relu_ -> relu."""
    name = target.rsplit(".", 1)[-1].strip("_")
    if target.startswith("operator.i") and name[1:] in ("add", "mul", "sub", "truediv"):
        name = name[1:]
    return name or "op"


def _make_tracer(readers: ModuleReaders) -> Any:
    import torch.fx
    from torch import nn

    class Tracer(torch.fx.Tracer):
        """fx's tracer, recording which module call (and which call of it) made each node."""

        def __init__(self) -> None:
            super().__init__()
            self.stack: list[tuple[str, str]] = [("", "")]
            self.used: set[str] = set()
            self.calls: Counter[str] = Counter()

        def is_leaf_module(self, m: nn.Module, module_qualified_name: str) -> bool:
            cls = type(m)
            if readers.kind_of(cls) is not None:
                return True
            return cls.__module__.startswith("torch.nn.") and cls.__name__ not in _CONTAINERS

        def call_module(
            self, m: nn.Module, forward: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
        ) -> Any:
            qualname = self.path_of_module(m)
            parent_name, parent_path = self.stack[-1]
            if parent_name and qualname.startswith(parent_name + "."):
                path = f"{parent_path}.{qualname[len(parent_name) + 1 :]}"
            elif not parent_name and parent_path:
                path = f"{parent_path}.{qualname}"
            else:
                path = qualname
            base, count = path, 0
            while path in self.used:  # a module called again: relu, relu_1, ...
                count += 1
                path = f"{base}_{count}"
            self.used.add(path)
            self.calls[qualname] += 1
            self.stack.append((qualname, path))
            try:
                return super().call_module(m, forward, args, kwargs)
            finally:
                self.stack.pop()

        def create_node(self, *args: Any, **kwargs: Any) -> torch.fx.Node:
            node = super().create_node(*args, **kwargs)
            node.meta["convprof_scope"] = self.stack[-1]
            return node

    return Tracer()


@contextmanager
def _eval_mode(module: torch.nn.Module) -> Iterator[None]:
    """Trace in eval mode (what convprof counts) and give the module back in its own modes."""
    modes = {sub: sub.training for sub in module.modules()}
    module.eval()
    try:
        yield
    finally:
        for sub, training in modes.items():
            sub.training = training


def _propagate(graph_module: torch.fx.GraphModule, input_shape: Shape) -> dict[Any, Any]:
    """Run the graph on a tensor without data; return each node's result (tensors hold only shapes).

    A module whose weights are all on the meta device runs on meta tensors directly; one with real
    weights runs under a FakeTensorMode, which computes nothing and allocates nothing either."""
    import torch
    import torch.fx

    results: dict[Any, Any] = {}

    class Recorder(torch.fx.Interpreter):
        def run_node(self, n: torch.fx.Node) -> Any:
            results[n] = value = super().run_node(n)
            return value

    tensors = [*graph_module.parameters(), *graph_module.buffers()]
    on_meta = all(t.device.type == "meta" for t in tensors)
    sample = torch.empty((TRACE_BATCH, *input_shape), device="meta")
    if on_meta:
        with torch.no_grad():
            Recorder(graph_module).run(sample)
        return results
    from torch._subclasses.fake_tensor import FakeTensorMode

    with torch.no_grad(), FakeTensorMode(allow_non_fake_inputs=True) as mode:
        Recorder(graph_module).run(mode.from_tensor(torch.empty((TRACE_BATCH, *input_shape))))
    return results


@dataclass(frozen=True, slots=True)
class _Several:
    """A call that returns several tensors (`x.chunk(2, 1)`), read when `operator.getitem` picks one."""

    op: str
    """The callable's name."""
    args: Any
    """Its positional arguments, as a TorchCall holds them."""
    kwargs: Any
    """Its keyword arguments, the same way."""
    inputs: tuple[Any, ...]
    """The traced nodes of the tensors it reads."""


def _places(value: Any, where: str = "") -> Iterator[tuple[str, Any]]:
    """Yield (where, item) for each item of a nested dict, list or tuple: `['out']`, `[0]`."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _places(item, f"{where}[{key!r}]")
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from _places(item, f"{where}[{index}]")
    else:
        yield where, value


class _Reader:
    """Turns the traced graph into ImportedNodes, collecting every op it cannot read."""

    def __init__(
        self,
        root: torch.nn.Module,
        results: dict[Any, Any],
        uncalled: set[str],
        readers: ModuleReaders,
        allow_unknown: bool,
    ) -> None:
        self.root = root
        self.allow_unknown = allow_unknown
        """Keep an op no kind reads as an opaque node where torch gives the model one tensor of it."""
        self.opaque: Counter[tuple[str, str]] = Counter()
        """Ops kept opaque, by (op and reason, path pattern)."""
        self.keepable = 0
        """Unsupported ops that --allow-unknown would have kept opaque."""
        self.uncalled = uncalled
        """Names of the modules tracing never called."""
        self.results = results
        self.readers = readers
        self.calls = call_table()
        self.nodes: list[ImportedNode] = []
        self.values: dict[Any, int] = {}
        self.several: dict[Any, _Several] = {}
        """Calls that return several tensors, by their traced node."""
        self.unsupported: Counter[tuple[str, str]] = Counter()
        self.reserved = {name for name, _ in root.named_modules()}
        self.used_paths: set[str] = set()
        self.counted: set[int] = set()
        self.failed: set[Any] = set()
        """Nodes not read back: what reads them is skipped, not listed again."""
        self.output_place = ""
        """Where the output tensor sits in a container the model returns (`['out']`)."""
        self.outputs: list[str] = []
        """Where each tensor sits when the model returns several: the spec can have only one."""

    def fail(
        self,
        node: Any,
        op: str,
        scope: str,
        reason: str = "",
        *,
        module: torch.nn.Module | None = None,
        attributes: list[str] | tuple[str, ...] = (),
    ) -> None:
        """Keep `node` as an opaque node when unknown ops are allowed and it can be one; otherwise
        list it as unsupported and read on past it.

        Where torch gave it one batched tensor, it stays in the graph as a node of unknown kind with
        torch's shape, so that every op after it is still read and listed; otherwise what reads it is
        skipped (it follows from this one)."""
        where = _pattern(scope)
        target, why = self.opaque_target(node)
        if target is not None and self.allow_unknown:
            self.keep_opaque(node, target, op, scope, module, attributes)
            self.opaque[(op + (f" ({reason})" if reason else ""), where)] += 1
            return
        if self.allow_unknown and not reason:
            reason = why  # what stops it being an opaque node is the news
        named = op + (f" ({reason})" if reason else "")
        self.keepable += target is not None
        shape = self.tensor_shape(node)
        if shape and shape[0] == TRACE_BATCH and node not in self.values:
            sources = [i for i in node.all_input_nodes if i in self.values]
            reads = tuple(self.values[i] for i in sources)
            self.nodes.append(ImportedNode(f"<unknown {len(self.nodes)}>", None, None, reads, shape[1:]))
            self.values[node] = len(self.nodes) - 1
        else:
            self.failed.add(node)
        self.unsupported[(named, where)] += 1

    def opaque_target(self, node: Any) -> tuple[Any, str]:
        """Return the node whose value an opaque node can stand for, and why there is none when not.

        The target is `node` when torch gave one batched tensor of it, or the one element the model
        uses of a tuple it gave (nn.MultiheadAttention's output beside its unused weights)."""
        import torch

        target = node
        not_one = "its result is not one tensor the model uses"
        if not isinstance(self.results.get(node), torch.Tensor):
            users = list(node.users)
            if not users or any(
                user.op != "call_function"
                or user.target is not operator.getitem
                or not isinstance(user.args[1], int)
                for user in users
            ):
                return None, not_one
            used = [user for user in users if user.users]
            if len(used) != 1:
                return None, not_one
            target = used[0]
        shape = self.tensor_shape(target)
        if shape is None or target in self.values:
            return None, not_one
        if len(shape) < 2 or shape[0] != TRACE_BATCH:
            return None, "its result is not batched as its input"
        if not any(source in self.values for source in node.all_input_nodes):
            # torch.zeros(x.size(0), ...): nothing of the graph flows in, so it has no place in it.
            return None, "it reads no tensor of the model's graph"
        return target, ""

    def keep_opaque(
        self,
        node: Any,
        target: Any,
        op: str,
        scope: str,
        module: torch.nn.Module | None,
        attributes: list[str] | tuple[str, ...],
    ) -> None:
        """Append an opaque node for `node`, standing for the value of `target`, with the parameters
        and buffers it holds that no node counts yet: a module's own, or the module tensors a call
        reads directly (each counted once)."""
        import torch

        sources = [source for source in dict.fromkeys(node.all_input_nodes) if source in self.values]
        reads = tuple(self.values[source] for source in sources)
        shapes = tuple(self.input_shape if i == NETWORK_INPUT else self.nodes[i].output_shape for i in reads)
        tensors = [*module.parameters(), *module.buffers()] if module is not None else []
        for name in attributes:
            tensors += self.module_tensors(name)
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
        shape = self.tensor_shape(target)
        assert shape is not None
        path = scope if module is not None else self.fresh_name(scope, _base_name(op))
        args = OpaqueArgs(op, shapes, shape[1:], params, buffers, fixed)
        self.used_paths.add(path)
        opaque = lookup(Opaque.name)
        assert opaque is not None
        self.nodes.append(ImportedNode(path, opaque, args, reads, shape[1:]))
        self.values[target] = len(self.nodes) - 1
        if target is not node:
            self.failed.add(node)  # the tuple: its other elements are unused, and skipped quietly

    def module_tensors(self, name: str) -> list[torch.Tensor]:
        """Return the parameter or buffer of the root module called `name` (none for a constant)."""
        for getter in (self.root.get_parameter, self.root.get_buffer):
            try:
                return [getter(name)]
            except AttributeError:
                continue
        return []

    def tensor_shape(self, node: Any) -> Shape | None:
        import torch

        value = self.results.get(node)
        return tuple(value.shape) if isinstance(value, torch.Tensor) else None

    def batched_tensors(self, node: Any) -> bool:
        """Return True when `node`'s result is a tuple or list of batched tensors (x.chunk(2, 1))."""
        import torch

        value = self.results.get(node)
        return (
            isinstance(value, tuple | list)
            and bool(value)
            and all(isinstance(t, torch.Tensor) and t.dim() and t.shape[0] == TRACE_BATCH for t in value)
        )

    def convert(self, value: Any, inputs: list[Any], attributes: list[str]) -> Any:
        """Return a call's argument as a TorchCall holds it, collecting the tensors it reads."""
        import torch.fx

        if isinstance(value, torch.fx.Node):
            if value.op == "get_attr":
                attributes.append(str(value.target))
                return PARAMETER
            if value in self.values:
                inputs.append(value)
                return TENSOR
            return TRACED
        if isinstance(value, list | tuple):
            items = [self.convert(item, inputs, attributes) for item in value]
            return items if isinstance(value, list) else tuple(items)
        if isinstance(value, dict):
            return {key: self.convert(item, inputs, attributes) for key, item in value.items()}
        return value

    def fresh_name(self, scope: str, base: str) -> str:
        prefix = f"{scope}." if scope else ""
        name, count = f"{prefix}{base}", 0
        while name in self.used_paths or name in self.reserved:
            count += 1
            name = f"{prefix}{base}_{count}"
        return name

    def add(
        self,
        node: Any,
        path: str,
        steps: tuple[ImportStep, ...],
        inputs: list[Any],
        op: str,
        module: torch.nn.Module | None = None,
    ) -> None:
        """Append the nodes of `steps`, checking each shape; the last one stands for `node` (a call of
        `module`, when one is given)."""
        shape = self.tensor_shape(node)
        assert shape is not None
        scope = node.meta["convprof_scope"][1]
        reads = tuple(self.values[i] for i in inputs)
        for position, (kind, args) in enumerate(steps):
            step_path = (
                path
                if position == 0
                else self.fresh_name(scope, f"{path.rsplit('.', 1)[-1]}_{kind.name.lower()}")
            )
            shapes = tuple(
                self.nodes[i].output_shape if i != NETWORK_INPUT else self.input_shape for i in reads
            )
            lowest, highest = kind.arity
            if not lowest <= len(shapes) <= (highest or len(shapes)):
                self.fail(
                    node, op, scope, f"as {kind.name} it would read {len(shapes)} tensors", module=module
                )
                return
            try:
                output = kind.node_output_shape(args, shapes)
            except ShapeError as exc:
                self.fail(node, op, scope, f"as {kind.name}: {exc}", module=module)
                return
            if position == len(steps) - 1 and output != shape[1:]:
                raise ModelImportError(
                    f"{step_path}: convprof's {kind.name} gives {format_shape(output)} where torch gives "
                    f"{format_shape(shape[1:])}; this is a bug in convprof: please report it with the model"
                )
            self.used_paths.add(step_path)
            self.nodes.append(ImportedNode(step_path, kind, args, reads, output))
            reads = (len(self.nodes) - 1,)
        self.values[node] = len(self.nodes) - 1

    def shapes_of(self, inputs: list[Any]) -> tuple[Shape, ...]:
        """Return the per-sample shape of each traced tensor in `inputs`."""
        return tuple(
            self.input_shape if self.values[i] == NETWORK_INPUT else self.nodes[self.values[i]].output_shape
            for i in inputs
        )

    def read(self, graph_module: torch.fx.GraphModule, input_shape: Shape) -> None:
        import operator

        self.input_shape = input_shape
        placeholders = 0
        for node in graph_module.graph.nodes:
            scope = node.meta.get("convprof_scope", ("", ""))[1]
            if node.op == "placeholder":
                placeholders += 1
                if placeholders == 1:
                    self.values[node] = NETWORK_INPUT
                elif node.users:
                    self.fail(node, f"forward argument {node.target!r}", scope, "convprof feeds one input")
                continue
            if node.op in ("get_attr", "output"):
                if node.op == "output":
                    self.output(node)
                continue
            if node in self.values:  # the tuple element an opaque node already stands for
                continue
            if any(source in self.failed for source in node.all_input_nodes):
                self.failed.add(node)
                continue
            if node.target is operator.getitem and node.args[0] in self.several:
                self.pick(node, scope)
                continue
            inputs: list[Any] = []
            attributes: list[str] = []
            args = self.convert(tuple(node.args), inputs, attributes)
            kwargs = self.convert(dict(node.kwargs), inputs, attributes)
            shape = self.tensor_shape(node)
            if node.op == "call_module":
                self.call_module(node, scope, inputs, attributes, args, kwargs, shape)
                continue
            op = f"Tensor.{node.target}" if node.op == "call_method" else callable_name(node.target)
            if shape is None:  # shape arithmetic (x.size(0) // 2) costs nothing; other results are ops
                if inputs and not attributes and self.batched_tensors(node):
                    self.several[node] = _Several(op, args, kwargs, tuple(inputs))
                elif (inputs or attributes) and op not in _SHAPE_QUERIES:
                    self.fail(node, op, scope, "its result is not one tensor", attributes=attributes)
                continue
            parameters = [self.parameter_shape(name) for name in attributes]
            known = tuple(p for p in parameters if p is not None)
            if len(known) != len(parameters) or (attributes and not inputs):
                self.fail(
                    node,
                    op,
                    scope,
                    f"reads the module's tensor {_pattern(attributes[0])} directly",
                    attributes=attributes,
                )
                continue
            if not shape or shape[0] != TRACE_BATCH:  # x.sum() reduces the batch away
                self.fail(node, op, scope, "changes the batch dimension")
                continue
            call = TorchCall(op, args, kwargs, self.shapes_of(inputs), shape[1:], known)
            self.offer(node, scope, op, call, inputs, attributes)

    def parameter_shape(self, name: str) -> Shape | None:
        """Return the shape of the model's parameter `name`, or None for a buffer or a constant."""
        try:
            parameter = self.root.get_parameter(name)
        except AttributeError:
            return None
        return tuple(parameter.shape)

    def offer(
        self, node: Any, scope: str, op: str, call: TorchCall, inputs: list[Any], attributes: list[str]
    ) -> None:
        """Read `call` as the first kind that takes it, or list it as unsupported."""
        steps = None
        for kind in self.calls.get(op, ()):
            steps = kind.from_call(call)
            if steps is not None:
                break
        if steps is None and not attributes:
            self.fail(node, op, scope)
            return
        if not attributes:
            assert steps is not None
            self.add(node, self.fresh_name(scope, _base_name(op)), steps, inputs, op)
            return
        # A kind whose parameter is the node (ConvNeXt's layer scale): the node takes the parameter's
        # path, so that the built model holds it where the original does and loads its state_dict.
        if steps is None or len(steps) != 1 or not steps[0][0].parameter_at_path or len(attributes) != 1:
            self.fail(
                node,
                op,
                scope,
                f"reads the module's tensor {_pattern(attributes[0])} directly",
                attributes=attributes,
            )
            return
        (name,) = attributes
        parameter = self.root.get_parameter(name)
        if id(parameter) in self.counted:
            self.fail(node, op, scope, f"its parameter {_pattern(name)} is used by another call too")
            return
        if name in self.used_paths:
            self.fail(node, op, scope, f"a node already has the path {name}")
            return
        self.counted.add(id(parameter))
        self.add(node, name, steps, inputs, op)

    def pick(self, node: Any, scope: str) -> None:
        """Read `operator.getitem` of a call that returns several tensors as the one it picks."""
        several = self.several[node.args[0]]
        shape = self.tensor_shape(node)
        index = node.args[1]
        if shape is None or not isinstance(index, int):
            self.fail(node, several.op, scope, "its result is not one tensor")
            return
        index %= len(self.results[node.args[0]])  # x.chunk(2, 1)[-1] is the last
        inputs = list(several.inputs)
        call = TorchCall(
            several.op, several.args, several.kwargs, self.shapes_of(inputs), shape[1:], item=index
        )
        if not any(kind.from_call(call) is not None for kind in self.calls.get(several.op, ())):
            # No kind takes a piece of it (torch.sort's values and indices): the call is listed once.
            if node.args[0] not in self.failed:
                self.failed.add(node.args[0])
                self.fail(node.args[0], several.op, scope, "its result is not one tensor")
            self.failed.add(node)
            return
        self.offer(node, scope, several.op, call, inputs, [])

    def call_module(
        self,
        node: Any,
        scope: str,
        inputs: list[Any],
        attributes: list[str],
        args: Any,
        kwargs: Any,
        shape: Shape | None,
    ) -> None:
        module = self.root.get_submodule(str(node.target))
        op = type_name(type(module))
        kind = self.readers.kind_of(type(module))
        if kind is None:
            self.fail(node, op, scope, module=module)
            return
        if not shape or shape[0] != TRACE_BATCH:
            self.fail(node, op, scope, "its result is not one batched tensor", module=module)
            return
        lowest, highest = kind.arity
        if (
            attributes
            or kwargs
            or any(a is not TENSOR for a in args)
            or not lowest <= len(inputs) <= (highest or len(inputs))
        ):
            self.fail(node, op, scope, "called with other arguments than its input tensor", module=module)
            return
        weights = [id(t) for t in (*module.parameters(), *module.buffers())]
        if weights and any(w in self.counted for w in weights):
            self.fail(node, op, scope, "its weights are shared with another call", module=module)
            return
        try:
            args_value = kind.from_module(module)
        except NotImportable as exc:
            self.fail(node, op, scope, str(exc), module=module)
            return
        self.add(node, scope, ((kind, args_value),), inputs, op, module)
        self.counted.update(weights)

    def output(self, node: Any) -> None:
        import torch.fx

        (result,) = node.args
        places = [
            (where, item)
            for where, item in _places(result)
            if isinstance(item, torch.fx.Node) and (item in self.values or item in self.failed)
        ]
        if any(item in self.failed for _, item in places):
            return
        if len(places) != 1:
            self.outputs = [where for where, _ in places]
            reason = (
                f"the model returns {len(places)} tensors ({', '.join(self.outputs)})"
                if places
                else "the model returns something other than a batched tensor"
            )
            self.fail(node, "output", "", reason)
            return
        ((self.output_place, result),) = places
        if self.values[result] != len(self.nodes) - 1 or not self.nodes:
            # The model returns an earlier tensor: an identity node makes it the spec's last one.
            from torch import nn

            identity = self.readers.kind_of(nn.Identity)  # the kind that reads nn.Identity back
            assert identity is not None
            self.add(
                result, self.fresh_name("", "output"), ((identity, identity.Args()),), [result], "output"
            )

    def unused(self) -> tuple[UnusedParameters, ...]:
        """Return the modules whose parameters or buffers no node counts, each under its outermost
        module never called (an auxiliary head is one entry, not one per layer)."""
        totals: dict[str, list[int]] = {}
        seen: set[int] = set(self.counted)
        for name, module in self.root.named_modules():
            params = [p for p in module.parameters(recurse=False) if id(p) not in seen]
            buffers = [b for b in module.buffers(recurse=False) if id(b) not in seen]
            seen.update(id(t) for t in (*params, *buffers))
            if not params and not buffers:
                continue
            owner = name
            while "." in owner and owner.rsplit(".", 1)[0] in self.uncalled:
                owner = owner.rsplit(".", 1)[0]
            entry = totals.setdefault(owner, [0, 0])
            entry[0] += sum(p.numel() for p in params)
            entry[1] += sum(b.numel() for b in buffers)
        return tuple(UnusedParameters(path or "<top>", p, b) for path, (p, b) in totals.items())

    def message(self) -> str:
        entries = self.unsupported.most_common()
        listed = [f"{count} x {op} at {where}" for (op, where), count in entries[:_MAX_LISTED]]
        more = len(entries) - _MAX_LISTED
        if more > 0:
            listed.append(f"and {more} more")
        total = sum(self.unsupported.values())
        ops = f"{total} op{'s' if total != 1 else ''}"
        if self.allow_unknown:
            return (
                f"{ops} convprof cannot count, not even as opaque nodes: {'; '.join(listed)} (an opaque "
                "node stands for an op whose result the model uses as one batched tensor)"
            )
        hint = (
            "; --allow-unknown keeps an op whose result is one batched tensor as an opaque node, "
            "its counts unknown"
            if self.keepable
            else ""
        )
        return (
            f"{ops} convprof cannot count: {'; '.join(listed)} "
            f"(convprof counts only what its layer kinds can say exactly{hint})"
        )


def trace_module(module: torch.nn.Module, input_shape: Shape, *, allow_unknown: bool = False) -> TracedModel:
    """Trace `module` for one sample of `input_shape`; raise ModelImportError listing what it cannot read.

    With `allow_unknown`, an op no kind reads whose result the model uses as one batched tensor
    becomes an opaque node (shapes, parameters and buffers known, arithmetic not) instead."""
    import torch.fx

    readers = ModuleReaders()
    with _eval_mode(module):
        tracer = _make_tracer(readers)
        try:
            graph = tracer.trace(module)
        except Exception as exc:  # the tracer's own errors and the model code's, alike
            raise ModelImportError(
                f"torch.fx cannot trace {type(module).__name__}: {_first_line(exc)}; trace a submodule "
                "without data-dependent control flow, or fix the value the code branches on (a fixed "
                "input size, a constructor argument)"
            ) from exc
        graph_module = torch.fx.GraphModule(module, graph)
        try:
            results = _propagate(graph_module, input_shape)
        except Exception as exc:  # the model refuses the input shape: say so in its own words
            raise ModelImportError(
                f"{type(module).__name__} cannot run on a {format_shape(input_shape)} input: "
                f"{_first_line(exc)}"
            ) from exc
    called = {*tracer.calls, ""}
    uncalled = {name for name, _ in module.named_modules() if name not in called}
    reader = _Reader(module, results, uncalled, readers, allow_unknown)
    reader.read(graph_module, input_shape)
    if len(reader.outputs) > 1 and len(reader.unsupported) == 1:
        raise ModelImportError(
            f"{type(module).__name__} returns {len(reader.outputs)} tensors, "
            f"{', '.join(reader.outputs[:-1])} and {reader.outputs[-1]}, where a spec has one output: "
            "import a wrapper module whose forward returns the one to profile "
            f"(`return model(x){reader.outputs[0]}`)"
        )
    if reader.unsupported:
        raise ModelImportError(reader.message())
    if not reader.nodes:
        raise ModelImportError(f"{type(module).__name__} has no op to count: its output is its input")
    opaque = tuple(OpaqueOps(op, where, count) for (op, where), count in reader.opaque.most_common())
    return TracedModel(tuple(reader.nodes), reader.unused(), reader.output_place, opaque)
