"""torch is an optional extra: what needs it says in one line how to install it."""

from __future__ import annotations

from convprof.errors import UsageError

__all__ = ["TORCH_INSTALL", "require_torch"]

#: How to install the extra that measuring needs (a CPU build of torch first avoids a CUDA download).
TORCH_INSTALL = "pip install 'convprof[torch]'"


def require_torch(purpose: str, instead: str = "") -> None:
    """Import torch, or raise a UsageError saying that `purpose` needs it, how to get it, and `instead`."""
    try:
        import torch  # noqa: F401
    except ImportError as exc:
        alternative = f"; {instead}" if instead else ""
        if isinstance(exc, ModuleNotFoundError) and exc.name == "torch":
            raise UsageError(
                f"{purpose} needs torch, which is not installed: {TORCH_INSTALL}{alternative}"
            ) from None
        raise UsageError(
            f"{purpose} needs torch, which cannot be imported here ({exc}){alternative}"
        ) from None
