"""`convprof compare` with latency: options, JSON fields, errors, and the torch-free --no-latency path."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from convprof.cli import cli
from convprof.measure.options import PRESETS, Preset

ROOT = Path(__file__).resolve().parent.parent
FAST = Preset("quick", warmup_s=0.001, block_s=0.001, rounds=2, blocks_per_round=2, budget_s=0.05)
LATENCY_FIELDS = {
    "median_ms": float,
    "p10_ms": float,
    "p90_ms": float,
    "iqr_ms": float,
    "min_ms": float,
    "samples": int,
    "first_call_ms": float,
    "stable": bool,
    "raw_ms": list,
}


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def fast(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(PRESETS, "quick", FAST)


def test_no_latency_never_imports_torch() -> None:
    # The CLI's main, which ends with SystemExit (the entry point would end the process at once).
    code = (
        "import sys\n"
        "from convprof.cli import main\n"
        "sys.argv = ['convprof', 'compare', 'lenet5', '--no-latency', '--format', 'json']\n"
        "try:\n"
        "    main()\n"
        "except SystemExit as exit:\n"
        "    assert not exit.code, exit.code\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["variants"]["conv"]["latency"] is None


@pytest.mark.usefixtures("fast")
def test_json_latency_fields() -> None:
    status, out, err = invoke("compare", "why_convolutions", "--quick", "--device", "cpu", "--format", "json")
    assert status == 0, err
    assert err == ""  # no progress bar when stderr is not a terminal
    report = json.loads(out)
    for name, variant in report["variants"].items():
        entry = variant["latency"]["cpu"]
        assert variant["skipped"] == {}, name
        for field, kind in LATENCY_FIELDS.items():
            assert isinstance(entry[field], kind), (name, field)
        assert entry["samples"] == len(entry["raw_ms"]) == len(entry["raw_rounds"])
        assert entry["min_ms"] <= entry["p10_ms"] <= entry["median_ms"] <= entry["p90_ms"]
        assert entry["iqr_ms"] == pytest.approx(entry["p75_ms"] - entry["p25_ms"])
        assert entry["memory"]["weight_bytes"] == variant["param_bytes"]
        assert entry["achieved_flop_per_s"] > 0
    environment = report["environment"]
    assert environment["threads"] == 1
    assert environment["preset"] == "quick"
    assert environment["logical_cores"] >= 1
    for key in ("convprof_version", "python_version", "torch_version", "cpu_model", "load_before"):
        assert environment[key], key
    assert environment["cuda"] == []


@pytest.mark.usefixtures("fast")
def test_skipped_variant_in_table_and_json() -> None:
    status, out, err = invoke("compare", "vgg16", "--quick", "--device", "cpu", "--max-memory", "1MiB")
    assert status == 0, err
    assert "Skipped on cpu: dense needs 60.78 TiB of weights; limit 1.00 MiB." in " ".join(out.split())
    assert "skipped" in out
    status, out, err = invoke(
        "compare", "vgg16", "--quick", "--device", "cpu", "--max-memory", "1MiB", "--format", "json"
    )
    variants = json.loads(out)["variants"]
    for name in ("dense", "local", "conv"):
        assert variants[name]["latency"] == {"cpu": None}
        assert variants[name]["skipped"]["cpu"].startswith(f"{name} needs ")


@pytest.mark.usefixtures("fast")
def test_reports_validate_against_the_schema() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    schema_module = pytest.importorskip("convprof.report.schema")
    schema = schema_module.report_schema()
    # lenet5's dense variant holds 25.8 MiB of weights: skipped, with its reason, beside two measured.
    for args in (("why_convolutions",), ("lenet5", "--max-memory", "10MiB")):
        status, out, err = invoke("compare", *args, "--quick", "--device", "cpu", "--format", "json")
        assert status == 0, err
        report = json.loads(out)
        jsonschema.validate(report, schema)
        skipped = {name for name, variant in report["variants"].items() if variant["skipped"]}
        assert skipped == ({"dense"} if "--max-memory" in args else set())


@pytest.mark.usefixtures("fast")
def test_markdown_and_csv_carry_latency() -> None:
    status, out, _ = invoke(
        "compare", "why_convolutions", "--quick", "--device", "cpu", "--format", "markdown"
    )
    assert status == 0
    assert "| Latency" in out
    assert "#### Latency per call" in out
    status, out, _ = invoke("compare", "why_convolutions", "--quick", "--device", "cpu", "--format", "csv")
    assert status == 0
    header, *rows = out.splitlines()
    assert header.endswith("cpu_median_ms,cpu_iqr_ms,cpu_p10_ms,cpu_p90_ms,cpu_min_ms,cpu_stable")
    assert len(rows) == 3


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--quick", "--rigorous"), "ask for different presets (quick, rigorous); give one"),
        (("--quick", "--preset", "default"), "ask for different presets (default, quick); give one"),
        (("--max-memory", "lots"), "'lots' is not a size"),
    ],
)
def test_bad_options_are_one_line_and_exit_2(args: tuple[str, ...], message: str) -> None:
    status, out, err = invoke("compare", "why_convolutions", *args)
    assert status == 2
    assert out == ""
    assert err.startswith("convprof: error: ")
    assert message in err
    assert err.count("\n") == 1


def test_cuda_without_a_gpu_exits_2() -> None:
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    status, _, err = invoke("compare", "why_convolutions", "--device", "cuda")
    assert status == 2
    assert "CUDA is not available" in err


@pytest.mark.gpu
@pytest.mark.usefixtures("fast")
def test_cuda_results_in_json() -> None:
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    status, out, err = invoke("compare", "lenet5", "--quick", "--device", "all", "--format", "json")
    assert status == 0, err
    report = json.loads(out)
    conv = report["variants"]["conv"]["latency"]
    assert set(conv) >= {"cpu", "cuda:0"}
    assert conv["cuda:0"]["device_median_ms"] > 0
    (gpu, *_) = report["environment"]["cuda"]
    assert gpu["cudnn_benchmark"] is True
    assert isinstance(gpu["tf32_matmul"], bool)


@pytest.mark.usefixtures("fast")
@pytest.mark.parametrize("args", [("--preset", "quick"), ("--quick",), ("--quick", "--preset", "quick")])
def test_preset_and_its_aliases_agree(args: tuple[str, ...]) -> None:
    status, out, err = invoke("compare", "why_convolutions", *args, "--device", "cpu", "--format", "json")
    assert status == 0, err
    assert json.loads(out)["environment"]["preset"] == "quick"


def test_every_measuring_command_takes_the_same_preset_option() -> None:
    for command in ("compare", "check", "sweep", "calibrate"):
        status, out, _ = invoke(command, "--help")
        assert status == 0
        assert "--preset [quick|default|rigorous]" in out, command
