"""The records a kind answers with: its cost, its receptive field, what a training step keeps."""

from __future__ import annotations

import math
from dataclasses import dataclass

from convprof.kinds.strides import Layout
from convprof.spec import Shape, prod

__all__ = [
    "FULL",
    "INDEX_BYTES",
    "Autograd",
    "LayerCost",
    "ReceptiveField",
    "TrainingStep",
    "as_pair",
    "reshaped_field",
    "round_width",
    "spatial_field",
]


@dataclass(frozen=True, slots=True)
class ReceptiveField:
    """How much of the network input one output unit sees, per spatial dimension."""

    size: tuple[int, ...]
    """Extent on the input, per spatial dimension (theoretical: padding included)."""
    jump: tuple[int, ...]
    """Distance on the input between neighbouring output units, per spatial dimension."""
    lead: int = 1
    """Dimensions of each sample before the spatial ones, which are not spatial: 1 for the channels;
    0 once a permute has moved them last (ConvNeXt); 2 once a view has split them in two
    (ShuffleNet's channel shuffle)."""
    trail: int = 0
    """Dimensions after the spatial ones, which are not spatial: 1 while the channels are last (a
    linear layer then mixes channels only, as ConvNeXt's pointwise layers do)."""

    def fits(self, shape: Shape) -> bool:
        """Return True when `shape` has this field's layout: its dimensions are lead, spatial, trail.

        They differ once a flatten has merged spatial dimensions: a window over a merged dimension
        covers rows of the original ones, not a box."""
        return self.lead + len(self.size) + self.trail == len(shape)

    def spatial_axes(self) -> range:
        """Return the sample's spatial dimensions (0 is the first after the batch)."""
        return range(self.lead, self.lead + len(self.size))


#: The receptive field of a unit connected to the whole input.
FULL: ReceptiveField | None = None


@dataclass(frozen=True, slots=True)
class LayerCost:
    """What one layer costs for one sample; the analyzer scales by batch and dtype."""

    params: int
    """Trainable elements (weights, biases, affine terms)."""
    macs: int | None
    """Multiply-accumulates of conv and linear products for one sample; None when unknown (an opaque
    op's), never 0 for an op convprof cannot count."""
    elementwise_ops: int | None
    """Bias adds, activations, pooling window reads and normalisation for one sample; None when unknown."""
    fan_in: int | None
    """Input units each output unit is connected to (bias excluded); None when unknown."""
    buffer_elements: int = 0
    """Non-trainable state in the model dtype (BatchNorm running mean and variance)."""
    buffer_fixed_bytes: int = 0
    """Non-trainable state of a fixed type (BatchNorm's int64 num_batches_tracked)."""


@dataclass(frozen=True, slots=True)
class TrainingStep:
    """What a node's training footprint depends on besides its arguments and shapes."""

    batch: int
    """Samples in the step."""
    itemsize: int
    """Bytes per element of the model's dtype."""
    grads: tuple[bool, ...]
    """Per input: whether it needs a gradient (some node before it has parameters)."""
    recorded: bool = True
    """Whether autograd records the node (its output needs a gradient); when not, what it keeps is
    freed as the forward goes."""
    device: str = "cpu"
    """`cpu` or `cuda`: whose kernels the step runs (they keep different tensors in a few places)."""
    layouts: tuple[Layout, ...] = ()
    """Per input: how it lies in memory (a linear layer keeps a copy of an input it cannot fold into
    a matrix as a view); empty: all contiguous."""
    trainable: bool = True
    """Whether the node's parameters get gradients: False for a frozen node (requires_grad=False),
    whose backward computes only its inputs' gradients and keeps only what those need."""

    def views(self, shape: tuple[int, ...], position: int = 0) -> bool:
        """Return whether input `position` can be viewed as the batched `shape` without a copy."""
        return not self.layouts or self.layouts[position].view(shape) is not None

    def nbytes(self, elements: int) -> int:
        """Return the bytes of `elements` values of the model's dtype for the whole batch."""
        return elements * self.batch * self.itemsize


#: Bytes per element of the index tensors max-pooling keeps (torch's int64).
INDEX_BYTES = 8


@dataclass(frozen=True, slots=True)
class Autograd:
    """What a node adds to the memory of a training step besides its output, in bytes for the batch.

    It describes torch's CPU kernels, as `torch.autograd.graph.saved_tensors_hooks` and a dispatch
    mode see them (tensors returned by operators; scratch space inside one kernel is not counted). It
    holds for a node whose output needs a gradient; the others run as at inference."""

    keeps_inputs: tuple[int, ...] = ()
    """Inputs whose storage autograd keeps until this node's backward has run."""
    keeps_output: bool = False
    """Whether autograd keeps the output's storage until this node's backward has run."""
    keeps_new: tuple[int, ...] = ()
    """Bytes of each tensor the forward makes only for the backward (indices, masks, statistics)."""
    forward_peak: int | None = None
    """Most bytes the forward holds at once beyond what was live before it; None: its output (when
    it is a new tensor) and `keeps_new`, made at once."""
    grad_views: tuple[int, ...] = ()
    """Inputs whose gradient is a view of the output's gradient (flatten, permute, cat, add): no
    new memory, and the output's gradient lives as long as theirs."""
    known: bool = True
    """False for an op whose autograd convprof cannot tell (an opaque op): it is modelled as keeping
    nothing and making only its gradients, so every total over it is a lower bound."""
    backward_peak: int | None = None
    """Most bytes the backward holds at once beyond what was live before it, counting what it lets go
    of its own `keeps_new` on the way but nothing it shares (kept inputs and output, the output's
    gradient); None: the new gradients of its inputs and those of its parameters, made at once."""
    backward_after: int = 0
    """Bytes allocated once the backward has let go of what it read, and freed again at once: a
    parameter's gradient copied into the parameter's own layout (torch's AccumulateGrad)."""
    expanded_grads: tuple[tuple[int, Layout], ...] = ()
    """Inputs (among `grad_views`) whose gradient is the output's expanded, entries repeated with
    stride 0 (a sum's), with that gradient's batched layout: a node before that views it in
    another shape must copy it first (`LayerKind.node_grad_copy`)."""


def round_width(value: float) -> int:
    """Round a scaled width half up (Python's round() goes to even: 2.5 -> 2) and keep at least 1."""
    return max(1, math.floor(value + 0.5))


def spatial_field(rf: ReceptiveField | None, in_shape: Shape) -> ReceptiveField | None:
    """Return `rf` when `in_shape` is channels then one dimension per extent of `rf`, else FULL.

    A window (a convolution, a pool) slides over every dimension after the first. After a flatten
    that merged spatial dimensions, a permute or a view, those need not be the spatial dimensions:
    a window over a merged dimension covers rows of the original ones, not a box, so a later unit's
    field is bounded by the whole input and reported as such rather than guessed."""
    if rf is None or rf.lead != 1 or rf.trail != 0 or not rf.fits(in_shape):
        return FULL
    return rf


def reshaped_field(in_shape: Shape, out_shape: Shape, rf: ReceptiveField | None) -> ReceptiveField | None:
    """Return the receptive field after each sample is reshaped from `in_shape` to `out_shape`.

    A reshape that regroups only the dimensions before and after the spatial ones (ShuffleNet's
    channels split into groups and merged back) keeps the field, the spatial dimensions where the
    regrouping puts them; any other reshapes spatial dimensions, reported as the whole input."""
    if rf is None or in_shape == out_shape:
        return rf
    if not rf.fits(in_shape):
        return FULL
    spatial = in_shape[rf.lead : rf.lead + len(rf.size)]
    before = prod(in_shape[: rf.lead])
    for lead in range(len(out_shape) - len(spatial) + 1):
        if prod(out_shape[:lead]) == before and out_shape[lead : lead + len(spatial)] == spatial:
            trail = len(out_shape) - lead - len(spatial)
            return ReceptiveField(rf.size, rf.jump, lead=lead, trail=trail)
    return FULL


def as_pair(value: int | tuple[int, ...] | list[int]) -> tuple[int, int]:
    """Return torch's int-or-pair argument as a pair, as a spec's coercion reads it."""
    if isinstance(value, int):
        return (value, value)
    first, second = value
    return (int(first), int(second))
