"""Oracle tests: analytic counts against the torch modules convprof builds, for every kind and variant.

Shapes come from a forward pass, parameters from numel, FLOPs from FlopCounterMode; where convprof
refuses a configuration, torch must refuse it too, and the other way round.
"""

from __future__ import annotations

import itertools
from typing import Any

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from convprof.errors import SpecError
from convprof.graph.build import build_model
from convprof.graph.variants import VARIANTS, transform
from convprof.kinds import all_kinds, lookup
from convprof.report.analyze import analyze
from convprof.spec import ModelSpec, NodeSpec
from tests.specbuild import make_spec
from tests.training_oracle import backward_flops, inputs_on

BATCH = 2


def torch_counts(
    module: torch.nn.Module, *in_shapes: tuple[int, ...], device: str = "meta"
) -> tuple[tuple[int, ...], int, int, int]:
    """Return (per-sample output shape, parameters, buffer bytes, FLOPs) of one module on inputs on
    `device` (meta unless given: see measuring_device)."""
    inputs = [inputs_on(device, (BATCH, *shape)) for shape in in_shapes]
    with FlopCounterMode(display=False) as counter:
        y = module(*inputs)
    params = sum(p.numel() for p in module.parameters())
    buffers = sum(b.numel() * b.element_size() for b in module.buffers())
    return tuple(y.shape[1:]), params, buffers, counter.get_total_flops()


#: torch's convolutions, whose backward FlopCounterMode (torch 2.13) over-counts when grouped.
_TORCH_CONVOLUTIONS = {f"Conv{r}d" for r in (1, 2, 3)} | {f"ConvTranspose{r}d" for r in (1, 2, 3)}


def torch_backward(layer: NodeSpec, device: str = "meta") -> tuple[int, int]:
    """Torch's backward FLOPs of the layer: its inputs not needing a gradient, and needing one."""
    kind = lookup(layer.kind)
    assert kind is not None
    measured = []
    for grads in (False, True):
        with torch.device("meta"):
            module = kind.node_build(layer.args, layer.input_shapes, layer.output_shape)
        measured.append(backward_flops(module, layer.input_shapes, BATCH, grads, device))
    return measured[0], measured[1]


#: The kinds torch measures on the CPU rather than on meta (see measuring_device).
_MEASURED_ON_CPU = {"Upsample"}


def measuring_device(kind: str) -> str:
    """Where torch measures a layer of `kind`: on meta (nothing allocated nor initialised, however
    large), but upsampling on the CPU. On meta, upsampling runs torch's Python decompositions
    (bicubic: about 0.1 s a call), on the CPU its compiled kernels; it has no weights, and the
    counter counts no upsampling operator on either. The rest stays on meta: the kernel a device
    picks can change what the counter sees (scaled-dot-product attention on the CPU is one fused
    operator it does not count; on meta, the matrix products it counts)."""
    return "cpu" if kind in _MEASURED_ON_CPU else "meta"


def assert_backward_matches_torch(
    layer: NodeSpec, where: str, measured: tuple[int, int] | None = None
) -> None:
    """The layer's backward FLOPs equal FlopCounterMode's around its backward (`measured`, by
    torch_backward when not given), whether its inputs need a gradient or not; where torch
    over-counts a grouped convolution, by exactly its error.

    torch 2.13 counts the weights' gradient of a grouped convolution as if each group read every
    input channel (groups x too much): test_training.py shows it on a depthwise layer."""
    kind = lookup(layer.kind)
    assert kind is not None
    for grads, flops in zip((False, True), measured or torch_backward(layer), strict=True):
        needs = (grads,) * len(layer.input_shapes)
        counted = (
            2 * BATCH * kind.node_backward_macs(layer.args, layer.input_shapes, layer.output_shape, needs)
        )
        groups = getattr(layer.args, "groups", 1)
        if layer.kind in _TORCH_CONVOLUTIONS and groups > 1:
            forward = kind.node_cost(layer.args, layer.input_shapes, layer.output_shape).macs
            counted += 2 * BATCH * (groups - 1) * forward  # torch's over-count, not convprof's figure
        assert flops == counted, f"{where}, inputs needing a gradient: {grads}"


def assert_matches_torch(spec: ModelSpec, *, eval_mode: bool = False) -> None:
    """Check every layer of every variant of `spec` against its torch module (in eval mode if asked).

    A layer the variants leave alone (any but a convolution) is the same node in all three: torch
    measures it once and each variant's counts are checked against that."""
    report = analyze(spec)
    measured: dict[tuple[object, ...], tuple[tuple[tuple[int, ...], int, int, int], tuple[int, int]]] = {}
    for variant in VARIANTS:
        model = transform(spec, variant)
        counted = report.variant(variant)
        for layer, counts in zip(model.nodes, counted.layers, strict=True):
            kind = lookup(layer.kind)
            assert kind is not None
            key = (layer.kind, repr(layer.args), layer.input_shapes, layer.output_shape, layer.frozen)
            if key not in measured:
                with torch.device("meta"):
                    module = kind.node_build(layer.args, layer.input_shapes, layer.output_shape)
                if eval_mode:
                    module.eval()
                device = measuring_device(layer.kind)
                measured[key] = (
                    torch_counts(module, *layer.input_shapes, device=device),
                    torch_backward(layer, device),
                )
            (shape, params, buffers, flops), backward = measured[key]
            where = f"{variant} layer {layer.index} {layer.kind} {layer.args}"
            assert shape == layer.output_shape, where
            assert params == counts.params, where
            assert buffers == counts.buffer_bytes, where
            assert flops == counts.flops, where
            assert counts.macs % BATCH == 0, where
            assert_backward_matches_torch(layer, where, backward)


def torch_accepts(build: Any, in_shape: tuple[int, ...]) -> bool:
    try:
        module = build()
        module(torch.empty((1, *in_shape), device="meta"))
    except (RuntimeError, ValueError):
        return False
    return True


def check_against_torch(in_shape: tuple[int, ...], layer: dict[str, Any], build: Any) -> None:
    """convprof and torch accept the same configurations; where both do, the counts agree."""
    try:
        spec = make_spec(in_shape, [layer], batch_size=BATCH)
    except SpecError:
        assert not torch_accepts(build, in_shape), f"convprof refused what torch accepts: {layer}"
        return
    assert torch_accepts(build, in_shape), f"torch refused what convprof accepts: {layer}"
    assert_matches_torch(spec)


CONV_CASES = [
    {"kernel_size": k, "stride": s, "padding": p, "dilation": d, "groups": g, "bias": b}
    for k, s, p, d, g, b in itertools.product(
        [1, 3, [2, 5]],
        [1, 2, [2, 1]],
        [0, 1, [2, 0], "same", "valid"],
        [1, [2, 1]],
        [1, 2],
        [True, False],
    )
]


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel:UserWarning")
@pytest.mark.parametrize("case", CONV_CASES, ids=lambda c: "-".join(str(v) for v in c.values()))
def test_conv2d_all_variants_match_torch(case: dict[str, Any]) -> None:
    in_shape = (4, 9, 12)
    layer = {"conv2d": {"out_channels": 6, **case}}

    def build() -> torch.nn.Module:
        with torch.device("meta"):
            return torch.nn.Conv2d(
                4, 6, **{k: tuple(v) if isinstance(v, list) else v for k, v in case.items()}
            )

    check_against_torch(in_shape, layer, build)


@pytest.mark.parametrize(
    ("kernel", "stride", "padding", "dilation", "ceil_mode"),
    list(itertools.product([2, 3, [3, 2]], [None, 1, 2], [0, 1, [1, 0], 2], [1, 2], [False, True])),
)
def test_maxpool2d_matches_torch(
    kernel: Any, stride: Any, padding: Any, dilation: int, ceil_mode: bool
) -> None:
    in_shape = (3, 7, 10)
    args = {
        "kernel_size": kernel,
        "stride": stride,
        "padding": padding,
        "dilation": dilation,
        "ceil_mode": ceil_mode,
    }
    pair = {k: tuple(v) if isinstance(v, list) else v for k, v in args.items()}
    check_against_torch(in_shape, {"maxpool2d": args}, lambda: torch.nn.MaxPool2d(**pair))


@pytest.mark.parametrize(
    ("kernel", "stride", "padding", "ceil_mode", "count_include_pad"),
    list(itertools.product([2, 3, [3, 2]], [None, 2, [1, 3]], [0, 1, [1, 0]], [False, True], [False, True])),
)
def test_avgpool2d_matches_torch(
    kernel: Any, stride: Any, padding: Any, ceil_mode: bool, count_include_pad: bool
) -> None:
    in_shape = (3, 7, 10)
    args = {
        "kernel_size": kernel,
        "stride": stride,
        "padding": padding,
        "ceil_mode": ceil_mode,
        "count_include_pad": count_include_pad,
    }
    pair = {k: tuple(v) if isinstance(v, list) else v for k, v in args.items()}
    check_against_torch(in_shape, {"avgpool2d": args}, lambda: torch.nn.AvgPool2d(**pair))


@pytest.mark.parametrize("kind", ["adaptiveavgpool2d", "adaptivemaxpool2d"])
@pytest.mark.parametrize("output_size", [1, 3, 7, [2, 5], [None, 3], [13, None]])
def test_adaptive_pools_match_torch(kind: str, output_size: Any) -> None:
    spec = make_spec((5, 10, 13), [{kind: {"output_size": output_size}}], batch_size=BATCH)
    assert_matches_torch(spec)


@pytest.mark.parametrize(
    "layer",
    [
        "batchnorm2d",
        {"batchnorm2d": {"affine": False}},
        {"batchnorm2d": {"track_running_stats": False, "eps": 0.001, "momentum": None}},
        "relu",
        "relu6",
        {"leakyrelu": {"negative_slope": 0.2}},
        "gelu",
        {"gelu": {"approximate": "tanh"}},
        "silu",
        "hardswish",
        {"hardswish": {"inplace": True}},
        "hardsigmoid",
        "sigmoid",
        "tanh",
        "identity",
        {"dropout": {"p": 0.3}},
        "flatten",
        {"flatten": {"start_dim": 2}},
        {"flatten": {"start_dim": 1, "end_dim": 2}},
        {"flatten": {"start_dim": -2}},
        {"linear": {"out_features": 7}},
        {"linear": {"out_features": 7, "bias": False}},
    ],
    ids=str,
)
def test_shape_preserving_and_linear_kinds_match_torch(layer: Any) -> None:
    spec = make_spec((6, 5, 7), [layer], batch_size=BATCH)
    assert_matches_torch(spec)


@pytest.mark.parametrize("batch", [1, 2, 3])
@pytest.mark.parametrize("spatial", [(1, 1), (1, 2), (2, 1)])
def test_batchnorm_without_running_stats_needs_more_than_one_value_per_channel(
    batch: int, spatial: tuple[int, int]
) -> None:
    """Without running statistics eval-mode BatchNorm uses the batch's: torch refuses one value."""
    in_shape = (4, *spatial)
    module = torch.nn.BatchNorm2d(4, track_running_stats=False, device="meta").eval()
    try:
        module(torch.empty((batch, *in_shape), device="meta"))
        torch_runs = True
    except ValueError:
        torch_runs = False
    layers = [{"batchnorm2d": {"track_running_stats": False}}]
    assert torch_runs == (batch * spatial[0] * spatial[1] > 1)
    if torch_runs:
        assert_matches_torch(make_spec(in_shape, layers, batch_size=batch))
    else:  # refused while the spec is read, at the layer
        with pytest.raises(
            SpecError, match=r":\d+:\d+: layers.0 batchnorm2d: .* more than one value per channel"
        ):
            make_spec(in_shape, layers, batch_size=batch)


@pytest.mark.parametrize(("tracked", "per_element"), [(True, 2), (False, 6)])
def test_batchnorm_elementwise_ops_follow_the_stated_convention(tracked: bool, per_element: int) -> None:
    # docs/counting.md: two per element with running statistics folded into a scale and shift; six when the
    # batch's own mean (an add) and variance (a subtract, a multiply, an add) are computed as well.
    spec = make_spec((6, 5, 7), [{"batchnorm2d": {"track_running_stats": tracked}}], batch_size=BATCH)
    (layer,) = analyze(spec).variant("conv").layers
    assert layer.elementwise_ops == per_element * BATCH * 6 * 5 * 7


# The closed forms of MobileNetV3's piecewise-linear activations (Howard et al., 2019, eq. 2).
HARD_FORMS = {
    "hardswish": lambda x: x * (x + 3).clamp(0, 6) / 6,
    "hardsigmoid": lambda x: (x + 3).clamp(0, 6) / 6,
}


@pytest.mark.parametrize("kind", sorted(HARD_FORMS))
@pytest.mark.parametrize("inplace", [False, True])
def test_hard_activations_compute_their_closed_form_and_count_one_op_per_element(
    kind: str, inplace: bool
) -> None:
    spec = make_spec((3, 4, 5), [{kind: {"inplace": inplace}}], batch_size=BATCH)
    (node,) = spec.nodes
    (layer,) = analyze(spec).variant("conv").layers
    assert layer.elementwise_ops == BATCH * 3 * 4 * 5
    assert layer.params == layer.macs == 0
    module = build_model(spec, "conv", "cpu")
    assert [type(m).__name__.lower() for m in module.modules()][1:] == [kind]
    # Values on both sides of both kinks (x = -3 and x = 3).
    x = torch.linspace(-5, 5, BATCH * 3 * 4 * 5).reshape(BATCH, 3, 4, 5)
    expected = HARD_FORMS[kind](x.clone())
    torch.testing.assert_close(module(x.clone()), expected)
    assert node.output_shape == (3, 4, 5)


def test_linear_after_flatten_and_on_vectors_matches_torch() -> None:
    spec = make_spec(
        (3, 8, 8),
        ["flatten", {"linear": {"out_features": 10}}, "relu", {"linear": {"out_features": 4}}],
        batch_size=BATCH,
    )
    assert_matches_torch(spec)
    mlp = make_spec((20,), [{"linear": {"out_features": 5}}], batch_size=BATCH)
    assert_matches_torch(mlp)


#: Kinds that come in 1-D, 2-D and 3-D.
RANKED = (
    "conv",
    "convtranspose",
    "maxpool",
    "avgpool",
    "lppool",
    "adaptiveavgpool",
    "adaptivemaxpool",
)


def test_every_public_kind_is_covered_by_an_oracle_test() -> None:
    covered = {
        "conv2d",
        "maxpool2d",
        "avgpool2d",
        "adaptiveavgpool2d",
        "adaptivemaxpool2d",
        "batchnorm2d",
        "relu",
        "relu6",
        "leakyrelu",
        "gelu",
        "silu",
        "hardswish",
        "hardsigmoid",
        "sigmoid",
        "tanh",
        "identity",
        "dropout",
        "flatten",
        "linear",
        "add",  # the merges: tests/test_graph.py
        "mul",
        "cat",
        # every rank and transposed convolutions: tests/test_oracle_ranks.py
        *(f"{stem}{rank}d" for rank in (1, 2, 3) for stem in RANKED),
        # tests/test_oracle_layers.py:
        *(f"{family}{rank}d" for family in ("batchnorm", "instancenorm", "dropout") for rank in (1, 3)),
        *("instancenorm2d", "dropout2d", "groupnorm", "layernorm", "layernorm2d", "localresponsenorm"),
        *(
            f"{mode}pad{rank}d"
            for mode in ("zero", "constant", "reflection", "replication", "circular")
            for rank in (1, 2, 3)
        ),
        *("upsample", "pixelshuffle", "pixelunshuffle", "permute", "transpose", "scale", "shift"),
        *("reshape", "narrow", "contiguous"),
        *(f"fixedconv{rank}d" for rank in (1, 2, 3)),  # tests/test_oracle_layers.py
        *(
            "elu",
            "selu",
            "celu",
            "prelu",
            "hardtanh",
            "mish",
            "softplus",
            "softmax",
            "logsoftmax",
            "alphadropout",
        ),
        # no torch module and unknown arithmetic by design; its exact parts (shapes, parameters,
        # buffers) against the models it stands in for: tests/test_allow_unknown.py
        "opaque",
        # tests/test_oracle_tensor_ops.py:
        *("matmul", "einsum", "scaleddotproductattention", "sub", "div", "stack", "arithmetic"),
        *("sum", "mean", "amax", "amin", "max", "min", "slice", "select", "expand", "tile", "roll", "clamp"),
    }
    public = {kind.name.lower() for kind in all_kinds() if kind.public}
    assert public == covered


def test_every_kind_has_every_piece() -> None:
    """Each kind declares a name, an argument schema with coercers and a counterpart for each variant."""
    for kind in all_kinds():
        assert kind.name
        for field in kind.Args.__dataclass_fields__.values():
            assert callable(field.metadata.get("coerce")), (kind.name, field.name)
        for variant, target in kind.counterfactuals.items():
            assert variant in VARIANTS
            counterpart = lookup(target)
            assert counterpart is not None
            assert not counterpart.public


def test_whole_networks_match_torch_models() -> None:
    """Whole nn.Sequential models: parameters and FLOPs of each variant equal the report's totals."""
    spec = make_spec(
        (3, 20, 18),
        [
            {"conv2d": {"out_channels": 8, "kernel_size": 3, "padding": 1}},
            "batchnorm2d",
            "relu",
            {"maxpool2d": {"kernel_size": 2}},
            {"conv2d": {"out_channels": 8, "kernel_size": 3, "groups": 8, "bias": False}},
            {"conv2d": {"out_channels": 16, "kernel_size": 1, "stride": 2}},
            "silu",
            {"adaptiveavgpool2d": {"output_size": [2, 2]}},
            "flatten",
            {"dropout": {"p": 0.1}},
            {"linear": {"out_features": 10}},
        ],
        batch_size=3,
    )
    report = analyze(spec)
    for variant in VARIANTS:
        model = build_model(spec, variant, "meta")
        with FlopCounterMode(display=False) as counter:
            y = model(torch.empty((3, 3, 20, 18), device="meta"))
        assert tuple(y.shape) == (3, 10)
        assert sum(p.numel() for p in model.parameters()) == report.variant(variant).params
        assert counter.get_total_flops() == report.variant(variant).flops


def closed_form_conv(cin: int, h: int, w: int, cout: int, k: int, s: int, p: int, g: int) -> dict[str, int]:
    """Textbook formulas, written independently of convprof's code."""
    ho, wo = (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1
    outputs = cout * ho * wo
    return {
        "conv": cout * (cin // g) * k * k + cout,
        "local": outputs * (cin // g) * k * k + outputs,
        "dense": cin * h * w * outputs + outputs,
        "macs": outputs * (cin // g) * k * k,
    }


@pytest.mark.parametrize(
    ("cin", "h", "w", "cout", "k", "s", "p", "g"),
    [
        (3, 32, 32, 6, 5, 1, 0, 1),
        (16, 15, 9, 32, 3, 2, 1, 4),
        (8, 8, 8, 8, 3, 1, 1, 8),
        (1, 28, 28, 20, 7, 3, 3, 1),
    ],
)
def test_conv_counts_equal_closed_forms(
    cin: int, h: int, w: int, cout: int, k: int, s: int, p: int, g: int
) -> None:
    spec = make_spec(
        (cin, h, w),
        [{"conv2d": {"out_channels": cout, "kernel_size": k, "stride": s, "padding": p, "groups": g}}],
    )
    report = analyze(spec)
    expected = closed_form_conv(cin, h, w, cout, k, s, p, g)
    outputs = expected["macs"] // ((cin // g) * k * k)
    for variant in VARIANTS:
        assert report.variant(variant).params == expected[variant]
    assert report.variant("conv").macs == expected["macs"]
    assert report.variant("local").macs == expected["macs"]
    assert report.variant("dense").macs == cin * h * w * outputs


def test_degenerate_one_by_one_local_layer_is_still_counted_by_torch() -> None:
    """Found by the fuzz tests: a 1x1x1 contraction must stay a matrix product, not an element-wise one."""
    spec = make_spec((1, 1, 1), [{"conv2d": {"out_channels": 1, "kernel_size": 1}}], batch_size=BATCH)
    assert_matches_torch(spec)
