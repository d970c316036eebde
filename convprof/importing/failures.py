"""What no kind reads while importing: each such call listed as unsupported, or kept as an opaque node.

The reader reads; this keeps the account of what it could not read, in the graph and in the list
the import error (or the notes of `--allow-unknown`) is made from."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from convprof.importing.arguments import Found
from convprof.importing.calls import CallSite
from convprof.importing.graph import Graph, ImportedNode, base_name
from convprof.importing.problems import Problems
from convprof.importing.running import TRACE_BATCH, tensors_in
from convprof.importing.values import FAILED, Activation, ModelTensor, Values, per_sample
from convprof.kinds import lookup
from convprof.kinds.opaque import Opaque, OpaqueArgs

if TYPE_CHECKING:
    import torch

__all__ = ["Failures"]


class Failures:
    """Lists each call no kind reads, or keeps it as an opaque node where unknown ops are allowed."""

    def __init__(
        self,
        problems: Problems,
        graph: Graph,
        values: Values,
        tensors: dict[str, torch.Tensor],
        allow_unknown: bool,
    ) -> None:
        self.problems = problems
        self.graph = graph
        self.values = values
        self.tensors = tensors
        """The model's parameters and buffers by name (an opaque node counts those it reads)."""
        self.allow_unknown = allow_unknown

    def mark_failed(self, output: Any) -> None:
        for tensor in tensors_in(output):
            if not isinstance(self.values.get(tensor), ModelTensor):
                self.values.set(tensor, FAILED)

    def fail(
        self,
        op: str,
        scope: str,
        reason: str,
        site: CallSite | None,
        found: Found,
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
            unknown = ImportedNode(
                f"<unknown {len(self.graph.nodes)}>",
                None,
                None,
                tuple(found.inputs),
                per_sample(tuple(target.shape)),
            )
            self.values.set(target, Activation(self.graph.append(unknown)))
        else:
            self.mark_failed(output)

    def keep_opaque(
        self,
        op: str,
        scope: str,
        found: Found,
        target: torch.Tensor,
        module: torch.nn.Module | None,
        reason: str,
        site: CallSite | None,
    ) -> int:
        """Append an opaque node standing for `target`, with the parameters and buffers it holds that
        no node counts yet: a module's own, or the model tensors a call reads (each counted once)."""
        reads = tuple(dict.fromkeys(found.inputs))
        shapes = tuple(self.graph.shape(i) for i in reads)
        tensors = [*module.parameters(), *module.buffers()] if module is not None else []
        params, buffers, fixed = self.graph.count(
            tensors + [self.tensors[name] for name in found.model_tensors]
        )
        shape = per_sample(tuple(target.shape))
        path = scope if module is not None else self.graph.fresh_name(scope, base_name(op))
        opaque = lookup(Opaque.name)
        assert opaque is not None
        args = OpaqueArgs(op, shapes, shape, params, buffers, fixed)
        index = self.graph.append(ImportedNode(path, opaque, args, reads, shape))
        self.values.set(target, Activation(index))
        self.problems.opaque_op(op, scope, reason, site)
        return index
