"""Normalisations with running statistics: BatchNorm and InstanceNorm of every rank."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from convprof.kinds.base import ShapeError, UnaryKind, register
from convprof.kinds.records import Autograd, LayerCost, ReceptiveField, TrainingStep
from convprof.spec import Shape, prod
from convprof.spec.args import arg, boolean, nonneg_float, optional, real
from convprof.units import format_shape

if TYPE_CHECKING:
    import torch

__all__ = [
    "BatchNorm1d",
    "BatchNorm2d",
    "BatchNorm3d",
    "InstanceNorm1d",
    "InstanceNorm2d",
    "InstanceNorm3d",
    "needs_rank",
    "normalisation_ops",
]

#: Element-wise ops per element at inference: running statistics fold into one multiply and one add.
BATCHNORM_OPS_PER_ELEMENT = 2
#: Without running statistics the batch's own are computed too: one add per element for the mean,
#: a subtract, a multiply and an add for the variance, then the same multiply and add.
BATCHNORM_BATCH_STATS_OPS_PER_ELEMENT = 6
#: Bytes of BatchNorm's int64 `num_batches_tracked` buffer.
_COUNTER_BYTES = 8
#: What each rank of per-sample input is called in messages.
_RANK_NAMES = {
    1: "channels",
    2: "channels x length",
    3: "channels x height x width",
    4: "channels x depth x height x width",
}


def needs_rank(kind: str, shape: Shape, ranks: tuple[int, ...]) -> None:
    """Raise ShapeError unless the per-sample `shape` has one of `ranks` dimensions."""
    if len(shape) not in ranks:
        wanted = " or ".join(_RANK_NAMES.get(rank, f"{rank}-dimensional") for rank in ranks)
        raise ShapeError(f"{kind} needs a {wanted} input, got {format_shape(shape)}")


def normalisation_ops(elements: int, computed_statistics: bool) -> int:
    """Return the element-wise ops of normalising `elements` values (the README's convention)."""
    per_element = BATCHNORM_BATCH_STATS_OPS_PER_ELEMENT if computed_statistics else BATCHNORM_OPS_PER_ELEMENT
    return elements * per_element


@dataclass(frozen=True, slots=True)
class BatchNormArgs:
    """torch.nn.BatchNorm1d/2d/3d's arguments; num_features is inferred."""

    eps: float = arg(1e-5, nonneg_float)
    """Added to the variance for numerical stability (0 is allowed, as in torch)."""
    momentum: float | None = arg(0.1, optional(real))
    """Running-average factor; null for a cumulative average. Any finite value, as torch takes."""
    affine: bool = arg(True, boolean)
    """Learnable per-channel scale and shift."""
    track_running_stats: bool = arg(True, boolean)
    """Keep running mean and variance buffers."""


@dataclass(frozen=True, slots=True)
class InstanceNormArgs:
    """torch.nn.InstanceNorm1d/2d/3d's arguments (torch's defaults differ from BatchNorm's)."""

    eps: float = arg(1e-5, nonneg_float)
    """Added to the variance for numerical stability."""
    momentum: float | None = arg(0.1, optional(real))
    """Running-average factor; null for a cumulative average."""
    affine: bool = arg(False, boolean)
    """Learnable per-channel scale and shift."""
    track_running_stats: bool = arg(False, boolean)
    """Keep running mean and variance buffers (and normalise with them at inference)."""


class _RunningStatsNorm(UnaryKind):
    """Per-channel normalisation with optional affine terms and running-statistics buffers."""

    torch_class_of_its_name = True

    ranks: ClassVar[tuple[int, ...]]
    """Per-sample ranks torch takes for this kind."""

    def output_shape(self, args: Any, shape: Shape) -> Shape:
        needs_rank(self.name, shape, self.ranks)
        return shape

    def cost(self, args: Any, in_shape: Shape, out_shape: Shape) -> LayerCost:
        channels = in_shape[0]
        tracked = args.track_running_stats
        return LayerCost(
            params=2 * channels if args.affine else 0,
            macs=0,
            elementwise_ops=normalisation_ops(prod(out_shape), not tracked),
            fan_in=1,
            buffer_elements=2 * channels if tracked else 0,
            buffer_fixed_bytes=_COUNTER_BYTES if tracked else 0,
        )

    def receptive_field(self, args: Any, in_shape: Shape, rf: ReceptiveField | None) -> ReceptiveField | None:
        return rf

    def param_tensors(self, args: Any, in_shape: Shape, out_shape: Shape) -> tuple[int, ...]:
        return (in_shape[0], in_shape[0]) if args.affine else ()

    def build(self, args: Any, in_shape: Shape, out_shape: Shape) -> torch.nn.Module:
        from torch import nn

        module: type[torch.nn.Module] = getattr(nn, self.name)
        return module(
            in_shape[0],
            eps=args.eps,
            momentum=args.momentum,
            affine=args.affine,
            track_running_stats=args.track_running_stats,
        )


class _BatchNorm(_RunningStatsNorm):
    """Per-channel normalisation over batch and positions."""

    keeps_layout = True
    Args = BatchNormArgs

    def autograd(
        self, args: BatchNormArgs, in_shape: Shape, out_shape: Shape, step: TrainingStep
    ) -> Autograd:
        """Keep the input and the batch's mean and inverse deviation per channel (training normalises
        with the batch's statistics, whether or not it also tracks running ones)."""
        statistics = in_shape[0] * step.itemsize
        return Autograd(keeps_inputs=(0,), keeps_new=(statistics, statistics))

    def check_batch(self, args: BatchNormArgs, in_shape: Shape, batch_size: int) -> None:
        # Without running statistics, inference normalises with the batch's own mean and variance,
        # which torch refuses to compute from a single value per channel.
        if not args.track_running_stats and batch_size * prod(in_shape[1:]) == 1:
            raise ShapeError(
                "without running statistics (track_running_stats: false) it normalises with the "
                f"batch's own statistics and needs more than one value per channel, but gets batch "
                f"{batch_size} x {format_shape(in_shape[1:]) if len(in_shape) > 1 else '1'}; use a "
                "larger batch_size or keep running statistics"
            )

    def check_training(self, args: BatchNormArgs, in_shape: Shape, batch_size: int) -> None:
        # Training normalises with the batch's statistics whether or not running ones are tracked.
        if batch_size * prod(in_shape[1:]) == 1:
            raise ShapeError(
                "in training mode it normalises with the batch's own statistics and needs more than "
                f"one value per channel, but gets batch {batch_size} x "
                f"{format_shape(in_shape[1:]) if len(in_shape) > 1 else '1'}; use a larger batch size"
            )


@register
class BatchNorm1d(_BatchNorm):
    """BatchNorm over [C] or [C, L] samples."""

    name = "BatchNorm1d"
    ranks = (1, 2)


@register
class BatchNorm2d(_BatchNorm):
    """BatchNorm over [C, H, W] samples."""

    name = "BatchNorm2d"
    ranks = (3,)


@register
class BatchNorm3d(_BatchNorm):
    """BatchNorm over [C, D, H, W] samples."""

    name = "BatchNorm3d"
    ranks = (4,)


class _InstanceNorm(_RunningStatsNorm):
    """Per-sample, per-channel normalisation over positions."""

    Args = InstanceNormArgs

    def autograd(
        self, args: InstanceNormArgs, in_shape: Shape, out_shape: Shape, step: TrainingStep
    ) -> Autograd:
        """torch runs a batch norm over the batch's channels as one: it keeps the input, a mean and an
        inverse deviation per sample and channel and, repeated per sample, the running statistics
        when tracked and the weights when affine."""
        per_channel = step.nbytes(in_shape[0])
        tracked, affine = args.track_running_stats, args.affine
        kept = (per_channel,) * (2 + 2 * tracked + affine)
        grads = step.nbytes(prod(in_shape)) if any(step.grads) else 0
        # The repeated bias lives through the forward too; updating the running statistics averages
        # the repeated ones over the batch, one channel's worth at a time, after the batch norm has
        # returned: where nothing records the layer, its mean and inverse deviation are gone by then.
        during = (len(kept) + affine) * per_channel
        averaging = (in_shape[0] * step.itemsize if tracked else 0) + (
            during if step.recorded else during - 2 * per_channel
        )
        return Autograd(
            keeps_inputs=(0,),
            keeps_new=kept,
            forward_peak=step.nbytes(prod(out_shape)) + max(during, averaging),
            backward_peak=grads + (2 * per_channel if affine and step.trainable else 0),
        )

    def check_training(self, args: InstanceNormArgs, in_shape: Shape, batch_size: int) -> None:
        # Training normalises each sample with its own statistics, even where running ones are
        # tracked (without them, a single position is refused for inference already).
        if prod(in_shape[1:]) == 1:
            raise ShapeError(
                "in training mode it normalises each channel of each sample over its "
                f"{format_shape(in_shape[1:])} positions and needs more than one; use a larger input"
            )

    def output_shape(self, args: InstanceNormArgs, shape: Shape) -> Shape:
        # torch would also take a sample one rank lower as an unbatched input, which with a batch
        # dimension in front means normalising across the batch: refused.
        needs_rank(self.name, shape, self.ranks)
        if not args.track_running_stats and prod(shape[1:]) == 1:
            raise ShapeError(
                f"it normalises each channel of each sample over its {format_shape(shape[1:])} "
                "positions and needs more than one; use a larger input or track_running_stats: true"
            )
        return shape


@register
class InstanceNorm1d(_InstanceNorm):
    """InstanceNorm over [C, L] samples."""

    name = "InstanceNorm1d"
    ranks = (2,)


@register
class InstanceNorm2d(_InstanceNorm):
    """InstanceNorm over [C, H, W] samples."""

    name = "InstanceNorm2d"
    ranks = (3,)


@register
class InstanceNorm3d(_InstanceNorm):
    """InstanceNorm over [C, D, H, W] samples."""

    name = "InstanceNorm3d"
    ranks = (4,)
