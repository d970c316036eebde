"""Saved reports read back: checked field by field against the schema, errors with a line and column."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from click.testing import CliRunner

from convprof.cli import cli
from convprof.commands.sources import load_spec
from convprof.errors import UsageError
from convprof.graph.analyze import analyze
from convprof.measure import MeasureOptions, measure_report
from convprof.render.machine import to_json
from convprof.report import Report
from convprof.report.jsoncheck import find_violation, locate
from convprof.report.reportfile import load_report
from convprof.report.results import (
    CudaEnvironment,
    DeviceLatency,
    Environment,
    MemoryMeasurement,
    StepMemory,
)
from convprof.report.schema import report_schema
from convprof.report.stats import summarize
from convprof.spec.examples import example_names

EXAMPLES = ["why_convolutions", "lenet5", "alexnet", "vgg16", "mobilenet_v1"]


def _report(name: str, *extra: str) -> dict[str, Any]:
    result = CliRunner().invoke(cli, ["compare", name, "--format", "json", *extra])
    assert result.exit_code == 0, result.output
    data: dict[str, Any] = json.loads(result.stdout)
    return data


@pytest.fixture(scope="module")
def measured() -> dict[str, Any]:
    return _report("why_convolutions", "--quick", "--device", "cpu")


@pytest.mark.parametrize("name", EXAMPLES)
def test_every_report_convprof_writes_passes(name: str) -> None:
    assert find_violation(_report(name, "--no-latency"), report_schema()) is None


def test_a_measured_report_passes(measured: dict[str, Any]) -> None:
    assert measured["environment"]["cpu_model"]
    assert find_violation(measured, report_schema()) is None


def _edits(report: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """Hand edits of a report, some harmless, most not."""
    edits: list[tuple[str, Any, Any]] = [
        ("variants.conv.params", "456", None),
        ("variants.conv.params", -1, None),
        ("variants.conv.params", 456.0, None),
        ("variants.conv.params", True, None),
        ("variants.conv.params", 457, None),  # a different count, still a report
        ("variants.dense.layers", {}, None),
        ("variants.local.layers.0.output_shape", [6, 28], None),  # any length of positive ints
        ("variants.local.layers.0.output_shape", [6, 0, 28], None),
        ("variants.local.layers.0.receptive_field", None, None),
        ("variants.local.layers.0.receptive_field", "5x5", None),
        ("variants.conv.latency", None, None),
        ("variants.conv.latency.cpu", None, None),
        ("variants.conv.latency.cpu.samples", 0, None),
        ("variants.conv.latency.cpu.stable", "yes", None),
        ("variants.conv.latency.cpu.memory.method", "guess", None),
        ("variants.conv.skipped.cpu", 3, None),
        ("spec.input", [3, 32, 32, 1, 1], None),
        ("spec.dtype", "float8", None),
        ("optimizer", "adagrad", None),
        ("environment.load_before", [0.1, 0.2], None),
        ("environment.threads", 0, None),
        ("environment", None, None),
    ]
    out = []
    for dotted, value, _ in edits:
        document = copy.deepcopy(report)
        *parents, last = [int(part) if part.isdigit() else part for part in dotted.split(".")]
        target = document
        for part in parents:
            target = target[part]
        target[last] = value
        out.append((f"{dotted}={json.dumps(value)}", document))
    for dotted in ("variants.conv.macs", "spec.name", "variants.local", "variants.conv.layers.0.fan_in"):
        document = copy.deepcopy(report)
        *parents, last = [int(part) if part.isdigit() else part for part in dotted.split(".")]
        target = document
        for part in parents:
            target = target[part]
        del target[last]
        out.append((f"del {dotted}", document))
    extra = copy.deepcopy(report)
    extra["variants"]["conv"]["parms"] = 1
    out.append(("variants.conv.parms=1", extra))
    return out


def test_checks_agree_with_jsonschema_on_hand_edits(measured: dict[str, Any]) -> None:
    validator = jsonschema.Draft202012Validator(report_schema())
    verdicts = []
    for label, document in _edits(measured):
        ours = find_violation(document, report_schema()) is None
        theirs = validator.is_valid(document)
        if label == "variants.conv.params=456.0":
            # JSON Schema counts 456.0 as an integer; counts in a report are exact, so convprof does not.
            assert (ours, theirs) == (False, True)
        else:
            assert ours == theirs, label
        verdicts.append(ours)
    assert verdicts.count(True) == 6  # 457 params, a 2-d shape, no receptive field, 3 nulls allowed


def test_a_wrong_value_is_named_with_its_line_and_column(tmp_path: Path) -> None:
    report = _report("lenet5", "--no-latency")
    report["variants"]["local"]["layers"][2]["params"] = "2.4k"
    path = tmp_path / "edited.json"
    text = json.dumps(report, indent=2)
    path.write_text(text, encoding="utf-8")
    offset = text.index('"2.4k"')
    line = text.count("\n", 0, offset) + 1
    column = offset - text.rfind("\n", 0, offset)
    with pytest.raises(UsageError) as caught:
        load_report(path)
    assert str(caught.value) == (
        f"{path}:{line}:{column}: not a valid report: variants.local.layers[2].params: "
        'expected an integer >= 0, got "2.4k"; regenerate it with `convprof compare --format json`'
    )


def test_commands_that_read_reports_refuse_an_edited_one_in_one_line(tmp_path: Path) -> None:
    good = tmp_path / "good.json"
    report = _report("lenet5", "--no-latency")
    good.write_text(json.dumps(report), encoding="utf-8")
    report["variants"]["conv"]["layers"][0]["kind"] = None
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(report), encoding="utf-8")
    for args in (
        ["diff", str(good), str(bad)],
        ["merge", str(bad)],
        ["check", "lenet5", "--baseline", str(bad), "--max-growth", "params=0%"],
    ):
        result = CliRunner().invoke(cli, args)
        assert result.exit_code == 2, (args, result.output)
        assert result.stderr.count("\n") == 1
        assert f"{bad}:1:" in result.stderr
        assert "variants.conv.layers[0].kind: expected a string, got null" in result.stderr


def test_a_sweep_report_is_told_apart(tmp_path: Path) -> None:
    path = tmp_path / "sweep.json"
    result = CliRunner().invoke(cli, ["sweep", "lenet5", "--resolution", "32,64", "--format", "json"])
    path.write_text(result.stdout, encoding="utf-8")
    with pytest.raises(UsageError, match=r"sweep\.json:1:1: a sweep report; diff, merge and check"):
        load_report(path)


def test_keys_a_person_typed_are_quoted_on_one_line() -> None:
    report = _report("lenet5", "--no-latency")
    report["variants"]["conv"]["new\nline"] = 1
    violation = find_violation(report, report_schema())
    assert violation is not None
    assert violation.dotted == 'variants.conv["new\\nline"]'
    known = "unknown field (known: params, trainable_params, frozen_params, macs, "
    assert violation.message.startswith(known)


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ((), (1, 1)),
        (("a",), (1, 7)),
        (("a", 1, "b"), (1, 17)),
        (("a", 2), (1, 29)),
        (("c", "d"), (2, 22)),  # the last of duplicate keys, the one json.loads keeps
        (("e",), (2, 31)),
        (("e", 0), (2, 31)),  # not there: the deepest value found
        (("a", 3), (1, 7)),
        (("zz",), (1, 1)),
    ],
)
def test_locate(path: tuple[str | int, ...], expected: tuple[int, int]) -> None:
    text = '{"a": [1, {"b": "x\\ud800"}, 3.5],\n "c":{"d" :  5, "d": 6}, "e": []}'
    json.loads(text)
    assert locate(text, path) == expected


# -- the typed Report read back ------------------------------------------------------------------------

TINY_SPEC = """\
name: tiny
input: [1, 6, 6]
layers:
  - conv2d: {out_channels: 2, kernel_size: 3}
  - relu: {}
  - flatten: {}
  - linear: {out_features: 3}
"""


def _saved(tmp_path: Path, report: Report, name: str = "report.json") -> Path:
    path = tmp_path / name
    path.write_text(to_json(report), encoding="utf-8")
    return path


@pytest.mark.parametrize("name", example_names())
def test_every_example_report_reads_back_as_the_same_typed_report(tmp_path: Path, name: str) -> None:
    report = analyze(load_spec(name), "adam")
    assert load_report(_saved(tmp_path, report)) == report


def test_a_measured_report_reads_back_as_the_same_typed_report(tmp_path: Path) -> None:
    spec_file = tmp_path / "tiny.yaml"
    spec_file.write_text(TINY_SPEC, encoding="utf-8")
    spec = load_spec(str(spec_file))
    report = measure_report(spec, analyze(spec, "sgd"), MeasureOptions(devices=("cpu",), preset="quick"))
    assert report.environment is not None
    measured = report.variant("conv").latency
    assert measured is not None
    assert measured[0].stats is not None
    assert measured[0].memory is not None
    assert load_report(_saved(tmp_path, report)) == report


def _everything(report: Report) -> Report:
    """`report` with every measured field a report can hold filled: GPU, device times, skips, roofline."""
    stats = summarize([1.0, 1.25, 1.5, 4.0, 1.0, 1.125], [0, 0, 0, 1, 1, 1])
    device_stats = summarize([0.5, 0.75, 0.625, 0.5, 0.5, 0.875], [0, 0, 0, 1, 1, 1])
    gpu = DeviceLatency(
        "cuda:0",
        None,
        stats,
        first_call_ms=12.5,
        compile_ms=340.0,
        calls_per_sample=8,
        device_stats=device_stats,
        memory=MemoryMeasurement(1024, 48, 4096, "cuda.max_memory_allocated"),
        achieved_flop_per_s=2.5e9,
        arithmetic_intensity=3.25,
        roofline_fraction=0.0625,
    )
    cpu = DeviceLatency("cpu", "weights and activations need 9.0 GiB, over the 8.0 GiB limit")
    environment = Environment(
        convprof_version="0.1.0",
        python_version="3.12.1",
        torch_version="2.13.0",
        platform="Linux-x86_64",
        cpu_model="Test CPU",
        logical_cores=2,
        threads=1,
        env_threads=(("OMP_NUM_THREADS", "1"),),
        load_before=(0.5, 0.25, 0.125),
        load_after=(1.0, 0.5, 0.25),
        preset="quick",
        dtype="float32",
        batch_size=1,
        channels_last=True,
        compiled=True,
        cpu_memory_limit_bytes=8 * 2**30,
        cuda=(CudaEnvironment("cuda:0", "Test GPU", "9.0", None, "12.4", 90100, True, False, True, 2**34),),
        calibration=(("cuda:0", 5.0e13, 2.0e12),),
    )
    step = DeviceLatency(
        "cuda:0",
        None,
        summarize([3.0, 3.5, 3.25, 3.0, 3.125, 3.375], [0, 0, 0, 1, 1, 1]),
        first_call_ms=40.0,
        calls_per_sample=2,
        device_stats=device_stats,
        memory=StepMemory(4096, 10240, 10000, "cuda.max_memory_allocated"),
        achieved_flop_per_s=1.5e9,
    )
    cpu_step = DeviceLatency("cpu", "dense needs 139.96 MiB for a training step; limit 1.00 MiB")
    variants = tuple(
        replace(v, latency=(cpu, gpu), training_latency=(cpu_step, step)) for v in report.variants
    )
    return replace(report, variants=variants, environment=environment)


def test_every_measured_field_reads_back(tmp_path: Path) -> None:
    report = _everything(analyze(load_spec("lenet5"), "momentum"))
    assert load_report(_saved(tmp_path, report)) == report


def _refusal(tmp_path: Path, edit: Callable[[dict[str, Any]], None]) -> str:
    data = _everything(analyze(load_spec("lenet5"), "adam")).to_dict()
    edit(data)
    path = tmp_path / "edited.json"
    path.write_text(json.dumps(data, indent=2), encoding="utf-8")
    with pytest.raises(UsageError) as caught:
        load_report(path)
    return str(caught.value)


def test_samples_that_contradict_each_other_are_refused_where_they_are(tmp_path: Path) -> None:
    def short_rounds(data: dict[str, Any]) -> None:
        data["variants"]["local"]["latency"]["cuda:0"]["raw_rounds"].pop()

    message = _refusal(tmp_path, short_rounds)
    assert "edited.json:" in message
    assert 'variants.local.latency["cuda:0"].raw_rounds: 5 rounds for 6 samples in raw_ms' in message

    def flops(data: dict[str, Any]) -> None:
        data["variants"]["conv"]["layers"][0]["flops"] += 2

    message = _refusal(tmp_path, flops)
    assert "variants.conv.layers[0].flops:" in message
    assert message.endswith("regenerate it with `convprof compare --format json`")

    def skipped_twice(data: dict[str, Any]) -> None:
        data["variants"]["dense"]["skipped"]["cuda:0"] = "too large"

    assert 'variants.dense.skipped["cuda:0"]: a device both measured and skipped' in _refusal(
        tmp_path, skipped_twice
    )

    def short_step_rounds(data: dict[str, Any]) -> None:
        data["variants"]["conv"]["training_latency"]["cuda:0"]["raw_rounds"].pop()

    message = _refusal(tmp_path, short_step_rounds)
    assert 'variants.conv.training_latency["cuda:0"].raw_rounds: 5 rounds for 6 samples' in message

    def step_skipped_twice(data: dict[str, Any]) -> None:
        data["variants"]["local"]["training_skipped"]["cuda:0"] = "too large"

    assert 'variants.local.training_skipped["cuda:0"]: a device both measured and skipped' in _refusal(
        tmp_path, step_skipped_twice
    )

    def skipped_unmeasured(data: dict[str, Any]) -> None:
        data["variants"]["local"]["training_skipped"]["cuda:1"] = "too large"

    assert 'variants.local.training_skipped["cuda:1"]: a device training_latency does not list' in _refusal(
        tmp_path, skipped_unmeasured
    )


def test_a_training_step_error_is_derived_from_its_bytes(tmp_path: Path) -> None:
    report = _everything(analyze(load_spec("lenet5"), "adam"))
    data = report.to_dict()
    memory = data["variants"]["conv"]["training_latency"]["cuda:0"]["memory"]
    assert memory["error_percent"] == pytest.approx((10000 - 10240) * 100 / 10240)
    memory["error_percent"] = 0.0  # a hand edit the byte counts deny
    path = tmp_path / "edited.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    steps = load_report(path).variant("conv").training_latency
    assert steps is not None
    assert isinstance(steps[1].memory, StepMemory)
    assert steps[1].memory.error_percent == pytest.approx(-2.34375)


def test_statistics_come_from_the_raw_samples(tmp_path: Path) -> None:
    report = _everything(analyze(load_spec("lenet5"), "adam"))
    data = report.to_dict()
    data["variants"]["conv"]["latency"]["cuda:0"]["median_ms"] = 0.001  # a hand edit the samples deny
    data["variants"]["conv"]["latency"]["cuda:0"]["stable"] = True
    path = tmp_path / "edited.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    measured = load_report(path).variant("conv").latency
    assert measured is not None
    assert measured[1].stats is not None
    # Six samples, sorted 1, 1, 1.125, 1.25, 1.5, 4: the median is between the third and fourth.
    assert measured[1].stats.median_ms == (1.125 + 1.25) / 2
    assert measured[1].stats.stable is False  # IQR 0.375 over a median of 1.1875: 32%


def test_reading_a_report_imports_no_measuring_code() -> None:
    code = (
        "import sys, convprof.report, convprof.report.reportfile, convprof.ci.diff, convprof.ci.merge; "
        "import convprof.ci.budgets; "
        "print(sorted(m for m in sys.modules if m.startswith('convprof.measure') or m == 'torch'))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout == "[]\n"


#: A report of schema 3, as the previous release wrote it (`compare lenet5 --no-latency --format json`).
SCHEMA_3 = Path(__file__).parent / "data" / "lenet5_schema3.json"


def test_a_schema_3_report_still_reads_and_diffs(tmp_path: Path) -> None:
    old = load_report(SCHEMA_3)
    assert old.schema_version == 3
    new = analyze(load_spec("lenet5"))
    # Everything schema 3 carried is what this version counts; what schema 4 added reads as None.
    for before, after in zip(old.variants, new.variants, strict=True):
        assert replace(after, step_optimizer_bytes=None, training_peak=None, layers=before.layers) == before
        for layer, counted in zip(before.layers, after.layers, strict=True):
            assert (layer.live_bytes, layer.step_forward_bytes, layer.step_backward_bytes) == (None,) * 3
            assert (
                replace(counted, live_bytes=None, step_forward_bytes=None, step_backward_bytes=None) == layer
            )
    # It is written back as it was read: schema 3, without the fields it lacks.
    assert old.to_dict() == json.loads(SCHEMA_3.read_text(encoding="utf-8"))
    current = _saved(tmp_path, new)
    for args in (
        ["diff", str(SCHEMA_3), str(current)],
        ["check", "lenet5", "--baseline", str(SCHEMA_3), "--max-growth", "params=0%"],
    ):
        result = CliRunner().invoke(cli, [*args, "--format", "json"])
        assert result.exit_code == 0, (args, result.output)
    assert (
        json.loads(CliRunner().invoke(cli, ["diff", str(SCHEMA_3), str(current), "--format", "json"]).stdout)[
            "changed"
        ]
        is False
    )
    # A schema-3 report with a field of schema 4 is no schema-3 report.
    data = json.loads(SCHEMA_3.read_text(encoding="utf-8"))
    data["variants"]["conv"]["layers"][0]["live_bytes"] = 1
    edited = tmp_path / "mixed.json"
    edited.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(UsageError, match=r"variants\.conv\.layers\[0\]\.live_bytes"):
        load_report(edited)


def test_memory_over_time_that_contradicts_the_totals_is_refused_where_it_is(tmp_path: Path) -> None:
    def live(data: dict[str, Any]) -> None:
        for layer in data["variants"]["conv"]["layers"]:
            layer["live_bytes"] //= 2

    assert "variants.conv.activation_bytes: 37632, but the layers' live_bytes peak at 18816" in _refusal(
        tmp_path, live
    )

    def moment(data: dict[str, Any]) -> None:
        data["variants"]["local"]["step_optimizer_bytes"] += 1

    assert "variants.local.training_bytes:" in _refusal(tmp_path, moment)

    def elsewhere(data: dict[str, Any]) -> None:
        data["variants"]["conv"]["training_peak"] = {"phase": "forward", "layer": "c1"}

    assert "variants.conv.training_peak: names a moment of 763424 bytes, but training_bytes is 1375496" in (
        _refusal(tmp_path, elsewhere)
    )

    def nowhere(data: dict[str, Any]) -> None:
        data["variants"]["conv"]["training_peak"] = {"phase": "backward", "layer": "c9"}

    assert 'variants.conv.training_peak.layer: "c9" is no layer of the variant' in _refusal(tmp_path, nowhere)

    def held(data: dict[str, Any]) -> None:
        data["variants"]["dense"]["training_peak_tensors"][-1]["bytes"] += 4

    assert "variants.dense.training_peak_tensors: sum to" in _refusal(tmp_path, held)

    def resident(data: dict[str, Any]) -> None:
        data["variants"]["dense"]["training_peak_tensors"][0]["layer"] = "c1"

    assert "variants.dense.training_peak_tensors[0].layer: must be null for a resident tensor" in _refusal(
        tmp_path, resident
    )
