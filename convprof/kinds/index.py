"""Indexing and tiling of each sample: Slice (a strided slice), Select (one entry of a dimension),
Expand, Tile and Roll; and indexing `x[...]` read as those, Narrow and Reshape (or as no node at all)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from convprof.kinds.base import ImportStep, LayerKind, ShapeError, UnaryKind, lookup, register
from convprof.kinds.calls import TENSOR, TRACED, TorchCall
from convprof.kinds.layout import NarrowArgs, ReshapeArgs
from convprof.kinds.records import FULL, Autograd, LayerCost, ReceptiveField, TrainingStep
from convprof.kinds.strides import Layout
from convprof.spec import Shape
from convprof.spec.args import REQUIRED, arg, integer, integers, optional, positive_int, shape_sizes
from convprof.units import format_shape

if TYPE_CHECKING:
    import torch

__all__ = ["Expand", "Roll", "Select", "Slice", "Tile", "index_steps"]


def _axis(dim: int, shape: Shape) -> int:
    """Return the per-sample axis of batched dimension `dim`, or say why it is none."""
    rank = len(shape) + 1
    if not -rank <= dim < rank:
        raise ShapeError(
            f"dim {dim} is outside the {rank} dimensions of a batched {format_shape(shape)} input"
        )
    if dim % rank == 0:
        raise ShapeError("indexing dimension 0 would pick samples of the batch; use dim >= 1")
    return dim % rank - 1


def _drop_axis(rf: ReceptiveField | None, in_shape: Shape, axis: int) -> ReceptiveField | None:
    """Return the receptive field once per-sample `axis` is gone: the same field where it was not a
    spatial dimension, the whole input where it was (a row of a box is no box)."""
    if rf is None or not rf.fits(in_shape):
        return rf
    spatial = rf.spatial_axes()
    if axis in spatial:
        return FULL
    if axis < spatial.start:
        return ReceptiveField(rf.size, rf.jump, lead=rf.lead - 1, trail=rf.trail)
    return ReceptiveField(rf.size, rf.jump, lead=rf.lead, trail=rf.trail - 1)


@dataclass(frozen=True, slots=True)
class SliceArgs:
    """A slice `start:end:step` of one dimension, as `x[:, start:end:step]` takes it."""

    dim: int = arg(REQUIRED, integer)
    """Dimension of the batched tensor sliced (1 = channels); never the batch."""
    start: int = arg(0, integer)
    """First entry kept; negative counts from the end."""
    end: int | None = arg(None, optional(integer))
    """Entry the slice stops before; null: the end; negative counts from the end."""
    step: int = arg(1, positive_int)
    """Distance between the entries kept."""


@register
class Slice(UnaryKind):
    """Every `step`-th entry of a run of one dimension (`x[:, ::2]`, LeViT's subsampling): a view."""

    name = "Slice"
    Args = SliceArgs
    torch_types = ("convprof.kinds.nn.Slice",)
    torch_calls = ("operator.getitem",)

    def from_call(self, call: TorchCall) -> tuple[ImportStep, ...] | None:
        """Read `x[index]` with slices, integers, None and Ellipsis (not tensors): see index_steps."""
        if call.args[:1] != (TENSOR,) or len(call.args) != 2:
            return None
        if len(call.input_shapes) != 1:
            return None
        return index_steps(call.input_shapes[0], call.args[1])

    def _range(self, args: SliceArgs, shape: Shape) -> tuple[int, range]:
        axis = _axis(args.dim, shape)
        kept = range(*slice(args.start, args.end, args.step).indices(shape[axis]))
        if not kept:
            raise ShapeError(
                f"start {args.start}, end {args.end} keep none of the {shape[axis]} entries of "
                f"dimension {args.dim}"
            )
        return axis, kept

    def output_shape(self, args: SliceArgs, shape: Shape) -> Shape:
        axis, kept = self._range(args, shape)
        return (*shape[:axis], len(kept), *shape[axis + 1 :])

    def cost(self, args: SliceArgs, in_shape: Shape, out_shape: Shape) -> LayerCost:
        return LayerCost(params=0, macs=0, elementwise_ops=0, fan_in=1)

    def receptive_field(
        self, args: SliceArgs, in_shape: Shape, rf: ReceptiveField | None
    ) -> ReceptiveField | None:
        """Each unit is an input unit; along a spatial dimension neighbours are `step` apart."""
        if rf is None or not rf.fits(in_shape):
            return rf
        axis, _ = self._range(args, in_shape)
        spatial = rf.spatial_axes()
        if axis not in spatial:
            return rf
        jump = list(rf.jump)
        jump[axis - spatial.start] *= args.step
        return ReceptiveField(rf.size, tuple(jump), lead=rf.lead, trail=rf.trail)

    def aliases_input(self, args: SliceArgs, training: bool, layout: Layout | None = None) -> bool:
        return True

    def node_layout(
        self, args: SliceArgs, in_shapes: tuple[Shape, ...], out_shape: Shape, layouts: tuple[Layout, ...]
    ) -> Layout:
        """A view with the same strides, `step` times as far apart along the sliced dimension."""
        (layout,), (shape,) = layouts, in_shapes
        axis, kept = self._range(args, shape)
        strides = list(layout.strides)
        strides[axis + 1] *= kept.step
        sizes = list(layout.shape)
        sizes[axis + 1] = len(kept)
        return Layout(tuple(sizes), tuple(strides))

    def autograd(self, args: SliceArgs, in_shape: Shape, out_shape: Shape, step: TrainingStep) -> Autograd:
        return Autograd()  # the backward writes the gradient into zeros of the input's size

    def build(self, args: SliceArgs, in_shape: Shape, out_shape: Shape) -> torch.nn.Module:
        from convprof.kinds.nn import Slice as Module

        return Module(args.dim, args.start, args.end, args.step)


@dataclass(frozen=True, slots=True)
class SelectArgs:
    """torch.select's arguments: one entry of one dimension, the dimension dropped (`x[:, 0]`)."""

    dim: int = arg(REQUIRED, integer)
    """Dimension of the batched tensor indexed (1 = channels); never the batch."""
    index: int = arg(REQUIRED, integer)
    """The entry kept; negative counts from the end."""


@register
class Select(UnaryKind):
    """One entry of one dimension, that dimension dropped (`x[:, 0]`, torch.select): a view."""

    name = "Select"
    Args = SelectArgs
    torch_types = ("convprof.kinds.nn.Select",)
    torch_calls = ("torch.select", "Tensor.select")

    def from_call(self, call: TorchCall) -> tuple[ImportStep, ...] | None:
        """Read torch.select(x, dim, index) and x.select(dim, index)."""
        if call.args[:1] != (TENSOR,) or len(call.input_shapes) != 1:
            return None
        dim, index = call.arg(1, "dim", None), call.arg(2, "index", None)
        if type(dim) is not int or type(index) is not int:
            return None
        return ((self, SelectArgs(dim, index)),)

    def _place(self, args: SelectArgs, shape: Shape) -> int:
        axis = _axis(args.dim, shape)
        if not -shape[axis] <= args.index < shape[axis]:
            raise ShapeError(
                f"index {args.index} is outside the {shape[axis]} entries of dimension {args.dim}"
            )
        return axis

    def output_shape(self, args: SelectArgs, shape: Shape) -> Shape:
        axis = self._place(args, shape)
        return (*shape[:axis], *shape[axis + 1 :])

    def cost(self, args: SelectArgs, in_shape: Shape, out_shape: Shape) -> LayerCost:
        return LayerCost(params=0, macs=0, elementwise_ops=0, fan_in=1)

    def receptive_field(
        self, args: SelectArgs, in_shape: Shape, rf: ReceptiveField | None
    ) -> ReceptiveField | None:
        return _drop_axis(rf, in_shape, self._place(args, in_shape))

    def aliases_input(self, args: SelectArgs, training: bool, layout: Layout | None = None) -> bool:
        return True

    def node_layout(
        self, args: SelectArgs, in_shapes: tuple[Shape, ...], out_shape: Shape, layouts: tuple[Layout, ...]
    ) -> Layout:
        (layout,), (shape,) = layouts, in_shapes
        dim = self._place(args, shape) + 1
        return Layout(
            layout.shape[:dim] + layout.shape[dim + 1 :], layout.strides[:dim] + layout.strides[dim + 1 :]
        )

    def autograd(self, args: SelectArgs, in_shape: Shape, out_shape: Shape, step: TrainingStep) -> Autograd:
        return Autograd()  # the backward writes the gradient into zeros of the input's size

    def build(self, args: SelectArgs, in_shape: Shape, out_shape: Shape) -> torch.nn.Module:
        from convprof.kinds.nn import Select as Module

        return Module(args.dim, args.index)


def index_steps(shape: Shape, index: Any) -> tuple[ImportStep, ...] | None:
    """Return the nodes `x[index]` on a batched `shape` input becomes, or None.

    Slices, integers, None and one Ellipsis, the batch kept whole by the first: a slice of step 1
    is a Narrow, of another step a Slice, an integer a Select, None a Reshape adding a dimension of
    1; a slice that keeps a whole dimension is nothing, and an index that changes nothing no node
    at all: the input itself (GhostNet's `x[:, :8]` of 8 channels). Tensors, lists and booleans are
    not read."""
    items = list(index) if isinstance(index, tuple) else [index]
    if items.count(Ellipsis) > 1:
        return None
    for item in items:
        if item is None or item is Ellipsis or type(item) is int:
            continue
        if not isinstance(item, slice) or not all(
            bound is None or type(bound) is int for bound in (item.start, item.stop, item.step)
        ):
            return None
    rank = len(shape) + 1
    consuming = sum(1 for item in items if item is not None and item is not Ellipsis)
    if consuming > rank:
        return None
    at = items.index(Ellipsis) if Ellipsis in items else len(items)
    items[at : at + 1] = [slice(None)] * (rank - consuming)
    first = items[0]
    if not isinstance(first, slice) or (first.start, first.stop, first.step or 1) not in (
        (None, None, 1),
        (0, None, 1),
    ):
        return None  # the batch is picked from, cut or moved
    steps: list[ImportStep] = []
    current = [0, *shape]  # the batched shape as the steps change it (the batch's size is not used)
    dim = 0
    for item in items:
        if item is None:
            current.insert(dim, 1)
            reshape = lookup("Reshape")
            assert reshape is not None
            steps.append((reshape, ReshapeArgs(shape=tuple(current[1:]))))
            dim += 1
            continue
        if dim == 0:
            dim = 1
            continue
        size = current[dim]
        if type(item) is int:
            if not -size <= item < size:
                return None
            steps.append((_kind("Select"), SelectArgs(dim, item)))
            del current[dim]
            continue
        start, stop, step = item.indices(size)
        kept = len(range(start, stop, step))
        if kept <= 0 or step < 1:
            return None
        if kept != size:
            if step == 1:
                steps.append((_kind("Narrow"), NarrowArgs(dim, start, kept)))
            else:
                steps.append((_kind("Slice"), SliceArgs(dim, start, stop, step)))
            current[dim] = kept
        dim += 1
    return tuple(steps)


def _kind(name: str) -> Any:
    found = lookup(name)
    assert found is not None, name
    return found


@dataclass(frozen=True, slots=True)
class ExpandArgs:
    """The per-sample shape torch's expand makes."""

    shape: tuple[int, ...] = arg(REQUIRED, shape_sizes, verbatim=True)
    """Sizes of each sample's dimensions, the batch's left out: a dimension of 1 may grow, -1 keeps
    the input's size."""


def _sizes_after_batch(call: TorchCall) -> tuple[Any, ...] | None:
    """Return the sizes an expand, repeat or view call gives after the batch's, or None when its
    first size does not keep the batch (a size computed from the input, `x.size(0)`, or -1)."""
    rest = call.args[1:]
    sizes = rest[0] if len(rest) == 1 and isinstance(rest[0], list | tuple) else rest
    sizes = call.kwargs.get("size", call.kwargs.get("sizes", sizes))
    if not sizes or (sizes[0] is not TRACED and sizes[0] != -1):
        return None
    return tuple(sizes[1:])


@register
class Expand(LayerKind):
    """The input seen at a larger size, dimensions of 1 repeated without a copy (a view).

    A second input, when there is one (`x.expand_as(y)`), is read for its shape only."""

    name = "Expand"
    Args = ExpandArgs
    arity = (1, 2)
    shape_inputs = (1,)
    torch_types = ("convprof.kinds.nn.Expand",)
    torch_calls = ("Tensor.expand", "Tensor.expand_as", "torch.broadcast_to", "Tensor.broadcast_to")

    def from_call(self, call: TorchCall) -> tuple[ImportStep, ...] | None:
        """Read x.expand(b, ...) whose first size keeps the batch, and x.expand_as(y) (y is read for
        its shape only: what torch gives is the shape)."""
        if call.args[:1] != (TENSOR,):
            return None
        if call.target.endswith("expand_as"):
            if call.args[1:] != (TENSOR,) or len(call.input_shapes) != 2:
                return None
            return ((self, ExpandArgs(shape=call.output_shape)),)
        if len(call.input_shapes) != 1:
            return None
        sizes = _sizes_after_batch(call)
        if sizes is None or len(sizes) != len(call.input_shapes[0]):
            return None  # new leading dimensions would move the batch
        sizes = tuple(
            out if size is TRACED else size for size, out in zip(sizes, call.output_shape, strict=True)
        )
        if not all(type(size) is int for size in sizes):
            return None
        return ((self, ExpandArgs(shape=sizes)),)

    def node_output_shape(self, args: ExpandArgs, shapes: tuple[Shape, ...]) -> Shape:
        shape = shapes[0]
        if len(args.shape) != len(shape):
            raise ShapeError(
                f"shape {list(args.shape)} has {len(args.shape)} dimensions but a {format_shape(shape)} "
                f"sample has {len(shape)}; expand keeps the rank (new dimensions would move the batch)"
            )
        out = []
        for size, wanted in zip(shape, args.shape, strict=True):
            if wanted == -1 or wanted == size:
                out.append(size)
            elif size == 1:
                out.append(wanted)
            else:
                raise ShapeError(
                    f"cannot expand a {format_shape(shape)} sample to {list(args.shape)}: only "
                    "dimensions of size 1 grow"
                )
        if len(shapes) == 2 and shapes[1] != tuple(out):
            raise ShapeError(
                f"expanded to {format_shape(tuple(out))}, but the tensor whose shape it takes is "
                f"{format_shape(shapes[1])}"
            )
        return tuple(out)

    def node_cost(self, args: ExpandArgs, in_shapes: tuple[Shape, ...], out_shape: Shape) -> LayerCost:
        return LayerCost(params=0, macs=0, elementwise_ops=0, fan_in=1)

    def node_receptive_field(
        self, args: ExpandArgs, in_shapes: tuple[Shape, ...], fields: tuple[ReceptiveField | None, ...]
    ) -> ReceptiveField | None:
        return fields[0]  # every output unit is an input unit

    def aliases_input(self, args: ExpandArgs, training: bool, layout: Layout | None = None) -> bool:
        return True

    def node_layout(
        self, args: ExpandArgs, in_shapes: tuple[Shape, ...], out_shape: Shape, layouts: tuple[Layout, ...]
    ) -> Layout:
        """The same memory; a grown dimension has stride 0."""
        layout = layouts[0]
        batched = (layout.shape[0], *out_shape)
        strides = tuple(
            0 if size != wanted else stride
            for size, wanted, stride in zip(layout.shape, batched, layout.strides, strict=True)
        )
        return Layout(batched, strides)

    def node_autograd(
        self, args: ExpandArgs, in_shapes: tuple[Shape, ...], out_shape: Shape, step: TrainingStep
    ) -> Autograd:
        """Keep nothing: the input's gradient is the output's summed over the grown dimensions (the
        output's itself where none grew)."""
        return Autograd(grad_views=(0,) if in_shapes[0] == out_shape else ())

    def node_build(self, args: ExpandArgs, in_shapes: tuple[Shape, ...], out_shape: Shape) -> torch.nn.Module:
        from convprof.kinds.nn import Expand as Module

        return Module(args.shape)


@dataclass(frozen=True, slots=True)
class TileArgs:
    """torch's repeat's arguments after the batch's (which is 1)."""

    repeats: tuple[int, ...] = arg(REQUIRED, integers(1), verbatim=True)
    """Copies along each dimension of a sample, one per dimension."""


@register
class Tile(UnaryKind):
    """The input tiled: `repeats` copies along each dimension of each sample (a copy, no arithmetic):
    x.repeat and torch.tile (a spec's `repeat` is the block that repeats layers)."""

    name = "Tile"
    Args = TileArgs
    torch_types = ("convprof.kinds.nn.Tile",)
    torch_calls = ("Tensor.repeat", "torch.tile", "Tensor.tile")

    def from_call(self, call: TorchCall) -> tuple[ImportStep, ...] | None:
        """Read x.repeat(1, r1, r2, ...) and torch.tile with as many repeats as dimensions."""
        if call.args[:1] != (TENSOR,) or len(call.input_shapes) != 1:
            return None
        rest = call.args[1:]
        repeats = rest[0] if len(rest) == 1 and isinstance(rest[0], list | tuple) else rest
        repeats = call.kwargs.get("repeats", call.kwargs.get("dims", repeats))
        rank = len(call.input_shapes[0]) + 1
        if len(repeats) != rank or repeats[0] != 1 or not all(type(r) is int and r > 0 for r in repeats):
            return None  # more repeats than dimensions add leading ones; tile pads fewer with 1s
        return ((self, TileArgs(tuple(repeats[1:]))),)

    def output_shape(self, args: TileArgs, shape: Shape) -> Shape:
        repeats = args.repeats if isinstance(args.repeats, tuple) else (args.repeats,)
        if len(repeats) != len(shape):
            raise ShapeError(
                f"repeats has {len(repeats)} entries but a {format_shape(shape)} sample has {len(shape)} "
                "dimensions; give one per dimension (more would add dimensions before the batch)"
            )
        return tuple(size * r for size, r in zip(shape, repeats, strict=True))

    def cost(self, args: TileArgs, in_shape: Shape, out_shape: Shape) -> LayerCost:
        return LayerCost(params=0, macs=0, elementwise_ops=0, fan_in=1)

    def receptive_field(
        self, args: TileArgs, in_shape: Shape, rf: ReceptiveField | None
    ) -> ReceptiveField | None:
        return rf  # every output unit is a copy of an input unit

    def node_layout(
        self, args: TileArgs, in_shapes: tuple[Shape, ...], out_shape: Shape, layouts: tuple[Layout, ...]
    ) -> Layout:
        return Layout.contiguous((layouts[0].shape[0], *out_shape))

    def autograd(self, args: TileArgs, in_shape: Shape, out_shape: Shape, step: TrainingStep) -> Autograd:
        return Autograd()  # the backward sums the copies' gradients: a new tensor of the input's size

    def build(self, args: TileArgs, in_shape: Shape, out_shape: Shape) -> torch.nn.Module:
        from convprof.kinds.nn import Tile as Module

        repeats = args.repeats if isinstance(args.repeats, tuple) else (args.repeats,)
        return Module(repeats)


@dataclass(frozen=True, slots=True)
class RollArgs:
    """torch.roll's arguments, dimensions named (torch's default flattens the batch in)."""

    shifts: int | tuple[int, ...] = arg(REQUIRED, integers())
    """Places each dimension's entries move by (an int, or one per dimension)."""
    dims: int | tuple[int, ...] = arg(REQUIRED, integers())
    """Dimensions of the batched tensor rolled (1 = channels); never the batch."""


def _roll_pairs(args: RollArgs, shape: Shape) -> list[tuple[int, int]]:
    """Return (shift, per-sample axis) for each rolled dimension, or say why they do not pair."""
    shifts = (args.shifts,) if isinstance(args.shifts, int) else args.shifts
    dims = (args.dims,) if isinstance(args.dims, int) else args.dims
    if len(shifts) != len(dims):
        raise ShapeError(
            f"shifts has {len(shifts)} entries and dims {len(dims)}; give one shift per dimension"
        )
    return [(shift, _axis(dim, shape)) for shift, dim in zip(shifts, dims, strict=True)]


@register
class Roll(UnaryKind):
    """Entries shifted cyclically along dimensions of each sample (Swin's shifted windows): a copy."""

    name = "Roll"
    Args = RollArgs
    torch_types = ("convprof.kinds.nn.Roll",)
    torch_calls = ("torch.roll", "Tensor.roll")

    def from_call(self, call: TorchCall) -> tuple[ImportStep, ...] | None:
        """Read torch.roll(x, shifts, dims) with its dimensions named."""
        if call.args[:1] != (TENSOR,) or len(call.input_shapes) != 1:
            return None
        shifts, dims = call.arg(1, "shifts", None), call.arg(2, "dims", None)

        def ints(value: Any) -> Any:
            if type(value) is int:
                return value
            if isinstance(value, list | tuple) and value and all(type(v) is int for v in value):
                return tuple(value)
            return None

        shifts, dims = ints(shifts), ints(dims)
        if shifts is None or dims is None:
            return None  # without dims torch flattens the batch into the roll
        return ((self, RollArgs(shifts, dims)),)

    def output_shape(self, args: RollArgs, shape: Shape) -> Shape:
        _roll_pairs(args, shape)
        return shape

    def cost(self, args: RollArgs, in_shape: Shape, out_shape: Shape) -> LayerCost:
        return LayerCost(params=0, macs=0, elementwise_ops=0, fan_in=1)

    def receptive_field(
        self, args: RollArgs, in_shape: Shape, rf: ReceptiveField | None
    ) -> ReceptiveField | None:
        return rf  # each unit is an input unit, moved: its field is as large

    def node_layout(
        self, args: RollArgs, in_shapes: tuple[Shape, ...], out_shape: Shape, layouts: tuple[Layout, ...]
    ) -> Layout:
        return Layout.contiguous((layouts[0].shape[0], *out_shape))

    def autograd(self, args: RollArgs, in_shape: Shape, out_shape: Shape, step: TrainingStep) -> Autograd:
        return Autograd()  # the backward rolls the gradient back: a new tensor of the input's size

    def build(self, args: RollArgs, in_shape: Shape, out_shape: Shape) -> torch.nn.Module:
        from convprof.kinds.nn import Roll as Module

        return Module(args.shifts, args.dims)
