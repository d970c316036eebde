"""torch is an optional extra: what needs it says in one line how to install it."""

from __future__ import annotations

import importlib.util

from convprof.errors import UsageError

__all__ = ["TORCH_INSTALL", "require_torch"]

#: How to install torch: its CPU build from PyTorch's own index, as pytorch.org's selector prints it
#: (the default index gives a CUDA build of several GB on Linux).
TORCH_INSTALL = (
    "pip install torch --index-url https://download.pytorch.org/whl/cpu "
    "(the CPU build; pytorch.org gives the line for a GPU)"
)


def require_torch(purpose: str, instead: str = "") -> None:
    """Raise a UsageError saying that `purpose` needs torch and how to get it, when it is not installed.

    Only looks for torch, without importing it: the import (seconds) happens where the measurement
    code always did it, inside its warning filters and at the moment interrupts are expected."""
    try:
        found = importlib.util.find_spec("torch") is not None
    except ImportError:  # an import hook that refuses torch says so by raising
        found = False
    if not found:
        alternative = f"; {instead}" if instead else ""
        raise UsageError(f"{purpose} needs torch, which is not installed: {TORCH_INSTALL}{alternative}")
