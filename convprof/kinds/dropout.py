"""Dropout of every kind (elements, channels, alpha): the identity at inference, which is what
convprof counts, and in a training step the noise torch keeps for the backward."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from convprof.kinds.activation import Elementwise
from convprof.kinds.base import ImportStep, register
from convprof.kinds.calls import TENSOR, TorchCall
from convprof.kinds.norm import needs_rank
from convprof.kinds.records import Autograd, TrainingStep
from convprof.kinds.strides import Layout
from convprof.spec import Shape, prod
from convprof.spec.args import arg, boolean, probability

__all__ = [
    "AlphaDropout",
    "Dropout",
    "Dropout1d",
    "Dropout2d",
    "Dropout3d",
    "DropoutArgs",
    "dropout_autograd",
]


@dataclass(frozen=True, slots=True)
class DropoutArgs:
    """torch.nn.Dropout's arguments."""

    p: float = arg(0.5, probability)
    """Probability of zeroing an element in training."""
    inplace: bool = arg(False, boolean)
    """Overwrite the input instead of allocating an output."""


def dropout_autograd(args: DropoutArgs, noise_bytes: int, step: TrainingStep) -> Autograd:
    """Return what torch's dropout keeps in training: its scaled noise (`noise_bytes` of it).

    p = 0 returns the input itself; p = 1 multiplies by a zero scalar, which it keeps; otherwise the
    noise (one value per element, or per channel for channel dropout) is kept for the backward."""
    if args.p == 0:
        return Autograd(grad_views=(0,))
    if args.p == 1:
        return Autograd(keeps_new=(step.itemsize,))
    return Autograd(keeps_new=(noise_bytes,))


@register
class Dropout(Elementwise):
    """Zeroes elements in training; the identity at inference, which is what convprof counts."""

    name = "Dropout"
    Args = DropoutArgs
    ops_per_element = 0
    torch_calls = ("torch.nn.functional.dropout",)

    def from_call(self, call: TorchCall) -> tuple[ImportStep, ...] | None:
        """Read F.dropout traced in eval mode (training=False); a dropout active at inference is not."""
        if call.args[:1] != (TENSOR,) or call.arg(2, "training", True) is not False:
            return None
        p = float(call.arg(1, "p", 0.5))
        return ((self, DropoutArgs(p=p, inplace=bool(call.arg(3, "inplace", False)))),)

    def aliases_input(self, args: DropoutArgs, training: bool, layout: Layout | None = None) -> bool:
        return not training or args.inplace or args.p == 0

    def autograd(self, args: DropoutArgs, in_shape: Shape, out_shape: Shape, step: TrainingStep) -> Autograd:
        # On CUDA torch's fused dropout keeps a one-byte mask per element instead of the noise.
        elements = prod(in_shape)
        mask = elements * step.batch if step.device == "cuda" else step.nbytes(elements)
        return dropout_autograd(args, mask, step)


class _ChannelDropout(Elementwise):
    """Zeroes whole channels in training; the identity at inference, which is what convprof counts."""

    Args = DropoutArgs
    ops_per_element = 0
    ranks: ClassVar[tuple[int, ...]]
    """Per-sample ranks torch takes without a warning."""

    batched_rank: ClassVar[int]
    """Per-sample rank torch reads as batched; at the other rank it takes the batch for channels."""

    def output_shape(self, args: DropoutArgs, shape: Shape) -> Shape:
        needs_rank(self.name, shape, self.ranks)
        return shape

    def aliases_input(self, args: DropoutArgs, training: bool, layout: Layout | None = None) -> bool:
        return not training or args.inplace or args.p == 0

    def autograd(self, args: DropoutArgs, in_shape: Shape, out_shape: Shape, step: TrainingStep) -> Autograd:
        """Keep one noise value per channel of each sample (per sample where torch reads the batch as
        the channels of one unbatched sample)."""
        channels = in_shape[0] if len(in_shape) == self.batched_rank else 1
        return dropout_autograd(args, step.nbytes(channels), step)


@register
class Dropout1d(_ChannelDropout):
    """Channel dropout of [C, L] samples."""

    name = "Dropout1d"
    batched_rank = 2
    ranks = (1, 2)


@register
class Dropout2d(_ChannelDropout):
    """Channel dropout of [C, H, W] samples."""

    name = "Dropout2d"
    batched_rank = 3
    ranks = (3,)


@register
class Dropout3d(_ChannelDropout):
    """Channel dropout of [C, D, H, W] samples."""

    name = "Dropout3d"
    batched_rank = 4
    ranks = (3, 4)


@register
class AlphaDropout(Elementwise):
    """Dropout that keeps SELU's mean and variance in training; the identity at inference."""

    name = "AlphaDropout"
    Args = DropoutArgs
    ops_per_element = 0

    def aliases_input(self, args: DropoutArgs, training: bool, layout: Layout | None = None) -> bool:
        # In training torch's alpha dropout returns a new tensor even in place (it adds its shift
        # out of place), except at p = 0, where it returns the input.
        return not training or args.p == 0 or (args.p == 1 and args.inplace)

    def autograd(self, args: DropoutArgs, in_shape: Shape, out_shape: Shape, step: TrainingStep) -> Autograd:
        """Keep the noise; the forward also holds the shift it adds, one value per element."""
        record = dropout_autograd(args, step.nbytes(prod(in_shape)), step)
        if 0 < args.p < 1:
            elements = step.nbytes(prod(in_shape))
            return Autograd(keeps_new=record.keeps_new, forward_peak=3 * elements)
        return record
