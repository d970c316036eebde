"""Convolutions of every rank (1-D, 2-D, 3-D, transposed or not), their fixed-filter form, and the
registration of each with its counterfactuals.

One implementation parametrised by rank: each public kind (Conv1d ... ConvTranspose3d) only names its
rank, and each variant (local, dense: convprof.kinds.convvariants) is a mixin that changes how
weights are counted and built. What they share is convprof.kinds.convbase.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any, ClassVar

from convprof.kinds.base import ShapeError, register
from convprof.kinds.convbase import (
    CONV_ARGS,
    RANKS,
    TRANSPOSE_ARGS,
    Convolution,
    conv_padding,
    spatial,
)
from convprof.kinds.convvariants import DenseVariant, LocalVariant
from convprof.kinds.records import (
    Autograd,
    LayerCost,
    ReceptiveField,
    TrainingStep,
    spatial_field,
)
from convprof.spec import Shape, prod

if TYPE_CHECKING:
    import torch

__all__: list[str] = []


def _effective(args: Any) -> list[int]:
    """Return each dimension's dilated kernel extent, d * (k - 1) + 1."""
    return [d * (k - 1) + 1 for k, d in zip(args.kernel_size, args.dilation, strict=True)]


class _Conv(Convolution):
    """A convolution with weights shared across positions: torch's formulas for every rank."""

    def output_shape(self, args: Any, shape: Shape) -> Shape:
        channels, sides = spatial(self.name, shape, self.rank)
        self._check_channels(args, channels)
        if args.padding == "same" and any(s != 1 for s in args.stride):
            raise ShapeError("padding='same' needs stride 1 (as in torch); give the padding as numbers")
        pads = conv_padding(args)
        if args.padding_mode != "zeros":
            # torch pads with F.pad first: reflection needs a pad below the side, circular at most it.
            for size, (before, after) in zip(sides, pads, strict=True):
                most = size - 1 if args.padding_mode == "reflect" else size
                if max(before, after) > most and args.padding_mode != "replicate":
                    raise ShapeError(
                        f"padding {max(before, after)} is too large for padding_mode="
                        f"'{args.padding_mode}' on a side of {size}; use padding <= {most}"
                    )
        padded = [size + before + after for size, (before, after) in zip(sides, pads, strict=True)]
        effective = _effective(args)
        if any(e > p for e, p in zip(effective, padded, strict=True)):
            kernel = "x".join(map(str, effective))
            if any(d != 1 for d in args.dilation):
                kernel += " (dilated)"
            raise ShapeError(
                f"kernel {kernel} is larger than its {'x'.join(map(str, padded))} padded input; "
                "use a smaller kernel or more padding"
            )
        out = tuple((p - e) // s + 1 for p, e, s in zip(padded, effective, args.stride, strict=True))
        return (args.out_channels, *out)

    def receptive_field(self, args: Any, in_shape: Shape, rf: ReceptiveField | None) -> ReceptiveField | None:
        rf = spatial_field(rf, in_shape)
        if rf is None:
            return None
        return ReceptiveField(
            size=tuple(r + (e - 1) * j for r, e, j in zip(rf.size, _effective(args), rf.jump, strict=True)),
            jump=tuple(j * s for j, s in zip(rf.jump, args.stride, strict=True)),
        )

    def autograd(self, args: Any, in_shape: Shape, out_shape: Shape, step: TrainingStep) -> Autograd:
        """Keep the input, or the padded copy torch convolves instead of it.

        torch pads in a separate step for a padding mode other than zeros (all of the padding) and for
        padding='same' with an odd total along some dimension (the extra unit after); the convolution
        then keeps that copy, and reflection and replication keep the input too. The backward makes
        the copy's gradient, then crops or folds it into the input's."""
        pads = conv_padding(args)
        if args.padding_mode != "zeros":
            sides = tuple(
                size + before + after for size, (before, after) in zip(in_shape[1:], pads, strict=True)
            )
        elif args.padding == "same" and any((before + after) % 2 for before, after in pads):
            sides = tuple(
                size + (before + after) % 2 for size, (before, after) in zip(in_shape[1:], pads, strict=True)
            )
        else:
            return super().autograd(args, in_shape, out_shape, step)
        padded = step.nbytes(in_shape[0] * prod(sides))
        params = sum(self.param_tensors(args, in_shape, out_shape)) * step.itemsize if step.trainable else 0
        reads_input = args.padding_mode in ("reflect", "replicate") and any(step.grads)
        # The circular pad's backward folds each wrapped slice back in, holding a second copy.
        copies = 2 if args.padding_mode == "circular" else 1
        return Autograd(
            keeps_inputs=(0,) if reads_input else (),
            keeps_new=(padded,),
            backward_peak=(copies * padded if any(step.grads) else 0) + params,
        )

    def module_class(self) -> Any:
        """Return the torch module class the layer is built as."""
        from torch import nn

        return getattr(nn, f"Conv{self.rank}d")

    def build(self, args: Any, in_shape: Shape, out_shape: Shape) -> torch.nn.Module:
        module: torch.nn.Module = self.module_class()(
            in_shape[0],
            args.out_channels,
            args.kernel_size,
            stride=args.stride,
            padding=args.padding,
            dilation=args.dilation,
            groups=args.groups,
            bias=args.bias,
            padding_mode=args.padding_mode,
        )
        return module


class _ConvTranspose(Convolution):
    """A transposed convolution: each input element scatters its kernel window of outputs."""

    transposed = True

    def output_shape(self, args: Any, shape: Shape) -> Shape:
        channels, sides = spatial(self.name, shape, self.rank)
        self._check_channels(args, channels)
        for op, s, d in zip(args.output_padding, args.stride, args.dilation, strict=True):
            if op >= s and op >= d:
                raise ShapeError(
                    f"output_padding {op} must be smaller than the stride ({s}) or the dilation ({d}), "
                    "as in torch"
                )
        out = tuple(
            (size - 1) * s - 2 * p + e + op
            for size, s, p, e, op in zip(
                sides, args.stride, args.padding, _effective(args), args.output_padding, strict=True
            )
        )
        if any(o < 1 for o in out):
            raise ShapeError(
                f"padding {'x'.join(map(str, args.padding))} crops the whole output "
                f"(it would be {'x'.join(map(str, out))}); use less padding"
            )
        return (args.out_channels, *out)

    def receptive_field(self, args: Any, in_shape: Shape, rf: ReceptiveField | None) -> ReceptiveField | None:
        """Return the field: an output reads at most ceil(extent / stride) neighbouring inputs.

        Neighbouring output units sit jump / stride input units apart.

        The jump is rounded up (at least 1), so a stride-2 down-sampling followed by a stride-2
        transposed convolution comes back to the jump it started from.
        """
        rf = spatial_field(rf, in_shape)
        if rf is None:
            return None
        reach = [-(-e // s) for e, s in zip(_effective(args), args.stride, strict=True)]
        return ReceptiveField(
            size=tuple(r + (w - 1) * j for r, w, j in zip(rf.size, reach, rf.jump, strict=True)),
            jump=tuple(max(1, -(-j // s)) for j, s in zip(rf.jump, args.stride, strict=True)),
        )

    def build(self, args: Any, in_shape: Shape, out_shape: Shape) -> torch.nn.Module:
        from torch import nn

        module: torch.nn.Module = getattr(nn, f"ConvTranspose{self.rank}d")(
            in_shape[0],
            args.out_channels,
            args.kernel_size,
            stride=args.stride,
            padding=args.padding,
            output_padding=args.output_padding,
            groups=args.groups,
            bias=args.bias,
            dilation=args.dilation,
        )
        return module


class _Fixed(_Conv):
    """A convolution whose filter is fixed: its weight (and bias) are buffers the model holds, not
    parameters it learns (BlurPool's binomial blur before a strided layer, TResNet's anti-aliasing).

    Its arithmetic is a convolution's (MACs as FlopCounterMode counts them); its filter is buffer
    memory. It learns nothing, so like a pooling window it is the same in every variant."""

    counterfactuals: ClassVar[Mapping[str, str]] = {}
    torch_class_of_its_name = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "name" in cls.__dict__:  # the module convprof builds for it, of the kind's own name
            cls.torch_types = (f"convprof.kinds.nn.{cls.name}",)

    def cost(self, args: Any, in_shape: Shape, out_shape: Shape) -> LayerCost:
        learned = super().cost(args, in_shape, out_shape)
        return replace(learned, params=0, buffer_elements=learned.params)

    def param_tensors(self, args: Any, in_shape: Shape, out_shape: Shape) -> tuple[int, ...]:
        return ()

    def node_backward_macs(
        self,
        args: Any,
        in_shapes: tuple[Shape, ...],
        out_shape: Shape,
        grads: tuple[bool, ...],
        trainable: bool = True,
    ) -> int | None:
        """The input's gradient only, where it needs one: the filter learns nothing."""
        macs = self.node_cost(args, in_shapes, out_shape).macs
        return macs * any(grads) if macs is not None else None

    def autograd(self, args: Any, in_shape: Shape, out_shape: Shape, step: TrainingStep) -> Autograd:
        """Keep the input as a convolution does (torch's convolution keeps it whatever needs a
        gradient); the backward makes only the input's gradient."""
        record = super().autograd(args, in_shape, out_shape, step)
        return replace(record, backward_after=0)

    def module_class(self) -> Any:
        from convprof.kinds import nn

        return getattr(nn, self.name)


def _kind(name: str, bases: tuple[type, ...], doc: str, **fields: Any) -> type:
    """Register and return the kind `name`: a class of `bases` with `fields` (as pad.py makes its kinds)."""
    return register(type(name, bases, {"__doc__": doc, "name": name, **fields}))


def _define(stem: str, rank: int) -> None:
    """Register one convolution of one rank and its variants: Conv2d, LocallyConnected2d,
    DenseConv2d and FixedConv2d (`stem` ""), or ConvTranspose2d and its local and dense variants
    (`stem` "Transpose")."""
    shared = f"Conv{stem}{rank}d"
    local, dense = f"LocallyConnected{stem}{rank}d", f"DenseConv{stem}{rank}d"
    counterfactuals: Mapping[str, str] = {"local": local, "dense": dense}
    if stem:
        conv = _kind(
            shared,
            (_ConvTranspose,),
            f"A {rank}-D transposed convolution (up-sampling) with shared weights.",
            rank=rank,
            Args=TRANSPOSE_ARGS[rank],
            counterfactuals=counterfactuals,
        )
        _kind(
            local,
            (LocalVariant, conv),
            f"{shared}'s scatter pattern with unshared weights per input position.",
        )
    else:
        conv = _kind(
            shared,
            (_Conv,),
            f"A {rank}-D convolution with weights shared across positions.",
            rank=rank,
            Args=CONV_ARGS[rank],
            counterfactuals=counterfactuals,
        )
        _kind(
            local,
            (LocalVariant, conv),
            f"{shared}'s window, stride, padding, dilation and groups, with unshared weights per position.",
        )
    _kind(
        dense,
        (DenseVariant, conv),
        f"A fully connected layer from {shared}'s whole input volume to its whole output volume.",
    )
    if not stem:
        _kind(
            f"FixedConv{rank}d",
            (_Fixed, conv),
            f"A {rank}-D convolution with a fixed filter: its weight and bias are buffers, not parameters.",
        )


for _stem in ("", "Transpose"):
    for _rank in RANKS:
        _define(_stem, _rank)
