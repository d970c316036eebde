"""convprof: parameters, MACs, memory and latency of a CNN against its dense and local equivalents."""

__version__ = "0.1.0"

__all__ = ["__version__"]
