"""Products of two activations: MatMul (matmul, bmm, `@`), Einsum of two operands, and
ScaledDotProductAttention (two products and a softmax).

Their multiply-accumulates are the products' (as FlopCounterMode counts the bmm torch runs them as),
counted like a convolution's; the batch is never a dimension of the product.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from convprof.kinds.activation import SOFTMAX_OPS_PER_ELEMENT
from convprof.kinds.base import ImportStep, LayerKind, ShapeError, register
from convprof.kinds.calls import TENSOR, TorchCall
from convprof.kinds.merge import broadcast_shape
from convprof.kinds.records import FULL, Autograd, LayerCost, ReceptiveField, TrainingStep
from convprof.kinds.strides import Layout
from convprof.spec import Shape, prod
from convprof.spec.args import REQUIRED, arg, boolean, equation, optional, positive_float
from convprof.units import format_shape

if TYPE_CHECKING:
    import torch

__all__ = ["Einsum", "MatMul", "ScaledDotProductAttention", "contraction", "matmul_dims"]


def _shapes(shapes: tuple[Shape, ...]) -> str:
    return ", ".join(format_shape(shape) for shape in shapes)


@dataclass(frozen=True, slots=True)
class MatMulArgs:
    """torch.matmul takes no argument convprof reads."""


def matmul_dims(a: Shape, b: Shape) -> tuple[Shape, int, int, int]:
    """Return (broadcast batch dimensions, n, k, m) of per-sample `a` @ `b`, or say why not.

    Batched, each is (N, ..., rows, columns): torch broadcasts the dimensions before the last two.
    Samples of different ranks would align one's batch with another's dimension, so they must have
    one rank, of at least 2 (a per-sample vector would be multiplied across the batch)."""
    if len(a) != len(b) or len(a) < 2:
        raise ShapeError(
            f"cannot multiply tensors of shapes {_shapes((a, b))} sample by sample: torch's matmul "
            "reads each sample as matrices, so both need the same number of dimensions, at least 2 "
            "per sample (a different rank or a vector would multiply across the batch)"
        )
    if a[-1] != b[-2]:
        raise ShapeError(
            f"cannot multiply {format_shape(a)} by {format_shape(b)}: the first's columns ({a[-1]}) "
            f"must equal the second's rows ({b[-2]})"
        )
    batch = broadcast_shape((a[:-2], b[:-2])) if len(a) > 2 else ()
    if batch is None:
        raise ShapeError(
            f"cannot multiply tensors of shapes {_shapes((a, b))}: the dimensions before the last two "
            "must be equal or 1 (torch's broadcasting)"
        )
    return batch, a[-2], a[-1], b[-1]


def _folded(step: TrainingStep, position: int, shape: Shape, batch: Shape) -> tuple[int, bool]:
    """Return the bytes of input `position` as torch's matmul hands it to bmm, and whether that is a
    copy: the input expanded to the broadcast batch dimensions, then those merged into one; a view
    when its strides allow, else a copy."""
    rows, columns = shape[-2], shape[-1]
    batched = (step.batch, *batch, rows, columns)
    layout = step.layouts[position] if step.layouts else Layout.contiguous((step.batch, *shape))
    strides = tuple(
        0 if size == 1 and wanted != 1 else stride
        for size, wanted, stride in zip(layout.shape, batched, layout.strides, strict=True)
    )
    folded = (step.batch * prod(batch), rows, columns)
    copy = Layout(batched, strides).view(folded) is None
    return step.nbytes(prod((*batch, rows, columns))), copy


@register
class MatMul(LayerKind):
    """The matrix product of two tensors sample by sample (`a @ b`, torch.matmul, torch.bmm)."""

    name = "MatMul"
    Args = MatMulArgs
    arity = (2, 2)
    torch_types = ("convprof.kinds.nn.MatMul",)
    torch_calls = (
        "operator.matmul",
        "torch.matmul",
        "Tensor.matmul",
        "torch.bmm",
        "Tensor.bmm",
    )

    def from_call(self, call: TorchCall) -> tuple[ImportStep, ...] | None:
        """Read a product of two activations (a product with a parameter is a layer's, not this)."""
        if call.args != (TENSOR, TENSOR) or any(v is not None for v in call.kwargs.values()):
            return None
        if call.target.endswith("bmm") and {len(s) for s in call.input_shapes} != {2}:
            return None  # torch.bmm takes batched 3-D tensors only
        return ((self, MatMulArgs()),)

    def node_output_shape(self, args: MatMulArgs, shapes: tuple[Shape, ...]) -> Shape:
        a, b = shapes
        batch, n, _, m = matmul_dims(a, b)
        return (*batch, n, m)

    def node_cost(self, args: MatMulArgs, in_shapes: tuple[Shape, ...], out_shape: Shape) -> LayerCost:
        batch, n, k, m = matmul_dims(*in_shapes)
        return LayerCost(params=0, macs=prod(batch) * n * k * m, elementwise_ops=0, fan_in=k)

    def node_receptive_field(
        self, args: MatMulArgs, in_shapes: tuple[Shape, ...], fields: tuple[ReceptiveField | None, ...]
    ) -> ReceptiveField | None:
        return FULL  # a product over rows or positions: bounded by the whole input

    def node_backward_macs(
        self,
        args: MatMulArgs,
        in_shapes: tuple[Shape, ...],
        out_shape: Shape,
        grads: tuple[bool, ...],
        trainable: bool = True,
    ) -> int | None:
        """A product of the forward's size for each input that needs a gradient (no weights)."""
        macs = self.node_cost(args, in_shapes, out_shape).macs
        assert macs is not None
        return macs * sum(grads)

    def node_autograd(
        self, args: MatMulArgs, in_shapes: tuple[Shape, ...], out_shape: Shape, step: TrainingStep
    ) -> Autograd:
        """torch expands both inputs to the broadcast batch dimensions and merges those into one
        (a copy where the strides do not allow a view), then runs bmm, which keeps each operand
        for the other's gradient. The backward makes each needed gradient at its operand's folded
        size, lets go of the output's gradient, then sums a broadcast one down to the input's shape
        (the second input's first)."""
        batch, _, _, _ = matmul_dims(*in_shapes)
        folded = [_folded(step, i, shape, batch) for i, shape in enumerate(in_shapes)]
        copies = [size if copy else 0 for size, copy in folded]
        keeps_inputs, keeps_new = [], []
        for i, other in ((0, 1), (1, 0)):
            if step.grads[other]:
                if copies[i]:
                    keeps_new.append(copies[i])
                else:
                    keeps_inputs.append(i)
        held = sum(size for (size, _), grad in zip(folded, step.grads, strict=True) if grad)
        peak = held
        held -= step.nbytes(prod(out_shape))  # bmm's backward has read the output's gradient: let go
        for i in (1, 0):
            if step.grads[i] and folded[i][0] != step.nbytes(prod(in_shapes[i])):
                held += step.nbytes(prod(in_shapes[i]))
                peak = max(peak, held)
                held -= folded[i][0]
        return Autograd(
            keeps_inputs=tuple(sorted(keeps_inputs)),
            keeps_new=tuple(keeps_new),
            forward_peak=sum(copies) + step.nbytes(prod(out_shape)),
            backward_peak=peak,
        )

    def node_build(self, args: MatMulArgs, in_shapes: tuple[Shape, ...], out_shape: Shape) -> torch.nn.Module:
        from convprof.kinds.nn import MatMul as Module

        return Module()


@dataclass(frozen=True, slots=True)
class AttentionArgs:
    """torch.nn.functional.scaled_dot_product_attention's arguments (without a mask or dropout)."""

    is_causal: bool = arg(False, boolean)
    """Each query attends to the keys up to its own position (a lower-triangular mask)."""
    scale: float | None = arg(None, optional(positive_float))
    """Factor of the scores; null: 1 / sqrt(the queries' last size), torch's default."""


def attention_dims(shapes: tuple[Shape, ...]) -> tuple[Shape, int, int, int, int]:
    """Return (head dimensions, L, S, E, Ev) of per-sample query, key and value, or say why not."""
    query, key, value = shapes
    if len({len(query), len(key), len(value)}) != 1 or len(query) < 2:
        raise ShapeError(
            f"scaled-dot-product attention reads query, key and value of one rank, at least 2 per "
            f"sample ([..., length, features]); got {_shapes(shapes)}"
        )
    if query[:-2] != key[:-2] or key[:-2] != value[:-2]:
        raise ShapeError(
            f"query, key and value must have the same dimensions before the last two (heads); got "
            f"{_shapes(shapes)}"
        )
    if query[-1] != key[-1] or key[-2] != value[-2]:
        raise ShapeError(
            f"query and key need the same features and key and value the same length; got {_shapes(shapes)}"
        )
    return query[:-2], query[-2], key[-2], query[-1], value[-1]


@register
class ScaledDotProductAttention(LayerKind):
    """softmax(query @ key^T * scale) @ value, sample by sample (torch's fused attention)."""

    name = "ScaledDotProductAttention"
    Args = AttentionArgs
    arity = (3, 3)
    torch_types = ("convprof.kinds.nn.ScaledDotProductAttention",)
    torch_calls = ("torch.nn.functional.scaled_dot_product_attention",)

    def from_call(self, call: TorchCall) -> tuple[ImportStep, ...] | None:
        """Read F.scaled_dot_product_attention(q, k, v) without a mask, dropout or grouped heads."""
        if call.args[:3] != (TENSOR, TENSOR, TENSOR) or len(call.input_shapes) != 3:
            return None
        mask, dropout = call.arg(3, "attn_mask", None), call.arg(4, "dropout_p", 0.0)
        causal, scale = call.arg(5, "is_causal", False), call.arg(6, "scale", None)
        if mask is not None or dropout != 0 or type(causal) is not bool or call.arg(7, "enable_gqa", False):
            return None
        if scale is not None and (
            not isinstance(scale, int | float) or isinstance(scale, bool) or scale <= 0
        ):
            return None
        return ((self, AttentionArgs(causal, None if scale is None else float(scale))),)

    def node_output_shape(self, args: AttentionArgs, shapes: tuple[Shape, ...]) -> Shape:
        heads, length, _, _, features = attention_dims(shapes)
        return (*heads, length, features)

    def node_cost(self, args: AttentionArgs, in_shapes: tuple[Shape, ...], out_shape: Shape) -> LayerCost:
        heads, length, keys, features, values = attention_dims(in_shapes)
        scores = prod(heads) * length * keys
        ops = 1 + SOFTMAX_OPS_PER_ELEMENT + (1 if args.is_causal else 0)
        return LayerCost(
            params=0, macs=scores * (features + values), elementwise_ops=scores * ops, fan_in=keys * features
        )

    def node_receptive_field(
        self, args: AttentionArgs, in_shapes: tuple[Shape, ...], fields: tuple[ReceptiveField | None, ...]
    ) -> ReceptiveField | None:
        return FULL  # every query reads every key

    def node_backward_macs(
        self,
        args: AttentionArgs,
        in_shapes: tuple[Shape, ...],
        out_shape: Shape,
        grads: tuple[bool, ...],
        trainable: bool = True,
    ) -> int | None:
        """The scores' gradient (from the values) where the query or the key needs one, the values'
        gradient, and the query's and the key's, each a product as large as its forward one."""
        heads, length, keys, features, values = attention_dims(in_shapes)
        query, key, value = grads
        scores = prod(heads) * length * keys
        return scores * (values * ((query or key) + value) + features * (query + key))

    def _fused(self, in_shapes: tuple[Shape, ...], step: TrainingStep) -> bool:
        """Whether torch's CPU runs its fused (flash) kernel: four batched dimensions, one feature
        size for query, key and value, each with its last dimension contiguous; else its reference
        composition of matmul and softmax."""
        _, _, _, features, values = attention_dims(in_shapes)
        layouts = step.layouts or tuple(Layout.contiguous((step.batch, *s)) for s in in_shapes)
        unit = all(layout.strides[-1] == 1 or layout.shape[-1] == 1 for layout in layouts)
        return len(in_shapes[0]) == 3 and features == values and unit

    def node_autograd(
        self, args: AttentionArgs, in_shapes: tuple[Shape, ...], out_shape: Shape, step: TrainingStep
    ) -> Autograd:
        """The fused kernel keeps query, key, value, its output and a log-sum-exp per query; its
        backward makes the three gradients. The reference composition (torch's on the CPU for
        other shapes) scales query and key, multiplies them, adds the causal mask, takes the
        softmax and multiplies by the value: it keeps the softmax's output, the scaled query and key
        for each other's gradient and the value; its backward first makes the value's gradient and
        the attention's, and lets go of what it kept step by step from there."""
        heads, length, keys, _, _ = attention_dims(in_shapes)
        output = step.nbytes(prod(out_shape))
        if step.device == "cuda":
            # CUDA picks among flash, memory-efficient and cuDNN kernels, each keeping its own
            # statistics and random state, none measured here: its totals are lower bounds.
            return Autograd(known=False)
        if self._fused(in_shapes, step):
            lse = prod(heads) * length * step.batch * max(step.itemsize, 4)
            grads = sum(step.nbytes(prod(s)) for s, g in zip(in_shapes, step.grads, strict=True) if g)
            return Autograd(
                keeps_inputs=(0, 1, 2),
                keeps_output=True,
                keeps_new=(lse,),
                forward_peak=output + lse,
                backward_peak=grads,
            )
        query, key, value = (step.nbytes(prod(shape)) for shape in in_shapes)
        scores = step.nbytes(prod(heads) * length * keys)
        # is_causal: a lower-triangular mask of one sample's scores, made once for the batch
        mask = length * keys * step.itemsize if args.is_causal else 0
        wants_query, wants_key, wants_value = step.grads
        keeps_new = [scores]  # the softmax's output
        if wants_key:
            keeps_new.append(query)  # the scaled query, for the key's gradient
        if wants_query:
            keeps_new.append(key)  # the scaled key, for the query's gradient
        return Autograd(
            keeps_inputs=(2,) if wants_query or wants_key else (),
            keeps_new=tuple(keeps_new),
            # Unrecorded, the scaled key goes once multiplied; the scaled query lives to the end.
            forward_peak=query + key + mask + scores + max(scores, output)
            if step.recorded
            else query + mask + max(key + scores, 2 * scores, scores + output),
            backward_peak=(value if wants_value else 0) + (scores if wants_query or wants_key else 0),
        )

    def node_layout(
        self, args: AttentionArgs, in_shapes: tuple[Shape, ...], out_shape: Shape, layouts: tuple[Layout, ...]
    ) -> Layout:
        """The fused kernel lays its output out like the query; the reference composition's last
        matmul makes a contiguous tensor."""
        batch = layouts[0].shape[0] if layouts else 1
        step = TrainingStep(batch, 4, (False,) * 3, layouts=layouts)
        if self._fused(in_shapes, step):
            return layouts[0].like((batch, *out_shape))
        return Layout.contiguous((batch, *out_shape))

    def node_build(
        self, args: AttentionArgs, in_shapes: tuple[Shape, ...], out_shape: Shape
    ) -> torch.nn.Module:
        from convprof.kinds.nn import ScaledDotProductAttention as Module

        return Module(args.is_causal, args.scale)


@dataclass(frozen=True, slots=True)
class EinsumArgs:
    """torch.einsum's equation, for two operands."""

    equation: str = arg(REQUIRED, equation)
    """Subscripts of the two operands and the output (`bhqd,bhkd->bhqk`), the batch first in each:
    one letter, or a leading `...`."""


@dataclass(frozen=True, slots=True)
class _Contraction:
    """An einsum equation read against its operands' shapes."""

    left: str
    """The first operand's letters, the batch's first."""
    right: str
    """The second operand's."""
    output: str
    """The output's."""
    sizes: dict[str, int]
    """Each letter's size (the batch's left out)."""

    def macs(self) -> int:
        """Multiply-accumulates of one sample: the product of every letter's size but the batch's."""
        return prod(tuple(self.sizes.values()))


def _letters(part: str, ellipsis: str, where: str) -> str:
    """Return `part` with a leading `...` replaced by `ellipsis` (letters that stand for it)."""
    if "..." in part:
        if not part.startswith("...") or part.count("...") > 1:
            raise ShapeError(f"{where}: `...` is read only at the start of every subscript")
        return ellipsis + part[3:]
    return part


def contraction(text: str, shapes: tuple[Shape, ...]) -> _Contraction:
    """Read an einsum equation against per-sample operand shapes, or say why it is not one convprof
    counts: the batch leads every subscript, every letter is in the output or contracted (in both
    operands), at least one is contracted, and a letter has one size wherever it appears."""
    equation = text.replace(" ", "")
    inputs, arrow, output = equation.partition("->")
    parts = inputs.split(",")
    if len(parts) != 2 or len(shapes) != 2:
        raise ShapeError(f"einsum {text!r} must have two operands (convprof reads two-operand einsums)")
    a, b = shapes
    ellipsis = "..." in equation
    if ellipsis:
        spans = {
            len(shape) + 1 - len(part.replace("...", "")) for shape, part in zip(shapes, parts, strict=True)
        }
        if len(spans) != 1 or min(spans) < 1:
            raise ShapeError(f"einsum {text!r}: `...` must stand for as many dimensions in both operands")
        stand = "".join(chr(0x3B1 + i) for i in range(spans.pop()))  # Greek: no equation uses them
    else:
        stand = ""
    left, right = (_letters(part, stand, f"einsum {text!r}") for part in parts)
    if not arrow:  # torch's implicit output: the letters that appear once, sorted
        output = stand + "".join(
            sorted(c for c in set(left + right) if (left + right).count(c) == 1 and c not in stand)
        )
    else:
        output = _letters(output, stand, f"einsum {text!r}")
    for letters, shape in ((left, a), (right, b)):
        if not all(c.isalpha() for c in letters):
            raise ShapeError(f"einsum {text!r}: subscripts are letters (and a leading `...`)")
        if len(letters) != len(shape) + 1:
            raise ShapeError(
                f"einsum {text!r}: {letters!r} names {len(letters)} dimensions but the batched operand "
                f"has {len(shape) + 1}"
            )
        if len(set(letters)) != len(letters):
            raise ShapeError(f"einsum {text!r}: a letter repeated in one operand (a diagonal) is not read")
    if len(set(output)) != len(output) or not set(output) <= set(left) | set(right):
        raise ShapeError(f"einsum {text!r}: each output letter must appear once, and in an operand")
    batch = left[0]
    if right[0] != batch or not output or output[0] != batch:
        raise ShapeError(
            f"einsum {text!r}: the batch must be the first dimension of both operands and of the "
            "output (the same letter, or a leading `...`)"
        )
    sizes: dict[str, int] = {}
    for letters, shape in ((left, a), (right, b)):
        for letter, size in zip(letters[1:], shape, strict=True):
            if sizes.setdefault(letter, size) != size:
                raise ShapeError(
                    f"einsum {text!r}: {letter!r} is {sizes[letter]} in one operand and {size} in the other"
                )
    alone = [c for c in (set(left) ^ set(right)) if c not in output]
    if alone:
        raise ShapeError(
            f"einsum {text!r}: {''.join(sorted(alone))!r} appears in one operand and not in the output "
            "(a sum): sum it first"
        )
    if not (set(left) & set(right)) - set(output):
        raise ShapeError(
            f"einsum {text!r} contracts no letter: it is an element-wise product; write it as a mul"
        )
    return _Contraction(left, right, output, sizes)


@register
class Einsum(LayerKind):
    """A two-operand einsum that contracts letters (`bhqd,bhkd->bhqk`), as torch runs it: a bmm."""

    name = "Einsum"
    Args = EinsumArgs
    arity = (2, 2)
    torch_types = ("convprof.kinds.nn.Einsum",)
    torch_calls = ("torch.einsum",)

    def from_call(self, call: TorchCall) -> tuple[ImportStep, ...] | None:
        """Read torch.einsum(equation, a, b) and torch.einsum(equation, [a, b]) of two activations."""
        equation = call.args[0] if call.args else None
        operands = call.args[1:]
        if len(operands) == 1 and isinstance(operands[0], list | tuple):
            operands = tuple(operands[0])
        if not isinstance(equation, str) or tuple(operands) != (TENSOR, TENSOR) or call.kwargs:
            return None
        if len(call.input_shapes) != 2:
            return None
        try:
            contraction(equation, call.input_shapes)
        except ShapeError:
            return None
        return ((self, EinsumArgs(equation)),)

    def node_output_shape(self, args: EinsumArgs, shapes: tuple[Shape, ...]) -> Shape:
        found = contraction(args.equation, shapes)
        return tuple(found.sizes[c] for c in found.output[1:])

    def node_cost(self, args: EinsumArgs, in_shapes: tuple[Shape, ...], out_shape: Shape) -> LayerCost:
        found = contraction(args.equation, in_shapes)
        contracted = (set(found.left) & set(found.right)) - set(found.output)
        return LayerCost(
            params=0,
            macs=found.macs(),
            elementwise_ops=0,
            fan_in=prod(tuple(found.sizes[c] for c in contracted)),
        )

    def node_receptive_field(
        self, args: EinsumArgs, in_shapes: tuple[Shape, ...], fields: tuple[ReceptiveField | None, ...]
    ) -> ReceptiveField | None:
        return FULL

    def node_backward_macs(
        self,
        args: EinsumArgs,
        in_shapes: tuple[Shape, ...],
        out_shape: Shape,
        grads: tuple[bool, ...],
        trainable: bool = True,
    ) -> int | None:
        """A product of the forward's size for each operand that needs a gradient."""
        return contraction(args.equation, in_shapes).macs() * sum(grads)

    def _groups(self, found: _Contraction) -> tuple[str, str, str, str, bool]:
        """Return torch's bmm groups: letters in both operands and the output, then the letters of
        the operand whose own letters come first in the output, those of the other, the contracted
        ones; each in the output's order (contracted in the first operand's); and whether torch
        multiplies the second operand by the first (its letters come first in the output)."""
        both = "".join(c for c in found.output if c in found.left and c in found.right)
        lo = "".join(c for c in found.output if c not in found.right)
        ro = "".join(c for c in found.output if c not in found.left)
        summed = "".join(c for c in found.left if c in found.right and c not in found.output)
        swapped = bool(ro) and (not lo or found.output.index(ro[0]) < found.output.index(lo[0]))
        return (both, ro, lo, summed, True) if swapped else (both, lo, ro, summed, False)

    def node_layout(
        self, args: EinsumArgs, in_shapes: tuple[Shape, ...], out_shape: Shape, layouts: tuple[Layout, ...]
    ) -> Layout:
        """bmm's output, (both, first group, second group) contiguous, viewed in the output's order."""
        found = contraction(args.equation, in_shapes)
        both, first, second, _, _ = self._groups(found)
        batch = layouts[0].shape[0] if layouts else 1
        order = both + first + second
        sizes = {**found.sizes, found.left[0]: batch}
        written = Layout.contiguous(tuple(sizes[c] for c in order))
        return written.permute(tuple(order.index(c) for c in found.output))

    def node_autograd(
        self, args: EinsumArgs, in_shapes: tuple[Shape, ...], out_shape: Shape, step: TrainingStep
    ) -> Autograd:
        """torch permutes the operands to (both, own, contracted) and (both, contracted, own)
        letters, folds each into a bmm operand (a copy where the strides do not allow a view), and
        the bmm keeps each for the other's gradient; the backward makes each needed gradient at its
        operand's size."""
        found = contraction(args.equation, in_shapes)
        both, first, second, summed, swapped = self._groups(found)
        sizes = {**found.sizes, found.left[0]: step.batch}
        letters = (found.right, found.left) if swapped else (found.left, found.right)
        positions = (1, 0) if swapped else (0, 1)
        copies = [0, 0]
        for position, own, groups in (
            (positions[0], letters[0], (both, first, summed)),
            (positions[1], letters[1], (both, summed, second)),
        ):
            shape = in_shapes[position]
            layout = step.layouts[position] if step.layouts else Layout.contiguous((step.batch, *shape))
            order = "".join(groups)
            permuted = layout.permute(tuple(own.index(c) for c in order))
            folded = tuple(prod(tuple(sizes[c] for c in group)) for group in groups)
            if permuted.view(folded) is None:
                copies[position] = step.nbytes(prod(shape))
        keeps_inputs, keeps_new = [], []
        for i, other in ((0, 1), (1, 0)):
            if step.grads[other]:
                if copies[i]:
                    keeps_new.append(copies[i])
                else:
                    keeps_inputs.append(i)
        return Autograd(
            keeps_inputs=tuple(sorted(keeps_inputs)),
            keeps_new=tuple(keeps_new),
            forward_peak=sum(copies) + step.nbytes(prod(out_shape)),
        )

    def node_build(self, args: EinsumArgs, in_shapes: tuple[Shape, ...], out_shape: Shape) -> torch.nn.Module:
        from convprof.kinds.nn import Einsum as Module

        return Module(args.equation)
