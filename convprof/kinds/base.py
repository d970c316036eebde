"""The registry of layer kinds: each kind is declared once, with every piece it needs."""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from convprof.errors import ConvprofError
from convprof.spec import Shape

if TYPE_CHECKING:
    import torch

__all__ = [
    "FULL",
    "TENSOR",
    "ImportStep",
    "LayerCost",
    "LayerKind",
    "NotImportable",
    "ReceptiveField",
    "ShapeError",
    "TorchCall",
    "UnaryKind",
    "all_kinds",
    "as_pair",
    "lookup",
    "register",
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


@dataclass(frozen=True, slots=True)
class TorchCall:
    """A torch function or Tensor method call met while importing, as a kind's reader sees it."""

    target: str
    """The callable as the kind's `torch_calls` names it: `torch.flatten`, `Tensor.mean`, `operator.add`."""
    args: tuple[Any, ...]
    """Positional arguments: constants as given, TENSOR for each tensor, lists of tensors as lists."""
    kwargs: Mapping[str, Any]
    """Keyword arguments, the same way."""
    input_shapes: tuple[Shape, ...]
    """Per-sample shape of each tensor the call reads, in argument order."""
    output_shape: Shape
    """Per-sample shape torch gives its output."""

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
    channels_last: bool = False
    """True while a permute has moved the channels after the spatial dimensions (a linear layer then
    mixes channels only, as ConvNeXt's pointwise layers do)."""


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


def round_width(value: float) -> int:
    """Round a scaled width half up (Python's round() goes to even: 2.5 -> 2) and keep at least 1."""
    return max(1, math.floor(value + 0.5))


def spatial_field(rf: ReceptiveField | None, in_shape: Shape) -> ReceptiveField | None:
    """Return `rf` when it has one extent per spatial dimension of `in_shape`, else FULL.

    They differ once a Flatten has merged spatial dimensions: a window over a merged dimension covers
    rows of the original ones, not a box, so a later unit's field is bounded by the whole input and
    reported as such rather than guessed."""
    if rf is None or len(rf.size) != len(in_shape) - 1:
        return FULL
    return rf


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
    torch_types: ClassVar[tuple[str, ...]] = ()
    """torch module classes the importer reads back as this kind, by name: `torch.nn.Conv2d`."""
    torch_calls: ClassVar[tuple[str, ...]] = ()
    """torch callables the importer offers to `from_call`: `torch.nn.functional.relu`, `Tensor.relu`."""
    not_importable: ClassVar[str] = ""
    """Why no torch module or call is read back as this kind (public kinds without a reader say so)."""
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
        """Return the nodes a call of one of `torch_calls` becomes, or None when it is not this kind."""
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

    def node_check_batch(self, args: Any, in_shapes: tuple[Shape, ...], batch_size: int) -> None:  # noqa: B027 - a hook, not abstract: most kinds run at any batch size
        """Raise ShapeError when torch cannot run this node on `batch_size` samples (most can)."""

    def aliases_input(self, args: Any, training: bool) -> bool:
        """Return True when the output shares the (first) input's storage: no new activation memory."""
        return False

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
