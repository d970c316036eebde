"""What each tensor of a running model is: an activation, the model's own tensor, parameter work or a
constant, and the pieces and stacks read when they are used.

Tensors are known by identity while the model runs (each is kept alive until the import ends, so an
identity is never reused). A tensor computed from the inputs is an activation (a node of the graph);
one computed from the model's parameters and buffers alone is parameter work (a standardized weight:
computed once per step, whatever the batch); one made from nothing (`torch.arange` anchors) is a
constant.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from convprof.spec import Shape

if TYPE_CHECKING:
    import torch

__all__ = [
    "FAILED",
    "Activation",
    "Constant",
    "Derived",
    "ModelTensor",
    "Piece",
    "Several",
    "Stacked",
    "Value",
    "Values",
]


@dataclass(frozen=True, slots=True)
class Activation:
    """A tensor the graph computes: a node's output, or one of the network's inputs."""

    node: int
    """The node's index; a negative one for an input (NETWORK_INPUT for the first)."""


@dataclass(frozen=True, slots=True)
class ModelTensor:
    """One of the model's parameters or buffers, read as it is."""

    name: str
    """Its name in the model's state_dict: `layer1.0.conv1.weight`."""
    parameter: bool
    """True for a parameter, False for a buffer."""


@dataclass(frozen=True, slots=True)
class Derived:
    """Parameter work: a tensor computed from the model's own tensors alone."""

    sources: frozenset[str]
    """The names of the model tensors it is computed from."""
    values: int
    """Values computed to make it (elements of every result that is not a view), once per step."""
    ops: tuple[str, ...]
    """The calls that made it, in order, each once."""
    view_of: str | None = None
    """The model tensor it is a view of (`self.gamma.view(1, -1, 1, 1)`), when it is nothing else."""


@dataclass(frozen=True, slots=True)
class Constant:
    """A tensor made from nothing while the model runs (`torch.arange` anchors, a mask of zeros)."""

    ops: tuple[str, ...] = ()
    """The calls that made it."""


@dataclass(frozen=True, slots=True)
class Several:
    """A call whose result is several tensors (`x.chunk(2, 1)`, an LSTM's output and state), read
    piece by piece as the model uses them."""

    op: str
    """The op's name."""
    call: Any
    """What reading a piece needs: the reader's record of the call."""
    used: list[Any] = field(default_factory=list)
    """The pieces read so far (the reader appends)."""


@dataclass(frozen=True, slots=True)
class Piece:
    """One tensor of a call that returned several."""

    of: Several
    """The call."""
    item: tuple[int, ...]
    """Where it sits in the result: (1,) for the second, (1, 0) for the first of the second."""


@dataclass(frozen=True, slots=True)
class Stacked:
    """`torch.stack(xs)` of activations along a new leading dimension, before the batch: read when
    a sum or mean over that dimension takes it back (smp's FPN merge), else not one batched tensor."""

    inputs: tuple[Any, ...]
    """The tensors stacked, as they were given."""
    scope: str
    """The path of the module whose forward stacked them."""
    site: Any
    """Where the model stacked them."""


class _Failed:
    def __repr__(self) -> str:
        return "FAILED"


#: The value of a tensor computed by an op convprof lists as unsupported: what reads it is skipped.
FAILED: Any = _Failed()

#: What a tensor is while the model runs.
Value = Activation | ModelTensor | Derived | Constant | Piece | Stacked | _Failed


class Values:
    """The value of every tensor seen, by identity, each tensor held until the import ends."""

    def __init__(self) -> None:
        self.entries: dict[int, tuple[Any, Value]] = {}

    def set(self, tensor: torch.Tensor, value: Value) -> None:
        """Say what `tensor` is (again, after an in-place op)."""
        self.entries[id(tensor)] = (tensor, value)

    def get(self, tensor: torch.Tensor) -> Value | None:
        """Return what `tensor` is, or None for a tensor made outside the run (a module attribute)."""
        entry = self.entries.get(id(tensor))
        if entry is None or entry[0] is not tensor:
            return None
        return entry[1]


def per_sample(shape: tuple[int, ...]) -> Shape:
    """Return a batched shape without its batch."""
    return tuple(int(size) for size in shape[1:])
