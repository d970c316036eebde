"""Graphs: block forms, paths, merges, liveness memory, and the torch models convprof builds for them."""

from __future__ import annotations

import os
from typing import Any

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from convprof.errors import SpecError
from convprof.graph.build import build_model
from convprof.graph.liveness import peak_activation_bytes
from convprof.graph.variants import VARIANTS
from convprof.measure.memory import measure_memory
from convprof.report.analyze import analyze
from convprof.spec import NETWORK_INPUT
from tests.processes import CONVPROF
from tests.specbuild import make_spec, spec_text
from tests.test_oracle import assert_matches_torch

BATCH = 2

CONV = {"conv2d": {"out_channels": 8, "kernel_size": 3, "padding": 1, "bias": False}}

#: One of each block form, nested, with a long skip: the graph the oracle tests run on.
GRAPH: list[Any] = [
    {"conv2d": {"out_channels": 8, "kernel_size": 3, "padding": 1, "name": "stem"}},
    {
        "repeat": {
            "name": "layer1",
            "times": 2,
            "layers": [
                {
                    "residual": {
                        "body": [
                            {"conv2d": {**CONV["conv2d"], "name": "conv1"}},
                            {"batchnorm2d": {"name": "bn1"}},
                            {"relu": {"name": "relu"}},
                            {"conv2d": {**CONV["conv2d"], "name": "conv2"}},
                            {"batchnorm2d": {"name": "bn2"}},
                        ],
                        "after": [{"relu": {"name": "relu_1"}}],
                    }
                }
            ],
            "first": {
                "0.residual.body.0.conv2d.stride": 2,
                "0.residual.shortcut": [
                    {
                        "group": {
                            "name": "downsample",
                            "layers": [
                                {"conv2d": {"out_channels": 8, "kernel_size": 1, "stride": 2, "name": "0"}},
                                {"batchnorm2d": {"name": "1"}},
                            ],
                        }
                    }
                ],
            },
        }
    },
    {
        "gate": {
            "name": "se",
            "body": [
                {"adaptiveavgpool2d": {"output_size": 1}},
                {"conv2d": {"out_channels": 2, "kernel_size": 1}},
                "relu",
                {"conv2d": {"out_channels": 8, "kernel_size": 1}},
                "sigmoid",
            ],
        }
    },
    {
        "branches": {
            "name": "mix",
            "paths": [
                [{"conv2d": {"out_channels": 4, "kernel_size": 1}}],
                [{"conv2d": {"out_channels": 6, "kernel_size": 3, "padding": 1}}, "relu"],
                [],
            ],
        }
    },
    {
        "residual": {
            "name": "dense1",
            "body": [{"conv2d": {"out_channels": 4, "kernel_size": 1}}],
            "merge": "cat",
        }
    },
    {"maxpool2d": {"kernel_size": 2, "name": "pool"}},
    {"conv2d": {"out_channels": 22, "kernel_size": 1, "name": "up"}},
    {"add": {"from": ["up", "pool"], "name": "skip"}},
    {"adaptiveavgpool2d": {"output_size": 1}},
    "flatten",
    {"linear": {"out_features": 5}},
]


def graph_spec(**top: Any) -> Any:
    return make_spec((3, 16, 16), GRAPH, batch_size=BATCH, **top)


def test_blocks_expand_to_paths_as_torch_names_modules() -> None:
    spec = graph_spec()
    paths = [node.path for node in spec.nodes]
    assert paths[:12] == [
        "stem",
        "layer1.0.conv1",
        "layer1.0.bn1",
        "layer1.0.relu",
        "layer1.0.conv2",
        "layer1.0.bn2",
        "layer1.0.downsample.0",
        "layer1.0.downsample.1",
        "layer1.0.add_1",
        "layer1.0.relu_1",
        "layer1.1.conv1",
        "layer1.1.bn1",
    ]
    assert "layer1.1.downsample.0" not in paths  # `first` changes the first copy only
    by_path = {node.path: node for node in spec.nodes}
    assert by_path["layer1.0.conv1"].args.stride == (2, 2)
    assert by_path["layer1.1.conv1"].args.stride == (1, 1)
    add = by_path["layer1.0.add_1"]
    assert [spec.nodes[i].path for i in add.inputs] == ["layer1.0.downsample.1", "layer1.0.bn2"]
    assert by_path["stem"].inputs == (NETWORK_INPUT,)
    assert by_path["se.mul_1"].input_shapes == ((8, 8, 8), (8, 1, 1))
    assert by_path["mix.cat_1"].output_shape == (4 + 6 + 8, 8, 8)
    assert by_path["dense1.cat_1"].output_shape == (18 + 4, 8, 8)
    assert [spec.nodes[i].path for i in by_path["skip"].inputs] == ["up", "pool"]
    assert by_path["layer1.0.conv1"].depth == 2


def test_every_node_of_every_variant_matches_its_torch_module() -> None:
    assert_matches_torch(graph_spec())


def test_the_built_graph_module_matches_the_report_in_every_variant() -> None:
    spec = graph_spec()
    report = analyze(spec)
    for variant in VARIANTS:
        model = build_model(spec, variant, "meta")
        called = [node.target for node in model.graph.nodes if node.op == "call_module"]
        assert called == [node.path for node in spec.nodes], variant
        with FlopCounterMode(display=False) as counter:
            y = model(torch.empty((BATCH, 3, 16, 16), device="meta"))
        assert tuple(y.shape) == (BATCH, 5)
        assert sum(p.numel() for p in model.parameters()) == report.variant(variant).params, variant
        assert counter.get_total_flops() == report.variant(variant).flops, variant
        per_module = counter.get_flop_counts()
        for layer in report.variant(variant).layers:
            counted = (
                sum(per_module.get(f"{type(model).__name__}.{layer.path}", {}).values()) if layer.flops else 0
            )
            assert counted == layer.flops, (variant, layer.path)


def test_the_conv_model_runs_on_real_numbers() -> None:
    spec = graph_spec()
    model = build_model(spec, "conv")
    with torch.inference_mode():
        y = model(torch.randn(BATCH, 3, 16, 16))
    assert y.shape == (BATCH, 5)
    assert torch.isfinite(y).all()


def test_peak_memory_by_liveness_on_a_residual_block() -> None:
    # input 1x8x8 (256 B), stem conv -> 4x8x8 (1 KiB), body conv -> 4x8x8, add -> 4x8x8.
    spec = make_spec(
        (1, 8, 8),
        [
            {"conv2d": {"out_channels": 4, "kernel_size": 3, "padding": 1}},
            {"residual": {"body": [{"conv2d": {"out_channels": 4, "kernel_size": 3, "padding": 1}}, "relu"]}},
        ],
    )
    # While the relu runs: the stem's output (kept for the add), the body conv's output and the
    # relu's output are alive: 3 KiB. A chain's rule (largest input + output) would say 2 KiB.
    assert peak_activation_bytes(spec) == 3 * 1024
    assert analyze(spec).variant("conv").activation_bytes == 3 * 1024


def test_liveness_on_a_chain_is_the_largest_input_output_pair() -> None:
    spec = make_spec(
        (3, 32, 32),
        [
            {"conv2d": {"out_channels": 6, "kernel_size": 5}},
            "relu",
            {"maxpool2d": {"kernel_size": 2}},
            "flatten",
        ],
    )
    element = 4
    pairs = [(3 * 32 * 32, 6 * 28 * 28), (6 * 28 * 28, 6 * 28 * 28), (6 * 28 * 28, 6 * 14 * 14)]
    assert peak_activation_bytes(spec) == max(a + b for a, b in pairs) * element


@pytest.mark.parametrize("variant", ["conv", "dense"])
def test_measured_memory_of_a_graph_lies_within_the_estimate_and_the_input(variant: str) -> None:
    spec = graph_spec()
    estimate = analyze(spec).variant(variant)
    model = build_model(spec, variant).eval()
    x = torch.randn(BATCH, 3, 16, 16)
    with torch.inference_mode():
        measured = measure_memory(model, (x,), "cpu")
    assert measured.weight_bytes == estimate.param_bytes
    assert measured.buffer_bytes == estimate.buffer_bytes
    assert estimate.activation_bytes <= measured.peak_activation_bytes <= estimate.activation_bytes + x.nbytes


def error_of(layers: list[Any], shape: tuple[int, ...] = (3, 8, 8)) -> str:
    with pytest.raises(SpecError) as info:
        make_spec(shape, layers)
    return str(info.value)


def test_shapes_that_cannot_be_added_name_both_shapes_and_the_place() -> None:
    message = error_of([{"residual": {"body": [{"conv2d": {"out_channels": 4, "kernel_size": 1}}]}}])
    assert message.startswith("test.yaml:1:")
    # Named at the body's layer that made the shape, with both shapes and the fix.
    assert "layers.0.residual.body.0 conv2d makes 4x8x8 of 3x8x8" in message
    assert "cannot add to its shortcut's 3x8x8; give it out_channels: 3" in message


def test_concatenation_needs_equal_other_dimensions() -> None:
    message = error_of(
        [{"branches": {"paths": [[{"maxpool2d": {"kernel_size": 2}}], []]}}],
    )
    assert "cannot concatenate tensors of shapes 3x4x4, 3x8x8 along dim=1" in message


def test_a_reference_to_an_unknown_or_later_layer_is_refused_with_a_suggestion() -> None:
    message = error_of(
        [
            {"conv2d": {"out_channels": 3, "kernel_size": 1, "name": "first"}},
            {"add": {"from": ["frist", "input"]}},
        ]
    )
    assert "no earlier layer is called 'frist' (did you mean first?)" in message
    later = error_of([{"add": {"from": ["input", "after"]}}, {"relu": {"name": "after"}}])
    assert "no earlier layer is called 'after'" in later


def test_merges_need_their_inputs_named() -> None:
    assert "add reads 2 or more tensors, got 1" in error_of(["add"])


def test_layer_paths_are_unique_and_a_block_may_continue_a_scope_or_sit_under_a_layer() -> None:
    assert "already used" in error_of([{"relu": {"name": "a"}}, {"relu": {"name": "a"}}])
    assert "not a name" in error_of([{"relu": {"name": "a.b"}}])
    # A module with weights and children (timm's BatchNormAct2d: bn1, then bn1.act), and a scope
    # entered again after another (MONAI's up_samples.0, an add, up_samples.1): one path each.
    spec = make_spec(
        (4, 8, 8),
        [
            {"relu": {"name": "a"}},
            {"group": {"name": "a", "layers": ["relu", {"sigmoid": {"name": "s"}}]}},
            {"group": {"name": "b", "layers": ["relu"]}},
            {"add": {"from": ["a", "a.s"]}},
            {"group": {"name": "b", "layers": ["relu", {"add": {"from": ["relu_2", "/a.s"]}}]}},
        ],
    )
    assert [n.path for n in spec.nodes] == [
        "a",
        "a.relu_1",
        "a.s",
        "b.relu_1",
        "add_1",
        "b.relu_2",
        "b.add_1",
    ]
    assert spec.nodes[-1].inputs == (5, 2)
    again = error_of(
        [
            {"group": {"name": "b", "layers": [{"relu": {"name": "x"}}]}},
            {"group": {"name": "b", "layers": [{"relu": {"name": "x"}}]}},
        ]
    )
    assert "name 'x' is already used" in again


def test_relative_references_inside_a_repeat_resolve_in_each_copy() -> None:
    spec = make_spec(
        (4, 8, 8),
        [
            {
                "repeat": {
                    "name": "stage",
                    "times": 3,
                    "layers": [
                        {"relu": {"name": "a"}},
                        {"sigmoid": {"name": "b"}},
                        {"mul": {"from": ["a", "b"]}},
                    ],
                }
            }
        ],
    )
    for copy in range(3):
        node = next(n for n in spec.nodes if n.path == f"stage.{copy}.mul_1")
        assert [spec.nodes[i].path for i in node.inputs] == [f"stage.{copy}.a", f"stage.{copy}.b"]


def test_a_repeat_cannot_expand_past_the_node_limit() -> None:
    message = error_of(
        [{"repeat": {"times": 300, "layers": [{"repeat": {"times": 300, "layers": ["relu"]}}]}}]
    )
    assert "more than 20,000 layers" in message


def test_unknown_block_keys_and_bad_first_paths_are_located() -> None:
    assert "unknown key 'bdy' in a residual block (did you mean body?)" in error_of(
        [{"residual": {"bdy": []}}]
    )
    message = error_of([{"repeat": {"times": 2, "layers": ["relu"], "first": {"0.relu.slope": 1, "3.x": 1}}}])
    assert "repeat first: layers has 1 items, so index 3 does not exist" in message


def test_the_width_rule_follows_concatenations() -> None:
    from convprof.spec.sources import SpecSource
    from convprof.sweep.axes import width_axis
    from convprof.sweep.points import point_specs

    text = spec_text((3, 8, 8), GRAPH).encode()
    (point,) = point_specs(SpecSource(text, "graph.yaml", "graph"), [width_axis("0.5")])
    by_path = {node.path: node for node in point.spec.nodes}
    assert by_path["stem"].output_shape[0] == 4
    assert by_path["mix.cat_1"].output_shape[0] == 2 + 3 + 4
    assert by_path["linear_1"].output_shape == (5,)  # the classes are kept


# -- random graphs against an independent torch interpreter -----------------------------------------

EXAMPLES = int(os.environ.get("CONVPROF_FUZZ_EXAMPLES", "40"))

_LEAF = st.one_of(
    st.builds(
        lambda c, k, p, s: {"conv2d": {"out_channels": c, "kernel_size": k, "padding": p, "stride": s}},
        st.sampled_from([2, 3, 4]),
        st.sampled_from([1, 3]),
        st.sampled_from([0, 1]),
        st.sampled_from([1, 2]),
    ),
    st.just("relu"),
    st.just("batchnorm2d"),
    st.just({"maxpool2d": {"kernel_size": 2}}),
    st.just({"adaptiveavgpool2d": {"output_size": 1}}),
    st.just("sigmoid"),
    st.just({"upsample": {"scale_factor": 2}}),
    st.just({"upsample": {"size": 5, "mode": "bilinear"}}),
    st.just({"groupnorm": {"num_groups": 1}}),
    st.just({"reflectionpad2d": {"padding": 1}}),
    st.just("elu"),
    st.just({"softmax": {"dim": 1}}),
)


def _blocks(inner: st.SearchStrategy[list[Any]]) -> st.SearchStrategy[Any]:
    merges = st.sampled_from(["add", "cat", "mul"])
    return st.one_of(
        st.builds(
            lambda body, shortcut, merge: {
                "residual": {
                    "body": body,
                    **({"shortcut": shortcut} if shortcut is not None else {}),
                    "merge": merge,
                }
            },
            inner,
            st.one_of(st.none(), inner),
            merges,
        ),
        st.builds(
            lambda paths, merge: {"branches": {"paths": paths, "merge": merge}},
            st.lists(inner, min_size=2, max_size=3),
            st.sampled_from(["add", "cat"]),
        ),
        st.builds(lambda body: {"gate": {"body": body}}, inner),
    )


_LAYERS = st.recursive(
    st.lists(_LEAF, min_size=1, max_size=3),
    lambda inner: st.lists(st.one_of(_LEAF, _blocks(inner)), min_size=1, max_size=3),
    max_leaves=8,
)


def _module(kind: str, args: dict[str, Any], channels: int) -> nn.Module:
    if kind == "conv2d":
        return nn.Conv2d(channels, **args)
    if kind == "batchnorm2d":
        return nn.BatchNorm2d(channels)
    if kind == "maxpool2d":
        return nn.MaxPool2d(**args)
    if kind == "adaptiveavgpool2d":
        return nn.AdaptiveAvgPool2d(**args)
    if kind == "upsample":
        return nn.Upsample(**args)
    if kind == "groupnorm":
        return nn.GroupNorm(args["num_groups"], channels)
    if kind == "reflectionpad2d":
        return nn.ReflectionPad2d(args["padding"])
    if kind == "softmax":
        return nn.Softmax(**args)
    return {"relu": nn.ReLU, "sigmoid": nn.Sigmoid, "elu": nn.ELU}[kind]()


def _run(
    layers: list[Any], x: torch.Tensor, made: list[nn.Module], named: dict[str, torch.Tensor] | None = None
) -> torch.Tensor:
    """Execute the spec's layer list with torch.nn directly: the blocks' documented semantics."""
    named = {} if named is None else named
    for layer in layers:
        kind, args = (layer, {}) if isinstance(layer, str) else next(iter(layer.items()))
        if kind in ("add", "mul", "cat"):  # a long skip: `from` names earlier layers
            inputs = [named[name] for name in args["from"]]
            x = torch.cat(inputs, 1) if kind == "cat" else {"add": torch.add, "mul": torch.mul}[kind](*inputs)
        elif kind == "identity":
            named[args["name"]] = x
        elif kind == "residual":
            body = _run(args["body"], x, made)
            short = _run(args["shortcut"], x, made) if "shortcut" in args else x
            x = (
                {"add": torch.add, "mul": torch.mul}[args["merge"]](short, body)
                if args["merge"] != "cat"
                else torch.cat([short, body], 1)
            )
        elif kind == "branches":
            outs = [_run(path, x, made) if path else x for path in args["paths"]]
            if args["merge"] == "cat":
                x = torch.cat(outs, 1)
            else:
                x = outs[0]
                for out in outs[1:]:
                    x = x + out
        elif kind == "gate":
            x = x * _run(args["body"], x, made)
        else:
            module = _module(kind, args, x.shape[1])
            made.append(module)
            x = module(x)
    return x


def _long_skip(first: list[Any], second: list[Any], merge: str) -> list[Any]:
    """`first`, then `second`, then a merge of both ends by name: a skip across `second`."""
    return [
        *first,
        {"identity": {"name": "skip"}},
        *second,
        {"identity": {"name": "end"}},
        {merge: {"from": ["skip", "end"]}},
    ]


_GRAPHS = st.one_of(
    _LAYERS,
    st.builds(_long_skip, _LAYERS, _LAYERS, st.sampled_from(["add", "mul", "cat"])),
)


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(layers=_GRAPHS, side=st.sampled_from([4, 6, 8]))
def test_random_graphs_are_accepted_exactly_when_torch_runs_them(layers: list[Any], side: int) -> None:
    made: list[nn.Module] = []
    x = torch.empty((BATCH, 3, side, side), device="meta")
    try:
        with torch.device("meta"), FlopCounterMode(display=False) as counter:
            y = _run(layers, x, made)
        torch_ok = True
    except RuntimeError:
        torch_ok = False
    refusal = ""
    try:
        spec = make_spec((3, side, side), layers, batch_size=BATCH)
    except SpecError as exc:
        refusal = str(exc)
    assert torch_ok == (not refusal), refusal or "convprof accepted what torch refuses"
    if refusal:
        return
    report = analyze(spec).variant("conv")
    assert spec.output == tuple(y.shape[1:])
    assert report.params == sum(p.numel() for m in made for p in m.parameters())
    assert report.flops == counter.get_total_flops()
    model = build_model(spec, "conv", "meta")
    with FlopCounterMode(display=False) as built:
        model(torch.empty((BATCH, 3, side, side), device="meta"))
    assert built.get_total_flops() == report.flops


# -- every command on graphs -----------------------------------------------------------------------


def _graph_file(tmp_path: Any) -> Any:
    path = tmp_path / "graph.yaml"
    path.write_text(spec_text((3, 16, 16), GRAPH, batch_size=BATCH), encoding="utf-8")
    return path


def _convprof(*args: Any) -> Any:
    import subprocess

    return subprocess.run(
        [*CONVPROF, *map(str, args)],
        capture_output=True,
        text=True,
        check=False,
        stdin=subprocess.DEVNULL,
    )


@pytest.mark.slow
def test_measuring_a_graph_times_all_three_variants(tmp_path: Any) -> None:
    import json

    done = _convprof(
        "compare", _graph_file(tmp_path), "--preset", "quick", "--device", "cpu", "--format", "json"
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    for variant in VARIANTS:
        cpu = report["variants"][variant]["latency"]["cpu"]
        assert cpu["median_ms"] > 0, variant
        assert cpu["memory"]["weight_bytes"] == report["variants"][variant]["param_bytes"]


@pytest.mark.slow
def test_budgets_and_diff_work_on_graphs(tmp_path: Any) -> None:
    import json

    spec = _graph_file(tmp_path)
    conv_params = analyze(graph_spec()).variant("conv").params
    assert _convprof("check", spec, "--max-params", conv_params).returncode == 0
    failed = _convprof("check", spec, "--max-params", conv_params - 1)
    assert failed.returncode == 1
    assert "params" in failed.stdout
    old, new = tmp_path / "old.json", tmp_path / "new.json"
    assert _convprof("compare", spec, "--no-latency", "--format", "json", "-o", old).returncode == 0
    spec.write_text(spec.read_text(encoding="utf-8").replace('"times": 2', '"times": 3'), encoding="utf-8")
    assert _convprof("compare", spec, "--no-latency", "--format", "json", "-o", new).returncode == 0
    diff = json.loads(_convprof("diff", old, new, "--format", "json").stdout)
    added = [layer["path"] for layer in diff["variants"]["conv"]["layers"] if layer["status"] == "added"]
    assert added[0] == "layer1.2.conv1"
    assert all(path.startswith("layer1.2.") for path in added)
