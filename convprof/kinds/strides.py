"""How a batched tensor lies in memory (its strides), as far as torch's views and copies depend on it.

A flatten or a reshape is a view when torch can express the new shape with strides over the same
memory, and a copy otherwise; a linear layer folds an input of several dimensions into a matrix the
same way. Whether it can depends on what made the tensor: permutes reorder strides, narrowed slices
leave gaps, and most layers lay out a new output contiguously or like their input.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Layout"]


def _contiguous_strides(shape: tuple[int, ...]) -> tuple[int, ...]:
    strides: list[int] = []
    step = 1
    for size in reversed(shape):
        strides.append(step)
        step *= max(size, 1)
    return tuple(reversed(strides))


@dataclass(frozen=True, slots=True)
class Layout:
    """A batched tensor's shape and strides (elements, not bytes)."""

    shape: tuple[int, ...]
    """Sizes, the batch first."""
    strides: tuple[int, ...]
    """Elements between neighbours along each dimension."""

    @classmethod
    def contiguous(cls, shape: tuple[int, ...]) -> Layout:
        """Return the layout of a new, contiguous tensor of `shape`."""
        return cls(shape, _contiguous_strides(shape))

    @classmethod
    def channels_last(cls, shape: tuple[int, ...]) -> Layout:
        """Return the layout of a new tensor of `shape` with its channels (dimension 1) innermost."""
        order = (0, *range(2, len(shape)), 1)
        inner = _contiguous_strides(tuple(shape[dim] for dim in order))
        strides = [0] * len(shape)
        for position, dim in enumerate(order):
            strides[dim] = inner[position]
        return cls(shape, tuple(strides))

    @property
    def is_contiguous(self) -> bool:
        """Whether it is contiguous (torch's sense: a dimension of size 1 may have any stride)."""
        expected = 1
        for size, stride in zip(reversed(self.shape), reversed(self.strides), strict=True):
            if size == 1:
                continue
            if stride != expected:
                return False
            expected *= size
        return True

    @property
    def is_channels_last(self) -> bool:
        """Whether it has channels innermost (and more than three dimensions) without being contiguous."""
        if len(self.shape) < 4 or self.is_contiguous:
            return False
        return _equal_where_sized(self, Layout.channels_last(self.shape))

    @property
    def is_dense(self) -> bool:
        """Whether its elements fill a block of memory without gaps or overlaps (any order)."""
        dims = sorted(
            (stride, size) for size, stride in zip(self.shape, self.strides, strict=True) if size != 1
        )
        expected = 1
        for stride, size in dims:
            if stride != expected:
                return False
            expected *= size
        return True

    def view(self, shape: tuple[int, ...]) -> Layout | None:
        """Return the layout of `shape` viewing the same memory, or None where torch must copy.

        torch's rule (computeStride): the new shape must split or merge runs of dimensions that lie
        one after another in memory."""
        if self.shape == shape:
            return self
        if not self.shape:
            return Layout.contiguous(shape)
        new_strides = [0] * len(shape)
        view_d = len(shape) - 1
        chunk_base = self.strides[-1]
        tensor_numel = view_numel = 1
        for tensor_d in range(len(self.shape) - 1, -1, -1):
            tensor_numel *= self.shape[tensor_d]
            if tensor_d == 0 or (
                self.shape[tensor_d - 1] != 1 and self.strides[tensor_d - 1] != tensor_numel * chunk_base
            ):
                while view_d >= 0 and (view_numel < tensor_numel or shape[view_d] == 1):
                    new_strides[view_d] = view_numel * chunk_base
                    view_numel *= shape[view_d]
                    view_d -= 1
                if view_numel != tensor_numel:
                    return None
                if tensor_d > 0:
                    chunk_base = self.strides[tensor_d - 1]
                    tensor_numel = view_numel = 1
        if view_d != -1:
            return None
        return Layout(shape, tuple(new_strides))

    def views_sample(self, sample: tuple[int, ...]) -> bool:
        """Return whether torch can view each sample as `sample` (the batch kept) without a copy."""
        return self.view((self.shape[0], *sample)) is not None

    def reshape(self, shape: tuple[int, ...]) -> Layout:
        """Return the layout torch's reshape gives: a view where it can be, a contiguous copy otherwise."""
        return self.view(shape) or Layout.contiguous(shape)

    def permute(self, order: tuple[int, ...]) -> Layout:
        """Return the layout of the view with dimensions `order` (new dimension i is old order[i])."""
        return Layout(tuple(self.shape[dim] for dim in order), tuple(self.strides[dim] for dim in order))

    def narrow(self, dim: int, length: int) -> Layout:
        """Return the layout of a run of `length` entries of `dim` (a view: the same strides)."""
        shape = list(self.shape)
        shape[dim] = length
        return Layout(tuple(shape), self.strides)

    def like(self, shape: tuple[int, ...]) -> Layout:
        """Return the layout torch gives a new tensor of `shape` made from this one: its strides when
        the shape is the same and it has no gaps (empty_like), channels-last when it is channels-last,
        contiguous otherwise (the memory format torch suggests)."""
        if shape == self.shape and self.is_dense:
            return self
        if len(shape) == len(self.shape) and self.is_channels_last:
            return Layout.channels_last(shape)
        return Layout.contiguous(shape)


def _equal_where_sized(layout: Layout, other: Layout) -> bool:
    """Whether two layouts of one shape have the same strides along every dimension longer than 1."""
    return all(
        size == 1 or a == b for size, a, b in zip(layout.shape, layout.strides, other.strides, strict=True)
    )
