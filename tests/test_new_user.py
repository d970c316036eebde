"""What a new user meets first, in real processes: bare `convprof`, `input` as `--input` writes it,
missing model files, and the messages that say how to fix a spec."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

CONVPROF = [sys.executable, "-m", "convprof"]


def _run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CONVPROF, *args], capture_output=True, text=True, cwd=cwd, stdin=subprocess.DEVNULL, timeout=120
    )


def _spec(tmp_path: Path, text: str, name: str = "net.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# -- bare `convprof` ---------------------------------------------------------------------------------


def test_bare_convprof_prints_its_help_and_exits_0() -> None:
    bare = _run()
    helped = _run("--help")
    assert (bare.returncode, bare.stderr) == (0, "")
    assert bare.stdout == helped.stdout
    assert bare.stdout.startswith("Usage: convprof [OPTIONS] COMMAND [ARGS]...\n")
    assert "convprof: error" not in bare.stdout


# -- `input` written as `--input` takes it ----------------------------------------------------------


@pytest.mark.parametrize("written", ["3x32x32", "3,32,32", "[3, 32, 32]", "'3x32x32'"])
def test_input_may_be_written_as_the_command_line_writes_it(written: str, tmp_path: Path) -> None:
    spec = _spec(tmp_path, f"input: {written}\nlayers:\n  - conv2d: {{out_channels: 8, kernel_size: 3}}\n")
    result = _run("compare", str(spec), "--no-latency", "--format", "json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["spec"]["input"] == [3, 32, 32]


@pytest.mark.parametrize(
    ("written", "column", "phrase"),
    [
        ("3xfoo", 8, "got string '3xfoo'"),
        ("3x32x32x32x32", 8, "got string '3x32x32x32x32'"),
        ("0x32", 8, "input: expected a positive integer, got int 0"),
        ("{c: 3}", 8, "got a mapping"),
    ],
)
def test_a_bad_input_says_both_forms(written: str, column: int, phrase: str, tmp_path: Path) -> None:
    spec = _spec(tmp_path, f"input: {written}\nlayers: [relu]\n")
    result = _run("compare", str(spec), "--no-latency")
    assert result.returncode == 2
    assert result.stderr.startswith(f"convprof: error: {spec}:1:{column}: ")
    assert phrase in result.stderr
    assert result.stderr.count("\n") == 1


# -- a model file that is not there -----------------------------------------------------------------


def test_a_model_file_that_does_not_exist_is_said_so(tmp_path: Path) -> None:
    result = _run("import", "nosuch.py:net", "--input", "3x32x32", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr == (
        "convprof: error: nosuch.py:net: nosuch.py does not exist; give the path of the model's Python file\n"
    )
    (tmp_path / "models.py").mkdir()
    result = _run("compare", "models.py:net", "--input", "3x32x32", "--no-latency", cwd=tmp_path)
    assert result.stderr == (
        "convprof: error: models.py:net: models.py is a directory; give the path of a Python file in it\n"
    )
