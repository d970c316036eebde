"""JSON Schemas of every command's JSON output besides the report: check, diff, merge and sweep.

Each describes what a command renders as JSON, so it sits with the renderers, above the results
(ci/, sweep/) it describes; the metrics each names, and their types, come from the metric registry.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from convprof.ci.diff import DIFF_SCHEMA_VERSION, LAYER_FIELDS
from convprof.ci.gate import CHECK_SCHEMA_VERSION
from convprof.ci.merge import MERGE_SCHEMA_VERSION
from convprof.graph.variants import VARIANTS
from convprof.report import LOWER_BOUND_TOTALS
from convprof.report.schema import LATENCY_SCHEMA, TRAINING_LATENCY_SCHEMA, report_schema
from convprof.spec import DTYPE_BYTES
from convprof.sweep.model import POINT_FIGURES, SWEEP_SCHEMA_VERSION, TRAINING_METRICS

__all__ = ["SCHEMAS", "check_schema", "diff_schema", "merge_schema", "sweep_schema"]

_DRAFT = "https://json-schema.org/draft/2020-12/schema"
_COUNT: dict[str, Any] = {"type": "integer", "minimum": 0}
_NUMBER_OR_NULL: dict[str, Any] = {"type": ["number", "null"]}
_INDEX: dict[str, Any] = {
    "type": ["integer", "null"],
    "minimum": 0,
    "description": "0-based position in `layers`, as in the report's `index` and `--set layers.N`.",
}


def _document(
    kind: str, version: int, title: str, required: list[str], properties: dict[str, Any]
) -> dict[str, Any]:
    """Return a versioned top-level schema whose `kind` names the command that writes it."""
    return {
        "$schema": _DRAFT,
        "$id": f"https://convprof.invalid/{kind}-v{version}.schema.json",
        "title": title,
        "type": "object",
        "additionalProperties": False,
        "required": ["schema_version", "kind", *required],
        "properties": {"schema_version": {"const": version}, "kind": {"const": kind}, **properties},
    }


def _variants(entry: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "additionalProperties": False,
        "required": list(VARIANTS),
        "properties": dict.fromkeys(VARIANTS, entry),
    }


def check_schema() -> dict[str, Any]:
    """Return the schema of `convprof check --format json`."""
    number = {"type": ["number", "null"]}
    item = {
        "type": "object",
        "additionalProperties": False,
        "required": ["spec", "metric", "check", "limit", "actual", "headroom_percent", "passed"],
        "properties": {
            "spec": {"type": "string"},
            "metric": {
                "type": "string",
                "description": "e.g. params, macs, latency_ms.cpu, training_latency_ms.cpu.",
            },
            "check": {"enum": ["budget", "growth"]},
            "limit": number | {"description": "Exact integer for sizes; milliseconds for latency."},
            "actual": number | {"description": "null when not measured."},
            "baseline": number | {"description": "Growth checks: the baseline report's value."},
            "allowance_percent": number | {"description": "Growth checks: the allowed growth."},
            "headroom_percent": number
            | {"description": "At most this when the actual value is a lower bound."},
            "stable": {
                "type": ["boolean", "null"],
                "description": "Latency checks: whether the median is stable; null when not measured.",
            },
            "lower_bound": {
                "type": "boolean",
                "description": "Present where a lower bound is involved: the actual value leaves opaque "
                "ops' unknown counts out.",
            },
            "baseline_lower_bound": {
                "type": "boolean",
                "description": "Growth checks, where a lower bound is involved: the baseline's value is one.",
            },
            "verified": {
                "type": "boolean",
                "description": "Present where a lower bound is involved: false when the verdict is open "
                "(a lower bound within what is allowed); such a check is not failed.",
            },
            "passed": {"type": "boolean"},
        },
    }
    return _document(
        "check",
        CHECK_SCHEMA_VERSION,
        "convprof check results",
        ["passed", "unchecked", "checks"],
        {
            "passed": {"type": "boolean", "description": "True when no check failed."},
            "unchecked": {
                "type": "array",
                "items": {"type": "string"},
                "description": "Specs nothing was checked for: no budgets, --max-* option or allowance.",
            },
            "checks": {"type": "array", "items": item},
        },
    )


def diff_schema() -> dict[str, Any]:
    """Return the schema of `convprof diff --format json`."""
    value = {"type": ["integer", "number", "string", "null"]}
    change = {
        "type": "object",
        "additionalProperties": False,
        "required": ["old", "new", "delta", "percent"],
        "properties": {
            "old": value,
            "new": value,
            "delta": _NUMBER_OR_NULL | {"description": "null when either side is a lower bound."},
            "percent": _NUMBER_OR_NULL,
            "old_lower_bound": {
                "type": "boolean",
                "description": "Present when either side is a lower bound (a total leaving opaque ops' "
                "unknown counts out): then no exact change is known.",
            },
            "new_lower_bound": {"type": "boolean"},
            "old_stable": {
                "type": ["boolean", "null"],
                "description": "Present for a measured median (latency_ms.DEVICE, training_latency_ms."
                "DEVICE): whether the old one is stable (false: it carries ~); null when not measured.",
            },
            "new_stable": {"type": ["boolean", "null"]},
            "comparable": {
                "type": "boolean",
                "description": "Present for a measured median: false when the reports measured it under "
                "different protocols (then delta and percent are null).",
            },
            "protocol": {
                "type": "array",
                "items": {"type": "string"},
                "description": "What differs between how the reports measured it: `threads 1 -> 2`.",
            },
        },
    }
    layer = {
        "type": "object",
        "additionalProperties": False,
        "required": ["status", "path", "old_path", "paired", "old_index", "new_index", "changes"],
        "properties": {
            "status": {"enum": ["added", "removed", "changed", "renamed"]},
            "path": {"type": "string"},
            "old_path": {
                "type": ["string", "null"],
                "description": "The layer's path in the old report (null when added); differs from path "
                "when renamed.",
            },
            "paired": {
                "enum": ["name", "content", None],
                "description": "How the old and new layer were paired: by name (the same path) or by "
                "content (a generated name: block, kind, output shape and parameters); null when added "
                "or removed.",
            },
            "old_index": _INDEX,
            "new_index": _INDEX,
            "changes": {
                "type": "object",
                "propertyNames": {"enum": list(LAYER_FIELDS)},
                "additionalProperties": change,
            },
        },
    }
    variant = {
        "type": "object",
        "additionalProperties": False,
        "required": ["metrics", "layers"],
        "properties": {
            "metrics": {"type": "object", "additionalProperties": change},
            "layers": {"type": "array", "items": layer},
        },
    }
    return _document(
        "diff",
        DIFF_SCHEMA_VERSION,
        "convprof diff",
        ["old", "new", "changed", "variants"],
        {
            "old": {"type": "string"},
            "new": {"type": "string"},
            "changed": {"type": "boolean"},
            "variants": _variants(variant),
        },
    )


def merge_schema() -> dict[str, Any]:
    """Return the schema of `convprof merge --format json`."""
    row = {
        "type": "object",
        "additionalProperties": False,
        "required": ["environment", "device", "median_ms", "stable", "source"],
        "properties": {
            "environment": {"type": "string"},
            "device": {"type": "string"},
            "median_ms": _variants({"type": ["number", "null"], "minimum": 0}),
            "stable": _variants(
                {"type": ["boolean", "null"], "description": "Whether the median is stable; null: none."}
            ),
            "training_median_ms": _variants({"type": ["number", "null"], "minimum": 0})
            | {
                "description": "Present when some merged report timed a training step: each variant's "
                "median step; null where none was timed."
            },
            "training_stable": _variants({"type": ["boolean", "null"]})
            | {"description": "Present with training_median_ms: whether each median step is stable."},
            "source": {"type": "string"},
        },
    }
    return _document(
        "merge",
        MERGE_SCHEMA_VERSION,
        "convprof merge",
        ["spec", "report_schema_version", "rows"],
        {
            "spec": {"type": "string"},
            "report_schema_version": {"type": "integer", "description": "Of every merged report."},
            "unknown_ops": _COUNT
            | {
                "description": "Present when the spec has opaque ops: its MACs and FLOPs are lower "
                "bounds and no variant could be built to be timed."
            },
            "rows": {"type": "array", "items": row},
        },
    )


def sweep_schema() -> dict[str, Any]:
    """Return the schema of `convprof sweep --format json`."""
    shape = {"type": "array", "items": {"type": "integer", "minimum": 1}}
    variant = {
        "type": "object",
        "additionalProperties": False,
        "required": [figure.key for figure in POINT_FIGURES],
        "properties": {
            **{figure.key: figure.schema() for figure in POINT_FIGURES},
            TRAINING_METRICS[0].key: TRAINING_METRICS[0].schema()
            | {"description": "Present with --training: forward + backward FLOPs of one training step."},
            "latency": LATENCY_SCHEMA,
            "skipped": {"type": ["string", "null"]},
            "training_latency": TRAINING_LATENCY_SCHEMA
            | {"description": "Present with --training and --latency: the measured training step."},
            "training_skipped": {"type": ["string", "null"]},
            "unknown_ops": _COUNT
            | {"description": "Present when opaque ops leave counts unknown: how many layers' are."},
            "lower_bounds": {
                "type": "array",
                "items": {"enum": list(LOWER_BOUND_TOTALS)},
                "description": "Present with unknown_ops: the totals that are lower bounds.",
            },
        },
    }
    return _document(
        "sweep",
        SWEEP_SCHEMA_VERSION,
        "convprof sweep",
        ["convprof_version", "spec", "axes", "metrics", "points", "fits"],
        {
            "convprof_version": {"type": "string"},
            "spec": report_schema()["properties"]["spec"],
            "optimizer": report_schema()["properties"]["optimizer"]
            | {"description": "Present with --training: the optimizer of the training metrics."},
            "axes": {
                "type": "array",
                "items": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["name", "option", "values", "numbers"],
                    "properties": {
                        "name": {"type": "string"},
                        "option": {"type": "string"},
                        "values": {"type": "array", "items": {"type": "string"}},
                        "numbers": {
                            "oneOf": [{"type": "array", "items": {"type": "number"}}, {"type": "null"}]
                        },
                    },
                },
            },
            "metrics": {
                "type": "array",
                "items": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["key", "title", "unit"],
                    "properties": {
                        "key": {"type": "string"},
                        "title": {"type": "string"},
                        "unit": {"enum": ["count", "bytes", "seconds"]},
                    },
                },
            },
            "points": {
                "type": "array",
                "items": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["index", "values", "input", "batch_size", "dtype", "variants"],
                    "properties": {
                        "index": {"type": "integer", "minimum": 0, "description": "0-based point."},
                        "values": {"type": "object", "additionalProperties": {"type": "string"}},
                        "input": shape,
                        "batch_size": {"type": "integer", "minimum": 1},
                        "dtype": {"enum": list(DTYPE_BYTES)},
                        "variants": _variants(variant),
                    },
                },
            },
            "fits": {
                "type": "array",
                "items": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": [
                        "axis",
                        "metric",
                        "variant",
                        "exponent",
                        "least_squares_exponent",
                        "r2",
                        "points",
                    ],
                    "properties": {
                        "axis": {"type": "string"},
                        "metric": {"type": "string"},
                        "variant": {"enum": list(VARIANTS)},
                        "exponent": _NUMBER_OR_NULL,
                        "least_squares_exponent": _NUMBER_OR_NULL,
                        "r2": _NUMBER_OR_NULL,
                        "points": {"type": "integer", "minimum": 0},
                        "lower_bound": {
                            "const": True,
                            "description": "Present when fitted over lower bounds: the growth of the "
                            "counted part only.",
                        },
                    },
                },
            },
        },
    )


#: What `convprof schema NAME` prints: the report's schema and each command's JSON output.
SCHEMAS: dict[str, Callable[[], dict[str, Any]]] = {
    "report": report_schema,
    "check": check_schema,
    "diff": diff_schema,
    "merge": merge_schema,
    "sweep": sweep_schema,
}
