"""The registry of layer kinds: the interface each kind fills in, declared once by a decorator."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from convprof.errors import ConvprofError
from convprof.kinds.calls import TorchCall
from convprof.kinds.records import Autograd, LayerCost, ReceptiveField, TrainingStep
from convprof.kinds.strides import Layout
from convprof.spec import Shape

if TYPE_CHECKING:
    import torch

__all__ = ["ImportStep", "LayerKind", "ShapeError", "UnaryKind", "all_kinds", "lookup", "register"]


class ShapeError(ConvprofError):
    """A layer cannot take its input; the spec parser adds the layer's position."""


#: One node an imported call becomes: a kind and its arguments (most calls become one node).
ImportStep = tuple["LayerKind", Any]


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
