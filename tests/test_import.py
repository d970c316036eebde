"""Importing PyTorch models: the kinds' readers, counts against torch, round trips, messages, REFs."""

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
from convprof.graph.parse import parse_spec
from convprof.importing import ModelImportError, UnusedParameters, import_module
from convprof.importing.refs import load_reference
from convprof.importing.tables import module_table, type_name
from convprof.kinds import all_kinds, lookup
from convprof.report.analyze import analyze
from convprof.spec.examples import example_names, read_example
from tests import importable_models as models
from tests.conftest import ROOT
from tests.processes import CONVPROF
from tests.torchvision_code import builder

MODELS_FILE = "tests/importable_models.py"


def _line_of(code: str) -> int:
    """Return the line of tests/importable_models.py that holds `code` (once)."""
    lines = (ROOT / MODELS_FILE).read_text(encoding="utf-8").splitlines()
    (number,) = [n for n, line in enumerate(lines, start=1) if code in line]
    return number


#: Tolerance of the rebuilt model's outputs against the original's.
TOLERANCE = 1e-5


def _tensor(output: Any) -> torch.Tensor:
    """Return a model's output tensor: itself, or the one a dict holds (a segmentation model's)."""
    if isinstance(output, dict):
        (output,) = output.values()
    assert isinstance(output, torch.Tensor)
    return output


def _counts(model: nn.Module, shape: tuple[int, ...]) -> tuple[int, int, int, tuple[int, ...]]:
    """Return torch's own parameters, buffer elements, FLOPs and output shape of `model`."""
    model.eval()
    with FlopCounterMode(display=False) as counter:
        y = _tensor(model(torch.randn(1, *shape)))
    params = sum(p.numel() for p in model.parameters())
    buffers = sum(b.numel() for b in model.buffers())
    return params, buffers, counter.get_total_flops(), tuple(y.shape[1:])


def _randomised(model: nn.Module) -> nn.Module:
    """Give BatchNorm statistics values other than 0 and 1, so that a mix-up would show."""
    torch.manual_seed(0)
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.running_mean.uniform_(-1, 1)
            module.running_var.uniform_(0.5, 2)
    return model.eval()


def _named_class(name: str) -> type | str:
    """Return the class a kind's `torch_types` names, or why it cannot be loaded here."""
    import importlib

    module_name, _, attribute = name.rpartition(".")
    if module_name.startswith("torchvision."):
        # Through torchvision's ConvNeXt code, which defines LayerNorm2d and imports ops.misc.Permute
        # (loaded as tests/torchvision_code.py says).
        found = builder("convnext", attribute)
        return found if isinstance(found, str | type) else f"{name} is no class"
    cls = getattr(importlib.import_module(module_name), attribute)
    assert isinstance(cls, type)
    return cls


def test_every_public_kind_reads_back_from_torch_or_says_why_not() -> None:
    for kind in all_kinds():
        if kind.public:
            assert kind.torch_types or kind.torch_calls or kind.not_importable, kind.name
    table = module_table()  # raises if two kinds claim one class
    for name, kind in table.items():
        cls = _named_class(name)
        if isinstance(cls, str):  # torchvision's classes, where its code cannot be loaded
            continue
        assert type_name(cls) == name, kind.name  # the importer finds it by this name
        assert issubclass(cls, nn.Module)


CASES = {
    "functional": (models.Functional, (3, 16, 16)),
    "pooled": (models.Pooled, (3, 32, 32)),
    "stages": (models.Stages, (3, 8, 8)),
    "layer_scaled": (models.LayerScaled, (3, 8, 8)),
    "shuffled": (models.Shuffled, (3, 8, 8)),
    "sliced": (models.Sliced, (3, 5, 6)),
    "resized": (models.Resized, (3, 8, 8)),
    "segmenter": (models.Segmenter, (3, 9, 7)),
    "subclassed": (models.Subclassed, (3, 8, 8)),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_imported_spec_counts_what_torch_counts_and_rebuilds_the_same_outputs(name: str) -> None:
    factory, shape = CASES[name]
    torch.manual_seed(0)
    model = _randomised(factory())
    params, buffers, flops, output = _counts(model, shape)
    result = import_module(model, shape)
    spec = result.spec
    unused_params = sum(entry.params for entry in result.unused)
    unused_buffers = sum(entry.buffers for entry in result.unused)
    conv = analyze(spec).variant("conv")
    assert (conv.params, conv.flops, spec.output) == (params - unused_params, flops, output)
    counters = sum(
        1 for path, b in model.named_buffers() if b.dtype == torch.int64 and not path.startswith("aux.")
    )
    floats = buffers - unused_buffers - counters
    assert sum(layer.buffer_bytes for layer in conv.layers) == 4 * floats + 8 * counters
    rebuilt = build_model(spec, "conv")
    # By path: the spec's paths are the module names, so the original's weights load as they are.
    missing, unexpected = rebuilt.load_state_dict(model.state_dict(), strict=False)
    assert missing == []
    assert all(key.startswith("aux.") for key in unexpected)
    x = torch.randn(2, *shape)
    with torch.no_grad():
        assert torch.allclose(rebuilt(x), _tensor(model(x)), atol=TOLERANCE, rtol=TOLERANCE)


def test_functional_forms_become_the_kinds_they_are() -> None:
    spec = convprof.from_module(models.Functional(), (3, 16, 16))
    kinds = [(node.path, node.kind) for node in spec.nodes]
    assert kinds == [
        ("stem", "Conv2d"),
        ("bn", "BatchNorm2d"),
        ("relu", "ReLU"),
        ("max_pool2d", "MaxPool2d"),
        ("left", "Conv2d"),
        ("add", "Add"),
        ("relu_1", "ReLU"),
        ("right", "Conv2d"),
        ("cat", "Cat"),
        ("gate.0", "AdaptiveAvgPool2d"),
        ("gate.1", "Conv2d"),
        ("gate.2", "Sigmoid"),
        ("mul", "Mul"),
        ("dropout", "Dropout"),
        ("mean", "AdaptiveAvgPool2d"),
        ("mean_flatten", "Flatten"),
        ("view", "Flatten"),
        ("fc", "Linear"),
    ]
    by_path = {node.path: node for node in spec.nodes}
    assert by_path["relu"].args.inplace is True
    assert by_path["cat"].inputs == (spec.nodes.index(by_path["relu_1"]), spec.nodes.index(by_path["right"]))
    assert by_path["mul"].inputs == (spec.nodes.index(by_path["cat"]), spec.nodes.index(by_path["gate.2"]))


def test_residual_network_is_written_as_its_module_tree() -> None:
    result = import_module(models.Stages(), (3, 8, 8), name="stages", source="tests:Stages")
    text = result.text
    assert text.startswith("# Imported from tests:Stages at input 3x8x8 by convprof")
    assert (
        "\n  - group:\n      name: layer1\n      layers:\n        - group:\n            name: '0'\n" in text
    )
    # The residual add reads the block's last BatchNorm and the block's input, by the shortest names:
    # the stem's conv1 by its path from the top (/conv1), as the block has a conv1 of its own.
    assert "- add: {name: add, from: [bn2, /conv1]}" in text
    assert "- add: {name: add, from: [bn2, 0.relu_1]}" in text
    # Each block's ReLU module is called twice: relu, then relu_1.
    assert [n.path for n in result.spec.nodes if n.path.startswith("layer1.0.relu")] == [
        "layer1.0.relu",
        "layer1.0.relu_1",
    ]
    reparsed = parse_spec(text.encode(), "stages.yaml", "stages")
    assert [(n.path, n.kind, n.args, n.inputs) for n in reparsed.nodes] == [
        (n.path, n.kind, n.args, n.inputs) for n in result.spec.nodes
    ]


def test_parameters_of_a_module_never_called_are_reported_apart() -> None:
    model = models.Stages()
    result = import_module(model, (3, 8, 8))
    aux_params = sum(p.numel() for p in model.aux.parameters())
    aux_buffers = sum(b.numel() for b in model.aux.buffers())
    assert result.unused == (UnusedParameters("aux", aux_params, aux_buffers),)
    counted = analyze(result.spec).variant("conv").params
    assert counted == sum(p.numel() for p in model.parameters()) - aux_params
    # Conv2d(8, 2, 1): 16 weights + 2 biases; BatchNorm2d(2): 2 + 2 affine, 2 + 2 statistics + 1 counter.
    assert (aux_params, aux_buffers) == (22, 5)
    assert "#   aux: 22 parameters, 5 buffer elements" in result.text


def test_unsupported_ops_end_the_import_listing_each_with_its_path_pattern_and_count() -> None:
    with pytest.raises(ModelImportError) as failure:
        convprof.from_module(models.Encoder(), (4, 8))
    message = str(failure.value)
    assert message.startswith("3 ops convprof cannot count: ")
    assert "3 x torch.cumsum at layers.*.attn" in message
    assert "\n" not in message


def test_shared_weights_are_refused_rather_than_counted_twice() -> None:
    with pytest.raises(
        ModelImportError, match=r"1 x torch.nn.Conv2d \(its weights are shared with another call\) at conv"
    ):
        convprof.from_module(models.Shared(), (4, 8, 8))


def test_a_model_branching_on_a_tensors_values_gets_its_line_and_the_fix() -> None:
    with pytest.raises(ModelImportError) as failure:
        convprof.from_module(models.Branching(), (4, 8))
    message = str(failure.value)
    line = _line_of("return x.relu() if x.sum() > 0 else x.sigmoid()")
    assert message.startswith(
        "Branching cannot run on tensors without data: its code reads a tensor's values at "
        f"importable_models.py:{line} ('return x.relu() if x.sum() > 0 else x...'); "
    )
    assert "import a submodule" in message


def test_from_module_leaves_the_model_in_its_own_mode() -> None:
    model = models.Functional().train()
    convprof.from_module(model, (3, 16, 16))
    assert all(module.training for module in model.modules())


def test_a_reference_builds_its_model_on_the_meta_device() -> None:
    model = load_reference(f"{MODELS_FILE}:Huge", {})
    assert {p.device.type for p in model.parameters()} == {"meta"}
    spec = convprof.from_module(model, (100_000,))
    assert analyze(spec).variant("conv").params == 100_000 * 100_000 + 100_000


def _invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["import", f"{MODELS_FILE}:Pooled", "--input", "3xx"], "--input '3xx': give one sample's shape"),
        (["import", f"{MODELS_FILE}:Pooled", "--input", "3x0"], "each size must be between 1 and"),
        (
            ["import", f"{MODELS_FILE}:Pooled", "--input", "3x8x8", "--kwargs", "[1]"],
            "--kwargs: give a mapping",
        ),
        # --kwargs is read as a spec is: a duplicate key or a tag is refused, not silently taken.
        (
            ["import", f"{MODELS_FILE}:Pooled", "--input", "3x8x8", "--kwargs", "{width: 8, width: 9}"],
            "--kwargs at 1:12: duplicate key 'width' (first given at line 1); keep one",
        ),
        (
            ["import", f"{MODELS_FILE}:Pooled", "--input", "3x8x8", "--kwargs", "{a: !!binary aGk=}"],
            "--kwargs at 1:5: unsupported YAML tag",
        ),
        (
            ["import", f"{MODELS_FILE}:Pooled", "--input", "3x8x8", "--kwargs", "{a: !!bool maybe}"],
            "--kwargs at 1:5: 'maybe' is not a YAML bool",
        ),
        (["import", f"{MODELS_FILE}:Nope", "--input", "3"], "has no attribute 'Nope'"),
        (
            ["import", f"{MODELS_FILE}:not_a_model", "--input", "3"],
            "not_a_model() returned a int, not a torch",
        ),
        (
            ["import", f"{MODELS_FILE}:broken", "--input", "3"],
            "calling broken raised ValueError: no weights here",
        ),
        (["import", "no_such_package_x:model", "--input", "3"], "cannot import no_such_package_x"),
        (["import", "missing/file.py:model", "--input", "3"], "missing/file.py does not exist"),
        (
            ["import", f"{MODELS_FILE}:instance", "--input", "3", "--kwargs", "{a: 1}"],
            "names a module instance",
        ),
        (
            ["import", f"{MODELS_FILE}:Functional", "--input", "3x1x1"],
            "Functional cannot run on a 3x1x1 input",
        ),
        (["compare", f"{MODELS_FILE}:Pooled", "--no-latency"], "a model reference needs --input"),
        (["compare", "lenet5", "--input", "3x8x8", "--no-latency"], "--input is for a model reference"),
        (["sweep", f"{MODELS_FILE}:Pooled", "--input", "16,32"], "must then be a whole shape"),
    ],
)
def test_bad_references_and_options_get_one_line_and_exit_2(args: list[str], message: str) -> None:
    code, _, err = _invoke(*args)
    assert code == 2
    assert err.startswith("convprof: error: ")
    assert message in err, err
    assert err.count("\n") == 1


def test_a_reference_may_name_a_module_instance() -> None:
    code, out, _ = _invoke("import", f"{MODELS_FILE}:instance", "--input", "3x32x32")
    assert code == 0
    spec = parse_spec(out.encode(), "instance.yaml", "instance")
    assert spec.name == "instance"
    assert analyze(spec).variant("conv").params == sum(p.numel() for p in models.instance.parameters())


def test_compare_check_and_sweep_take_a_model_reference() -> None:
    code, out, _ = _invoke("check", f"{MODELS_FILE}:Pooled", "--input", "3x32x32", "--max-params", "10")
    assert code == 1
    assert "params" in out
    code, out, _ = _invoke(
        "sweep",
        f"{MODELS_FILE}:Functional",
        "--input",
        "3x16x16,3x32x32",
        "--format",
        "json",
        "--kwargs",
        "{classes: 7}",
    )
    assert code == 0
    points = json.loads(out)["points"]
    assert len(points) == 2
    model = models.Functional(classes=7)
    assert points[0]["variants"]["conv"]["params"] == sum(p.numel() for p in model.parameters())


def test_a_swept_model_reference_is_imported_at_every_input() -> None:
    # The segmenter up-samples its logits to the input's size: imported once at 16x16 and
    # re-analysed at 32x32, its output would stay 16x16.
    code, out, err = _invoke("sweep", f"{MODELS_FILE}:Segmenter", "--input", "3x16x16,32", "--format", "json")
    assert code == 0, err
    for point, side in zip(json.loads(out)["points"], (16, 32), strict=True):
        layers = point["variants"]["conv"]
        assert point["input"] == [3, side, side]
        # The backbone's conv (4 x 27 per output at side/2) and the 1x1 classifier (5 x 4).
        half = side // 2
        assert layers["macs"] == 4 * 27 * half * half + 5 * 4 * half * half
    spec = convprof.from_module(models.Segmenter(), (3, 32, 32))
    assert spec.output == (5, 32, 32)


def _run(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CONVPROF, *args],
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.mark.slow
def test_import_writes_a_spec_whose_report_equals_the_models(tmp_path: Path) -> None:
    target = tmp_path / "stages.yaml"
    written = _run("import", "tests.importable_models:Stages", "--input", "3x8x8", "-o", str(target))
    assert written.returncode == 0, written.stderr
    assert written.stderr.splitlines() == [
        "convprof: note: aux is never called: its 22 parameters and 5 buffer elements are not in the spec",
        f"convprof: wrote {target}",
    ]
    from_file = _run("compare", str(target), "--no-latency", "--format", "json")
    from_model = _run(
        "compare", "tests.importable_models:Stages", "--input", "3x8x8", "--no-latency", "--format", "json"
    )
    assert from_file.returncode == from_model.returncode == 0
    assert json.loads(from_file.stdout) == json.loads(from_model.stdout)


#: The line of the op no kind counts in tests/importable_models.py:Attention.
ATTENTION = _line_of("return torch.cumsum(x, dim=-1)")


def test_unsupported_ops_exit_2_from_a_process_with_one_line(tmp_path: Path) -> None:
    target = tmp_path / "encoder.yaml"
    result = _run("import", f"{MODELS_FILE}:Encoder", "--input", "4x8", "-o", str(target))
    assert result.returncode == 2
    assert result.stderr == (
        "convprof: error: 3 ops convprof cannot count: 3 x torch.cumsum "
        f"at layers.*.attn (importable_models.py:{ATTENTION}) "
        "(convprof counts only what its layer kinds can say exactly; --allow-unknown "
        "keeps an op whose result is one batched tensor as an opaque node, its counts unknown)\n"
    )
    assert not target.exists()
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("model", "message"),
    [
        (models.Shifted(), "1 x operator.add (reads the module's tensor shift directly) at <top>"),
        (models.Summed(), "1 x Tensor.sum (changes the batch dimension) at <top>"),
        (
            models.ScaledTwice(),
            "1 x operator.mul (its parameter layer_scale is used by another call too) at <top>",
        ),
        (models.BatchMixing(), "1 x Tensor.view (changes the batch dimension) at <top>"),
        (models.Indices(), "1 x torch.nn.MaxPool2d (its result is not one batched tensor) at pool"),
    ],
)
def test_what_no_spec_can_say_is_listed_with_the_reason(model: nn.Module, message: str) -> None:
    with pytest.raises(ModelImportError) as failure:
        convprof.from_module(model, (3, 8, 8))
    assert message in str(failure.value)


def test_a_model_returning_an_earlier_tensor_ends_with_an_identity_reading_it() -> None:
    spec = convprof.from_module(models.EarlierOutput(), (3, 4, 4))
    assert [(n.path, n.kind, n.inputs) for n in spec.nodes] == [
        ("relu", "ReLU", (-1,)),
        ("sigmoid", "Sigmoid", (-1,)),
        ("output", "Identity", (0,)),
    ]


#: One layer of every kind read back from a torch module by its attributes, on an input it takes.
_READ_BACK = [
    (
        (4, 12),
        {
            "conv1d": {
                "out_channels": 6,
                "kernel_size": 3,
                "stride": 2,
                "padding": 1,
                "groups": 2,
                "padding_mode": "reflect",
            }
        },
    ),
    ((4, 6, 7, 8), {"conv3d": {"out_channels": 2, "kernel_size": [1, 3, 3], "dilation": [1, 2, 1]}}),
    ((4, 9), {"convtranspose1d": {"out_channels": 2, "kernel_size": 3, "stride": 2, "output_padding": 1}}),
    ((4, 5, 6), {"convtranspose2d": {"out_channels": 4, "kernel_size": 2, "stride": 2, "groups": 2}}),
    ((2, 3, 4, 5), {"convtranspose3d": {"out_channels": 3, "kernel_size": 3, "padding": 1, "bias": False}}),
    ((3, 10), {"maxpool1d": {"kernel_size": 3, "stride": 2, "padding": 1, "ceil_mode": True}}),
    ((3, 6, 6, 6), {"avgpool3d": {"kernel_size": 2, "count_include_pad": False}}),
    ((3, 8, 8), {"lppool2d": {"norm_type": 2, "kernel_size": 2}}),
    ((3, 9), {"adaptivemaxpool1d": {"output_size": 4}}),
    ((3, 5, 6, 7), {"adaptiveavgpool3d": {"output_size": [1, 2, None]}}),
    ((3, 10), {"batchnorm1d": {"eps": 0.001, "momentum": 0.3}}),
    ((3, 4, 4, 4), {"instancenorm3d": {"affine": True}}),
    ((4, 5, 5), {"groupnorm": {"num_groups": 2, "eps": 0.01}}),
    ((4, 5, 5), {"localresponsenorm": {"size": 3, "alpha": 0.001, "beta": 0.5, "k": 2}}),
    ((8, 3, 3), {"pixelshuffle": {"upscale_factor": 2}}),
    ((2, 4, 4), {"pixelunshuffle": {"downscale_factor": 2}}),
    ((3, 4), {"elu": {"alpha": 0.5}}),
    ((3, 4), "selu"),
    ((3, 4), {"celu": {"alpha": 2.0}}),
    ((3, 4), {"hardtanh": {"min_val": -2.0, "max_val": 3.0}}),
    ((3, 4), "mish"),
    ((3, 4), {"softplus": {"beta": 2.0, "threshold": 10.0}}),
    ((3, 4), {"softmax": {"dim": 1}}),
    ((3, 4), {"logsoftmax": {"dim": 1}}),
    ((3, 4), {"dropout1d": {"p": 0.25}}),
    ((3, 4, 4), {"dropout2d": {"p": 0.1}}),
    ((3, 4, 4, 4), "dropout3d"),
    ((3, 4), {"alphadropout": {"p": 0.2}}),
    ((3, 10), {"avgpool1d": {"kernel_size": 3, "stride": 1}}),
    ((3, 4, 6, 6), {"maxpool3d": {"kernel_size": 2, "dilation": 1, "padding": 1}}),
    ((3, 10), {"lppool1d": {"norm_type": 3, "kernel_size": 2}}),
    ((3, 4, 4, 4), {"lppool3d": {"norm_type": 2, "kernel_size": 2, "stride": 1}}),
    ((3, 10), {"adaptiveavgpool1d": {"output_size": 3}}),
    ((3, 4, 5, 6), {"adaptivemaxpool3d": {"output_size": 2}}),
    ((3, 4, 4, 4), {"batchnorm3d": {"affine": False}}),
    ((3, 10), {"instancenorm1d": {"track_running_stats": True}}),
    ((3, 4, 4), {"instancenorm2d": {"eps": 0.01}}),
    ((3, 4, 5), {"layernorm": {"normalized_shape": [4, 5], "eps": 0.001, "bias": False}}),
    ((3, 4, 5), {"layernorm": {"normalized_shape": 5, "elementwise_affine": False}}),
    ((3, 4, 5), {"layernorm2d": {"eps": 1e-6}}),
    ((3, 4, 5), {"prelu": {"num_parameters": 3, "init": 0.5}}),
    ((3, 4, 5), {"upsample": {"scale_factor": [2, 1.5], "mode": "bilinear", "align_corners": True}}),
    ((3, 4), {"upsample": {"size": 9, "mode": "linear"}}),
    ((3, 4, 4, 4), {"upsample": {"size": [5, 6, 7]}}),
    ((3, 4, 5), {"zeropad2d": {"padding": [1, 0, 2, 3]}}),
    ((3, 4), {"zeropad1d": {"padding": 2}}),
    ((3, 4, 4, 4), {"zeropad3d": {"padding": [1, 0, 0, 1, 1, 1]}}),
    ((3, 4), {"constantpad1d": {"padding": [1, 2], "value": 0.5}}),
    ((3, 4, 5), {"constantpad2d": {"padding": 1, "value": -1.0}}),
    ((3, 4, 4, 4), {"constantpad3d": {"padding": [0, 1, 0, 1, 0, 1], "value": 2.0}}),
    ((3, 4), {"reflectionpad1d": {"padding": [1, 2]}}),
    ((3, 4, 5), {"reflectionpad2d": {"padding": [1, 0, 2, 3]}}),
    ((3, 4, 4, 4), {"reflectionpad3d": {"padding": 1}}),
    ((3, 4), {"replicationpad1d": {"padding": 3}}),
    ((3, 4, 5), {"replicationpad2d": {"padding": [0, 1, 2, 3]}}),
    ((3, 4, 4, 4), {"replicationpad3d": {"padding": [1, 2, 0, 0, 2, 1]}}),
    ((3, 4), {"circularpad1d": {"padding": [1, 2]}}),
    ((3, 4, 5), {"circularpad2d": {"padding": [1, 0, 2, 3]}}),
    ((3, 4, 4, 4), {"circularpad3d": {"padding": 1}}),
    ((3, 4, 5), {"permute": {"dims": [0, 2, 3, 1]}}),
    ((3, 4, 5), {"transpose": {"dim0": 1, "dim1": -1}}),
    ((3, 4, 5), {"reshape": {"shape": [6, 2, -1]}}),
    ((3, 4, 5), {"narrow": {"dim": -2, "start": 1, "length": 2}}),
    ((3, 4, 5), {"sub": {"from": ["input", "input"]}}),
    ((3, 4, 5), {"div": {"from": ["input", "input"]}}),
    ((3, 4, 5), {"stack": {"from": ["input", "input", "input"], "dim": -2}}),
    ((3, 4, 5), {"arithmetic": {"op": "sub", "other": 2.5, "reverse": True}}),
    ((3, 4, 5), {"arithmetic": {"op": "mul", "other_shape": [1, 1, 5], "inplace": True}}),
    ((3, 4, 5), {"sum": {"dim": [1, -1]}}),
    ((3, 4, 5), {"mean": {"dim": 2, "keepdim": True}}),
    ((3, 4, 5), {"amax": {"dim": 3}}),
    ((3, 4, 5), {"amin": {"dim": [2, 3], "keepdim": True}}),
    ((3, 4, 5), {"max": {"dim": 1, "keepdim": True}}),
    ((3, 4, 5), {"min": {"dim": -1}}),
    ((3, 5, 5), {"matmul": {"from": ["input", "input"]}}),
    ((3, 4, 5), {"einsum": {"from": ["input", "input"], "equation": "bchw,bcgw->bhg"}}),
    ((3, 4, 5), {"scaleddotproductattention": {"from": ["input", "input", "input"], "is_causal": True}}),
    ((3, 4, 5), {"scaleddotproductattention": {"from": ["input", "input", "input"], "scale": 0.5}}),
    ((3, 4, 5), {"slice": {"dim": 3, "start": 1, "end": -1, "step": 2}}),
    ((3, 4, 5), {"select": {"dim": 2, "index": -1}}),
    ((3, 1, 5), {"expand": {"shape": [3, 4, -1]}}),
    ((3, 4, 5), {"expand": {"from": ["input", "input"], "shape": [3, 4, 5]}}),
    ((3, 4, 5), {"tile": {"repeats": [1, 2, 3]}}),
    ((3, 4, 5), {"roll": {"shifts": [1, -2], "dims": [2, 3]}}),
    ((3, 4, 5), {"clamp": {"min": -1.0, "max": 1.0, "inplace": True}}),
    ((3, 9), {"fixedconv1d": {"out_channels": 3, "kernel_size": 3, "stride": 2, "groups": 3}}),
    ((3, 9, 9), {"fixedconv2d": {"out_channels": 6, "kernel_size": 3, "padding": 1, "bias": False}}),
    ((3, 5, 5, 5), {"fixedconv3d": {"out_channels": 3, "kernel_size": 2, "dilation": 2}}),
]


@pytest.mark.parametrize(("shape", "layer"), _READ_BACK)
def test_a_kind_reads_back_the_arguments_of_the_module_it_builds(shape: tuple[int, ...], layer: Any) -> None:
    from tests.specbuild import make_spec

    (node,) = make_spec(shape, [layer], batch_size=2).nodes
    kind = lookup(node.kind)
    assert kind is not None
    assert kind.torch_types, node.kind
    module = kind.node_build(node.args, node.input_shapes, node.output_shape)
    assert type_name(type(module)) in kind.torch_types
    assert kind.from_module(module) == node.args


def test_every_reader_is_read_back_or_covered_elsewhere() -> None:
    """Each kind with a torch class is read back above or by the zoo and importer tests."""
    read_back = {next(iter(layer)) if isinstance(layer, dict) else layer for _, layer in _READ_BACK}
    elsewhere = {  # imported from real models in this file and in tests/test_torchvision_zoo.py
        "conv2d",
        "maxpool2d",
        "avgpool2d",
        "adaptiveavgpool2d",
        "adaptivemaxpool2d",
        "batchnorm2d",
        "linear",
        "flatten",
        "relu",
        "relu6",
        "leakyrelu",
        "gelu",
        "silu",
        "sigmoid",
        "hardswish",
        "hardsigmoid",
        "tanh",
        "identity",
        "dropout",
        "contiguous",  # x.contiguous() in the channel shuffle below
        # Multi-input modules: read back from the built examples (test above) and the models here.
        "add",
        "mul",
        "cat",
    }
    with_types = {kind.name.lower() for kind in all_kinds() if kind.public and kind.torch_types}
    missing = with_types - read_back - elsewhere
    assert not missing, f"kinds whose torch reader no test reads back: {sorted(missing)}"


def _nodes(model: nn.Module, shape: tuple[int, ...]) -> dict[str, Any]:
    return {node.path: node for node in convprof.from_module(model, shape).nodes}


def test_a_channel_shuffle_is_a_reshape_a_transpose_and_a_flatten_of_pieces_of_a_chunk() -> None:
    nodes = _nodes(models.Shuffled(), (3, 8, 8))
    # x.chunk(2, dim=1) of 8 channels: channels 0-3 and 4-7, one node each.
    assert [(nodes[p].kind, nodes[p].args) for p in ("chunk", "chunk_1")] == [
        ("Narrow", lookup("narrow").Args(dim=1, start=0, length=4)),  # type: ignore[union-attr]
        ("Narrow", lookup("narrow").Args(dim=1, start=4, length=4)),  # type: ignore[union-attr]
    ]
    assert [nodes[p].output_shape for p in ("view", "transpose", "contiguous", "view_1")] == [
        (2, 4, 8, 8),
        (4, 2, 8, 8),
        (4, 2, 8, 8),
        (8, 8, 8),
    ]
    assert (nodes["view"].kind, nodes["transpose"].kind, nodes["contiguous"].kind, nodes["view_1"].kind) == (
        "Reshape",
        "Transpose",
        "Contiguous",  # a copy here: the transposed tensor is not contiguous
        "Flatten",
    )


def test_receptive_fields_pass_through_a_channel_shuffle() -> None:
    """Only channels are regrouped, so the head sees what two stacked 3x3 convolutions see."""
    layers = analyze(convprof.from_module(models.Shuffled(), (3, 8, 8))).variant("conv").layers
    fields = {layer.path: layer.receptive_field for layer in layers}
    assert fields["view"] == fields["transpose"] == fields["view_1"] == (3, 3)
    assert fields["head"] == (5, 5)


def test_slices_splits_and_unbind_are_narrows_of_the_dimensions_they_cut() -> None:
    nodes = _nodes(models.Sliced(), (3, 5, 6))
    narrow = lookup("narrow")
    assert narrow is not None
    # torch.split(y, [2, 4], dim=1): channels 0-1 and 2-5.
    assert nodes["split"].args == narrow.Args(1, 0, 2)
    assert nodes["split_1"].args == narrow.Args(1, 2, 4)
    # y[:, 1:5, ..., :-1]: channels 1-4, then the first 5 of 6 columns.
    assert nodes["getitem"].args == narrow.Args(1, 1, 4)
    assert nodes["getitem_narrow"].args == narrow.Args(3, 0, 5)
    # y.unbind(2)[-1]: the last of 5 rows, its dimension dropped.
    # Each piece is named by its place in the result: the last of five is unbind_4.
    assert nodes["unbind_4"].args == narrow.Args(2, 4, 1)
    assert (nodes["unbind_4_reshape"].kind, nodes["unbind_4_reshape"].output_shape) == ("Reshape", (6, 6))
    assert (nodes["swapaxes"].kind, nodes["swapaxes"].args.dim0, nodes["swapaxes"].args.dim1) == (
        "Transpose",
        1,
        2,
    )


def test_resizing_padding_and_norms_read_their_arguments() -> None:
    nodes = _nodes(models.Resized(), (3, 8, 8))
    # F.interpolate to x.shape[-2:] (a size known only while tracing): the input's 8x8.
    assert nodes["interpolate"].args.size == 8
    assert (nodes["interpolate"].args.mode, nodes["interpolate"].args.align_corners) == ("bilinear", False)
    # nn.UpsamplingBilinear2d is an nn.Upsample that aligns corners.
    bilinear = nodes["bilinear"].args
    assert (nodes["bilinear"].kind, bilinear.scale_factor, bilinear.mode, bilinear.align_corners) == (
        "Upsample",
        2.0,
        "bilinear",
        True,
    )
    assert nodes["nearest"].args.size == (6, 5)
    assert nodes["interpolate_1"].args.scale_factor == 1.5
    assert (nodes["pad_1"].kind, nodes["pad_1"].args.padding, nodes["pad_1"].args.value) == (
        "ConstantPad2d",
        (1, 1, 0, 2),
        0.5,
    )
    assert (nodes["pad_2"].kind, nodes["pad_2"].args.padding) == ("CircularPad2d", 1)
    assert (nodes["pad"].kind, nodes["pad"].args.padding) == ("ReflectionPad2d", (1, 0, 2, 1))
    assert (nodes["norm"].args.normalized_shape, nodes["norm"].args.eps) == (4, 1e-3)
    assert (nodes["layer_norm"].args.normalized_shape, nodes["layer_norm"].args.elementwise_affine) == (
        10,
        False,
    )
    assert (nodes["prelu"].args.num_parameters, nodes["prelu"].args.init) == (4, 0.1)


def test_a_block_parameter_multiplied_in_forward_is_a_scale_at_its_own_path() -> None:
    model = models.LayerScaled()
    spec = convprof.from_module(model, (3, 8, 8))
    (scale,) = [node for node in spec.nodes if node.kind == "Scale"]
    assert scale.path == "layer_scale"
    rebuilt = build_model(spec, "conv")
    # The built model holds it where the original does: the same state_dict keys, no more.
    assert set(rebuilt.state_dict()) == set(model.state_dict())
    assert tuple(rebuilt.get_parameter("layer_scale").shape) == (4, 1, 1)


def test_a_subclass_that_only_constructs_is_read_as_the_torch_class_it_derives_from() -> None:
    conv, relu = convprof.from_module(models.Subclassed(), (3, 8, 8)).nodes
    assert (conv.path, conv.kind, conv.args.padding, conv.args.bias) == ("conv", "Conv2d", (1, 1), False)
    assert (relu.path, relu.inputs) == ("relu", (0,))


def test_a_model_returning_one_tensor_in_a_dict_has_it_as_output() -> None:
    result = import_module(models.Segmenter(), (3, 9, 7))
    assert result.spec.output == (5, 9, 7)
    assert "# The spec's output is the model's output['out'], the one tensor it returns.\n" in result.text


@pytest.mark.parametrize("name", example_names())
def test_every_example_built_as_torch_is_imported_back_as_itself(name: str) -> None:
    """Every module class and call convprof builds is read back: the built model's import counts the
    same, node by node, as the spec it was built from."""
    spec = parse_spec(read_example(name) or b"", name, name)
    imported = import_module(build_model(spec, "conv", "meta"), spec.input).spec
    assert [(n.path, n.kind, n.inputs, n.output_shape) for n in imported.nodes] == [
        (n.path, n.kind, n.inputs, n.output_shape) for n in spec.nodes
    ]
    assert analyze(imported).variant("conv").layers == analyze(spec).variant("conv").layers
