"""Oracle tests of the kinds third-party models need beyond layers: products of activations (matmul,
einsum, attention), reductions, indexing, tiling, arithmetic with constants and clamping.

Each configuration is counted by convprof and run by torch: shapes, parameters, buffers and forward
and backward FLOPs against the torch modules convprof builds (FlopCounterMode on meta), the memory
layout of every output against the strides torch gives, which shapes each kind accepts against
what torch runs (at two batch sizes, so that nothing broadcasts across the batch), and the readers
against the calls models make.
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Callable
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from convprof.errors import SpecError
from convprof.graph.analyze import analyze
from convprof.graph.build import build_model
from convprof.graph.layout import node_layouts
from convprof.importing import import_module
from convprof.kinds import ShapeError, lookup
from convprof.kinds.calls import PARAMETER, TENSOR, TRACED, Constant, TorchCall
from convprof.spec import ModelSpec
from tests.specbuild import make_spec
from tests.test_oracle import BATCH, assert_matches_torch
from tests.test_oracle_layers import check

#: Configurations of every kind, each a network on a per-sample input.
CASES: list[tuple[tuple[int, ...], list[Any]]] = [
    ((4, 6, 6), [{"identity": {"name": "a"}}, {"sub": {"from": ["a", "input"]}}]),
    ((4, 6, 6), [{"adaptiveavgpool2d": {"output_size": 1, "name": "a"}}, {"sub": {"from": ["input", "a"]}}]),
    ((4, 6, 6), [{"adaptiveavgpool2d": {"output_size": 1, "name": "a"}}, {"div": {"from": ["input", "a"]}}]),
    ((4, 6, 6), [{"adaptiveavgpool2d": {"output_size": 1, "name": "a"}}, {"div": {"from": ["a", "input"]}}]),
    ((4, 6, 6), [{"identity": {"name": "a"}}, {"stack": {"from": ["a", "input"], "dim": 1}}]),
    ((4, 6, 6), [{"identity": {"name": "a"}}, {"stack": {"from": ["a", "input", "a"], "dim": -1}}]),
    ((4, 6, 6), [{"arithmetic": {"op": "mul", "other": 0.5}}]),
    ((4, 6, 6), [{"arithmetic": {"op": "add", "other": 1}}]),
    ((4, 6, 6), [{"arithmetic": {"op": "sub", "other": 1, "reverse": True}}]),
    ((4, 6, 6), [{"arithmetic": {"op": "div", "other": 2}}]),
    ((4, 6, 6), [{"arithmetic": {"op": "div", "other": 2, "reverse": True}}]),
    ((4, 6, 6), [{"arithmetic": {"op": "pow", "other": 2}}]),
    ((4, 6, 6), [{"arithmetic": {"op": "pow", "other": 2, "reverse": True}}]),
    ((4, 6, 6), [{"arithmetic": {"op": "mul", "other": 0.5, "inplace": True}}]),
    ((4, 6, 6), [{"arithmetic": {"op": "add", "other": -1, "inplace": True}}]),
    ((4, 6, 6), [{"arithmetic": {"op": "mul", "other_shape": [1, 4, 1, 1]}}]),
    ((4, 6, 6), [{"arithmetic": {"op": "sub", "other_shape": [6, 6], "reverse": True}}]),
    ((4, 6, 6), [{"arithmetic": {"op": "div", "other_shape": [6], "reverse": True}}]),
    ((4, 6, 6), [{"arithmetic": {"op": "mul", "other_shape": []}}]),
    ((1, 6, 6), [{"arithmetic": {"op": "add", "other_shape": [4, 6, 6]}}]),
    ((4, 6, 6), [{"sum": {"dim": 1}}]),
    ((4, 6, 6), [{"sum": {"dim": [2, 3], "keepdim": True}}]),
    ((4, 6, 6), [{"reshape": {"shape": [2, 2, 6, 6]}}, {"sum": {"dim": 1}}]),
    ((4, 6, 6), [{"flatten": {"start_dim": 2}}, {"sum": {"dim": 2}}]),
    ((4, 6, 6), [{"mean": {"dim": -1}}]),
    ((4, 6, 6), [{"mean": {"dim": [1, 3], "keepdim": True}}]),
    ((4, 6, 6), [{"amax": {"dim": 1, "keepdim": True}}]),
    ((4, 6, 6), [{"amin": {"dim": [1, 2]}}]),
    ((4, 6, 6), [{"max": {"dim": 2}}]),
    ((4, 6, 6), [{"min": {"dim": 1, "keepdim": True}}]),
    (
        (3, 5, 4),
        [
            {"identity": {"name": "a"}},
            {"transpose": {"dim0": 2, "dim1": 3, "name": "b"}},
            {"matmul": {"from": ["a", "b"]}},
        ],
    ),
    (
        (3, 5, 4),
        [
            {"identity": {"name": "a"}},
            {"transpose": {"dim0": 2, "dim1": 3, "name": "b"}},
            {"matmul": {"from": ["b", "a"]}},
        ],
    ),
    (
        (1, 5, 4),
        [
            {"identity": {"name": "a"}},
            {"reshape": {"shape": [1, 4, 5], "name": "b"}},
            {"tile": {"repeats": [3, 1, 1], "name": "c", "from": "a"}},
            {"matmul": {"from": ["c", "b"]}},
        ],
    ),
    ((3, 4, 4), [{"matmul": {"from": ["input", "input"]}}]),
    ((4, 4), [{"matmul": {"from": ["input", "input"]}}]),
    ((3, 5, 4), [{"identity": {"name": "q"}}, {"scaleddotproductattention": {"from": ["q", "q", "q"]}}]),
    (
        (3, 5, 4),
        [
            {"identity": {"name": "q"}},
            {"scaleddotproductattention": {"from": ["q", "q", "q"], "is_causal": True}},
        ],
    ),
    (
        (3, 5, 4),
        [
            {"identity": {"name": "a"}},
            {"transpose": {"dim0": 1, "dim1": 2, "name": "t"}},
            {"scaleddotproductattention": {"from": ["t", "t", "t"], "scale": 0.5}},
        ],
    ),
    # torch's reference composition (three batched dimensions, values of other features): the rest
    ((5, 4), [{"identity": {"name": "q"}}, {"scaleddotproductattention": {"from": ["q", "q", "q"]}}]),
    (
        (5, 4),
        [
            {"identity": {"name": "q"}},
            {"scaleddotproductattention": {"from": ["q", "q", "q"], "is_causal": True}},
        ],
    ),
    (
        (3, 5, 4),
        [
            {"identity": {"name": "q"}},
            {"narrow": {"dim": 3, "start": 0, "length": 3, "name": "v"}},
            {"scaleddotproductattention": {"from": ["q", "q", "v"], "is_causal": True}},
        ],
    ),
    (
        (2, 5, 4),
        [
            {"identity": {"name": "q"}},
            {"narrow": {"dim": 3, "start": 0, "length": 2, "name": "k"}},
            {"narrow": {"dim": 3, "start": 2, "length": 2, "name": "q2", "from": "q"}},
            {"scaleddotproductattention": {"from": ["q2", "k", "k"]}},
        ],
    ),
    ((3, 5, 4), [{"einsum": {"from": ["input", "input"], "equation": "bhqd,bhkd->bhqk"}}]),
    ((3, 5, 4), [{"einsum": {"from": ["input", "input"], "equation": "bhqd,bhqe->bhde"}}]),
    ((3, 5, 4), [{"einsum": {"from": ["input", "input"], "equation": "...qd,...kd->...kq"}}]),
    ((3, 5, 4), [{"einsum": {"from": ["input", "input"], "equation": "bhqd,bhkd->bkhq"}}]),
    ((3, 5, 4), [{"einsum": {"from": ["input", "input"], "equation": "bhqd,bhkd->bqkh"}}]),
    (
        (3, 5, 4),
        [
            {"identity": {"name": "a"}},
            {"transpose": {"dim0": 1, "dim1": 2, "name": "t"}},
            {"einsum": {"from": ["t", "a"], "equation": "bqhd,bhkd->bhqk"}},
        ],
    ),
    (
        (3, 4, 5),
        [
            {"identity": {"name": "a"}},
            {"reshape": {"shape": [3, 5, 4], "name": "b"}},
            {"einsum": {"from": ["a", "b"], "equation": "bcij,bcjk->bkci"}},
        ],
    ),
    ((3, 4, 5), [{"einsum": {"from": ["input", "input"], "equation": "bchw,bcgw->bhg"}}]),
    ((4, 6, 6), [{"slice": {"dim": 2, "step": 2}}]),
    (
        (4, 6, 6),
        [
            {"slice": {"dim": 1, "start": 1, "step": 2}},
            {"slice": {"dim": 3, "start": -5, "end": -1, "step": 3}},
        ],
    ),
    ((4, 6, 6), [{"select": {"dim": 1, "index": 0}}]),
    ((4, 6, 6), [{"select": {"dim": -1, "index": -1}}]),
    ((4, 1, 6), [{"expand": {"shape": [4, 5, 6]}}, "contiguous"]),
    (
        (4, 6, 6),
        [
            {"adaptiveavgpool2d": {"output_size": 1, "name": "a"}},
            {"expand": {"shape": [4, 6, 6], "from": ["a", "input"]}},
        ],
    ),
    ((4, 6, 6), [{"tile": {"repeats": [1, 2, 1]}}]),
    ((4, 6, 6), [{"roll": {"shifts": 1, "dims": 2}}]),
    ((4, 6, 6), [{"roll": {"shifts": [1, -2], "dims": [2, 3]}}]),
    ((4, 6, 6), [{"clamp": {"min": 0, "max": 6}}]),
    ((4, 6, 6), [{"clamp": {"min": -1}}]),
    ((4, 6, 6), [{"clamp": {"max": 1, "inplace": True}}]),
]


def _case_id(case: tuple[tuple[int, ...], list[Any]]) -> str:
    shape, layers = case
    return f"{'x'.join(map(str, shape))}-{layers[-1] if len(layers) < 3 else layers[-2:]}"


@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_counts_and_backward_flops_match_torch(case: tuple[tuple[int, ...], list[Any]]) -> None:
    shape, layers = case
    assert_matches_torch(make_spec(shape, layers, batch_size=BATCH))


def _output_strides(spec: ModelSpec) -> dict[str, tuple[tuple[int, ...], tuple[int, ...]]]:
    """Return each node's output shape and strides as the built model gives them on the CPU."""
    model = build_model(spec, "conv")
    found: dict[str, tuple[tuple[int, ...], tuple[int, ...]]] = {}

    def record(name: str) -> Callable[[nn.Module, Any, torch.Tensor], None]:
        def hook(module: nn.Module, inputs: Any, output: torch.Tensor) -> None:
            found[name] = (tuple(output.shape), output.stride())

        return hook

    for name, module in model.named_modules():
        if name:
            module.register_forward_hook(record(name))
    model.train()(torch.randn(spec.batch_size, *spec.input))
    return found


@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_output_layouts_are_torchs(case: tuple[tuple[int, ...], list[Any]]) -> None:
    """The strides convprof follows (views, copies, what a flatten after them costs) are torch's."""
    shape, layers = case
    spec = make_spec(shape, layers, batch_size=BATCH)
    strides = _output_strides(spec)
    for node, layout in zip(spec.nodes, node_layouts(spec), strict=True):
        measured_shape, measured = strides[node.path]
        assert layout.shape == measured_shape, node.path
        # A dimension of size 1 may have any stride (torch's own contiguity rule).
        assert [a for a, n in zip(layout.strides, measured_shape, strict=True) if n != 1] == [
            b for b, n in zip(measured, measured_shape, strict=True) if n != 1
        ], node.path


# -- which shapes each kind takes: torch's answer at two batch sizes --------------------------------


def _torch_shape(function: Callable[..., torch.Tensor], shapes: tuple[tuple[int, ...], ...]) -> Any:
    """Return the per-sample output shape torch gives at batches 2 and 3 alike, else None."""
    outputs = set()
    for batch in (2, 3):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error")
                y = function(*(torch.randn(batch, *shape) for shape in shapes))
        except (RuntimeError, ValueError, IndexError, UserWarning):
            return None
        if y.dim() == 0 or y.shape[0] != batch:
            return None
        outputs.add(tuple(y.shape[1:]))
    return outputs.pop() if len(outputs) == 1 else None


def _convprof_shape(kind: str, args: Any, shapes: tuple[tuple[int, ...], ...]) -> Any:
    found = lookup(kind)
    assert found is not None
    try:
        return found.node_output_shape(args, shapes)
    except ShapeError:
        return None


PAIRS = [
    ((5, 4), (4, 3)),
    ((2, 5, 4), (2, 4, 3)),
    ((2, 5, 4), (1, 4, 3)),
    ((1, 5, 4), (3, 4, 3)),
    ((2, 5, 4), (3, 4, 3)),
    ((2, 5, 4), (4, 3)),
    ((5, 4), (2, 4, 3)),
    ((4,), (4,)),
    ((4,), (4, 3)),
    ((5, 4), (5, 3)),
    ((2, 1, 5, 4), (1, 3, 4, 2)),
]


@pytest.mark.parametrize(("a", "b"), PAIRS, ids=str)
def test_matmul_takes_what_torch_multiplies_sample_by_sample(a: tuple[int, ...], b: tuple[int, ...]) -> None:
    args = lookup("matmul").Args()  # type: ignore[union-attr]
    assert _convprof_shape("matmul", args, (a, b)) == _torch_shape(torch.matmul, (a, b))


ELEMENTWISE_PAIRS = [
    ((4, 5), (4, 5)),
    ((4, 5), (1, 5)),
    ((4, 1), (1, 5)),
    ((4, 5), (5,)),
    ((5,), (4, 5)),
    ((4, 5), (3, 5)),
    ((2, 4, 5), (4, 5)),
    ((1,), (4, 5)),
]


@pytest.mark.parametrize(("a", "b"), ELEMENTWISE_PAIRS, ids=str)
@pytest.mark.parametrize(("kind", "function"), [("sub", torch.sub), ("div", torch.div)])
def test_sub_and_div_never_broadcast_across_the_batch(
    a: tuple[int, ...], b: tuple[int, ...], kind: str, function: Callable[..., torch.Tensor]
) -> None:
    args = lookup(kind).Args()  # type: ignore[union-attr]
    assert _convprof_shape(kind, args, (a, b)) == _torch_shape(function, (a, b))


EQUATIONS = [
    ("bij,bjk->bik", (3, 4), (4, 5)),
    ("bhqd,bhkd->bhqk", (2, 3, 4), (2, 5, 4)),
    ("bij,bjk->bki", (3, 4), (4, 5)),
    ("...ij,...jk->...ik", (2, 3, 4), (2, 4, 5)),
    ("bij,bjk", (3, 4), (4, 5)),  # implicit output: b is summed, across the batch
    ("ij,jk->ik", (3, 4), (4, 5)),  # the batch is contracted
    ("bij,bjk->ik", (3, 4), (4, 5)),
    ("bi,bj->bij", (3,), (4,)),  # no contraction: an element-wise product
    ("bij,bjk->bk", (3, 4), (4, 5)),  # i summed alone
    ("bii,bij->bij", (3, 3), (3, 4)),  # a diagonal
    ("bij,bjk->bik", (3, 4), (5, 5)),
    ("bij,cjk->bik", (3, 4), (4, 5)),  # the second's batch summed: every sample reads all
]


@pytest.mark.parametrize(("equation", "a", "b"), EQUATIONS, ids=str)
def test_einsum_reads_the_contractions_torch_runs_sample_by_sample(
    equation: str, a: tuple[int, ...], b: tuple[int, ...]
) -> None:
    args = lookup("einsum").Args(equation)  # type: ignore[union-attr]
    ours = _convprof_shape("einsum", args, (a, b))
    theirs = _torch_shape(lambda x, y: torch.einsum(equation, x, y), (a, b))
    if ours is not None:
        assert ours == theirs
    elif theirs is not None:  # torch runs it; convprof says why it does not count it so
        with pytest.raises(ShapeError, match=r"sum it first|element-wise product|diagonal|the batch must be"):
            lookup("einsum").node_output_shape(args, (a, b))  # type: ignore[union-attr]


ATTENTION = [
    ((3, 5, 4), (3, 6, 4), (3, 6, 4)),
    ((3, 5, 4), (3, 6, 4), (3, 6, 7)),
    ((5, 4), (6, 4), (6, 4)),
    ((3, 5, 4), (3, 6, 5), (3, 6, 4)),
    ((3, 5, 4), (6, 4), (6, 4)),
    ((3, 5, 4), (2, 6, 4), (2, 6, 4)),
]


@pytest.mark.parametrize("shapes", ATTENTION, ids=str)
def test_attention_takes_what_torch_attends_sample_by_sample(shapes: tuple[tuple[int, ...], ...]) -> None:
    args = lookup("scaleddotproductattention").Args()  # type: ignore[union-attr]
    ours = _convprof_shape("scaleddotproductattention", args, shapes)
    assert ours == _torch_shape(F.scaled_dot_product_attention, shapes)


def test_attention_wants_the_heads_of_key_and_value_given_where_torch_broadcasts_them() -> None:
    """Stricter than torch: one key head for three query heads broadcasts in torch's reference
    composition; convprof asks for the heads as the fused kernels take them."""
    shapes = ((3, 5, 4), (1, 6, 4), (1, 6, 4))
    assert _torch_shape(F.scaled_dot_product_attention, shapes) == (3, 5, 4)
    with pytest.raises(ShapeError, match="same dimensions before the last two"):
        lookup("scaleddotproductattention").node_output_shape(
            lookup("scaleddotproductattention").Args(), shapes
        )  # type: ignore[union-attr]


class _Call(nn.Module):
    """A function of the input as a module, for torch's side of a parity check."""

    def __init__(self, function: Callable[[torch.Tensor], torch.Tensor]) -> None:
        super().__init__()
        self.function = function

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.function(x)


SHAPES = [(6,), (6, 5), (6, 5, 4)]
DIMS = [1, 2, -1, 3, 0, [1, 2], [2, 1], [1, 1], [0, 1]]


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("dim", DIMS, ids=str)
@pytest.mark.parametrize("keepdim", [False, True])
@pytest.mark.parametrize("kind", ["sum", "mean", "amax", "amin"])
def test_reductions_match_torch(shape: tuple[int, ...], dim: Any, keepdim: bool, kind: str) -> None:
    dims = tuple(dim) if isinstance(dim, list) else dim

    def reduce(x: torch.Tensor) -> torch.Tensor:
        _per_sample(dims, x)
        result: torch.Tensor = getattr(x, kind)(dims, keepdim=keepdim)
        return result

    check(shape, {kind: {"dim": dim, "keepdim": keepdim}}, lambda s: _Call(reduce))


def _per_sample(dims: Any, x: torch.Tensor) -> None:
    """Raise where torch would reduce across the batch (which it runs, and convprof refuses)."""
    listed = dims if isinstance(dims, tuple | list) else (dims,)
    if any(-x.dim() <= d < x.dim() and d % x.dim() == 0 for d in listed):
        raise RuntimeError("across the batch")


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("dim", [1, 2, -1, 3, 0])
@pytest.mark.parametrize("kind", ["max", "min"])
def test_max_and_min_values_match_torch(shape: tuple[int, ...], dim: int, kind: str) -> None:
    def select(x: torch.Tensor) -> torch.Tensor:
        _per_sample(dim, x)
        values: torch.Tensor = getattr(x, kind)(dim)[0]
        return values

    check(shape, {kind: {"dim": dim}}, lambda s: _Call(select))


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize(
    ("dim", "start", "end", "step"),
    [
        (1, 0, None, 2),
        (2, 1, None, 3),
        (-1, -3, -1, 2),
        (1, 4, 2, 1),
        (1, 7, None, 2),
        (0, 0, None, 2),
        (4, 0, None, 1),
    ],
    ids=str,
)
def test_slices_match_torch(shape: tuple[int, ...], dim: int, start: int, end: int | None, step: int) -> None:
    def cut(x: torch.Tensor) -> torch.Tensor:
        if not -x.dim() <= dim < x.dim() or dim % x.dim() == 0:
            raise IndexError("not a dimension of the sample")
        index = [slice(None)] * (dim % x.dim()) + [slice(start, end, step)]
        return x[tuple(index)]

    check(shape, {"slice": {"dim": dim, "start": start, "end": end, "step": step}}, lambda s: _Call(cut))


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize(("dim", "index"), [(1, 0), (1, -1), (2, 3), (-1, 5), (1, 6), (0, 0)], ids=str)
def test_select_matches_torch(shape: tuple[int, ...], dim: int, index: int) -> None:
    def pick(x: torch.Tensor) -> torch.Tensor:
        if dim % x.dim() == 0:
            raise IndexError("the batch")
        return x.select(dim, index)

    check(shape, {"select": {"dim": dim, "index": index}}, lambda s: _Call(pick))


@pytest.mark.parametrize(
    ("shape", "target"),
    [
        ((1, 5), [4, 5]),
        ((3, 1), [3, 6]),
        ((3, 1), [-1, 6]),
        ((3, 2), [3, 6]),
        ((1,), [4]),
        ((3, 1), [2, 3, 1]),
    ],
    ids=str,
)
def test_expand_matches_torch(shape: tuple[int, ...], target: list[int]) -> None:
    def expand(x: torch.Tensor) -> torch.Tensor:
        if len(target) != x.dim() - 1:
            raise RuntimeError("new leading dimensions: the batch moves")
        return x.expand(x.shape[0], *target)

    check(shape, {"expand": {"shape": target}}, lambda s: _Call(expand))


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("repeats", [[2], [1, 3], [2, 1, 2], [1, 1, 1, 2]], ids=str)
def test_tile_matches_torch(shape: tuple[int, ...], repeats: list[int]) -> None:
    def tile(x: torch.Tensor) -> torch.Tensor:
        if len(repeats) != x.dim() - 1:
            raise RuntimeError("repeats would add dimensions before the batch")
        return x.repeat(1, *repeats)

    check(shape, {"tile": {"repeats": repeats}}, lambda s: _Call(tile))


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize(
    ("shifts", "dims"), [(1, 1), (-2, 2), ([1, 2], [1, 2]), (3, -1), (1, 0), ([1], [1, 2]), (1, 4)], ids=str
)
def test_roll_matches_torch(shape: tuple[int, ...], shifts: Any, dims: Any) -> None:
    def roll(x: torch.Tensor) -> torch.Tensor:
        listed = dims if isinstance(dims, list) else [dims]
        if any(d % x.dim() == 0 for d in listed if -x.dim() <= d < x.dim()):
            raise RuntimeError("rolls the batch")
        return torch.roll(x, shifts, dims)

    check(shape, {"roll": {"shifts": shifts, "dims": dims}}, lambda s: _Call(roll))


@pytest.mark.parametrize(
    "args",
    [
        {"op": "mul", "other": 0.17},
        {"op": "sub", "other": 3, "reverse": True},
        {"op": "pow", "other": 3},
        {"op": "add", "other_shape": [5]},
        {"op": "add", "other_shape": [1, 6, 1]},
        {"op": "mul", "other_shape": [2, 6, 5]},
        {"op": "div", "other_shape": [4, 5]},
        {"op": "add", "other_shape": [3, 1, 1]},
        {"op": "add", "other_shape": [6, 1], "inplace": True},
        {"op": "add", "other_shape": [2, 6, 5], "inplace": True},
    ],
    ids=str,
)
def test_arithmetic_with_constants_matches_torch(args: dict[str, Any]) -> None:
    shape = (6, 5)
    constant = torch.full(args["other_shape"], 2.0) if "other_shape" in args else args["other"]
    operator_ = {"add": torch.add, "sub": torch.sub, "mul": torch.mul, "div": torch.div, "pow": torch.pow}[
        args["op"]
    ]

    def apply(x: torch.Tensor) -> torch.Tensor:
        if isinstance(constant, torch.Tensor) and constant.dim() >= x.dim() and constant.shape[0] != 1:
            raise RuntimeError("the constant would broadcast against the batch")
        if args.get("inplace"):
            return getattr(x, f"{args['op']}_")(constant)
        return operator_(constant, x) if args.get("reverse") else operator_(x, constant)

    check(shape, {"arithmetic": args}, lambda s: _Call(apply))


@pytest.mark.parametrize(("low", "high"), [(0.0, 6.0), (-1.0, None), (None, 1.0), (2.0, 1.0)], ids=str)
def test_clamp_matches_torch(low: float | None, high: float | None) -> None:
    check((6, 5), {"clamp": {"min": low, "max": high}}, lambda s: _Call(lambda x: x.clamp(low, high)))


def test_what_no_spec_should_say_is_refused_at_its_line() -> None:
    refused = [
        ({"clamp": {}}, "give min, max or both"),
        ({"arithmetic": {"op": "mul"}}, "one of the two"),
        ({"arithmetic": {"op": "mul", "other": 2, "other_shape": [1]}}, "one of the two"),
        ({"arithmetic": {"op": "add", "other": 2, "reverse": True}}, "reverse applies to sub, div and pow"),
        ({"arithmetic": {"op": "sub", "other": 2, "reverse": True, "inplace": True}}, "no in-place form"),
        ({"arithmetic": {"op": "add", "other_shape": [2, 6, 5]}}, "against the batch"),
        ({"arithmetic": {"op": "pow", "other_shape": [5]}}, "pow is read with a number"),
        ({"sum": {"dim": 0}}, "mix the samples of the batch"),
        ({"sum": {"dim": [1, -2]}}, "names a dimension twice"),
        ({"einsum": {"from": ["input", "input"], "equation": "bij,bkj->bk"}}, "sum it first"),
        ({"einsum": {"from": ["input", "input"], "equation": "bij;bjk"}}, "expected an einsum equation"),
        ({"stack": {"from": ["input", "input"], "dim": 0}}, "before the batch"),
        ({"tile": {"repeats": [1, 2, 3]}}, "give one per dimension"),
        ({"matmul": {"from": ["input", "input"]}}, "columns"),
    ]
    for layer, message in refused:
        with pytest.raises(SpecError, match=message):
            make_spec((6, 5), [layer], batch_size=BATCH)


# -- the conventions the README states --------------------------------------------------------------

C, H, W = 6, 5, 4


@pytest.mark.parametrize(
    ("layers", "shape", "macs", "ops"),
    [
        ([{"matmul": {"from": ["input", "input"]}}], (C, W, W), C * W * W * W, 0),
        (
            [{"einsum": {"from": ["input", "input"], "equation": "bchw,bcgw->bhg"}}],
            (C, H, W),
            C * H * W * H,
            0,
        ),
        (
            [{"scaleddotproductattention": {"from": ["input", "input", "input"]}}],
            (C, H, W),
            C * H * H * (W + W),
            C * H * H * (1 + 5),
        ),
        (
            [{"scaleddotproductattention": {"from": ["input", "input", "input"], "is_causal": True}}],
            (C, H, W),
            C * H * H * (W + W),
            C * H * H * (1 + 5 + 1),
        ),
        ([{"sub": {"from": ["input", "input"]}}], (C, H, W), 0, C * H * W),
        ([{"div": {"from": ["input", "input"]}}], (C, H, W), 0, C * H * W),
        ([{"arithmetic": {"op": "mul", "other": 0.5}}], (C, H, W), 0, C * H * W),
        ([{"arithmetic": {"op": "add", "other_shape": [1, C, H, W]}}], (1, H, W), 0, C * H * W),
        ([{"sum": {"dim": 1}}], (C, H, W), 0, C * H * W),
        ([{"mean": {"dim": [2, 3]}}], (C, H, W), 0, C * H * W),
        ([{"amax": {"dim": 3, "keepdim": True}}], (C, H, W), 0, C * H * W),
        ([{"max": {"dim": 1}}], (C, H, W), 0, C * H * W),
        ([{"clamp": {"min": 0}}], (C, H, W), 0, C * H * W),
        ([{"stack": {"from": ["input", "input"]}}], (C, H, W), 0, 0),
        ([{"slice": {"dim": 2, "step": 2}}], (C, H, W), 0, 0),
        ([{"select": {"dim": 2, "index": 0}}], (C, H, W), 0, 0),
        ([{"tile": {"repeats": [2, 1, 1]}}], (C, H, W), 0, 0),
        ([{"roll": {"shifts": 1, "dims": 3}}], (C, H, W), 0, 0),
        ([{"expand": {"shape": [C, H, W]}}], (1, H, W), 0, 0),
    ],
    ids=str,
)
def test_macs_and_elementwise_ops_follow_the_stated_conventions(
    layers: list[Any], shape: tuple[int, ...], macs: int, ops: int
) -> None:
    """Products of two activations are MACs (attention's two), everything else element-wise: one op
    per output element of arithmetic, one per input element a reduction reads, attention's scale,
    mask and softmax per score; moving data costs none."""
    counted = analyze(make_spec(shape, layers, batch_size=BATCH)).variant("conv").layers[-1]
    assert (counted.macs, counted.elementwise_ops) == (BATCH * macs, BATCH * ops)


def test_a_constant_tensor_is_held_as_a_buffer_and_not_saved_to_the_state_dict() -> None:
    spec = make_spec(
        (4, 6, 6), [{"arithmetic": {"op": "mul", "other_shape": [1, 4, 1, 1]}}], batch_size=BATCH
    )
    (counted,) = analyze(spec).variant("conv").layers
    assert counted.buffer_bytes == 4 * 4
    model = build_model(spec, "conv")
    assert model.state_dict() == {}
    assert sum(b.numel() for b in model.buffers()) == 4


# -- receptive fields --------------------------------------------------------------------------------


def _fields(shape: tuple[int, ...], layers: list[Any]) -> list[tuple[int, ...] | None]:
    return [layer.receptive_field for layer in analyze(make_spec(shape, layers)).variant("conv").layers]


def test_receptive_fields_through_indexing_reductions_and_products() -> None:
    conv = {"conv2d": {"out_channels": 4, "kernel_size": 3, "padding": 1}}
    # Every second column: units 2 apart, the next conv's window twice as wide on the input.
    assert _fields((2, 8, 8), [conv, {"slice": {"dim": 3, "step": 2}}, conv]) == [(3, 3), (3, 3), (5, 7)]
    # A channel picked, a reduction over channels, a stack along a new leading dimension: same field.
    assert _fields((2, 8, 8), [conv, {"select": {"dim": 1, "index": 0}}]) == [(3, 3), (3, 3)]
    assert _fields((2, 8, 8), [conv, {"sum": {"dim": 1, "keepdim": True}}, conv]) == [(3, 3), (3, 3), (5, 5)]
    assert _fields((2, 8, 8), [conv, {"stack": {"from": ["conv2d_1", "conv2d_1"]}}]) == [(3, 3), (3, 3)]
    # A row picked or positions reduced: no box any more; a product of activations: the whole input.
    assert _fields((2, 8, 8), [conv, {"select": {"dim": 2, "index": 0}}]) == [(3, 3), None]
    assert _fields((2, 8, 8), [conv, {"amax": {"dim": 3}}]) == [(3, 3), None]
    assert _fields((2, 8, 8), [conv, {"matmul": {"from": ["conv2d_1", "conv2d_1"]}}]) == [(3, 3), None]
    assert _fields(
        (2, 8, 8), [conv, {"arithmetic": {"op": "mul", "other": 2}}, {"roll": {"shifts": 1, "dims": 2}}]
    ) == [
        (3, 3),
        (3, 3),
        (3, 3),
    ]


# -- readers: what models call, as the importer hands it to each kind --------------------------------


def _read(
    target: str,
    args: tuple[Any, ...],
    shapes: tuple[tuple[int, ...], ...],
    output: tuple[int, ...],
    **kwargs: Any,
) -> list[tuple[str, Any]] | None:
    """Return (kind, arguments) of each node the first kind that reads the call makes, or None."""
    from convprof.importing.tables import call_table

    item = kwargs.pop("_item", None)
    call = TorchCall(target, args, kwargs, shapes, output, item=item)
    for kind in call_table().get(target, ()):
        steps = kind.from_call(call)
        if steps is not None:
            return [(step.name, step_args) for step, step_args in steps]
    return None


def _args(kind: str, *values: Any) -> Any:
    found = lookup(kind)
    assert found is not None
    return found.Args(*values)


def test_arithmetic_is_read_from_every_operator_form_with_numbers_and_constant_tensors() -> None:
    shape = ((4, 6),)
    mul = [("Arithmetic", _args("arithmetic", "mul", 0.5))]
    assert _read("operator.mul", (TENSOR, 0.5), shape, (4, 6)) == mul
    assert _read("operator.mul", (0.5, TENSOR), shape, (4, 6)) == mul  # 0.5 * x under torch.fx
    assert _read("Tensor.mul", (TENSOR, 0.5), shape, (4, 6)) == mul  # 0.5 * x when running
    assert _read("Tensor.mul_", (TENSOR, 2), shape, (4, 6)) == [
        ("Arithmetic", _args("arithmetic", "mul", 2.0, None, False, True))
    ]
    # `1 - x` and `x.__rsub__(1)` both reach the readers as operator.sub(1, x) (the importer names a
    # reflected operator by the operator it applies); torch.rsub(x, 1) is 1 - x too.
    rsub = [("Arithmetic", _args("arithmetic", "sub", 1.0, None, True))]
    assert _read("operator.sub", (1, TENSOR), shape, (4, 6)) == rsub
    assert _read("torch.rsub", (TENSOR, 1), shape, (4, 6)) == rsub
    assert _read("operator.truediv", (2.0, TENSOR), shape, (4, 6)) == [
        ("Arithmetic", _args("arithmetic", "div", 2.0, None, True))
    ]
    assert _read("torch.pow", (TENSOR, 2), shape, (4, 6)) == [("Arithmetic", _args("arithmetic", "pow", 2.0))]
    # YOLO's anchors: a constant tensor made while running, minus a piece of the head's output.
    anchors = Constant((1, 4, 6))
    rsub = [("Arithmetic", _args("arithmetic", "sub", None, (1, 4, 6), True))]
    assert _read("operator.sub", (anchors, TENSOR), shape, (4, 6)) == rsub
    assert _read("Tensor.sub", (anchors, TENSOR), shape, (4, 6)) == rsub  # the constant's method, running
    assert _read("Tensor.mul", (TENSOR, Constant((1, 6))), shape, (4, 6)) == [
        ("Arithmetic", _args("arithmetic", "mul", None, (1, 6)))
    ]
    # Not this kind: torch.add's alpha, floor division, a parameter (a layer's), two activations.
    assert _read("torch.add", (TENSOR, 1), shape, (4, 6), alpha=2) is None
    assert _read("torch.div", (TENSOR, 2), shape, (4, 6), rounding_mode="floor") is None
    assert _read("Tensor.add", (TENSOR, PARAMETER), shape, (4, 6)) is None
    assert _read("operator.sub", (TENSOR, TENSOR), shape * 2, (4, 6)) == [("Sub", _args("sub"))]
    assert _read("operator.truediv", (TENSOR, TENSOR), shape * 2, (4, 6)) == [("Div", _args("div"))]


def test_softmax_is_read_in_every_form_and_not_in_another_dtype() -> None:
    shape = ((4, 6),)
    for target, args, kwargs in [
        ("torch.nn.functional.softmax", (TENSOR,), {"dim": -1, "_stacklevel": 3, "dtype": None}),
        ("torch.nn.functional.softmax", (TENSOR, -1), {}),
        ("torch.softmax", (TENSOR, -1), {}),
        ("Tensor.softmax", (TENSOR, -1), {}),
    ]:
        assert _read(target, args, shape, (4, 6), **kwargs) == [("Softmax", _args("softmax", -1))]
    assert _read("Tensor.log_softmax", (TENSOR, 1), shape, (4, 6)) == [("LogSoftmax", _args("logsoftmax", 1))]
    assert _read("torch.nn.functional.log_softmax", (TENSOR,), shape, (4, 6), dim=2) == [
        ("LogSoftmax", _args("logsoftmax", 2))
    ]
    assert _read("Tensor.softmax", (TENSOR, -1), shape, (4, 6), dtype=torch.float64) is None


def test_reductions_are_read_with_their_dimensions_and_a_stack_summed_over_its_new_dimension_is_an_add() -> (
    None
):
    shape = ((2, 4, 6),)
    assert _read("Tensor.sum", (TENSOR, 1), shape, (4, 6)) == [("Sum", _args("sum", 1, False))]
    assert _read("torch.mean", (TENSOR, (1, 3), True), shape, (1, 4, 1)) == [
        ("Mean", _args("mean", (1, 3), True))
    ]
    assert _read("Tensor.amax", (TENSOR,), shape, (2, 6), dim=-2) == [("Amax", _args("amax", -2, False))]
    assert _read("Tensor.sum", (TENSOR,), shape, ()) is None  # the whole tensor, batch included
    assert _read("Tensor.sum", (TENSOR, 1), shape, (4, 6), dtype=torch.float64) is None
    # x.max(1): the values (the first tensor of the pair), not the indices.
    assert _read("Tensor.max", (TENSOR, 1), shape, (4, 6), _item=0) == [("Max", _args("max", 1, False))]
    assert _read("Tensor.max", (TENSOR, 1), shape, (4, 6), _item=1) is None
    assert _read("torch.min", (TENSOR, 2, True), shape, (2, 1, 6), _item=0) == [
        ("Min", _args("min", 2, True))
    ]
    # smp's FPN: torch.stack(xs).sum(0), the importer handing the stacked tensors to the reduction.
    four = ((3, 8, 8),) * 4
    assert _read("Tensor.sum", ([TENSOR] * 4, 0), four, (3, 8, 8)) == [("Add", _args("add"))]
    assert _read("torch.mean", ([TENSOR] * 4,), four, (3, 8, 8), dim=0) == [
        ("Add", _args("add")),
        ("Arithmetic", _args("arithmetic", "div", 4.0)),
    ]
    assert _read("Tensor.sum", ([TENSOR], 0), ((3, 8, 8),), (3, 8, 8)) == []  # the one tensor itself
    assert _read("torch.stack", ([TENSOR, TENSOR], 1), ((3, 8),) * 2, (2, 3, 8)) == [
        ("Stack", _args("stack", 1))
    ]


def test_indexing_is_read_as_narrows_slices_selects_and_new_dimensions() -> None:
    shape = ((8, 6, 5),)
    full = slice(None)
    # GhostNet's x[:, :8] of 8 channels: the input itself, no node
    assert _read("operator.getitem", (TENSOR, (full, slice(None, 8))), shape, (8, 6, 5)) == []
    assert _read(
        "operator.getitem", (TENSOR, (full, slice(None, None, 2), slice(None, None, 2))), shape, (4, 3, 5)
    ) == [
        ("Slice", _args("slice", 1, 0, 8, 2)),
        ("Slice", _args("slice", 2, 0, 6, 2)),
    ]
    assert _read("operator.getitem", (TENSOR, (full, 0)), shape, (6, 5)) == [
        ("Select", _args("select", 1, 0))
    ]
    assert _read("operator.getitem", (TENSOR, (Ellipsis, slice(1, 3))), shape, (8, 6, 2)) == [
        ("Narrow", _args("narrow", 3, 1, 2))
    ]
    assert _read("operator.getitem", (TENSOR, (full, -1, None, slice(1, None))), shape, (1, 5, 5)) == [
        ("Select", _args("select", 1, -1)),
        ("Reshape", _args("reshape", (1, 6, 5))),
        ("Narrow", _args("narrow", 2, 1, 5)),
    ]
    assert _read("operator.getitem", (TENSOR, 0), shape, (6, 5)) is None  # a sample of the batch
    assert _read("operator.getitem", (TENSOR, (full, [0, 1])), shape, (2, 6, 5)) is None  # a list
    assert _read("torch.select", (TENSOR, 2, 1), shape, (8, 5)) == [("Select", _args("select", 2, 1))]


def test_expand_tile_roll_split_and_clamp_are_read() -> None:
    shape = ((8, 1, 5),)
    assert _read("Tensor.expand", (TENSOR, TRACED, -1, 6, 5), shape, (8, 6, 5)) == [
        ("Expand", _args("expand", (-1, 6, 5)))
    ]
    assert _read("Tensor.expand", (TENSOR, 2, 8, 6, 5), shape, (8, 6, 5)) is None  # a literal batch
    assert _read("Tensor.expand_as", (TENSOR, TENSOR), (*shape, (8, 6, 5)), (8, 6, 5)) == [
        ("Expand", _args("expand", (8, 6, 5)))
    ]
    assert _read("Tensor.repeat", (TENSOR, 1, 1, 2, 1), shape, (8, 2, 5)) == [
        ("Tile", _args("tile", (1, 2, 1)))
    ]
    assert _read("Tensor.repeat", (TENSOR, 2, 1, 1, 1), shape, (8, 1, 5)) is None  # the batch repeated
    assert _read("torch.roll", (TENSOR, (1, 2), (2, 3)), shape, (8, 1, 5)) == [
        ("Roll", _args("roll", (1, 2), (2, 3)))
    ]
    assert _read("torch.roll", (TENSOR, 1), shape, (8, 1, 5)) is None  # flattened: the batch too
    # YOLO's head: box, cls = x.split((64, 80), 1); tensor_split in three sections.
    split = _read("Tensor.split", (TENSOR, (3, 5), 1), ((8, 7),), (5, 7), _item=1)
    assert split == [("Narrow", _args("narrow", 1, 3, 5))]
    pieces = [_read("torch.tensor_split", (TENSOR, 3, 1), ((8, 7),), (3, 7), _item=i) for i in range(3)]
    assert pieces == [
        [("Narrow", _args("narrow", 1, start, length))] for start, length in ((0, 3), (3, 3), (6, 2))
    ]
    assert _read("Tensor.clamp", (TENSOR,), shape, (8, 1, 5), min=0) == [("Clamp", _args("clamp", 0.0, None))]
    assert _read("torch.clamp_max", (TENSOR, 6), shape, (8, 1, 5)) == [("Clamp", _args("clamp", None, 6.0))]


def test_products_are_read_from_two_activations_only() -> None:
    two = ((3, 5, 4), (3, 4, 6))
    assert _read("operator.matmul", (TENSOR, TENSOR), two, (3, 5, 6)) == [("MatMul", _args("matmul"))]
    assert _read("torch.bmm", (TENSOR, TENSOR), ((5, 4), (4, 6)), (5, 6)) == [("MatMul", _args("matmul"))]
    assert _read("torch.bmm", (TENSOR, TENSOR), two, (3, 5, 6)) is None  # bmm takes 3-D tensors only
    assert _read("torch.matmul", (TENSOR, PARAMETER), ((3, 5, 4),), (3, 5, 6)) is None
    assert _read("torch.einsum", ("bhqd,bhkd->bhqk", TENSOR, TENSOR), ((3, 5, 4), (3, 6, 4)), (3, 5, 6)) == [
        ("Einsum", _args("einsum", "bhqd,bhkd->bhqk"))
    ]
    assert _read(
        "torch.einsum", ("bhqd,bhkd->bhqk", [TENSOR, TENSOR]), ((3, 5, 4), (3, 6, 4)), (3, 5, 6)
    ) == [("Einsum", _args("einsum", "bhqd,bhkd->bhqk"))]
    assert _read("torch.einsum", ("oc,ncl->nol", PARAMETER, TENSOR), ((8, 16),), (8, 16)) is None
    three = ((3, 5, 4),) * 3
    target = "torch.nn.functional.scaled_dot_product_attention"
    assert _read(target, (TENSOR, TENSOR, TENSOR), three, (3, 5, 4), is_causal=True) == [
        ("ScaledDotProductAttention", _args("scaleddotproductattention", True, None))
    ]
    assert _read(target, (TENSOR, TENSOR, TENSOR), three, (3, 5, 4), dropout_p=0.1) is None  # active dropout
    assert _read(target, (TENSOR, TENSOR, TENSOR, TENSOR), (*three, (5, 5)), (3, 5, 4)) is None  # a mask


class ZooOps(nn.Module):
    """What third-party models call between their layers, written as they write it."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1)
        self.left = nn.Conv2d(8, 8, 3, padding=1)
        self.right = nn.Conv2d(8, 8, 1)
        self.head = nn.Linear(8, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        x = x[:, :8]  # the identity (GhostNet)
        branches = torch.stack([self.left(x), self.right(x)], dim=1)  # SKNet
        gate = torch.softmax(branches.mean((3, 4), keepdim=True), dim=1)
        x = (branches * gate).sum(dim=1)
        x = x - F.avg_pool2d(x, 3, 1, 1)  # PoolFormer
        x = x * 0.17 + 1  # Inception-ResNet's residual scale
        x = 2 - x.sigmoid()
        x = x / 2
        x = x.clamp(0, 6)
        t = x.flatten(2)  # 8 tokens of 64 features
        scores = (t @ t.transpose(1, 2)) * 0.125
        t = scores.softmax(dim=-1) @ t
        t = t + torch.einsum("bcn,bdn->bcd", t, t) @ t
        q = t.view(t.size(0), 2, 4, 64)
        t = F.scaled_dot_product_attention(q, q, q).reshape(t.size(0), 8, 64)
        t = torch.roll(t, 1, 2) + t[:, :, ::2].repeat(1, 1, 2)
        y = t.amax(-1, keepdim=True).expand_as(t) + t.max(dim=2)[0].unsqueeze(-1)
        y = F.log_softmax(y[..., 0], dim=1)
        return self.head(y)


def _torch_counts(model: nn.Module, shape: tuple[int, ...]) -> tuple[int, int, tuple[int, ...]]:
    """Return parameters, FlopCounterMode's FLOPs on meta and the output shape of `model` (tensors
    its forward makes are made on meta too)."""
    meta = copy.deepcopy(model).to("meta").eval()
    with torch.device("meta"), FlopCounterMode(display=False) as counter:
        y = meta(torch.empty((1, *shape), device="meta"))
    return sum(p.numel() for p in model.parameters()), counter.get_total_flops(), tuple(y.shape[1:])


def test_a_model_calling_every_new_form_imports_with_torchs_counts_and_outputs() -> None:
    torch.manual_seed(0)
    model = ZooOps().eval()
    shape = (3, 8, 8)
    params, flops, output = _torch_counts(model, shape)
    spec = import_module(model, shape).spec
    conv = analyze(spec).variant("conv")
    assert (conv.params, conv.flops, spec.output) == (params, flops, output)
    kinds = {node.kind for node in spec.nodes}
    # x[:, :8] of 8 channels is the stem's output itself: no node, both branches read the stem.
    assert [spec.nodes[i].path for i in spec.nodes[1].inputs] == ["stem"]
    assert kinds >= {
        "Stack",
        "Mean",
        "Softmax",
        "Sum",
        "Sub",
        "Arithmetic",
        "Sigmoid",
        "Clamp",
        "MatMul",
        "Einsum",
        "ScaledDotProductAttention",
        "Roll",
        "Slice",
        "Tile",
        "Amax",
        "Expand",
        "Max",
        "Select",
        "LogSoftmax",
    }
    rebuilt = build_model(spec, "conv")
    missing, unexpected = rebuilt.load_state_dict(model.state_dict(), strict=False)
    assert (missing, unexpected) == ([], [])
    x = torch.randn(2, *shape)
    with torch.no_grad():
        torch.testing.assert_close(rebuilt(x), model(x), atol=1e-5, rtol=1e-5)


class Anchored(nn.Module):
    """A constant made in forward from a shape (no tensor of the graph flows in), then read with the
    input: what YOLO does with its anchors."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.ones(x.shape[-1]) - x


def test_a_constant_made_in_forward_is_read_with_its_shape_and_never_as_an_input() -> None:
    # Under torch.fx such a constant had no place in the graph and the import listed it; running the
    # model, it is a Constant: the arithmetic keeps its shape, and its elements are that layer's
    # buffer (memory), not parameters and not an input.
    model = Anchored()
    spec = import_module(model, (4, 6)).spec
    ((node),) = spec.nodes
    assert (node.kind, node.args) == ("Arithmetic", _args("arithmetic", "sub", None, (6,), True))
    conv = analyze(spec).variant("conv")
    params, flops, output = _torch_counts(model, (4, 6))
    assert (conv.params, conv.flops, spec.output) == (params, flops, output) == (0, 0, (4, 6))
    assert conv.layers[0].buffer_bytes == 6 * 4  # six float32 values
    x = torch.randn(2, 4, 6)
    torch.testing.assert_close(build_model(spec, "conv")(x), model(x))


def test_attentions_training_footprint_on_cuda_is_a_lower_bound_until_measured_there() -> None:
    from convprof.graph.training import training_cost

    spec = make_spec(
        (3, 5, 4),
        [
            {"conv2d": {"out_channels": 3, "kernel_size": 1, "name": "q"}},
            {"scaleddotproductattention": {"from": ["q", "q", "q"]}},
        ],
        batch_size=BATCH,
    )
    cpu, cuda = training_cost(spec, "sgd", "cpu"), training_cost(spec, "sgd", "cuda")
    assert cpu.saved_bytes[-1] is not None
    assert cuda.saved_bytes[-1] is None  # unknown, and every total over it a lower bound
