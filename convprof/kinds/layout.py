"""Layout kinds: Permute, Transpose, Reshape and Narrow reorder, regroup or cut each sample (views)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from convprof.kinds.base import ImportStep, ShapeError, UnaryKind, lookup, register
from convprof.kinds.calls import TENSOR, TRACED, TorchCall
from convprof.kinds.linear import Flatten, flatten_range
from convprof.kinds.records import FULL, Autograd, LayerCost, ReceptiveField, TrainingStep, reshaped_field
from convprof.kinds.strides import Layout
from convprof.spec import Shape, prod
from convprof.spec.args import REQUIRED, arg, integer, integers, positive_int, shape_sizes
from convprof.units import format_shape

if TYPE_CHECKING:
    import torch

__all__ = ["Contiguous", "Narrow", "Permute", "Reshape", "Transpose", "moved_field"]


@dataclass(frozen=True, slots=True)
class PermuteArgs:
    """torch.permute's argument, as torchvision's Permute module takes it."""

    dims: int | tuple[int, ...] = arg(REQUIRED, integers())
    """New order of the batched tensor's dimensions; the batch (0) stays first."""


@dataclass(frozen=True, slots=True)
class TransposeArgs:
    """torch.transpose's arguments."""

    dim0: int = arg(REQUIRED, integer)
    """First dimension of the batched tensor to swap (1 = channels); negative counts from the end."""
    dim1: int = arg(REQUIRED, integer)
    """Second dimension to swap."""


@dataclass(frozen=True, slots=True)
class ReshapeArgs:
    """The per-sample shape torch's reshape (or view) makes, the batch kept first."""

    shape: tuple[int, ...] = arg(REQUIRED, shape_sizes, verbatim=True)
    """Sizes of each sample's dimensions, the batch's left out; one may be -1 (inferred)."""


@dataclass(frozen=True, slots=True)
class NarrowArgs:
    """torch.narrow's arguments: a contiguous run of one dimension."""

    dim: int = arg(REQUIRED, integer)
    """Dimension of the batched tensor to cut (1 = channels); negative counts from the end."""
    start: int = arg(REQUIRED, integer)
    """First entry kept; negative counts from the end, as in torch."""
    length: int = arg(REQUIRED, positive_int)
    """Entries kept."""


def _axis(dim: int, rank: int, shape: Shape) -> int:
    if not -rank <= dim < rank:
        raise ShapeError(
            f"dim {dim} is outside the {rank} dimensions of a batched {format_shape(shape)} input"
        )
    return dim % rank


def moved_field(order: tuple[int, ...], rf: ReceptiveField | None) -> ReceptiveField | None:
    """Return the receptive field after the per-sample axes are reordered as `order`.

    A reordering that keeps the spatial axes together and in their order (channels moved last, as
    ConvNeXt's channels-last linears need, or two non-spatial axes swapped, as ShuffleNet's channel
    shuffle does) keeps the field; any other mixes spatial axes, reported as the whole input."""
    if rf is None or order == tuple(range(len(order))):
        return rf
    if not rf.fits(order):
        return FULL
    spatial = rf.spatial_axes()
    if not spatial:
        return rf
    positions = [order.index(axis) for axis in spatial]
    lead = positions[0]
    if positions != list(range(lead, lead + len(spatial))):
        return FULL
    return ReceptiveField(rf.size, rf.jump, lead=lead, trail=len(order) - lead - len(spatial))


class _View(UnaryKind):
    """A view of its input: no arithmetic, no new memory."""

    def cost(self, args: Any, in_shape: Shape, out_shape: Shape) -> LayerCost:
        return LayerCost(params=0, macs=0, elementwise_ops=0, fan_in=1)

    def aliases_input(self, args: Any, training: bool, layout: Layout | None = None) -> bool:
        return True

    def autograd(self, args: Any, in_shape: Shape, out_shape: Shape, step: TrainingStep) -> Autograd:
        return Autograd(grad_views=(0,))  # the gradient is viewed back the same way


class _Reorder(_View):
    """A permutation of each sample's dimensions."""

    def order(self, args: Any, shape: Shape) -> tuple[int, ...]:
        """Return the per-sample axes in their new order."""
        raise NotImplementedError

    def output_shape(self, args: Any, shape: Shape) -> Shape:
        return tuple(shape[axis] for axis in self.order(args, shape))

    def receptive_field(self, args: Any, in_shape: Shape, rf: ReceptiveField | None) -> ReceptiveField | None:
        return moved_field(self.order(args, in_shape), rf)

    def node_layout(
        self, args: Any, in_shapes: tuple[Shape, ...], out_shape: Shape, layouts: tuple[Layout, ...]
    ) -> Layout:
        """The same memory, its dimensions renamed: each keeps its stride."""
        return layouts[0].permute((0, *(axis + 1 for axis in self.order(args, in_shapes[0]))))


@register
class Permute(_Reorder):
    """Reorders the batched tensor's dimensions, the batch staying first (torchvision's Permute)."""

    name = "Permute"
    torch_types = ("torchvision.ops.misc.Permute", "convprof.kinds.nn.Permute")
    torch_calls = ("torch.permute", "Tensor.permute")
    Args = PermuteArgs

    def from_module(self, module: Any) -> PermuteArgs:
        return PermuteArgs(dims=tuple(int(dim) for dim in module.dims))

    def from_call(self, call: TorchCall) -> tuple[ImportStep, ...] | None:
        """Read torch.permute(x, dims), x.permute(dims) and x.permute(*dims)."""
        if call.args[:1] != (TENSOR,) or len(call.input_shapes) != 1:
            return None
        rest = call.args[1:]
        dims = rest[0] if len(rest) == 1 and isinstance(rest[0], list | tuple) else rest
        dims = call.kwargs.get("dims", dims)
        if not dims or not all(type(dim) is int for dim in dims):
            return None
        return ((self, PermuteArgs(dims=tuple(dims))),)

    def order(self, args: PermuteArgs, shape: Shape) -> tuple[int, ...]:
        rank = len(shape) + 1
        dims = (args.dims,) if isinstance(args.dims, int) else args.dims
        if len(dims) != rank:
            raise ShapeError(
                f"dims has {len(dims)} entries but a batched {format_shape(shape)} input "
                f"has {rank} dimensions"
            )
        axes = tuple(_axis(dim, rank, shape) for dim in dims)
        if sorted(axes) != list(range(rank)):
            raise ShapeError(f"dims {list(dims)} repeats a dimension; name each of the {rank} once")
        if axes[0] != 0:
            raise ShapeError(f"dims {list(dims)} moves the batch; keep 0 first")
        return tuple(axis - 1 for axis in axes[1:])

    def build(self, args: PermuteArgs, in_shape: Shape, out_shape: Shape) -> torch.nn.Module:
        from convprof.kinds.nn import Permute as Module

        return Module((0, *(axis + 1 for axis in self.order(args, in_shape))))


@register
class Transpose(_Reorder):
    """Swaps two dimensions of the batched tensor, neither of them the batch."""

    name = "Transpose"
    torch_types = ("convprof.kinds.nn.Transpose",)
    torch_calls = (
        "torch.transpose",
        "Tensor.transpose",
        "torch.swapaxes",
        "Tensor.swapaxes",
        "torch.swapdims",
        "Tensor.swapdims",
    )
    Args = TransposeArgs

    def from_call(self, call: TorchCall) -> tuple[ImportStep, ...] | None:
        """Read torch.transpose(x, 1, 2), x.transpose(1, 2) and their aliases swapaxes and swapdims."""
        if call.args[:1] != (TENSOR,) or len(call.input_shapes) != 1:
            return None
        names = ("axis0", "axis1") if call.target.endswith("swapaxes") else ("dim0", "dim1")
        dim0, dim1 = call.arg(1, names[0], None), call.arg(2, names[1], None)
        if type(dim0) is not int or type(dim1) is not int:
            return None
        return ((self, TransposeArgs(dim0, dim1)),)

    def order(self, args: TransposeArgs, shape: Shape) -> tuple[int, ...]:
        rank = len(shape) + 1
        first, second = _axis(args.dim0, rank, shape), _axis(args.dim1, rank, shape)
        if 0 in (first, second):
            raise ShapeError("transposing dimension 0 would move the batch; use dims >= 1")
        axes = list(range(len(shape)))
        axes[first - 1], axes[second - 1] = axes[second - 1], axes[first - 1]
        return tuple(axes)

    def build(self, args: TransposeArgs, in_shape: Shape, out_shape: Shape) -> torch.nn.Module:
        from convprof.kinds.nn import Transpose as Module

        return Module(args.dim0, args.dim1)


#: Calls that only regroup dimensions, keeping the order of the elements: a reshape of each sample.
_RESHAPES = (
    "Tensor.view",
    "Tensor.reshape",
    "torch.reshape",
    "Tensor.unflatten",
    "torch.unflatten",
    "Tensor.squeeze",
    "torch.squeeze",
    "Tensor.unsqueeze",
    "torch.unsqueeze",
)


def _keeps_the_batch(call: TorchCall) -> bool:
    """Return True when a reshaping call's arguments keep the batch whatever its size.

    view and reshape must take the batch from the input (`x.size(0)`) or infer it (-1): a literal
    size would be the batch of the traced input only. unflatten, squeeze and unsqueeze must name
    their dimensions: squeeze without one would drop a batch of one too."""
    name = call.target.rsplit(".", 1)[-1]
    rest = call.args[1:]
    if name in ("view", "reshape"):
        sizes = rest[0] if len(rest) == 1 and isinstance(rest[0], list | tuple) else rest
        sizes = call.kwargs.get("shape", sizes)
        return bool(sizes) and (sizes[0] is TRACED or sizes[0] == -1)
    rank = len(call.input_shapes[0]) + (2 if name == "unsqueeze" else 1)
    dim = call.arg(1, "dim", None)
    dims = dim if isinstance(dim, list | tuple) else (dim,)
    return all(type(d) is int and -rank <= d < rank and d % rank != 0 for d in dims)


@register
class Reshape(_View):
    """Regroups each sample's elements into another shape, in the same order (a view, as torch's)."""

    name = "Reshape"
    torch_types = ("convprof.kinds.nn.Reshape",)
    torch_calls = _RESHAPES
    Args = ReshapeArgs

    def from_module(self, module: Any) -> ReshapeArgs:
        return ReshapeArgs(shape=tuple(int(size) for size in module.shape))

    def from_call(self, call: TorchCall) -> tuple[ImportStep, ...] | None:
        """Read view, reshape, unflatten, squeeze and unsqueeze by the shape torch gives; a view that
        merges dimensions into one is a flatten, which Flatten reads."""
        if call.args[:1] != (TENSOR,) or len(call.input_shapes) != 1 or not _keeps_the_batch(call):
            return None
        (before,), after = call.input_shapes, call.output_shape
        if call.target in Flatten.torch_calls and flatten_range(before, after) is not None:
            return None
        return ((self, ReshapeArgs(shape=after)),)

    def output_shape(self, args: ReshapeArgs, shape: Shape) -> Shape:
        sizes = args.shape
        if sizes.count(-1) > 1:
            raise ShapeError(f"shape {list(sizes)} has more than one -1; give every size but one")
        elements = prod(shape)
        known = prod(tuple(size for size in sizes if size != -1))
        if -1 in sizes:
            if elements % known:
                raise ShapeError(
                    f"shape {list(sizes)} cannot hold the {elements:,} elements of a "
                    f"{format_shape(shape)} sample: they are not a multiple of {known:,}"
                )
            sizes = tuple(elements // known if size == -1 else size for size in sizes)
        elif known != elements:
            raise ShapeError(
                f"shape {list(sizes)} holds {known:,} elements but a {format_shape(shape)} sample holds "
                f"{elements:,}; give sizes whose product is {elements:,}"
            )
        return sizes

    def receptive_field(
        self, args: ReshapeArgs, in_shape: Shape, rf: ReceptiveField | None
    ) -> ReceptiveField | None:
        return reshaped_field(in_shape, self.output_shape(args, in_shape), rf)

    def aliases_input(self, args: ReshapeArgs, training: bool, layout: Layout | None = None) -> bool:
        # torch views the input where its new shape splits or merges runs of adjacent memory, else copies.
        return layout is None or layout.views_sample(self.output_shape(args, layout.shape[1:]))

    def node_layout(
        self, args: Any, in_shapes: tuple[Shape, ...], out_shape: Shape, layouts: tuple[Layout, ...]
    ) -> Layout:
        return layouts[0].reshape((layouts[0].shape[0], *out_shape))

    def node_grad_copy(
        self, args: ReshapeArgs, in_shapes: tuple[Shape, ...], out_shape: Shape, grad: Layout
    ) -> bool:
        """The backward views the gradient in the input's shape, a copy where strides forbid it."""
        return grad.view((grad.shape[0], *in_shapes[0])) is None

    def node_grad_view(
        self, args: ReshapeArgs, in_shapes: tuple[Shape, ...], out_shape: Shape, grad: Layout
    ) -> Layout | None:
        return grad.view((grad.shape[0], *in_shapes[0]))

    def build(self, args: ReshapeArgs, in_shape: Shape, out_shape: Shape) -> torch.nn.Module:
        from convprof.kinds.nn import Reshape as Module

        return Module(args.shape)


def _tensor_piece(call: TorchCall, size: int, item: int) -> tuple[int, int] | None:
    """Return (start, length) of piece `item` of tensor_split: n sections (the first size % n one
    longer) or the pieces between indices."""
    sections = call.arg(1, "indices_or_sections", call.kwargs.get("sections", call.kwargs.get("indices")))
    if type(sections) is int and sections > 0:
        small, longer = divmod(size, sections)
        start = item * small + min(item, longer)
        return start, small + (item < longer)
    if isinstance(sections, list | tuple) and all(type(s) is int for s in sections):
        bounds = [0, *(min(max(s if s >= 0 else s + size, 0), size) for s in sections), size]
        return bounds[item], max(bounds[item + 1] - bounds[item], 0)
    return None


def _piece(call: TorchCall, size: int) -> tuple[int, int] | None:
    """Return (start, length) of the piece `call.item` of chunk or split along a dimension of `size`."""
    item = call.item
    assert item is not None
    if call.target.endswith("chunk"):
        chunks = call.arg(1, "chunks", None)
        if type(chunks) is not int or chunks < 1:
            return None
        step = -(-size // chunks)  # torch's chunks are ceil(size / chunks) long, the last shorter
        return item * step, min(step, size - item * step)
    if call.target.endswith("tensor_split"):
        return _tensor_piece(call, size, item)
    sections = call.arg(
        1, "split_size_or_sections", call.kwargs.get("split_size", call.kwargs.get("split_sizes"))
    )
    if type(sections) is int and sections > 0:
        return item * sections, min(sections, size - item * sections)
    if isinstance(sections, list | tuple) and all(type(s) is int for s in sections):
        return sum(sections[:item]), sections[item]
    return None


@register
class Narrow(_View):
    """Keeps a contiguous run of entries of one dimension: torch.narrow, a piece of chunk or split."""

    name = "Narrow"
    torch_types = ("convprof.kinds.nn.Narrow",)
    torch_calls = (
        "torch.narrow",
        "Tensor.narrow",
        "torch.chunk",
        "Tensor.chunk",
        "torch.split",
        "Tensor.split",
        "torch.split_with_sizes",
        "Tensor.split_with_sizes",
        "torch.tensor_split",
        "Tensor.tensor_split",
        "torch.unbind",
        "Tensor.unbind",
    )
    Args = NarrowArgs

    def from_call(self, call: TorchCall) -> tuple[ImportStep, ...] | None:
        """Read narrow and each piece of chunk, split (by size or by sizes), tensor_split and unbind
        (`x1, x2 = x.chunk(2, dim=1)` is two nodes); slices `x[:, :16]` are read with the other
        indexing (convprof.kinds.index)."""
        if call.args[:1] != (TENSOR,) or len(call.input_shapes) != 1:
            return None
        (shape,) = call.input_shapes
        name = call.target.rsplit(".", 1)[-1]
        if name == "narrow":
            values = (call.arg(1, "dim", None), call.arg(2, "start", None), call.arg(3, "length", None))
            if not all(type(value) is int for value in values):
                return None
            return ((self, NarrowArgs(*values)),)
        dim = call.arg(1 if name == "unbind" else 2, "dim", 0)
        if call.item is None or type(dim) is not int or not -len(shape) - 1 <= dim <= len(shape):
            return None
        axis = dim % (len(shape) + 1)
        if axis == 0:
            return None  # a piece of the batch
        if name == "unbind":  # the entry, then its dimension dropped
            reshape = lookup(Reshape.name)
            assert reshape is not None
            return ((self, NarrowArgs(dim, call.item, 1)), (reshape, ReshapeArgs(shape=call.output_shape)))
        piece = _piece(call, shape[axis - 1])
        return None if piece is None or piece[1] < 1 else ((self, NarrowArgs(dim, *piece)),)

    def output_shape(self, args: NarrowArgs, shape: Shape) -> Shape:
        rank = len(shape) + 1
        axis = _axis(args.dim, rank, shape)
        if axis == 0:
            raise ShapeError("narrowing dimension 0 would pick samples of the batch; use dim >= 1")
        size = shape[axis - 1]
        start = args.start + size if args.start < 0 else args.start
        if start < 0 or start + args.length > size:
            raise ShapeError(
                f"start {args.start} and length {args.length} reach past the {size} entries of "
                f"dimension {args.dim}; keep start + length <= {size}"
            )
        return (*shape[: axis - 1], args.length, *shape[axis:])

    def receptive_field(
        self, args: NarrowArgs, in_shape: Shape, rf: ReceptiveField | None
    ) -> ReceptiveField | None:
        # Each output unit is an input unit, its neighbours the same as there: a crop, like padding.
        return rf

    def autograd(self, args: NarrowArgs, in_shape: Shape, out_shape: Shape, step: TrainingStep) -> Autograd:
        return Autograd()  # the backward pads the gradient back to the input's size: a new tensor

    def node_layout(
        self, args: NarrowArgs, in_shapes: tuple[Shape, ...], out_shape: Shape, layouts: tuple[Layout, ...]
    ) -> Layout:
        """A slice keeps its input's strides (so it has gaps unless it cuts the outermost dimension)."""
        (layout,), (shape,) = layouts, in_shapes
        axis = _axis(args.dim, len(shape) + 1, shape)
        return layout.narrow(axis, out_shape[axis - 1])

    def build(self, args: NarrowArgs, in_shape: Shape, out_shape: Shape) -> torch.nn.Module:
        from convprof.kinds.nn import Narrow as Module

        return Module(args.dim, args.start, args.length)


@dataclass(frozen=True, slots=True)
class ContiguousArgs:
    """Tensor.contiguous() takes no argument convprof reads."""


@register
class Contiguous(UnaryKind):
    """Returns its input laid out contiguously: the input itself when it already is, else a copy."""

    name = "Contiguous"
    torch_types = ("convprof.kinds.nn.Contiguous",)
    torch_calls = ("Tensor.contiguous",)
    Args = ContiguousArgs

    def from_call(self, call: TorchCall) -> tuple[ImportStep, ...] | None:
        """Read `x.contiguous()` (a memory format other than torch's default is not this kind)."""
        if call.args != (TENSOR,) or call.kwargs:
            return None
        return ((self, ContiguousArgs()),)

    def output_shape(self, args: ContiguousArgs, shape: Shape) -> Shape:
        return shape

    def cost(self, args: ContiguousArgs, in_shape: Shape, out_shape: Shape) -> LayerCost:
        return LayerCost(params=0, macs=0, elementwise_ops=0, fan_in=1)

    def receptive_field(
        self, args: ContiguousArgs, in_shape: Shape, rf: ReceptiveField | None
    ) -> ReceptiveField | None:
        return rf

    def aliases_input(self, args: ContiguousArgs, training: bool, layout: Layout | None = None) -> bool:
        return layout is None or layout.is_contiguous

    def autograd(
        self, args: ContiguousArgs, in_shape: Shape, out_shape: Shape, step: TrainingStep
    ) -> Autograd:
        return Autograd(grad_views=(0,))  # the gradient passes through

    def node_layout(
        self,
        args: ContiguousArgs,
        in_shapes: tuple[Shape, ...],
        out_shape: Shape,
        layouts: tuple[Layout, ...],
    ) -> Layout:
        return layouts[0] if layouts[0].is_contiguous else Layout.contiguous(layouts[0].shape)

    def build(self, args: ContiguousArgs, in_shape: Shape, out_shape: Shape) -> torch.nn.Module:
        from convprof.kinds.nn import Contiguous as Module

        return Module()
