"""What the importer hands a kind's reader: one torch call met while the model ran, and its markers."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from convprof.errors import ConvprofError
from convprof.spec import Shape

__all__ = ["PARAMETER", "TENSOR", "TRACED", "Constant", "NotImportable", "TorchCall"]


class NotImportable(ConvprofError):
    """A torch module or call has settings no spec can express (the importer lists it as unsupported)."""


class _Tensor:
    """The marker a TorchCall puts where the call reads a tensor."""

    def __repr__(self) -> str:
        return "TENSOR"


#: Where a TorchCall's arguments held a tensor (its shape is in `input_shapes`).
TENSOR: Any = _Tensor()


class _Parameter:
    """The marker a TorchCall puts where the call reads one of the model's parameters directly."""

    def __repr__(self) -> str:
        return "PARAMETER"


#: Where a TorchCall's arguments held a parameter of the model, read in a forward (ConvNeXt's
#: `self.layer_scale * x`); its shape is in `parameter_shapes`.
PARAMETER: Any = _Parameter()


class _Traced:
    """The marker a TorchCall puts where the call reads a value computed while tracing."""

    def __repr__(self) -> str:
        return "TRACED"


#: Where a TorchCall's arguments held the batch size read from an input (`x.size(0)`, `x.shape[0]`),
#: which a view that keeps any batch must take from its input: every other size is given as torch
#: gave it while the model ran.
TRACED: Any = _Traced()


@dataclass(frozen=True, slots=True)
class Constant:
    """The marker a TorchCall puts where the call reads a tensor that is neither an activation nor a
    parameter of the model: one made from constants while running (YOLO's anchors from `arange` and
    `meshgrid`) or a module's buffer. Its values are unknown (the model runs without data); its shape
    is what a kind can count with."""

    shape: Shape
    """Its whole shape (no batch: it is the same for every sample); () for a 0-d tensor."""


@dataclass(frozen=True, slots=True)
class TorchCall:
    """A torch function or Tensor method call met while importing, as a kind's reader sees it."""

    target: str
    """The callable as the kind's `torch_calls` names it: `torch.flatten`, `Tensor.mean`, `operator.add`."""
    args: tuple[Any, ...]
    """Positional arguments: constants as given, TENSOR for each activation, PARAMETER for each
    parameter, Constant(shape) for a tensor made from constants, lists of tensors as lists (and, for
    a reduction over dimension 0 of `torch.stack(xs)`, the list `xs` in place of the stack)."""
    kwargs: Mapping[str, Any]
    """Keyword arguments, the same way."""
    input_shapes: tuple[Shape, ...]
    """Per-sample shape of each tensor the call reads, in argument order."""
    output_shape: Shape
    """Per-sample shape torch gives its output."""
    parameter_shapes: tuple[Shape, ...] = ()
    """Whole shape of each parameter the call reads directly (a PARAMETER in the arguments), in order,
    as the call sees it: a view of one (`self.gamma.view(1, -1, 1, 1)`) has the view's shape."""
    held_shapes: tuple[Shape, ...] = ()
    """Shape of each of those parameters as the model holds it (`[64]` for that gamma)."""
    item: int | None = None
    """For a call that returns several tensors (`x.chunk(2, 1)`, `x.max(1)`), which one this node is:
    its position in the result, as the model uses it (`a, b = x.chunk(2, 1)`, `x.max(1)[0]`,
    `x.max(1).values`); None for a call that returns one tensor."""

    def arg(self, position: int, name: str, default: Any) -> Any:
        """Return the argument at `position` or called `name`, else `default`."""
        if position < len(self.args):
            return self.args[position]
        return self.kwargs.get(name, default)
