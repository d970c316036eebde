"""Decide which variants may be built: analytic memory against a limit, before anything is allocated."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from convprof.graph.training import TrainingCost
from convprof.kinds import lookup
from convprof.report import Report, VariantReport
from convprof.spec import DTYPE_BYTES, ModelSpec
from convprof.units import format_bytes

__all__ = ["admit", "admit_training", "input_bytes", "memory_need", "unbuildable"]

#: Nodes a reason names before it says how many more there are.
_NAMED = 3


def unbuildable(spec: ModelSpec) -> str | None:
    """Return why no variant of `spec` can be built in torch (it holds nodes torch cannot be given,
    such as opaque ops), or None when every node can be built."""
    held = []
    for node in spec.nodes:
        kind = lookup(node.kind)
        if kind is not None and kind.not_buildable:
            held.append((node.path, kind))
    if not held:
        return None
    paths = ", ".join(path for path, _ in held[:_NAMED])
    if len(held) > _NAMED:
        paths += f" and {len(held) - _NAMED} more"
    kind = held[0][1]
    return f"{paths} ({kind.name.lower()}): {kind.not_buildable}"


def input_bytes(report: Report) -> int:
    """Return the bytes of the input batch every variant is timed on (exact, however large): every
    input's, where the spec has several."""
    spec = report.spec
    return sum(math.prod(shape) for shape in spec.input_shapes) * spec.batch_size * DTYPE_BYTES[spec.dtype]


def memory_need(variant: VariantReport) -> int:
    """Return the bytes a variant needs to run one inference: weights, buffers and peak activations."""
    return variant.param_bytes + variant.buffer_bytes + variant.activation_bytes


#: Sizes beyond this are written as a power of ten: binary units end at YiB (2^80).
_UNITS_END = 1024**9


def _size(value: int) -> str:
    return format_bytes(value) if value < _UNITS_END else f"about 10^{len(str(value)) - 1} bytes"


def admit(variants: Sequence[VariantReport], limit: int, input_size: int = 0) -> dict[str, str | None]:
    """Return each variant's reason to be skipped, or None when it may be built beside the others.

    Variants are timed in interleaved rounds, so every admitted one is alive at once: the smallest are
    admitted first while their weights together plus the largest activation peak stay within `limit`.
    The input batch (`input_size` bytes) is allocated before any variant: when it alone exceeds the
    limit, every variant is skipped and nothing is allocated.
    """
    if input_size > limit:
        why = f"the input batch needs {_size(input_size)}; limit {_size(limit)}"
        return {v.name: f"{v.name} not built: {why}" for v in variants}
    reasons: dict[str, str | None] = {}
    held = 0
    peak = 0
    for variant in sorted(variants, key=memory_need):
        weights = variant.param_bytes + variant.buffer_bytes
        need = memory_need(variant)
        if variant.param_bytes > limit:
            reasons[variant.name] = (
                f"{variant.name} needs {format_bytes(variant.param_bytes)} of weights; "
                f"limit {format_bytes(limit)}"
            )
        elif need > limit:
            reasons[variant.name] = (
                f"{variant.name} needs {format_bytes(need)} of weights and activations; "
                f"limit {format_bytes(limit)}"
            )
        elif held + weights + max(peak, variant.activation_bytes) > limit:
            total = held + weights + max(peak, variant.activation_bytes)
            reasons[variant.name] = (
                f"{variant.name} needs {format_bytes(need)}, {format_bytes(total)} beside the smaller "
                f"variants timed with it; limit {format_bytes(limit)}"
            )
        else:
            reasons[variant.name] = None
            held += weights
            peak = max(peak, variant.activation_bytes)
    return {v.name: reasons[v.name] for v in variants}


def admit_training(
    variants: Sequence[VariantReport], costs: Mapping[str, TrainingCost], limit: int, input_size: int
) -> dict[str, str | None]:
    """Return each variant's reason not to be trained, or None when its training step may run beside
    the others; `costs` is each variant's modelled step on the device measured.

    Training steps are timed in interleaved rounds too: between its steps, every admitted variant holds
    its weights, buffers, optimizer state and gradients (alive from one step's backward to the next
    one's `zero_grad`), and one step at a time needs its peak beyond that and the input. The smallest
    peaks are admitted first while the input, what they all hold and the largest of those extras stay
    within `limit`: a variant alone is admitted exactly when its peak fits."""
    if input_size > limit:
        why = f"the input batch needs {_size(input_size)}; limit {_size(limit)}"
        return {v.name: f"{v.name} not trained: {why}" for v in variants}
    reasons: dict[str, str | None] = {}
    held = 0
    extra = 0
    for variant in sorted(variants, key=lambda v: costs[v.name].peak_bytes):
        cost = costs[variant.name]
        # Between its steps a variant holds its weights, buffers, optimizer state and gradients (kept
        # until the next step's zero_grad); its step needs its peak beyond those and the input.
        weights = variant.param_bytes + variant.buffer_bytes
        between_steps = weights + cost.optimizer_bytes + variant.param_bytes
        step_extra = max(0, cost.peak_bytes - input_size - between_steps)
        if cost.peak_bytes > limit:
            reasons[variant.name] = (
                f"{variant.name} needs {_size(cost.peak_bytes)} for a training step; limit {_size(limit)}"
            )
        elif input_size + held + between_steps + max(extra, step_extra) > limit:
            total = input_size + held + between_steps + max(extra, step_extra)
            reasons[variant.name] = (
                f"{variant.name} needs {_size(cost.peak_bytes)} for a training step, {_size(total)} beside "
                f"the smaller variants trained with it; limit {_size(limit)}"
            )
        else:
            reasons[variant.name] = None
            held += between_steps
            extra = max(extra, step_extra)
    return {v.name: reasons[v.name] for v in variants}
