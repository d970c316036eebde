"""Decide which variants may be built: analytic memory against a limit, before anything is allocated."""

from __future__ import annotations

from collections.abc import Sequence

from convprof.report import VariantReport
from convprof.units import format_bytes

__all__ = ["admit", "memory_need"]


def memory_need(variant: VariantReport) -> int:
    """Return the bytes a variant needs to run one inference: weights, buffers and peak activations."""
    return variant.param_bytes + variant.buffer_bytes + variant.activation_bytes


def admit(variants: Sequence[VariantReport], limit: int) -> dict[str, str | None]:
    """Return each variant's reason to be skipped, or None when it may be built beside the others.

    Variants are timed in interleaved rounds, so every admitted one is alive at once: the smallest are
    admitted first while their weights together plus the largest activation peak stay within `limit`.
    """
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
