"""Built-in example specs, shipped in the wheel and found in a source checkout."""

from __future__ import annotations

from importlib import resources
from importlib.abc import Traversable
from pathlib import Path

__all__ = ["example_names", "read_example"]


def _directory() -> Traversable:
    packaged = resources.files("convprof") / "specs"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[2] / "specs"  # a source checkout


def example_names() -> list[str]:
    """Return the names of the built-in examples, sorted."""
    directory = _directory()
    if not directory.is_dir():
        return []
    return sorted(p.name[: -len(".yaml")] for p in directory.iterdir() if p.name.endswith(".yaml"))


def read_example(name: str) -> bytes | None:
    """Return the text of the example called `name`, or None."""
    if name not in example_names():
        return None
    return (_directory() / f"{name}.yaml").read_bytes()
