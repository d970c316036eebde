"""What a report read back must agree in with itself: the figures derived from others, the totals
that sum the layers, the variants' shared graph and the memory over time. Each check raises
ReportDataError naming the first field that disagrees, by its path in the document."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from convprof.report.fields import derived_names
from convprof.report.results import ReportDataError
from convprof.report.roles import RESIDENT_ROLES

if TYPE_CHECKING:
    from convprof.report import LayerReport, VariantReport

__all__ = ["derived_agree", "frozen_within", "json_text", "layer_sums", "memory_agrees", "same_layers"]


def derived_agree(
    built: VariantReport | LayerReport, data: Mapping[str, Any], version: int, where: tuple[str | int, ...]
) -> None:
    """Check that the figures a report writes that derive from others still agree with them."""
    for name in derived_names(type(built), version):
        derived = getattr(built, name)
        if data[name] != derived:
            raise ReportDataError(
                (*where, name), f"{json_text(data[name])}, but the other fields give {json_text(derived)}"
            )


def json_text(value: Any) -> str:
    """A value as its JSON text, for a message."""
    return json.dumps(value)


def frozen_within(counts: LayerReport | VariantReport, where: tuple[str | int, ...]) -> None:
    """Refuse more frozen parameters than parameters: the trainable ones would be negative."""
    if counts.frozen_params > counts.params:
        raise ReportDataError(
            (*where, "frozen_params"), f"{counts.frozen_params}, more than its {counts.params} params"
        )


#: A variant's totals that are the sum of its layers' figures (of those known, for a lower bound).
_SUMS = ("params", "frozen_params", "macs", "backward_flops", "elementwise_ops", "buffer_bytes")


def layer_sums(variant: VariantReport, element: int, batch: int) -> None:
    """Check what a variant's layers decide: each layer's index is its place, and its output's bytes
    its shape's; the totals that sum the layers do, and the weights' bytes are the parameters'."""
    for position, layer in enumerate(variant.layers):
        where = ("variants", variant.name, "layers", position)
        if layer.index != position:
            raise ReportDataError((*where, "index"), f"{layer.index}, but the layer is at {position}")
        output = math.prod(layer.output_shape) * element * batch
        if layer.activation_bytes != output:
            raise ReportDataError(
                (*where, "activation_bytes"),
                f"{layer.activation_bytes}, but a {'x'.join(map(str, layer.output_shape))} output of "
                f"the batch takes {output}",
            )
    for total in _SUMS:
        summed = sum(getattr(layer, total) or 0 for layer in variant.layers)
        if getattr(variant, total) != summed:
            raise ReportDataError(
                ("variants", variant.name, total),
                f"{json_text(getattr(variant, total))}, but the layers' {total} sum to {json_text(summed)}",
            )
    if variant.param_bytes != variant.params * element:
        raise ReportDataError(
            ("variants", variant.name, "param_bytes"),
            f"{json_text(variant.param_bytes)}, but {json_text(variant.params)} parameters take "
            f"{json_text(variant.params * element)} bytes",
        )


def same_layers(variants: tuple[VariantReport, ...]) -> None:
    """Check that the variants have the same layers (a variant changes kinds, never the graph)."""
    first = variants[0]
    for variant in variants[1:]:
        if len(variant.layers) != len(first.layers):
            raise ReportDataError(
                ("variants", variant.name, "layers"),
                f"{len(variant.layers)} layers, but the {first.name} variant has {len(first.layers)}",
            )
        for position, (mine, theirs) in enumerate(zip(variant.layers, first.layers, strict=True)):
            if (mine.path, mine.inputs, mine.output_shape) != (
                theirs.path,
                theirs.inputs,
                theirs.output_shape,
            ):
                raise ReportDataError(
                    ("variants", variant.name, "layers", position),
                    f"layer {json_text(mine.path)} differs from the {first.name} variant's "
                    f"{json_text(theirs.path)} (path, inputs or output shape)",
                )


def memory_agrees(variant: VariantReport, where: tuple[str | int, ...]) -> None:
    """Check that the memory over time says what the totals say: the live activations peak at
    activation_bytes, the step's moments at training_bytes, at the layer training_peak names, and
    the tensors held there add up to it; ReportDataError at the first field that disagrees."""
    peak = variant.training_peak
    assert peak is not None
    layers = variant.layers
    live = [layer.live_bytes for layer in layers if layer.live_bytes is not None]
    if live and max(live) != variant.activation_bytes:
        raise ReportDataError(
            (*where, "activation_bytes"),
            f"{variant.activation_bytes}, but the layers' live_bytes peak at {max(live)}",
        )
    moments = [layer.step_forward_bytes for layer in layers if layer.step_forward_bytes is not None]
    moments += [layer.step_backward_bytes for layer in layers if layer.step_backward_bytes is not None]
    moments.append(variant.step_optimizer_bytes or 0)
    if max(moments) != variant.training_bytes:
        raise ReportDataError(
            (*where, "training_bytes"),
            f"{variant.training_bytes}, but the step's moments (step_forward_bytes, step_backward_bytes, "
            f"step_optimizer_bytes) peak at {max(moments)}",
        )
    paths = {layer.path: layer for layer in layers}
    if (peak.phase == "optimizer") != (peak.layer is None):
        raise ReportDataError(
            (*where, "training_peak", "layer"),
            "a layer path at a forward or backward peak, null at the optimizer's",
        )
    if peak.layer is not None and peak.layer not in paths:
        raise ReportDataError(
            (*where, "training_peak", "layer"), f"{json_text(peak.layer)} is no layer of the variant"
        )
    at = (
        variant.step_optimizer_bytes
        if peak.layer is None
        else getattr(paths[peak.layer], f"step_{peak.phase}_bytes")
    )
    if at != variant.training_bytes:
        raise ReportDataError(
            (*where, "training_peak"),
            f"names a moment of {json_text(at)} bytes, but training_bytes is {variant.training_bytes}",
        )
    for index, tensor in enumerate(peak.tensors):
        resident = tensor.role in RESIDENT_ROLES
        if resident != (tensor.layer is None) and not (tensor.role == "workspace" and peak.layer is None):
            what = "null for a resident tensor" if resident else "a layer path"
            raise ReportDataError((*where, "training_peak_tensors", index, "layer"), f"must be {what}")
        if tensor.layer is not None and tensor.layer not in paths:
            raise ReportDataError(
                (*where, "training_peak_tensors", index, "layer"),
                f"{json_text(tensor.layer)} is no layer of the variant",
            )
    held = sum(tensor.bytes for tensor in peak.tensors)
    if held != variant.training_bytes:
        raise ReportDataError(
            (*where, "training_peak_tensors"),
            f"sum to {held} bytes, but training_bytes is {variant.training_bytes}",
        )
