"""convprof: parameters, MACs, memory and latency of a CNN against its dense and local equivalents."""

from __future__ import annotations

from typing import Any

from convprof.version import __version__

__all__ = ["__version__", "from_module"]


def __getattr__(name: str) -> Any:
    """Import `from_module` on first use: `import convprof` stays free of the importer and torch."""
    if name == "from_module":
        from convprof.importing import from_module

        return from_module
    raise AttributeError(f"module 'convprof' has no attribute {name!r}")
