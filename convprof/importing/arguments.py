"""A torch call's arguments as a kind's reader sees them: markers for what each tensor is, and what
the call reads (activations, the model's tensors, parameter work, constants)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from convprof.importing.running import BatchSize
from convprof.importing.values import FAILED, Activation, Derived, ModelTensor, Piece, Stacked, Values
from convprof.kinds.calls import PARAMETER, TENSOR, TRACED, Constant
from convprof.spec import Shape

if TYPE_CHECKING:
    import torch

__all__ = ["Arguments", "Found"]


@dataclass
class Found:
    """What a call's arguments hold."""

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
    """Shapes of the constants it reads (tensors made while running, a module's plain tensors)."""
    stacked: list[Stacked] = field(default_factory=list)
    """Stacks of activations it reads (their activations are in `inputs`)."""
    failed: bool = False
    """Whether it reads what an op listed as unsupported computed."""

    @property
    def model_tensors(self) -> list[str]:
        """Names of the model tensors it reads, directly or through parameter work."""
        names = [*self.parameters, *self.buffers]
        for derived in self.derived:
            names += sorted(derived.sources)
        return names


class Arguments:
    """Reads a call's arguments against what each tensor is (`values`)."""

    def __init__(
        self,
        values: Values,
        tensors: dict[str, torch.Tensor],
        piece: Callable[[Piece, torch.Tensor], int | None],
    ) -> None:
        self.values = values
        self.tensors = tensors
        """The model's parameters and buffers by name."""
        self.piece = piece
        """Reads a piece of a call that returned several tensors, as the model uses it."""

    def gather(self, value: Any, found: Found) -> Any:
        """Return a call's argument as a TorchCall holds it, noting what it reads in `found`."""
        import torch

        if isinstance(value, torch.Tensor):
            return self.tensor(value, found)
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

    def is_parameter(self, name: str) -> bool:
        """Return True when the model tensor `name` is a parameter (not a buffer)."""
        value = self.values.get(self.tensors[name])
        return isinstance(value, ModelTensor) and value.parameter

    def tensor(self, tensor: torch.Tensor, found: Found) -> Any:
        """Return the marker for one tensor argument, noting what it is in `found`."""
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
                found.parameter_shapes.append(tuple(int(size) for size in tensor.shape))
                return PARAMETER
            found.buffers.append(value.name)
            return Constant(tuple(int(size) for size in tensor.shape))
        if isinstance(value, Derived):
            found.work.append(value)
            if value.view_of is not None and self.is_parameter(value.view_of):
                found.parameters.append(value.view_of)  # `self.gamma.view(1, -1, 1, 1)`: the parameter
                found.parameter_shapes.append(tuple(int(size) for size in tensor.shape))
                return PARAMETER
            if value.view_of is not None:
                found.buffers.append(value.view_of)
                return Constant(tuple(int(size) for size in tensor.shape))
            found.derived.append(value)
            return PARAMETER
        if isinstance(value, Stacked):
            # `torch.stack(xs)` before the batch: the markers of xs, in place of the stack, for a
            # kind that reads a stack (a sum over that dimension); no other kind reads a list there.
            found.stacked.append(value)
            return [self.tensor(item, found) for item in value.inputs]
        if value is FAILED:
            found.failed = True
            return TENSOR
        shape = tuple(int(size) for size in tensor.shape)
        found.constants.append(shape)  # made while running, or a module's plain tensor
        return Constant(shape)
