"""The typed, validated model spec every later stage works from."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["DTYPE_BYTES", "Budgets", "LayerSpec", "ModelSpec", "Shape"]

#: Per-sample tensor shape, channels first: (C,), (C, L), (C, H, W) or (C, D, H, W).
Shape = tuple[int, ...]

#: Bytes per element of each dtype a spec may name.
DTYPE_BYTES: dict[str, int] = {"float32": 4, "float16": 2, "bfloat16": 2, "float64": 8}


@dataclass(frozen=True, slots=True)
class LayerSpec:
    """One layer, its arguments typed and its shapes inferred."""

    index: int
    """0-based position in the spec's `layers`."""
    kind: str
    """Canonical kind name from the registry, e.g. `Conv2d`."""
    name: str
    """The spec's `name`, or `<kind>_<n>` counting layers of that kind from 1."""
    args: Any
    """The kind's frozen argument dataclass."""
    input_shape: Shape
    """Per-sample input shape."""
    output_shape: Shape
    """Per-sample output shape."""
    line: int
    """1-based line of the layer in the spec."""
    column: int
    """1-based column of the layer in the spec."""

    def with_kind(self, kind: str) -> LayerSpec:
        """Return this layer as another kind with the same arguments and shapes."""
        return LayerSpec(
            self.index,
            kind,
            self.name,
            self.args,
            self.input_shape,
            self.output_shape,
            self.line,
            self.column,
        )


@dataclass(frozen=True, slots=True)
class Budgets:
    """Limits the conv variant (the model as written) must stay within; None where none is set."""

    params: int | None = None
    """Most trainable parameters."""
    macs: int | None = None
    """Most multiply-accumulates for the batch."""
    flops: int | None = None
    """Most FLOPs (2 x MACs) for the batch."""
    param_bytes: int | None = None
    """Most weight memory in bytes."""
    activation_bytes: int | None = None
    """Most peak inference activation memory in bytes."""
    training_bytes: int | None = None
    """Most training memory in bytes."""
    latency_ms: tuple[tuple[str, float], ...] = ()
    """Most median latency in milliseconds per device, e.g. (("cpu", 5.0),), sorted by device."""


@dataclass(frozen=True, slots=True)
class ModelSpec:
    """A whole network: input, batch, dtype and a validated stack of layers."""

    name: str
    """The spec's `name`, or its file's stem."""
    description: str
    """Free text; empty when the spec has none."""
    input: Shape
    """One sample's shape, channels first."""
    batch_size: int
    """Samples per inference; MACs and activations scale with it, parameters do not."""
    dtype: str
    """Element type of weights and activations: a key of DTYPE_BYTES."""
    layers: tuple[LayerSpec, ...]
    """The layers in order."""
    path: str
    """Where the spec came from, for messages."""
    budgets: Budgets = field(default_factory=Budgets)
    """Limits `convprof check` holds the conv variant to; empty when the spec sets none."""

    @property
    def dtype_bytes(self) -> int:
        """Bytes per element of the spec's dtype."""
        return DTYPE_BYTES[self.dtype]

    @property
    def output(self) -> Shape:
        """The network's per-sample output shape."""
        return self.layers[-1].output_shape if self.layers else self.input
