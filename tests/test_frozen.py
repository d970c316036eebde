"""Frozen parameters (`frozen: true`, torch's requires_grad=False): written in a spec, counted apart from
the trainable ones in every format, budgeted, diffed, and read back from reports of the schema before."""

from __future__ import annotations

import csv
import io
import json
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner
from torch import nn

from convprof.cli import cli
from convprof.errors import SpecError
from convprof.graph.build import build_model
from convprof.graph.parse import parse_spec
from convprof.importing import ModelImportError, import_module
from convprof.report.analyze import analyze
from tests import importable_models as models
from tests.conftest import ROOT
from tests.processes import CONVPROF

#: LeNet-5 fine-tuned: its feature extractor frozen as a block, its classifier trainable but for c5.
FINE_TUNED = """\
name: lenet5_tuned
input: [1, 32, 32]
layers:
  - group:
      name: features
      frozen: true
      layers:
        - conv2d: {out_channels: 6, kernel_size: 5, name: c1}
        - tanh
        - avgpool2d: {kernel_size: 2}
        - conv2d: {out_channels: 16, kernel_size: 5, name: c3}
        - tanh
        - avgpool2d: {kernel_size: 2}
  - flatten
  - linear: {out_features: 120, name: c5, frozen: true}
  - tanh
  - linear: {out_features: 84, name: f6}
  - tanh
  - linear: {out_features: 10, name: output}
"""
#: LeNet-5's parameters by layer: c1 156, c3 2,416, c5 48,120, f6 10,164, output 850.
FROZEN = 156 + 2_416 + 48_120
TRAINABLE = 10_164 + 850


def _spec(tmp_path: Path, text: str = FINE_TUNED, name: str = "tuned.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _invoke(*args: str | Path, columns: int = 200) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, [str(a) for a in args], env={"COLUMNS": str(columns)})
    return result.exit_code, result.stdout, result.stderr


# -- the spec ------------------------------------------------------------------------------------------


def test_frozen_is_written_per_layer_or_per_block() -> None:
    spec = parse_spec(FINE_TUNED.encode(), "tuned.yaml", "tuned")
    frozen = {node.path for node in spec.nodes if node.frozen}
    assert frozen == {"features.c1", "features.c3", "c5"}  # a block freezes the layers with parameters
    unfrozen = FINE_TUNED.replace("name: c3}", "name: c3, frozen: false}")
    spec = parse_spec(unfrozen.encode(), "tuned.yaml", "tuned")
    assert {node.path for node in spec.nodes if node.frozen} == {"features.c1", "c5"}


@pytest.mark.parametrize(
    ("layer", "where", "message"),
    [
        ("relu: {frozen: true}", "3:20", "layers.0 relu has no parameters to freeze; frozen: true is for"),
        ("batchnorm2d: {affine: false, frozen: true}", "3:42", "has no parameters to freeze"),
        ("conv2d: {out_channels: 2, kernel_size: 1, frozen: yes please}", "3:55", "expected true or false"),
        ("conv2d: {out_channels: 2, kernel_size: 1, frozn: true}", "3:47", "(did you mean frozen?)"),
    ],
)
def test_a_bad_frozen_is_one_located_line(layer: str, where: str, message: str) -> None:
    text = f"input: [3, 8, 8]\nlayers:\n  - {layer}\n"
    with pytest.raises(SpecError) as caught:
        parse_spec(text.encode(), "net.yaml", "net")
    assert str(caught.value).startswith(f"net.yaml:{where}: ")
    assert message in str(caught.value)


def test_a_block_frozen_must_be_a_boolean() -> None:
    text = "input: [3, 8, 8]\nlayers:\n  - group: {name: g, frozen: 1, layers: [relu]}\n"
    with pytest.raises(SpecError, match="group frozen: expected true or false"):
        parse_spec(text.encode(), "net.yaml", "net")


# -- counted apart in every format ----------------------------------------------------------------------


def test_json_counts_trainable_and_frozen_apart_per_variant_and_layer(tmp_path: Path) -> None:
    code, out, _ = _invoke("compare", _spec(tmp_path), "--no-latency", "--format", "json")
    assert code == 0
    data = json.loads(out)
    assert data["schema_version"] == 4
    conv = data["variants"]["conv"]
    assert (conv["params"], conv["trainable_params"], conv["frozen_params"]) == (
        FROZEN + TRAINABLE,
        TRAINABLE,
        FROZEN,
    )
    layers = {layer["path"]: layer for layer in conv["layers"]}
    assert layers["features.c1"]["frozen_params"] == layers["features.c1"]["params"] == 156
    assert layers["f6"]["frozen_params"] == 0
    # The local and dense forms of a frozen convolution are frozen too.
    for name in ("local", "dense"):
        variant = data["variants"][name]
        frozen = sum(
            layer["params"] for layer in variant["layers"] if layer["path"] in ("features.c1", "features.c3")
        )
        assert variant["frozen_params"] == frozen + 48_120
        assert variant["trainable_params"] == variant["params"] - variant["frozen_params"]
    # Only the trainable parameters have gradients and optimizer state: Adam's two moments per
    # element and a 4-byte step count per tensor, for f6 and output alone.
    assert conv["optimizer_bytes"] == 2 * 4 * TRAINABLE + 4 * 4


def test_csv_has_the_trainable_and_frozen_columns(tmp_path: Path) -> None:
    _, out, _ = _invoke("compare", _spec(tmp_path), "--no-latency", "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    conv = next(row for row in rows if row["variant"] == "conv")
    assert (conv["params"], conv["trainable_params"], conv["frozen_params"]) == (
        str(FROZEN + TRAINABLE),
        str(TRAINABLE),
        str(FROZEN),
    )
    _, out, _ = _invoke("compare", _spec(tmp_path), "--no-latency", "--format", "csv", "--layers")
    layers = {row["path"]: row for row in csv.DictReader(io.StringIO(out)) if row["variant"] == "conv"}
    assert (layers["c5"]["frozen_params"], layers["f6"]["frozen_params"]) == ("48120", "0")


@pytest.mark.parametrize("fmt", ["table", "markdown"])
def test_tables_show_the_trainable_parameters_and_the_frozen_ones(tmp_path: Path, fmt: str) -> None:
    _, out, _ = _invoke("compare", _spec(tmp_path), "--no-latency", "--layers", "--format", fmt)
    cells = [
        [cell.strip() for cell in line.strip("| ").split("|")] if fmt == "markdown" else line.split()
        for line in out.splitlines()
    ]
    header = next(row for row in cells if row[:2] == ["Variant", "Params"])
    assert header[:5] == (
        ["Variant", "Params", "vs", "conv", "Trainable"]
        if fmt == "table"
        else [*header[:3], "Trainable", "MACs"]
    )
    conv = next(row for row in cells if row and row[0] == "conv")
    trainable = conv[4] if fmt == "table" else conv[3]  # "61.71 k" is two words in the table
    assert trainable.startswith("11.01")
    text = " ".join(out.split())
    assert "Frozen (requires_grad=False, 3 layers): dense " in text
    assert (
        "conv 50.69 k; weights in memory, but no gradient and no optimizer state in a training step." in text
    )
    assert "Trainable: parameters a training step updates" in text
    assert "Frozen p.: no gradient" in text
    layer = next(row for row in cells if "c5" in row)
    assert "48.12" in " ".join(layer[layer.index("c5") :])


def test_a_spec_without_frozen_layers_shows_no_frozen_columns() -> None:
    _, out, _ = _invoke("compare", "lenet5", "--no-latency", "--layers")
    assert "Trainable" not in out
    assert "Frozen" not in out


# -- budgets and diffs ----------------------------------------------------------------------------------


def test_a_budget_on_trainable_parameters(tmp_path: Path) -> None:
    spec = _spec(tmp_path)
    assert _invoke("check", spec, "--max-trainable-params", str(TRAINABLE))[0] == 0
    code, _, err = _invoke("check", spec, "--max-trainable-params", str(TRAINABLE - 1))
    assert code == 1
    assert f"lenet5_tuned: trainable_params {TRAINABLE:,} exceeds its limit {TRAINABLE - 1:,}" in err
    budgeted = _spec(tmp_path, FINE_TUNED + "budgets:\n  trainable_params: 11k\n", "budgeted.yaml")
    code, _, err = _invoke("check", budgeted)
    assert code == 1
    assert "trainable_params 11,014 exceeds its limit 11,000" in err


def test_diff_shows_what_freezing_changed(tmp_path: Path) -> None:
    old, new = tmp_path / "old.json", tmp_path / "new.json"
    assert _invoke("compare", "lenet5", "--no-latency", "--format", "json", "-o", old)[0] == 0
    text = (ROOT / "specs" / "lenet5.yaml").read_text(encoding="utf-8")
    frozen = text.replace("name: c1}", "name: c1, frozen: true}")
    assert frozen != text
    assert (
        _invoke(
            "compare", _spec(tmp_path, frozen, "lenet5.yaml"), "--no-latency", "--format", "json", "-o", new
        )[0]
        == 0
    )
    _, out, _ = _invoke("diff", old, new, "--format", "json")
    metrics = json.loads(out)["variants"]["conv"]["metrics"]
    assert (metrics["params"]["delta"], metrics["trainable_params"]["delta"]) == (0, -156)
    assert metrics["frozen_params"]["delta"] == 156
    layers = {layer["path"]: layer for layer in json.loads(out)["variants"]["conv"]["layers"]}
    assert (layers["c1"]["paired"], layers["c1"]["changes"]["frozen_params"]) == (
        "name",
        {"old": 0, "new": 156, "delta": 156, "percent": None},
    )
    # c1 learns no more: it has no backward, and c3 (the first layer that learns) no input's gradient.
    assert layers["c1"]["changes"]["backward_flops"]["new"] == 0
    assert (
        layers["c3"]["changes"]["backward_flops"]["delta"]
        == -layers["c3"]["changes"]["backward_flops"]["new"]
    )


# -- reports of the schema before -----------------------------------------------------------------------

#: A report written by the version before schema 4 (LeNet-5, counted only): no frozen parameters.
SCHEMA_3 = ROOT / "tests" / "data" / "lenet5_schema3.json"


def test_a_schema_3_report_reads_as_every_parameter_trainable(tmp_path: Path) -> None:
    assert json.loads(SCHEMA_3.read_text(encoding="utf-8"))["schema_version"] == 3
    now = tmp_path / "now.json"
    assert _invoke("compare", "lenet5", "--no-latency", "--format", "json", "-o", now)[0] == 0
    code, out, err = _invoke("diff", SCHEMA_3, now, "--format", "json")
    assert (code, err) == (0, "")
    assert json.loads(out)["changed"] is False
    # And as a baseline of a growth allowance, which CI keeps from an earlier run.
    code, out, err = _invoke(
        "check", "lenet5", "--baseline", SCHEMA_3, "--max-growth", "params=0%,trainable_params=0%"
    )
    assert code == 0, err


def test_more_frozen_parameters_than_parameters_is_refused(tmp_path: Path) -> None:
    report = tmp_path / "r.json"
    assert _invoke("compare", "lenet5", "--no-latency", "--format", "json", "-o", report)[0] == 0
    data = json.loads(report.read_text(encoding="utf-8"))
    data["variants"]["conv"]["frozen_params"] = data["variants"]["conv"]["params"] + 1
    data["variants"]["conv"]["trainable_params"] = -1
    report.write_text(json.dumps(data), encoding="utf-8")
    code, _, err = _invoke("diff", report, report)
    assert code == 2
    assert "variants.conv.trainable_params: expected an integer >= 0" in err


# -- the training step measured with torch ------------------------------------------------------------------


@pytest.mark.slow
def test_a_measured_training_step_with_frozen_layers_peaks_at_the_estimate(tmp_path: Path) -> None:
    process = subprocess.run(
        [
            *CONVPROF,
            "compare",
            str(_spec(tmp_path)),
            "--training",
            "--preset",
            "quick",
            "--format",
            "json",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        stdin=subprocess.DEVNULL,
    )
    assert process.returncode == 0, process.stderr
    conv = json.loads(process.stdout)["variants"]["conv"]
    memory = conv["training_latency"]["cpu"]["memory"]
    assert memory["peak_bytes"] == memory["estimate_bytes"] == conv["training_bytes"]


# -- importing a model whose parameters are frozen ------------------------------------------------------


def _trainable_and_frozen(model: nn.Module) -> tuple[int, int]:
    parameters = list(model.parameters())
    trainable = sum(p.numel() for p in parameters if p.requires_grad)
    return trainable, sum(p.numel() for p in parameters) - trainable


def test_an_imported_backbone_frozen_as_a_module_is_a_frozen_group() -> None:
    model = models.Stages().eval()
    model.conv1.requires_grad_(False)
    model.layer1.requires_grad_(False)
    result = import_module(model, (3, 8, 8))
    body = [line for line in result.text.splitlines() if not line.startswith("#")]
    assert "  - conv2d: {name: conv1, out_channels: 8, kernel_size: 3, padding: 1, frozen: true}" in body
    at = body.index("      name: layer1")
    assert body[at + 1 : at + 3] == ["      frozen: true", "      layers:"]  # once, for the whole group
    assert sum("frozen: true" in line for line in body) == 2
    assert "# Frozen: 9 layers whose parameters have requires_grad=False, written frozen: true" in result.text
    assert result.notes()[-1].startswith("9 layers with requires_grad=False written frozen: true")
    conv = analyze(result.spec).variant("conv")
    trainable, frozen = _trainable_and_frozen(model)
    aux = sum(p.numel() for p in model.aux.parameters())  # never called: not in the spec
    assert (conv.trainable_params, conv.frozen_params) == (trainable - aux, frozen)
    # The model convprof builds freezes the same parameters, under the same names.
    built = build_model(result.spec, "conv")
    original = {name for name, p in model.named_parameters() if not p.requires_grad}
    assert {name for name, p in built.named_parameters() if not p.requires_grad} == original


def test_a_frozen_layer_scale_and_a_frozen_opaque_module_are_frozen_too() -> None:
    scaled = models.LayerScaled().eval()
    scaled.layer_scale.requires_grad_(False)
    spec = import_module(scaled, (3, 8, 8)).spec
    assert {node.path for node in spec.nodes if node.frozen} == {"layer_scale"}
    mixed = models.AttentionCNN().eval()
    mixed.attn.requires_grad_(False)  # an nn.MultiheadAttention: kept opaque with its parameters
    mixed.mixer.requires_grad_(False)  # its weight read by name in forward, by an opaque einsum
    spec = import_module(mixed, (3, 8, 8), allow_unknown=True).spec
    assert {node.path for node in spec.nodes if node.frozen} == {"attn", "mixer.einsum"}
    frozen = sum(p.numel() for p in (*mixed.attn.parameters(), *mixed.mixer.parameters()))
    assert analyze(spec).variant("conv").frozen_params == frozen


def test_a_module_with_some_parameters_frozen_cannot_be_written_and_says_why() -> None:
    model = models.Stages().eval()
    model.fc.bias.requires_grad_(False)
    with pytest.raises(ModelImportError) as caught:
        import_module(model, (3, 8, 8))
    assert str(caught.value) == (
        "fc: its parameters are partly frozen (bias with requires_grad=False, the others trainable); a "
        "spec freezes a layer's parameters together: set requires_grad alike for each module's parameters"
    )
