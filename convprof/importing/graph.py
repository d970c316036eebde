"""The graph an import builds: its nodes, their names, and the model tensors they count."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from convprof.importing.calls import CallSite
from convprof.importing.problems import ModelImportError, Problems
from convprof.kinds import LayerKind, ShapeError
from convprof.kinds.base import ImportStep
from convprof.spec import NETWORK_INPUT, Shape
from convprof.units import format_shape

if TYPE_CHECKING:
    import torch

__all__ = ["Graph", "ImportedNode", "base_name"]


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


def base_name(target: str) -> str:
    """Return the name a call's node gets in its scope: operator.iadd -> add, Tensor.relu_ -> relu."""
    name = target.rsplit(".", 1)[-1].strip("_")
    if target.startswith("operator.i") and name[1:] in ("add", "mul", "sub", "truediv", "floordiv", "matmul"):
        name = name[1:]
    return name or "op"


class Graph:
    """The nodes read so far in order, the paths taken, and the model tensors the nodes count."""

    def __init__(self, root: torch.nn.Module, problems: Problems) -> None:
        self.root = root
        self.problems = problems
        self.nodes: list[ImportedNode] = []
        self.input_shapes: list[Shape] = []
        self.claimed: set[str] = set()
        """Paths module calls ran at (`relu`, then `relu_1`)."""
        self.node_paths: set[str] = set()
        self.held: set[str] = set()
        """Paths held for the pieces of a call that returned several tensors."""
        self.reserved = {name for name, _ in root.named_modules()}
        """The model's module names: a call's node never takes one."""
        self.counted: set[int] = set()
        """Identities of the model tensors a node counts."""

    def shape(self, index: int) -> Shape:
        """Return the per-sample output shape of node `index` (an input's for a negative one)."""
        return self.input_shapes[NETWORK_INPUT - index] if index < 0 else self.nodes[index].output_shape

    def claim(self, path: str) -> str:
        """Return the path a module call runs at: `path`, or `path_1` when it ran there before."""
        base, count = path, 0
        while path in self.claimed:
            count += 1
            path = f"{base}_{count}"
        self.claimed.add(path)
        return path

    def fresh_name(self, scope: str, base: str) -> str:
        """Return a path in `scope` no node, module or call has taken: `add`, then `add_1`."""
        prefix = f"{scope}." if scope else ""
        name, count = f"{prefix}{base}", 0
        while name in self.node_paths or name in self.reserved or name in self.claimed or name in self.held:
            count += 1
            name = f"{prefix}{base}_{count}"
        return name

    def append(self, node: ImportedNode) -> int:
        """Append `node` (an unknown or opaque one, or a checked one) and return its index."""
        self.node_paths.add(node.path)
        self.nodes.append(node)
        return len(self.nodes) - 1

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
        """Append the nodes of `steps` (at least one), checking each shape; return the last one's
        index, or None when a kind cannot take what it reads (then listed)."""
        assert steps, "no nodes to add: the call gives its input back"
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
            reads = (self.append(ImportedNode(step_path, kind, args, reads, output)),)
        return len(self.nodes) - 1

    def count(self, tensors: list[torch.Tensor]) -> tuple[int, int, int]:
        """Count the tensors no node counts yet, once: return their parameters, floating-point buffer
        elements and bytes of other buffers (integer counters)."""
        import torch

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
        return params, buffers, fixed

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
