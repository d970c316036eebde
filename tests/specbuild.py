"""Build small specs in tests without writing YAML by hand."""

from __future__ import annotations

import json
from typing import Any

from convprof.graph.parse import parse_spec
from convprof.spec import ModelSpec


def spec_text(input_shape: tuple[int, ...], layers: list[Any], **top: Any) -> str:
    """Return spec YAML (JSON is YAML) for `layers` on `input_shape`."""
    document = {"input": list(input_shape), "layers": layers, **top}
    return json.dumps(document)


def make_spec(input_shape: tuple[int, ...], layers: list[Any], **top: Any) -> ModelSpec:
    """Parse a spec built from Python values."""
    return parse_spec(spec_text(input_shape, layers, **top).encode(), "test.yaml", "test")
