"""compare and examples end to end: goldens for every format, invariants, and the torch-free path."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from click.testing import CliRunner
from rich.console import Console

from convprof.cli import cli
from convprof.commands.sources import load_spec
from convprof.graph.analyze import analyze
from convprof.graph.parse import parse_spec
from convprof.graph.variants import VARIANTS
from convprof.render.table import render_compare
from convprof.spec.examples import read_example
from tests.conftest import SPECS
from tests.reports import environment, measured

EXAMPLES = [
    "why_convolutions",
    "lenet5",
    "alexnet",
    "vgg16",
    "mobilenet_v1",
    "resnet18",
    "resnet50",
    "mobilenet_v2",
    "mobilenet_v3_small",
    "efficientnet_b0",
    "googlenet",
    "densenet121",
    "squeezenet1_1",
    "unet",
    "convnext_tiny",
    "lraspp_mobilenet_v3_large",
    "m5",
    "r3d_18",
]


def run(*args: str) -> str:
    result = CliRunner().invoke(cli, list(args))
    assert result.exit_code == 0, result.stderr
    return result.stdout


@pytest.mark.parametrize("name", ["why_convolutions", "lenet5", "mobilenet_v1"])
def test_table_golden(name: str, golden) -> None:
    buffer = StringIO()
    console = Console(file=buffer, width=100, no_color=True, force_terminal=False)
    render_compare(analyze(load_spec(name)), console, layers=name != "mobilenet_v1")
    golden(f"compare_{name}.txt", buffer.getvalue())


def test_the_layers_table_starts_after_an_empty_line_when_measured_notes_precede_it() -> None:
    report = measured(
        analyze(load_spec("lenet5")),
        {v: {"cpu": 1.5} for v in VARIANTS},
        environment("Test CPU", 1, "2.13.0"),
    )
    buffer = StringIO()
    render_compare(report, Console(file=buffer, width=100, no_color=True), layers=True)
    lines = [line.rstrip() for line in buffer.getvalue().splitlines()]
    title = lines.index("Layers (conv variant)")
    assert lines[title - 1] == ""
    assert any(line.startswith("Measured with torch 2.13.0") for line in lines[:title])


@pytest.mark.parametrize("fmt", ["json", "markdown", "csv"])
def test_machine_and_markdown_goldens(fmt: str, golden) -> None:
    extension = {"json": "json", "markdown": "md", "csv": "csv"}[fmt]
    golden(f"compare_lenet5.{extension}", run("compare", "lenet5", "--no-latency", "--format", fmt))


def test_csv_layers_golden(golden) -> None:
    golden(
        "compare_lenet5_layers.csv", run("compare", "lenet5", "--no-latency", "--format", "csv", "--layers")
    )


@pytest.mark.parametrize("name", EXAMPLES)
def test_json_report_invariants(name: str) -> None:
    """Columns sum to totals, FLOPs are twice MACs, memory follows its documented formulas."""
    report = json.loads(run("compare", name, "--no-latency", "--format", "json"))
    assert report["schema_version"] == 4
    assert report["spec"]["name"] == name
    element = {"float32": 4, "float16": 2, "bfloat16": 2, "float64": 8}[report["spec"]["dtype"]]
    batch = report["spec"]["batch_size"]
    input_bytes = element * batch
    for dim in report["spec"]["input"]:
        input_bytes *= dim
    assert list(report["variants"]) == ["dense", "local", "conv"]
    data = read_example(name)
    assert data is not None
    chain = all(node.inputs == (node.index - 1,) for node in parse_spec(data, name, name).nodes)
    for variant in report["variants"].values():
        layers = variant["layers"]
        assert "unknown_ops" not in variant  # every example is counted: no total is a lower bound
        assert "lower_bounds" not in variant
        assert variant["params"] == sum(layer["params"] for layer in layers)
        assert variant["frozen_params"] == sum(layer["frozen_params"] for layer in layers) == 0
        assert variant["trainable_params"] == variant["params"]
        assert variant["macs"] == sum(layer["macs"] for layer in layers)
        assert variant["flops"] == 2 * variant["macs"]
        assert variant["elementwise_ops"] == sum(layer["elementwise_ops"] for layer in layers)
        assert variant["param_bytes"] == element * variant["params"]
        assert variant["buffer_bytes"] == sum(layer["buffer_bytes"] for layer in layers)
        # adam by default: two moments of the weights and a float32 step count per parameter tensor
        assert (variant["optimizer_bytes"] - 2 * variant["param_bytes"]) % 4 == 0
        assert variant["training_flops"] == variant["flops"] + variant["backward_flops"]
        assert variant["backward_flops"] == sum(layer["backward_flops"] for layer in layers)
        # A step holds the weights, their gradients, the optimizer's state, the buffers, the input
        # and at least what autograd keeps at the end of the forward.
        assert variant["training_bytes"] >= (
            2 * variant["param_bytes"] + variant["optimizer_bytes"] + variant["buffer_bytes"] + input_bytes
        )
        assert variant["training_bytes"] >= (
            variant["param_bytes"]
            + variant["optimizer_bytes"]
            + variant["buffer_bytes"]
            + variant["saved_activation_bytes"]
        )
        # What autograd keeps is what the layers make that it keeps, and the input when a layer keeps it.
        kept_by_layers = sum(layer["saved_bytes"] for layer in layers)
        assert variant["saved_activation_bytes"] - kept_by_layers in (0, input_bytes)
        largest_pair = max(
            [input_bytes]
            + [
                (input_bytes if i == 0 else layers[i - 1]["activation_bytes"]) + layer["activation_bytes"]
                for i, layer in enumerate(layers)
            ]
        )
        if chain:  # liveness on a chain: the largest input + output pair
            assert input_bytes <= variant["activation_bytes"] <= largest_pair
        else:  # shortcuts and branches keep tensors alive longer, but never more than all of them
            largest = max(layer["activation_bytes"] for layer in layers)
            everything = input_bytes + sum(layer["activation_bytes"] for layer in layers)
            assert max(input_bytes, largest) <= variant["activation_bytes"] <= everything
        for value in (variant["params"], variant["macs"], variant["training_bytes"]):
            assert isinstance(value, int)
        # Memory over time: inference's live activations peak at the peak; a training step's
        # moments peak at its peak, where the tensors it holds add up to it.
        assert max(layer["live_bytes"] for layer in layers) == variant["activation_bytes"]
        moments = [layer["step_forward_bytes"] for layer in layers]
        moments += [layer["step_backward_bytes"] for layer in layers if layer["step_backward_bytes"]]
        assert max([*moments, variant["step_optimizer_bytes"]]) == variant["training_bytes"]
        assert sum(held["bytes"] for held in variant["training_peak_tensors"]) == variant["training_bytes"]
    # Every non-conv layer is identical across the three variants (its receptive field aside:
    # downstream of a dense layer every unit sees the whole input).
    for position, conv_layer in enumerate(report["variants"]["conv"]["layers"]):
        for other in ("dense", "local"):
            layer = dict(report["variants"][other]["layers"][position])
            if not conv_layer["kind"].startswith("Conv"):  # convolutions of every rank, transposed too
                layer["receptive_field"] = conv_layer["receptive_field"]
                # What autograd keeps of a layer's output depends on who reads it: a local layer
                # keeps its own columns, not its input.
                layer["saved_bytes"] = conv_layer["saved_bytes"]
                # A training step's moments are the whole step's memory, which the convs change.
                for moment in ("step_forward_bytes", "step_backward_bytes"):
                    layer[moment] = conv_layer[moment]
                assert layer == conv_layer


def test_savings_sentence_has_the_real_figures() -> None:
    text = run("compare", "why_convolutions", "--no-latency", "--format", "markdown")
    # 14,455,392 / 357,504 = 40.43 and 357,504 / 456 = 784.0
    assert "Sparsity of connections cuts parameters 40.4x (dense -> local)" in text
    assert "parameter sharing cuts them another 784x (local -> conv)" in text


def test_batch_size_and_dtype_options_scale_what_they_should() -> None:
    base = json.loads(run("compare", "lenet5", "--no-latency", "--format", "json"))["variants"]["conv"]
    other = json.loads(
        run(
            "compare", "lenet5", "--no-latency", "--format", "json", "--batch-size", "8", "--dtype", "float16"
        )
    )["variants"]["conv"]
    assert other["params"] == base["params"]
    assert other["macs"] == 8 * base["macs"]
    assert other["param_bytes"] == base["param_bytes"] // 2
    assert other["activation_bytes"] == base["activation_bytes"] * 8 // 2


@pytest.mark.parametrize(
    ("optimizer", "state"), [("sgd", 0), ("momentum", 61_706 * 4), ("adam", 2 * 61_706 * 4 + 10 * 4)]
)
def test_optimizer_state(optimizer: str, state: int) -> None:
    # LeNet-5 has 61,706 parameters in 10 tensors (a weight and a bias per layer); Adam keeps two
    # moments of each and a float32 step count per tensor.
    report = json.loads(
        run("compare", "lenet5", "--no-latency", "--format", "json", "--optimizer", optimizer)
    )
    conv = report["variants"]["conv"]
    assert conv["optimizer_bytes"] == state


def test_a_path_wins_over_an_example_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    Path("lenet5").write_text("name: mine\ninput: [4]\nlayers:\n  - linear: {out_features: 2}\n")
    report = json.loads(run("compare", "lenet5", "--no-latency", "--format", "json"))
    assert report["spec"]["name"] == "mine"
    assert report["variants"]["conv"]["params"] == 4 * 2 + 2


def test_name_defaults_to_the_file_stem(tmp_path: Path) -> None:
    spec = tmp_path / "tiny_net.yaml"
    spec.write_text("input: [4]\nlayers:\n  - linear: {out_features: 2}\n")
    assert (
        json.loads(run("compare", str(spec), "--no-latency", "--format", "json"))["spec"]["name"]
        == "tiny_net"
    )


def test_output_file_holds_the_same_report(tmp_path: Path) -> None:
    target = tmp_path / "report.json"
    result = CliRunner().invoke(
        cli, ["compare", "lenet5", "--no-latency", "--format", "json", "-o", str(target)]
    )
    assert result.exit_code == 0
    assert result.stdout == ""
    assert json.loads(target.read_text()) == json.loads(
        run("compare", "lenet5", "--no-latency", "--format", "json")
    )
    assert [p.name for p in tmp_path.iterdir()] == ["report.json"]  # no temporary file left behind


def test_examples_lists_every_shipped_spec() -> None:
    text = run("examples")
    for name in EXAMPLES:
        assert name in text
    assert sorted(p.stem for p in SPECS.glob("*.yaml")) == sorted(EXAMPLES)


def test_help_states_the_counting_convention() -> None:
    text = run("compare", "--help")
    assert "FLOPs  2 x MACs" in text
    assert "FlopCounterMode" in text
    assert "Element-wise ops" in text


def test_python_dash_m_and_version() -> None:
    process = subprocess.run(
        [sys.executable, "-m", "convprof", "--version"], capture_output=True, text=True, check=True
    )
    assert process.stdout.startswith("convprof, version ")


def test_analytic_path_never_imports_torch() -> None:
    """The documented speed promise rests on this: counting is pure Python."""
    code = (
        "import sys\n"
        "from convprof.cli import cli\n"
        "try:\n"
        "    cli(['compare', 'vgg16', '--no-latency', '--format', 'json'], prog_name='convprof')\n"
        "except SystemExit as exit:\n"
        "    assert exit.code in (0, None), exit.code\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'numpy'))\n"
        "print('IMPORTED', heavy, file=sys.stderr)\n"
    )
    process = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "IMPORTED []" in process.stderr
    assert json.loads(process.stdout)["variants"]["conv"]["params"] == 138_357_544


def test_output_file_gets_ordinary_permissions(tmp_path: Path) -> None:
    target = tmp_path / "report.json"
    CliRunner().invoke(cli, ["compare", "lenet5", "--no-latency", "--format", "json", "-o", str(target)])
    mask = os.umask(0)
    os.umask(mask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~mask


@pytest.mark.parametrize(
    ("input_shape", "layers"),
    [
        (
            [1, 400],
            [
                "conv1d: {out_channels: 4, kernel_size: 9, stride: 2}",
                "convtranspose1d: {out_channels: 2, kernel_size: 4, stride: 2}",
            ],
        ),
        (
            [2, 4, 12, 12],
            [
                "conv3d: {out_channels: 4, kernel_size: 3, padding: 1}",
                "convtranspose3d: {out_channels: 2, kernel_size: 2, stride: 2}",
            ],
        ),
    ],
)
def test_savings_sentence_and_layer_table_for_every_rank(
    tmp_path: Path, input_shape: list[int], layers: list[str]
) -> None:
    spec = tmp_path / "net.yaml"
    spec.write_text(f"input: {input_shape}\nlayers:\n" + "".join(f"  - {layer}\n" for layer in layers))
    report = json.loads(run("compare", str(spec), "--no-latency", "--format", "json"))
    params = {name: report["variants"][name]["params"] for name in ("dense", "local", "conv")}
    text = run("compare", str(spec), "--no-latency", "--format", "markdown")
    found = re.search(
        r"Sparsity of connections cuts parameters ([\d,.]+)x \(dense -> local\); "
        r"parameter sharing cuts them another ([\d,.]+)x \(local -> conv\)",
        text,
    )
    assert found is not None
    sparsity, sharing = (float(value.replace(",", "")) for value in found.groups())
    assert sparsity == pytest.approx(params["dense"] / params["local"], rel=0.005)  # three figures
    assert sharing == pytest.approx(params["local"] / params["conv"], rel=0.005)
    kinds = [layer.split(":")[0] for layer in layers]
    assert [layer["kind"].lower() for layer in report["variants"]["conv"]["layers"]] == kinds
    assert [layer["kind"] for layer in report["variants"]["local"]["layers"]][1].startswith(
        "LocallyConnectedTranspose"
    )
    for kind in kinds:
        assert f"| {kind} |" in text
