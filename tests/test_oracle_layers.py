"""Oracle tests of the rank-generic normalisation, resampling, padding, activation and layout kinds.

Each configuration is built by convprof and by torch.nn directly: convprof accepts it exactly when
torch runs it on a CPU batch of real numbers (meta tensors skip some checks) without a warning and
gives a non-empty output, and then every variant's shapes, parameters, buffers and FLOPs equal
torch's (these kinds are the same in every variant).
"""

from __future__ import annotations

import operator
import warnings
from collections.abc import Callable
from typing import Any

import pytest
import torch
from torch import nn

from convprof.errors import SpecError
from convprof.graph.build import build_model
from convprof.graph.variants import transform
from convprof.kinds.nn import LayerNorm2d, Permute, Scale, Transpose
from convprof.report.analyze import analyze
from convprof.spec import ModelSpec
from tests import test_oracle as oracle
from tests.specbuild import make_spec
from tests.test_oracle import BATCH

#: Per-sample inputs of every rank: [C], [C, L], [C, H, W], [C, D, H, W]; none of them cubic.
SHAPES = [(6,), (6, 5), (6, 5, 4), (6, 3, 4, 5)]
#: Inputs with a single position, where statistics over positions have one value.
SINGLE = [(6, 1), (6, 1, 1)]


def _tuples(args: dict[str, Any]) -> dict[str, Any]:
    return {k: tuple(v) if isinstance(v, list) else v for k, v in args.items()}


def torch_runs(build: Callable[[tuple[int, ...]], nn.Module], in_shape: tuple[int, ...]) -> bool:
    """Return True when torch builds and runs the module on BATCH samples quietly, with an output."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        try:
            module = build(in_shape).eval()
            y = module(torch.randn((BATCH, *in_shape)))
        except (RuntimeError, ValueError, TypeError, IndexError, AssertionError, UserWarning):
            return False
    return bool(y.numel())


def check(in_shape: tuple[int, ...], layer: Any, build: Callable[[tuple[int, ...]], nn.Module]) -> None:
    """convprof and torch accept the same configurations; where both do, the counts agree."""
    refusal = ""
    try:
        spec = make_spec(in_shape, [layer], batch_size=BATCH)
    except SpecError as exc:
        refusal = str(exc)
    if refusal:
        assert not torch_runs(build, in_shape), f"convprof refused what torch runs: {refusal}"
        return
    assert torch_runs(build, in_shape), f"torch refused what convprof accepts: {layer} on {in_shape}"
    assert_matches_torch(spec)


def assert_matches_torch(spec: ModelSpec) -> None:
    """Check every layer of every variant of `spec` against its torch module in eval mode."""
    oracle.assert_matches_torch(spec, eval_mode=True)


NORM_ARGS = [
    {},
    {"affine": False},
    {"affine": True, "track_running_stats": False},
    {"affine": False, "track_running_stats": True, "eps": 0.001, "momentum": None},
]


@pytest.mark.parametrize("rank", [1, 2, 3])
@pytest.mark.parametrize("family", ["BatchNorm", "InstanceNorm"])
@pytest.mark.parametrize("shape", SHAPES + SINGLE, ids=str)
@pytest.mark.parametrize("args", NORM_ARGS, ids=str)
def test_batch_and_instance_norms_of_every_rank_match_torch(
    rank: int, family: str, shape: tuple[int, ...], args: dict[str, Any]
) -> None:
    name = f"{family}{rank}d"
    if family == "InstanceNorm" and len(shape) == rank:
        # torch would take this as one unbatched sample, the batch in front read as channels:
        # convprof refuses it (docs/spec-format.md's stricter cases).
        with pytest.raises(SpecError, match=f"{name} needs"):
            make_spec(shape, [{name.lower(): args}], batch_size=BATCH)
        return
    check(shape, {name.lower(): args}, lambda s: getattr(nn, name)(s[0], **args))


@pytest.mark.parametrize("shape", [*SHAPES, (6, 1), (4,)], ids=str)
@pytest.mark.parametrize("groups", [1, 2, 3, 4, 6])
@pytest.mark.parametrize("affine", [True, False])
def test_groupnorm_matches_torch(shape: tuple[int, ...], groups: int, affine: bool) -> None:
    check(
        shape,
        {"groupnorm": {"num_groups": groups, "affine": affine}},
        lambda s: nn.GroupNorm(groups, s[0], affine=affine),
    )


def test_groupnorm_infers_its_channels() -> None:
    with pytest.raises(SpecError, match="num_channels is inferred from the previous layer; remove it"):
        make_spec((6, 4), [{"groupnorm": {"num_groups": 2, "num_channels": 6}}])


@pytest.mark.parametrize("batch", [1, 2])
def test_groupnorm_of_single_values_is_refused_at_batch_one(batch: int) -> None:
    layers = [{"groupnorm": {"num_groups": 3}}]
    module = nn.GroupNorm(3, 3)
    try:
        module(torch.zeros((batch, 3)))
        torch_ok = True
    except ValueError:
        torch_ok = False
    assert torch_ok == (batch > 1)
    if torch_ok:
        make_spec((3,), layers, batch_size=batch)
    else:
        with pytest.raises(SpecError, match="single value"):
            make_spec((3,), layers, batch_size=batch)


@pytest.mark.parametrize("normalized", [4, [4], [5, 4], [6, 5, 4], 5, [6, 4], [3, 6, 5, 4]], ids=str)
@pytest.mark.parametrize(("affine", "bias"), [(True, True), (True, False), (False, True)])
def test_layernorm_over_the_last_dimensions_matches_torch(normalized: Any, affine: bool, bias: bool) -> None:
    shape = (6, 5, 4)
    args = {"normalized_shape": normalized, "elementwise_affine": affine, "bias": bias}
    ns = (normalized,) if isinstance(normalized, int) else tuple(normalized)
    check(shape, {"layernorm": args}, lambda s: nn.LayerNorm(ns, elementwise_affine=affine, bias=bias))


def test_layernorm_over_the_batch_is_refused() -> None:
    # torch runs it when the first size equals the batch; convprof keeps counts per sample.
    nn.LayerNorm((BATCH, 6, 5))(torch.zeros((BATCH, 6, 5)))
    with pytest.raises(SpecError, match="not the last dimensions"):
        make_spec((6, 5), [{"layernorm": {"normalized_shape": [BATCH, 6, 5]}}], batch_size=BATCH)


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("args", [{}, {"eps": 1e-6}, {"bias": False}, {"elementwise_affine": False}], ids=str)
def test_layernorm2d_matches_a_channels_last_layernorm(shape: tuple[int, ...], args: dict[str, Any]) -> None:
    check(shape, {"layernorm2d": args}, lambda s: LayerNorm2d(s[0], **args))
    if len(shape) == 3:  # the same numbers as torch's LayerNorm on the permuted tensor
        spec = make_spec(shape, [{"layernorm2d": args}], batch_size=BATCH)
        model = build_model(spec, "conv", "cpu")
        x = torch.randn((BATCH, *shape))
        reference = nn.LayerNorm(shape[0], **args)
        torch.testing.assert_close(model(x), reference(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2))


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("size", [1, 2, 5, 7])
def test_local_response_norm_matches_torch(shape: tuple[int, ...], size: int) -> None:
    args = {"size": size, "alpha": 0.001, "beta": 0.5, "k": 2.0}
    check(shape, {"localresponsenorm": args}, lambda s: nn.LocalResponseNorm(**args))


UPSAMPLE_SIZES = [
    {"scale_factor": 2},
    {"scale_factor": 1.5},
    {"scale_factor": 0.5},
    {"scale_factor": 0.1},
    {"scale_factor": [2, 3]},
    {"scale_factor": [2, 3, 0.5]},
    {"size": 7},
    {"size": [7, 9]},
    {"size": 7, "scale_factor": 2},
    {},
]


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("shape", [(3, 5), (3, 4, 5), (2, 3, 4, 5)], ids=str)
@pytest.mark.parametrize("mode", ["nearest", "nearest-exact", "linear", "bilinear", "bicubic", "trilinear"])
@pytest.mark.parametrize("sizes", UPSAMPLE_SIZES, ids=str)
@pytest.mark.parametrize("align_corners", [None, True, False])
def test_upsample_by_rank_and_mode_matches_torch(
    shape: tuple[int, ...], mode: str, sizes: dict[str, Any], align_corners: bool | None
) -> None:
    args = {**sizes, "mode": mode, "align_corners": align_corners}
    check(shape, {"upsample": args}, lambda s: nn.Upsample(**_tuples(args)))


@pytest.mark.parametrize("shape", [(8, 4, 6), (2, 8, 4, 6), (9, 3, 3), (8, 6)], ids=str)
@pytest.mark.parametrize("factor", [1, 2, 3])
def test_pixel_shuffle_and_unshuffle_match_torch(shape: tuple[int, ...], factor: int) -> None:
    if len(shape) < 3:  # torch would shuffle the batch into the channels: refused
        for kind in ("pixelshuffle", "pixelunshuffle"):
            with pytest.raises(SpecError, match="needs a channels x height x width"):
                make_spec(
                    shape,
                    [{kind: {"upscale_factor" if kind == "pixelshuffle" else "downscale_factor": factor}}],
                )
        return
    check(shape, {"pixelshuffle": {"upscale_factor": factor}}, lambda s: nn.PixelShuffle(factor))
    check(shape, {"pixelunshuffle": {"downscale_factor": factor}}, lambda s: nn.PixelUnshuffle(factor))


def _padding(dims: int, amounts: Any) -> Any:
    return amounts if isinstance(amounts, int) else [amounts[i % len(amounts)] for i in range(2 * dims)]


@pytest.mark.parametrize(
    "prefix", ["ZeroPad", "ConstantPad", "ReflectionPad", "ReplicationPad", "CircularPad"]
)
@pytest.mark.parametrize("dims", [1, 2, 3])
@pytest.mark.parametrize("shape", [(3,), (3, 4), (3, 4, 5), (2, 3, 4, 5)], ids=str)
@pytest.mark.parametrize("amounts", [0, 1, 3, 4, -1, -3, [2, 0, 1, 3], [-1, 3, 0, 2], [1, -4, 2, 0]], ids=str)
def test_padding_of_every_mode_and_rank_matches_torch(
    prefix: str, dims: int, shape: tuple[int, ...], amounts: Any
) -> None:
    padding = _padding(dims, amounts)
    name = f"{prefix}{dims}d"
    args: dict[str, Any] = {"padding": padding}
    if prefix == "ConstantPad":
        args["value"] = 0.5
    if len(shape) < dims:  # torch would pad the batch dimension: refused
        with pytest.raises(SpecError, match="pads the last"):
            make_spec(shape, [{name.lower(): args}], batch_size=BATCH)
        return
    check(shape, {name.lower(): args}, lambda s: getattr(nn, name)(**_tuples(args)))


def test_padding_takes_torchs_tuple_order_last_dimension_first() -> None:
    spec = make_spec((3, 4, 5), [{"constantpad2d": {"padding": [1, 2, 3, 4], "value": 0}}])
    assert spec.output == (3, 4 + 3 + 4, 5 + 1 + 2)
    with pytest.raises(SpecError, match="padding needs 4 entries"):
        make_spec((3, 4, 5), [{"zeropad2d": {"padding": [1, 2]}}])


ACTIVATIONS = [
    ("elu", {}),
    ("elu", {"alpha": 0.5, "inplace": True}),
    ("selu", {}),
    ("celu", {"alpha": 2.0}),
    ("celu", {"alpha": 0.0}),
    ("prelu", {}),
    ("prelu", {"num_parameters": 6, "init": 0.1}),
    ("prelu", {"num_parameters": 5}),
    ("hardtanh", {}),
    ("hardtanh", {"min_val": -2.0, "max_val": 3.0}),
    ("hardtanh", {"min_val": 1.0, "max_val": 1.0}),
    ("mish", {}),
    ("softplus", {"beta": 2.0, "threshold": 10.0}),
    ("dropout1d", {"p": 0.2}),
    ("dropout2d", {}),
    ("dropout3d", {"inplace": True}),
    ("alphadropout", {"p": 0.1}),
]
_TORCH = {
    name.lower(): getattr(nn, name)
    for name in ("ELU", "SELU", "CELU", "PReLU", "Hardtanh", "Mish", "Softplus")
}
_TORCH.update(
    {name.lower(): getattr(nn, name) for name in ("Dropout1d", "Dropout2d", "Dropout3d", "AlphaDropout")}
)


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize(("kind", "args"), ACTIVATIONS, ids=str)
def test_activations_and_dropouts_match_torch(
    shape: tuple[int, ...], kind: str, args: dict[str, Any]
) -> None:
    check(shape, {kind: args}, lambda s: _TORCH[kind](**args))


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("kind", ["softmax", "logsoftmax"])
@pytest.mark.parametrize("dim", [None, 0, 1, 2, -1, -2, 4, -5])
def test_softmax_dims_match_torch(shape: tuple[int, ...], kind: str, dim: int | None) -> None:
    rank = len(shape) + 1
    chosen = dim
    if dim is None:  # torch's implicit choice, which it warns about
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            chosen = torch.nn.functional._get_softmax_dim(kind, rank, 3)  # type: ignore[attr-defined]
    torch_ok = chosen is not None and -rank <= chosen < rank
    across_batch = torch_ok and chosen is not None and chosen % rank == 0
    layer = {kind: {"dim": dim}}
    if not torch_ok or across_batch:  # refused: out of range, or normalising across the batch
        with pytest.raises(SpecError, match="dim"):
            make_spec(shape, [layer], batch_size=BATCH)
        return
    spec = make_spec(shape, [layer], batch_size=BATCH)
    assert_matches_torch(spec)
    module = getattr(nn, {"softmax": "Softmax", "logsoftmax": "LogSoftmax"}[kind])(dim=chosen)
    x = torch.randn((BATCH, *shape))
    torch.testing.assert_close(build_model(spec, "conv", "cpu")(x), module(x))


@pytest.mark.parametrize(
    "dims",
    [[0, 2, 3, 1], [0, 3, 1, 2], [0, 1, 2, 3], [0, -1, 1, 2], [0, 2, 2, 1], [0, 2, 1], [0, 1, 2, 3, 4]],
    ids=str,
)
def test_permute_matches_torch(dims: list[int]) -> None:
    check((3, 4, 5), {"permute": {"dims": dims}}, lambda s: Permute(tuple(dims)))


@pytest.mark.parametrize(("dim0", "dim1"), [(1, 2), (1, -1), (2, 3), (3, 3), (1, 4), (-3, 1)])
def test_transpose_matches_torch(dim0: int, dim1: int) -> None:
    check((3, 4, 5), {"transpose": {"dim0": dim0, "dim1": dim1}}, lambda s: Transpose(dim0, dim1))


class _Function(nn.Module):
    """A torch function of the input as a module (for the kinds torch.nn has no class for)."""

    def __init__(self, function: Callable[[torch.Tensor], torch.Tensor]) -> None:
        super().__init__()
        self.function = function

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.function(x)


@pytest.mark.parametrize(
    "target",
    [[2, 3, 2, 5], [-1, 5], [12, -1], [60], [3, 20], [5, 4, 3], [-1, -1, 5], [7, -1], [61], [2, 2, 3, 5, 1]],
    ids=str,
)
def test_reshape_matches_torch(target: list[int]) -> None:
    check((3, 4, 5), {"reshape": {"shape": target}}, lambda s: _Function(lambda x: x.reshape(BATCH, *target)))


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize(
    ("dim", "start", "length"),
    [
        (1, 0, 1),
        (1, 2, 4),
        (1, 5, 1),
        (1, 5, 2),
        (-1, 1, 2),
        (2, 0, 5),
        (2, 4, 2),
        (3, -2, 2),
        (1, -7, 1),
        (4, 0, 1),
    ],
    ids=str,
)
def test_narrow_matches_torch(shape: tuple[int, ...], dim: int, start: int, length: int) -> None:
    check(
        shape,
        {"narrow": {"dim": dim, "start": start, "length": length}},
        lambda s: _Function(lambda x: torch.narrow(x, dim, start, length)),
    )


@pytest.mark.parametrize("dims", [(1, 2), (2, 3), (1, 1)], ids=str)
def test_contiguous_after_a_transpose_matches_torch(dims: tuple[int, int]) -> None:
    spec = make_spec(
        (3, 4, 5), [{"transpose": {"dim0": dims[0], "dim1": dims[1]}}, "contiguous"], batch_size=BATCH
    )
    assert_matches_torch(spec)


def test_reshape_and_narrow_refuse_what_is_no_shape() -> None:
    with pytest.raises(SpecError, match=r"expected a positive integer or -1, got int 0"):
        make_spec((3, 4), [{"reshape": {"shape": [0, 12]}}])
    with pytest.raises(SpecError, match=r"shape \[5, -1\] cannot hold the 12 elements"):
        make_spec((3, 4), [{"reshape": {"shape": [5, -1]}}])
    with pytest.raises(SpecError, match="expected a positive integer"):
        make_spec((3, 4), [{"narrow": {"dim": 1, "start": 0, "length": 0}}])  # torch: an empty tensor


@pytest.mark.parametrize(
    ("kind", "args"),
    [
        ("permute", {"dims": [1, 0, 2, 3]}),
        ("transpose", {"dim0": 0, "dim1": 1}),
        ("transpose", {"dim0": -4, "dim1": 1}),
        ("narrow", {"dim": 0, "start": 0, "length": 1}),
        ("narrow", {"dim": -4, "start": 0, "length": 1}),
    ],
)
def test_reordering_the_batch_is_refused(kind: str, args: dict[str, Any]) -> None:
    with pytest.raises(SpecError, match="batch"):
        make_spec((3, 4, 5), [{kind: args}], batch_size=BATCH)


@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_scale_has_one_parameter_per_channel(shape: tuple[int, ...]) -> None:
    check(shape, {"scale": {"init": 1e-6}}, lambda s: Scale((s[0], *(1 for _ in s[1:])), 1e-6))
    (layer,) = analyze(make_spec(shape, ["scale"], batch_size=BATCH)).variant("conv").layers
    assert layer.params == shape[0]


class _Learned(nn.Module):
    """A learnable tensor of `shape`, viewed as `view`, times or plus the input, as models write it."""

    def __init__(self, op: Any, shape: tuple[int, ...], view: tuple[int, ...] | None) -> None:
        super().__init__()
        self.op, self.view = op, view
        self.weight = nn.Parameter(torch.ones(shape))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weight = self.weight if self.view is None else self.weight.view(self.view)
        return self.op(weight, x)


@pytest.mark.parametrize("kind", ["scale", "shift"])
@pytest.mark.parametrize(
    ("shape", "held", "view"),
    [
        ((4, 6, 6), (1,), None),  # a learnable scalar (HGNetV2)
        ((4, 6, 6), (), None),  # a 0-d one
        ((4, 6, 6), (6,), None),  # channels-last tokens' gamma (EdgeNeXt)
        ((6, 6, 4), (4,), None),
        ((4, 6, 6), (4,), (1, 4, 1, 1)),  # timm's `self.gamma.view(1, -1, 1, 1)`
        ((4, 6, 6), (4,), (4, 1, 1)),
        ((4, 6, 6), (4, 1, 1), None),  # ConvNeXt's layer scale
        ((4, 6, 6), (1, 4, 1, 1), None),
        ((4, 6, 6), (4, 6, 6), None),  # one per element
        ((4, 6, 6), (6, 1), None),
        ((4, 6, 6), (5,), None),  # refused: does not broadcast
        ((4, 6, 6), (3, 4, 1, 1), None),  # refused: reaches the batch
        ((4, 6, 6), (4, 1, 6, 6), None),  # refused: grows the sample
        ((4, 6, 6), (4,), (2, 2)),  # refused: grows the sample
    ],
)
def test_a_learnable_tensor_broadcasts_as_torch_broadcasts_it(
    kind: str, shape: tuple[int, ...], held: tuple[int, ...], view: tuple[int, ...] | None
) -> None:
    op = operator.mul if kind == "scale" else operator.add
    args: dict[str, Any] = {"shape": list(held), **({"view": list(view)} if view else {})}
    check(shape, {kind: args}, lambda s: _Learned(op, held, view))


@pytest.mark.parametrize(
    ("shape", "args"),
    [
        ((4, 9, 9), {"out_channels": 4, "kernel_size": 3, "stride": 2, "groups": 4, "bias": False}),
        ((4, 9, 9), {"out_channels": 8, "kernel_size": 3, "padding": 1}),
        (
            (4, 9, 9),
            {"out_channels": 4, "kernel_size": 5, "padding": 2, "padding_mode": "reflect", "groups": 2},
        ),
        ((4, 2, 2), {"out_channels": 4, "kernel_size": 3}),  # refused: the kernel is larger than the input
        ((3, 9, 9), {"out_channels": 4, "kernel_size": 3, "groups": 2}),  # refused: groups
    ],
)
def test_a_fixed_filter_is_a_convolution_whose_filter_is_buffers(
    shape: tuple[int, ...], args: dict[str, Any]
) -> None:
    from convprof.kinds.nn import FixedConv2d

    check(
        shape,
        {"fixedconv2d": args},
        lambda s: FixedConv2d(s[0], **{**args, "kernel_size": args["kernel_size"]}),
    )
    if shape[0] % args.get("groups", 1) == 0 and shape[1] >= args["kernel_size"]:  # accepted
        (layer,) = analyze(make_spec(shape, [{"fixedconv2d": args}], batch_size=BATCH)).variant("conv").layers
        learned = analyze(make_spec(shape, [{"conv2d": args}], batch_size=BATCH)).variant("conv").layers[0]
        assert (layer.params, layer.flops) == (0, learned.flops)
        assert layer.buffer_bytes == learned.params * 4
        for variant in ("local", "dense"):  # it learns nothing: every variant keeps it
            kinds = [n.kind for n in transform(make_spec(shape, [{"fixedconv2d": args}]), variant).nodes]
            assert kinds == ["FixedConv2d"]


@pytest.mark.parametrize("rank", [1, 3])
def test_a_fixed_filter_of_every_rank_matches_torch(rank: int) -> None:
    from convprof.kinds import nn as built

    shape = (2, *(5,) * rank)
    args = {"out_channels": 2, "kernel_size": 3, "stride": 2, "groups": 2}
    check(shape, {f"fixedconv{rank}d": args}, lambda s: getattr(built, f"FixedConv{rank}d")(s[0], **args))


def test_a_view_with_another_number_of_elements_is_refused() -> None:
    with pytest.raises(SpecError, match="elements"):
        make_spec((4, 6, 6), [{"scale": {"shape": [4], "view": [1, 5, 1, 1]}}], batch_size=BATCH)


# -- the element-wise conventions docs/counting.md states, from the formulas written there --------

C, H, W = 6, 5, 4
N = C * H * W


@pytest.mark.parametrize(
    ("layer", "shape", "per_output"),
    [
        ("elu", (C, H, W), 1),
        ("prelu", (C, H, W), 1),
        ("mish", (C, H, W), 1),
        ({"softmax": {"dim": 1}}, (C, H, W), 5),
        ({"logsoftmax": {"dim": -1}}, (C, H, W), 5),
        ({"batchnorm1d": {}}, (C, H), 2),
        ({"instancenorm2d": {}}, (C, H, W), 6),
        ({"instancenorm2d": {"track_running_stats": True}}, (C, H, W), 2),
        ({"groupnorm": {"num_groups": 2}}, (C, H, W), 6),
        ({"layernorm": {"normalized_shape": W}}, (C, H, W), 6),
        ("layernorm2d", (C, H, W), 6),
        ({"localresponsenorm": {"size": 3}}, (C, H, W), 3 + 5),
        ({"upsample": {"scale_factor": 2}}, (C, H, W), 0),
        ({"upsample": {"scale_factor": 2, "mode": "linear"}}, (C, H), 3),
        ({"upsample": {"scale_factor": 2, "mode": "bilinear"}}, (C, H, W), 7),
        ({"upsample": {"scale_factor": 2, "mode": "bicubic"}}, (C, H, W), 31),
        ({"upsample": {"scale_factor": 2, "mode": "trilinear"}}, (C, 2, H, W), 15),
        ({"reflectionpad2d": {"padding": 1}}, (C, H, W), 0),
        ({"pixelshuffle": {"upscale_factor": 1}}, (C, H, W), 0),
        ({"permute": {"dims": [0, 2, 3, 1]}}, (C, H, W), 0),
        ({"reshape": {"shape": [2, 3, H, W]}}, (C, H, W), 0),
        ({"narrow": {"dim": 1, "start": 1, "length": 2}}, (C, H, W), 0),
        ({"circularpad2d": {"padding": 1}}, (C, H, W), 0),
        ("scale", (C, H, W), 1),
        ("alphadropout", (C, H, W), 0),
    ],
    ids=str,
)
def test_elementwise_ops_follow_the_stated_conventions(
    layer: Any, shape: tuple[int, ...], per_output: int
) -> None:
    spec = make_spec(shape, [layer], batch_size=BATCH)
    (counted,) = analyze(spec).variant("conv").layers
    outputs = 1
    for size in spec.output:
        outputs *= size
    assert counted.elementwise_ops == BATCH * per_output * outputs
    assert counted.macs == 0


# -- receptive fields ------------------------------------------------------------------------------


def _fields(shape: tuple[int, ...], layers: list[Any]) -> list[tuple[int, ...] | None]:
    return [layer.receptive_field for layer in analyze(make_spec(shape, layers)).variant("conv").layers]


def test_receptive_field_through_upsampling_counts_the_interpolation_taps() -> None:
    conv = {"conv2d": {"out_channels": 2, "kernel_size": 3, "stride": 2}}
    fields = _fields(
        (1, 17, 17),
        [
            conv,
            {"upsample": {"scale_factor": 2, "mode": "bilinear"}},
            {"upsample": {"scale_factor": 2, "mode": "bicubic"}},
            {"upsample": {"scale_factor": 2}},
            conv,
        ],
    )
    # conv: 3 wide, 2 apart; bilinear reads 2 inputs (3 + 2), now 1 apart; bicubic 4 (5 + 3 x 1);
    # nearest reads one; the last conv adds 2 x 1 (jumps rounded up to whole input units).
    assert fields == [(3, 3), (5, 5), (8, 8), (8, 8), (10, 10)]


def test_receptive_field_through_pixel_unshuffle_and_shuffle() -> None:
    fields = _fields(
        (1, 8, 8),
        [
            {"pixelunshuffle": {"downscale_factor": 2}},
            {"conv2d": {"out_channels": 4, "kernel_size": 3}},
            {"pixelshuffle": {"upscale_factor": 2}},
        ],
    )
    # 2x2 blocks, 2 apart; a 3x3 conv adds 2 x 2; shuffling back reads one input unit.
    assert fields == [(2, 2), (6, 6), (6, 6)]


def test_channels_last_linear_keeps_the_receptive_field_and_a_spatial_softmax_does_not() -> None:
    fields = _fields(
        (4, 8, 8),
        [
            {"conv2d": {"out_channels": 4, "kernel_size": 7, "padding": 3, "groups": 4}},
            {"permute": {"dims": [0, 2, 3, 1]}},
            {"layernorm": {"normalized_shape": 4}},
            {"linear": {"out_features": 16}},
            {"softmax": {"dim": -1}},
            {"permute": {"dims": [0, 3, 1, 2]}},
            {"softmax": {"dim": 1}},
            {"softmax": {"dim": 2}},
        ],
    )
    assert fields == [(7, 7)] * 7 + [None]
    assert _fields((4, 8, 8), [{"linear": {"out_features": 3}}]) == [None]  # over width: full


def test_merging_channels_last_paths_keeps_the_layout() -> None:
    permute = {"permute": {"dims": [0, 2, 3, 1]}}
    layers = [
        {"conv2d": {"out_channels": 4, "kernel_size": 3, "padding": 1}},
        permute,
        {"residual": {"body": [{"linear": {"out_features": 4}}]}},
        {"linear": {"out_features": 4}},
    ]
    assert _fields((4, 6, 6), layers) == [(3, 3)] * 5


def test_a_conv_on_channels_moved_last_sees_no_box() -> None:
    """Its window then slides over width and channels: not the image's positions."""
    fields = _fields(
        (4, 8, 8),
        [
            {"conv2d": {"out_channels": 4, "kernel_size": 3, "padding": 1}},
            {"permute": {"dims": [0, 2, 3, 1]}},
            {"conv2d": {"out_channels": 8, "kernel_size": 3, "padding": 1}},
        ],
    )
    assert fields == [(3, 3), (3, 3), None]


def test_regrouping_channels_keeps_the_field_and_reshaping_positions_does_not() -> None:
    conv = {"conv2d": {"out_channels": 6, "kernel_size": 3, "padding": 1}}
    shuffle = [
        {"reshape": {"shape": [2, 3, 8, 8]}},
        {"transpose": {"dim0": 1, "dim1": 2}},
        {"reshape": {"shape": [6, 8, 8]}},
        conv,
    ]
    # A 3x3 conv, the channels shuffled, another 3x3 conv: 5x5 as without the shuffle.
    assert _fields((6, 8, 8), [conv, *shuffle]) == [(3, 3)] * 4 + [(5, 5)]
    # The same with the channels merged back by a flatten.
    merged = [*shuffle[:2], {"flatten": {"start_dim": 1, "end_dim": 2}}, conv]
    assert _fields((6, 8, 8), [conv, *merged]) == [(3, 3)] * 4 + [(5, 5)]
    # Rows regrouped (8x8 read as 4x16): neighbours on the input are not neighbours any more.
    assert _fields((6, 8, 8), [conv, {"reshape": {"shape": [6, 4, 16]}}, conv]) == [(3, 3), None, None]
    # Swapping a channel group with a row: spatial dimensions are no longer together.
    assert _fields((6, 8, 8), [conv, shuffle[0], {"transpose": {"dim0": 2, "dim1": 3}}]) == [
        (3, 3),
        (3, 3),
        None,
    ]


def test_a_narrowed_unit_keeps_its_field() -> None:
    conv = {"conv2d": {"out_channels": 6, "kernel_size": 3, "stride": 2}}
    layers = [conv, {"narrow": {"dim": 3, "start": 1, "length": 3}}, conv]
    # 3 wide, 2 apart; cutting columns moves no unit; the next conv adds 2 x 2.
    assert _fields((1, 17, 17), layers) == [(3, 3), (3, 3), (7, 7)]
