"""The report's JSON Schema: every report convprof writes validates; reports are deterministic."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
from click.testing import CliRunner

from convprof.cli import cli
from convprof.report import SCHEMA_VERSION
from convprof.report.schema import report_schema
from convprof.spec.examples import example_names
from tests.conftest import ROOT
from tests.reports import environment, gpu, latency

VALIDATOR = jsonschema.Draft202012Validator(report_schema())


def _compare_json(spec: str, *extra: str) -> str:
    result = CliRunner().invoke(cli, ["compare", spec, "--format", "json", "--no-latency", *extra])
    assert result.exit_code == 0, result.output
    return result.stdout


def test_schema_is_valid_and_printed() -> None:
    jsonschema.Draft202012Validator.check_schema(report_schema())
    result = CliRunner().invoke(cli, ["schema"])
    assert result.exit_code == 0
    assert json.loads(result.stdout) == report_schema()
    assert report_schema()["properties"]["schema_version"] == {"const": SCHEMA_VERSION}
    assert report_schema(3)["properties"]["schema_version"] == {"const": 3}


@pytest.mark.parametrize("name", example_names())
def test_every_example_report_validates_and_is_deterministic(name: str) -> None:
    first = _compare_json(name)
    VALIDATOR.validate(json.loads(first))
    assert _compare_json(name) == first  # byte-identical


def test_batch_dtype_and_optimizer_reports_validate() -> None:
    VALIDATOR.validate(json.loads(_compare_json("lenet5", "--batch-size", "8", "--dtype", "float16")))


def test_counts_are_exact_integers_in_stable_order() -> None:
    data = json.loads(_compare_json("vgg16"))
    dense = data["variants"]["dense"]
    assert isinstance(dense["params"], int)
    assert dense["flops"] == 2 * dense["macs"]
    assert list(data) == ["schema_version", "convprof_version", "spec", "optimizer", "variants"]
    assert list(data["variants"]) == ["dense", "local", "conv"]


@pytest.mark.slow
def test_check_written_reports_validate(tmp_path: Path) -> None:
    specs = sorted(str(p) for p in (ROOT / "specs").glob("*.yaml"))
    result = CliRunner().invoke(cli, ["check", *specs, "--write-reports", str(tmp_path)])
    assert result.exit_code == 0, result.output
    for path in sorted(tmp_path.glob("*.json")):
        VALIDATOR.validate(json.loads(path.read_text(encoding="utf-8")))
    assert len(list(tmp_path.glob("*.json"))) == len(specs)
    assert not list(tmp_path.glob(".*.tmp"))  # atomic writes leave no temporary files


def test_measured_shapes_validate() -> None:
    data = json.loads(_compare_json("why_convolutions"))
    data["variants"]["conv"]["latency"] = {"cpu": latency("cpu", [0.5, 0.5, 0.5]).to_dict(), "cuda:0": None}
    data["variants"]["conv"]["skipped"] = {"cuda:0": "no CUDA device"}
    data["environment"] = environment("x", 1, "2.13.0", [gpu("cuda:0", "GPU")]).to_dict()
    VALIDATOR.validate(data)
    del data["variants"]["conv"]["latency"]["cpu"]["raw_ms"]  # the samples every statistic comes from
    with pytest.raises(jsonschema.ValidationError):
        VALIDATOR.validate(data)
    data["variants"]["conv"]["latency"]["cpu"]["raw_ms"] = [0.5]
    data["variants"]["conv"]["params"] = 1.5
    with pytest.raises(jsonschema.ValidationError):
        VALIDATOR.validate(data)


def test_unwritable_output_is_exit_2(tmp_path: Path) -> None:
    target = tmp_path / "missing" / "r.json"
    result = CliRunner().invoke(cli, ["check", "lenet5", "--write-reports", str(target.parent)])
    assert result.exit_code == 2
    assert result.stderr.startswith("convprof: error: --write-reports")


@pytest.mark.parametrize("document", ["report", "check", "diff", "merge", "sweep"])
def test_every_json_output_has_a_printed_versioned_schema(document: str) -> None:
    from convprof.render.schemas import SCHEMAS

    result = CliRunner().invoke(cli, ["schema", document])
    assert result.exit_code == 0
    printed = json.loads(result.stdout)
    assert printed == SCHEMAS[document]()
    jsonschema.Draft202012Validator.check_schema(printed)
    assert "schema_version" in printed["required"]
    if document != "report":
        assert printed["properties"]["kind"] == {"const": document}


def test_schema_defaults_to_the_report_and_refuses_unknown_documents() -> None:
    assert json.loads(CliRunner().invoke(cli, ["schema"]).stdout) == report_schema()
    result = CliRunner().invoke(cli, ["schema", "compare"])
    assert result.exit_code == 2
    assert "'compare' is not one of 'report', 'check', 'diff', 'merge', 'sweep'" in result.stderr


def test_every_commands_json_output_is_versioned(tmp_path: Path) -> None:
    """compare, check, diff, sweep (and merge, in test_merge) all write `schema_version` first."""
    report = tmp_path / "r.json"
    assert (
        CliRunner()
        .invoke(cli, ["compare", "lenet5", "--no-latency", "--format", "json", "-o", str(report)])
        .exit_code
        == 0
    )
    outputs = {
        "compare": report.read_text(encoding="utf-8"),
        "check": CliRunner()
        .invoke(cli, ["check", "lenet5", "--max-params", "1M", "--format", "json"])
        .stdout,
        "diff": CliRunner().invoke(cli, ["diff", str(report), str(report), "--format", "json"]).stdout,
        "sweep": CliRunner().invoke(cli, ["sweep", "lenet5", "--width", "1,2", "--format", "json"]).stdout,
    }
    for command, text in outputs.items():
        assert next(iter(json.loads(text))) == "schema_version", command
