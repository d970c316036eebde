"""`convprof check` through the command line: every exit code, globs, baselines, job summaries."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import jsonschema
import pytest
from click.testing import CliRunner

from convprof.cli import cli
from convprof.report.schema import report_schema
from tests.conftest import ROOT, SPECS
from tests.processes import CONVPROF

#: LeNet-5's published parameter count: conv 156 + 2,416, linear 48,120 + 10,164 + 850.
LENET5_PARAMS = 156 + 2_416 + 48_120 + 10_164 + 850
#: LeNet-5's MACs: c1 28*28*6*25, c3 10*10*16*150, then 400*120, 120*84 and 84*10.
LENET5_MACS = 28 * 28 * 6 * 25 + 10 * 10 * 16 * 150 + 400 * 120 + 120 * 84 + 84 * 10


def _spec(tmp_path: Path, name: str, out_features: int, budgets: str = "") -> Path:
    """A linear layer on 100 features: 101 x out_features params, 100 x out_features MACs."""
    path = tmp_path / f"{name}.yaml"
    text = f"name: {name}\ninput: [100]\nlayers:\n  - linear: {{out_features: {out_features}, name: fc}}\n"
    path.write_text(text + (f"budgets:\n{budgets}" if budgets else ""), encoding="utf-8")
    return path


def _run(*args: str | Path, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, [str(a) for a in args], env=env)
    return result.exit_code, result.stdout, result.stderr


def test_lenet5_numbers_are_the_published_ones() -> None:
    assert LENET5_PARAMS == 61_706
    code, out, _ = _run("check", SPECS / "lenet5.yaml", "--max-params", "61706", "--format", "json")
    assert code == 0
    (row,) = json.loads(out)["checks"]
    assert (row["actual"], row["limit"], row["passed"]) == (61_706, 61_706, True)


def test_exit_0_when_every_budget_passes(tmp_path: Path) -> None:
    spec = _spec(tmp_path, "fc", 5, "  params: 505\n  macs: 1k\n  param_bytes: 2KiB\n")
    code, out, err = _run("check", spec)
    assert code == 0, err
    assert "All 3 checks passed" in out
    assert "505" in out


def test_exit_1_names_metric_limit_and_actual(tmp_path: Path) -> None:
    spec = _spec(tmp_path, "fc", 5, "  params: 504\n  macs: 499\n")
    code, out, err = _run("check", spec)
    assert code == 1
    assert "FAIL" in out
    assert err.strip().splitlines() == [
        "convprof: error: 2 checks failed: fc: params 505 exceeds its limit 504; "
        "fc: macs 500 exceeds its limit 499"
    ]


def test_command_line_limits_override_the_spec(tmp_path: Path) -> None:
    spec = _spec(tmp_path, "fc", 5, "  params: 1\n")
    assert _run("check", spec)[0] == 1
    assert _run("check", spec, "--max-params", "1k")[0] == 0
    assert _run("check", spec, "--max-param-bytes", "2020B", "--max-params", "505")[0] == 0  # 505 x 4 B
    assert _run("check", spec, "--max-param-bytes", "2019", "--max-params", "1k")[0] == 1


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--max-params", "10q"], "--max-params '10q': unknown unit 'q'"),
        (["--max-activation-bytes", "4Mb"], "--max-activation-bytes '4Mb': unknown unit 'Mb'"),
        (["--max-latency", "gpu=3"], "DEVICE=MS"),
        (["--max-growth", "params=5%"], "--max-growth needs --baseline"),
        (["--write-reports", "no/such/dir"], "not a directory"),
    ],
)
def test_exit_2_on_usage_errors(tmp_path: Path, args: list[str], fragment: str) -> None:
    code, out, err = _run("check", _spec(tmp_path, "fc", 5), *args)
    assert code == 2
    assert out == ""
    assert err.startswith("convprof: error: ")
    assert fragment in err
    assert len(err.strip().splitlines()) == 1


def test_exit_2_on_a_spec_error_with_its_position(tmp_path: Path) -> None:
    good = _spec(tmp_path, "fc", 5, "  params: 1k\n")
    bad = _spec(tmp_path, "bad", 5, "  params: 1.5x\n")
    code, out, err = _run("check", good, bad)
    assert code == 2
    assert out == ""  # every spec is parsed before anything is printed
    assert err.strip() == f"convprof: error: {bad}:6:11: budgets.params: unknown unit 'x' in '1.5x'; " + (
        "a count takes k, M, G or T, e.g. 1.5M"
    )


def test_exit_2_on_a_missing_spec() -> None:
    code, _, err = _run("check", "no_such_spec.yaml")
    assert code == 2
    assert "no such file or built-in example" in err


def test_glob_and_examples(tmp_path: Path) -> None:
    for index in range(3):
        _spec(tmp_path, f"m{index}", 5 + index, "  params: 600\n")
    code, out, _ = _run("check", str(tmp_path / "*.yaml"), "--format", "json")
    assert code == 1  # m1 has 606 params
    rows = json.loads(out)["checks"]
    assert [(r["spec"], r["actual"], r["passed"]) for r in rows] == [
        ("m0", 505, True),
        ("m1", 606, False),
        ("m2", 707, False),
    ]
    assert _run("check", str(tmp_path / "*.yml"))[0] == 2
    code, out, _ = _run("check", "lenet5", "--max-macs", str(LENET5_MACS), "--format", "json")
    assert code == 0
    assert json.loads(out)["checks"][0]["actual"] == 416_520


def test_a_gate_that_checks_nothing_says_so_loudly(tmp_path: Path) -> None:
    spec = _spec(tmp_path, "fc", 5)
    code, out, err = _run("check", spec)
    assert code == 0
    assert "NOTHING CHECKED for fc" in out.replace("\n", " ")
    assert "--require-budgets makes this exit 2" in out.replace("\n", " ")
    assert "convprof: warning: fc: no budgets set, NOTHING CHECKED" in err
    code, out, _ = _run("check", spec, "--format", "markdown")
    assert out.startswith("### convprof check: nothing checked\n")
    assert "**NOTHING CHECKED for fc:" in out
    code, out, _ = _run("check", spec, "--format", "json")
    data = json.loads(out)
    assert (data["passed"], data["unchecked"], data["checks"]) == (True, ["fc"], [])


def test_require_budgets_exits_2_naming_the_unbudgeted_specs(tmp_path: Path) -> None:
    fc = _spec(tmp_path, "fc", 5)
    budgeted = _spec(tmp_path, "budgeted", 5, "  params: 600\n")
    code, out, err = _run("check", fc, budgeted, "--require-budgets")
    assert code == 2
    assert out == ""
    assert err == (
        "convprof: error: --require-budgets: fc sets no budgets; "
        "add `budgets:` to the spec or --max-* options\n"
    )
    assert _run("check", budgeted, "--require-budgets")[0] == 0
    assert _run("check", fc, "--require-budgets", "--max-params", "1k")[0] == 0  # an option is a budget too
    code, out, _ = _run("check", fc, budgeted)  # without the flag: passes, one spec unchecked, said
    assert code == 0
    assert "NOTHING CHECKED for fc" in out.replace("\n", " ")
    assert "1 check passed across 1 spec." in out


def test_check_json_is_versioned_and_valid(tmp_path: Path) -> None:
    from convprof.render.schemas import check_schema

    validator = jsonschema.Draft202012Validator(check_schema())
    budgeted = _spec(tmp_path, "budgeted", 5, "  params: 500\n  macs: 1k\n")
    fc = _spec(tmp_path, "fc", 5)
    code, out, _ = _run("check", budgeted, fc, "--format", "json")
    assert code == 1  # 505 params > 500
    data = json.loads(out)
    assert list(data)[:2] == ["schema_version", "kind"]
    assert (data["schema_version"], data["kind"], data["unchecked"]) == (1, "check", ["fc"])
    validator.validate(data)
    baseline = _baseline(tmp_path, 4)  # fc with 4 outputs: 404 params
    code, out, _ = _run("check", fc, "--baseline", baseline, "--max-growth", "params=0%", "--format", "json")
    assert code == 1
    data = json.loads(out)
    validator.validate(data)
    assert [(c["check"], c["baseline"], c["actual"]) for c in data["checks"]] == [("growth", 404, 505)]


def _baseline(tmp_path: Path, out_features: int) -> Path:
    spec = _spec(tmp_path / "old", "fc", out_features) if (tmp_path / "old").mkdir() is None else None
    assert spec is not None
    target = tmp_path / "old.json"
    assert _run("compare", spec, "--format", "json", "--no-latency", "-o", target)[0] == 0
    return target


@pytest.mark.parametrize(
    ("allowance", "expected"),
    [("20%", 0), ("20.1%", 0), ("19.9%", 1), ("params=20%,macs=19.99%", 1)],
)
def test_baseline_growth_at_under_and_over(tmp_path: Path, allowance: str, expected: int) -> None:
    # 5 -> 6 outputs: params 505 -> 606 and MACs 500 -> 600, both exactly +20%.
    baseline = _baseline(tmp_path, 5)
    new = _spec(tmp_path, "fc", 6)
    growth = allowance if "=" in allowance else f"params={allowance},macs={allowance}"
    code, out, err = _run("check", new, "--baseline", baseline, "--max-growth", growth, "--format", "json")
    assert code == expected, err
    rows = json.loads(out)["checks"]
    assert {r["metric"]: (r["baseline"], r["actual"]) for r in rows} == {
        "params": (505, 606),
        "macs": (500, 600),
    }


def test_baseline_directory_and_unmatched_specs(tmp_path: Path) -> None:
    directory = tmp_path / "baseline"
    directory.mkdir()
    spec = _spec(tmp_path, "fc", 5)
    other = _spec(tmp_path, "other", 5)
    assert _run("check", spec, other, "--write-reports", directory)[0] == 0
    assert sorted(p.name for p in directory.iterdir()) == ["fc.json", "other.json"]
    grown = _spec(tmp_path / "new", "fc", 6) if (tmp_path / "new").mkdir() is None else None
    assert grown is not None
    code, _, err = _run("check", grown, "--baseline", directory, "--max-growth", "params=0%")
    assert code == 1
    assert "fc: params grew to 606 (+20.00%), more than the +0% of 505 allowed" in err
    code, _, err = _run("check", grown, "--baseline", directory / "other.json", "--max-growth", "params=0%")
    assert code == 2
    assert "is for spec 'other', not 'fc'" in err


def test_baseline_that_is_not_a_report(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{not json", encoding="utf-8")
    code, _, err = _run("check", _spec(tmp_path, "fc", 5), "--baseline", bad, "--max-growth", "params=0%")
    assert code == 2
    assert f"{bad}:1:2: not JSON" in err


def test_github_step_summary_gets_the_markdown(tmp_path: Path, golden) -> None:
    summary = tmp_path / "summary.md"
    summary.write_text("earlier step\n", encoding="utf-8")
    spec = _spec(tmp_path, "fc", 5, "  params: 600\n  macs: 499\n  training_bytes: 1MiB\n")
    code, _, err = _run("check", spec, env={"GITHUB_STEP_SUMMARY": str(summary)})
    assert code == 1
    assert "appended the Markdown summary" in err
    text = summary.read_text(encoding="utf-8")
    assert text.startswith("earlier step\n### convprof check: failed\n")
    golden("check_summary.md", text)


def test_unwritable_summary_is_a_clear_error(tmp_path: Path) -> None:
    code, _, err = _run(
        "check", _spec(tmp_path, "fc", 5), env={"GITHUB_STEP_SUMMARY": str(tmp_path / "no" / "s.md")}
    )
    assert code == 2
    assert "cannot append to GITHUB_STEP_SUMMARY" in err


def test_size_gate_never_imports_torch_and_is_fast() -> None:
    program = (
        "import sys, time\n"
        "from click.testing import CliRunner\n"
        "from convprof.cli import cli\n"
        "start = time.perf_counter()\n"
        "args = ['check', 'specs/vgg16.yaml', 'specs/lenet5.yaml', '--max-params', '1G']\n"
        "r = CliRunner().invoke(cli, args)\n"
        "assert r.exit_code == 0, r.output\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
        "print(time.perf_counter() - start)\n"
    )
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-c", program], cwd=ROOT, capture_output=True, text=True, check=False
    )
    wall = time.perf_counter() - started
    assert result.returncode == 0, result.stderr
    assert float(result.stdout) < 1.0
    assert wall < 5.0  # interpreter start included; generous for a loaded CI machine


@pytest.mark.slow
def test_latency_budget_measures_the_conv_variant(tmp_path: Path) -> None:
    spec = _spec(tmp_path, "fc", 5, "  latency_ms: {cpu: 10s}\n")
    code, out, err = _run("check", spec, "--preset", "quick", "--format", "json", "--write-reports", tmp_path)
    assert code == 0, err
    (row,) = json.loads(out)["checks"]
    assert row["metric"] == "latency_ms.cpu"
    assert row["limit"] == 10_000
    assert 0 < row["actual"] < 10_000
    report = json.loads((tmp_path / "fc.json").read_text(encoding="utf-8"))
    assert report["variants"]["conv"]["latency"]["cpu"]["median_ms"] == row["actual"]
    jsonschema.Draft202012Validator(report_schema()).validate(report)  # measured reports validate too
    code, _, err = _run("check", spec, "--preset", "quick", "--max-latency", "cpu=1us")
    assert code == 1
    assert "fc: latency_ms.cpu" in err


def _check(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CONVPROF, "check", *map(str, args)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=120,
        check=False,
    )


@pytest.mark.slow
def test_a_latency_verdict_on_an_unstable_median_is_flagged_and_strict_fails_it(tmp_path: Path) -> None:
    spec = _spec(tmp_path, "fc", 5)
    written = _check(spec, "--latency", "--preset", "quick", "--write-reports", tmp_path)
    assert written.returncode == 0, written.stderr
    baseline = tmp_path / "fc.json"
    report = json.loads(baseline.read_text(encoding="utf-8"))
    entry = report["variants"]["conv"]["latency"]["cpu"]
    # The baseline's samples scattered over a factor of five: IQR far beyond a tenth of the median.
    entry["raw_ms"] = [1.0, 1.0, 2.0, 5.0, 5.0]
    entry["raw_rounds"] = [0, 0, 1, 1, 2]
    baseline.write_text(json.dumps(report), encoding="utf-8")
    args = ["--baseline", baseline, "--max-growth", "latency_ms.cpu=1000000%", "--preset", "quick"]
    lenient = _check(spec, *args, "--format", "json")
    assert lenient.returncode == 0, lenient.stderr
    assert "convprof: warning: fc: latency_ms.cpu rests on an unstable median" in lenient.stderr
    (row,) = json.loads(lenient.stdout)["checks"]
    assert row["passed"] is True
    assert row["stable"] is False
    strict = _check(spec, *args, "--strict-latency")
    assert strict.returncode == 1
    words = " ".join(strict.stdout.split())  # sentences wrap where the table's width puts them
    assert "FAIL (unstable)" in words
    assert "add --strict-latency" not in words
    assert "--strict-latency fails them" in words
    last = strict.stderr.strip().splitlines()[-1]
    assert last.startswith("convprof: error: 1 check failed: fc: latency_ms.cpu ~")
    assert "rests on an unstable median" in last


@pytest.mark.parametrize("fmt", ["table", "markdown", "json"])
def test_output_file_holds_what_stdout_would_and_the_exit_code_stands(tmp_path: Path, fmt: str) -> None:
    spec = _spec(tmp_path, "fc", 5, "  params: 504\n  macs: 1k\n")
    printed = _check(spec, "--format", fmt)
    out = tmp_path / f"checks.{fmt}"
    written = _check(spec, "--format", fmt, "-o", out)
    assert (printed.returncode, written.returncode) == (1, 1)
    assert written.stdout == ""
    assert written.stderr.splitlines()[0] == f"convprof: wrote {out}"
    assert written.stderr.splitlines()[-1] == printed.stderr.splitlines()[-1]  # the failure, once
    text = out.read_text(encoding="utf-8")
    if fmt == "table":  # a file gets the 120-column table, a pipe its own width: compare the words
        rows = [" ".join(line.split()) for line in text.splitlines()]
        assert "fc params budget 504 505 -0.2% FAIL" in rows  # (504 - 505) / 504 of headroom
        assert "1 of 2 checks failed across 1 spec." in rows
    else:
        assert text == printed.stdout
    if fmt == "json":
        assert [row["passed"] for row in json.loads(text)["checks"]] == [False, True]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["fc.yaml", out.name])  # no temporary file


def test_an_unwritable_output_is_exit_2_and_writes_nothing(tmp_path: Path) -> None:
    spec = _spec(tmp_path, "fc", 5, "  params: 505\n")
    result = _check(spec, "-o", tmp_path / "missing" / "checks.txt")
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith("convprof: error: cannot write ")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fc.yaml"]


#: A spec with an opaque op: its training FLOPs are a lower bound, and it cannot be built to be timed.
OPAQUE_SPEC = """\
name: opaque_net
input: [3, 8, 8]
layers:
  - conv2d: {name: conv, out_channels: 8, kernel_size: 3, padding: 1}
  - flatten: {name: flatten, start_dim: 2}
  - opaque: {name: attn, op: torch.einsum, input_shapes: [[8, 64]], output_shape: [8, 64]}
  - flatten: {name: flatten_1}
  - linear: {name: fc, out_features: 10}
"""


@pytest.mark.slow
def test_a_training_latency_budget_times_a_step_and_gates_on_it(tmp_path: Path) -> None:
    spec = _spec(tmp_path, "fc", 5, "  training_latency_ms: {cpu: 60s}\n")
    passed = _check(spec, "--preset", "quick", "--format", "json", "--write-reports", tmp_path)
    assert passed.returncode == 0, passed.stderr
    (row,) = json.loads(passed.stdout)["checks"]
    assert (row["metric"], row["limit"], row["passed"]) == ("training_latency_ms.cpu", 60_000, True)
    assert 0 < row["actual"] < 60_000
    assert isinstance(row["stable"], bool)
    report = json.loads((tmp_path / "fc.json").read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator(report_schema()).validate(report)
    conv = report["variants"]["conv"]
    assert conv["latency"] is None  # only the training step was asked for
    assert conv["training_latency"]["cpu"]["median_ms"] == row["actual"]
    failed = _check(spec, "--preset", "quick", "--max-training-latency", "cpu=1us")
    assert failed.returncode == 1
    last = failed.stderr.strip().splitlines()[-1]
    assert last.startswith("convprof: error: 1 check failed: fc: training_latency_ms.cpu ")
    assert "exceeds its limit 0.001 ms" in last


def test_a_training_flops_budget_on_a_lower_bound_passes_fails_or_is_unverified(tmp_path: Path) -> None:
    spec = tmp_path / "opaque_net.yaml"
    spec.write_text(OPAQUE_SPEC, encoding="utf-8")
    flops = _check(spec, "--max-training-flops", "10G", "--format", "json")
    assert flops.returncode == 0, flops.stderr
    (row,) = json.loads(flops.stdout)["checks"]
    assert (row["metric"], row["lower_bound"], row["verified"], row["passed"]) == (
        "training_flops",
        True,
        False,
        True,
    )
    assert "convprof: warning: opaque_net: training_flops" in flops.stderr
    assert _check(spec, "--max-training-flops", "10G", "--require-budgets").returncode == 2
    assert _check(spec, "--max-training-flops", "1k").returncode == 1  # the lower bound alone exceeds it


@pytest.mark.slow
def test_training_latency_growth_follows_the_stability_rules(tmp_path: Path) -> None:
    spec = _spec(tmp_path, "fc", 5)
    written = _check(spec, "--training", "--preset", "quick", "--write-reports", tmp_path)
    assert written.returncode == 0, written.stderr
    baseline = tmp_path / "fc.json"
    report = json.loads(baseline.read_text(encoding="utf-8"))
    entry = report["variants"]["conv"]["training_latency"]["cpu"]
    entry["raw_ms"] = [1.0, 1.0, 2.0, 5.0, 5.0]  # scattered over a factor of five: unstable
    entry["raw_rounds"] = [0, 0, 1, 1, 2]
    baseline.write_text(json.dumps(report), encoding="utf-8")
    args = ["--baseline", baseline, "--max-growth", "training_latency_ms.cpu=1000000%", "--preset", "quick"]
    lenient = _check(spec, *args, "--format", "json")
    assert lenient.returncode == 0, lenient.stderr
    assert "convprof: warning: fc: training_latency_ms.cpu rests on an unstable median" in lenient.stderr
    (row,) = json.loads(lenient.stdout)["checks"]
    assert (row["check"], row["baseline"], row["stable"], row["passed"]) == ("growth", 2.0, False, True)
    strict = _check(spec, *args, "--strict-latency")
    assert strict.returncode == 1
    assert "FAIL (unstable)" in strict.stdout


@pytest.mark.slow
def test_latency_growth_against_a_baseline_measured_otherwise_is_refused(tmp_path: Path) -> None:
    spec = _spec(tmp_path, "fc", 5)
    written = _check(spec, "--latency", "--preset", "quick", "--write-reports", tmp_path)
    assert written.returncode == 0, written.stderr
    baseline = tmp_path / "fc.json"
    report = json.loads(baseline.read_text(encoding="utf-8"))
    args = ["--baseline", baseline, "--max-growth", "latency_ms.cpu=1000000%", "--preset", "quick"]
    # Other settings: the growth would be the settings', so no verdict is given.
    report["environment"]["threads"] = 2
    baseline.write_text(json.dumps(report), encoding="utf-8")
    refused = _check(spec, *args)
    assert (refused.returncode, refused.stdout) == (2, "")
    assert refused.stderr == (
        f"convprof: error: fc: latency_ms.cpu cannot grow against {baseline}: it was measured with other "
        "settings (threads 2 -> 1); make the baseline as this run measures, with `convprof check "
        "--write-reports DIR` (or compare's defaults of --threads, --dtype, --batch-size, --channels-last "
        "and --compile)\n"
    )
    # Another processor under the same settings: checked, and warned of.
    report["environment"]["threads"] = 1
    report["environment"]["cpu_model"] = "Another CPU"
    baseline.write_text(json.dumps(report), encoding="utf-8")
    warned = _check(spec, *args)
    assert warned.returncode == 0, warned.stderr
    assert "convprof: warning: fc: latency_ms.cpu is compared with " in warned.stderr
    assert "measured on another machine (CPU Another CPU -> " in warned.stderr
