"""Importing by running the model: what torch runs is what is read, with the numbers torch gives.

Each model is in tests/importable_models.py. Counts are checked against torch itself: parameters
against the model's tensors, FLOPs against FlopCounterMode, output shapes and (where the spec can
rebuild it) outputs against the model's own, with its weights loaded by path.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import torch
from click.testing import CliRunner
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

import convprof
from convprof.cli import cli
from convprof.graph.build import build_model
from convprof.graph.liveness import peak_activation_bytes
from convprof.graph.parse import parse_spec
from convprof.importing import ModelImportError, import_module
from convprof.importing.tracing import trace_module
from convprof.measure.memory import measure_memory
from convprof.report import Report
from convprof.report.analyze import analyze
from convprof.report.reportfile import load_report
from tests import importable_models as models
from tests.conftest import ROOT
from tests.processes import CONVPROF
from tests.training_oracle import saved_bytes, step_peak

MODELS_FILE = "tests/importable_models.py"
#: A hand-written spec of two inputs and two outputs.
TWO_BY_TWO = (
    "inputs: {image: [3, 8, 8], depth: [1, 8, 8]}\nlayers:\n"
    "  - conv2d: {name: a, out_channels: 4, kernel_size: 3, padding: 1}\n"
    "  - conv2d: {name: b, from: depth, out_channels: 4, kernel_size: 1}\n"
    "  - add: {from: [a, b]}\n"
    "  - linear: {name: fc, from: a, out_features: 2}\n"
    "outputs: {fused: add_1, side: fc}\n"
)
#: Tolerance of a rebuilt model's outputs against the original's.
TOLERANCE = 1e-5


def _line_of(code: str) -> int:
    """Return the line of tests/importable_models.py that holds `code` (once)."""
    lines = (ROOT / MODELS_FILE).read_text(encoding="utf-8").splitlines()
    (number,) = [n for n, line in enumerate(lines, start=1) if code in line]
    return number


def _torch_counts(model: nn.Module, *shapes: tuple[int, ...]) -> tuple[int, int, Any]:
    """Return torch's parameters, forward FLOPs (batch 1) and output of `model`."""
    model.eval()
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        out = model(*(torch.randn(1, *shape) for shape in shapes))
    return sum(p.numel() for p in model.parameters()), counter.get_total_flops(), out


def _invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CONVPROF, *args],
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )


# -- the path torch takes ------------------------------------------------------------------------------


def test_a_branch_on_isinstance_follows_the_path_torch_takes() -> None:
    """The issue's case: symbolic tracing skipped `b` and gave 18,432 FLOPs and 148 parameters."""
    model = models.Checked()
    params, flops, _ = _torch_counts(model, (4, 8, 8))
    assert (params, flops) == (296, 36_864)
    conv = analyze(convprof.from_module(model, (4, 8, 8))).variant("conv")
    assert (conv.params, conv.flops) == (296, 36_864)
    assert [layer.path for layer in conv.layers] == ["a", "b"]


def test_a_model_branching_on_values_stops_at_its_line() -> None:
    result = _run("import", f"{MODELS_FILE}:Branching", "--input", "4x8")
    line = _line_of("return x.relu() if x.sum() > 0 else x.sigmoid()")
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.startswith(
        "convprof: error: Branching cannot run on tensors without data: its code reads a tensor's "
        f"values at importable_models.py:{line} "
    )
    assert result.stderr.count("\n") == 1


# -- names ---------------------------------------------------------------------------------------------


def test_scopes_entered_again_keep_torch_module_names_and_the_spec_reads_back() -> None:
    model = models.Reentered()
    result = import_module(model, (4, 4, 4))
    paths = [node.path for node in result.spec.nodes]
    # The shared SiLU at each block's own name; the relu between blocks in the top scope.
    assert paths[:9] == [
        "blocks.0.conv",
        "blocks.0.act",
        "relu",
        "blocks.1.conv",
        "blocks.1.act",
        "relu_1",
        "blocks.2.conv",
        "blocks.2.act",
        "relu_2",
    ]
    # up_samples entered again after up_layers and fuse ran, each turn; fuse called twice.
    assert paths[9:] == [
        "up_samples.0.0",
        "up_samples.0.1",
        "up_layers.0",
        "interpolate",
        "fuse.0",
        "add",
        "up_samples.1.0",
        "up_samples.1.1",
        "up_layers.1",
        "interpolate_1",
        "fuse.1",
        "add_1",
    ]
    # A new group each time a scope is entered again, under the name torch gives it.
    assert result.text.count("name: up_samples") == 2
    assert result.text.count("name: fuse") == 2
    assert len(set(paths)) == len(paths)
    again = parse_spec(result.text.encode(), "reentered.yaml", "reentered")
    assert [(n.path, n.kind, n.args, n.inputs) for n in again.nodes] == [
        (n.path, n.kind, n.args, n.inputs) for n in result.spec.nodes
    ]


def test_a_reentered_import_counts_what_torch_counts() -> None:
    model = models.Reentered()
    params, flops, out = _torch_counts(model, (4, 4, 4))
    spec = convprof.from_module(model, (4, 4, 4))
    conv = analyze(spec).variant("conv")
    assert (conv.params, conv.flops, spec.output) == (params, flops, tuple(out.shape[1:]))


# -- functional layers on a module's own tensors ---------------------------------------------------------


def test_functional_calls_on_a_modules_own_tensors_are_the_layers_they_compute() -> None:
    torch.manual_seed(0)
    model = models.Functionals().eval()
    with torch.no_grad():
        model.bn.running_mean.uniform_(-1, 1)
        model.bn.running_var.uniform_(0.5, 2)
    params, flops, out = _torch_counts(model, (4, 6, 6))
    result = import_module(model, (4, 6, 6))
    assert result.unused == ()
    kinds = {node.path: node.kind for node in result.spec.nodes}
    assert kinds == {
        "conv": "Conv2d",
        "bn": "BatchNorm2d",
        "bn.act": "ReLU",
        "norm.permute": "Permute",
        "norm": "LayerNorm",
        "norm.permute_1": "Permute",
        "mix": "GroupNorm",
        "mix.prelu": "PReLU",  # a second layer of mix's tensors: named in its scope
        "flatten": "Flatten",
        "fc": "Linear",
    }
    conv = analyze(result.spec).variant("conv")
    buffers = sum(b.numel() * b.element_size() for b in model.buffers())
    assert (conv.params, conv.flops, conv.buffer_bytes) == (params, flops, buffers)
    assert result.spec.output == tuple(out.shape[1:])
    rebuilt = build_model(result.spec, "conv")
    missing, unexpected = rebuilt.load_state_dict(model.state_dict(), strict=False)
    assert (missing, unexpected) == (["mix.prelu.weight"], ["mix.slope"])
    rebuilt.get_submodule("mix.prelu").weight.data.copy_(model.mix.slope.data)
    x = torch.randn(2, 4, 6, 6)
    with torch.no_grad():
        assert torch.allclose(rebuilt(x), model(x), atol=TOLERANCE, rtol=TOLERANCE)


def test_arithmetic_on_parameters_alone_is_parameter_work_once_per_step() -> None:
    model = models.Standardized()
    params, flops, out = _torch_counts(model, (3, 5, 5))
    result = import_module(model, (3, 5, 5))
    spec = result.spec
    assert [(n.path, n.kind) for n in spec.nodes] == [
        ("stem", "Conv2d"),
        ("relu", "ReLU"),
        ("body", "Conv2d"),
    ]
    stem, body = spec.parameter_work
    # The stem's weight standardized from itself: 4 x 27 values, its parameters the layer's own.
    assert (stem.path, stem.values, stem.params) == ("stem", 4 * 27, ())
    assert stem.ops == ("Tensor.reshape", "torch.nn.functional.batch_norm", "Tensor.reshape_as")
    # The body's gain: 6 values scaled, then 6 x 36 standardized; the gain held at the layer's path.
    assert (body.path, body.values, body.params) == ("body", 6 + 6 * 36, (("gain", (6, 1, 1, 1)),))
    assert "parameter_work:\n  - {for: stem, ops: [Tensor.reshape" in result.text
    conv = analyze(spec).variant("conv")
    assert (conv.params, conv.flops, spec.output) == (params, flops, tuple(out.shape[1:]))
    # Once per step: a batch twice as large doubles the element-wise ops of the samples only.
    rows = {layer.path: layer.elementwise_ops for layer in conv.layers}
    doubled = {
        layer.path: layer.elementwise_ops
        for layer in analyze(parse_spec(result.text.encode(), "s", "s", batch_size=2)).variant("conv").layers
    }
    for path, work in (("stem", stem.values), ("body", body.values)):
        assert doubled[path] - work == 2 * (rows[path] - work)  # type: ignore[operator]
    rebuilt = build_model(spec, "conv")
    missing, unexpected = rebuilt.load_state_dict(model.state_dict())  # the gain loads by path
    assert (missing, unexpected) == ([], [])


def test_parameter_work_in_training_counts_its_tensors_and_leaves_its_autograd_a_lower_bound() -> None:
    model = models.Standardized()
    spec = convprof.from_module(model, (3, 5, 5))
    conv = analyze(spec, "adam").variant("conv")
    # Adam's two moments of every parameter, the gain's included, and a step count per tensor (5).
    assert conv.optimizer_bytes == 2 * 4 * sum(p.numel() for p in model.parameters()) + 4 * 5
    # What autograd keeps of the standardization is not modelled: marked, and below what torch takes.
    assert {"saved_activation_bytes", "training_bytes"} <= set(conv.lower_bounds)
    assert conv.training_bytes <= step_peak(model, torch.randn(1, 3, 5, 5), "adam")


# -- constants, whole slices, stacks, defaults -----------------------------------------------------------


def test_a_stack_summed_over_its_new_dimension_is_an_add_and_a_whole_slice_is_nothing() -> None:
    model = models.Merged()
    params, flops, out = _torch_counts(model, (3, 4, 4))
    result = import_module(model, (3, 4, 4))
    nodes = result.spec.nodes
    assert result.spec.output == tuple(out.shape[1:])
    assert [(n.path, n.kind) for n in nodes] == [
        ("convs.0", "Conv2d"),
        ("convs.1", "Conv2d"),
        ("convs.2", "Conv2d"),
        ("sum", "Add"),
    ]
    assert nodes[-1].inputs == (0, 1, 2)
    conv = analyze(result.spec).variant("conv")
    # Each convolution's bias adds, and the three levels added: two adds per element.
    assert (conv.params, conv.flops, conv.elementwise_ops) == (params, flops, 3 * 8 * 16 + 2 * 8 * 16)
    rebuilt = build_model(result.spec, "conv")
    rebuilt.load_state_dict(model.state_dict())
    x = torch.randn(2, 3, 4, 4)
    with torch.no_grad():
        assert torch.allclose(rebuilt(x), model(x), atol=TOLERANCE, rtol=TOLERANCE)


def test_a_constant_made_while_running_is_not_an_input() -> None:
    # YOLO's anchors from torch.arange: the add reads the head's output and a constant, whose shape
    # the arithmetic keeps and whose elements are its buffer (memory); the spec's only input is x.
    model = models.Anchored()
    params, flops, out = _torch_counts(model, (3, 4, 5))
    spec = convprof.from_module(model, (3, 4, 5))
    assert (spec.input, spec.inputs, spec.output) == ((3, 4, 5), (), tuple(out.shape[1:]))
    _, add = spec.nodes
    assert (add.kind, add.inputs, add.args.op, add.args.other_shape) == ("Arithmetic", (0,), "add", (2, 4, 5))
    conv = analyze(spec).variant("conv")
    assert (conv.params, conv.flops) == (params, flops)
    assert conv.layers[1].buffer_bytes == 2 * 4 * 5 * 4


def test_every_unknown_op_is_listed_not_only_the_first() -> None:
    with pytest.raises(ModelImportError) as failure:
        convprof.from_module(models.TwoUnknown(), (3, 4, 4))
    message = str(failure.value)
    assert message.startswith("2 ops convprof cannot count: ")
    assert f"1 x Tensor.cumsum at <top> (importable_models.py:{_line_of('.cumsum(1)')})" in message
    assert f"1 x Tensor.flip at <top> (importable_models.py:{_line_of('y.flip(2)')})" in message


def test_a_refused_op_names_the_line_of_the_models_code_from_a_process() -> None:
    result = _run("import", f"{MODELS_FILE}:TwoUnknown", "--input", "3x4x4")
    assert result.returncode == 2
    assert f"(importable_models.py:{_line_of('.cumsum(1)')})" in result.stderr
    assert result.stderr.count("\n") == 1


# -- several inputs and outputs --------------------------------------------------------------------------


def test_a_model_of_two_inputs_takes_input_once_per_argument(tmp_path: Path) -> None:
    target = tmp_path / "two.yaml"
    result = _run(
        "import", f"{MODELS_FILE}:TwoInputs", "--input", "3x8x8", "--input", "1x8x8", "-o", str(target)
    )
    assert result.returncode == 0, result.stderr
    text = target.read_text(encoding="utf-8")
    # The forward's arguments, image and mask, are also its layers' names: the inputs say so.
    assert "inputs:\n  input_image: [3, 8, 8]\n  input_mask: [1, 8, 8]\n" in text
    assert "- conv2d: {name: mask, from: input_mask, out_channels: 4, kernel_size: 1}" in text
    spec = parse_spec(text.encode(), str(target), "two")
    model = models.TwoInputs()
    params, flops, out = _torch_counts(model, (3, 8, 8), (1, 8, 8))
    conv = analyze(spec).variant("conv")
    assert (conv.params, conv.flops, spec.output) == (params, flops, tuple(out.shape[1:]))
    assert conv.layers[1].inputs == ("input_mask",)
    rebuilt = build_model(spec, "conv")
    rebuilt.load_state_dict(model.state_dict())
    image, mask = torch.randn(2, 3, 8, 8), torch.randn(2, 1, 8, 8)
    with torch.no_grad():
        assert torch.allclose(rebuilt(image, mask), model(image, mask), atol=TOLERANCE, rtol=TOLERANCE)
    # What the training model says of two inputs, as torch keeps and peaks.
    two = parse_spec(text.encode(), str(target), "two", batch_size=2)
    trained = analyze(two, "sgd").variant("conv")
    assert trained.saved_activation_bytes == saved_bytes(rebuilt.train(), (image, mask))
    assert trained.training_bytes == step_peak(rebuilt, (image, mask), "sgd")
    with torch.inference_mode():
        measured = measure_memory(rebuilt.eval(), (image, mask), "cpu")
    estimate = peak_activation_bytes(two)
    assert estimate <= measured.peak_activation_bytes <= estimate + image.nbytes + mask.nbytes


def test_the_number_of_inputs_must_be_what_the_forward_takes() -> None:
    code, _, err = _invoke("import", f"{MODELS_FILE}:TwoInputs", "--input", "3x8x8")
    assert code == 2
    assert err == (
        "convprof: error: TwoInputs's forward takes 2 tensors (image, mask) where 1 is given: give "
        "--input once per argument, in order\n"
    )
    code, _, err = _invoke("import", f"{MODELS_FILE}:Pooled", "--input", "3x8x8", "--input", "3x8x8")
    assert code == 2
    assert "Pooled's forward takes 1 tensor (x) where 2 are given" in err


def test_a_model_returning_several_tensors_has_each_output_named_and_counted() -> None:
    torch.manual_seed(0)
    model = models.TwoHeads().eval()
    params, flops, out = _torch_counts(model, (3, 8, 8))
    result = import_module(model, (3, 8, 8))
    spec = result.spec
    assert [(name, spec.nodes[index].path) for name, index in spec.outputs] == [
        ("out", "classifier"),
        ("aux", "aux"),
    ]
    assert [spec.shape_of(index) for _, index in spec.outputs] == [tuple(t.shape[1:]) for t in out.values()]
    assert "outputs:\n  out: classifier\n  aux: aux\n" in result.text
    assert "out is output['out'], aux is output['aux']" in result.text
    report = analyze(spec)
    conv = report.variant("conv")
    assert (conv.params, conv.flops) == (params, flops)  # both heads
    assert report.spec.outputs == (("out", "classifier", (5, 4, 4)), ("aux", "aux", (5, 4, 4)))
    rebuilt = build_model(spec, "conv")
    rebuilt.load_state_dict(model.state_dict())
    x = torch.randn(2, 3, 8, 8)
    with torch.no_grad():
        first, second = rebuilt(x)
        expected = model(x)
    assert torch.allclose(first, expected["out"], atol=TOLERANCE)
    assert torch.allclose(second, expected["aux"], atol=TOLERANCE)
    # Both outputs live to the end and both get a gradient in a training step.
    two = parse_spec(result.text.encode(), "two", "two", batch_size=2)
    trained = analyze(two, "sgd").variant("conv")
    assert trained.training_bytes == step_peak(rebuilt, x, "sgd")
    assert trained.saved_activation_bytes == saved_bytes(rebuilt.train(), x)
    with torch.inference_mode():
        measured = measure_memory(rebuilt.eval(), (x,), "cpu")
    estimate = peak_activation_bytes(two)
    assert estimate <= measured.peak_activation_bytes <= estimate + x.nbytes


def test_a_report_of_several_outputs_names_them_and_reads_back(tmp_path: Path) -> None:
    spec = tmp_path / "heads.yaml"
    spec.write_text(import_module(models.TwoHeads(), (3, 8, 8)).text, encoding="utf-8")
    out = tmp_path / "heads.json"
    code, _, err = _invoke("compare", str(spec), "--no-latency", "--format", "json", "-o", str(out))
    assert code == 0, err
    data = json.loads(out.read_text(encoding="utf-8"))
    assert data["schema_version"] == 4
    assert data["spec"]["outputs"] == [
        {"name": "out", "path": "classifier", "shape": [5, 4, 4]},
        {"name": "aux", "path": "aux", "shape": [5, 4, 4]},
    ]
    assert "inputs" not in data["spec"]
    assert load_report(out) == Report.from_dict(data)
    code, table, _ = _invoke("compare", str(spec), "--no-latency")
    assert "twoheads: input 3x8x8; outputs out 5x4x4, aux 5x4x4, batch 1, float32" in table


def test_a_report_of_the_previous_schema_still_reads() -> None:
    # A report convprof wrote before schema 4 (no named inputs or outputs): one input, one output.
    old = Path(__file__).parent / "data" / "lenet5_schema3.json"
    assert load_report(old).spec.input == (1, 32, 32)
    assert load_report(old).spec.inputs == ()
    code, _, err = _invoke("diff", str(old), str(old))
    assert code == 0, err


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("input: [3]\ninputs: {a: [3]}\nlayers: [relu]\n", "give `input` (one input) or `inputs`"),
        ("inputs: {}\nlayers: [relu]\n", "`inputs` maps each input's name to one sample's shape"),
        ("inputs: {a.b: [3]}\nlayers: [relu]\n", "inputs: 'a.b' is not a name"),
        ("inputs: {a: [0]}\nlayers: [relu]\n", "expected a positive integer"),
        ("inputs: {a: [3], b: [3]}\nlayers: [{relu: {name: b}}]\n", "'b' names the network's input"),
        ("inputs: {a: [3], b: [3]}\nlayers: [{relu: {from: c}}]\n", "no earlier layer is called 'c'"),
        ("input: [3]\nlayers: [relu]\noutputs: {o: nowhere}\n", "outputs o: no layer has the path 'nowhere'"),
        ("input: [3]\nlayers: [relu]\noutputs: []\n", "`outputs` maps each output's name to a layer's path"),
        ("input: [3]\nlayers: [relu]\nparameter_work: [{for: x, values: 1}]\n", "no layer has the path 'x'"),
        ("input: [3]\nlayers: [relu]\nparameter_work: [{for: relu_1}]\n", "an entry needs `values`"),
        (
            "input: [3]\nlayers: [relu]\nparameter_work: [{for: relu_1, values: 1, params: {a.b: [1]}}]\n",
            "'a.b' is not a parameter's name",
        ),
        (
            "input: [3]\nlayers: [relu]\n"
            "parameter_work: [{for: relu_1, values: 1}, {for: relu_1, values: 2}]\n",
            "'relu_1' has two entries",
        ),
    ],
)
def test_bad_inputs_outputs_and_parameter_work_get_one_located_line(
    text: str, message: str, tmp_path: Path
) -> None:
    spec = tmp_path / "bad.yaml"
    spec.write_text(text, encoding="utf-8")
    code, out, err = _invoke("compare", str(spec), "--no-latency")
    assert code == 2
    assert out == ""
    assert err.startswith(f"convprof: error: {spec}:")
    assert message in err, err
    assert err.count("\n") == 1


def test_a_hand_written_spec_of_two_inputs_and_two_outputs_counts_and_builds(tmp_path: Path) -> None:
    spec = tmp_path / "two.yaml"
    spec.write_text(TWO_BY_TWO, encoding="utf-8")
    parsed = parse_spec(spec.read_bytes(), str(spec), "two")
    conv = analyze(parsed).variant("conv")
    assert conv.macs == 4 * 27 * 64 + 4 * 64 + 8 * 2 * 4 * 8
    model = build_model(parsed, "conv")
    image, depth = torch.randn(1, 3, 8, 8), torch.randn(1, 1, 8, 8)
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        fused, side = model(image, depth)
    assert (tuple(fused.shape), tuple(side.shape)) == ((1, 4, 8, 8), (1, 4, 8, 2))
    assert conv.flops == counter.get_total_flops()
    code, out, _ = _invoke("compare", str(spec), "--no-latency")
    assert code == 0
    assert "two: inputs image 3x8x8, depth 1x8x8; outputs fused 4x8x8, side 4x8x2" in out
    code, _, err = _invoke("sweep", str(spec), "--resolution", "8,16")
    assert code == 2
    assert "has 2 inputs (image, depth); sweep each with --set inputs.NAME=[...]" in err


def test_a_forward_argument_with_a_default_is_not_an_input() -> None:
    traced = trace_module(models.TwoInputs(), [(3, 8, 8), (1, 8, 8)])
    assert traced.input_names == ("image", "mask")


# -- the model's own output ------------------------------------------------------------------------------


def test_what_a_model_prints_logs_and_warns_never_reaches_convprofs_output(tmp_path: Path) -> None:
    result = _run("import", f"{MODELS_FILE}:Chatty", "--input", "3x4x4")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("# Imported from tests/importable_models.py:Chatty")
    for line in ("building", "running", "on stderr", "a log line", "a warning"):
        assert line not in result.stdout
    # What it prints is not lost: on stderr. The warnings and log records of its run on tensors
    # without data are silenced; those of building it are the model's own, on stderr as Python's.
    assert "building Chatty" in result.stderr
    assert "running Chatty" in result.stderr
    assert "on stderr" in result.stderr
    spec = parse_spec(result.stdout.encode(), "chatty.yaml", "chatty")
    assert [node.kind for node in spec.nodes] == ["Conv2d"]


def test_a_spec_of_two_inputs_and_two_outputs_is_measured_and_trained(tmp_path: Path) -> None:
    spec = tmp_path / "two.yaml"
    spec.write_text(TWO_BY_TWO, encoding="utf-8")
    result = _run(
        "compare", str(spec), "--preset", "quick", "--device", "cpu", "--training", "--format", "json"
    )
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    for variant in data["variants"].values():
        assert variant["latency"]["cpu"]["median_ms"] > 0
        assert variant["training_latency"]["cpu"]["median_ms"] > 0


def test_a_cast_to_another_dtype_is_listed_and_one_to_the_same_dtype_is_nothing() -> None:
    with pytest.raises(ModelImportError) as failure:
        convprof.from_module(models.HalfWay(), (3, 4, 4))
    assert f"1 x Tensor.to at <top> (importable_models.py:{_line_of('y.to(torch.float64)')})" in str(
        failure.value
    )
    spec = convprof.from_module(models.HalfWay(), (3, 4, 4), allow_unknown=True)
    assert [(n.path, n.kind) for n in spec.nodes] == [("conv", "Conv2d"), ("to", "Opaque"), ("relu", "ReLU")]
