"""The tensor ops of tests/test_oracle_tensor_ops.py's readers, written as models write them and read
by running the model (convprof.importing.import_module), not handed to a kind's reader by hand.

Each model's import is checked against torch: its parameters are sum(p.numel()), its FLOPs
FlopCounterMode's on meta, its output shape torch's; then its nodes' kinds and arguments are the
ones the reader tests expect. What no kind reads is listed by name, never counted as zero.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from convprof.graph.build import build_model
from convprof.importing import ModelImportError, import_module
from convprof.kinds import lookup
from convprof.report.analyze import analyze

Shape = tuple[int, ...]


class Forward(nn.Module):
    """A model whose forward is `fn(self, *inputs)`, holding the given layers and parameters."""

    def __init__(self, fn: Callable[..., Any], **parts: nn.Module | nn.Parameter) -> None:
        super().__init__()
        self.fn = fn
        for name, part in parts.items():
            setattr(self, name, part)

    def forward(self, *inputs: torch.Tensor) -> Any:
        return self.fn(self, *inputs)


def _torch_counts(model: nn.Module, shapes: tuple[Shape, ...]) -> tuple[int, int, Shape]:
    """Return parameters, FlopCounterMode's FLOPs on meta and the output's per-sample shape."""
    meta = copy.deepcopy(model).to("meta").eval()
    with torch.device("meta"), FlopCounterMode(display=False) as counter:
        y = meta(*(torch.empty((1, *shape)) for shape in shapes))
    return sum(p.numel() for p in model.parameters()), counter.get_total_flops(), tuple(y.shape[1:])


def _nodes(
    fn: Callable[..., Any], *shapes: Shape, **parts: nn.Module | nn.Parameter
) -> list[tuple[str, Any]]:
    """Import a model whose forward is `fn`; check its counts against torch's and return (kind,
    arguments) of each node that is not one of `parts` (the layers around the op)."""
    torch.manual_seed(0)
    model = Forward(fn, **parts).eval()
    spec = import_module(model, list(shapes)).spec
    conv = analyze(spec).variant("conv")
    assert (conv.params, conv.flops, spec.output) == _torch_counts(model, shapes)
    return [(node.kind, node.args) for node in spec.nodes if node.path.split(".")[0] not in parts]


def _listed(fn: Callable[..., Any], *shapes: Shape, **parts: nn.Module | nn.Parameter) -> str:
    """Return the one line an import of a model whose forward is `fn` ends with."""
    with pytest.raises(ModelImportError) as caught:
        import_module(Forward(fn, **parts).eval(), list(shapes))
    return str(caught.value)


def _args(kind: str, *values: Any) -> Any:
    found = lookup(kind)
    assert found is not None
    return found.Args(*values)


# -- arithmetic: a tensor and a number or a constant tensor, either order ------------------------------


@pytest.mark.parametrize(
    "fn",
    [
        lambda m, x: x * 0.5,
        lambda m, x: 0.5 * x,  # Tensor.__rmul__: mul commutes, the importer reads it as x * 0.5
        lambda m, x: x.mul(0.5),
        lambda m, x: torch.mul(x, 0.5),
    ],
)
def test_a_product_with_a_number_is_arithmetic_in_every_form(fn: Callable[..., Any]) -> None:
    assert _nodes(fn, (4, 6)) == [("Arithmetic", _args("arithmetic", "mul", 0.5))]


def test_in_place_arithmetic_overwrites_the_activation() -> None:
    nodes = _nodes(lambda m, x: F.relu(x).mul_(2), (4, 6))
    assert nodes[1] == ("Arithmetic", _args("arithmetic", "mul", 2.0, None, False, True))
    nodes = _nodes(lambda m, x: F.relu(x).__iadd__(1), (4, 6))
    assert nodes[1] == ("Arithmetic", _args("arithmetic", "add", 1.0, None, False, True))


@pytest.mark.parametrize(
    ("fn", "op", "number"),
    [
        (lambda m, x: 1 - x, "sub", 1.0),
        (lambda m, x: x.__rsub__(1), "sub", 1.0),  # what `1 - x` calls: the same node
        (lambda m, x: torch.rsub(x, 1), "sub", 1.0),
        (lambda m, x: 2.0 / x, "div", 2.0),
        (lambda m, x: x.__rtruediv__(2.0), "div", 2.0),
        (lambda m, x: 2**x, "pow", 2.0),
    ],
)
def test_a_number_on_the_left_is_read_in_its_order(fn: Callable[..., Any], op: str, number: float) -> None:
    assert _nodes(fn, (4, 6)) == [("Arithmetic", _args("arithmetic", op, number, None, True))]


def test_a_power_of_the_input_is_arithmetic() -> None:
    assert _nodes(lambda m, x: torch.pow(x, 2), (4, 6)) == [("Arithmetic", _args("arithmetic", "pow", 2.0))]
    assert _nodes(lambda m, x: x**2, (4, 6)) == [("Arithmetic", _args("arithmetic", "pow", 2.0))]


@pytest.mark.parametrize(
    "fn",
    [
        lambda m, x: torch.ones(1, 4, 6) - x,  # YOLO's `anchors - lt`
        lambda m, x: torch.ones(1, 4, 6).sub(x),  # the constant's own method
    ],
)
def test_a_constant_tensor_made_while_running_is_read_with_its_shape(fn: Callable[..., Any]) -> None:
    assert _nodes(fn, (4, 6)) == [("Arithmetic", _args("arithmetic", "sub", None, (1, 4, 6), True))]


def test_a_product_with_a_constant_tensor_keeps_its_shape() -> None:
    nodes = _nodes(lambda m, x: x * torch.arange(6.0).view(1, 6), (4, 6))
    assert nodes == [("Arithmetic", _args("arithmetic", "mul", None, (1, 6)))]


@pytest.mark.parametrize(
    ("fn", "op"),
    [
        (lambda m, x: torch.add(x, 1, alpha=2), "torch.add"),
        (lambda m, x: torch.div(x, 2, rounding_mode="floor"), "torch.div"),
    ],
)
def test_arithmetic_with_settings_no_kind_says_is_listed(fn: Callable[..., Any], op: str) -> None:
    assert f"1 x {op} at <top>" in _listed(fn, (4, 6))


def test_a_difference_and_a_quotient_of_two_activations_are_sub_and_div() -> None:
    assert _nodes(lambda m, x, y: x - y, (4, 6), (4, 6)) == [("Sub", _args("sub"))]
    assert _nodes(lambda m, x, y: x / y, (4, 6), (4, 6)) == [("Div", _args("div"))]
    assert _nodes(lambda m, x, y: torch.sub(x, y), (4, 6), (4, 6)) == [("Sub", _args("sub"))]


# -- softmax ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "fn",
    [
        lambda m, x: F.softmax(x, dim=-1),
        lambda m, x: F.softmax(x, -1),
        lambda m, x: torch.softmax(x, -1),
        lambda m, x: x.softmax(-1),
    ],
)
def test_softmax_is_read_in_every_form(fn: Callable[..., Any]) -> None:
    assert _nodes(fn, (4, 6)) == [("Softmax", _args("softmax", -1))]


def test_softmax2d_is_a_softmax_over_the_channels() -> None:
    # pytorchcv's SINet decodes with nn.Softmax2d: F.softmax over dimension -3.
    assert _nodes(lambda m, x: m.sm(x), (4, 6, 6), sm=nn.Softmax2d()) == []
    spec = import_module(Forward(lambda m, x: m.sm(x), sm=nn.Softmax2d()).eval(), [(4, 6, 6)]).spec
    assert [(node.kind, node.args) for node in spec.nodes] == [("Softmax", _args("softmax", -3))]
    model = build_model(spec, "conv")
    x = torch.randn(2, 4, 6, 6)
    assert torch.allclose(model(x), nn.Softmax2d()(x))


def test_functional_local_response_norm_is_the_layer() -> None:
    # pytorchcv's AlexNet and ZFNet normalise with F.local_response_norm, as the module does inside.
    assert _nodes(lambda m, x: F.local_response_norm(x, 5), (8, 6, 6)) == [
        ("LocalResponseNorm", _args("localresponsenorm", 5, 1e-4, 0.75, 1.0))
    ]
    assert _nodes(lambda m, x: F.local_response_norm(x, 3, alpha=2e-5, beta=0.5, k=2), (8, 6, 6)) == [
        ("LocalResponseNorm", _args("localresponsenorm", 3, 2e-5, 0.5, 2.0))
    ]
    assert "torch.nn.functional.local_response_norm" in _listed(
        lambda m, x: F.local_response_norm(x, 3, alpha=True), (8, 6, 6)
    )


def test_log_softmax_is_read_in_every_form_and_another_dtype_is_listed() -> None:
    assert _nodes(lambda m, x: x.log_softmax(1), (4, 6)) == [("LogSoftmax", _args("logsoftmax", 1))]
    assert _nodes(lambda m, x: F.log_softmax(x, dim=2), (4, 6)) == [("LogSoftmax", _args("logsoftmax", 2))]
    assert "Tensor.softmax" in _listed(lambda m, x: x.softmax(-1, dtype=torch.float64), (4, 6))


# -- reductions and stacks -------------------------------------------------------------------------


def test_reductions_are_read_with_their_dimensions() -> None:
    assert _nodes(lambda m, x: x.sum(1), (2, 4, 6)) == [("Sum", _args("sum", 1, False))]
    assert _nodes(lambda m, x: torch.mean(x, (1, 3), True), (2, 4, 6)) == [
        ("Mean", _args("mean", (1, 3), True))
    ]
    assert _nodes(lambda m, x: x.amax(dim=-2), (2, 4, 6)) == [("Amax", _args("amax", -2, False))]
    assert _nodes(lambda m, x: torch.amin(x, 1), (2, 4, 6)) == [("Amin", _args("amin", 1, False))]


def test_a_reduction_over_the_batch_or_in_another_dtype_is_listed() -> None:
    assert "Tensor.sum (changes the batch dimension)" in _listed(lambda m, x: x.sum(), (2, 4, 6))
    assert "1 x Tensor.sum at <top>" in _listed(lambda m, x: x.sum(1, dtype=torch.float64), (2, 4, 6))


@pytest.mark.parametrize(
    ("fn", "kind", "dim", "keepdim"),
    [
        (lambda m, x: x.max(1)[0], "Max", 1, False),  # the values: the first of the pair
        (lambda m, x: x.max(dim=1).values, "Max", 1, False),
        (lambda m, x: torch.min(x, 2, True)[0], "Min", 2, True),
    ],
)
def test_the_values_of_max_and_min_over_a_dimension_are_read(
    fn: Callable[..., Any], kind: str, dim: int, keepdim: bool
) -> None:
    assert _nodes(fn, (2, 4, 6)) == [(kind, _args(kind, dim, keepdim))]


def test_the_indices_of_max_are_listed() -> None:
    message = _listed(lambda m, x: x.max(1)[1].float(), (2, 4, 6))
    assert "1 x Tensor.max" in message


def test_a_stack_summed_over_its_new_dimension_is_an_add_and_a_mean_divides_it() -> None:
    # smp's FPN: torch.stack(xs).sum(0) over the pyramid's upsampled levels.
    four = ((3, 8, 8),) * 4
    assert _nodes(lambda m, *xs: torch.stack(xs).sum(0), *four) == [("Add", _args("add"))]
    assert _nodes(lambda m, *xs: torch.mean(torch.stack(xs), dim=0), *four) == [
        ("Add", _args("add")),
        ("Arithmetic", _args("arithmetic", "div", 4.0)),
    ]
    # Two tensors stacked along dim 0 make a first dimension as long as the batch: still a stack.
    assert _nodes(lambda m, x, y: torch.stack([x, y]).sum(0), (3, 8), (3, 8)) == [("Add", _args("add"))]


def test_a_stack_of_one_summed_again_is_that_tensor() -> None:
    assert _nodes(lambda m, x: torch.stack([F.relu(x)]).sum(0) * 2, (3, 8)) == [
        ("ReLU", _args("relu")),
        ("Arithmetic", _args("arithmetic", "mul", 2.0)),
    ]


def test_a_stack_used_otherwise_is_listed_at_the_stack() -> None:
    message = _listed(lambda m, x, y: torch.stack([x, y])[0], (3, 8), (3, 8))
    assert "1 x torch.stack (changes the batch dimension) at <top>" in message


def test_a_stack_along_another_dimension_is_a_stack() -> None:
    assert _nodes(lambda m, x, y: torch.stack([x, y], 1), (3, 8), (3, 8)) == [("Stack", _args("stack", 1))]
    assert _nodes(lambda m, x, y: torch.stack((x, y), dim=-1), (3, 8), (3, 8)) == [
        ("Stack", _args("stack", -1))
    ]


# -- indexing --------------------------------------------------------------------------------------


def test_an_index_that_keeps_everything_is_no_node() -> None:
    # GhostNet's `x[:, :8]` of 8 channels: the convolution's output itself.
    nodes = _nodes(lambda m, x: m.conv(x)[:, :8].relu(), (3, 6, 5), conv=nn.Conv2d(3, 8, 1))
    assert nodes == [("ReLU", _args("relu"))]


@pytest.mark.parametrize(
    ("fn", "expected"),
    [
        (lambda m, x: x[:, ::2, ::2], [("Slice", ("slice", 1, 0, 8, 2)), ("Slice", ("slice", 2, 0, 6, 2))]),
        (lambda m, x: x[:, 0], [("Select", ("select", 1, 0))]),
        (lambda m, x: x[..., 1:3], [("Narrow", ("narrow", 3, 1, 2))]),
        (
            lambda m, x: x[:, -1, None, 1:],
            [
                ("Select", ("select", 1, -1)),
                ("Reshape", ("reshape", (1, 6, 5))),
                ("Narrow", ("narrow", 2, 1, 5)),
            ],
        ),
        (lambda m, x: torch.select(x, 2, 1), [("Select", ("select", 2, 1))]),
    ],
)
def test_indexing_is_read_as_narrows_slices_selects_and_new_dimensions(
    fn: Callable[..., Any], expected: list[tuple[str, tuple[Any, ...]]]
) -> None:
    assert _nodes(fn, (8, 6, 5)) == [(kind, _args(*args)) for kind, args in expected]


def test_an_index_into_the_batch_or_by_a_list_is_listed() -> None:
    assert "operator.getitem (changes the batch dimension)" in _listed(lambda m, x: x[0], (8, 6, 5))
    assert "1 x operator.getitem at <top>" in _listed(lambda m, x: x[:, [0, 1]], (8, 6, 5))


# -- expand, tile, roll, pieces, clamp ------------------------------------------------------------


def test_expand_keeps_the_batch_read_from_the_input() -> None:
    assert _nodes(lambda m, x: x.expand(x.size(0), -1, 6, 5), (8, 1, 5)) == [
        ("Expand", _args("expand", (-1, 6, 5)))
    ]
    assert _nodes(lambda m, x: x.expand(x.shape[0], 8, 6, 5), (8, 1, 5)) == [
        ("Expand", _args("expand", (8, 6, 5)))
    ]
    assert "1 x Tensor.expand at <top>" in _listed(lambda m, x: x.expand(2, 8, 6, 5), (8, 1, 5))


def test_expand_as_reads_the_other_tensor_for_its_shape() -> None:
    nodes = _nodes(lambda m, x, y: x.expand_as(y) + y, (8, 1, 5), (8, 6, 5))
    assert nodes[0] == ("Expand", _args("expand", (8, 6, 5)))


def test_repeat_and_roll_with_named_dimensions_are_read() -> None:
    assert _nodes(lambda m, x: x.repeat(1, 1, 2, 1), (8, 1, 5)) == [("Tile", _args("tile", (1, 2, 1)))]
    assert "Tensor.repeat" in _listed(lambda m, x: x.repeat(2, 1, 1, 1), (8, 1, 5))
    assert _nodes(lambda m, x: torch.roll(x, (1, 2), (2, 3)), (8, 1, 5)) == [
        ("Roll", _args("roll", (1, 2), (2, 3)))
    ]
    assert "1 x torch.roll at <top>" in _listed(lambda m, x: torch.roll(x, 1), (8, 1, 5))


def test_the_pieces_of_split_and_tensor_split_are_narrows() -> None:
    # YOLO's head: box, cls = x.split((64, 80), 1).
    assert _nodes(lambda m, x: x.split((3, 5), 1)[1], (8, 7)) == [("Narrow", _args("narrow", 1, 3, 5))]
    nodes = _nodes(lambda m, x: torch.cat(torch.tensor_split(x, 3, 1)[::-1], 1), (8, 7))
    assert nodes[:3] == [
        ("Narrow", _args("narrow", 1, start, length)) for start, length in ((6, 2), (3, 3), (0, 3))
    ]


def test_clamp_with_numbers_is_read() -> None:
    assert _nodes(lambda m, x: x.clamp(min=0), (8, 1, 5)) == [("Clamp", _args("clamp", 0.0, None))]
    assert _nodes(lambda m, x: torch.clamp_max(x, 6), (8, 1, 5)) == [("Clamp", _args("clamp", None, 6.0))]
    assert _nodes(lambda m, x: x.clamp(0, 6), (8, 1, 5)) == [("Clamp", _args("clamp", 0.0, 6.0))]


# -- products --------------------------------------------------------------------------------------


def test_products_of_two_activations_are_matmuls_and_einsums() -> None:
    two = ((3, 5, 4), (3, 4, 6))
    assert _nodes(lambda m, a, b: a @ b, *two) == [("MatMul", _args("matmul"))]
    assert _nodes(lambda m, a, b: torch.matmul(a, b), *two) == [("MatMul", _args("matmul"))]
    assert _nodes(lambda m, a, b: torch.bmm(a, b), (5, 4), (4, 6)) == [("MatMul", _args("matmul"))]
    both = ((3, 5, 4), (3, 6, 4))
    einsum = [("Einsum", _args("einsum", "bhqd,bhkd->bhqk"))]
    assert _nodes(lambda m, q, k: torch.einsum("bhqd,bhkd->bhqk", q, k), *both) == einsum
    assert _nodes(lambda m, q, k: torch.einsum("bhqd,bhkd->bhqk", [q, k]), *both) == einsum


def test_a_product_with_a_parameter_is_listed() -> None:
    weight = nn.Parameter(torch.ones(4, 6))
    assert "1 x torch.matmul (reads the module's tensor weight directly) at <top>" in _listed(
        lambda m, x: torch.matmul(x, m.weight), (3, 5, 4), weight=weight
    )
    weight = nn.Parameter(torch.ones(8, 16))
    assert "torch.einsum (reads the module's tensor weight directly)" in _listed(
        lambda m, x: torch.einsum("oc,ncl->nol", m.weight, x), (16, 5), weight=weight
    )


def test_attention_without_a_mask_or_dropout_is_read() -> None:
    three = ((3, 5, 4),) * 3
    assert _nodes(lambda m, q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=True), *three) == [
        ("ScaledDotProductAttention", _args("scaleddotproductattention", True, None))
    ]
    assert "scaled_dot_product_attention" in _listed(
        lambda m, q, k, v: F.scaled_dot_product_attention(q, k, v, dropout_p=0.1), *three
    )
    assert "scaled_dot_product_attention" in _listed(
        lambda m, q, k, v: F.scaled_dot_product_attention(q, k, v, attn_mask=torch.ones(5, 5)), *three
    )


# -- parameters read in forward: a learnable tensor times or plus a tensor -----------------------


class LearnedAffine(nn.Module):
    """HGNetV2's LearnableAffineBlock after a convolution: a learnable scalar scale and bias."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 1)
        self.scale = nn.Parameter(torch.tensor([1.5]))
        self.bias = nn.Parameter(torch.tensor([0.25]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.scale * self.conv(x) + self.bias


class TokenGamma(nn.Module):
    """EdgeNeXt's gamma: one value per channel of channels-last tokens."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 1)
        self.gamma = nn.Parameter(torch.rand(4) + 0.5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv(x).permute(0, 2, 3, 1)
        return (self.gamma * x).permute(0, 3, 1, 2)


class ViewedGamma(nn.Module):
    """timm's `x * self.gamma.view(1, -1, 1, 1)` and `x * self.beta.reshape(-1, 1, 1)`."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 1)
        self.gamma = nn.Parameter(torch.rand(4) + 0.5)
        self.beta = nn.Parameter(torch.rand(4))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv(x) * self.gamma.view(1, -1, 1, 1)
        return x + self.beta.reshape(-1, 1, 1)


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        (LearnedAffine, [("scale", "Scale", (1,), None), ("bias", "Shift", (1,), None)]),
        (TokenGamma, [("gamma", "Scale", (4,), None)]),
        (ViewedGamma, [("gamma", "Scale", (4,), (1, 4, 1, 1)), ("beta", "Shift", (4,), (4, 1, 1))]),
    ],
)
def test_a_parameter_read_in_forward_is_counted_at_its_path_and_its_state_dict_loads(
    model: type[nn.Module], expected: list[tuple[str, str, Shape, Shape | None]]
) -> None:
    torch.manual_seed(0)
    original = model().eval()
    spec = import_module(original, (3, 5, 5)).spec
    conv = analyze(spec).variant("conv")
    assert (conv.params, conv.flops, spec.output) == _torch_counts(original, ((3, 5, 5),))
    learned = [node for node in spec.nodes if node.kind in ("Scale", "Shift")]
    assert [(n.path, n.kind, n.args.shape, n.args.view) for n in learned] == expected
    rebuilt = build_model(spec, "conv")
    rebuilt.load_state_dict(original.state_dict())
    x = torch.randn(2, 3, 5, 5)
    with torch.no_grad():
        torch.testing.assert_close(rebuilt(x), original(x))


def test_a_parameter_that_grows_the_input_is_listed() -> None:
    weight = nn.Parameter(torch.ones(2, 4, 6))
    message = _listed(lambda m, x: m.weight * x, (4, 6), weight=weight)
    assert "1 x operator.mul (reads the module's tensor weight directly) at <top>" in message


# -- a convolution with a buffer as its weight: a fixed filter -------------------------------------


class Blurred(nn.Module):
    """timm's BlurPool2d after a convolution (TResNet's anti-aliasing): reflect padding, then a
    fixed binomial filter the module holds as a buffer, depthwise with stride 2."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.aa = nn.Module()
        self.aa.register_buffer("filt", torch.ones(4, 1, 3, 3) / 9, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.pad(self.conv(x), [1, 1, 1, 1], mode="reflect")
        return F.conv2d(x, self.aa.filt, stride=2, groups=4)


def test_a_convolution_with_a_buffer_as_its_weight_is_a_fixed_filter() -> None:
    model = Blurred().eval()
    result = import_module(model, (3, 8, 8))
    spec = result.spec
    conv = analyze(spec).variant("conv")
    assert (conv.params, conv.flops, spec.output) == _torch_counts(model, ((3, 8, 8),))
    assert conv.buffer_bytes == sum(b.numel() * b.element_size() for b in model.buffers())
    assert result.unused == ()
    fixed = spec.nodes[-1]
    assert (fixed.path, fixed.kind) == ("aa", "FixedConv2d")
    assert (fixed.args.stride, fixed.args.groups, fixed.args.bias) == ((2, 2), 4, False)
    rebuilt = build_model(spec, "conv")
    rebuilt.load_state_dict(model.state_dict())
    x = torch.randn(2, 3, 8, 8)
    with torch.no_grad():  # its filter is not in the spec: the built one holds ones, as this one
        torch.testing.assert_close(rebuilt(x) / 9, model(x))


def test_a_buffer_as_the_weight_of_another_layer_is_listed() -> None:
    model = Forward(lambda m, x: F.linear(x, m.aa.w), aa=nn.Module())
    model.aa.register_buffer("w", torch.ones(5, 6))
    with pytest.raises(ModelImportError) as caught:
        import_module(model, [(4, 6)])
    assert "torch.nn.functional.linear (its weight is a buffer of the model, which only a convolution" in str(
        caught.value
    )


# -- what a per-sample spec cannot say, named for what it is -------------------------------------


def test_a_reshape_that_folds_rows_into_the_batch_is_listed_as_such() -> None:
    # ConvTasNet's decoder runs on each source of each sample: view(batch * sources, ...).
    message = _listed(
        lambda m, x: m.decoder(x.view(x.size(0) * 2, 2, 5)).view(x.size(0), -1),
        (4, 5),
        decoder=nn.Conv1d(2, 2, 1),
    )
    assert "1 x Tensor.view (folds 2 rows of each sample into the batch: the layers after it run 2 times" in (
        message
    )


def test_a_layer_called_on_a_constant_of_each_sample_is_listed_as_such() -> None:
    # EdgeNeXt's positional encoding: a convolution of a tensor made from the batch size alone.
    message = _listed(
        lambda m, x: x + m.projection(torch.zeros(x.shape[0], 2, 4, 4)),
        (3, 4, 4),
        projection=nn.Conv2d(2, 3, 1),
    )
    assert "torch.nn.Conv2d (called on a tensor the model makes from constants, not on one of its" in message
