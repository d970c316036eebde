"""BatchNorm2d: affine parameters, running statistics as buffers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from convprof.args import arg, boolean, nonneg_float, optional, real
from convprof.kinds.base import LayerCost, ReceptiveField, ShapeError, UnaryKind, prod, register
from convprof.kinds.conv import spatial_2d
from convprof.spec import Shape
from convprof.units import format_shape

if TYPE_CHECKING:
    import torch

__all__ = ["BatchNorm2d"]

#: Element-wise ops per element at inference: running statistics fold into one multiply and one add.
BATCHNORM_OPS_PER_ELEMENT = 2
#: Without running statistics the batch's own are computed too: one add per element for the mean,
#: a subtract, a multiply and an add for the variance, then the same multiply and add.
BATCHNORM_BATCH_STATS_OPS_PER_ELEMENT = 6
#: Bytes of BatchNorm's int64 `num_batches_tracked` buffer.
_COUNTER_BYTES = 8


@dataclass(frozen=True, slots=True)
class BatchNorm2dArgs:
    """torch.nn.BatchNorm2d's arguments; num_features is inferred."""

    eps: float = arg(1e-5, nonneg_float)
    """Added to the variance for numerical stability (0 is allowed, as in torch)."""
    momentum: float | None = arg(0.1, optional(real))
    """Running-average factor; null for a cumulative average. Any finite value, as torch takes."""
    affine: bool = arg(True, boolean)
    """Learnable per-channel scale and shift."""
    track_running_stats: bool = arg(True, boolean)
    """Keep running mean and variance buffers."""


@register
class BatchNorm2d(UnaryKind):
    """Per-channel normalisation over batch, height and width."""

    name = "BatchNorm2d"
    Args = BatchNorm2dArgs
    torch_types = ("torch.nn.BatchNorm2d",)

    def output_shape(self, args: BatchNorm2dArgs, shape: Shape) -> Shape:
        spatial_2d(self.name, shape)
        return shape

    def check_batch(self, args: BatchNorm2dArgs, in_shape: Shape, batch_size: int) -> None:
        # Without running statistics, inference normalises with the batch's own mean and variance,
        # which torch refuses to compute from a single value per channel.
        if not args.track_running_stats and batch_size * prod(in_shape[1:]) == 1:
            raise ShapeError(
                "without running statistics (track_running_stats: false) it normalises with the "
                f"batch's own statistics and needs more than one value per channel, but gets batch "
                f"{batch_size} x {format_shape(in_shape[1:])}; use a larger batch_size or keep "
                "running statistics"
            )

    def cost(self, args: BatchNorm2dArgs, in_shape: Shape, out_shape: Shape) -> LayerCost:
        channels = in_shape[0]
        tracked = args.track_running_stats
        return LayerCost(
            params=2 * channels if args.affine else 0,
            macs=0,
            elementwise_ops=prod(out_shape)
            * (BATCHNORM_OPS_PER_ELEMENT if tracked else BATCHNORM_BATCH_STATS_OPS_PER_ELEMENT),
            fan_in=1,
            buffer_elements=2 * channels if tracked else 0,
            buffer_fixed_bytes=_COUNTER_BYTES if tracked else 0,
        )

    def receptive_field(
        self, args: BatchNorm2dArgs, in_shape: Shape, rf: ReceptiveField | None
    ) -> ReceptiveField | None:
        return rf

    def build(self, args: BatchNorm2dArgs, in_shape: Shape, out_shape: Shape) -> torch.nn.Module:
        from torch import nn

        return nn.BatchNorm2d(
            in_shape[0],
            eps=args.eps,
            momentum=args.momentum,
            affine=args.affine,
            track_running_stats=args.track_running_stats,
        )
