"""The version of convprof: one line, below everything that prints or records it."""

__version__ = "0.1.0"
