"""Name a torch call seen while a model runs as kinds name it, and find where the model's code made it.

A running model shows its operators as Tensor methods (`x + y` calls `Tensor.add`), so the name of
an operator is read from the instruction the calling frame is executing: `x + y` is `operator.add`,
`x += y` `operator.iadd`, `x[:, :8]` `operator.getitem`, as torch.fx names them, while `x.add(y)`
stays `Tensor.add`. The first frame outside torch and convprof is the model's own line, which a
message about the call names.
"""

from __future__ import annotations

import dis
import os
import sys
from dataclasses import dataclass
from types import FrameType
from typing import Any

from convprof.importing.tables import callable_name

__all__ = ["CallSite", "call_name", "model_frame", "outside_model", "reflected", "site_of"]

#: BINARY_OP's argument -> the operator it applies (Python 3.11's numbering; in-place forms follow
#: at 13 + the same index).
_BINARY = (
    "add",
    "and_",
    "floordiv",
    "lshift",
    "matmul",
    "mul",
    "mod",
    "or_",
    "pow",
    "rshift",
    "sub",
    "truediv",
    "xor",
)
_INPLACE_OFFSET = len(_BINARY)
#: Other instructions that apply an operator to a tensor, by opcode name.
_UNARY = {
    "UNARY_NEGATIVE": "neg",
    "UNARY_INVERT": "invert",
    "UNARY_POSITIVE": "pos",
    "BINARY_SUBSCR": "getitem",
    "STORE_SUBSCR": "setitem",
}
#: Tensor's reflected operators, Python functions torch calls with the tensor first: `1 - x` is
#: `x.__rsub__(1)`, named as fx names it, `operator.sub(1, x)`, with its operands back in order.
_REFLECTED = {
    "__rsub__": "sub",
    "__rdiv__": "truediv",
    "__rtruediv__": "truediv",
    "__rfloordiv__": "floordiv",
    "__rpow__": "pow",
    "__rmatmul__": "matmul",
    "__rmod__": "mod",
    "__rlshift__": "lshift",
    "__rrshift__": "rshift",
    "__rand__": "and_",
    "__ror__": "or_",
    "__rxor__": "xor",
}
_BINARY_OP = dis.opmap.get("BINARY_OP")
_COMPARE_OP = dis.opmap.get("COMPARE_OP")
_OPNAMES = {dis.opmap[name]: op for name, op in _UNARY.items() if name in dis.opmap}


@dataclass(frozen=True, slots=True)
class CallSite:
    """Where the model's own code made a call: its file and line."""

    file: str
    """The source file, as Python knows it."""
    line: int
    """The 1-based line."""

    def __str__(self) -> str:
        name = "".join(c if c.isprintable() else "?" for c in os.path.basename(self.file))
        return f"{name}:{self.line}"

    def code(self) -> str:
        """Return the line of code, stripped, or empty when its source cannot be read."""
        import linecache

        return linecache.getline(self.file, self.line).strip()


def _skipped_places() -> tuple[tuple[str, ...], frozenset[str]]:
    import contextlib
    import functools

    import torch

    package = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # convprof's own folder
    directories = (os.path.dirname(torch.__file__) + os.sep, package + os.sep)
    files = frozenset({contextlib.__file__, functools.__file__})  # decorators' wrappers
    return directories, files


_SKIPPED: tuple[tuple[str, ...], frozenset[str]] | None = None


def outside_model(filename: str) -> bool:
    """Return True for a file of torch, of convprof, or a standard-library decorator's wrapper."""
    global _SKIPPED
    if _SKIPPED is None:
        _SKIPPED = _skipped_places()
    directories, files = _SKIPPED
    return filename.startswith(directories) or filename in files


def model_frame() -> FrameType | None:
    """Return the innermost frame of the model's own code: the first one outside torch, convprof and
    the standard library's decorators."""
    frame: FrameType | None = sys._getframe(1)
    while frame is not None and outside_model(frame.f_code.co_filename):
        frame = frame.f_back
    return frame


def site_of(frame: FrameType | None) -> CallSite | None:
    """Return the call site a frame is at."""
    return None if frame is None else CallSite(frame.f_code.co_filename, frame.f_lineno)


def _operator(frame: FrameType | None) -> str | None:
    """Return the operator the frame's current instruction applies (`add`, `iadd`), or None when it
    calls a function or method."""
    if frame is None:
        return None
    code = frame.f_code.co_code
    at = frame.f_lasti
    if not 0 <= at < len(code) - 1:
        return None
    opcode, argument = code[at], code[at + 1]
    if opcode == _BINARY_OP:
        if argument < _INPLACE_OFFSET:
            return _BINARY[argument]
        if argument < 2 * _INPLACE_OFFSET:
            return "i" + _BINARY[argument - _INPLACE_OFFSET].rstrip("_")
        return None
    if opcode == _COMPARE_OP:
        return None  # a comparison makes a mask: named as the method torch calls
    return _OPNAMES.get(opcode)


def reflected(function: Any) -> str | None:
    """Return the operator a reflected Tensor operator applies (`__rsub__` -> `sub`), else None."""
    return _REFLECTED.get(getattr(function, "__name__", ""))


_METHODS: dict[int, str] | None = None


def _tensor_methods() -> dict[int, str]:
    """Return Tensor's own functions by identity -> the attribute name they are held at (torch holds
    some operators under a name that is not theirs: Tensor.__pow__ is a function named `pow`)."""
    global _METHODS
    if _METHODS is None:
        import torch

        _METHODS = {
            id(value): name
            for owner in (torch._C.TensorBase, torch.Tensor)
            for name, value in vars(owner).items()
            if callable(value)
        }
    return _METHODS


def call_name(function: Any, frame: FrameType | None) -> str:
    """Return the name kinds use for a call of `function` that the model made at `frame`."""
    import torch

    name = getattr(function, "__name__", "")
    if name == "__get__":  # a property: x.shape, x.dtype
        owner = getattr(function, "__self__", None)
        return f"Tensor.{getattr(owner, '__name__', 'property')}"
    swapped = reflected(function)
    if swapped is not None:
        return f"operator.{swapped}"
    if (
        getattr(torch.Tensor, name, None) is not function
        and getattr(torch._C.TensorBase, name, None) is not function
    ):
        name = _tensor_methods().get(id(function), "")  # `x ** 2` calls Tensor.__pow__, named `pow`
    if name:
        applied = _operator(frame)
        if applied is not None:
            return f"operator.{applied}"
        return f"Tensor.{name.strip('_') if name.startswith('__') else name}"
    return callable_name(function)
