"""The registry of layer kinds: each kind is declared once, with every piece it needs."""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from convprof.errors import ConvprofError
from convprof.kinds.strides import Layout
from convprof.spec import Shape

if TYPE_CHECKING:
    import torch

__all__ = [
    "FULL",
    "PARAMETER",
    "TENSOR",
    "TRACED",
    "Autograd",
    "Constant",
    "ImportStep",
    "LayerCost",
    "LayerKind",
    "NotImportable",
    "ReceptiveField",
    "ShapeError",
    "TorchCall",
    "TrainingStep",
    "UnaryKind",
    "all_kinds",
    "as_pair",
    "lookup",
    "register",
    "reshaped_field",
    "round_width",
    "spatial_field",
]


class ShapeError(ConvprofError):
    """A layer cannot take its input; the spec parser adds the layer's position."""


class NotImportable(ConvprofError):
    """A torch module or call has settings no spec can express (the importer lists it as unsupported)."""


class _Tensor:
    """The marker a TorchCall puts where the call reads a tensor."""

    def __repr__(self) -> str:
        return "TENSOR"


#: Where a TorchCall's arguments held a tensor (its shape is in `input_shapes`).
TENSOR: Any = _Tensor()


class _Parameter:
    """The marker a TorchCall puts where the call reads one of the model's parameters directly."""

    def __repr__(self) -> str:
        return "PARAMETER"


#: Where a TorchCall's arguments held a parameter of the model, read in a forward (ConvNeXt's
#: `self.layer_scale * x`); its shape is in `parameter_shapes`.
PARAMETER: Any = _Parameter()


class _Traced:
    """The marker a TorchCall puts where the call reads a value computed while tracing."""

    def __repr__(self) -> str:
        return "TRACED"


#: Where a TorchCall's arguments held the batch size read from an input (`x.size(0)`, `x.shape[0]`),
#: which a view that keeps any batch must take from its input: every other size is given as torch
#: gave it while the model ran.
TRACED: Any = _Traced()


@dataclass(frozen=True, slots=True)
class Constant:
    """The marker a TorchCall puts where the call reads a tensor that is neither an activation nor a
    parameter of the model: one made from constants while running (YOLO's anchors from `arange` and
    `meshgrid`) or a module's buffer. Its values are unknown (the model runs without data); its shape
    is what a kind can count with."""

    shape: Shape
    """Its whole shape (no batch: it is the same for every sample); () for a 0-d tensor."""


@dataclass(frozen=True, slots=True)
class TorchCall:
    """A torch function or Tensor method call met while importing, as a kind's reader sees it."""

    target: str
    """The callable as the kind's `torch_calls` names it: `torch.flatten`, `Tensor.mean`, `operator.add`."""
    args: tuple[Any, ...]
    """Positional arguments: constants as given, TENSOR for each activation, PARAMETER for each
    parameter, Constant(shape) for a tensor made from constants, lists of tensors as lists (and, for
    a reduction over dimension 0 of `torch.stack(xs)`, the list `xs` in place of the stack)."""
    kwargs: Mapping[str, Any]
    """Keyword arguments, the same way."""
    input_shapes: tuple[Shape, ...]
    """Per-sample shape of each tensor the call reads, in argument order."""
    output_shape: Shape
    """Per-sample shape torch gives its output."""
    parameter_shapes: tuple[Shape, ...] = ()
    """Whole shape of each parameter the call reads directly (a PARAMETER in the arguments), in order,
    as the call sees it: a view of one (`self.gamma.view(1, -1, 1, 1)`) has the view's shape."""
    held_shapes: tuple[Shape, ...] = ()
    """Shape of each of those parameters as the model holds it (`[64]` for that gamma)."""
    item: int | None = None
    """For a call that returns several tensors (`x.chunk(2, 1)`, `x.max(1)`), which one this node is:
    its position in the result, as the model uses it (`a, b = x.chunk(2, 1)`, `x.max(1)[0]`,
    `x.max(1).values`); None for a call that returns one tensor."""

    def arg(self, position: int, name: str, default: Any) -> Any:
        """Return the argument at `position` or called `name`, else `default`."""
        if position < len(self.args):
            return self.args[position]
        return self.kwargs.get(name, default)


#: One node an imported call becomes: a kind and its arguments (most calls become one node).
ImportStep = tuple["LayerKind", Any]


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


def prod(values: tuple[int, ...]) -> int:
    """Product of sizes as an exact integer."""
    result = 1
    for value in values:
        result *= value
    return result


class LayerKind(ABC):
    """A node kind: argument schema, shape inference, counts, receptive field and torch builder.

    This is the graph-level interface the analysis uses: every method takes a tuple of input shapes.
    Most kinds read one tensor and subclass `UnaryKind`, which unpacks it; merges (add, mul, cat)
    implement it directly.
    """

    name: ClassVar[str]
    """Canonical name: torch.nn's class name for public kinds."""
    Args: ClassVar[type]
    """Frozen dataclass of arguments, fields declared with `convprof.spec.args.arg`."""
    counterfactuals: ClassVar[Mapping[str, str]] = {}
    """Variant name -> the kind this layer becomes in it; absent variants keep the layer."""
    public: ClassVar[bool] = True
    """False for kinds that only variants produce; a spec cannot name them."""
    arity: ClassVar[tuple[int, int | None]] = (1, 1)
    """Fewest and most inputs the kind reads (None: no upper bound)."""
    shape_inputs: ClassVar[tuple[int, ...]] = ()
    """Inputs read for their shape only (`x.expand_as(y)`'s y): no value of theirs is read, so no
    gradient reaches them through this node."""
    torch_types: ClassVar[tuple[str, ...]] = ()
    """torch module classes the importer reads back as this kind, by name: `torch.nn.Conv2d`."""
    torch_calls: ClassVar[tuple[str, ...]] = ()
    """torch callables the importer offers to `from_call`: `torch.nn.functional.relu`, `Tensor.relu`."""
    reads_stacks: ClassVar[bool] = False
    """True for a kind whose `from_call` reads a call on `torch.stack(xs)` along a new dimension 0
    (before the batch), given the list `xs` in place of the stack: a reduction that takes that
    dimension away again (`torch.stack(xs).sum(0)`). No other kind is offered such a call."""
    not_importable: ClassVar[str] = ""
    """Why no torch module or call is read back as this kind (public kinds without a reader say so)."""
    parameter_at_path: ClassVar[bool] = False
    """True for a kind that is one learnable tensor and an operation with it (ConvNeXt's layer
    scale): the built model holds that tensor at the node's own path (`features.1.0.layer_scale`, as
    the model it is imported from names it) rather than in a submodule, and the importer reads it
    from a call that reads a parameter of the model directly (a PARAMETER in `from_call`)."""
    keeps_layout: ClassVar[bool] = False
    """Whether torch lays out the output like the (first) input (element-wise operators, pools,
    batch norm, interpolation), rather than contiguously."""
    not_buildable: ClassVar[str] = ""
    """Why the torch model of a spec cannot hold this kind (empty: `node_build` builds it); measuring
    a spec with such a node is skipped with this reason."""
    torch_class_of_its_name: ClassVar[bool] = False
    """True where torch.nn has a class of the kind's own name that reads back as it: `torch_types` is
    then that class, for every registered kind below (one that says it is not importable excepted)."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        named = "name" in cls.__dict__ and "torch_types" not in cls.__dict__
        if named and cls.torch_class_of_its_name and cls.public and not cls.not_importable:
            cls.torch_types = (f"torch.nn.{cls.name}",)

    def from_module(self, module: torch.nn.Module) -> Any:
        """Return the Args of a module of one of `torch_types`; raise NotImportable if none can say it.

        The default reads each argument from the module's attribute of the same name (torch's names)."""
        values = {name: getattr(module, name) for name in getattr(self.Args, "__slots__", ())}
        return self.Args(**values)

    def from_call(self, call: TorchCall) -> tuple[ImportStep, ...] | None:
        """Return the nodes a call of one of `torch_calls` becomes, or None when it is not this kind;
        no nodes (an empty tuple) when the call gives its one input back unchanged (an index that
        keeps every entry, GhostNet's `x[:, :8]` of 8 channels)."""
        return None

    @abstractmethod
    def node_output_shape(self, args: Any, shapes: tuple[Shape, ...]) -> Shape:
        """Return the per-sample output shape, or raise ShapeError saying why it cannot be."""

    @abstractmethod
    def node_cost(self, args: Any, in_shapes: tuple[Shape, ...], out_shape: Shape) -> LayerCost:
        """Return the node's exact per-sample counts."""

    @abstractmethod
    def node_receptive_field(
        self, args: Any, in_shapes: tuple[Shape, ...], fields: tuple[ReceptiveField | None, ...]
    ) -> ReceptiveField | None:
        """Return the receptive field of an output unit given those of the input units."""

    def node_backward_macs(
        self,
        args: Any,
        in_shapes: tuple[Shape, ...],
        out_shape: Shape,
        grads: tuple[bool, ...],
        trainable: bool = True,
    ) -> int | None:
        """Return the multiply-accumulates of the node's backward for one sample.

        `grads[i]` says whether input i needs a gradient (some layer before it has trainable
        parameters); `trainable`, whether the node's own parameters need one (not frozen). A kind's
        MACs are products of an input and its weights (conv, linear, their local and dense forms);
        backward computes a product of the same size for the weights' gradient when they need one,
        and another for the input's gradient when it is needed (torch's convolution_backward, mm and
        bmm skip either otherwise). Kinds without MACs have none in backward either; unknown MACs
        stay unknown."""
        macs = self.node_cost(args, in_shapes, out_shape).macs
        if macs is None:
            return None
        return macs * (trainable + any(grads)) if macs else 0

    @abstractmethod
    def node_autograd(
        self, args: Any, in_shapes: tuple[Shape, ...], out_shape: Shape, step: TrainingStep
    ) -> Autograd:
        """Return what the node keeps and allocates in a training step (see Autograd)."""

    def node_param_tensors(
        self, args: Any, in_shapes: tuple[Shape, ...], out_shape: Shape
    ) -> tuple[int, ...]:
        """Return the elements of each parameter tensor, in torch's order (weight, then bias).

        Their sum is the node's parameter count; optimizers allocate per tensor."""
        return ()

    def node_grad_copy(self, args: Any, in_shapes: tuple[Shape, ...], out_shape: Shape, grad: Layout) -> bool:
        """Return whether the backward copies an output gradient laid out as `grad` (an expanded
        view, entries repeated: see Autograd.expanded_grads) before it reads it: a node whose torch
        module views its output's gradient in another shape where the strides do not allow it.

        Most kinds' kernels read any layout as it is (their own copies are scratch)."""
        return False

    def node_grad_view(
        self, args: Any, in_shapes: tuple[Shape, ...], out_shape: Shape, grad: Layout
    ) -> Layout | None:
        """Return the layout of the input's gradient where it is a view of an output gradient laid
        out as `grad` (expanded), which it then still is; None where the gradient it makes is not."""
        return None

    def node_check_batch(self, args: Any, in_shapes: tuple[Shape, ...], batch_size: int) -> None:  # noqa: B027 - a hook, not abstract: most kinds run at any batch size
        """Raise ShapeError when torch cannot run this node on `batch_size` samples (most can)."""

    def node_check_training(self, args: Any, in_shapes: tuple[Shape, ...], batch_size: int) -> None:  # noqa: B027 - a hook, not abstract: most kinds train at any batch size
        """Raise ShapeError when torch cannot run this node in training mode on `batch_size` samples,
        though it runs it at inference (a batch norm normalising one value per channel)."""

    def aliases_input(self, args: Any, training: bool, layout: Layout | None = None) -> bool:
        """Return True when the output shares the (first) input's storage: no new activation memory.

        `layout` is that input's (a flatten views a tensor whose dimensions it merges lie one after
        another in memory, and copies any other); None: contiguous."""
        return False

    def node_layout(
        self, args: Any, in_shapes: tuple[Shape, ...], out_shape: Shape, layouts: tuple[Layout, ...]
    ) -> Layout:
        """Return the layout of the output given those of the inputs (batched shapes and strides).

        Most kinds make a new, contiguous tensor; those torch makes like their input say so
        (`keeps_layout`), and views compute theirs."""
        batched = (layouts[0].shape[0], *out_shape) if layouts else (1, *out_shape)
        if self.keeps_layout and layouts and len(in_shapes[0]) == len(out_shape):
            if self.aliases_input(args, True, layouts[0]) and in_shapes[0] == out_shape:
                return layouts[0]  # the input itself
            return layouts[0].like(batched)
        return Layout.contiguous(batched)

    @abstractmethod
    def node_build(self, args: Any, in_shapes: tuple[Shape, ...], out_shape: Shape) -> torch.nn.Module:
        """Return the torch module for this node (imports torch; never on the analytic path)."""

    def scale_width(self, args: Any, old_input: Shape, new_input: Shape, multiplier: float) -> Any:
        """Return `args` for a network `multiplier` times as wide whose input became `new_input`.

        The default keeps the arguments: only kinds that set a width (conv channels, linear features)
        change. `convprof sweep --width` calls this on every node but the classifier.
        """
        return args

    def is_classifier(self, args: Any) -> bool:
        """Return True for kinds whose last use in a network sets its outputs (the classes)."""
        return False


class UnaryKind(LayerKind):
    """A kind that reads one tensor: it declares the single-input forms of each method."""

    @abstractmethod
    def output_shape(self, args: Any, shape: Shape) -> Shape:
        """Return the per-sample output shape, or raise ShapeError saying why it cannot be."""

    @abstractmethod
    def cost(self, args: Any, in_shape: Shape, out_shape: Shape) -> LayerCost:
        """Return the layer's exact per-sample counts."""

    @abstractmethod
    def receptive_field(self, args: Any, in_shape: Shape, rf: ReceptiveField | None) -> ReceptiveField | None:
        """Return the receptive field of an output unit given that of an input unit."""

    def check_batch(self, args: Any, in_shape: Shape, batch_size: int) -> None:
        """Raise ShapeError when torch cannot run this layer on `batch_size` samples (most can)."""

    def check_training(self, args: Any, in_shape: Shape, batch_size: int) -> None:
        """Raise ShapeError when torch cannot run this layer in training mode on `batch_size` samples
        (most can whenever they run at inference)."""

    @abstractmethod
    def autograd(self, args: Any, in_shape: Shape, out_shape: Shape, step: TrainingStep) -> Autograd:
        """Return what the layer keeps and allocates in a training step (see Autograd)."""

    def param_tensors(self, args: Any, in_shape: Shape, out_shape: Shape) -> tuple[int, ...]:
        """Return the elements of each parameter tensor, in torch's order (weight, then bias)."""
        return ()

    @abstractmethod
    def build(self, args: Any, in_shape: Shape, out_shape: Shape) -> torch.nn.Module:
        """Return the torch module for this layer (imports torch; never on the analytic path)."""

    def node_output_shape(self, args: Any, shapes: tuple[Shape, ...]) -> Shape:
        (shape,) = shapes
        return self.output_shape(args, shape)

    def node_cost(self, args: Any, in_shapes: tuple[Shape, ...], out_shape: Shape) -> LayerCost:
        (shape,) = in_shapes
        return self.cost(args, shape, out_shape)

    def node_receptive_field(
        self, args: Any, in_shapes: tuple[Shape, ...], fields: tuple[ReceptiveField | None, ...]
    ) -> ReceptiveField | None:
        ((shape,), (rf,)) = in_shapes, fields
        return self.receptive_field(args, shape, rf)

    def node_check_batch(self, args: Any, in_shapes: tuple[Shape, ...], batch_size: int) -> None:
        (shape,) = in_shapes
        self.check_batch(args, shape, batch_size)

    def node_check_training(self, args: Any, in_shapes: tuple[Shape, ...], batch_size: int) -> None:
        (shape,) = in_shapes
        self.check_training(args, shape, batch_size)

    def node_autograd(
        self, args: Any, in_shapes: tuple[Shape, ...], out_shape: Shape, step: TrainingStep
    ) -> Autograd:
        (shape,) = in_shapes
        return self.autograd(args, shape, out_shape, step)

    def node_param_tensors(
        self, args: Any, in_shapes: tuple[Shape, ...], out_shape: Shape
    ) -> tuple[int, ...]:
        (shape,) = in_shapes
        return self.param_tensors(args, shape, out_shape)

    def node_build(self, args: Any, in_shapes: tuple[Shape, ...], out_shape: Shape) -> torch.nn.Module:
        (shape,) = in_shapes
        return self.build(args, shape, out_shape)


_REGISTRY: dict[str, LayerKind] = {}

K = TypeVar("K", bound=type[LayerKind])


def register(cls: K) -> K:
    """Register a kind under its case-insensitive name; a second registration is a bug."""
    key = cls.name.lower()
    if key in _REGISTRY:
        raise ValueError(f"layer kind {cls.name!r} is already registered")
    _REGISTRY[key] = cls()
    return cls


def lookup(name: str) -> LayerKind | None:
    """Return the kind named `name` (any case), or None."""
    return _REGISTRY.get(name.lower())


def all_kinds() -> tuple[LayerKind, ...]:
    """Return every registered kind, public and internal, in registration order."""
    return tuple(_REGISTRY.values())
