"""The JSON Schema of a report, printed by `convprof schema` and checked against every report in the tests."""

from __future__ import annotations

from typing import Any

from convprof.graph.training import OPTIMIZERS
from convprof.report import (
    LOWER_BOUND_TOTALS,
    SCHEMA_VERSION,
    HeldTensor,
    LayerReport,
    SpecInfo,
    TrainingPeak,
    VariantReport,
)
from convprof.report.fields import (
    COUNT,
    MAX_FIGURE,
    MAX_MS,
    MAYBE_COUNT,
    MAYBE_NUMBER,
    NUMBER,
    OLDEST,
    SHAPE,
    object_schema,
)
from convprof.report.results import CudaEnvironment, MemoryMeasurement, StepMemory
from convprof.spec import DTYPE_BYTES, MAX_NODES

__all__ = [
    "LATENCY_SCHEMA",
    "MAX_FIGURE",
    "MAX_MS",
    "MAX_SAMPLES",
    "TRAINING_LATENCY_SCHEMA",
    "report_schema",
]

#: Samples one measurement may keep: a rigorous run keeps 100 (10 rounds of 10 blocks).
MAX_SAMPLES = 10_000
_COUNT = COUNT
_MAYBE_COUNT = MAYBE_COUNT
_SHAPE = SHAPE

_NUMBER = NUMBER
_MAYBE_NUMBER = MAYBE_NUMBER
#: A time in milliseconds.
_MS: dict[str, Any] = {"type": "number", "minimum": 0, "maximum": MAX_MS}
_MAYBE_MS: dict[str, Any] = {"type": ["number", "null"], "minimum": 0, "maximum": MAX_MS}
#: Every sample of a measurement, in milliseconds.
_SAMPLES: dict[str, Any] = {"type": "array", "items": _MS, "minItems": 1, "maxItems": MAX_SAMPLES}

# Measured latency of one variant on one device, as convprof.report.results.DeviceLatency writes it: every
# key is always written and required, so a report that passes reads back whole. The statistics are
# derived again from raw_ms and raw_rounds when a report is read.
_LATENCY_ENTRY: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": [
        *("median_ms", "p10_ms", "p25_ms", "p75_ms", "p90_ms", "iqr_ms", "min_ms", "max_ms", "mean_ms"),
        *("samples", "calls_per_sample", "round_spread", "stable", "first_call_ms", "compile_ms"),
        *("raw_ms", "raw_rounds", "device_median_ms", "device_raw_ms", "achieved_flop_per_s"),
        *("arithmetic_intensity", "roofline_fraction", "memory"),
    ],
    "properties": {
        **dict.fromkeys(("median_ms", "p10_ms", "p25_ms", "p75_ms", "p90_ms", "iqr_ms"), _MS),
        **dict.fromkeys(("min_ms", "max_ms", "mean_ms"), _MS),
        "round_spread": _NUMBER,
        "samples": {"type": "integer", "minimum": 1},
        "calls_per_sample": {"type": "integer", "minimum": 1},
        "stable": {"type": "boolean"},
        "first_call_ms": _MAYBE_MS,
        "compile_ms": _MAYBE_MS | {"description": "torch.compile's first call; never in the latency."},
        "raw_ms": _SAMPLES | {"description": "Per-call time of every sample, in the order taken."},
        "raw_rounds": {
            "type": "array",
            "items": {"type": "integer", "minimum": 0, "maximum": MAX_SAMPLES},
            "maxItems": MAX_SAMPLES,
        },
        "device_median_ms": _MAYBE_MS | {"description": "CUDA event time; null on the CPU."},
        "device_raw_ms": {"oneOf": [_SAMPLES, {"type": "null"}]},
        "achieved_flop_per_s": _MAYBE_NUMBER,
        "arithmetic_intensity": _MAYBE_NUMBER,
        "roofline_fraction": _MAYBE_NUMBER,
        "memory": {"oneOf": [{"type": "null"}, object_schema(MemoryMeasurement, OLDEST)]},
    },
}

# A measured training step of one variant on one device: the latency entry's timing fields, its
# memory the step's peak beside the model's estimate for that device.
_STEP_MEMORY: dict[str, Any] = {"oneOf": [{"type": "null"}, object_schema(StepMemory, OLDEST)]}
_TRAINING_ENTRY: dict[str, Any] = {
    **_LATENCY_ENTRY,
    "properties": {
        **_LATENCY_ENTRY["properties"],
        "compile_ms": {"type": "null", "description": "A training step is never compiled."},
        "achieved_flop_per_s": _MAYBE_NUMBER
        | {"description": "training_flops (forward and backward) / the median step."},
        "arithmetic_intensity": {"type": "null", "description": "Not modelled for a training step."},
        "roofline_fraction": {"type": "null", "description": "Not modelled for a training step."},
        "memory": _STEP_MEMORY,
    },
}

_TRAINING_LATENCY: dict[str, Any] = {
    "description": "Measured training step per device (forward, backward from a fixed gradient, "
    "optimizer step): its time per step, as latency's, and its peak memory beside the model's; null "
    "when none was measured, and a device's entry null when it was skipped.",
    "oneOf": [
        {"type": "null"},
        {"type": "object", "additionalProperties": {"oneOf": [_TRAINING_ENTRY, {"type": "null"}]}},
    ],
}

_LATENCY: dict[str, Any] = {
    "description": "Measured latency per device (cpu, cuda:0); null when nothing was measured, and a "
    "device's entry null when it was skipped.",
    "oneOf": [
        {"type": "null"},
        {"type": "object", "additionalProperties": {"oneOf": [_LATENCY_ENTRY, {"type": "null"}]}},
    ],
}

#: A variant's measured latency, also part of each sweep point.
LATENCY_SCHEMA = _LATENCY
#: A variant's measured training step, also part of each sweep point measured with --training.
TRAINING_LATENCY_SCHEMA = _TRAINING_LATENCY

_LOAD: dict[str, Any] = {"type": "array", "items": _NUMBER, "minItems": 3, "maxItems": 3}
_MAYBE_TEXT: dict[str, Any] = {"type": ["string", "null"]}

_GPU = object_schema(CudaEnvironment, OLDEST)

_CALIBRATION: dict[str, Any] = {
    "type": "object",
    "description": "Roofline bounds from `convprof calibrate`, by device.",
    "additionalProperties": {
        "type": "object",
        "additionalProperties": False,
        "required": ["peak_flop_per_s", "copy_bytes_per_s"],
        "properties": {"peak_flop_per_s": _NUMBER, "copy_bytes_per_s": _NUMBER},
    },
}

# Where and with what the measurements were taken, as convprof.report.results.Environment writes it.
# `merge` reads it to key reports by machine.
_ENVIRONMENT: dict[str, Any] = {
    "description": "The machine and software measurements were taken on; absent when none were.",
    "oneOf": [
        {"type": "null"},
        {
            "type": "object",
            "additionalProperties": False,
            "required": [
                *("convprof_version", "python_version", "torch_version", "platform", "cpu_model"),
                *("logical_cores", "threads", "env_threads", "load_before", "load_after", "preset"),
                *("dtype", "batch_size", "channels_last", "compiled", "cpu_memory_limit_bytes"),
                *("cuda", "calibration"),
            ],
            "properties": {
                **{
                    key: {"type": "string"}
                    for key in (
                        "convprof_version",
                        "python_version",
                        "torch_version",
                        "platform",
                        "cpu_model",
                    )
                },
                "logical_cores": {"type": "integer", "minimum": 1},
                "threads": {"type": "integer", "minimum": 1},
                "env_threads": {"type": "object", "additionalProperties": {"type": "string"}},
                "load_before": _LOAD,
                "load_after": _LOAD,
                "preset": {"enum": ["quick", "default", "rigorous"]},
                "dtype": {"enum": list(DTYPE_BYTES)},
                "batch_size": {"type": "integer", "minimum": 1},
                "channels_last": {"type": "boolean"},
                "compiled": {"type": "boolean"},
                "cpu_memory_limit_bytes": _COUNT,
                "cuda": {"type": "array", "items": _GPU},
                "calibration": _CALIBRATION,
            },
        },
    ],
}

#: Variant fields schema 4 requires (the optimizer's moment and the step's peak).
_V4_VARIANT_REQUIRED = ("step_optimizer_bytes", "training_peak", "training_peak_tensors")


def _variant(version: int) -> dict[str, Any]:
    """Return the schema of a variant in a report of schema `version`: its totals as its fields say,
    then what the report writes beside them."""
    totals = object_schema(VariantReport, version)
    since_4 = version >= 4
    properties: dict[str, Any] = {
        **totals["properties"],
        "unknown_ops": _COUNT
        | {
            "description": "Present exactly when some layer's count is unknown (an opaque op: its macs, "
            "flops, backward_flops, elementwise_ops and saved_bytes null): how many such layers the "
            "totals in lower_bounds leave out."
        },
        "lower_bounds": {
            "type": "array",
            "items": {"enum": list(LOWER_BOUND_TOTALS)},
            "description": "Present with unknown_ops: the totals that are lower bounds, for they leave "
            "unknown counts out. Absent, every total is exact (parameters, buffers and inference memory "
            "always are).",
        },
        "latency": _LATENCY,
        "skipped": {
            "description": "Why a device's latency is null, by device; present only when latency was asked.",
            "type": "object",
            "additionalProperties": {"type": "string"},
        },
        "training_latency": _TRAINING_LATENCY,
        "training_skipped": {
            "description": "Why a device's training step is null, by device; present only when a training "
            "step was measured.",
            "type": "object",
            "additionalProperties": {"type": "string"},
        },
    }
    if since_4:
        properties["step_optimizer_bytes"] = _COUNT | {
            "description": "The most a training step holds while the optimizer updates the weights, "
            "weights' gradients and the optimizer's temporaries included."
        }
        properties["training_peak"] = object_schema(
            TrainingPeak,
            version,
            description="Where the modelled training step peaks: a moment whose figure (the layer's "
            "step_forward_bytes or step_backward_bytes, or step_optimizer_bytes) is training_bytes.",
        )
        properties["training_peak_tensors"] = {
            "type": "array",
            "description": "Everything held at the peak, resident tensors first, then in the order the "
            "step made them; their bytes sum to training_bytes.",
            "items": object_schema(HeldTensor, version),
        }
    properties["layers"] = {
        "type": "array",
        "items": object_schema(LayerReport, version),
        "minItems": 1,
        "maxItems": MAX_NODES,
        "description": "Every layer, in spec order; as many as the spec has (at least one).",
    }
    return {
        "type": "object",
        "additionalProperties": False,
        "required": [
            *totals["required"],
            *(_V4_VARIANT_REQUIRED if since_4 else ()),
            "latency",
            "training_latency",
            "layers",
        ],
        "properties": properties,
    }


def report_schema(version: int = SCHEMA_VERSION) -> dict[str, Any]:
    """Return the JSON Schema (draft 2020-12) every JSON report convprof writes satisfies; with an
    older `version`, the schema of the reports it wrote, which convprof still reads."""
    variant = _variant(version)
    spec = object_schema(SpecInfo, version)
    if version >= 4:  # the spec's named inputs and outputs
        spec["properties"] |= {
            "inputs": {
                "description": "Every input by name, where the spec names them.",
                "type": "array",
                "minItems": 1,
                "items": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["name", "shape"],
                    "properties": {
                        "name": {"type": "string"},
                        "shape": _SHAPE | {"minItems": 1, "maxItems": 4},
                    },
                },
            },
            "outputs": {
                "description": "Every output by name and layer path, where the spec names them.",
                "type": "array",
                "minItems": 1,
                "items": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["name", "path", "shape"],
                    "properties": {
                        "name": {"type": "string"},
                        "path": {"type": "string"},
                        "shape": _SHAPE | {"minItems": 1},
                    },
                },
            },
        }
    schema: dict[str, Any] = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"https://convprof.invalid/report-v{version}.schema.json",
        "title": "convprof report",
        "description": (
            "Counts of a CNN spec and its dense and local equivalents. Counts are exact integers; "
            "MACs are multiply-accumulates, FLOPs = 2 x MACs. A layer's unknown count is null, and a "
            "total that leaves one out is a lower bound, listed in its variant's lower_bounds."
        ),
        "type": "object",
        "additionalProperties": False,
        "required": ["schema_version", "convprof_version", "spec", "optimizer", "variants"],
        "properties": {
            "schema_version": {"const": version},
            "convprof_version": {"type": "string"},
            "spec": spec,
            "optimizer": {"enum": list(OPTIMIZERS)},
            "environment": _ENVIRONMENT,
            "variants": {
                "type": "object",
                "additionalProperties": False,
                "required": ["dense", "local", "conv"],
                "properties": {"dense": variant, "local": variant, "conv": variant},
            },
        },
    }
    return schema
