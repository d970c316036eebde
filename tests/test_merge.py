"""`convprof merge`: one spec's reports from two machines, and the reports it refuses."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from click.testing import CliRunner

from convprof.cli import cli
from convprof.commands.sources import load_spec
from convprof.graph.variants import VARIANTS
from convprof.render.machine import to_json
from convprof.render.schemas import merge_schema
from convprof.report.analyze import analyze
from convprof.report.results import Environment
from convprof.report.stats import summarize
from tests.conftest import ROOT, SPECS
from tests.reports import environment, gpu, measured, trained


def _analytic(spec: str) -> dict[str, Any]:
    result = CliRunner().invoke(cli, ["compare", spec, "--format", "json", "--no-latency"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert isinstance(data, dict)
    return data


def _measured(tmp_path: Path, name: str, spec: str, where: Environment, ms: float) -> Path:
    """A report as a machine in a CI matrix would write it (timings made up, shapes real)."""
    devices = ["cpu", *(g.device for g in where.cuda)]
    medians = {v: dict.fromkeys(devices, ms * (3 - i)) for i, v in enumerate(("dense", "local", "conv"))}
    path = tmp_path / f"{name}.json"
    path.write_text(to_json(measured(analyze(load_spec(spec), "adam"), medians, where)), encoding="utf-8")
    return path


CPU_BOX = environment("AMD EPYC 7B13", 1, "2.13.0")
GPU_BOX = environment(
    "Intel Xeon Platinum 8480C", 4, "2.13.0+cu126", [gpu("cuda:0", "NVIDIA H100 80GB HBM3")]
)


def test_two_environments_in_one_table(tmp_path: Path, golden) -> None:
    a = _measured(tmp_path, "a", "lenet5", CPU_BOX, 1.0)
    b = _measured(tmp_path, "b", "lenet5", GPU_BOX, 0.25)
    result = CliRunner().invoke(cli, ["merge", str(a), str(b), "--format", "json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert (data["schema_version"], data["kind"], data["report_schema_version"]) == (1, "merge", 4)
    jsonschema.Draft202012Validator(merge_schema()).validate(data)
    rows = data["rows"]
    assert [(r["environment"], r["device"], r["median_ms"]["conv"]) for r in rows] == [
        ("AMD EPYC 7B13, 1 thread, torch 2.13.0", "cpu", 1.0),
        ("Intel Xeon Platinum 8480C, 4 threads, torch 2.13.0+cu126", "cpu", 0.25),
        ("NVIDIA H100 80GB HBM3, torch 2.13.0+cu126", "cuda:0", 0.25),
    ]
    markdown = CliRunner().invoke(cli, ["merge", str(a), str(b), "--format", "markdown"])
    golden("merge_lenet5.md", markdown.stdout.replace(str(tmp_path), "TMP"))
    table = CliRunner().invoke(cli, ["merge", str(a), str(b)])
    assert table.exit_code == 0
    assert "H100" in table.stdout


def _refused(*paths: Path) -> str:
    result = CliRunner().invoke(cli, ["merge", *map(str, paths)])
    assert result.exit_code == 2
    assert result.stderr.startswith("convprof: error: ")
    assert len(result.stderr.strip().splitlines()) == 1
    return result.stderr


def test_refuses_different_specs(tmp_path: Path) -> None:
    a = _measured(tmp_path, "a", "lenet5", CPU_BOX, 1.0)
    b = _measured(tmp_path, "b", "alexnet", GPU_BOX, 1.0)
    assert "are reports of different specs (spec name 'lenet5' vs 'alexnet')" in _refused(a, b)


def test_refuses_same_name_with_other_layers(tmp_path: Path) -> None:
    a = _measured(tmp_path, "a", "lenet5", CPU_BOX, 1.0)
    data = json.loads(a.read_text(encoding="utf-8"))
    conv = data["variants"]["conv"]  # one more parameter, everywhere the report counts it
    conv["layers"][0]["params"] += 1
    conv["params"] += 1
    conv["param_bytes"] += 4
    conv["trainable_params"] += 1
    b = tmp_path / "b.json"
    b.write_text(json.dumps(data), encoding="utf-8")
    assert "the layers or counts differ" in _refused(a, b)


def test_refuses_other_schema_versions_and_unmeasured(tmp_path: Path) -> None:
    a = _measured(tmp_path, "a", "lenet5", CPU_BOX, 1.0)
    data = json.loads(a.read_text(encoding="utf-8"))
    data["schema_version"] = 999
    b = tmp_path / "b.json"
    b.write_text(json.dumps(data), encoding="utf-8")
    assert "schema_version 999" in _refused(a, b)
    c = tmp_path / "c.json"
    c.write_text(json.dumps(_analytic("lenet5")), encoding="utf-8")
    assert "has no latency measurements" in _refused(c)


@pytest.mark.parametrize("content", ["", "[1, 2]", '{"schema_version": 1}'])
def test_refuses_files_that_are_not_reports(tmp_path: Path, content: str) -> None:
    path = tmp_path / "r.json"
    path.write_text(content, encoding="utf-8")
    assert str(path) in _refused(path)


def test_an_unstable_median_keeps_its_mark_in_every_merge_output(tmp_path: Path) -> None:
    a = _measured(tmp_path, "a", "lenet5", CPU_BOX, 1.0)
    data = json.loads(a.read_text(encoding="utf-8"))
    # Raw samples spread wide (IQR 1.0 over a median of 1.0) behind a stored "stable": true that lies.
    entry = data["variants"]["conv"]["latency"]["cpu"]
    entry["raw_ms"], entry["raw_rounds"] = [0.5, 0.5, 1.0, 1.5, 2.5], [0, 0, 1, 1, 2]
    assert summarize(entry["raw_ms"], entry["raw_rounds"]).median_ms == entry["median_ms"] == 1.0
    a.write_text(json.dumps(data), encoding="utf-8")
    merged = json.loads(CliRunner().invoke(cli, ["merge", str(a), "--format", "json"]).stdout)
    assert merged["rows"][0]["stable"] == {"dense": True, "local": True, "conv": False}
    table = CliRunner().invoke(cli, ["merge", str(a)]).stdout
    assert "~1.000" in table
    assert "~2.000" not in table
    assert "~ unstable: IQR/median above 10%" in table
    markdown = CliRunner().invoke(cli, ["merge", str(a), "--format", "markdown"]).stdout
    assert "| \\~1.000 |" in markdown  # escaped: a tilde is strikethrough in GitHub's Markdown
    assert "~ unstable:" in markdown


def test_training_steps_merge_beside_latency(tmp_path: Path) -> None:
    report = measured(analyze(load_spec("lenet5"), "adam"), {v: {"cpu": 1.0} for v in VARIANTS}, CPU_BOX)
    with_steps = tmp_path / "a.json"
    steps = {"dense": {"cpu": 30.0}, "local": {"cpu": 2.5}, "conv": {"cpu": 0.0}}  # conv's skipped
    with_steps.write_text(to_json(trained(report, steps)), encoding="utf-8")
    without = _measured(tmp_path, "b", "lenet5", GPU_BOX, 0.25)
    result = CliRunner().invoke(cli, ["merge", str(with_steps), str(without), "--format", "json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    jsonschema.Draft202012Validator(merge_schema()).validate(data)
    first, *others = data["rows"]
    assert first["training_median_ms"] == {"dense": 30.0, "local": 2.5, "conv": None}
    assert first["training_stable"] == {"dense": True, "local": True, "conv": None}
    assert all(row["training_median_ms"] == dict.fromkeys(VARIANTS) for row in others)
    markdown = CliRunner().invoke(cli, ["merge", str(with_steps), str(without), "--format", "markdown"])
    assert "median latency and training step by environment" in markdown.stdout
    assert "| conv ms | dense step ms | local step ms | conv step ms | Report |" in markdown.stdout
    assert "| 1.000 | 30.000 | 2.500 | skipped |" in markdown.stdout
    alone = CliRunner().invoke(cli, ["merge", str(without), "--format", "json"])
    assert "training_median_ms" not in alone.stdout  # only where some report timed a step


def test_refuses_reports_of_the_model_with_other_layers_frozen(tmp_path: Path) -> None:
    a = _measured(tmp_path, "a", "lenet5", CPU_BOX, 1.0)
    text = (SPECS / "lenet5.yaml").read_text(encoding="utf-8").replace("name: c1}", "name: c1, frozen: true}")
    frozen = tmp_path / "lenet5.yaml"
    frozen.write_text(text, encoding="utf-8")
    b = _measured(tmp_path, "b", str(frozen), CPU_BOX, 1.0)
    assert "frozen parameters 0 vs 156 (a training step of another model)" in _refused(a, b)


def test_merges_a_schema_3_report_with_its_schema_4_twin(tmp_path: Path) -> None:
    # Reports CI kept before schema 4: every parameter trainable, as the same model's now.
    old = json.loads((ROOT / "tests" / "data" / "lenet5_schema3.json").read_text(encoding="utf-8"))
    now = json.loads(_measured(tmp_path, "now", "lenet5", CPU_BOX, 1.0).read_text(encoding="utf-8"))
    old["variants"] = {
        name: variant | {"latency": now["variants"][name]["latency"], "skipped": {}}
        for name, variant in old["variants"].items()
    }
    old["environment"] = now["environment"] | {"cpu_model": "Another CPU"}
    old_path = tmp_path / "old.json"
    old_path.write_text(json.dumps(old), encoding="utf-8")
    result = CliRunner().invoke(cli, ["merge", str(old_path), str(tmp_path / "now.json"), "--format", "json"])
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["report_schema_version"] == 4
