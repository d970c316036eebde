"""A measured training step (`compare --training`): its memory against an independent measurement and
against the model, the report's fields and their schema, skips with their reasons, every output format.

The measured peak is checked against tests/training_oracle.py's `step_peak`, which measures the same
step on a separately built model with none of convprof's measuring code, and against the modelled
peak: exact for the conv and dense variants of lenet5 and why_convolutions with every optimizer, from
above for the local variants (whose layer's backward is composed of many operators).
"""

from __future__ import annotations

import copy
import csv
import io
import json
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import torch
from click.testing import CliRunner
from rich.console import Console

from convprof.cli import cli
from convprof.commands.sources import load_spec
from convprof.graph.build import build_model
from convprof.graph.training import training_cost, untrainable
from convprof.graph.variants import VARIANTS, transform
from convprof.measure import MeasureOptions, measure_report
from convprof.measure.guard import admit_training
from convprof.measure.options import PRESETS, Preset
from convprof.render.table import render_compare
from convprof.report import Report, ReportDataError
from convprof.report.analyze import analyze
from convprof.report.jsoncheck import find_violation
from convprof.report.reportfile import load_report
from convprof.report.results import StepMemory
from convprof.report.schema import report_schema
from convprof.spec import ModelSpec
from convprof.units import format_bytes
from tests.conftest import ROOT
from tests.processes import CONVPROF
from tests.reports import environment, measured, trained
from tests.specbuild import make_spec, spec_text
from tests.training_oracle import step_peak

#: The quick preset cut to the bone: every step of the protocol runs, in a fraction of a second.
FAST = Preset("quick", warmup_s=0.001, block_s=0.001, rounds=2, blocks_per_round=2, budget_s=0.05)

#: A small network with what trains differently from inference: batch norm (batch statistics and a
#: running-average update), dropout's mask, a residual add and max pooling's indices.
BLOCKS: list[Any] = [
    {"conv2d": {"out_channels": 4, "kernel_size": 3, "padding": 1, "name": "stem"}},
    {"batchnorm2d": {"name": "bn"}},
    "relu",
    {
        "residual": {
            "name": "block",
            "body": [{"conv2d": {"out_channels": 4, "kernel_size": 3, "padding": 1}}],
        }
    },
    {"maxpool2d": {"kernel_size": 2}},
    "dropout",
    "flatten",
    {"linear": {"out_features": 5}},
]


@pytest.fixture
def fast(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(PRESETS, "quick", FAST)


def _spec(name: str) -> ModelSpec:
    if name == "blocks":
        return make_spec((3, 8, 8), BLOCKS, batch_size=2)
    return load_spec(name)


def _trained(spec: ModelSpec, optimizer: str) -> Report:
    options = MeasureOptions(devices=(), training_devices=("cpu",), preset="quick")
    return measure_report(spec, analyze(spec, optimizer), options)


def _steps(report: Report, variant: str) -> StepMemory:
    found = report.variant(variant).training_latency
    assert found is not None
    (entry,) = found
    assert entry.skipped is None, entry.skipped
    assert isinstance(entry.memory, StepMemory)
    return entry.memory


@pytest.mark.slow
@pytest.mark.usefixtures("fast")
@pytest.mark.parametrize(
    ("name", "optimizer"),
    [
        ("lenet5", "sgd"),
        ("lenet5", "momentum"),
        ("lenet5", "adam"),
        ("why_convolutions", "sgd"),
        ("why_convolutions", "momentum"),
        ("why_convolutions", "adam"),
        ("blocks", "adam"),
    ],
)
def test_the_measured_peak_is_the_oracles_and_the_models(name: str, optimizer: str) -> None:
    spec = _spec(name)
    report = _trained(spec, optimizer)
    assert report.variant("conv").latency is None  # a training step only: no inference was asked for
    for variant in VARIANTS:
        memory = _steps(report, variant)
        torch.manual_seed(0)
        independent = step_peak(
            build_model(spec, variant), torch.randn(spec.batch_size, *spec.input), optimizer
        )
        assert memory.peak_bytes == independent, (name, variant, optimizer)
        assert memory.estimate_bytes == report.variant(variant).training_bytes
        if name == "blocks":
            continue
        if variant == "local":
            # The locally connected layer's backward composes many operators: modelled from above, by
            # at most a fifth of the peak (tests/test_training.py's bound), here within 1%.
            assert memory.peak_bytes <= memory.estimate_bytes <= memory.peak_bytes * 1.01
        else:  # exact on these
            assert memory.peak_bytes == memory.estimate_bytes, (name, variant, optimizer)
            assert memory.error_percent == 0


@pytest.mark.slow
def test_compare_training_end_to_end(tmp_path: Path) -> None:
    out = tmp_path / "lenet5.json"
    process = subprocess.run(
        [
            *(*CONVPROF, "compare", "lenet5", "--training", "--preset", "quick"),
            *("--device", "cpu", "--format", "json", "-o", str(out)),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=300,
        check=False,
    )
    assert process.returncode == 0, process.stderr
    assert process.stderr == f"convprof: wrote {out}\n"
    data = json.loads(out.read_text(encoding="utf-8"))
    schema = json.loads(CliRunner().invoke(cli, ["schema"]).stdout)
    jsonschema.Draft202012Validator(schema).validate(data)
    for name, variant in data["variants"].items():
        assert variant["training_skipped"] == {}, name
        entry = variant["training_latency"]["cpu"]
        assert entry["samples"] == len(entry["raw_ms"]) == len(entry["raw_rounds"]) >= 3
        assert 0 < entry["min_ms"] <= entry["median_ms"] <= entry["max_ms"]
        assert entry["first_call_ms"] > 0
        assert entry["compile_ms"] is None
        assert entry["achieved_flop_per_s"] == pytest.approx(
            variant["training_flops"] / (entry["median_ms"] / 1000)
        )
        memory = entry["memory"]
        assert memory["method"] == "dispatch-tracking"
        assert memory["estimate_bytes"] == variant["training_bytes"]
        if name != "local":  # LeNet-5's conv and dense steps are modelled exactly on the CPU
            assert memory["peak_bytes"] == memory["estimate_bytes"]
            assert memory["error_percent"] == 0
        assert 0 < memory["held_bytes"] < memory["peak_bytes"]
        assert variant["latency"]["cpu"]["median_ms"] > 0  # inference is measured beside it
    report = Report.from_dict(data)
    assert report.to_dict() == data
    assert load_report(out) == report


@pytest.mark.slow
@pytest.mark.usefixtures("fast")
def test_table_markdown_and_csv_show_the_measured_step() -> None:
    runner = CliRunner(env={"COLUMNS": "200"})
    args = ["compare", "lenet5", "--training", "--quick", "--device", "cpu", "--no-layers"]
    table = runner.invoke(cli, args)
    assert table.exit_code == 0, table.stderr
    text = table.stdout
    assert "Training step (adam), modelled, and measured" in text
    for header in ("Measured", "Model", "error", "FLOP/s", "Training step per call", "First step"):
        assert header in text, header
    assert text.count("exact") >= 2  # the model error of the conv and dense variants
    markdown = runner.invoke(cli, [*args, "--format", "markdown"]).stdout
    assert "| Step (cpu) | vs conv | FLOP/s | Measured peak | Model error |" in markdown
    assert "#### Training step per call" in markdown
    assert "| conv | cpu |" in markdown
    rows = list(csv.DictReader(io.StringIO(runner.invoke(cli, [*args, "--format", "csv"]).stdout)))
    assert [row["variant"] for row in rows] == list(VARIANTS)
    for row in rows:
        assert float(row["cpu_training_median_ms"]) > 0
        assert row["cpu_training_stable"] in ("True", "False")
        peak, estimate = int(row["cpu_training_peak_bytes"]), int(row["cpu_training_estimate_bytes"])
        assert estimate == int(row["training_bytes"])
        assert float(row["cpu_training_error_percent"]) == pytest.approx((estimate - peak) * 100 / peak)
        assert float(row["cpu_training_flop_per_s"]) == pytest.approx(
            int(row["training_flops"]) / (float(row["cpu_training_median_ms"]) / 1000)
        )


#: Batch norm on a 1x1 map at batch 1: inference runs, training has one value per channel.
UNTRAINABLE = [
    {"conv2d": {"out_channels": 4, "kernel_size": 3}},
    {"adaptiveavgpool2d": {"output_size": 1}},
    {"conv2d": {"out_channels": 4, "kernel_size": 1}},
    {"batchnorm2d": {"name": "bn"}},
    "flatten",
]


@pytest.mark.usefixtures("fast")
def test_a_spec_that_cannot_train_at_its_batch_is_skipped_with_one_reason(tmp_path: Path) -> None:
    spec = tmp_path / "pooled.yaml"
    spec.write_text(spec_text((3, 6, 6), UNTRAINABLE), encoding="utf-8")
    result = CliRunner().invoke(cli, ["compare", str(spec), "--training", "--quick", "--device", "cpu"])
    assert result.exit_code == 0, result.stderr
    assert "Traceback" not in result.output
    why = (
        "cannot be trained at batch size 1: layers.3 batchnorm2d: in training mode it normalises with the "
        "batch's own statistics and needs more than one value per channel, but gets batch 1 x 1x1; use "
        "a larger batch size."
    )
    text = " ".join(result.stdout.split())
    for variant in VARIANTS:
        assert f"Training step skipped on cpu: {variant} {why}" in text
    data = json.loads(
        CliRunner()
        .invoke(cli, ["compare", str(spec), "--training", "--quick", "--device", "cpu", "--format", "json"])
        .stdout
    )
    conv = data["variants"]["conv"]
    assert conv["training_latency"] == {"cpu": None}
    assert conv["training_skipped"]["cpu"] == f"conv {why[:-1]}"
    assert conv["latency"]["cpu"]["median_ms"] > 0  # inference still runs
    # At two samples per batch it trains: the reason was the batch, not the layer.
    assert untrainable(make_spec((3, 6, 6), UNTRAINABLE, batch_size=2)) is None


def test_instance_norm_with_running_statistics_cannot_train_on_one_position() -> None:
    layers = [{"instancenorm1d": {"track_running_stats": True}}, "flatten"]
    assert untrainable(make_spec((4, 3), layers)) is None
    reason = untrainable(make_spec((4, 1), layers, batch_size=4))
    assert reason is not None
    assert reason.startswith("layers.0 instancenorm1d: in training mode it normalises each channel")
    module = torch.nn.InstanceNorm1d(4, track_running_stats=True).train()
    with pytest.raises(ValueError, match="Expected more than 1 spatial element when training"):
        module(torch.randn(4, 4, 1))  # torch agrees


@pytest.mark.usefixtures("fast")
def test_variants_whose_step_does_not_fit_are_skipped_by_the_modelled_peak() -> None:
    spec = load_spec("lenet5")
    report = analyze(spec, "adam")
    limit = report.variant("conv").training_bytes  # the conv variant's step fits exactly
    reasons = admit_training(
        report.variants,
        {v: training_cost(transform(spec, v), "adam") for v in VARIANTS},
        limit,
        4 * 32 * 32,
    )
    assert reasons["conv"] is None
    for name in ("local", "dense"):
        need = format_bytes(report.variant(name).training_bytes)
        assert reasons[name] == f"{name} needs {need} for a training step; limit {format_bytes(limit)}"
    options = MeasureOptions(devices=(), training_devices=("cpu",), preset="quick", max_memory=limit)
    measured_report = measure_report(spec, report, options)
    assert _steps(measured_report, "conv").peak_bytes <= limit
    local = measured_report.variant("local").training_latency
    assert local is not None
    assert local[0].skipped == reasons["local"]


@pytest.mark.usefixtures("fast")
def test_a_variant_torch_refuses_to_train_is_skipped_with_torchs_reason(tmp_path: Path) -> None:
    # An in-place ReLU overwrites the output the sigmoid before it keeps for its backward: inference
    # runs, autograd refuses the backward.
    layers = [
        {"conv2d": {"out_channels": 4, "kernel_size": 3}},
        "sigmoid",
        {"relu": {"inplace": True}},
        "flatten",
        {"linear": {"out_features": 5}},
    ]
    spec = tmp_path / "inplace.yaml"
    spec.write_text(spec_text((3, 8, 8), layers), encoding="utf-8")
    args = ["compare", str(spec), "--training", "--quick", "--device", "cpu", "--format", "json"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.stderr
    for name, variant in json.loads(result.stdout)["variants"].items():
        assert variant["latency"]["cpu"]["median_ms"] > 0
        assert variant["training_latency"] == {"cpu": None}
        reason = variant["training_skipped"]["cpu"]
        assert reason.startswith(f"{name} cannot be trained on cpu: one of the variables needed for gradient")
        assert "Hint" not in reason


OPAQUE = """\
name: opaque_net
input: [3, 8, 8]
layers:
  - conv2d: {name: conv, out_channels: 8, kernel_size: 3, padding: 1}
  - flatten: {name: flatten, start_dim: 2}
  - opaque: {name: attn, op: torch.nn.MultiheadAttention, input_shapes: [[8, 64]], output_shape: [8, 64]}
  - flatten: {name: flatten_1}
  - linear: {name: fc, out_features: 10}
"""


@pytest.mark.usefixtures("fast")
def test_a_spec_with_opaque_ops_is_not_trained_and_says_why(tmp_path: Path) -> None:
    spec = tmp_path / "opaque.yaml"
    spec.write_text(OPAQUE, encoding="utf-8")
    result = CliRunner().invoke(
        cli, ["compare", str(spec), "--training", "--quick", "--device", "cpu", "--format", "json"]
    )
    assert result.exit_code == 0, result.stderr
    conv = json.loads(result.stdout)["variants"]["conv"]
    assert conv["training_latency"] == {"cpu": None}
    assert conv["training_skipped"]["cpu"].startswith("conv not built: attn (opaque): ")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--training", "--no-latency"), "--training measures a training step and --no-latency measures"),
        (("--training", "--compile"), "a training step is timed eagerly only"),
    ],
)
def test_training_with_options_that_exclude_it_is_one_line_and_exit_2(
    args: tuple[str, ...], message: str
) -> None:
    result = CliRunner().invoke(cli, ["compare", "why_convolutions", *args])
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.startswith("convprof: error: ")
    assert message in result.stderr
    assert result.stderr.count("\n") == 1


@pytest.mark.parametrize("width", [60, 40])
def test_the_measured_training_table_fits_narrow_terminals(width: int) -> None:
    report = analyze(load_spec("lenet5"), "adam")
    report = measured(report, {v: {"cpu": 1.5} for v in VARIANTS}, environment("Test CPU", 1, "2.13.0"))
    report = trained(report, {"dense": {"cpu": 0.0}, "local": {"cpu": 12.5}, "conv": {"cpu": 3.25}})
    buffer = io.StringIO()
    render_compare(report, Console(file=buffer, width=width), layers=True)
    text = buffer.getvalue()
    assert max(len(line.rstrip()) for line in text.splitlines()) <= width
    assert "…" not in text  # nothing cut: too wide a table becomes records
    assert "3.25 ms" in text
    assert "Training step skipped on cpu: dense too large." in " ".join(text.split())


def test_measured_training_entries_validate_against_the_schema() -> None:
    report = trained(
        analyze(load_spec("why_convolutions"), "sgd"), {v: {"cpu": 2.0, "cuda:0": 0.0} for v in VARIANTS}
    )
    schema = json.loads(CliRunner().invoke(cli, ["schema"]).stdout)
    data = report.to_dict()
    jsonschema.Draft202012Validator(schema).validate(data)
    assert data["variants"]["conv"]["training_skipped"] == {"cuda:0": "conv too large"}
    assert Report.from_dict(data) == report


@pytest.mark.gpu
@pytest.mark.usefixtures("fast")
def test_cuda_training_step_and_its_estimate() -> None:
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    args = ["compare", "lenet5", "--training", "--quick", "--device", "all", "--format", "json"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    spec = load_spec("lenet5")
    for name, variant in data["variants"].items():
        cpu, gpu = variant["training_latency"]["cpu"], variant["training_latency"]["cuda:0"]
        assert cpu["memory"]["estimate_bytes"] == variant["training_bytes"]
        assert gpu["device_median_ms"] > 0
        memory = gpu["memory"]
        assert memory["method"] == "cuda.max_memory_allocated"
        assert memory["estimate_bytes"] == training_cost(transform(spec, name), "adam", "cuda").peak_bytes
        # Adam's step counts stay on the CPU: the GPU holds the weights, buffers, moments and input.
        assert memory["held_bytes"] == 3 * variant["param_bytes"] + variant["buffer_bytes"] + 4 * 32 * 32
        assert memory["peak_bytes"] > memory["held_bytes"]
    jsonschema.Draft202012Validator(json.loads(CliRunner().invoke(cli, ["schema"]).stdout)).validate(data)


def _edited(data: dict[str, Any], dotted: str, value: Any) -> dict[str, Any]:
    document = copy.deepcopy(data)
    *parents, last = dotted.split(".")
    target = document
    for part in parents:
        target = target[part]
    if value is _DELETE:
        del target[last]
    else:
        target[last] = value
    return document


_DELETE = object()


@pytest.mark.parametrize(
    ("dotted", "value", "valid"),
    [
        ("variants.conv.training_latency.cpu.memory", None, True),
        ("variants.conv.training_latency.cpu", None, True),
        # Valid JSON to both checkers; refused when read back: skip reasons where nothing was measured.
        ("variants.conv.training_latency", None, True),
        ("variants.conv.training_latency.cpu.memory.method", "guess", False),
        ("variants.conv.training_latency.cpu.memory.error_percent", -12.5, True),
        ("variants.conv.training_latency.cpu.memory.error_percent", "0", False),
        ("variants.conv.training_latency.cpu.memory.held_bytes", _DELETE, False),
        ("variants.conv.training_latency.cpu.memory.peak_bytes", -1, False),
        ("variants.conv.training_latency.cpu.memory.weight_bytes", 4, False),  # an inference field
        ("variants.conv.training_latency.cpu.compile_ms", 3.0, False),
        ("variants.conv.training_latency.cpu.roofline_fraction", 0.5, False),
        ("variants.conv.training_latency.cpu.raw_ms", [], False),
        ("variants.conv.training_skipped.cuda:0", 3, False),
        ("variants.conv.training_skipped", _DELETE, True),
        ("variants.conv.training_latency", _DELETE, False),
    ],
)
def test_the_compiled_checker_agrees_with_jsonschema_on_training_entries(
    dotted: str, value: Any, valid: bool
) -> None:
    report = trained(
        analyze(load_spec("why_convolutions"), "sgd"), {v: {"cpu": 2.0, "cuda:0": 0.0} for v in VARIANTS}
    )
    schema = report_schema()
    document = _edited(report.to_dict(), dotted, value)
    theirs = jsonschema.Draft202012Validator(schema).is_valid(document)
    ours = find_violation(document, schema) is None
    assert theirs == ours == valid
    if dotted == "variants.conv.training_latency" and value is None:
        with pytest.raises(ReportDataError, match="skip reasons where nothing was measured"):
            Report.from_dict(document)
