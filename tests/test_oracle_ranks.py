"""Oracle tests of 1-D and 3-D layers and transposed convolutions, in all three variants, against torch."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
import torch

from convprof.errors import SpecError
from convprof.graph.variants import VARIANTS
from convprof.report.analyze import analyze
from tests.specbuild import make_spec
from tests.test_oracle import BATCH, assert_matches_torch, check_against_torch

#: Non-cubic per-sample inputs of each rank, channels first.
INPUTS = {1: (4, 11), 2: (4, 7, 9), 3: (4, 5, 7, 6)}
SMALL_INPUTS = {1: (4, 5), 2: (4, 3, 5), 3: (4, 2, 3, 4)}


def sized(value: Any, rank: int) -> Any:
    """Turn a 2-entry list into one of `rank` entries (a non-cubic window), leaving others alone."""
    if isinstance(value, list):
        return [value[i % 2] for i in range(rank)]
    return value


def torch_value(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


def module_of(name: str, in_channels: int | None, args: dict[str, Any], device: str = "meta") -> Any:
    """Return a builder of torch.nn.`name` with `args` (lists as tuples) on `device`."""

    def build() -> torch.nn.Module:
        values = {k: torch_value(v) for k, v in args.items()}
        if name == "LPPool1d":  # torch's lp_pool1d needs an int kernel_size (it multiplies by it)
            values = {k: v[0] if isinstance(v, tuple) else v for k, v in values.items()}
        with torch.device(device):
            cls = getattr(torch.nn, name)
            return cls(in_channels, **values) if in_channels is not None else cls(**values)

    return build


def check_on_cpu(in_shape: tuple[int, ...], layer: dict[str, Any], build: Any) -> None:
    """As check_against_torch, where only torch's CPU kernel checks a constraint (output_padding).

    An empty output counts as refused: torch's 3-D kernel returns one where the 1-D and 2-D ones
    refuse, and convprof refuses all three (docs/spec-format.md, "Stricter than torch").
    """
    try:
        output = build()(torch.zeros((1, *in_shape)))
        accepted = output.numel() > 0
    except (RuntimeError, ValueError):
        accepted = False
    try:
        spec = make_spec(in_shape, [layer], batch_size=BATCH)
    except SpecError:
        assert not accepted, f"convprof refused what torch accepts: {layer}"
        return
    assert accepted, f"torch refused what convprof accepts: {layer}"
    assert_matches_torch(spec)


CONV_CASES = [
    {"kernel_size": k, "stride": s, "padding": p, "dilation": d, "groups": g}
    for k, s, p, d, g in itertools.product(
        [1, 3, [2, 5]], [1, 2, [2, 1]], [0, 1, [2, 0], "same", "valid"], [1, [2, 1]], [1, 2]
    )
]


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel:UserWarning")
@pytest.mark.parametrize("rank", [1, 3])
@pytest.mark.parametrize("case", CONV_CASES, ids=lambda c: "-".join(str(v) for v in c.values()))
def test_conv_of_every_rank_matches_torch_in_all_variants(rank: int, case: dict[str, Any]) -> None:
    args = {k: sized(v, rank) for k, v in case.items()}
    check_against_torch(
        INPUTS[rank],
        {f"conv{rank}d": {"out_channels": 6, **args}},
        module_of(f"Conv{rank}d", INPUTS[rank][0], {"out_channels": 6, **args}),
    )


@pytest.mark.parametrize("rank", [1, 2, 3])
@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular"])
@pytest.mark.parametrize("padding", [1, 2, 3, 5, "same"])
def test_padding_modes_are_accepted_exactly_where_torch_runs_them(rank: int, mode: str, padding: Any) -> None:
    """Counts are those of zero padding; reflection needs a pad below the side, circular at most it."""
    in_shape = SMALL_INPUTS[rank]
    args = {"out_channels": 2, "kernel_size": 3, "padding": padding, "padding_mode": mode, "bias": False}
    check_against_torch(in_shape, {f"conv{rank}d": args}, module_of(f"Conv{rank}d", in_shape[0], args))


TRANSPOSE_CASES = [
    {"kernel_size": k, "stride": s, "padding": p, "output_padding": o, "dilation": d, "groups": g}
    for k, s, p, o, d, g in itertools.product(
        [2, [3, 1]], [1, 2, [3, 1]], [0, [1, 2]], [0, 1], [1, [2, 1]], [1, 2]
    )
]


@pytest.mark.parametrize("rank", [1, 2, 3])
@pytest.mark.parametrize("case", TRANSPOSE_CASES, ids=lambda c: "-".join(str(v) for v in c.values()))
def test_transposed_conv_of_every_rank_matches_torch_in_all_variants(rank: int, case: dict[str, Any]) -> None:
    args = {"out_channels": 6, **{k: sized(v, rank) for k, v in case.items()}}
    in_shape = SMALL_INPUTS[rank]
    check_on_cpu(
        in_shape,
        {f"convtranspose{rank}d": args},
        module_of(f"ConvTranspose{rank}d", in_shape[0], args, "cpu"),
    )


@pytest.mark.parametrize("rank", [1, 2, 3])
@pytest.mark.parametrize("padding", [1, 2, 3])
def test_transposed_conv_that_crops_its_whole_output_is_refused_as_torch_refuses_it(
    rank: int, padding: int
) -> None:
    in_shape = (2,) + (1,) * rank  # output side 1 + 2 - 2 * padding before cropping
    args = {"out_channels": 2, "kernel_size": 3, "padding": padding}
    check_on_cpu(
        in_shape, {f"convtranspose{rank}d": args}, module_of(f"ConvTranspose{rank}d", 2, args, "cpu")
    )


def test_transposed_conv_takes_zero_padding_mode_only_as_torch() -> None:
    with pytest.raises(ValueError, match="zeros"):
        torch.nn.ConvTranspose2d(2, 2, 3, padding_mode="reflect")
    with pytest.raises(SpecError, match=r"padding_mode: expected one of 'zeros'"):
        make_spec(
            (2, 5, 5), [{"convtranspose2d": {"out_channels": 2, "kernel_size": 3, "padding_mode": "reflect"}}]
        )


def closed_form_transpose(
    cin: int, sides: tuple[int, ...], cout: int, k: int, s: int, p: int, g: int
) -> dict[str, int]:
    """Textbook formulas of a transposed convolution, written independently of convprof's code."""
    out_sides = [(n - 1) * s - 2 * p + k for n in sides]
    inputs, outputs = cin, cout
    for n in sides:
        inputs *= n
    for n in out_sides:
        outputs *= n
    macs = inputs * (cout // g) * k ** len(sides)  # every input element meets cout/g x k^rank weights
    return {
        "conv": cin * (cout // g) * k ** len(sides) + cout,
        "local": macs + outputs,
        "dense": inputs * outputs + outputs,
        "macs": macs,
        "dense_macs": inputs * outputs,
    }


@pytest.mark.parametrize(
    ("cin", "sides", "cout", "k", "s", "p", "g"),
    [
        (8, (10,), 4, 4, 2, 1, 1),
        (64, (28, 28), 32, 2, 2, 0, 1),
        (6, (4, 5), 4, 3, 2, 1, 2),
        (4, (2, 3, 4), 2, 3, 1, 1, 1),
    ],
)
def test_transposed_counts_equal_closed_forms(
    cin: int, sides: tuple[int, ...], cout: int, k: int, s: int, p: int, g: int
) -> None:
    rank = len(sides)
    spec = make_spec(
        (cin, *sides),
        [
            {
                f"convtranspose{rank}d": {
                    "out_channels": cout,
                    "kernel_size": k,
                    "stride": s,
                    "padding": p,
                    "groups": g,
                }
            }
        ],
    )
    report = analyze(spec)
    expected = closed_form_transpose(cin, sides, cout, k, s, p, g)
    for variant in VARIANTS:
        assert report.variant(variant).params == expected[variant]
    assert report.variant("conv").macs == report.variant("local").macs == expected["macs"]
    assert report.variant("dense").macs == expected["dense_macs"]


@pytest.mark.parametrize("in_sides", [(16,), (7, 9, 8)])
def test_conv_of_every_rank_counts_equal_closed_forms(in_sides: tuple[int, ...]) -> None:
    """Conv1d and Conv3d: parameters per variant from the textbook formulas (stride 1, no padding)."""
    rank, cin, cout, k = len(in_sides), 3, 5, 3
    spec = make_spec((cin, *in_sides), [{f"conv{rank}d": {"out_channels": cout, "kernel_size": k}}])
    out_sides = [n - k + 1 for n in in_sides]
    inputs, outputs = cin, cout
    for n in in_sides:
        inputs *= n
    for n in out_sides:
        outputs *= n
    window = cin * k**rank
    report = analyze(spec)
    assert report.variant("conv").params == cout * window + cout
    assert report.variant("local").params == outputs * window + outputs
    assert report.variant("dense").params == inputs * outputs + outputs
    assert report.variant("conv").macs == report.variant("local").macs == outputs * window


@pytest.mark.parametrize("rank", [1, 3])
@pytest.mark.parametrize(
    ("kernel", "stride", "padding", "dilation", "ceil_mode"),
    list(itertools.product([2, [3, 2]], [None, 2], [0, 1, [1, 0]], [1, 2], [False, True])),
)
def test_maxpool_of_every_rank_matches_torch(
    rank: int, kernel: Any, stride: Any, padding: Any, dilation: int, ceil_mode: bool
) -> None:
    args = {
        "kernel_size": sized(kernel, rank),
        "stride": sized(stride, rank),
        "padding": sized(padding, rank),
        "dilation": dilation,
        "ceil_mode": ceil_mode,
    }
    check_against_torch(INPUTS[rank], {f"maxpool{rank}d": args}, module_of(f"MaxPool{rank}d", None, args))


@pytest.mark.parametrize("rank", [1, 3])
@pytest.mark.parametrize(
    ("kernel", "stride", "padding", "ceil_mode", "count_include_pad"),
    list(itertools.product([2, [3, 2]], [None, [1, 3]], [0, 1, [1, 0]], [False, True], [False, True])),
)
def test_avgpool_of_every_rank_matches_torch(
    rank: int, kernel: Any, stride: Any, padding: Any, ceil_mode: bool, count_include_pad: bool
) -> None:
    args = {
        "kernel_size": sized(kernel, rank),
        "stride": sized(stride, rank),
        "padding": sized(padding, rank),
        "ceil_mode": ceil_mode,
        "count_include_pad": count_include_pad,
    }
    if rank == 3:
        args["divisor_override"] = 3
    check_against_torch(INPUTS[rank], {f"avgpool{rank}d": args}, module_of(f"AvgPool{rank}d", None, args))


def test_avgpool1d_has_no_divisor_override_as_in_torch() -> None:
    with pytest.raises(TypeError):
        torch.nn.AvgPool1d(2, divisor_override=2)  # type: ignore[call-arg]
    with pytest.raises(SpecError, match="unknown argument 'divisor_override' for avgpool1d"):
        make_spec((2, 8), [{"avgpool1d": {"kernel_size": 2, "divisor_override": 2}}])


@pytest.mark.parametrize("rank", [1, 2, 3])
@pytest.mark.parametrize(
    ("norm_type", "kernel", "stride", "ceil_mode"),
    list(itertools.product([1, 2.5], [2, [3, 2], 8], [None, 2], [False, True])),
)
def test_lppool_of_every_rank_matches_torch(
    rank: int, norm_type: float, kernel: Any, stride: Any, ceil_mode: bool
) -> None:
    args = {
        "norm_type": norm_type,
        "kernel_size": sized(kernel, rank),
        "stride": stride,
        "ceil_mode": ceil_mode,
    }
    check_against_torch(INPUTS[rank], {f"lppool{rank}d": args}, module_of(f"LPPool{rank}d", None, args))


@pytest.mark.parametrize("rank", [1, 2, 3])
def test_lppool_elementwise_ops_follow_the_stated_convention(rank: int) -> None:
    # docs/counting.md: a power per input element, a read per window element, a root per output.
    in_shape = INPUTS[rank]
    spec = make_spec(in_shape, [{f"lppool{rank}d": {"norm_type": 2, "kernel_size": 2}}], batch_size=BATCH)
    (layer,) = analyze(spec).variant("conv").layers
    inputs, outputs = 1, in_shape[0]
    for n in in_shape:
        inputs *= n
    for n in in_shape[1:]:
        outputs *= n // 2
    assert layer.elementwise_ops == BATCH * (inputs + outputs * 2**rank + outputs)


@pytest.mark.parametrize("kind", ["adaptiveavgpool", "adaptivemaxpool"])
@pytest.mark.parametrize(
    ("rank", "output_size"),
    [(1, 1), (1, 4), (1, 13), (1, [3]), (3, 1), (3, [2, 3, 5]), (3, [None, 4, None]), (3, 9)],
)
def test_adaptive_pools_of_every_rank_match_torch(kind: str, rank: int, output_size: Any) -> None:
    spec = make_spec(INPUTS[rank], [{f"{kind}{rank}d": {"output_size": output_size}}], batch_size=BATCH)
    assert_matches_torch(spec)


@pytest.mark.parametrize(
    ("layer", "message"),
    [
        (
            {"conv1d": {"out_channels": 2, "kernel_size": [3, 3]}},
            r"expected a \[length\] list of one, got a list of 2",
        ),
        (
            {"conv3d": {"out_channels": 2, "kernel_size": [3, 3]}},
            r"expected a \[depth, height, width\] triple, got a list of 2",
        ),
        ({"maxpool3d": {"kernel_size": [2, 2]}}, r"triple, got a list of 2"),
        ({"adaptiveavgpool1d": {"output_size": [2, 2]}}, r"list of one, got a list of 2"),
        # torch.nn.AdaptiveAvgPool1d((None,)) fails in forward: 1-D takes no null
        ({"adaptiveavgpool1d": {"output_size": [None]}}, r"expected a positive integer, got nothing"),
        (
            {"conv1d": {"out_channels": 2, "kernel_size": 3, "padding": "full"}},
            r"an integer, a \[length\] list",
        ),
    ],
)
def test_sizes_of_the_wrong_rank_are_refused_at_the_argument(layer: dict[str, Any], message: str) -> None:
    with pytest.raises(SpecError, match=message):
        make_spec((2, 8), [layer])


@pytest.mark.parametrize(
    ("in_shape", "layer", "message"),
    [
        (
            (3, 8, 8),
            {"conv1d": {"out_channels": 2, "kernel_size": 3}},
            "needs a channels x length input, got 3x8x8",
        ),
        (
            (3, 8),
            {"conv3d": {"out_channels": 2, "kernel_size": 3}},
            "needs a channels x depth x height x width input",
        ),
        ((3, 8), {"maxpool2d": {"kernel_size": 2}}, "needs a channels x height x width input, got 3x8"),
    ],
)
def test_inputs_of_the_wrong_rank_are_refused_at_the_layer(
    in_shape: tuple[int, ...], layer: dict[str, Any], message: str
) -> None:
    with pytest.raises(SpecError, match=message):
        make_spec(in_shape, [layer])


@pytest.mark.parametrize(
    ("kernel", "stride", "dilation", "groups"),
    [(4, 2, 1, 1), (3, 2, 1, 2), (5, 3, 1, 1), (3, 2, 2, 1), (4, 2, 2, 1), (2, 3, 1, 1), (1, 1, 1, 1)],
)
def test_transposed_fan_in_is_the_most_inputs_any_output_reads(
    kernel: int, stride: int, dilation: int, groups: int
) -> None:
    """With every weight and input 1, each output of ConvTranspose1d sums its connections."""
    cin, length = 4, 9
    conv = torch.nn.ConvTranspose1d(
        cin, 2, kernel, stride=stride, dilation=dilation, groups=groups, bias=False
    )
    with torch.no_grad():
        conv.weight.fill_(1.0)
        most = int(conv(torch.ones(1, cin, length)).max().item())
    args = {
        "out_channels": 2,
        "kernel_size": kernel,
        "stride": stride,
        "dilation": dilation,
        "groups": groups,
    }
    spec = make_spec((cin, length), [{"convtranspose1d": args}])
    for variant in VARIANTS:
        assert analyze(spec).variant(variant).layers[0].fan_in == (
            most if variant != "dense" else cin * length
        )


def test_transposed_receptive_field_follows_the_stated_convention() -> None:
    """docs/counting.md: extent + (ceil(e / s) - 1) input jumps; the jump / the stride, rounded up."""
    spec = make_spec(
        (1, 32, 32),
        [
            {"conv2d": {"out_channels": 2, "kernel_size": 3, "stride": 2, "padding": 1}},  # 3, jump 2
            {"conv2d": {"out_channels": 2, "kernel_size": 3, "stride": 2, "padding": 1}},  # 7, jump 4
            {
                "convtranspose2d": {"out_channels": 2, "kernel_size": 2, "stride": 2}
            },  # ceil(2/2) = 1: 7, jump 2
            {
                "convtranspose2d": {"out_channels": 2, "kernel_size": 3, "stride": 2, "padding": 1}
            },  # 2 taps: 9, 1
            {"convtranspose2d": {"out_channels": 2, "kernel_size": 3}},  # stride 1: 3 taps: 11, jump 1
        ],
    )
    fields = [layer.receptive_field for layer in analyze(spec).variant("conv").layers]
    assert fields == [(3, 3), (7, 7), (7, 7), (9, 9), (11, 11)]
