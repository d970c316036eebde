"""JSON text that is quick to write and easy to read and diff: one line per layer, not per number."""

from __future__ import annotations

import json
from typing import Any

__all__ = ["dumps"]

#: Containers this deep (a report's layers, raw samples) go on one line each.
COMPACT_DEPTH = 4
_SEPARATORS = (", ", ": ")


def _scalar(value: Any) -> bool:
    return not isinstance(value, (dict, list, tuple))


def _write(value: Any, depth: int, out: list[str]) -> None:
    compact = depth >= COMPACT_DEPTH or (
        isinstance(value, (list, tuple)) and all(_scalar(item) for item in value)
    )
    if _scalar(value) or compact or not value:
        # The C encoder (json.dumps without indent) is an order of magnitude faster than indenting.
        out.append(json.dumps(value, separators=_SEPARATORS))
        return
    pad, inner = "  " * depth, "  " * (depth + 1)
    if isinstance(value, dict):
        out.append("{\n")
        for index, (key, item) in enumerate(value.items()):
            out.append(f"{inner}{json.dumps(key)}: ")
            _write(item, depth + 1, out)
            out.append(",\n" if index < len(value) - 1 else "\n")
        out.append(f"{pad}}}")
    else:
        out.append("[\n")
        for index, item in enumerate(value):
            out.append(inner)
            _write(item, depth + 1, out)
            out.append(",\n" if index < len(value) - 1 else "\n")
        out.append(f"{pad}]")


def dumps(data: Any) -> str:
    """Return `data` as JSON text with a trailing newline; integers stay exact, key order is kept."""
    out: list[str] = []
    _write(data, 0, out)
    out.append("\n")
    return "".join(out)
