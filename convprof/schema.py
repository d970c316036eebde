"""The JSON Schema of a report, printed by `convprof schema` and checked against every report in the tests."""

from __future__ import annotations

from typing import Any

from convprof.analyze import OPTIMIZER_STATES
from convprof.report import SCHEMA_VERSION
from convprof.spec import DTYPE_BYTES

__all__ = ["report_schema"]

_COUNT: dict[str, Any] = {"type": "integer", "minimum": 0}
_SHAPE: dict[str, Any] = {"type": "array", "items": {"type": "integer", "minimum": 1}}

_LAYER: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": [
        "index",
        "name",
        "kind",
        "output_shape",
        "params",
        "buffer_bytes",
        "macs",
        "flops",
        "elementwise_ops",
        "activation_bytes",
        "receptive_field",
        "fan_in",
    ],
    "properties": {
        "index": {"type": "integer", "minimum": 0, "description": "0-based position in the spec."},
        "name": {"type": "string", "description": "Layer name, given or generated."},
        "kind": {"type": "string", "description": "Kind in this variant, e.g. Conv2d."},
        "output_shape": _SHAPE | {"description": "Per-sample output shape."},
        "params": _COUNT | {"description": "Trainable parameters."},
        "buffer_bytes": _COUNT | {"description": "Non-trainable state (BatchNorm running stats)."},
        "macs": _COUNT | {"description": "Multiply-accumulates for the batch."},
        "flops": _COUNT | {"description": "2 x macs."},
        "elementwise_ops": _COUNT | {"description": "Element-wise ops for the batch."},
        "activation_bytes": _COUNT | {"description": "Bytes of the output for the batch."},
        "receptive_field": {
            "oneOf": [_SHAPE, {"type": "null"}],
            "description": "Extent on the input seen by one output unit; null when the whole input.",
        },
        "fan_in": _COUNT | {"description": "Connections per output unit, bias excluded."},
    },
}

# Measured latency of one variant. The measurement code (convprof.measure) owns its exact shape; until it
# pins it down here, a device's entry only has to be an object whose `median_ms` (when present) is a
# non-negative number or null. Tighten _LATENCY_ENTRY (required keys, additionalProperties: false, the
# statistics' types) when the measurement fields settle; bump SCHEMA_VERSION only for incompatible changes.
_LATENCY_ENTRY: dict[str, Any] = {
    "type": "object",
    "properties": {
        "median_ms": {"type": ["number", "null"], "minimum": 0},
        "skipped": {"type": "string"},
    },
}

_LATENCY: dict[str, Any] = {
    "description": "Measured latency per device (cpu, cuda:0); null when nothing was measured, and a "
    "device's entry null when it was skipped.",
    "oneOf": [
        {"type": "null"},
        {"type": "object", "additionalProperties": {"oneOf": [_LATENCY_ENTRY, {"type": "null"}]}},
    ],
}

# Where and with what the measurements were taken. Its keys belong to convprof.measure; tighten this
# (required keys such as the CPU model, GPU name, threads, torch version) when they settle. `merge`
# reads it to key reports by machine.
_ENVIRONMENT: dict[str, Any] = {
    "description": "The machine and software measurements were taken on; absent or null when none were.",
    "type": ["object", "null"],
}

_VARIANT: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": [
        "params",
        "macs",
        "flops",
        "elementwise_ops",
        "param_bytes",
        "buffer_bytes",
        "activation_bytes",
        "saved_activation_bytes",
        "optimizer_bytes",
        "training_bytes",
        "latency",
        "layers",
    ],
    "properties": {
        "params": _COUNT | {"description": "Trainable parameters."},
        "macs": _COUNT | {"description": "Multiply-accumulates of conv and linear layers for the batch."},
        "flops": _COUNT | {"description": "2 x macs."},
        "elementwise_ops": _COUNT | {"description": "Element-wise ops for the batch, apart from MACs."},
        "param_bytes": _COUNT | {"description": "Weight memory."},
        "buffer_bytes": _COUNT | {"description": "Buffer memory (BatchNorm running statistics)."},
        "activation_bytes": _COUNT | {"description": "Peak inference activation memory."},
        "saved_activation_bytes": _COUNT | {"description": "Activations kept for backward."},
        "optimizer_bytes": _COUNT | {"description": "Optimizer state."},
        "training_bytes": _COUNT | {"description": "Weights, gradients, optimizer state, buffers, saved."},
        "latency": _LATENCY,
        "skipped": {
            "description": "Why a device's latency is null, by device; present only when latency was asked.",
            "type": "object",
            "additionalProperties": {"type": "string"},
        },
        "layers": {"type": "array", "items": _LAYER},
    },
}


def report_schema() -> dict[str, Any]:
    """Return the JSON Schema (draft 2020-12) every JSON report convprof writes satisfies."""
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"https://convprof.invalid/report-v{SCHEMA_VERSION}.schema.json",
        "title": "convprof report",
        "description": (
            "Counts of a CNN spec and its dense and local equivalents. Counts are exact integers; "
            "MACs are multiply-accumulates, FLOPs = 2 x MACs."
        ),
        "type": "object",
        "additionalProperties": False,
        "required": ["schema_version", "convprof_version", "spec", "optimizer", "variants"],
        "properties": {
            "schema_version": {"const": SCHEMA_VERSION},
            "convprof_version": {"type": "string"},
            "spec": {
                "type": "object",
                "additionalProperties": False,
                "required": ["name", "description", "input", "batch_size", "dtype"],
                "properties": {
                    "name": {"type": "string"},
                    "description": {"type": "string"},
                    "input": _SHAPE | {"minItems": 1, "maxItems": 4},
                    "batch_size": {"type": "integer", "minimum": 1},
                    "dtype": {"enum": list(DTYPE_BYTES)},
                },
            },
            "optimizer": {"enum": list(OPTIMIZER_STATES)},
            "environment": _ENVIRONMENT,
            "variants": {
                "type": "object",
                "additionalProperties": False,
                "required": ["dense", "local", "conv"],
                "properties": {"dense": _VARIANT, "local": _VARIANT, "conv": _VARIANT},
            },
        },
    }
