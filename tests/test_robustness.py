"""No traceback, no hang, nothing half-written: signals, pipes, hostile files, every command."""

from __future__ import annotations

import fcntl
import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import SPECS
from tests.processes import CONVPROF, started

#: Written exactly the way users hit them: broken files given to every command that reads one.
BROKEN_SPEC = "input: [3, 8, 8]\nlayers:\n  - conv2x: {out_channels: 4}\n"
ONE_LINE = re.compile(r"^convprof: error: .+\n$")


def run(
    *args: str, cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CONVPROF, *args], capture_output=True, text=True, check=False, cwd=cwd, env=env, timeout=120
    )


def report_file(tmp_path: Path, name: str = "report.json") -> Path:
    path = tmp_path / name
    result = run("compare", "lenet5", "--no-latency", "--format", "json", "-o", str(path))
    assert result.returncode == 0, result.stderr
    return path


@pytest.mark.parametrize(
    "command",
    [
        ["compare", "{spec}", "--no-latency"],
        ["check", "{spec}"],
        ["sweep", "{spec}", "--resolution", "8,16"],
        ["diff", "{report}", "{spec}"],
        ["merge", "{report}", "{spec}"],
    ],
    ids=lambda c: c[0],
)
def test_every_command_rejects_a_broken_input_in_one_line(command: list[str], tmp_path: Path) -> None:
    spec = tmp_path / "broken spec ü.yaml"
    spec.write_text(BROKEN_SPEC, encoding="utf-8")
    report = report_file(tmp_path)
    args = [part.format(spec=spec, report=report) for part in command]
    result = run(*args)
    assert result.returncode == 2, result.stderr
    assert ONE_LINE.match(result.stderr), result.stderr
    assert "Traceback" not in result.stderr
    assert str(spec) in result.stderr


@pytest.mark.parametrize(
    ("args", "phrase"),
    [
        (["compare", "{dir}"], "is a directory"),
        (["compare", "{missing}"], "no such file"),
        (["compare", "/proc/self/mem"], "cannot read"),
        (["check", "{missing}"], "no such file"),
        (["diff", "{dir}", "{dir}"], ""),
        (["merge", "{missing}"], ""),
        (["compare", "lenet5", "--no-latency", "-o", "/proc/convprof-report.json"], "cannot write"),
        (["compare", "lenet5", "--no-latency", "-o", "{missing}/out.json"], "does not exist"),
        (["compare", "lenet5", "--no-latency", "-o", "{dir}"], "is a directory"),
        (["schema", "--bogus"], "No such option"),
        (["calibrate", "--device", "tpu"], "Invalid value"),
        (["sweep", "lenet5", "--resolution", "abc"], "--resolution"),
    ],
)
def test_file_and_usage_errors_are_one_clear_message(args: list[str], phrase: str, tmp_path: Path) -> None:
    values = {"dir": str(tmp_path), "missing": str(tmp_path / "no such ü")}
    result = run(*(a.format(**values) for a in args))
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    assert phrase in result.stderr
    assert not list(tmp_path.glob("*.tmp"))
    assert not list(tmp_path.glob(".*.tmp"))


#: Seconds into a run, a child of the fork server (torch loaded), when it is inside its timed loops
#: on any machine. A signal while a new interpreter loads torch (its extension modules run Python
#: from C, which once turned exit 130 into "killed by signal 2") is test_signals.py's: its moments
#: run from the interpreter's start through torch's import, for these two commands.
MEASURING_AT_S = 1.0


@pytest.mark.slow
@pytest.mark.parametrize(
    ("signum", "status", "word"), [(signal.SIGINT, 130, "interrupted"), (signal.SIGTERM, 143, "terminated")]
)
@pytest.mark.parametrize(
    "args",
    [
        [
            "compare",
            str(SPECS / "vgg16.yaml"),
            "--device",
            "cpu",
            "--rigorous",
            "--format",
            "json",
            "-o",
            "out.json",
        ],
        [
            "sweep",
            str(SPECS / "lenet5.yaml"),
            "--resolution",
            "32,64,128,256,512",
            "--latency",
            "--preset",
            "rigorous",  # long enough on any machine to be still running when the signal comes
            "-o",
            "out.json",
        ],
    ],
    ids=["compare", "sweep"],
)
def test_signal_while_measuring_exits_cleanly_and_writes_nothing(
    args: list[str], signum: int, status: int, word: str, tmp_path: Path
) -> None:
    with started(args, tmp_path, command=CONVPROF) as process:
        time.sleep(MEASURING_AT_S)
        assert process.poll() is None, process.communicate()
        process.send_signal(signum)
        stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == status, stderr
    assert stderr.endswith(f"convprof: {word}\n"), stderr
    assert "Traceback" not in stderr
    assert stdout == ""
    assert list(tmp_path.iterdir()) == []  # no report, no temporary file


#: Outputs larger than the pipe below holds, so that the writer is still writing when the reader
#: goes: one JSON write of 0.5 MB, CSV and a table written piece by piece.
LARGE_OUTPUTS = [
    ["compare", "densenet121", "--no-latency", "--format", "json"],
    ["compare", "densenet121", "--no-latency", "--format", "csv", "--layers"],
    ["compare", "densenet121", "--no-latency", "--layers"],
]
#: The smallest pipe Linux makes (one page): the output cannot fit in it before the reader goes.
SMALL_PIPE = 4096


@pytest.mark.parametrize("args", LARGE_OUTPUTS, ids=["json", "csv", "table"])
def test_broken_pipe_exits_141_quietly(args: list[str]) -> None:
    read_end, write_end = os.pipe()
    fcntl.fcntl(write_end, fcntl.F_SETPIPE_SZ, SMALL_PIPE)
    try:
        process = subprocess.Popen(
            [*CONVPROF, *args], stdin=subprocess.DEVNULL, stdout=write_end, stderr=subprocess.PIPE
        )
    finally:
        os.close(write_end)
    try:
        assert os.read(read_end, 10)
        os.close(read_end)  # the reader goes away, like `| head -c 10`
        _, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert (process.returncode, stderr) == (141, b"")


@pytest.mark.parametrize("reader", ["head -c 10", "head -1"])
def test_a_shell_pipeline_into_head_reports_141(reader: str) -> None:
    command = " ".join([*CONVPROF, *LARGE_OUTPUTS[0]])
    shell = subprocess.run(
        ["bash", "-c", f"{command} | {reader} >/dev/null; echo ${{PIPESTATUS[0]}}"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert (shell.stdout, shell.stderr) == ("141\n", "")


def test_no_colour_codes_in_pipes_and_none_under_no_color() -> None:
    colour = re.compile(r"\x1b\[[0-9;]*(3[0-9]|9[0-7]|38;|48;)")
    piped = run("compare", "lenet5", "--no-latency")
    assert "\x1b[" not in piped.stdout
    env = {**os.environ, "FORCE_COLOR": "1", "NO_COLOR": "1"}
    forced = run("compare", "lenet5", "--no-latency", env=env)
    assert forced.returncode == 0
    assert not colour.search(forced.stdout)


def _narrow(width: int, *args: str) -> str:
    result = run(*args, env={**os.environ, "COLUMNS": str(width)})
    assert result.returncode in (0, 1), result.stderr
    return result.stdout


def _readable(text: str, width: int) -> None:
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= width, "\n".join(lines)
    assert "…" not in text, text  # nothing cut: wide rows turn into records instead


@pytest.mark.parametrize("width", [60, 40])
@pytest.mark.parametrize("name", ["why_convolutions", "lenet5", "alexnet", "vgg16", "mobilenet_v1"])
def test_compare_fits_narrow_terminals_without_cutting_anything(name: str, width: int) -> None:
    text = _narrow(width, "compare", name, "--no-latency")
    _readable(text, width)
    assert "Params" in text


@pytest.mark.slow
@pytest.mark.parametrize("width", [60, 40])
def test_every_table_fits_narrow_terminals_without_cutting_anything(width: int, tmp_path: Path) -> None:
    old, new = report_file(tmp_path, "old.json"), tmp_path / "new.json"
    run("compare", "lenet5", "--no-latency", "--batch-size", "4", "--format", "json", "-o", str(new))
    outputs = {
        "check": _narrow(width, "check", "lenet5", "vgg16", "--max-params", "100M"),
        "diff": _narrow(width, "diff", str(old), str(new), "--all"),
        "sweep": _narrow(width, "sweep", "lenet5", "--resolution", "32,64", "--width", "1,2"),
        "examples": _narrow(width, "examples"),
    }
    for command, text in outputs.items():
        _readable(text, width)
        assert text.count("\n") > 5, command
    assert "138,357,544" in outputs["check"]  # the number in full, where a table cut it before
    assert "+20,272,248 (+300.0%)" in outputs["diff"]


@pytest.mark.slow
def test_measured_tables_and_merge_fit_narrow_terminals(tmp_path: Path) -> None:
    a = tmp_path / "a.json"
    measured = run("compare", "lenet5", "--quick", "--device", "cpu", "--format", "json", "-o", str(a))
    assert measured.returncode == 0, measured.stderr
    data = json.loads(a.read_text(encoding="utf-8"))
    data["environment"]["cpu_model"] = "Another CPU"
    b = tmp_path / "b.json"
    b.write_text(json.dumps(data), encoding="utf-8")
    _readable(_narrow(60, "merge", str(a), str(b)), 60)
    text = _narrow(60, "compare", "lenet5", "--quick", "--device", "cpu", "--no-layers")
    _readable(text, 60)
    assert "First call" in text


def test_exact_integers_survive_json_at_any_size(tmp_path: Path) -> None:
    spec = tmp_path / "wide.yaml"
    spec.write_text(
        "input: [3, 224, 224]\nlayers:\n  - conv2d: {out_channels: 1000000000000, kernel_size: 3}\n"
    )
    result = run("compare", str(spec), "--no-latency", "--format", "json")
    assert result.returncode == 0, result.stderr
    conv = json.loads(result.stdout)["variants"]["conv"]
    assert conv["params"] == 10**12 * (3 * 9 + 1)
    assert conv["macs"] == 10**12 * 222 * 222 * 27
    table = run("compare", str(spec), "--no-latency", "--no-layers")
    assert "e+" not in table.stdout  # no scientific notation in human units


@pytest.mark.slow
def test_petabyte_dense_variant_still_finishes_compare_with_analytic_figures(tmp_path: Path) -> None:
    spec = tmp_path / "huge.yaml"
    spec.write_text(
        "input: [3, 2048, 2048]\nlayers:\n  - conv2d: {out_channels: 24, kernel_size: 3, stride: 2}\n"
    )
    args = ["compare", str(spec), "--quick", "--device", "cpu", "--max-memory", "1GiB", "--format", "json"]
    result = run(*args)
    assert result.returncode == 0, result.stderr
    variants = json.loads(result.stdout)["variants"]
    inputs, outputs = 3 * 2048 * 2048, 24 * 1023 * 1023  # (2048 - 3) // 2 + 1 = 1023
    assert variants["dense"]["params"] == inputs * outputs + outputs
    assert variants["dense"]["params"] * 4 > 2**50  # over a pebibyte of float32 weights
    assert variants["local"]["params"] == outputs * (3 * 3 * 3 + 1)
    assert variants["conv"]["params"] == 24 * (3 * 3 * 3 + 1)
    assert variants["dense"]["skipped"]["cpu"].startswith("dense needs 1.12 PiB of weights")
    assert variants["local"]["skipped"]["cpu"].startswith("local needs ")
    assert variants["dense"]["latency"] == {"cpu": None}
    assert variants["conv"]["latency"]["cpu"]["median_ms"] > 0


def test_paths_with_spaces_and_non_ascii_work_both_ways(tmp_path: Path) -> None:
    folder = tmp_path / "mes modèles à tester"
    folder.mkdir()
    spec = folder / "réseau 1.yaml"
    spec.write_text((SPECS / "lenet5.yaml").read_text(encoding="utf-8").replace("name: lenet5\n", ""))
    out = folder / "rapport été.json"
    result = run("compare", str(spec), "--no-latency", "--format", "json", "-o", str(out))
    assert result.returncode == 0, result.stderr
    assert result.stderr == f"convprof: wrote {out}\n"
    report = json.loads(out.read_text(encoding="utf-8"))
    assert report["spec"]["name"] == "réseau 1"  # the file's stem, when the spec names nothing
    assert report["variants"]["conv"]["params"] == 61_706
    assert run("diff", str(out), str(out)).returncode == 0


@pytest.mark.slow
def test_measuring_without_numpy_keeps_stderr_clean(tmp_path: Path) -> None:
    # convprof does not depend on NumPy; torch warns when it is missing. Hide it as a user's
    # environment without NumPy would.
    shadow = tmp_path / "shadow" / "numpy"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text('raise ModuleNotFoundError("No module named numpy", name="numpy")\n')
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(shadow.parent), os.environ.get("PYTHONPATH", "")]),
    }
    result = run("compare", "why_convolutions", "--quick", "--device", "cpu", "--format", "json", env=env)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert json.loads(result.stdout)["variants"]["conv"]["latency"]["cpu"]["median_ms"] > 0
