"""The records a report is made of: a layer's counts, a variant's, the training step's peak and the
spec's description, with the schema version that writes them. Each field's metadata is its JSON
form (convprof.report.fields): its schema, its order, the version that added it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from convprof.metrics import lower_bound_totals
from convprof.report.fields import COUNT, MAYBE_COUNT, SHAPE, json, names
from convprof.report.results import DeviceLatency
from convprof.report.roles import HELD_ROLES, STEP_PHASES
from convprof.spec import DTYPE_BYTES, MAX_NODES

__all__ = [
    "LAYER_FIELDS",
    "LOWER_BOUND_MARK",
    "LOWER_BOUND_TOTALS",
    "READABLE_SCHEMA_VERSIONS",
    "SCHEMA_VERSION",
    "VARIANT_TOTALS",
    "HeldTensor",
    "LayerReport",
    "SpecInfo",
    "TrainingPeak",
    "VariantReport",
]

#: Bumped on any incompatible change to the JSON report; CHANGELOG records each bump.
SCHEMA_VERSION = 4
#: Schemas of saved reports read back. Schema 3 lacks what schema 4 added: frozen parameters (every
#: parameter of a schema-3 report is trainable), named inputs and outputs (its specs had one of each)
#: and the memory over time of inference and of a training step (None from it).
READABLE_SCHEMA_VERSIONS = (3, SCHEMA_VERSION)


#: Before a value that is a lower bound (a total leaving opaque ops' unknown counts out): the true
#: value is at least this. Every human-readable output writes it.
LOWER_BOUND_MARK = ">="
#: Totals that sum a count some layers may leave unknown (an opaque op's): lower bounds when they do
#: (the metric registry's). Parameters, buffers and memory are always exact.
LOWER_BOUND_TOTALS = tuple(metric.key for metric in lower_bound_totals())


@dataclass(frozen=True, slots=True, kw_only=True)
class LayerReport:
    """One layer's counts in one variant; batch-dependent figures are for the whole batch.

    Its fields are its JSON form, in order (convprof.report.fields)."""

    index: int = field(
        metadata=json(
            {
                "type": "integer",
                "minimum": 0,
                "description": "0-based position in topological order (the order the spec writes "
                "its layers).",
            }
        )
    )
    """0-based position in the graph's topological order (the order the spec writes its layers)."""
    path: str = field(
        metadata=json(
            {
                "type": "string",
                "minLength": 1,
                "description": "Stable hierarchical path, as torch names modules (layer1.0.conv1): "
                "its identity.",
            }
        )
    )
    """Stable hierarchical path, as torch names modules (`layer1.0.conv1`): a layer's identity."""
    inputs: tuple[str, ...] = field(
        metadata=json(
            {
                "type": "array",
                "minItems": 1,
                "maxItems": MAX_NODES,
                "items": {"type": "string", "minLength": 1},
                "description": "Paths of the layers it reads, in argument order; `input` is the "
                "network input.",
            }
        )
    )
    """Paths of the layers it reads, in argument order; `input` for the network input."""
    depth: int = field(
        metadata=json(
            {"type": "integer", "minimum": 0, "description": "Nesting depth: the dots in the path."}
        )
    )
    """Nesting depth: 0 at the top, one more inside each named block."""
    kind: str = field(metadata=json({"type": "string", "description": "Kind in this variant, e.g. Conv2d."}))
    """Kind in this variant, e.g. Conv2d, LocallyConnected2d, DenseConv2d."""
    output_shape: tuple[int, ...] = field(metadata=json(SHAPE | {"description": "Per-sample output shape."}))
    """Per-sample output shape."""
    params: int = field(metadata=json(COUNT | {"description": "Parameters, trainable or frozen."}))
    """Parameters, trainable or frozen."""
    frozen_params: int = field(
        default=0,
        metadata=json(
            COUNT
            | {
                "description": "Its parameters that are frozen (requires_grad=False): all of them for a "
                "frozen layer, else 0."
            },
            since=4,
        ),
    )
    """Its parameters that are frozen (requires_grad=False: no gradient, no optimizer state): all of
    them for a frozen layer, else 0."""
    buffer_bytes: int = field(
        metadata=json(COUNT | {"description": "Non-trainable state (BatchNorm running stats)."})
    )
    """Non-trainable state (BatchNorm running statistics)."""
    macs: int | None = field(
        metadata=json(
            MAYBE_COUNT
            | {"description": "Multiply-accumulates for the batch; null when unknown (an opaque op)."}
        )
    )
    """Multiply-accumulates for the batch; None when unknown (an opaque op's), never 0 for it."""
    flops: int | None = field(
        init=False, metadata=json(MAYBE_COUNT | {"description": "2 x macs; null when macs is."})
    )
    """FLOPs = 2 x MACs; None when the MACs are unknown."""
    backward_flops: int | None = field(
        metadata=json(
            MAYBE_COUNT
            | {
                "description": "FLOPs of its backward in a training step (weights' and needed input "
                "gradients); null when unknown."
            }
        )
    )
    """FLOPs of the layer's backward in a training step: the weights' gradient, and the input's when
    some layer before has parameters (2 x the multiply-accumulates, as forward); None when unknown."""
    elementwise_ops: int | None = field(
        metadata=json(MAYBE_COUNT | {"description": "Element-wise ops for the batch; null when unknown."})
    )
    """Bias adds, activations, pooling and normalisation ops for the batch; None when unknown."""
    activation_bytes: int = field(
        metadata=json(COUNT | {"description": "Bytes of the output for the batch."})
    )
    """Bytes of the layer's output tensor for the batch."""
    live_bytes: int | None = field(
        default=None,
        metadata=json(
            COUNT
            | {
                "description": "Bytes of the activations alive at inference while it makes its output (its "
                "output and every earlier tensor still to be read, the input included), by liveness."
            },
            since=4,
        ),
    )
    """Bytes of the activations alive at inference while the layer makes its output (its output, and
    every earlier tensor still to be read, the network input included), by liveness; the variant's
    activation_bytes is the largest. None only in a report of schema 3, which did not carry it."""
    saved_bytes: int | None = field(
        metadata=json(
            MAYBE_COUNT
            | {
                "description": "Bytes of the tensors it makes that autograd keeps for the backward; null "
                "when unknown."
            }
        )
    )
    """Bytes of the tensors the layer makes that autograd keeps for the backward (its output when a
    later layer's backward reads it, indices, masks, statistics), each storage once; None when
    unknown (an opaque op's autograd)."""
    step_forward_bytes: int | None = field(
        default=None,
        metadata=json(
            COUNT
            | {
                "description": "The most a training step holds while its forward runs, weights, buffers, "
                "optimizer state and input included (a lower bound as training_bytes is)."
            },
            since=4,
        ),
    )
    """The most a training step holds while the layer's forward runs: weights, buffers, optimizer
    state and input, the tensors alive, and the layer's temporaries (a lower bound as the variant's
    training_bytes is). None only in a report of schema 3."""
    step_backward_bytes: int | None = field(
        default=None,
        metadata=json(
            MAYBE_COUNT
            | {
                "description": "The most a training step holds while its backward runs, as "
                "step_forward_bytes; null where no backward runs (nothing in it or before it needs a "
                "gradient)."
            },
            since=4,
        ),
    )
    """The most a training step holds while the layer's backward runs (the sums of its inputs'
    gradients included), as step_forward_bytes; None where no backward runs (nothing in the layer or
    before it needs a gradient), and in a report of schema 3."""
    receptive_field: tuple[int, ...] | None = field(
        metadata=json(
            {
                "oneOf": [SHAPE, {"type": "null"}],
                "description": "Extent on the input seen by one output unit; null when the whole input.",
            }
        )
    )
    """Extent on the network input seen by one output unit; None when it is the whole input (or,
    at and after an opaque op, unknown and bounded by it)."""
    fan_in: int | None = field(
        metadata=json(
            MAYBE_COUNT | {"description": "Connections per output unit, bias excluded; null when unknown."}
        )
    )
    """Connections per output unit (bias excluded); None when unknown."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "flops", None if self.macs is None else 2 * self.macs)

    @property
    def trainable_params(self) -> int:
        """Parameters a training step updates."""
        return self.params - self.frozen_params

    @property
    def counted(self) -> bool:
        """True when convprof knows the layer's arithmetic (its MACs and element-wise ops)."""
        return self.macs is not None and self.elementwise_ops is not None


@dataclass(frozen=True, slots=True)
class HeldTensor:
    """A tensor (or one group of them: every weight, every buffer) held at the peak of a training step."""

    role: str = field(metadata=json({"enum": list(HELD_ROLES)}))
    """What it is: one of HELD_ROLES."""
    layer: str | None = field(
        metadata=json(
            {
                "type": ["string", "null"],
                "description": "Path of the layer that made it (a gradient: of whose output; a "
                "workspace: the layer running); null for weights, buffers, optimizer state, "
                "input and the optimizer's temporaries.",
            }
        )
    )
    """The path of the layer that made it (for a gradient, whose output it is the gradient of; for a
    workspace, the layer running); None for the weights, buffers, optimizer state and input, held
    throughout, and for the optimizer's temporaries."""
    bytes: int = field(metadata=json(COUNT))
    """Its bytes for the batch."""


@dataclass(frozen=True, slots=True)
class TrainingPeak:
    """Where the modelled training step peaks, and what it holds there."""

    phase: str = field(metadata=json({"enum": list(STEP_PHASES)}))
    """forward, backward or optimizer: what runs at the peak."""
    layer: str | None = field(
        metadata=json(
            {
                "type": ["string", "null"],
                "description": "Path of the layer running; null at the optimizer's step.",
            }
        )
    )
    """The path of the layer whose forward or backward runs at the peak; None for the optimizer's step."""
    tensors: tuple[HeldTensor, ...]
    """Everything held at the peak, resident tensors first, then in the order the step made them;
    their bytes sum to the variant's training_bytes (written apart, as training_peak_tensors)."""


#: Ends the description of a total that is a lower bound when its variant's lower_bounds lists it.
_BOUND = "; a lower bound when listed"


@dataclass(frozen=True, slots=True, kw_only=True)
class VariantReport:
    """Totals and layers of one variant (dense, local or conv).

    Its totals are written to JSON as their fields say, in order (convprof.report.fields); the rest
    (markers, latency, the training step's peak, layers) by Report.to_dict."""

    name: str
    """dense, local or conv."""
    params: int = field(metadata=json(COUNT | {"description": "Parameters, trainable or frozen."}))
    """Parameters, trainable or frozen."""
    trainable_params: int = field(
        init=False,
        metadata=json(
            COUNT
            | {"description": "params - frozen_params: what a training step updates (gradients, optimizer)."},
            since=4,
        ),
    )
    """Parameters a training step updates: gradients and optimizer state are theirs."""
    frozen_params: int = field(
        default=0,
        metadata=json(
            COUNT
            | {"description": "Parameters of frozen layers: weights, but no gradient or optimizer state."},
            since=4,
        ),
    )
    """Parameters of frozen layers (requires_grad=False): weights in memory, but no gradient and no
    optimizer state in a training step."""
    macs: int = field(
        metadata=json(
            COUNT
            | {
                "description": "Multiply-accumulates of conv and linear layers and of products of "
                "activations (matmul, einsum, attention) for the batch; a lower bound when listed in "
                "lower_bounds."
            }
        )
    )
    """Multiply-accumulates of conv and linear layers and of products of activations (matmul, einsum,
    attention) for the batch: of the layers that know theirs, a lower bound when some do not (see
    `lower_bounds`)."""
    flops: int = field(init=False, metadata=json(COUNT | {"description": "2 x macs."}))
    """FLOPs = 2 x MACs."""
    backward_flops: int = field(
        metadata=json(COUNT | {"description": f"FLOPs of a training step's backward{_BOUND}."})
    )
    """FLOPs of a training step's backward (gradients of weights and of inputs that need them); a
    lower bound when some layer's are unknown."""
    training_flops: int = field(
        init=False,
        metadata=json(COUNT | {"description": f"flops + backward_flops: one training step{_BOUND}."}),
    )
    """FLOPs of one training step: forward + backward."""
    elementwise_ops: int = field(
        metadata=json(COUNT | {"description": f"Element-wise ops for the batch, apart from MACs{_BOUND}."})
    )
    """Element-wise ops for the batch, counted apart from MACs (a lower bound as `macs` is)."""
    param_bytes: int = field(metadata=json(COUNT | {"description": "Weight memory."}))
    """Weight memory: params x dtype size."""
    buffer_bytes: int = field(
        metadata=json(COUNT | {"description": "Buffer memory (BatchNorm running statistics)."})
    )
    """Buffer memory (BatchNorm running statistics), listed apart from weights."""
    activation_bytes: int = field(metadata=json(COUNT | {"description": "Peak inference activation memory."}))
    """Peak inference activation memory, by liveness."""
    saved_activation_bytes: int = field(
        metadata=json(
            COUNT
            | {
                "description": "Bytes autograd keeps for the backward at the end of the forward, "
                "storage once."
            }
        )
    )
    """Bytes autograd keeps for the backward at the end of a training step's forward, each storage
    once (the network input included when a layer keeps it)."""
    optimizer_bytes: int = field(metadata=json(COUNT | {"description": "Optimizer state."}))
    """Optimizer state: none for sgd, a velocity for momentum, two moments and a step count for adam."""
    training_bytes: int = field(
        metadata=json(
            COUNT
            | {
                "description": "Peak memory of one training step (forward, backward, optimizer step); a "
                "lower bound when listed."
            }
        )
    )
    """Peak memory of one training step (forward, backward, optimizer step), weights and optimizer
    state included."""
    layers: tuple[LayerReport, ...]
    """Per-layer counts in spec order."""
    latency: tuple[DeviceLatency, ...] | None = None
    """Measured latency and memory per device, or why it was skipped; None when nothing was measured."""
    training_latency: tuple[DeviceLatency, ...] | None = None
    """Measured training step (time, memory beside the model's estimate) per device, or why it was
    skipped; None when no training step was measured."""
    step_optimizer_bytes: int | None = None
    """The most a training step holds while the optimizer updates the weights (resident tensors and
    the weights' gradients included); None only in a report of schema 3."""
    training_peak: TrainingPeak | None = None
    """Where the modelled training step peaks and the tensors it holds there; None only in a report
    of schema 3."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "trainable_params", self.params - self.frozen_params)
        object.__setattr__(self, "flops", 2 * self.macs)
        object.__setattr__(self, "training_flops", 2 * self.macs + self.backward_flops)

    @property
    def unknown_ops(self) -> int:
        """Layers whose arithmetic convprof cannot count (opaque ops): what the totals leave out."""
        return sum(not layer.counted for layer in self.layers)

    @property
    def lower_bounds(self) -> tuple[str, ...]:
        """The totals that leave an unknown count out, in LOWER_BOUND_TOTALS order: lower bounds."""
        unknown = {
            "macs": any(layer.macs is None for layer in self.layers),
            "backward_flops": any(layer.backward_flops is None for layer in self.layers),
            "elementwise_ops": any(layer.elementwise_ops is None for layer in self.layers),
            # What an unknown op keeps and allocates in training is left out of the memory; and how
            # its parameters split into tensors (Adam keeps a step count per tensor).
            "saved_activation_bytes": any(layer.saved_bytes is None for layer in self.layers),
            "optimizer_bytes": any(
                layer.saved_bytes is None and layer.trainable_params for layer in self.layers
            ),
        }
        unknown["flops"] = unknown["macs"]
        unknown["training_flops"] = unknown["macs"] or unknown["backward_flops"]
        unknown["training_bytes"] = unknown["saved_activation_bytes"]
        return tuple(name for name in LOWER_BOUND_TOTALS if unknown[name])

    def latency_dict(self) -> dict[str, Any] | None:
        """Return the JSON form of the measured latency: each device's entry (None when skipped)."""
        if self.latency is None:
            return None
        return {result.device: result.to_dict() for result in self.latency}

    def training_latency_dict(self) -> dict[str, Any] | None:
        """Return the JSON form of the measured training step: each device's entry (None when skipped)."""
        if self.training_latency is None:
            return None
        return {result.device: result.to_dict() for result in self.training_latency}


#: A layer's fields in a report, in the order JSON and CSV write them (the schema requires each).
LAYER_FIELDS = names(LayerReport, SCHEMA_VERSION)
#: A variant's totals in a report, in the order JSON and CSV write them (the schema requires each).
VARIANT_TOTALS = names(VariantReport, SCHEMA_VERSION)


@dataclass(frozen=True, slots=True)
class SpecInfo:
    """What a report says about the spec it came from."""

    name: str = field(metadata=json({"type": "string"}))
    """The spec's name."""
    description: str = field(metadata=json({"type": "string"}))
    """The spec's description, possibly empty."""
    input: tuple[int, ...] = field(metadata=json(SHAPE | {"minItems": 1, "maxItems": 4}))
    """One sample's shape (of the first input where the spec has several)."""
    batch_size: int = field(metadata=json({"type": "integer", "minimum": 1}))
    """Samples per inference."""
    dtype: str = field(metadata=json({"enum": list(DTYPE_BYTES)}))
    """Element type."""
    inputs: tuple[tuple[str, tuple[int, ...]], ...] = ()
    """Every input by name and shape where the spec names them (`inputs:`); empty for one input."""
    outputs: tuple[tuple[str, str, tuple[int, ...]], ...] = ()
    """Every output by name, layer path and shape where the spec names them (`outputs:`); empty
    when the last layer is the one output."""

    @property
    def input_shapes(self) -> tuple[tuple[int, ...], ...]:
        """The shape of every input, in order."""
        return tuple(shape for _, shape in self.inputs) or (self.input,)
