"""torchvision's model builders, loaded without `import torchvision` (tests and benchmarks only).

torchvision is no dependency of convprof or of its tests. Its model code is pure Python, but the
wheels the package index serves are CUDA builds whose `import torchvision` fails on a CPU-only torch
("operator torchvision::nms does not exist": its package `__init__` loads compiled operators). So
`torchvision` and `torchvision.models` are entered in `sys.modules` as bare packages whose `__path__`
points at the installed folders, and the model modules (which import only pure-Python parts) are
imported through them; `sys.modules` is restored afterwards, so nothing else sees the bare packages.
convprof itself is untouched: it imports whatever the user's model code imports.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types
from collections.abc import Callable
from typing import Any

__all__ = ["builder"]

_cache: dict[tuple[str, str], Callable[..., Any] | str] = {}


def builder(module: str, name: str) -> Callable[..., Any] | str:
    """Return torchvision.models.<module>.<name>, or why it cannot be loaded."""
    key = (module, name)
    if key in _cache:
        return _cache[key]
    found = importlib.util.find_spec("torchvision")
    if found is None or not found.submodule_search_locations:
        _cache[key] = "torchvision is not installed"
        return _cache[key]
    (root,) = found.submodule_search_locations
    saved = {key: value for key, value in sys.modules.items() if key.split(".")[0] == "torchvision"}
    try:
        for package_name, folder in (("torchvision", root), ("torchvision.models", f"{root}/models")):
            if package_name not in sys.modules:
                package = types.ModuleType(package_name)
                package.__path__ = [folder]
                sys.modules[package_name] = package
        result: Callable[..., Any] | str = getattr(
            importlib.import_module(f"torchvision.models.{module}"), name
        )
    except Exception as exc:  # any failure to load an optional oracle is a reason to skip
        result = f"torchvision's model code cannot be loaded: {type(exc).__name__}: {exc}"
    finally:
        for loaded in [key for key in sys.modules if key.split(".")[0] == "torchvision"]:
            del sys.modules[loaded]
        sys.modules.update(saved)
    _cache[key] = result
    return result
