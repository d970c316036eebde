"""A Report's JSON form, each way: its records written as the schema orders them, and read back
with every figure that derives from others checked against what it derives from."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from convprof.report.fields import plain, read, write
from convprof.report.readback import (
    derived_agree,
    frozen_within,
    json_text,
    layer_sums,
    memory_agrees,
    same_layers,
)
from convprof.report.records import HeldTensor, LayerReport, SpecInfo, TrainingPeak, VariantReport
from convprof.report.results import DeviceLatency, ReportDataError
from convprof.spec import DTYPE_BYTES

__all__ = ["read_spec", "read_variants", "spec_dict", "variant_dict"]


def spec_dict(spec: SpecInfo, version: int) -> dict[str, Any]:
    """Return a report's spec as JSON: its fields, then its named inputs and outputs where it has them."""
    return {**write(spec, version), **_named(spec)}


def read_spec(data: Mapping[str, Any], version: int) -> SpecInfo:
    """Return the SpecInfo `spec_dict` wrote."""
    return SpecInfo(
        **read(SpecInfo, data, version),
        inputs=tuple((entry["name"], tuple(entry["shape"])) for entry in data.get("inputs", ())),
        outputs=tuple(
            (entry["name"], entry["path"], tuple(entry["shape"])) for entry in data.get("outputs", ())
        ),
    )


def read_variants(data: Mapping[str, Any]) -> tuple[VariantReport, ...]:
    """Return the variants of a report's JSON, each checked against itself, then all against each
    other (the same layers, and the memory over time naming them)."""
    spec = data["spec"]
    element = DTYPE_BYTES[spec["dtype"]]
    version = data["schema_version"]
    variants = tuple(
        _variant(name, variant, version, element, spec["batch_size"])
        for name, variant in data["variants"].items()
    )
    same_layers(variants)
    if version >= 4:  # the memory over time names the layers: checked once they are known alike
        for variant in variants:
            memory_agrees(variant, ("variants", variant.name))
    return variants


def _named(spec: SpecInfo) -> dict[str, Any]:
    """Return the named inputs and outputs of a report's spec as JSON, where the spec has them."""
    data: dict[str, Any] = {}
    if spec.inputs:
        data["inputs"] = [{"name": name, "shape": list(shape)} for name, shape in spec.inputs]
    if spec.outputs:
        data["outputs"] = [
            {"name": name, "path": path, "shape": list(shape)} for name, path, shape in spec.outputs
        ]
    return data


#: A variant's marker of totals that are lower bounds, derived from its layers' unknown counts:
#: written (and required) exactly when some count is unknown, with its value when absent.
_MARKERS: dict[str, Any] = {"unknown_ops": 0, "lower_bounds": []}


def variant_dict(variant: VariantReport, version: int) -> dict[str, Any]:
    return {
        **write(variant, version),
        **_markers(variant),
        **_step_dict(variant, version),
        "latency": variant.latency_dict(),
        **_skipped_dict(variant.latency),
        "training_latency": variant.training_latency_dict(),
        **_skipped_dict(variant.training_latency, "training_skipped"),
        **_peak_tensors_dict(variant, version),
        "layers": [write(layer, version) for layer in variant.layers],
    }


def _step_dict(variant: VariantReport, version: int) -> dict[str, Any]:
    """The optimizer's moment and where the training step peaks; nothing in a schema-3 report."""
    peak = variant.training_peak
    if version < 4 or peak is None:
        return {}
    return {
        "step_optimizer_bytes": variant.step_optimizer_bytes,
        "training_peak": write(peak, version),
    }


def _peak_tensors_dict(variant: VariantReport, version: int) -> dict[str, Any]:
    """The tensors held at the training step's peak, one per line; nothing in a schema-3 report."""
    peak = variant.training_peak
    if version < 4 or peak is None:
        return {}
    return {"training_peak_tensors": [write(tensor, version) for tensor in peak.tensors]}


def _markers(variant: VariantReport) -> dict[str, Any]:
    """Return {unknown_ops, lower_bounds} where a layer's count is unknown; nothing when every total is
    exact, so that a report of a fully counted spec reads as it always has."""
    if not variant.unknown_ops:
        return {}
    return {"unknown_ops": variant.unknown_ops, "lower_bounds": list(variant.lower_bounds)}


def _skipped_dict(latency: tuple[DeviceLatency, ...] | None, key: str = "skipped") -> dict[str, Any]:
    """Return {key: {device: reason}} beside measured results, nothing when none were measured."""
    if latency is None:
        return {}
    return {key: {r.device: r.skipped for r in latency if r.skipped is not None}}


def _layer(name: str, index: int, data: Mapping[str, Any], version: int) -> LayerReport:
    layer = LayerReport(**read(LayerReport, data, version))
    derived_agree(layer, data, version, ("variants", name, "layers", index))
    frozen_within(layer, ("variants", name, "layers", index))
    return layer


def _measured(
    name: str, data: Mapping[str, Any], key: str, skipped_key: str
) -> tuple[DeviceLatency, ...] | None:
    """Read one kind of measured results of a variant (`latency` or `training_latency`) and their skips."""
    latency = data[key]
    skipped: Mapping[str, str] = data.get(skipped_key, {})
    if latency is None and skipped:
        raise ReportDataError(("variants", name, skipped_key), "skip reasons where nothing was measured")
    for device in skipped:
        if latency is not None and device not in latency:
            raise ReportDataError(("variants", name, skipped_key, device), f"a device {key} does not list")
    if latency is None:
        return None
    return tuple(
        _device(name, device, entry, skipped.get(device), key, skipped_key)
        for device, entry in latency.items()
    )


def _variant(name: str, data: Mapping[str, Any], version: int, element: int, batch: int) -> VariantReport:
    layers = tuple(_layer(name, i, layer, version) for i, layer in enumerate(data["layers"]))
    peak = None
    if version >= 4:
        where = data["training_peak"]
        held = data["training_peak_tensors"]
        tensors = tuple(HeldTensor(**read(HeldTensor, tensor, version)) for tensor in held)
        peak = TrainingPeak(**read(TrainingPeak, where, version), tensors=tensors)
    variant = VariantReport(
        name=name,
        **read(VariantReport, data, version),
        layers=layers,
        latency=_measured(name, data, "latency", "skipped"),
        training_latency=_measured(name, data, "training_latency", "training_skipped"),
        step_optimizer_bytes=data["step_optimizer_bytes"] if version >= 4 else None,
        training_peak=peak,
    )
    # The markers first (what the layers leave unknown), then the sums over the layers, then what
    # derives from the totals: each refusal names the first thing that disagrees.
    for marker, absent in _MARKERS.items():
        derived = plain(getattr(variant, marker))
        if data.get(marker, absent) != derived:
            given = json_text(data[marker]) if marker in data else "missing"
            raise ReportDataError(
                ("variants", name, marker),
                f"{given}, but the layers' unknown counts (null macs or elementwise_ops) give "
                f"{json_text(derived)}",
            )
    layer_sums(variant, element, batch)
    frozen_within(variant, ("variants", name))
    derived_agree(variant, data, version, ("variants", name))
    return variant


def _device(
    name: str, device: str, entry: Mapping[str, Any] | None, skipped: str | None, key: str, skipped_key: str
) -> DeviceLatency:
    try:
        return DeviceLatency.from_dict(device, entry, skipped, training=key == "training_latency")
    except ReportDataError as exc:
        if exc.path[0] == "skipped":
            raise ReportDataError(("variants", name, skipped_key, *exc.path[1:]), exc.message) from None
        raise ReportDataError(("variants", name, key, device, *exc.path), exc.message) from None
